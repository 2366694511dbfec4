"""nn.utils.rnn.pad_sequence / unpad_sequence against torch, values and gradients."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import ember
from ember.nn.utils import rnn

RNG = np.random.default_rng(0)
SEQS = [RNG.standard_normal((n, 3)).astype(np.float32) for n in (4, 1, 3)]


@pytest.mark.parametrize("kwargs", [{}, {"batch_first": True}, {"padding_value": -1.5},
                                    {"batch_first": True, "padding_side": "left"}])
def test_pad_sequence_matches_torch(kwargs: dict[str, Any]) -> None:
    tseqs = [torch.tensor(s, requires_grad=True) for s in SEQS]
    eseqs = [ember.tensor(s, requires_grad=True) for s in SEQS]
    tout = torch.nn.utils.rnn.pad_sequence(tseqs, **kwargs)
    eout = rnn.pad_sequence(eseqs, **kwargs)
    np.testing.assert_array_equal(eout.detach().numpy(), tout.detach().numpy())
    weights = RNG.standard_normal(tuple(tout.shape)).astype(np.float32)
    (tout * torch.tensor(weights)).sum().backward()
    (eout * ember.tensor(weights)).sum().backward()
    for t, e in zip(tseqs, eseqs):
        np.testing.assert_array_equal(e.grad.numpy(), t.grad.numpy())


def test_1d_sequences_unpad_and_errors() -> None:
    ids = [ember.tensor([5, 6, 7]), ember.tensor([8])]
    ref = torch.nn.utils.rnn.pad_sequence([torch.tensor([5, 6, 7]), torch.tensor([8])],
                                          batch_first=True)
    out = rnn.pad_sequence(ids, batch_first=True)
    assert out.dtype == ember.int64 and out.tolist() == ref.tolist()
    back = rnn.unpad_sequence(rnn.pad_sequence(ids), ember.tensor([3, 1]))
    assert [b.tolist() for b in back] == [[5, 6, 7], [8]]
    with pytest.raises(ValueError, match="padding_side"):
        rnn.pad_sequence(ids, padding_side="middle")
