"""Slices' backward adds into the pending gradient of their input where the engine alone holds it
(GetItemView.backward_into): the same gradients as torch, and nothing another holder of a
gradient sees is written."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

import ember
from ember.ops import indexing

R = np.random.default_rng(3)


def _grads(lib: Any, fn: Callable[[Any, Any], Any], x: np.ndarray) -> np.ndarray:
    t = lib.tensor(x, requires_grad=True)
    fn(lib, t).backward()
    return t.grad.numpy()


CASES: dict[str, Callable[[Any, Any], Any]] = {
    # nanoGPT's q, k, v pieces, each used once
    "split3": lambda lib, t: sum(((p * (i + 1.0)) ** 2).sum()
                                 for i, p in enumerate((t * 1.5).split(4, dim=2))),
    # the parent also used whole, before and after its pieces
    "split_and_whole": lambda lib, t: ((t * 2.0).split(3, dim=-1)[0].sum()
                                       + ((t * 2.0) ** 2).sum()),
    # overlapping slices and a select, of one non-leaf
    "overlap": lambda lib, t: (lambda h: (h[:, 0:3] * 3.0).sum() + (h[:, 1:4] ** 2).sum()
                               + h[1].sum() + h[..., 2:].exp().sum())(t.tanh()),
    # a select on a 1-D non-leaf (the item is a scalar view)
    "select_1d": lambda lib, t: (lambda h: h[0] * 2.0 + h[3] * h[1] + h[0])(t.reshape(-1) * 1.0),
    "chunk_unbind": lambda lib, t: (sum((c * c).sum() for c in (t + 1.0).chunk(3, dim=1))
                                    + sum(u.sum() * k for k, u in enumerate((t - 1.0).unbind(0)))),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_slice_backward_into_pending_matches_torch(name: str) -> None:
    x = R.standard_normal((2, 4, 12)).astype(np.float32)
    got = _grads(ember, CASES[name], x)
    np.testing.assert_allclose(got, _grads(torch, CASES[name], x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(CASES))
def test_slice_backward_into_is_the_same_as_without(name: str, monkeypatch: Any) -> None:
    x = R.standard_normal((2, 4, 12)).astype(np.float32)
    got = _grads(ember, CASES[name], x)
    monkeypatch.setattr(indexing.GetItemView, "backward_into", None)
    np.testing.assert_array_equal(got, _grads(ember, CASES[name], x))


def test_slice_backward_into_is_used_for_split_pieces(monkeypatch: Any) -> None:
    calls: list[bool] = []
    into = indexing.GetItemView.__dict__["backward_into"].__func__

    def counting(ctx: Any, g: Any, grads: Any) -> bool:
        calls.append(into(ctx, g, grads))
        return calls[-1]

    monkeypatch.setattr(indexing.GetItemView, "backward_into", staticmethod(counting))
    t = ember.randn(2, 3, 12, requires_grad=True)
    q, k, v = (t * 1.0).split(4, dim=2)
    (q.sum() + (k * 2.0).sum() + (v * 3.0).sum()).backward()
    assert sorted(calls) == [False, True, True]  # the first piece makes the array, two add in
    expect = np.repeat([1.0, 2.0, 3.0], 4) * np.ones((2, 3, 1))
    np.testing.assert_array_equal(t.grad.numpy(), expect)


def test_gradients_held_elsewhere_are_not_written() -> None:
    # y's seed reaches h's pending gradient first (roots run last to first) and is the user's:
    # the pieces must not add into it; a hook and retain_grad keep gradients that must not change
    x = ember.randn(3, 6, requires_grad=True)
    kept: list[ember.Tensor] = []
    h = x * 2.0
    h.register_hook(lambda g: kept.append(g))
    h.retain_grad()
    a, b = h.split(3, dim=1)
    y = h + 1.0
    seed_a, seed_b, seed_y = ember.ones(3, 3), ember.full((3, 3), 2.0), ember.full((3, 6), 5.0)
    ember.autograd.backward([a, b, y], [seed_a, seed_b, seed_y])
    expect = np.concatenate([np.full((3, 3), 6.0), np.full((3, 3), 7.0)], axis=1)
    np.testing.assert_array_equal(h.grad.numpy(), expect)
    np.testing.assert_array_equal(kept[0].numpy(), expect)
    np.testing.assert_array_equal(x.grad.numpy(), 2 * expect)
    for seed, v in ((seed_a, 1.0), (seed_b, 2.0), (seed_y, 5.0)):
        np.testing.assert_array_equal(seed.numpy(), np.full(seed.shape, v))


def test_create_graph_through_split_pieces() -> None:
    x = R.standard_normal((2, 6)).astype(np.float64)
    out = []
    for lib in (ember, torch):
        t = lib.tensor(x, requires_grad=True)
        a, b, c = (t * t).split(2, dim=1)
        (g,) = lib.autograd.grad((a * 1.0).sum() + (b * 2.0).sum() + (c ** 2).sum(), t,
                                 create_graph=True)
        (g * g).sum().backward()
        out.append((g.detach().numpy(), t.grad.numpy()))
    for e, tt in zip(out[0], out[1]):
        np.testing.assert_allclose(e, tt, rtol=1e-12)
