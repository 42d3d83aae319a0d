"""The machine a run happened on, the libraries and thread counts it used, and its own ceilings.

Every report carries this block, so a number can always be read against the hardware that made it:
the configuration record shared with ``metrics.json`` and the parity report
(:func:`numpy_nn.app.environment.describe`: CPU model and ISA level, oneDNN, BLAS and its live
threads, TensorFlow's thread pools, versions), plus what only a benchmark needs: memory, GPUs, the
thread counts asked for, the load average before and after (other work on the machine shows up
there), and two ceilings measured in the same run: a large float32 matrix product (GFLOP/s) and a
large memory copy (GB/s).
"""
from __future__ import annotations

import os
import subprocess
import time

# No numpy_nn at module level: importing it imports NumPy, and the harness imports THREAD_ENV and
# available_cpus to set the thread variables before NumPy is first imported.

#: Environment variables that fix the BLAS/OpenMP thread count; read when numpy is first imported.
#: The same list as numpy_nn.app.environment.BLAS_THREAD_ENV (parity_tests/test_environment.py checks).
THREAD_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
              "BLIS_NUM_THREADS")


def available_cpus():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def memory_gib():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def load_average():
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def cpu_counters():
    """(busy, total) jiffies of the whole machine from /proc/stat, and this process's CPU seconds; None off Linux."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    t = os.times()
    return {"busy": sum(fields) - idle, "total": sum(fields), "self_s": t.user + t.system, "wall": time.time()}


def other_work(before, after, cpus):
    """How much of the machine other processes used between two :func:`cpu_counters` readings:
    (all busy CPU time - this process's CPU time) / (wall time x CPUs)."""
    if not before or not after:
        return None
    hz = os.sysconf("SC_CLK_TCK")
    busy_s = (after["busy"] - before["busy"]) / hz
    wall = max(after["wall"] - before["wall"], 1e-9)
    others = max(busy_s - (after["self_s"] - before["self_s"]), 0.0)
    return {"others_cpu_s": round(others, 1), "wall_s": round(wall, 1), "others_share": round(others / (wall * cpus), 3)}


class Patience:
    """A budget of seconds to spend waiting for other processes to leave the CPUs (``--wait-quiet``)."""

    def __init__(self, seconds, share, window=0.5):
        self.left, self.share, self.window, self.waited = float(seconds), share, window, 0.0
        self.cpus = available_cpus()

    @property
    def active(self):
        return self.left > 0

    def wait(self):
        """Sample the machine for ``window`` seconds at a time until others use less than ``share``
        of it, or the budget is spent. Costs nothing when the budget is zero."""
        announced = False
        while self.left > 0:
            a = cpu_counters()
            time.sleep(self.window)
            b = cpu_counters()
            self.left -= self.window
            if a is None or b is None:
                self.left = 0
                return
            used = other_work(a, b, self.cpus)["others_share"]
            if used < self.share:
                return
            self.waited += self.window
            if not announced:
                print(f"      (other processes use {100 * used:.0f}% of the CPUs: waiting, {self.left:.0f} s of patience left)", flush=True)
                announced = True


def nvidia_smi():
    """``name, driver, memory`` of each GPU nvidia-smi lists, or None without one."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    lines = [line.strip() for line in out.stdout.splitlines() if line.strip()]
    return lines or None


def describe(np, tf=None, cupy=None, threads=None, tf_threads=None):
    """The machine, library and thread block of the report (JSON-ready).

    ``environment`` is :func:`numpy_nn.app.environment.describe` (with TensorFlow's part when ``tf``
    is given), the record ``metrics.json`` and the parity report carry too. The keys beside it are
    the ones the harness and :mod:`benchmarks.report` read (``cpu``, the CPU counts, ``versions``,
    ``threads`` with what was requested) and what only a benchmark needs (memory, GPUs). ``np`` is
    the NumPy being timed: the same module the environment record describes."""
    from numpy_nn.app import environment

    env = environment.describe(tensorflow=tf is not None)
    cpu = env["cpu"]
    info = {
        "cpu": cpu["model"], "cpus_available": cpu["cpus_available"], "cpus_total": cpu["cpus_total"],
        "memory_gib": memory_gib(), "gpu": nvidia_smi(),
        "versions": dict(env["versions"], numpy=np.__version__),
        "threads": {"requested": threads, "env": {k: os.environ.get(k) for k in THREAD_ENV}},
        "environment": env,
    }
    if tf is not None:
        info["threads"]["tensorflow"] = {**(env["threads"]["tensorflow"] or {}), "requested": tf_threads}
        info["tf_gpus"] = [d.name for d in tf.config.list_physical_devices("GPU")]
    if cupy is not None:
        info["versions"]["cupy"] = cupy.__version__
        try:
            props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
            name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
            info["cupy_device"] = {"name": name, "memory_gib": round(props["totalGlobalMem"] / 2**30, 1),
                                   "cuda_runtime": cupy.cuda.runtime.runtimeGetVersion(),
                                   "CUPY_TF32": os.environ.get("CUPY_TF32", "unset (CuPy's default: TF32 off)")}
        except Exception as exc:
            info["cupy_device"] = f"unknown ({exc})"
    return info


def _best_and_median(fn, repeats):
    from .timing import clock, quartiles
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = clock()
        fn()
        times.append(clock() - t0)
    return min(times), quartiles(times)[1]


def ceilings(np, n, copy_mib, tf=None, tf_device=None, repeats=5):
    """The machine's own ceilings, measured now.

    * matmul: an ``n x n`` by ``n x n`` float32 product, ``2 n^3`` flops, through NumPy's BLAS and
      (if given) TensorFlow; the machine's rate is the faster of the two medians.
    * copy: ``np.copyto`` of a ``copy_mib`` MiB float32 array (larger than the caches in the full
      run), counting the bytes read plus the bytes written, the way the optimizer rows count theirs.
    """
    rng = np.random.default_rng(0)
    a = rng.random((n, n), dtype=np.float32)
    b = rng.random((n, n), dtype=np.float32)
    out = np.empty_like(a)
    flops = 2.0 * n ** 3
    best, med = _best_and_median(lambda: np.matmul(a, b, out=out), repeats)
    result = {"matmul_n": n, "matmul_gflops": {"numpy": {"median": flops / med / 1e9, "best": flops / best / 1e9}}}
    if tf is not None:
        with tf.device(tf_device or "/CPU:0"):
            ta, tb = tf.constant(a), tf.constant(b)
            mm = tf.function(lambda: tf.matmul(ta, tb))
            best, med = _best_and_median(lambda: mm().numpy(), repeats)  # .numpy() copies 16 MB: a small bias against TF
        result["matmul_gflops"]["tensorflow"] = {"median": flops / med / 1e9, "best": flops / best / 1e9}
    result["matmul_gflops_used"] = max(v["median"] for v in result["matmul_gflops"].values())
    elems = copy_mib * 2**20 // 4
    src = rng.random(elems, dtype=np.float32)
    dst = np.empty_like(src)
    best, med = _best_and_median(lambda: np.copyto(dst, src), repeats)
    result["copy_mib"] = copy_mib
    result["copy_gbps"] = {"median": 2 * src.nbytes / med / 1e9, "best": 2 * src.nbytes / best / 1e9}
    result["copy_gbps_used"] = result["copy_gbps"]["median"]
    return result


def gpu_ceilings(cupy, n=8192, copy_mib=1024, repeats=5):
    """The same two ceilings on the CuPy device (float32 GEMM as cuBLAS runs it by default, device copy)."""
    def sync():
        cupy.cuda.Device().synchronize()
    a = cupy.random.random((n, n), dtype=cupy.float32)
    b = cupy.random.random((n, n), dtype=cupy.float32)
    out = cupy.empty_like(a)

    def mm():
        cupy.matmul(a, b, out=out)
        sync()
    flops = 2.0 * n ** 3
    best, med = _best_and_median(mm, repeats)
    src = cupy.random.random(copy_mib * 2**20 // 4, dtype=cupy.float32)
    dst = cupy.empty_like(src)

    def cp():
        cupy.copyto(dst, src)
        sync()
    cbest, cmed = _best_and_median(cp, repeats)
    return {"matmul_n": n, "matmul_gflops_used": flops / med / 1e9, "matmul_gflops_best": flops / best / 1e9,
            "copy_mib": copy_mib, "copy_gbps_used": 2 * src.nbytes / cmed / 1e9, "copy_gbps_best": 2 * src.nbytes / cbest / 1e9}
