"""The configuration a result was produced with, as one JSON-ready dict.

Every number this project writes down (the parity report, ``metrics.json`` of ``numpy-nn train``,
the benchmarks' ``results.json``) carries :func:`describe`'s dict, and :func:`one_line` prints it::

    AMD EPYC (AVX2), oneDNN off (TF_ENABLE_ONEDNN_OPTS unset), OpenBLAS 0.3.31.188.0 1 thread (build ...), numpy 2.4.6, ...

Why each part can change a float32 result in its last bits:

* the CPU's ISA level (AVX-512, AVX2, other): BLAS and TensorFlow pick their kernels, and so their
  summation orders, by it;
* oneDNN: TensorFlow decides once, when it is imported, whether to run its oneDNN kernels (other
  kernels, fused ops, other summation orders). ``TF_ENABLE_ONEDNN_OPTS=1`` forces them on and ``=0``
  off; unset, a Linux x86 TensorFlow turns them on only for CPUs with AVX512_VNNI, AVX512_BF16,
  AVX_VNNI or AMX (recent Intel Xeons; ``IsMklEnabled`` in TensorFlow's ``core/util/util.cc``) and
  leaves them off elsewhere, e.g. on an AMD EPYC with AVX2;
* the BLAS NumPy was built with, and how many threads it runs;
* TensorFlow's intra-op and inter-op thread pools (0 means TensorFlow's default: one per core).

Imports the standard library and NumPy only. threadpoolctl is imported when a description is made
(if installed); TensorFlow's part comes from :func:`tf_nn.runtime.tensorflow_configuration`,
imported only when asked for.
"""
from __future__ import annotations

import os
import platform
import sys
from importlib import metadata

import numpy as np

#: The CPU flags (``/proc/cpuinfo`` spelling) a description records: vector units and the
#: neural-network extensions.
FLAGS_OF_INTEREST = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni",
                     "amx_tile", "amx_bf16", "amx_int8")

#: Any of these makes a Linux x86 TensorFlow turn oneDNN on when ``TF_ENABLE_ONEDNN_OPTS`` is unset
#: (all of them are in :data:`FLAGS_OF_INTEREST`, which is what a description keeps).
ONEDNN_DEFAULT_FLAGS = ("avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile", "amx_int8", "amx_bf16")

ONEDNN_ENV = "TF_ENABLE_ONEDNN_OPTS"

#: Environment variables that fix the BLAS / OpenMP thread count (read when NumPy is first imported).
BLAS_THREAD_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
                   "BLIS_NUM_THREADS")

#: Environment variables that size TensorFlow's thread pools (read when its runtime starts).
TF_THREAD_ENV = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")

_X86 = ("x86_64", "amd64", "i386", "i686", "x86")
_BLAS_NAMES = {"openblas": "OpenBLAS", "mkl": "MKL", "blis": "BLIS", "accelerate": "Accelerate"}


# ----------------------------------------------------------------------------------------------
# CPU
# ----------------------------------------------------------------------------------------------

def isa_level(flags):
    """The widest vector ISA in ``flags`` (a ``/proc/cpuinfo`` "flags" string, or an iterable of
    flags): ``"AVX-512"`` (avx512f), ``"AVX2"`` (avx2), else ``"other"``; None when ``flags`` is None
    (unknown: no ``/proc/cpuinfo``)."""
    if flags is None:
        return None
    flags = set(flags.split() if isinstance(flags, str) else flags)
    if "avx512f" in flags:
        return "AVX-512"
    if "avx2" in flags:
        return "AVX2"
    return "other"


def parse_cpuinfo(text):
    """``{"model", "vendor", "flags"}`` of the first processor in a ``/proc/cpuinfo`` text: x86 spells
    them "model name", "vendor_id", "flags"; ARM has "Features" and "CPU implementer" and no model
    name. A missing field is None; ``flags`` is a list."""
    fields = {}
    for line in text.splitlines():
        if not line.strip():
            if fields:
                break  # the first processor's block ends here
            continue
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip().lower(), value.strip())
    flags = fields.get("flags", fields.get("features"))
    return {"model": fields.get("model name"),
            "vendor": fields.get("vendor_id", fields.get("cpu implementer")),
            "flags": None if flags is None else flags.split()}


def available_cpus():
    """CPUs this process may run on (its affinity mask on Linux, else all of them)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def cpu_description(cpuinfo_path="/proc/cpuinfo"):
    """Model, vendor, ISA level (:func:`isa_level`), the :data:`FLAGS_OF_INTEREST` it has, and the
    CPU counts. Without ``/proc/cpuinfo`` (macOS, Windows) the model is ``platform.processor()`` and
    the ISA level and flags are None."""
    try:
        with open(cpuinfo_path, encoding="utf-8", errors="replace") as f:
            info = parse_cpuinfo(f.read())
    except OSError:
        info = parse_cpuinfo("")
    flags = info["flags"]
    return {
        "model": info["model"] or platform.processor() or platform.machine() or "unknown",
        "vendor": info["vendor"],
        "machine": platform.machine(),
        "isa": isa_level(flags),
        "flags": None if flags is None else [f for f in FLAGS_OF_INTEREST if f in flags],
        "cpus_available": available_cpus(),
        "cpus_total": os.cpu_count(),
    }


def onednn_default(cpu, system=None):
    """Whether TensorFlow turns oneDNN on with ``TF_ENABLE_ONEDNN_OPTS`` unset, on the CPU ``cpu`` (a
    :func:`cpu_description`) under the OS ``system`` (default ``platform.system()``): on Linux x86,
    when the CPU has any of :data:`ONEDNN_DEFAULT_FLAGS`; never on Windows or macOS; None where this
    cannot be told (other Linux CPUs, unknown flags)."""
    system = platform.system() if system is None else system
    if system in ("Windows", "Darwin"):
        return False
    if system != "Linux" or cpu["machine"].lower() not in _X86 or cpu["flags"] is None:
        return None
    return any(f in cpu["flags"] for f in ONEDNN_DEFAULT_FLAGS)


# ----------------------------------------------------------------------------------------------
# BLAS, threads, versions
# ----------------------------------------------------------------------------------------------

def _blas_build():
    """NumPy's BLAS as built: name, version and (OpenBLAS) its build line; Nones if NumPy cannot say."""
    try:
        cfg = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    except Exception:  # NumPy before 1.26 has no mode="dicts"
        return {"name": None, "version": None, "configuration": None}
    return {"name": cfg.get("name"), "version": cfg.get("version"), "configuration": cfg.get("openblas configuration")}


def _thread_pools():
    """threadpoolctl's view of the live BLAS and OpenMP pools, or None when it is not installed."""
    try:
        import threadpoolctl
    except ImportError:
        return None
    keys = ("user_api", "internal_api", "num_threads", "version", "threading_layer", "architecture")
    return [{k: pool.get(k) for k in keys} for pool in threadpoolctl.threadpool_info()]


def blas_description():
    """NumPy's BLAS as built (``build``: name, version, build line) and as running (``pools``:
    threadpoolctl's live pools, each with ``num_threads``; None without threadpoolctl)."""
    return {"build": _blas_build(), "pools": _thread_pools()}


def versions():
    """Python, NumPy, numpy_nn, NumPy's BLAS build, and threadpoolctl and hypothesis where installed
    (read from their package metadata: nothing is imported). :func:`describe` adds TensorFlow and
    Keras when it includes TensorFlow's part."""
    from .. import __version__

    build = _blas_build()
    found = {"python": platform.python_version(), "numpy": np.__version__, "numpy_nn": __version__,
             "blas": " ".join(str(v) for v in (build["name"], build["version"]) if v) or None}
    for dist in ("threadpoolctl", "hypothesis"):
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return found


def _tensorflow_part(tensorflow):
    """``(tf_nn.runtime.tensorflow_configuration(), None)``, or ``(None, why it is left out)``."""
    if tensorflow is False:
        return None, "not asked for"
    if tensorflow is None and "tensorflow" not in sys.modules:
        return None, "not imported by this run"
    try:
        from tf_nn.runtime import tensorflow_configuration
    except ImportError as e:
        return None, f"not available ({e})"
    return tensorflow_configuration(), None


def describe(tensorflow=True):
    """The configuration of this process, JSON-ready::

        {"cpu": cpu_description(), "blas": blas_description(),
         "threads": {"blas": [threads of each BLAS pool] or None, "env": {thread variables that are set},
                     "tensorflow": {"intra_op", "inter_op"} or None},
         "onednn": {"TF_ENABLE_ONEDNN_OPTS": its value or "unset",
                    "default_here": onednn_default(cpu), "enabled": what TensorFlow reports or None},
         "tensorflow": {"included": bool, "reason": why not, "cuda_build": bool},
         "versions": versions() (+ "tensorflow", "keras"), "platform": platform.platform()}

    ``tensorflow``: True includes TensorFlow's part (importing TensorFlow if it is installed); None
    only if this process has imported TensorFlow already (a NumPy-only run then does not pay for
    importing it); False leaves it out. Left out, ``onednn["enabled"]`` is None."""
    cpu = cpu_description()
    blas = blas_description()
    config, reason = _tensorflow_part(tensorflow)
    env = os.environ.get(ONEDNN_ENV)
    onednn = {"TF_ENABLE_ONEDNN_OPTS": "unset" if env is None else env, "enabled": None}
    if config is not None:
        onednn.update(config["onednn"])
    onednn["default_here"] = onednn_default(cpu)
    pools = blas["pools"]
    threads = {"blas": None if pools is None else [p["num_threads"] for p in pools if p["user_api"] == "blas"],
               "env": {k: os.environ[k] for k in BLAS_THREAD_ENV + TF_THREAD_ENV if k in os.environ},
               "tensorflow": None if config is None else config["threads"]}
    found = versions()
    if config is None:
        tf_part = {"included": False, "reason": reason}
    else:
        found.update(config["versions"])
        tf_part = {"included": True, "cuda_build": config.get("cuda_build")}
    return {"cpu": cpu, "blas": blas, "threads": threads, "onednn": onednn, "tensorflow": tf_part,
            "versions": found, "platform": platform.platform()}


def _plural(n, word):
    return f"{n} {word}" + ("" if n == 1 else "s")


def one_line(d):
    """A :func:`describe` dict as one human line, e.g. ``AMD EPYC (AVX2), oneDNN off
    (TF_ENABLE_ONEDNN_OPTS unset), OpenBLAS 0.3.31.188.0 1 thread (build scipy-openblas 0.3.31.188.0),
    numpy 2.4.6, TensorFlow 2.21.0, Keras 3.15.1, hypothesis 6.170.17``: the running BLAS and its
    threads, the BLAS build NumPy reports, and every version a parity verdict depends on."""
    cpu, onednn, v = d["cpu"], d["onednn"], d["versions"]
    env = onednn["TF_ENABLE_ONEDNN_OPTS"]
    env = f"{ONEDNN_ENV} unset" if env == "unset" else f"{ONEDNN_ENV}={env}"
    state = {True: "on", False: "off"}.get(onednn["enabled"])
    if state is None and not d.get("tensorflow", {}).get("included", True):
        env += "; TensorFlow not loaded"
    onednn_text = f"oneDNN {state or 'unknown'} ({env})"
    parts = [f"{cpu['model']} ({cpu['isa'] or 'ISA unknown'})", onednn_text]
    pools = [p for p in d["blas"]["pools"] or () if p["user_api"] == "blas"]
    if pools:
        parts += [f"{_BLAS_NAMES.get(p['internal_api'], p['internal_api'])} {p['version']} "
                  f"{_plural(p['num_threads'], 'thread')}" for p in pools]
        if v.get("blas"):  # the build NumPy names (its wheel's BLAS package), beside the library that runs
            parts[-1] += f" (build {v['blas']})"
    else:
        parts.append(f"{v.get('blas') or 'BLAS unknown'} (threads unknown)")
    parts.append(f"numpy {v['numpy']}")
    if "tensorflow" in v:
        tf_threads = d["threads"]["tensorflow"] or {}
        sizes = (tf_threads.get("intra_op"), tf_threads.get("inter_op"))
        pools_text = "" if not any(sizes) else f" (intra-op {sizes[0] or 'default'}, inter-op {sizes[1] or 'default'})"
        parts += [f"TensorFlow {v['tensorflow']}{pools_text}", f"Keras {v.get('keras')}"]
    if v.get("hypothesis"):  # the generator of every parity example: its version changes the examples drawn
        parts.append(f"hypothesis {v['hypothesis']}")
    return ", ".join(parts)
