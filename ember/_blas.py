"""OpenBLAS's idle worker threads: let them sleep soon after a GEMM instead of spinning.

After each threaded call, OpenBLAS's workers spin (sched_yield in a loop) for 2^28 cycles
(~0.1 s at 2.5 GHz) before they sleep. A training step runs a GEMM every few milliseconds, so
with 2 threads one core spins through the whole step, beside ember's own threads
(`_parallel.py`) and the elementwise passes between GEMMs: on the 2-core benchmark machine the
process used 0.107 s of CPU in a 0.2 s `sleep` right after one GEMM, and the nanoGPT step ran
178 ms with the default against 148 ms with 2^20 cycles (~0.4 ms; medians of 4 interleaved
rounds in one process). 2^20 still covers the gap between back-to-back GEMMs (dx then dW).

OpenBLAS reads OPENBLAS_THREAD_TIMEOUT once, when it starts its threads (at `import numpy`),
so ember sets it and restarts the threads the way OpenBLAS's own fork handler does. Nothing is
changed when the user set OPENBLAS_THREAD_TIMEOUT, with EMBER_BLAS_TUNING=0, or when NumPy's
BLAS is not a pthreads OpenBLAS with these entry points.

`single_threaded()` holds NumPy's OpenBLAS at one thread while ember's own threads each run
GEMMs of their own (the convolutions' `over_threads`).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

THREAD_TIMEOUT = 20  # log2 of the cycles a worker spins before it sleeps (OpenBLAS: 4 .. 30)
_ENTRY_POINTS = ("openblas_read_env", "openblas_thread_timeout", "blas_thread_shutdown_",
                 "blas_thread_init")


def _loaded_openblas() -> list[str]:
    """The paths of the OpenBLAS libraries mapped into this process (NumPy's, and SciPy's when
    SciPy brings its own)."""
    paths: list[str] = []
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                path = line.rsplit(" ", 1)[-1].strip()
                if ("openblas" in os.path.basename(path).lower() and ".so" in path
                        and path not in paths):
                    paths.append(path)
    except OSError:  # not Linux
        pass
    return paths


def tune_blas_threads(timeout: int = THREAD_TIMEOUT) -> bool:
    """Restart OpenBLAS's threads with a spin time of 2^timeout cycles; returns whether it did
    (for at least one loaded OpenBLAS)."""
    if (os.environ.get("EMBER_BLAS_TUNING", "1") == "0"
            or "OPENBLAS_THREAD_TIMEOUT" in os.environ or "GOTO_THREAD_TIMEOUT" in os.environ):
        return False
    import numpy  # noqa: F401  (maps NumPy's BLAS into the process)

    done = False
    for lib in _openblas_libraries():
        if not all(hasattr(lib, name) for name in _ENTRY_POINTS):
            continue
        os.environ["OPENBLAS_THREAD_TIMEOUT"] = str(timeout)
        try:
            lib.openblas_read_env()  # OpenBLAS >= 0.3.x keeps the env values it read at load
            lib.blas_thread_shutdown_()  # joins the workers (as before a fork)
            lib.blas_thread_init()  # new workers, reading the timeout
        finally:
            del os.environ["OPENBLAS_THREAD_TIMEOUT"]  # not inherited by child processes
        done = done or lib.openblas_thread_timeout() == timeout
    return done


def thread_timeouts() -> list[int]:
    """log2 of the cycles each loaded OpenBLAS's idle workers spin, 0 for OpenBLAS's default (28)
    (`make bench` prints it: with the default, NumPy's workers spin into whatever runs next)."""
    return [int(lib.openblas_thread_timeout()) for lib in _openblas_libraries()
            if hasattr(lib, "openblas_thread_timeout")]


def _openblas_libraries() -> list[Any]:
    """ctypes handles of the OpenBLAS libraries already mapped into this process."""
    import ctypes

    libs = []
    for path in _loaded_openblas():
        try:
            libs.append(ctypes.CDLL(path, mode=os.RTLD_NOLOAD))
        except OSError:
            continue
    return libs


_setters: list[Any] | None = None
_limit_lock = threading.Lock()
_limit_users = 0  # single_threaded blocks running (from several user threads, say)
_limit_prev: list[int] = []  # the thread counts to restore when the last one ends


def thread_setters() -> list[Any]:
    """openblas_set_num_threads_local of each loaded OpenBLAS (OpenBLAS >= 0.3.27; despite
    its name it sets the process-wide count and returns the previous one); [] without."""
    global _setters
    if _setters is None:
        import ctypes

        _setters = []
        for lib in _openblas_libraries():
            fn = getattr(lib, "openblas_set_num_threads_local", None)
            if fn is not None:
                fn.restype, fn.argtypes = ctypes.c_int, [ctypes.c_int]
                _setters.append(fn)
    return _setters


@contextmanager
def single_threaded() -> Iterator[bool]:
    """NumPy's OpenBLAS at one thread inside the block (yields True), its count restored after,
    also on error; False (nothing changed) with a BLAS that ember cannot limit. The count is
    process-wide, so blocks on several threads at once share one change: the first in sets it,
    the last out restores it."""
    global _limit_users, _limit_prev
    setters = thread_setters()
    if not setters:
        yield False
        return
    with _limit_lock:
        if not _limit_users:
            _limit_prev = [set_threads(1) for set_threads in setters]
        _limit_users += 1
    try:
        yield True
    finally:
        with _limit_lock:
            _limit_users -= 1
            if not _limit_users:
                for set_threads, p in zip(setters, _limit_prev, strict=True):
                    set_threads(p)
