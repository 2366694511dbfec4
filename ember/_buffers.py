"""Reused work and output arrays for the large fused kernels (gelu, attention, layer_norm).

A fresh NumPy array of a few MiB is a fresh mmap, and every 4 KiB page of it faults on first
touch: in the GPT benchmark step, `_gelu_f32`'s three 2 MiB arrays took 1536 faults per call
and ran 10.6 ms, against 6.5 ms with the faults gone (~2.3 us a fault on this VM). `empty`
hands out a view of a pooled buffer that no one references any more: the pool holds each
buffer once, and every array made from it (a view, a reshape, a Tensor's data) holds a
reference to it, so a buffer whose reference count is back to the pool's own is free.
"""

from __future__ import annotations

import math
import sys
import threading
from typing import Any

import numpy as np

_MIN_BYTES = 1 << 18  # smaller arrays come from malloc's heap, without page faults
_MAX_PER_KEY = 16  # buffers kept per (size, dtype)
_MAX_BYTES = 96 << 20  # all pooled buffers together

_pool: dict[tuple[int, str], list[np.ndarray]] = {}
_pooled_bytes = 0
_lock = threading.Lock()  # a free buffer is found and taken in one step
# The reference counts below hold for CPython up to 3.13; 3.14 may borrow references (lower
# counts), where a buffer in use could look free, so there nothing is pooled. The engine's
# _sole_owner and a slice's backward_into read the same flag.
_COUNTS_REFS = sys.implementation.name == "cpython" and sys.version_info < (3, 14)


def empty(shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """np.empty(shape, dtype), C-contiguous, from the pool when a buffer of that size is free.
    Only for kernels whose callers treat the result as a new array (as np.empty's)."""
    global _pooled_bytes
    dt = np.dtype(dtype)
    n = math.prod(shape)
    nbytes = n * dt.itemsize
    if nbytes < _MIN_BYTES or not _COUNTS_REFS:
        return np.empty(shape, dt)
    with _lock:
        bufs = _pool.setdefault((n, dt.str), [])
        for buf in bufs:
            # free: referenced by the list, this loop's name and getrefcount's argument only
            if sys.getrefcount(buf) == 3:
                return buf.reshape(shape)
        buf = np.empty(n, dt)
        if len(bufs) < _MAX_PER_KEY and _pooled_bytes + nbytes <= _MAX_BYTES:
            bufs.append(buf)
            _pooled_bytes += nbytes
        return buf.reshape(shape)


def empty_like(a: np.ndarray) -> np.ndarray:
    """`empty(a.shape, a.dtype)`."""
    return empty(a.shape, a.dtype)


_CONSTANTS: dict[tuple[int, Any, Any], np.ndarray] = {}


def _constant(fill: int, shape: int | tuple[int, ...], dtype: Any) -> np.ndarray:
    """A read-only array of `fill`, kept per (fill, shape, dtype); at most ~64 are kept."""
    key = (fill, shape, dtype)
    v = _CONSTANTS.get(key)
    if v is None:
        if len(_CONSTANTS) > 64:
            _CONSTANTS.clear()
        v = _CONSTANTS[key] = np.full(shape, fill, dtype)
        v.flags.writeable = False
    return v


def ones(d: int, dtype: Any) -> np.ndarray:
    """A read-only vector of d ones, kept: row sums as one GEMV (`a @ ones(d)`) ran ~4x faster
    than np.add.reduce along short rows, whose inner loop NumPy calls once per row."""
    return _constant(1, d, dtype)


def zeros(shape: int | tuple[int, ...], dtype: Any) -> np.ndarray:
    """A read-only array of zeros, kept: np.maximum against a block of zeros ran ~2-3x faster
    than against a scalar 0 on large arrays (relu, gelu), and a 0-d zero of the dtype costs
    NumPy less than a Python 0, a weak scalar whose type it resolves per call."""
    return _constant(0, shape, dtype)


def row_sum(a: np.ndarray) -> np.ndarray:
    """a.sum(axis=-1, keepdims=True) of a C-contiguous array as one GEMV with ones: BLAS's
    rounding, not NumPy's pairwise sum; each row's sum depends on that row alone."""
    d = a.shape[-1]
    return np.matmul(a.reshape(-1, d), ones(d, a.dtype)).reshape(a.shape[:-1] + (1,))


def clear() -> None:
    """Drop the pooled buffers (arrays still in use keep theirs alive)."""
    global _pooled_bytes
    with _lock:
        _pool.clear()
        _pooled_bytes = 0
