"""ember._buffers: pooled arrays are handed out again only once nothing references them."""

from __future__ import annotations

import numpy as np

import ember
from ember import _buffers


def test_reuses_only_free_buffers() -> None:
    _buffers.clear()
    shape = (256, 1024)  # 1 MiB of float32: pooled
    a = _buffers.empty(shape, np.float32)
    b = _buffers.empty(shape, np.float32)
    assert a.shape == shape and a.dtype == np.float32 and a.flags.c_contiguous
    assert not np.shares_memory(a, b)  # a is held
    view = a.reshape(-1)[10:]  # a view keeps a's buffer busy after a itself is gone
    del a
    c = _buffers.empty((1024, 256), np.float32)
    assert not np.shares_memory(c, view) and not np.shares_memory(c, b)
    del view
    d = _buffers.empty((1024, 256), np.float32)  # the first buffer again, reshaped
    assert not np.shares_memory(d, b) and not np.shares_memory(d, c)
    assert sum(len(v) for v in _buffers._pool.values()) == 3


def test_small_and_other_dtypes_are_plain_arrays() -> None:
    _buffers.clear()
    small = _buffers.empty((8, 8), np.float32)
    assert small.base is None and not _buffers._pool
    f64 = _buffers.empty((128, 512), np.float64)
    f32 = _buffers.empty((256, 512), np.float32)  # same bytes, another dtype: another key
    assert f64.dtype == np.float64 and not np.shares_memory(f64, f32)


def test_kernel_outputs_held_by_tensors_stay_distinct() -> None:
    """Outputs of a pooled kernel that the caller keeps never share memory."""
    x = ember.tensor(np.random.default_rng(0).standard_normal((64, 4096)).astype(np.float32))
    outs = [ember.nn.functional.gelu(x * float(i)) for i in range(1, 4)]
    for i in range(3):
        np.testing.assert_allclose(outs[i].numpy(), ember.nn.functional.gelu(
            x * float(i + 1)).numpy())
        for j in range(i):
            assert not np.shares_memory(outs[i].numpy(), outs[j].numpy())
