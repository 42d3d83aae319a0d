"""``numpy_nn.app.environment``: the configuration record every result carries (CPU and ISA level,
oneDNN, BLAS and its live threads, TensorFlow's pools, versions). It must hold every field, be
JSON, follow ``TF_ENABLE_ONEDNN_OPTS`` the way TensorFlow itself does, classify CPUs from their
flags, import nothing heavy, and end up in ``metrics.json``."""
import contextlib
import io
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from numpy_nn.app import environment
from numpy_nn.app.environment import (cpu_description, describe, isa_level, one_line, onednn_default,
                                      parse_cpuinfo)

REPO = Path(__file__).resolve().parents[1]
X86 = platform.machine().lower() in ("x86_64", "amd64", "i386", "i686", "x86")

X86_CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu sse2 avx avx2 fma avx512f avx512_vnni avx512_bf16 amx_tile amx_bf16 amx_int8

processor\t: 1
vendor_id\t: SomeoneElse
model name\t: not the first processor
flags\t\t: fpu
"""

ARM_CPUINFO = """processor\t: 0
BogoMIPS\t: 50.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics sve
CPU implementer\t: 0x41
"""


def child_description(onednn):
    """``describe()`` in a fresh interpreter with ``TF_ENABLE_ONEDNN_OPTS=onednn`` (None: unset), as
    TensorFlow decides about oneDNN once, when it is imported."""
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    if onednn is not None:
        env["TF_ENABLE_ONEDNN_OPTS"] = onednn
    code = "import json; from numpy_nn.app.environment import describe; print(json.dumps(describe()))"
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------------------------
# The record
# ----------------------------------------------------------------------------------------------

def test_the_description_has_cpu_isa_onednn_blas_threads_and_versions():
    d = describe(tensorflow=False)
    assert set(d) == {"cpu", "blas", "threads", "onednn", "tensorflow", "versions", "platform"}
    assert d["cpu"]["model"] and d["cpu"]["cpus_available"] >= 1
    assert d["cpu"]["isa"] in ("AVX-512", "AVX2", "other", None)
    assert set(d["onednn"]) == {"TF_ENABLE_ONEDNN_OPTS", "enabled", "default_here"}
    assert d["onednn"]["TF_ENABLE_ONEDNN_OPTS"] == os.environ.get("TF_ENABLE_ONEDNN_OPTS", "unset")
    assert d["onednn"]["enabled"] is None and d["tensorflow"] == {"included": False, "reason": "not asked for"}
    assert {"name", "version"} <= set(d["blas"]["build"])
    assert {"blas", "env", "tensorflow"} <= set(d["threads"])
    assert {"python", "numpy", "numpy_nn", "blas"} <= set(d["versions"])
    assert "tensorflow" not in d["versions"]  # left out when TensorFlow's part is
    if sys.platform.startswith("linux") and X86:
        assert d["cpu"]["flags"] is not None and d["cpu"]["isa"] is not None


def test_the_description_is_json_and_survives_a_round_trip():
    d = describe(tensorflow=True)
    assert json.loads(json.dumps(d, allow_nan=False)) == d


def test_the_tensorflow_part_reports_versions_threads_and_onednn():
    pytest.importorskip("tensorflow")
    d = describe(tensorflow=True)
    assert d["tensorflow"]["included"] is True
    assert {"tensorflow", "keras"} <= set(d["versions"])
    assert d["onednn"]["enabled"] in (True, False)
    assert set(d["threads"]["tensorflow"]) == {"intra_op", "inter_op"}
    assert "TensorFlow" in one_line(d) and "Keras" in one_line(d)


def test_blas_threads_are_the_live_pools_not_the_environment():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    with threadpoolctl.threadpool_limits(1, user_api="blas"):
        d = describe(tensorflow=False)
    assert d["threads"]["blas"] and set(d["threads"]["blas"]) == {1}
    assert all(p["num_threads"] == 1 for p in d["blas"]["pools"] if p["user_api"] == "blas")
    line = one_line(d)
    assert " 1 thread," in line or " 1 thread (build " in line  # the build follows the live library


@pytest.mark.parametrize("value, enabled", [("1", True), ("0", False), (None, "TensorFlow's default")])
def test_onednn_follows_TF_ENABLE_ONEDNN_OPTS_as_tensorflow_reports_it(value, enabled):
    """=1 forces oneDNN on, =0 off, on any x86 CPU; unset, TensorFlow's own answer is the rule
    :func:`onednn_default` states for this CPU (off on an AMD EPYC with AVX2)."""
    pytest.importorskip("tensorflow")
    if not X86:
        pytest.skip("TF_ENABLE_ONEDNN_OPTS selects oneDNN on x86 CPUs only")
    d = child_description(value)
    assert d["onednn"]["TF_ENABLE_ONEDNN_OPTS"] == ("unset" if value is None else value)
    if value is None:
        assert d["onednn"]["enabled"] is d["onednn"]["default_here"]
        assert d["onednn"]["enabled"] in (True, False)
    else:
        assert d["onednn"]["enabled"] is enabled
        assert f"oneDNN {'on' if enabled else 'off'} (TF_ENABLE_ONEDNN_OPTS={value})" in one_line(d)


# ----------------------------------------------------------------------------------------------
# Reading the CPU
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("flags, level", [
    ("fpu sse2 avx avx2 fma avx512f avx512_vnni", "AVX-512"),
    ("fpu sse2 avx avx2 fma", "AVX2"),
    ("fpu sse2 sse4_2 avx", "other"),
    ("fp asimd sve", "other"),
    ("", "other"),
    (["avx2", "avx512f"], "AVX-512"),
    (None, None),
])
def test_isa_level_classifies_cpu_flags(flags, level):
    assert isa_level(flags) == level


def test_isa_level_matches_whole_flags_not_substrings():
    assert isa_level("avx512_vnni avx2") == "AVX2"  # VNNI without avx512f is no AVX-512 unit
    assert isa_level("avx2_fake") == "other"


def test_parse_cpuinfo_reads_the_first_processor_of_x86_and_arm():
    x86 = parse_cpuinfo(X86_CPUINFO)
    assert x86["model"] == "Intel(R) Xeon(R) Platinum 8480+" and x86["vendor"] == "GenuineIntel"
    assert "amx_tile" in x86["flags"] and isa_level(x86["flags"]) == "AVX-512"
    arm = parse_cpuinfo(ARM_CPUINFO)
    assert arm["model"] is None and arm["vendor"] == "0x41" and "sve" in arm["flags"]
    assert parse_cpuinfo("") == {"model": None, "vendor": None, "flags": None}


def test_without_proc_cpuinfo_the_description_degrades_to_unknowns(tmp_path):
    cpu = cpu_description(tmp_path / "no-cpuinfo")
    assert cpu["model"] and cpu["isa"] is None and cpu["flags"] is None and cpu["vendor"] is None
    assert onednn_default(cpu, system="Linux") is None
    json.dumps(cpu)


def test_onednn_default_is_on_only_with_the_neural_network_extensions():
    def cpu(*flags):
        return {"machine": "x86_64", "flags": list(flags)}
    assert onednn_default(cpu("avx2", "fma"), system="Linux") is False               # AMD EPYC (Zen 3)
    assert onednn_default(cpu("avx2", "avx512f"), system="Linux") is False           # Skylake-SP
    for flag in ("avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile", "amx_int8", "amx_bf16"):  # TensorFlow's list
        assert onednn_default(cpu("avx2", flag), system="Linux") is True, flag
    assert onednn_default(cpu("avx512_vnni"), system="Windows") is False
    assert onednn_default({"machine": "aarch64", "flags": ["sve"]}, system="Linux") is None
    assert set(environment.ONEDNN_DEFAULT_FLAGS) <= set(environment.FLAGS_OF_INTEREST)  # a record keeps them


def test_one_line_names_cpu_onednn_blas_threads_and_versions():
    d = {"cpu": {"model": "AMD EPYC", "isa": "AVX2"},
         "onednn": {"TF_ENABLE_ONEDNN_OPTS": "unset", "enabled": False, "default_here": False},
         "blas": {"build": {"name": "scipy-openblas", "version": "0.3.31"},
                  "pools": [{"user_api": "blas", "internal_api": "openblas", "version": "0.3.31", "num_threads": 1},
                            {"user_api": "openmp", "internal_api": "openmp", "version": None, "num_threads": 2}]},
         "threads": {"blas": [1], "env": {}, "tensorflow": {"intra_op": 0, "inter_op": 0}},
         "tensorflow": {"included": True},
         "versions": {"numpy": "2.4.6", "tensorflow": "2.21.0", "keras": "3.15.1"}}
    assert one_line(d) == ("AMD EPYC (AVX2), oneDNN off (TF_ENABLE_ONEDNN_OPTS unset), OpenBLAS 0.3.31 1 thread, "
                           "numpy 2.4.6, TensorFlow 2.21.0, Keras 3.15.1")
    d["threads"]["tensorflow"] = {"intra_op": 2, "inter_op": 0}
    assert "TensorFlow 2.21.0 (intra-op 2, inter-op default)" in one_line(d)
    d["versions"].update(blas="scipy-openblas 0.3.31", hypothesis="6.170.17")  # what versions() adds
    assert one_line(d).startswith("AMD EPYC (AVX2), oneDNN off (TF_ENABLE_ONEDNN_OPTS unset), "
                                  "OpenBLAS 0.3.31 1 thread (build scipy-openblas 0.3.31), numpy 2.4.6, ")
    assert one_line(d).endswith(", Keras 3.15.1, hypothesis 6.170.17")


def test_every_record_names_keras_hypothesis_and_the_blas_build():
    """What a parity verdict depends on besides our code (issue 16): the Keras whose internals the
    suite mirrors, the hypothesis that draws the examples, and the BLAS NumPy was built with. They are
    in ``versions()`` (so in ``metrics.json``), in the parity report's line and in the benchmarks'
    ``results.json``, equal to the installed distributions."""
    from importlib import metadata

    import numpy as np

    from benchmarks import machine

    v = environment.versions()
    assert v["hypothesis"] == metadata.version("hypothesis")
    build = environment.blas_description()["build"]
    if build["name"]:  # beside the live pools, or alone where threadpoolctl sees none
        assert v["blas"] == f"{build['name']} {build['version']}" and v["blas"] in one_line(describe(tensorflow=False))
    assert f"hypothesis {v['hypothesis']}" in one_line(describe(tensorflow=False))
    bench = machine.describe(np)["versions"]
    assert bench["hypothesis"] == v["hypothesis"] and bench["blas"] == v["blas"]
    tf = pytest.importorskip("tensorflow")
    d = describe(tensorflow=True)
    assert d["versions"]["keras"] == metadata.version("keras") and d["versions"]["tensorflow"] == tf.__version__
    assert f"Keras {d['versions']['keras']}" in one_line(d)  # the parity report's environment line
    bench = machine.describe(np, tf=tf)["versions"]
    assert bench["keras"] == d["versions"]["keras"] and bench["hypothesis"] == v["hypothesis"]


# ----------------------------------------------------------------------------------------------
# Layering, and where the record ends up
# ----------------------------------------------------------------------------------------------

def test_the_module_imports_nothing_heavy_and_tensorflow_only_when_asked():
    """Importing it, and describing a process that has not imported TensorFlow (``tensorflow=None``,
    what ``numpy-nn train`` asks for), imports neither TensorFlow nor tf_nn nor matplotlib."""
    code = ("import json, sys; from numpy_nn.app.environment import describe; "
            "d = describe(tensorflow=None); "
            "print(json.dumps([sorted(m for m in ('tensorflow', 'keras', 'tf_nn', 'matplotlib') if m in sys.modules), "
            "d['tensorflow'], d['onednn']['enabled']]))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    loaded, tf_part, enabled = json.loads(out.stdout)
    assert loaded == [] and tf_part == {"included": False, "reason": "not imported by this run"} and enabled is None


def test_the_benchmarks_use_the_same_thread_variables():
    from benchmarks import machine

    assert machine.THREAD_ENV == environment.BLAS_THREAD_ENV


def test_a_numpy_only_train_run_writes_the_environment_into_metrics_json(tmp_path):
    from numpy_nn.app import cli
    from numpy_nn.datasets import SAMPLE_PATH

    argv = ["train", "--model", "softmax", "--backend", "numpy", "--epochs", "1", "--limit", "50",
            "--data-dir", str(SAMPLE_PATH), "--out", str(tmp_path), "--no-figures", "--quiet", "--blas-threads", "1"]
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
        assert cli.main(argv) == 0, err.getvalue()
    env = json.loads((tmp_path / "metrics.json").read_text())["environment"]
    assert set(env) == set(describe(tensorflow=False))
    assert env["cpu"]["model"] and env["versions"]["numpy_nn"]
    assert env["onednn"]["TF_ENABLE_ONEDNN_OPTS"] == os.environ.get("TF_ENABLE_ONEDNN_OPTS", "unset")
    if env["threads"]["blas"] is not None:  # threadpoolctl installed: the run's own limit, seen live
        assert set(env["threads"]["blas"]) == {1}
