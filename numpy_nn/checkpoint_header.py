"""A checkpoint's JSON header, parsed and checked field by field before anything else is read.

The header is the file's table of contents: every array the file must hold and every shape the
arrays may have follow from it (see :mod:`numpy_nn.checkpoint`), so nothing in it may be trusted
until it is checked. :func:`parse_header` turns the bytes into JSON (refusing what Python's ``json``
would accept but no checkpoint holds: ``NaN``/``Infinity``, floats that overflow to infinity,
duplicate keys; and turning its ``ValueError``/``RecursionError`` on huge integers or deep nesting
into the caller's error). :func:`check_header` then checks the type and range of every field, and
that no field is missing or unknown. Each problem is raised as ``error(message)``, the message
naming the field's path: ``header field optimizer.iterations: must be an integer in [0, 2**62),
got 1.9``.

What is left to :mod:`numpy_nn.checkpoint` (it needs the layers and optimizers themselves): each
layer's config (its constructor checks it), the weights the architecture implies, and the arrays.
"""
from __future__ import annotations

import json

FORMAT, VERSION = "numpy-nn-checkpoint", 1
#: Largest header accepted (a real one is a few KB; the history of a long run a few hundred KB).
MAX_HEADER_BYTES = 16 << 20
#: The weights' dtypes a checkpoint may hold (save refuses the others, so load never meets them).
DTYPES = ("float16", "float32", "float64")
#: Bounds that no model of this library comes near; they keep every later product of sizes small.
MAX_RANK, MAX_DIM, MAX_INPUT_ELEMENTS = 8, 2**40, 2**31
MAX_NAME_CHARS, MAX_SEED, MAX_ITERATIONS, MAX_SLOTS = 1000, 2**63, 2**62, 16  # seeds: layers.base.check_seed
#: Layers a checkpoint may describe: far above any real Sequential, and a bound on the time a load
#: may spend building layers from a 16 MiB header (230,000 one-line entries would fit).
MAX_LAYERS = 10_000
#: Every field of the header, exactly (a missing or unknown one is refused).
FIELDS = ("format", "version", "name", "seed", "input_shape", "dtype", "layers", "weights", "optimizer",
          "training_state")
LAYER_FIELDS = ("class", "config", "rng_state")
WEIGHT_FIELDS = ("shape", "dtype")
OPTIMIZER_FIELDS = ("class", "config", "iterations", "slots_per_param")


class HeaderProblem(Exception):
    """One bad field: ``path`` (``optimizer.iterations``) and what is wrong with it."""

    def __init__(self, path, problem):
        super().__init__(f"header field {path}: {problem}")


def _short(value):
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


# --- parsing ---------------------------------------------------------------------------------------
def _refuse_constant(name):
    raise ValueError(f"{name} is not a number a checkpoint holds")


def _finite_float(text):
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"number {text[:40]} overflows to infinity")
    return value


def _unique_keys(pairs):
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"duplicate key {next(k for k in keys if keys.count(k) > 1)!r:.80}")
    return dict(pairs)


def parse_header(raw, error):
    """The JSON object in ``raw`` (bytes); ``error("damaged header (...)")`` if it is not UTF-8 JSON
    free of NaN/Infinity, overflowing floats and duplicate keys, or is too deep or has integers
    too long for Python to parse, or longer than :data:`MAX_HEADER_BYTES`."""
    if len(raw) > MAX_HEADER_BYTES:
        raise error(f"header of {len(raw):,} bytes, more than the {MAX_HEADER_BYTES:,} a checkpoint may have")
    try:
        text = bytes(raw).decode("utf-8")
        return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float,
                          object_pairs_hook=_unique_keys)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise error(f"damaged header ({type(e).__name__}: {e})"[:300]) from None


# --- field checks ------------------------------------------------------------------------------------
def is_int(value):
    """A JSON integer (Python's ``bool`` is an ``int`` too: refused)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _int_in(value, path, low, high):
    if not is_int(value) or not low <= value < high:
        raise HeaderProblem(path, f"must be an integer in [{low}, {_bound(high)}), got {_short(value)}")
    return value


def _bound(n):
    """``2**62`` rather than 4611686018427387904 in messages."""
    k = n.bit_length() - 1
    return f"2**{k}" if n == 2**k and k > 10 else str(n)


def _fields(value, path, names):
    """``value`` must be a JSON object with exactly the keys ``names``."""
    if not isinstance(value, dict):
        raise HeaderProblem(path or "(top level)", f"must be an object with fields {list(names)}, got {_short(value)}")
    missing = [k for k in names if k not in value]
    unknown = [k for k in value if k not in names]
    if missing:
        raise HeaderProblem(f"{path}.{missing[0]}" if path else missing[0], "is missing")
    if unknown:
        raise HeaderProblem(path or "(top level)", f"unknown field {unknown[0]!r:.80}")
    return value


def _list(value, path, low=0, high=None):
    if not isinstance(value, list) or len(value) < low or (high is not None and len(value) > high):
        size = f"{low} or more" if high is None else f"{low} to {high}"
        raise HeaderProblem(path, f"must be a list of {size} entries, got {_short(value)}")
    return value


def _shape(value, path, low):
    """A list of at most :data:`MAX_RANK` integers in ``[low, MAX_DIM)``."""
    _list(value, path, high=MAX_RANK)
    for k, d in enumerate(value):
        _int_in(d, f"{path}[{k}]", low, MAX_DIM)
    return value


def check_pcg64_state(value, path):
    """A ``numpy.random.PCG64`` state as ``bit_generator.state`` gives it (Dropout's generator)."""
    _fields(value, path, ("bit_generator", "state", "has_uint32", "uinteger"))
    if value["bit_generator"] != "PCG64":
        raise HeaderProblem(f"{path}.bit_generator", f"must be 'PCG64', got {_short(value['bit_generator'])}")
    _fields(value["state"], f"{path}.state", ("state", "inc"))
    _int_in(value["state"]["state"], f"{path}.state.state", 0, 2**128)
    _int_in(value["state"]["inc"], f"{path}.state.inc", 0, 2**128)
    _int_in(value["has_uint32"], f"{path}.has_uint32", 0, 2)
    _int_in(value["uinteger"], f"{path}.uinteger", 0, 2**32)


def _check_layer(spec, path, known_layers):
    _fields(spec, path, LAYER_FIELDS)
    if not isinstance(spec["class"], str) or spec["class"] not in known_layers:
        raise HeaderProblem(f"{path}.class", f"must be one of {sorted(known_layers)}, got {_short(spec['class'])}")
    if not isinstance(spec["config"], dict):
        raise HeaderProblem(f"{path}.config", f"must be an object, got {_short(spec['config'])}")
    if spec["rng_state"] is not None:
        check_pcg64_state(spec["rng_state"], f"{path}.rng_state")


def _check_optimizer(spec, known_optimizers):
    if spec is None:
        return
    _fields(spec, "optimizer", OPTIMIZER_FIELDS)
    if not isinstance(spec["class"], str) or spec["class"] not in known_optimizers:
        raise HeaderProblem("optimizer.class", f"must be one of {sorted(known_optimizers)}, got {_short(spec['class'])}")
    if not isinstance(spec["config"], dict):
        raise HeaderProblem("optimizer.config", f"must be an object, got {_short(spec['config'])}")
    _int_in(spec["iterations"], "optimizer.iterations", 0, MAX_ITERATIONS)
    _int_in(spec["slots_per_param"], "optimizer.slots_per_param", 0, MAX_SLOTS)


def _check_input_shape(value):
    _shape(value, "input_shape", 1)
    if not value:
        raise HeaderProblem("input_shape", "must have at least one axis, got []")
    elements = 1
    for d in value:
        elements *= d
    if elements > MAX_INPUT_ELEMENTS:
        raise HeaderProblem("input_shape", f"{value} is {elements:,} values per example, more than "
                                           f"{MAX_INPUT_ELEMENTS:,}")


def check_header(header, known_layers, known_optimizers):
    """Check the type and range of every field of a parsed header (see the module docstring);
    raises :class:`HeaderProblem` naming the first bad field."""
    _fields(header, "", FIELDS)
    if header["format"] != FORMAT:
        raise HeaderProblem("format", f"must be {FORMAT!r} (not a numpy-nn checkpoint), got {_short(header['format'])}")
    if not is_int(header["version"]) or header["version"] != VERSION:
        raise HeaderProblem("version", f"checkpoint version {_short(header['version'])} is not supported "
                                       f"(expected {VERSION})")
    name = header["name"]
    if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME_CHARS:
        raise HeaderProblem("name", f"must be a string of 1 to {MAX_NAME_CHARS} characters, got {_short(name)}")
    if header["seed"] is not None:
        _int_in(header["seed"], "seed", 0, MAX_SEED)
    _check_input_shape(header["input_shape"])
    if header["dtype"] not in DTYPES:
        raise HeaderProblem("dtype", f"must be one of {list(DTYPES)}, got {_short(header['dtype'])}")
    for k, spec in enumerate(_list(header["layers"], "layers", low=1, high=MAX_LAYERS)):
        _check_layer(spec, f"layers[{k}]", known_layers)
    for k, spec in enumerate(_list(header["weights"], "weights")):
        _fields(spec, f"weights[{k}]", WEIGHT_FIELDS)
        _shape(spec["shape"], f"weights[{k}].shape", 0)
        if spec["dtype"] != header["dtype"]:
            raise HeaderProblem(f"weights[{k}].dtype", f"must be the model's dtype {header['dtype']!r}, "
                                                       f"got {_short(spec['dtype'])}")
    _check_optimizer(header["optimizer"], known_optimizers)
    if header["training_state"] is not None and not isinstance(header["training_state"], dict):
        raise HeaderProblem("training_state", f"must be an object or null, got {_short(header['training_state'])}")
