"""`make bench`: every workload on ember and on torch in one process, interleaved; medians of
repeats after warm-up; one table of ember ms, torch ms and the ratio, plus peak memory.

Usage: python -m benchmarks.run [--threads 2,1] [--repeats R] [--only NAME] [--no-memory]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from typing import Any

import numpy as np


def _time(step: Any) -> float:
    t0 = time.perf_counter()
    step()
    return time.perf_counter() - t0


SETTLE_S = 0.15  # seconds before each timed block (see interleaved)


def interleaved(make: Any, libs: dict[str, Any], repeats: int, inner: int) -> dict[str, float]:
    """Median seconds per call for each library, alternating libraries every repeat."""
    steps = {name: make(lib) for name, lib in libs.items()}
    for step in steps.values():  # warm-up
        for _ in range(max(2, inner // 4)):
            step()
    samples: dict[str, list[float]] = {name: [] for name in libs}
    for _ in range(repeats):
        for name, step in steps.items():
            # let the other library's idle BLAS/OpenMP workers stop spinning first (OpenBLAS's
            # default spin is 2^28 cycles, ~0.1 s: it took a core from the next library's timed
            # steps), then one untimed step to wake this library's own
            time.sleep(SETTLE_S)
            step()
            t0 = time.perf_counter()
            for _ in range(inner):
                step()
            samples[name].append((time.perf_counter() - t0) / inner)
    return {name: statistics.median(v) for name, v in samples.items()}


PEAK_CODE = """
import resource, sys, importlib
lib = importlib.import_module(sys.argv[1])
from benchmarks.workloads import WORKLOADS
lib.set_num_threads(int(sys.argv[3]))
step = WORKLOADS[sys.argv[2]](lib)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
for _ in range(5):
    step()
# VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec, so a child of a parent that has
# torch loaded would report the parent's peak (ember and torch both showed 470 MiB)
print(next(int(line.split()[1]) for line in open("/proc/self/status")
           if line.startswith("VmHWM")))
"""


def peak_mib(lib: str, workload: str, threads: int) -> float:
    """Peak RSS (MiB) of a fresh process that imports `lib` and runs 5 steps of `workload`."""
    out = subprocess.run([sys.executable, "-c", PEAK_CODE, lib, workload, str(threads)],
                         capture_output=True, text=True, check=True,
                         cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return int(out.stdout.strip().splitlines()[-1]) / 1024


def import_time(module: str, runs: int = 5) -> float:
    """Best of `runs` fresh interpreters timing `import module`, with bytecode cached as in an
    ordinary install (a first, untimed run writes it under a temporary PYTHONPYCACHEPREFIX):
    with PYTHONDONTWRITEBYTECODE set, every run would recompile ember's sources."""
    import tempfile

    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    with tempfile.TemporaryDirectory() as cache:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = cache
        times = [float(subprocess.run([sys.executable, "-c", code], capture_output=True,
                                      text=True, check=True, env=env).stdout)
                 for _ in range(runs + 1)]
    return min(times[1:])


def run_table(args: argparse.Namespace, threads: int, memory: bool) -> list[tuple[str, ...]]:
    """One row per workload (and matmul size) with both libraries limited to `threads`."""
    from threadpoolctl import threadpool_limits

    import torch

    import ember
    from benchmarks.workloads import WORKLOADS, matmul

    torch.set_num_threads(threads)
    ember.set_num_threads(threads)  # ember's own pool for elementwise kernels (BLAS below)
    libs = {"ember": ember, "torch": torch}
    rows: list[tuple[str, ...]] = []
    inner = {"tiny-op overhead": 200, "MLP train step": 5, "CNN train step": 2,
             "nanoGPT-style train step": 2, "CNN inference": 3}
    with threadpool_limits(limits=threads):
        for name, make in WORKLOADS.items():
            if args.only and args.only not in name:
                continue
            try:
                t = interleaved(make, libs, args.repeats, inner.get(name, 3))
            except Exception as e:  # a workload ember cannot run yet is reported, not hidden
                rows.append((name, f"error: {type(e).__name__}: {e}"[:60], "", "", "", ""))
                continue
            mem = ("", "")
            if memory and "train" in name:
                mem = (f"{peak_mib('ember', name, threads):.0f}",
                       f"{peak_mib('torch', name, threads):.0f}")
            rows.append((name, f"{t['ember'] * 1e3:.3f}", f"{t['torch'] * 1e3:.3f}",
                         f"{t['ember'] / t['torch']:.2f}", *mem))
            if name == "tiny-op overhead":  # the floor: a minimal NumPy autograd, same run
                from benchmarks import minimal_autograd

                def floor(lib: Any, make: Any = make) -> Any:
                    return minimal_autograd.tiny_ops() if lib is None else make(lib)

                f = interleaved(floor, {"minimal": None, "torch": torch}, args.repeats,
                                inner[name])
                rows.append(("  minimal NumPy autograd", f"{f['minimal'] * 1e3:.3f}",
                             f"{f['torch'] * 1e3:.3f}", f"{f['minimal'] / f['torch']:.2f}",
                             "", ""))
        for n in (256, 1024, 2048):
            if args.only and args.only != "matmul":
                break
            flops = matmul(ember, n)[1]
            raw = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)

            def make(lib: Any, n: int = n, raw: np.ndarray = raw) -> Any:
                return (lambda: raw @ raw) if lib is np else matmul(lib, n)[0]

            res = interleaved(make, {"ember": ember, "numpy": np}, args.repeats, 3)
            rows.append((f"matmul {n} GFLOP/s (vs NumPy)", f"{flops / res['ember'] / 1e9:.1f}",
                         f"{flops / res['numpy'] / 1e9:.1f}",
                         f"{res['numpy'] / res['ember']:.2f}", "", ""))
    return rows


def print_table(rows: list[tuple[str, ...]]) -> None:
    header = ("workload", "ember ms", "torch ms", "ember/torch", "ember MiB", "torch MiB")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(6)]
    for r in [header, tuple("-" * w for w in widths), *rows]:
        print(" | ".join(str(c).ljust(w) for c, w in zip(r, widths)))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--threads", default="2,1",
                   help="comma-separated thread counts, one table each (default: 2,1)")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--only", default=None)
    p.add_argument("--no-memory", action="store_true")
    args = p.parse_args()

    import torch

    counts = [int(c) for c in str(args.threads).split(",") if c]
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, NumPy {np.__version__}, torch {torch.__version__}")
    from ember import _blas

    # OpenBLAS's default (28: ~0.1 s of spinning after every GEMM) let ember's idle BLAS workers
    # take a core from torch's timed steps in this process: torch's MLP step at 2 threads read
    # 23 ms instead of 6 (ember/_blas.py sets 20 at import; EMBER_BLAS_TUNING=0 turns it off)
    spins = ", ".join(f"2^{k or 28}" for k in _blas.thread_timeouts()) or "unknown"  # 0: unset
    print(f"OpenBLAS idle workers spin {spins} cycles after a GEMM")
    for i, threads in enumerate(counts):
        # peak memory once (the first table): it does not depend on the thread count
        rows = run_table(args, threads, memory=not args.no_memory and i == 0)
        if i == 0 and not args.only:
            ie, it = import_time("ember"), import_time("torch")
            rows.append(("import (s)", f"{ie:.3f}", f"{it:.3f}", f"{ie / it:.2f}", "", ""))
        print(f"\nthreads: {threads} (NumPy's BLAS via threadpoolctl, torch.set_num_threads)")
        print_table(rows)
    print("(medians of interleaved repeats; matmul rows: GFLOP/s for ember and raw NumPy, the "
          "ratio is ember's share of NumPy's; import row: seconds, bytecode cached)")


if __name__ == "__main__":
    main()
