"""TensorFlow's side of every case, timed as a ``tf.function`` and (a separate row) eagerly.

The ops are ``tf.nn``'s (``matmul`` + bias, ``conv2d``, ``max_pool2d``,
``sparse_softmax_cross_entropy_with_logits``) on the same numbers as numpy_nn; "forward+backward"
is a ``GradientTape`` pass with the same random upstream gradient, asking for the same gradients
(input, kernel and bias). A training step is the Keras twin of the numpy model (same layers, same
weights: :func:`tf_nn.models.to_keras`) with the equivalent Keras optimizer
(:func:`tf_nn.optimizers.from_numpy`), and one step is forward + loss + gradients +
``optimizer.apply`` inside one function.

Every callable runs on one device (``/CPU:0`` or ``/GPU:0``) and returns only when its work is done:
on the CPU TensorFlow's kernels return finished; on the GPU the call ends with
``tf.test.experimental.sync_devices()``.
"""
from __future__ import annotations

import os

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def import_tensorflow(threads, inter_op):
    """Import TensorFlow and fix its thread pools before it runs anything; (tf, None) or (None, reason)."""
    try:
        import tensorflow as tf
    except ImportError as exc:
        return None, f"TensorFlow is not installed ({exc}); TensorFlow rows are not measured"
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(inter_op)
    except RuntimeError as exc:  # TensorFlow was already initialised by the caller
        return tf, f"TensorFlow's thread pools were already initialised ({exc}); their sizes are recorded as found"
    return tf, None


class Runner:
    """Builds TensorFlow callables on one device; ``tf32`` (GPU only) sets TensorFlow's TF32 switch
    before every call, so rows with it on and off can alternate in one run."""

    def __init__(self, tf, device="/CPU:0", eager=False, tf32=None):
        self.tf, self.device, self.eager, self.tf32 = tf, device, eager, tf32
        self.gpu = "GPU" in device.upper()

    def _wrap(self, fn):
        tf = self.tf
        body = fn if self.eager else tf.function(fn)
        set_tf32 = tf.config.experimental.enable_tensor_float_32_execution
        sync = tf.test.experimental.sync_devices if self.gpu else None
        tf32 = self.tf32

        def call():
            if tf32 is not None:
                set_tf32(tf32)
            with tf.device(self.device):
                body()
            if sync is not None:
                sync()
        return call

    def constants(self, data):
        with self.tf.device(self.device):
            return {k: self.tf.constant(v) for k, v in data.items()}

    # --- ops -------------------------------------------------------------------------------------
    def _op_pair(self, data, forward_fn, wrt):
        """``forward_fn(d)`` -> output; backward = tape gradient of the output w.r.t. ``wrt`` with ``d["dy"]``."""
        tf = self.tf
        d = self.constants(data)

        def forward():
            return forward_fn(d)

        def forward_backward():
            args = [d[k] for k in wrt]
            with tf.GradientTape() as tape:
                tape.watch(args)
                y = forward_fn(d)
            return tape.gradient(y, args, output_gradients=d["dy"]) if "dy" in d else tape.gradient(y, args)
        return {"forward": self._wrap(forward), "forward+backward": self._wrap(forward_backward)}

    def dense(self, data):
        tf = self.tf
        return self._op_pair(data, lambda d: tf.nn.bias_add(tf.matmul(d["x"], d["kernel"]), d["bias"]), ("x", "kernel", "bias"))

    def conv2d(self, data, stride, padding):
        tf = self.tf
        return self._op_pair(
            data, lambda d: tf.nn.bias_add(tf.nn.conv2d(d["x"], d["kernel"], strides=stride, padding=padding.upper()), d["bias"]),
            ("x", "kernel", "bias"))

    def maxpool2d(self, data, pool, stride, padding):
        tf = self.tf
        return self._op_pair(data, lambda d: tf.nn.max_pool2d(d["x"], ksize=pool, strides=stride, padding=padding.upper()), ("x",))

    def softmax_ce(self, data):
        tf = self.tf
        return self._op_pair(
            data, lambda d: tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=d["labels"], logits=d["logits"])),
            ("logits",))

    # --- optimizer step and training step ----------------------------------------------------------
    def optimizer(self, data, np_optimizer):
        tf = self.tf
        with tf.device(self.device):
            param = tf.Variable(data["param"])
            grad = tf.constant(data["grad"])
            opt = keras_optimizer(np_optimizer)
            opt.build([param])

        def step():
            opt.apply([grad], [param])
        return self._wrap(step)

    def train_step(self, np_model, data):
        """One Keras training step of the numpy model's twin: forward, loss, gradients, ``optimizer.apply``."""
        tf = self.tf
        import keras
        with tf.device(self.device):
            model, source = keras_twin(np_model)
            opt = keras_optimizer(np_model.optimizer)
            opt.build(model.trainable_variables)
            loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=np_model.loss.from_logits)
            x, y = tf.constant(data["x"]), tf.constant(data["y"])

        def step():
            with tf.GradientTape() as tape:
                loss = loss_fn(y, model(x, training=True))
            grads = tape.gradient(loss, model.trainable_variables)
            opt.apply(grads, model.trainable_variables)
            return loss
        return self._wrap(step), source


def keras_optimizer(np_optimizer):
    """The Keras optimizer with the numpy optimizer's settings (tf_nn's converter when it is there)."""
    try:
        from tf_nn.optimizers import from_numpy
    except Exception:  # tf_nn missing or broken: the same mapping, spelled out here
        import keras
        from numpy_nn import optimizers
        if isinstance(np_optimizer, optimizers.Adam):
            return keras.optimizers.Adam(np_optimizer.learning_rate, beta_1=np_optimizer.beta_1,
                                         beta_2=np_optimizer.beta_2, epsilon=np_optimizer.epsilon)
        return keras.optimizers.SGD(np_optimizer.learning_rate, momentum=np_optimizer.momentum, nesterov=np_optimizer.nesterov)
    return from_numpy(np_optimizer)


def keras_twin(np_model):
    """(keras model with the numpy model's layers and current weights, where it came from)."""
    try:
        from tf_nn.models import to_keras
    except Exception:
        return _own_twin(np_model), "benchmarks.tf_side._own_twin (tf_nn.models.to_keras not importable)"
    return to_keras(np_model), "tf_nn.models.to_keras"


def _own_twin(np_model):
    import keras
    from numpy_nn import layers as L
    out = [keras.Input(shape=np_model.input_shape)]
    for layer in np_model.layers:
        if isinstance(layer, L.Dense):
            out.append(keras.layers.Dense(layer.units, activation=layer.activation, use_bias=layer.use_bias))
        elif isinstance(layer, L.Conv2D):
            out.append(keras.layers.Conv2D(layer.filters, layer.kernel_size, strides=layer.strides, padding=layer.padding,
                                           activation=layer.activation, use_bias=layer.use_bias))
        elif isinstance(layer, L.MaxPooling2D):
            out.append(keras.layers.MaxPooling2D(layer.pool_size, strides=layer.strides, padding=layer.padding))
        elif isinstance(layer, L.Flatten):
            out.append(keras.layers.Flatten())
        elif isinstance(layer, L.Dropout):
            out.append(keras.layers.Dropout(layer.rate))
        else:
            raise TypeError(f"no Keras twin for {type(layer).__name__}")
    model = keras.Sequential(out)
    model.set_weights([np.asarray(w) for w in np_model.get_weights()])
    return model
