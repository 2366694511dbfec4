"""Tensor basics against torch: metadata, conversions, the NumPy bridge, Python protocols."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
import torch

import ember


def test_shape_and_size() -> None:
    t = ember.zeros(2, 3)
    assert isinstance(t.shape, ember.Size) and isinstance(t.shape, tuple)
    assert t.shape == (2, 3) and t.size() == (2, 3) and t.size(1) == 3 and t.size(-1) == 3
    assert repr(t.shape) == repr(torch.zeros(2, 3).shape) == "torch.Size([2, 3])"
    assert isinstance(t.shape[0:1], ember.Size) and t.shape + (4,) == (2, 3, 4)
    assert t.shape.numel() == 6 and t.numel() == 6 and t.nelement() == 6
    assert t.ndim == 2 and t.dim() == 2 and t.element_size() == 4
    assert ember.randn([32, 10]).shape == (32, 10)
    assert ember.zeros(()).shape == () and ember.zeros([]).shape == ()
    assert str(t.device) == "cpu" and t.device == "cpu"
    with pytest.raises(IndexError, match="Dimension out of range"):
        t.size(2)


def test_item_tolist_and_scalar_protocols() -> None:
    assert ember.tensor(0.1).item() == torch.tensor(0.1).item()
    assert ember.tensor([[1, 2], [3, 4]]).tolist() == [[1, 2], [3, 4]]
    assert ember.tensor(3).tolist() == 3
    with pytest.raises(RuntimeError, match="a Tensor with 2 elements cannot be converted"):
        ember.tensor([1.0, 2.0]).item()
    with pytest.raises(RuntimeError, match="Boolean value of Tensor with more than one value is "
                                           "ambiguous"):
        bool(ember.tensor([1.0, 2.0]))
    assert int(ember.tensor(2.7)) == 2 and float(ember.tensor([1.5])) == 1.5
    assert bool(ember.tensor([1])) is True
    assert [10, 20, 30][ember.tensor(1)] == 20
    with pytest.raises(TypeError):
        [1, 2][ember.tensor(1.0)]
    assert "%d" % ember.tensor(3) == "3"  # noqa: UP031 - scripts use %-formatting
    assert f"{ember.tensor(2.5):.2f}" == "2.50"


def test_len_iteration_hash() -> None:
    t = ember.tensor([[1, 2], [3, 4]])
    assert len(t) == 2
    rows = list(t)
    assert len(rows) == 2 and rows[1].tolist() == [3, 4]
    with pytest.raises(TypeError, match="len\\(\\) of a 0-d tensor"):
        len(ember.tensor(1))
    a, b = ember.ones(1), ember.ones(1)
    assert hash(a) == id(a) and len({a, b}) == 2


def test_numpy_bridge_shares_memory() -> None:
    arr = np.zeros(3, dtype=np.float32)
    t = ember.from_numpy(arr)
    t.add_(1)
    assert arr.tolist() == [1.0, 1.0, 1.0]
    n = t.numpy()
    n[0] = 7
    assert t[0].item() == 7
    c = ember.tensor(arr)
    c.add_(1)
    assert arr[1] == 1.0
    with pytest.raises(RuntimeError, match="Can't call numpy\\(\\) on Tensor that requires grad"):
        ember.ones(2, requires_grad=True).numpy()
    assert ember.ones(2, requires_grad=True).numpy(force=True).tolist() == [1.0, 1.0]
    with pytest.raises(ValueError, match="negative"):
        ember.from_numpy(np.arange(3)[::-1])
    assert np.asarray(ember.ones(2)).tolist() == [1.0, 1.0]


def test_to_and_conversions() -> None:
    t = ember.tensor([-1.7, 1.7])
    assert t.to(ember.float32) is t and t.to("float32") is t and t.float() is t
    assert t.to(ember.float32, copy=True) is not t
    assert t.long().tolist() == [-1, 1] and t.long().dtype is ember.int64
    assert t.double().dtype is ember.float64 and t.half().dtype is ember.float16
    assert t.int().dtype is ember.int32 and t.bool().dtype is ember.bool
    assert t.to("cpu") is t and t.cpu() is t
    assert t.type_as(ember.ones(1, dtype=ember.float64)).dtype is ember.float64
    assert t.to(ember.ones(1, dtype=ember.int64)).dtype is ember.int64
    assert t.type() == "torch.FloatTensor" and t.long().type() == "torch.LongTensor"
    with pytest.raises(RuntimeError):
        t.to("cuda")
    x = ember.ones(2, requires_grad=True)
    y = x.double()
    assert y.grad_fn.name() == "ToCopyBackward0"
    y.sum().backward()
    assert x.grad.dtype is ember.float32


def test_clone_detach_contiguous_data() -> None:
    x = ember.ones(2, 3, requires_grad=True)
    c = x.clone()
    assert c.grad_fn.name() == "CloneBackward0"
    assert x.contiguous() is x
    d = x.data
    assert not d.requires_grad and d.is_leaf
    d[0, 0] = 5.0
    assert x[0, 0].item() == 5.0
    tt = x.detach().t()
    assert not tt.is_contiguous() and tt.contiguous().is_contiguous()


def test_deepcopy_and_pickle() -> None:
    x = ember.ones(2, requires_grad=True)
    (x * 2).sum().backward()
    y = copy.deepcopy(x)
    assert y.requires_grad and y.grad.tolist() == [2.0, 2.0]
    y.detach().add_(1)
    assert x.tolist() == [1.0, 1.0]
    z = pickle.loads(pickle.dumps(x))
    assert z.requires_grad and z.tolist() == [1.0, 1.0]


def test_grad_assignment_checks() -> None:
    x = ember.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="attempting to assign a gradient with dtype"):
        x.grad = ember.ones(2, dtype=ember.float64)
    with pytest.raises(RuntimeError, match="attempting to assign a gradient of size"):
        x.grad = ember.ones(3)
    x.grad = ember.ones(2)
    assert x.grad.tolist() == [1.0, 1.0]
