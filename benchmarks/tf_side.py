"""TensorFlow's side of every case, timed as a ``tf.function`` and (a separate row) eagerly.

An op is its catalogue entry's TensorFlow twin, ``tf_nn.functional.<tf_twin>`` -- the very function
the parity suite proves equal to numpy_nn's -- on the same numbers as numpy_nn; "forward+backward"
is a ``GradientTape`` pass with the same random upstream gradient, asking for the same gradients
(the entry's ``grad_argnums``). A training step is the Keras twin of the numpy model (same layers,
same weights: :func:`tf_nn.models.to_keras`) with the equivalent Keras optimizer
(:func:`tf_nn.optimizers.from_numpy`), and one step is forward + loss + gradients +
``optimizer.apply`` inside one ``tf.function``: ``tf_nn.training.KerasTrainer.compiled_step``, the
one Keras step of the project (TensorFlow's model rows have no eager variant).

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

    def _wrap(self, fn, compiled=False):
        """A zero-argument callable running ``fn`` on this runner's device (compiled with
        ``tf.function`` unless the runner is eager or ``fn`` is compiled already), TF32 set as this
        runner wants, and the device synchronised after the call on a GPU."""
        tf = self.tf
        body = fn if (self.eager or compiled) else tf.function(fn)
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
        """The one Keras training step, ``tf_nn.training.KerasTrainer(np_model).compiled_step`` (the
        step ``numpy-nn train`` and the trajectory parity tests run), timed on this runner's device;
        ``(callable, what was timed)``. It is a ``tf.function`` already, so the eager runner has no
        model rows (None)."""
        if self.eager:
            return None
        from tf_nn.training import KerasTrainer

        tf = self.tf
        with tf.device(self.device):
            trainer = KerasTrainer(np_model)
            x = tf.constant(data["x"], trainer.dtype.name)
            y = tf.constant(np.asarray(data["y"], np.int32))
        step = trainer.compiled_step
        return self._wrap(lambda: step(x, y, ()), compiled=True), "tf_nn.training.KerasTrainer.compiled_step"


def keras_optimizer(np_optimizer):
    """The Keras optimizer with the numpy optimizer's settings (:func:`tf_nn.optimizers.from_numpy`)."""
    from tf_nn.optimizers import from_numpy
    return from_numpy(np_optimizer)
