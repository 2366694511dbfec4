"""Intra-op threads: `set_num_threads`/`get_num_threads` as torch's, and `parallel_for`, which
splits one elementwise pass over a large array into ranges run on a small thread pool.

NumPy runs a ufunc's loop without the GIL, so two threads each working on half of a large array
use both cores where one NumPy call would use one (only BLAS is threaded by itself). Worth it
for fused multi-pass kernels (GELU's erf, softmax, normalisations) on arrays of ~64K elements
and more; below that the hand-off (~20-50 us) costs more than it saves.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported on first use: concurrent.futures is ~8 ms of `import ember`
    from concurrent.futures import Future, ThreadPoolExecutor


def _default_threads() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))  # the cores this process may run on
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


_threads = _default_threads()
_pool: ThreadPoolExecutor | None = None


def get_num_threads() -> int:
    """Matches `torch.get_num_threads`: the threads used for intra-op parallelism."""
    return _threads


def set_num_threads(n: int) -> None:
    """Matches `torch.set_num_threads`: ember's own pool uses n threads (the calling thread and
    n - 1 workers); NumPy's BLAS is limited to n too when threadpoolctl is installed (NumPy has
    no API of its own for that)."""
    global _threads, _pool
    if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
        raise RuntimeError("set_num_threads expects a positive integer")
    _threads = n
    if _pool is not None:
        _pool.shutdown(wait=True)
        _pool = None
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(limits=n, user_api="blas")


def _reset_after_fork() -> None:
    # a forked child (DataLoader worker) inherits the pool object but not its threads
    global _pool
    _pool = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


def parallel_for(fn: Callable[[int, int], None], n: int, grain: int = 1 << 16,
                 item_size: int = 1) -> None:
    """Call fn(start, stop) over ranges covering [0, n), at most one per thread, each of at
    least `grain` elements where one item (a row, a sample) is `item_size` elements; the
    calling thread takes the first range. fn must write disjoint outputs per range (it runs
    concurrently) and should spend its time in NumPy calls."""
    k = min(_threads, n // max(1, -(-grain // max(1, item_size))))  # items per range: ceil
    if k <= 1:
        fn(0, n)
        return
    global _pool
    if _pool is None:
        from concurrent.futures import ThreadPoolExecutor

        _pool = ThreadPoolExecutor(max_workers=_threads - 1, thread_name_prefix="ember")
    bounds = [n * i // k for i in range(k + 1)]
    futures: list[Future[None]] = [_pool.submit(fn, bounds[i], bounds[i + 1])
                                   for i in range(1, k)]
    try:
        fn(bounds[0], bounds[1])
    finally:
        for f in futures:
            f.result()  # re-raises a worker's exception here
