"""Instructions per step of a workload, counted by valgrind's callgrind: a noise-free measure of
per-op overhead on a shared machine, where timings of the tiny-op workload vary by +-30%.

Runs the workload twice under callgrind (N and 4N steps, hash seed, address layout and one BLAS
thread fixed) and prints (I_4N - I_N) / 3N. Needs `valgrind` on PATH; ~1 minute for the tiny-op
workload.

Usage: python -m benchmarks.instructions [tiny_ops|minimal] [--steps N]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys

CHILD = """
import sys
from benchmarks import workloads, minimal_autograd
name, n = sys.argv[1], int(sys.argv[2])
if name == "minimal":
    step = minimal_autograd.tiny_ops()
else:
    import ember
    step = getattr(workloads, name)(ember)
for _ in range(50):
    step()
for _ in range(n):
    step()
"""


def count(name: str, steps: int) -> int:
    """Instructions callgrind counts for a whole run of `steps` steps (plus start-up)."""
    # one BLAS thread: OpenBLAS's idle workers spin or sleep by the clock, which moved the
    # counts by +-2-4K between identical runs; without workers they repeat to ~10 instructions
    env = {**os.environ, "PYTHONHASHSEED": "0", "OPENBLAS_NUM_THREADS": "1"}
    cmd = ["setarch", "x86_64", "-R", "valgrind", "--tool=callgrind",
           "--callgrind-out-file=/dev/null", sys.executable, "-c", CHILD, name, str(steps)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True,
                         cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    match = re.search(r"Collected : (\d+)", out.stderr)
    if match is None:
        raise RuntimeError(f"no callgrind total in: {out.stderr[-500:]}")
    return int(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workload", nargs="?", default="tiny_ops")
    parser.add_argument("--steps", type=int, default=500)
    args = parser.parse_args()
    low, high = count(args.workload, args.steps), count(args.workload, 4 * args.steps)
    print(f"{args.workload}: {(high - low) // (3 * args.steps)} instructions/step")


if __name__ == "__main__":
    main()
