"""nn.TransformerDecoderLayer, nn.TransformerDecoder, nn.Transformer against torch: the same
weights from the same seed, the same outputs and gradients, torch's state_dict keys."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

import ember

RNG = np.random.default_rng(0)
SRC = RNG.standard_normal((5, 2, 16)).astype(np.float32)  # (S, N, E)
TGT = RNG.standard_normal((4, 2, 16)).astype(np.float32)  # (T, N, E)
PAD = [[False] * 5, [False, False, False, True, True]]  # (N, S): the second source is shorter


def _mask(lib: Any) -> Any:
    return lib.nn.Transformer.generate_square_subsequent_mask(4)


CASES: dict[str, tuple[Callable[[Any], Any], Callable[[Any], tuple[Any, ...]]]] = {
    "decoder_layer": (lambda lib: lib.nn.TransformerDecoderLayer(16, 4, 32, dropout=0.0),
                      lambda lib: (lib.tensor(TGT), lib.tensor(SRC))),
    "decoder_layer_norm_first_gelu": (
        lambda lib: lib.nn.TransformerDecoderLayer(16, 4, 32, dropout=0.0, norm_first=True,
                                                   activation="gelu"),
        lambda lib: (lib.tensor(TGT), lib.tensor(SRC), _mask(lib))),
    "decoder": (
        lambda lib: lib.nn.TransformerDecoder(
            lib.nn.TransformerDecoderLayer(16, 4, 32, dropout=0.0), 2, norm=lib.nn.LayerNorm(16)),
        lambda lib: (lib.tensor(TGT), lib.tensor(SRC), _mask(lib))),
    "transformer": (lambda lib: lib.nn.Transformer(16, 4, 2, 2, 32, dropout=0.0),
                    lambda lib: (lib.tensor(SRC), lib.tensor(TGT), None, _mask(lib))),
    "transformer_batch_first_padding": (
        lambda lib: lib.nn.Transformer(16, 4, 1, 1, 32, dropout=0.0, batch_first=True),
        lambda lib: (lib.tensor(SRC.transpose(1, 0, 2).copy()),
                     lib.tensor(TGT.transpose(1, 0, 2).copy()), None, _mask(lib), None,
                     lib.tensor(PAD), None, lib.tensor(PAD))),
}


@pytest.mark.filterwarnings("ignore::UserWarning")  # torch's nested-tensor / mask-type notes
@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_torch(case: str) -> None:
    make, inputs = CASES[case]
    torch.manual_seed(0)
    tm = make(torch)
    ember.manual_seed(0)
    em = make(ember)
    tsd, esd = tm.state_dict(), em.state_dict()
    assert list(esd) == list(tsd)
    for k in tsd:  # same init from the same seed, including Transformer's xavier re-init
        np.testing.assert_array_equal(esd[k].numpy(), tsd[k].numpy(), err_msg=k)
    assert [n for n, _ in em.named_parameters()] == [n for n, _ in tm.named_parameters()]

    tout, eout = tm(*inputs(torch)), em(*inputs(ember))
    np.testing.assert_allclose(eout.detach().numpy(), tout.detach().numpy(), atol=1e-5)
    tout.square().sum().backward()
    eout.square().sum().backward()
    tgrads = dict(tm.named_parameters())
    for name, p in em.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), tgrads[name].grad.numpy(), atol=1e-4,
                                   rtol=1e-4, err_msg=name)


def test_square_subsequent_mask_and_errors() -> None:
    np.testing.assert_array_equal(
        ember.nn.Transformer.generate_square_subsequent_mask(5).numpy(),
        torch.nn.Transformer.generate_square_subsequent_mask(5).numpy())
    model = ember.nn.Transformer(16, 4, 1, 1, 32)
    with pytest.raises(RuntimeError, match="batch number of src and tgt"):
        model(ember.zeros(5, 2, 16), ember.zeros(4, 3, 16))
    with pytest.raises(RuntimeError, match="feature number of src and tgt"):
        model(ember.zeros(5, 2, 16), ember.zeros(4, 2, 8))
    assert type(model).__name__ == "Transformer"
    assert type(model.decoder.layers[0]).__name__ == "TransformerDecoderLayer"


def test_dropout_is_active_in_training() -> None:
    ember.manual_seed(0)
    layer = ember.nn.TransformerDecoderLayer(16, 4, 32, dropout=0.5)
    tgt, mem = ember.tensor(TGT), ember.tensor(SRC)
    layer.train()
    assert not ember.equal(layer(tgt, mem), layer(tgt, mem))
    layer.eval()
    assert ember.equal(layer(tgt, mem), layer(tgt, mem))
