"""Run the TensorFlow-facing parity tests in several configurations, one line per configuration.

    python -m parity_tests.matrix                        # oneDNN on and off x 1 and 2 threads
    python -m parity_tests.matrix --onednn other         # only oneDNN the other way from this CPU's default
    python -m parity_tests.matrix --onednn 1 --threads 2

``TF_ENABLE_ONEDNN_OPTS=1`` forces TensorFlow's oneDNN kernels on and ``=0`` off on any x86 CPU (AMD
included), so one machine reproduces what an Intel (AVX-512, oneDNN on by default) and an AMD (AVX2,
off by default) machine would compute. ``NUMPY_NN_THREADS`` sets TensorFlow's thread pools and
NumPy's BLAS to that many threads (``parity_tests.runtime.set_threads``). Each configuration is its
own pytest process (TensorFlow reads both settings once); its full output goes to ``--logs``. The
exit status is 0 only if every configuration passed.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

#: The tests that run TensorFlow: ops, models, optimizers, bad inputs, known differences, the oracle,
#: and the side-by-side driver and its Keras trainer (whose divergence message depends on oneDNN).
PARITY_TESTS = ("test_parity_ops.py", "test_parity_models.py", "test_parity_optimizers.py", "test_error_inputs.py",
                "test_known_differences.py", "test_oracle.py", "test_cli.py", "test_cli_resume.py")

HERE = Path(__file__).resolve().parent


def default_onednn():
    """"1" if TensorFlow turns oneDNN on by default on this CPU, "0" if not (no TensorFlow import);
    raises SystemExit where that cannot be told (not Linux x86), rather than guess."""
    from numpy_nn.app.environment import cpu_description, onednn_default

    default = onednn_default(cpu_description())
    if default is None:
        raise SystemExit("parity matrix: cannot tell TensorFlow's oneDNN default on this machine; pass --onednn 1,0")
    return "1" if default else "0"


def run_configuration(onednn, threads, logs, extra=()):
    """One pytest process with ``TF_ENABLE_ONEDNN_OPTS=onednn`` and ``NUMPY_NN_THREADS=threads``
    (None: TensorFlow's and the BLAS's defaults): ``(returncode, last line of pytest's output,
    seconds, log path)``."""
    env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS=onednn, HYPOTHESIS_PROFILE=os.environ.get("HYPOTHESIS_PROFILE", "ci"))
    env.pop("NUMPY_NN_THREADS", None)
    if threads:
        env["NUMPY_NN_THREADS"] = str(threads)
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *extra,
           *(str(HERE / name) for name in PARITY_TESTS)]
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"onednn{onednn}-threads{threads or 'default'}.log"
    start = time.perf_counter()
    with open(log, "w") as out:
        rc = subprocess.run(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=HERE.parent).returncode
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return rc, (lines[-1] if lines else "(no output)"), time.perf_counter() - start, log


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m parity_tests.matrix", description=__doc__.split("\n\n")[0])
    p.add_argument("--onednn", default="1,0", help="comma-separated 1/0, or 'other' (the opposite of this CPU's "
                                                   "default); default 1,0")
    p.add_argument("--threads", default="1,2", help="comma-separated thread counts, or 'default'; default 1,2")
    p.add_argument("--logs", default="out/parity-matrix", help="folder for each configuration's full output")
    args, extra = p.parse_known_args(argv)
    values = args.onednn.split(",")
    onednn = [("0" if default_onednn() == "1" else "1") if v == "other" else v for v in values]
    if any(v not in ("0", "1") for v in onednn):
        p.error(f"--onednn takes 1, 0 or other, got {args.onednn!r}")
    threads = [None if t == "default" else t for t in args.threads.split(",")]
    if any(t is not None and (not t.isdigit() or int(t) < 1) for t in threads):
        p.error(f"--threads takes positive integers or 'default', got {args.threads!r}")
    from numpy_nn.app.environment import cpu_description

    cpu = cpu_description()
    from numpy_nn.app.environment import onednn_default

    default = {True: "on", False: "off", None: "unknown"}[onednn_default(cpu)]
    print(f"parity matrix on {cpu.get('model')} ({cpu.get('isa')}); TensorFlow's oneDNN default here: {default}",
          flush=True)
    failed = 0
    for o in onednn:
        for t in threads:
            rc, last, seconds, log = run_configuration(o, t, Path(args.logs), extra)
            failed += rc != 0
            print(f"TF_ENABLE_ONEDNN_OPTS={o} threads={t or 'default'}: {'ok  ' if rc == 0 else 'FAIL'} {last} "
                  f"({seconds:.0f} s; {log})", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
