"""TensorFlow's side of every case, timed as a ``tf.function`` and (a separate row) eagerly.

An op is its catalogue entry's TensorFlow twin, ``tf_nn.functional.<tf_twin>`` -- the very function
the parity suite proves equal to numpy_nn's -- on the same numbers as numpy_nn; "forward+backward"
is a ``GradientTape`` pass with the same random upstream gradient, asking for the same gradients
(the entry's ``grad_argnums``). A training step is the Keras twin of the numpy model (same layers,
same weights: :func:`tf_nn.models.to_keras`) with the equivalent Keras optimizer
(:func:`tf_nn.optimizers.from_numpy`), and one step is forward + loss + gradients +
``optimizer.apply`` inside one function (:func:`keras_model_step`, the switch point to
``tf_nn.training.KerasTrainer``).

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
    def op(self, op, sample, dout):
        """The catalogue op's TensorFlow twin (``tf_nn.functional.<op.tf_twin>``, the function the
        parity suite proves) on ``sample``: forward, and forward + ``GradientTape`` gradients of the
        op's differentiable inputs (``grad_argnums``) for the upstream gradient ``dout``."""
        tf = self.tf
        twin = op.tf_fn
        with tf.device(self.device):
            const = lambda v: tf.constant(v) if isinstance(v, np.ndarray) else v  # noqa: E731
            args = [const(a) for a in sample.args]
            kwargs = {k: const(v) for k, v in sample.kwargs.items()}
            dy = tf.constant(dout)
        wrt = [args[i] for i in op.grad_argnums if args[i] is not None]

        def forward():
            return twin(*args, **kwargs)

        def forward_backward():
            with tf.GradientTape() as tape:
                tape.watch(wrt)
                y = twin(*args, **kwargs)
            return tape.gradient(y, wrt, output_gradients=dy)
        return {"forward": self._wrap(forward), "forward+backward": self._wrap(forward_backward)}

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
        """One Keras training step of the numpy model's twin (:func:`keras_model_step`), timed on this
        runner's device; ``(callable, where the Keras model came from)``."""
        with self.tf.device(self.device):
            step, source = keras_model_step(self.tf, np_model, data)
        return self._wrap(step), source


# ==================================================================================================
# SWITCH POINT (issue 10, item 3): the benchmarks' model rows must time the one Keras training step,
# ``tf_nn.training.KerasTrainer(np_model).compiled_step``. When that attribute exists, replace the
# body of keras_model_step with:
#
#     from tf_nn.training import KerasTrainer
#     trainer = KerasTrainer(np_model)
#     x = tf.constant(data["x"], trainer.dtype.name)
#     y = tf.constant(data["y"])
#     masks = ()                          # no injected dropout masks: Keras draws its own
#     return (lambda: trainer.compiled_step(x, y, masks)), "tf_nn.training.KerasTrainer.compiled_step"
#
# (``_wrap`` then puts that tf.function inside another tf.function for the tf_function rows, which
# is harmless, and calls it directly for the tf_eager row -- which is then no longer eager: drop
# that row's model cases, or keep them labelled as the compiled step.) Then delete
# keras_optimizer and keras_twin below once benchmarks/profile_step.py no longer imports them.
# ==================================================================================================
def keras_model_step(tf, np_model, data):
    """``(step, source)``: ``step()`` is one Keras training step of the numpy model's twin -- forward
    in training mode, loss, gradients, ``optimizer.apply`` -- on ``data``'s batch; ``source`` says
    where the Keras model came from (recorded as ``keras_twin`` in results.json)."""
    import keras
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
    return step, source


def keras_optimizer(np_optimizer):
    """The Keras optimizer with the numpy optimizer's settings (:func:`tf_nn.optimizers.from_numpy`)."""
    from tf_nn.optimizers import from_numpy
    return from_numpy(np_optimizer)


def keras_twin(np_model):
    """(keras model with the numpy model's layers and current weights, where it came from)."""
    from tf_nn.models import to_keras
    return to_keras(np_model), "tf_nn.models.to_keras"
