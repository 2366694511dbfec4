"""GEMM floors: the matrix products each workload's train (or inference) step must compute, run
alone in raw NumPy (OpenBLAS) on the same shapes, beside ember's and torch's whole steps in one
process, interleaved. A step can be no faster than its GEMMs in NumPy, so `floor/torch` above a
target ratio says the target is out of reach for any NumPy-backed framework on this machine;
`ember - floor` is the time ember spends outside the GEMMs; `torch GEMMs` (the same products with
torch.matmul) shows how much of torch's step is its own BLAS.

Usage: python -m benchmarks.floors [--threads 2,1] [--repeats R] [--only NAME]

Shapes are the im2col/GEMM formulation (the one ember uses): a Linear(i, o) on r rows is x @ W.T
(r,i)@(i,o) forward, g @ W (r,o)@(o,i) for dx and g.T @ x (o,r)@(r,i) for dW; a conv is the same
with r = N*H_out*W_out rows and i = C_in*kh*kw. Operands are laid out as ember holds them (W
stored (o, i), g.T a transposed view), so BLAS sees the same transpose flags.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

# (m, k, n, a_transposed, b_transposed, batch): one (batched) product (m,k) @ (k,n); a stored
# as (k, m) when a_transposed, b stored as (n, k) when b_transposed
Gemm = tuple[int, int, int, bool, bool, int]


# (rows, in, out) of every Linear/Conv2d a workload's model runs, in forward order: a Linear on r
# rows, or a conv with r = N*H_out*W_out and in = C_in*kh*kw (tests/test_bench_floors.py checks
# these against the models' own layers)
Layer = tuple[int, int, int]
CNN_LAYERS: list[Layer] = [(32 * 32 * 32, 3 * 9, 32), (32 * 16 * 16, 32 * 9, 64),
                           (32 * 16 * 16, 64 * 9, 64), (32 * 16 * 16, 64 * 9, 64), (32, 64, 10)]
_GPT_ROWS, _C = 16 * 64, 128  # batch 16 x block 64 tokens, 128 embedding, 4 layers, 4 heads
LAYERS: dict[str, list[Layer]] = {
    "MLP train step": [(128, 784, 512), (128, 512, 512), (128, 512, 10)],
    "CNN train step": CNN_LAYERS,
    "nanoGPT-style train step": 4 * [(_GPT_ROWS, _C, 3 * _C), (_GPT_ROWS, _C, _C),
                                     (_GPT_ROWS, _C, 4 * _C), (_GPT_ROWS, 4 * _C, _C)]
    + [(_GPT_ROWS, _C, 65)],
    "CNN inference": CNN_LAYERS,
}
ATTENTION = {"nanoGPT-style train step": (4, 16 * 4, 64, _C // 4)}  # calls, B*heads, T, head size


def gemms(name: str) -> list[Gemm]:
    """The products of one step of workload `name`: forward, and in a train step dW and dx
    (no dx for the first layer, whose input needs no grad)."""
    train = "train" in name
    out: list[Gemm] = []
    for j, (r, i, o) in enumerate(LAYERS[name]):
        out.append((r, i, o, False, True, 1))  # x @ W.T, W stored (o, i)
        if train:
            out.append((o, r, i, True, False, 1))  # dW = g.T @ x
            if j:
                out.append((r, o, i, False, False, 1))  # dx = g @ W
    calls, b, t, hs = ATTENTION.get(name, (0, 0, 0, 0))
    # S = q @ k.T, O = P @ v; backward dP = dO @ v.T, dv = P.T @ dO, dq = dS @ k, dk = dS.T @ q
    out += calls * [(t, hs, t, False, True, b), (t, t, hs, False, False, b),
                    (t, hs, t, False, True, b), (t, t, hs, True, False, b),
                    (t, t, hs, False, False, b), (t, t, hs, True, False, b)]
    return out


# the targets of issue #7, ember/torch at 2 threads
TARGETS = {"MLP train step": 0.8, "CNN train step": 1.3, "nanoGPT-style train step": 1.0,
           "CNN inference": 1.3}


def operands(products: list[Gemm]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(a, b, out) float32 arrays for each product, a and b random in the stated layouts."""
    rng = np.random.default_rng(0)
    work = []
    for m, k, n, ta, tb, batch in products:
        a = rng.standard_normal((batch, k, m) if ta else (batch, m, k), dtype=np.float32)
        b = rng.standard_normal((batch, n, k) if tb else (batch, k, n), dtype=np.float32)
        a, b = (a.transpose(0, 2, 1) if ta else a), (b.transpose(0, 2, 1) if tb else b)
        if batch == 1:
            a, b = a[0], b[0]
        work.append((a, b, np.empty(a.shape[:-1] + b.shape[-1:], np.float32)))
    return work


def gemm_step(products: list[Gemm], lib: Any = np) -> Any:
    """A step running every product once with `lib.matmul` (NumPy's, or torch's on the same
    memory), into preallocated outputs (no allocation timed)."""
    work = operands(products)
    if lib is not np:
        work = [tuple(lib.from_numpy(x) for x in w) for w in work]

    def step() -> None:
        for a, b, out in work:
            lib.matmul(a, b, out=out)

    return step


def flops(products: list[Gemm]) -> int:
    return sum(2 * m * k * n * batch for m, k, n, _, _, batch in products)


def _print_table(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> None:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, tuple("-" * w for w in widths), *rows]:
        print(" | ".join(c.ljust(w) for c, w in zip(r, widths)))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", default="2,1")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--only", default=None)
    args = p.parse_args()

    from threadpoolctl import threadpool_limits

    import torch

    import ember
    from benchmarks.run import interleaved
    from benchmarks.workloads import WORKLOADS

    inner = {"MLP train step": 5, "CNN inference": 3}
    for threads in (int(c) for c in str(args.threads).split(",") if c):
        torch.set_num_threads(threads)
        ember.set_num_threads(threads)
        rows: list[tuple[str, ...]] = []
        with threadpool_limits(limits=threads):
            for name in LAYERS:
                if args.only and args.only not in name:
                    continue
                products = gemms(name)

                def make(lib: Any, name: str = name, products: list[Gemm] = products) -> Any:
                    if isinstance(lib, tuple):  # ("gemms", np or torch)
                        return gemm_step(products, lib[1])
                    return WORKLOADS[name](lib)

                t = interleaved(make, {"floor": ("gemms", np), "torch_gemms": ("gemms", torch),
                                       "ember": ember, "torch": torch},
                                args.repeats, inner.get(name, 2))
                rows.append((name, f"{flops(products) / 1e9:.2f}", f"{t['floor'] * 1e3:.1f}",
                             f"{t['torch_gemms'] * 1e3:.1f}",
                             f"{t['ember'] * 1e3:.1f}", f"{t['torch'] * 1e3:.1f}",
                             f"{t['floor'] / t['torch']:.2f}", f"{t['ember'] / t['torch']:.2f}",
                             f"{TARGETS[name]}", f"{(t['ember'] - t['floor']) * 1e3:.1f}"))
        print(f"\nthreads: {threads}")
        _print_table(rows, ("workload", "GFLOP", "GEMMs ms", "torch GEMMs ms", "ember ms",
                            "torch ms", "GEMMs/torch", "ember/torch", "target", "ember - GEMMs ms"))
    print("(GEMMs: the step's matrix products alone in raw NumPy, same shapes and layouts; torch "
          "GEMMs: the same with torch.matmul (MKL); medians of interleaved repeats)")


if __name__ == "__main__":
    main()
