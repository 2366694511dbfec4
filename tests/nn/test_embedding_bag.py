"""nn.EmbeddingBag / F.embedding_bag against torch: init from the same seed, outputs and
gradients for every mode, offsets, include_last_offset, padding_idx, per_sample_weights, empty
bags, and torch's errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import ember

IDX = [4, 2, 7, 2, 9, 1, 0, 3]
OFFSETS = [0, 3, 3, 5]  # the second bag is empty


def _both(kwargs: dict[str, Any], args: list[Any], psw: bool = False) -> None:
    torch.manual_seed(0)
    tm = torch.nn.EmbeddingBag(10, 4, **kwargs)
    ember.manual_seed(0)
    em = ember.nn.EmbeddingBag(10, 4, **kwargs)
    # init N(0, 1) from the same seed: torch's vectorised normal_ differs in the last ulp
    np.testing.assert_allclose(em.weight.detach().numpy(), tm.weight.detach().numpy(),
                               rtol=1e-6, atol=1e-6)
    assert repr(em) == repr(tm)
    targs = [torch.tensor(a) for a in args]
    eargs = [ember.tensor(a) for a in args]
    tw = ew = None
    if psw:
        weights = np.linspace(0.5, 2.0, np.size(args[0])).reshape(np.shape(args[0]))
        tw = torch.tensor(weights, dtype=torch.float32, requires_grad=True)
        ew = ember.tensor(weights.astype(np.float32), requires_grad=True)
    tout, eout = tm(*targs, per_sample_weights=tw), em(*eargs, per_sample_weights=ew)
    np.testing.assert_allclose(eout.detach().numpy(), tout.detach().numpy(), rtol=1e-6,
                               atol=1e-6)
    tout.square().sum().backward()
    eout.square().sum().backward()
    np.testing.assert_allclose(em.weight.grad.numpy(), tm.weight.grad.numpy(), rtol=1e-5,
                               atol=1e-6)
    if psw:
        np.testing.assert_allclose(ew.grad.numpy(), tw.grad.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_offsets_with_an_empty_bag(mode: str) -> None:
    _both({"mode": mode}, [IDX, OFFSETS])


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_2d_input_and_padding(mode: str) -> None:
    _both({"mode": mode, "padding_idx": 2}, [np.array(IDX).reshape(2, 4)])


def test_include_last_offset_and_per_sample_weights() -> None:
    _both({"mode": "sum", "include_last_offset": True}, [IDX, [0, 2, 6, 8]], psw=True)
    _both({"mode": "sum"}, [np.array(IDX).reshape(4, 2)], psw=True)


def test_functional_and_errors() -> None:
    w = np.random.default_rng(0).standard_normal((10, 3)).astype(np.float32)
    out = ember.nn.functional.embedding_bag(ember.tensor(IDX), ember.tensor(w),
                                            ember.tensor(OFFSETS), mode="mean")
    ref = torch.nn.functional.embedding_bag(torch.tensor(IDX), torch.tensor(w),
                                            torch.tensor(OFFSETS), mode="mean")
    np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-6)
    bag = ember.nn.EmbeddingBag(10, 3, mode="mean")
    with pytest.raises(NotImplementedError, match="only supported for mode='sum'"):
        bag(ember.tensor(IDX), ember.tensor(OFFSETS), per_sample_weights=ember.ones(8))
    with pytest.raises(ValueError, match="offsets has to be None"):
        bag(ember.tensor([[1, 2]]), ember.tensor([0]))
    with pytest.raises(ValueError, match="offsets has to be a 1D Tensor"):
        bag(ember.tensor(IDX))
    pre = ember.nn.EmbeddingBag.from_pretrained(ember.tensor(w), mode="sum")
    assert not pre.weight.requires_grad and pre.mode == "sum"
