"""numpy_nn's side of every case: plain calls of the catalogue's ops (``parity_tests.registry``: the
entry's ``forward`` and ``backward``), the optimizers and ``Sequential.train_on_batch``, on NumPy
arrays or, through the ``xp`` array module, on CuPy arrays.

Each builder returns zero-argument callables (one call = one timed unit). ``sync`` is called at the
end of every call: a no-op on the CPU, a device synchronisation for CuPy.
"""
from __future__ import annotations

import numpy as np

from numpy_nn import optimizers, zoo
from numpy_nn.layers import Conv2D, Dense


def _nothing():
    return None


def cupy_sync(cupy):
    def sync():
        cupy.cuda.Device().synchronize()
    return sync


def _f32(rng, shape, low=-1.0, high=1.0):
    return rng.uniform(low, high, size=shape).astype(np.float32)


# --- the data of each case (host NumPy arrays; TensorFlow gets the very same numbers) -------------
def op_data(op, size, seed=0):
    """``(sample, dout)`` for one benchmark size of a catalogue op: the entry's float32 inputs and a
    random upstream gradient of the forward output's shape."""
    sample = op.benchmark.inputs(size, seed)
    out, _ = op.run_numpy(sample)
    return sample, _f32(np.random.default_rng(seed + 1), np.shape(out))


def optimizer_data(n, seed=0):
    rng = np.random.default_rng(seed)
    return {"param": _f32(rng, (n,)), "grad": _f32(rng, (n,), -1e-2, 1e-2)}


def model_data(name, batch, seed=0):
    spec = zoo.get(name)
    rng = np.random.default_rng(seed)
    return {"x": rng.random((batch,) + spec.input_shape, dtype=np.float32),
            "y": rng.integers(0, 10, batch).astype(np.int64)}


# --- work counts: GEMM flops and optimizer bytes --------------------------------------------------
#: Bytes each optimizer moves per parameter element (float32): arrays read + arrays written.
OPTIMIZER_BYTES_PER_ELEMENT = {"sgd": 4 * (2 + 1), "adam": 4 * (4 + 3)}


def model_optimizer_bytes(model):
    """Bytes one optimizer step of ``model`` reads and writes (its parameters x the optimizer's
    :data:`OPTIMIZER_BYTES_PER_ELEMENT`; float32)."""
    return model.count_params() * OPTIMIZER_BYTES_PER_ELEMENT[type(model.optimizer).__name__.lower()]


def model_forward_flops(model, batch):
    """GEMM flops of one forward pass: the Dense and Conv2D layers' matrix products."""
    total = 0.0
    for layer in model.layers:
        if isinstance(layer, Dense):
            total += 2.0 * batch * layer.input_shape[0] * layer.units
        elif isinstance(layer, Conv2D):
            (kh, kw), (oh, ow, f) = layer.kernel_size, layer.output_shape
            total += 2.0 * batch * oh * ow * kh * kw * layer.input_shape[2] * f
    return total


# --- the callables -------------------------------------------------------------------------------
def _to(xp, data):
    return {k: xp.asarray(v) for k, v in data.items()}


def _on(xp, v):
    return xp.asarray(v) if isinstance(v, np.ndarray) else v


def op_calls(op, sample, dout, xp=np, sync=_nothing):
    """The catalogue op's own ``forward`` and ``forward`` + ``backward`` on ``sample`` (moved to ``xp``)."""
    args = tuple(_on(xp, a) for a in sample.args)
    kwargs = {k: _on(xp, v) for k, v in sample.kwargs.items()}
    dout = xp.asarray(dout)

    def forward():
        op.forward(*args, **kwargs)
        sync()

    def forward_backward():
        _, cache = op.forward(*args, **kwargs)
        op.backward(dout, cache)
        sync()
    return {"forward": forward, "forward+backward": forward_backward}


def make_optimizer(kind):
    """The optimizer rows: plain SGD (Keras's default, no momentum) and Adam, default settings."""
    return optimizers.SGD(learning_rate=0.01) if kind == "sgd" else optimizers.Adam(learning_rate=0.001)


def optimizer_call(data, kind, xp=np, sync=_nothing):
    d = _to(xp, data)
    opt = make_optimizer(kind)
    pairs = [(d["grad"], d["param"])]

    def step():
        opt.apply_gradients(pairs)
        sync()
    return step


def build_model(name, seed=0, xp=np):
    """A compiled tutorial model; with ``xp`` = cupy its weights (trainable and not) are moved onto the GPU."""
    model = zoo.get(name).build(seed)
    if xp is not np:
        for layer in model.layers:
            for store in (layer.params, layer.state):
                for key, value in list(store.items()):
                    store[key] = xp.asarray(value)
    return model


def model_step_call(model, data, xp=np, sync=_nothing):
    x, y = xp.asarray(data["x"]), xp.asarray(data["y"])

    def step():
        model.train_on_batch(x, y)
        sync()
    return step
