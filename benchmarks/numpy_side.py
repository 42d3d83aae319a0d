"""numpy_nn's side of every case: plain calls of the functional ops, the optimizers and
``Sequential.train_on_batch``, on NumPy arrays or, through the ``xp`` array module, on CuPy arrays.

Each builder returns zero-argument callables (one call = one timed unit). ``sync`` is called at the
end of every call: a no-op on the CPU, a device synchronisation for CuPy.
"""
from __future__ import annotations

import numpy as np

import numpy_nn.functional as F
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
def dense_data(batch, d_in, d_out, seed=0):
    rng = np.random.default_rng(seed)
    return {"x": _f32(rng, (batch, d_in)), "kernel": _f32(rng, (d_in, d_out), -0.05, 0.05),
            "bias": _f32(rng, (d_out,)), "dy": _f32(rng, (batch, d_out))}


def conv2d_out_hw(h, w, k, s, padding):
    (oh, ow), _ = F.conv.output_geometry((h, w), (k, k), (s, s), padding, "bench")
    return oh, ow


def conv2d_data(batch, h, w, c_in, c_out, k, s, padding, seed=0):
    rng = np.random.default_rng(seed)
    oh, ow = conv2d_out_hw(h, w, k, s, padding)
    return {"x": _f32(rng, (batch, h, w, c_in)), "kernel": _f32(rng, (k, k, c_in, c_out), -0.1, 0.1),
            "bias": _f32(rng, (c_out,)), "dy": _f32(rng, (batch, oh, ow, c_out))}


def maxpool2d_data(batch, h, w, c, pool, s, padding, seed=0):
    rng = np.random.default_rng(seed)
    (oh, ow), _ = F.conv.output_geometry((h, w), (pool, pool), (s, s), padding, "bench", what="pool_size")
    return {"x": _f32(rng, (batch, h, w, c)), "dy": _f32(rng, (batch, oh, ow, c))}


def softmax_ce_data(batch, classes, seed=0):
    rng = np.random.default_rng(seed)
    return {"logits": _f32(rng, (batch, classes), -3, 3), "labels": rng.integers(0, classes, batch).astype(np.int64)}


def optimizer_data(n, seed=0):
    rng = np.random.default_rng(seed)
    return {"param": _f32(rng, (n,)), "grad": _f32(rng, (n,), -1e-2, 1e-2)}


def model_data(name, batch, seed=0):
    spec = zoo.get(name)
    rng = np.random.default_rng(seed)
    return {"x": rng.random((batch,) + spec.input_shape, dtype=np.float32),
            "y": rng.integers(0, 10, batch).astype(np.int64)}


# --- work counts: GEMM flops and optimizer bytes --------------------------------------------------
def dense_flops(batch, d_in, d_out):
    return 2.0 * batch * d_in * d_out


def conv2d_flops(batch, h, w, c_in, c_out, k, s, padding):
    oh, ow = conv2d_out_hw(h, w, k, s, padding)
    return 2.0 * batch * oh * ow * k * k * c_in * c_out


#: Bytes each optimizer moves per parameter element (float32): arrays read + arrays written.
OPTIMIZER_BYTES_PER_ELEMENT = {"sgd": 4 * (2 + 1), "adam": 4 * (4 + 3)}


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


def dense_calls(data, xp=np, sync=_nothing):
    d = _to(xp, data)

    def forward():
        F.dense_forward(d["x"], d["kernel"], d["bias"])
        sync()

    def forward_backward():
        _, cache = F.dense_forward(d["x"], d["kernel"], d["bias"])
        F.dense_backward(d["dy"], cache)
        sync()
    return {"forward": forward, "forward+backward": forward_backward}


def conv2d_calls(data, stride, padding, xp=np, sync=_nothing):
    d = _to(xp, data)

    def forward():
        F.conv2d_forward(d["x"], d["kernel"], d["bias"], stride, padding)
        sync()

    def forward_backward():
        _, cache = F.conv2d_forward(d["x"], d["kernel"], d["bias"], stride, padding)
        F.conv2d_backward(d["dy"], cache)
        sync()
    return {"forward": forward, "forward+backward": forward_backward}


def maxpool2d_calls(data, pool, stride, padding, xp=np, sync=_nothing):
    d = _to(xp, data)

    def forward():
        F.maxpool2d_forward(d["x"], pool, stride, padding)
        sync()

    def forward_backward():
        _, cache = F.maxpool2d_forward(d["x"], pool, stride, padding)
        F.maxpool2d_backward(d["dy"], cache)
        sync()
    return {"forward": forward, "forward+backward": forward_backward}


def softmax_ce_calls(data, xp=np, sync=_nothing):
    d = _to(xp, data)

    def forward():
        F.softmax_cross_entropy_forward(d["logits"], d["labels"])
        sync()

    def forward_backward():
        _, cache = F.softmax_cross_entropy_forward(d["logits"], d["labels"])
        F.softmax_cross_entropy_backward(1.0, cache)
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
    """A compiled tutorial model; with ``xp`` = cupy its parameters are moved onto the GPU."""
    model = zoo.get(name).build(seed)
    if xp is not np:
        for layer in model.layers:
            for key, value in list(layer.params.items()):
                layer.params[key] = xp.asarray(value)
    return model


def model_step_call(model, data, xp=np, sync=_nothing):
    x, y = xp.asarray(data["x"]), xp.asarray(data["y"])

    def step():
        model.train_on_batch(x, y)
        sync()
    return step
