"""RNN, LSTM, GRU and their cells against torch: same seed -> same weights, outputs, states and
every gradient; state_dict keys and reprs equal."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

import ember
from tests.helpers import assert_same

RNG = np.random.default_rng(0)
X = RNG.standard_normal((5, 3, 4))  # (L, N, in)
H = RNG.standard_normal((4, 3, 6))
C = RNG.standard_normal((4, 3, 6))


def _parity(name: str, args: tuple, kw: dict, x: np.ndarray,
            hx: Callable[[Any], Any] | None = None, dtype: type = np.float64) -> None:
    ember.manual_seed(0)
    torch.manual_seed(0)
    e, t = getattr(ember.nn, name)(*args, **kw), getattr(torch.nn, name)(*args, **kw)
    assert list(e.state_dict()) == list(t.state_dict())
    assert repr(e) == repr(t)
    for n, p in t.named_parameters():  # torch's init, draw for draw
        np.testing.assert_array_equal(e.get_parameter(n).detach().numpy(), p.detach().numpy())
    if dtype == np.float64:
        e.double()
        t.double()
    xe = ember.tensor(x.astype(dtype), requires_grad=True)
    xt = torch.tensor(x.astype(dtype), requires_grad=True)
    ye = e(xe) if hx is None else e(xe, hx(ember))
    yt = t(xt) if hx is None else t(xt, hx(torch))
    assert_same(ye, yt)
    # a loss that touches every output (sequence, h_n and c_n)
    flat_e = [ye] if not isinstance(ye, tuple) else [ye[0], *(
        ye[1] if isinstance(ye[1], tuple) else (ye[1],))]
    flat_t = [yt] if not isinstance(yt, tuple) else [yt[0], *(
        yt[1] if isinstance(yt[1], tuple) else (yt[1],))]
    cots = [RNG.standard_normal(tuple(o.shape)).astype(dtype) for o in flat_t]
    sum((o * ember.tensor(c)).sum() for o, c in zip(flat_e, cots)).backward()
    sum((o * torch.tensor(c)).sum() for o, c in zip(flat_t, cots)).backward()
    assert_same(xe.grad, xt.grad, what="input grad")
    for n, p in t.named_parameters():
        assert_same(e.get_parameter(n).grad, p.grad, what=f"grad of {n}")


@pytest.mark.parametrize("name", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("kw", [
    {},
    {"num_layers": 2, "bidirectional": True},
    {"batch_first": True, "bias": False},
])
def test_recurrent_layers(name: str, kw: dict) -> None:
    _parity(name, (4, 6), kw, X)


def test_float32_unbatched_and_relu() -> None:
    _parity("LSTM", (4, 6), {"num_layers": 2}, X, dtype=np.float32)
    _parity("GRU", (4, 6), {"bidirectional": True}, X[:, 0])
    _parity("RNN", (4, 6), {"nonlinearity": "relu", "num_layers": 2}, X)


def test_initial_states() -> None:
    _parity("LSTM", (4, 6), {"num_layers": 2, "bidirectional": True}, X,
            hx=lambda lib: (lib.tensor(H, requires_grad=True), lib.tensor(C)))
    _parity("GRU", (4, 6), {"num_layers": 2, "batch_first": True}, X.transpose(1, 0, 2),
            hx=lambda lib: lib.tensor(H[:2]))
    _parity("LSTM", (4, 6), {}, X[:, 0], hx=lambda lib: (lib.tensor(H[0, :1]),
                                                         lib.tensor(C[0, :1])))


@pytest.mark.parametrize("name", ["LSTM", "GRU"])
def test_dropout_between_layers_matches_torch_from_the_seed(name: str) -> None:
    ember.manual_seed(0)
    torch.manual_seed(0)
    kw = dict(num_layers=3, dropout=0.4, bidirectional=name == "GRU")
    e, t = getattr(ember.nn, name)(4, 6, **kw), getattr(torch.nn, name)(4, 6, **kw)
    assert repr(e) == repr(t)
    x = X.astype(np.float32)
    ember.manual_seed(1)
    torch.manual_seed(1)
    assert_same(e(ember.tensor(x))[0], t(torch.tensor(x))[0])  # training: same masks
    e.eval()
    t.eval()
    assert_same(e(ember.tensor(x))[0], t(torch.tensor(x))[0])


@pytest.mark.parametrize("name, kw, x, hx", [
    ("LSTMCell", {}, X[0], None),
    ("LSTMCell", {"bias": False}, X[0], lambda lib: (lib.tensor(H[0]), lib.tensor(C[0]))),
    ("GRUCell", {}, X[0], lambda lib: lib.tensor(H[0])),
    ("GRUCell", {}, X[0, 0], None),
    ("RNNCell", {"nonlinearity": "relu"}, X[0], None),
])
def test_cells(name: str, kw: dict, x: np.ndarray, hx: Any) -> None:
    _parity(name, (4, 6), kw, x, hx)


def test_errors() -> None:
    lstm = ember.nn.LSTM(4, 6)
    with pytest.raises(RuntimeError, match="input_size"):
        lstm(ember.zeros(5, 3, 5))
    with pytest.raises(RuntimeError, match="Expected hidden size"):
        lstm(ember.zeros(5, 3, 4), (ember.zeros(2, 3, 6), ember.zeros(2, 3, 6)))
    with pytest.raises(ValueError, match="Unknown nonlinearity"):
        ember.nn.RNN(4, 6, nonlinearity="gelu")
