"""nn.Parameter and nn.Buffer against torch: construction, create(), repr, what ops return,
copying and pickling."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
import torch

import ember
from ember import nn


def test_construction_and_identity() -> None:
    t = ember.ones(2, 3)
    p = nn.Parameter(t)
    assert isinstance(p, ember.Tensor) and isinstance(p, nn.Parameter)
    assert not isinstance(t, nn.Parameter)
    assert p.requires_grad and p.is_leaf and p.grad_fn is None
    with ember.no_grad():
        p.mul_(3)  # shares storage and version counter with t
    assert float(t[0, 0]) == 3.0 and t._version == p._version == 1
    e = nn.Parameter()
    assert e.shape == (0,) and e.dtype == ember.float32 and e.requires_grad
    q = nn.Parameter(p)
    assert q is not p and q.data_ptr() == p.data_ptr()
    nonleaf = t * 2
    assert nn.Parameter(nonleaf).is_leaf
    assert hash(p) == id(p)


def test_integer_dtype_errors_match_torch() -> None:
    with pytest.raises(RuntimeError) as te:
        torch.nn.Parameter(torch.ones(2, dtype=torch.int64))
    with pytest.raises(RuntimeError) as ee:
        nn.Parameter(ember.ones(2, dtype=ember.int64))
    assert str(ee.value) == str(te.value)
    assert not nn.Parameter(ember.ones(2, dtype=ember.int64), requires_grad=False).requires_grad


def test_create_from_tensor_list_and_dtype_names() -> None:
    t = ember.ones(2)
    p = nn.Parameter.create(t)
    assert isinstance(p, nn.Parameter) and p.requires_grad and p.data_ptr() == t.data_ptr()
    q = nn.Parameter.create([1, 2, 3, 4], dtype="int32", requires_grad=False)
    assert isinstance(q, nn.Parameter) and q.dtype == ember.int32 and q.tolist() == [1, 2, 3, 4]
    assert not q.requires_grad
    r = nn.Parameter.create([[1.0, 2.0]], dtype=ember.float64)
    assert r.dtype == ember.float64 and r.shape == (1, 2) and r.requires_grad
    s = nn.Parameter.create(np.arange(3, dtype=np.float32))
    assert s.dtype == ember.float32 and s.tolist() == [0.0, 1.0, 2.0]
    assert nn.Parameter.create(2.5).shape == ()
    u = nn.Parameter.create(t, dtype="float64")
    assert u.dtype == ember.float64 and u.data_ptr() != t.data_ptr()
    with pytest.raises(RuntimeError, match="floating point and complex dtype"):
        nn.Parameter.create([1, 2], dtype="int64")


def test_repr_matches_torch() -> None:
    cases = [
        (nn.Parameter(ember.ones(2, 3)), torch.nn.Parameter(torch.ones(2, 3))),
        (nn.Parameter(ember.zeros(2), requires_grad=False),
         torch.nn.Parameter(torch.zeros(2), requires_grad=False)),
        (nn.Parameter(ember.ones(1, dtype=ember.float16)),
         torch.nn.Parameter(torch.ones(1, dtype=torch.float16))),
    ]
    for e, t in cases:
        assert repr(e) == repr(t) and str(e) == str(t)


def test_what_operations_return() -> None:
    p = nn.Parameter(ember.ones(2, 2))
    assert p.float() is p and p.to(ember.float32) is p
    d = p.double()
    assert type(d) is ember.Tensor and d.requires_grad and not d.is_leaf
    for r in (p * 2, p + 0, p.clone(), p[0], p.view(-1), p.t(), ember.exp(p)):
        assert type(r) is ember.Tensor and r.requires_grad and r.grad_fn is not None
    det = p.detach()
    assert type(det) is ember.Tensor and not det.requires_grad
    assert type(p.data) is ember.Tensor and not p.data.requires_grad
    assert type(ember.zeros_like(p)) is ember.Tensor
    assert p.requires_grad_(False) is p and isinstance(p, nn.Parameter)


def test_data_assignment_keeps_object() -> None:
    p = nn.Parameter(ember.ones(2))
    p.data = ember.zeros(5)
    assert isinstance(p, nn.Parameter) and p.shape == (5,)
    with pytest.raises(RuntimeError, match="floating point"):
        p.data = ember.zeros(2, dtype=ember.int64)


def test_deepcopy_drops_grad_and_pickle_keeps_flags() -> None:
    p = nn.Parameter(ember.ones(2))
    p.grad = ember.full((2,), 5.0)
    c = copy.deepcopy(p)
    assert type(c) is nn.Parameter and c.requires_grad and c.grad is None
    assert c.data_ptr() != p.data_ptr() and c.tolist() == [1.0, 1.0]
    for rg in (True, False):
        q = nn.Parameter(ember.ones(2), requires_grad=rg)
        r = pickle.loads(pickle.dumps(q))
        assert type(r) is nn.Parameter and r.requires_grad is rg and r.grad is None
    t = ember.ones(2, requires_grad=True)
    t.grad = ember.full((2,), 5.0)
    assert copy.deepcopy(t).grad.tolist() == [5.0, 5.0]  # a plain Tensor keeps its grad


def test_buffer_marker() -> None:
    b = nn.Buffer(ember.ones(2))
    assert type(b) is ember.Tensor and isinstance(b, nn.Buffer)
    assert not isinstance(ember.ones(2), nn.Buffer)
    tb = torch.nn.Buffer(torch.ones(2))
    assert type(tb) is torch.Tensor and isinstance(tb, torch.nn.Buffer)
    assert nn.Buffer().shape == (0,)
