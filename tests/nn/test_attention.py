"""scaled_dot_product_attention, multi_head_attention_forward and MultiheadAttention vs torch."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import ember
from tests.helpers import assert_same, check

RNG = np.random.default_rng(0)
Q = RNG.standard_normal((2, 3, 4, 5))  # (N, H, L, E)
K = RNG.standard_normal((2, 3, 6, 5))  # (N, H, S, E)
V = RNG.standard_normal((2, 3, 6, 2))


def _sdpa(**kw: Any) -> Any:
    return lambda lib, q, k, v, *m: lib.nn.functional.scaled_dot_product_attention(
        q, k, v, *m, **kw)


@pytest.mark.parametrize("kw", [{}, {"scale": 0.3}, {"is_causal": True}])
def test_sdpa(kw: dict) -> None:
    check(_sdpa(**kw), Q, K, V)


def test_sdpa_bool_mask_with_fully_masked_row() -> None:
    mask = RNG.random((4, 6)) > 0.4
    mask[1] = False  # nothing to attend to: torch returns zeros there
    check(_sdpa(), Q, K, V, mask)


def test_sdpa_float_mask_gets_gradient_and_float32() -> None:
    check(_sdpa(), Q, K, V, RNG.standard_normal((3, 4, 6)))
    f32 = [a.astype(np.float32) for a in (Q, K, V)]
    check(_sdpa(is_causal=True), *f32)


def test_sdpa_dropout_draws_torch_masks_from_the_same_seed() -> None:
    q = Q.astype(np.float32)
    ember.manual_seed(5)
    torch.manual_seed(5)
    out_e = ember.nn.functional.scaled_dot_product_attention(*[ember.tensor(q)] * 3,
                                                             dropout_p=0.3)
    out_t = torch.nn.functional.scaled_dot_product_attention(*[torch.tensor(q)] * 3,
                                                             dropout_p=0.3)
    assert_same(out_e, out_t)
    ref = ember.nn.functional.scaled_dot_product_attention(*[ember.tensor(q)] * 3)
    assert not np.allclose(out_e.numpy(), ref.numpy())


def _mha_args(e: int, kdim: int, vdim: int, bias_kv: bool) -> dict:
    """Weights for the functional form, drawn once and shared."""
    same = kdim == e and vdim == e
    w = {
        "in_proj_weight": RNG.standard_normal((3 * e, e)) if same else None,
        "in_proj_bias": RNG.standard_normal(3 * e),
        "bias_k": RNG.standard_normal((1, 1, e)) if bias_kv else None,
        "bias_v": RNG.standard_normal((1, 1, e)) if bias_kv else None,
        "out_proj_weight": RNG.standard_normal((e, e)),
        "out_proj_bias": RNG.standard_normal(e),
        "q_proj_weight": None if same else RNG.standard_normal((e, e)),
        "k_proj_weight": None if same else RNG.standard_normal((e, kdim)),
        "v_proj_weight": None if same else RNG.standard_normal((e, vdim)),
    }
    return w


@pytest.mark.parametrize("need_weights, average", [(True, True), (True, False), (False, True)])
@pytest.mark.parametrize("opts", [
    {},
    {"kdim": 3, "vdim": 5},
    {"bias_kv": True, "add_zero_attn": True},
])
def test_multi_head_attention_forward(need_weights: bool, average: bool, opts: dict) -> None:
    e, heads, kdim, vdim = 4, 2, opts.get("kdim", 4), opts.get("vdim", 4)
    w = _mha_args(e, kdim, vdim, opts.get("bias_kv", False))
    q, k, v = (RNG.standard_normal((3, 2, d)) for d in (e, kdim, vdim))
    kpm = np.where([[False, False, True], [False, True, False]], -np.inf, 0.0)  # float, as am
    am = RNG.standard_normal((3, 3))

    def fn(lib: Any, q: Any, k: Any, v: Any, *ws: Any) -> Any:
        kw = dict(zip(w, ws, strict=True))
        return lib.nn.functional.multi_head_attention_forward(
            q, k, v, e, heads, kw["in_proj_weight"], kw["in_proj_bias"], kw["bias_k"],
            kw["bias_v"], opts.get("add_zero_attn", False), 0.0, kw["out_proj_weight"],
            kw["out_proj_bias"], key_padding_mask=lib.tensor(kpm), need_weights=need_weights,
            attn_mask=lib.tensor(am), use_separate_proj_weight=kdim != e,
            q_proj_weight=kw["q_proj_weight"], k_proj_weight=kw["k_proj_weight"],
            v_proj_weight=kw["v_proj_weight"], average_attn_weights=average)

    check(fn, q, k, v, *w.values())


NEEDS_LINEAR = pytest.mark.skipif(not hasattr(ember.nn, "Linear"),
                                  reason="MultiheadAttention.out_proj needs nn.Linear (part A)")


def _mha_pair(**kw: Any) -> tuple[Any, Any]:
    ember.manual_seed(0)
    torch.manual_seed(0)
    return ember.nn.MultiheadAttention(**kw), torch.nn.MultiheadAttention(**kw)


@NEEDS_LINEAR
@pytest.mark.parametrize("kw", [
    {"embed_dim": 4, "num_heads": 2},
    {"embed_dim": 4, "num_heads": 1, "batch_first": True, "bias": False},
    {"embed_dim": 6, "num_heads": 3, "kdim": 2, "vdim": 5, "add_bias_kv": True},
])
def test_multihead_attention_layer(kw: dict) -> None:
    e, t = _mha_pair(**kw)
    assert list(e.state_dict()) == list(t.state_dict())
    assert repr(e) == repr(t)
    for name, p in t.named_parameters():  # torch's init, draw for draw (xavier_normal_ close)
        np.testing.assert_allclose(e.get_parameter(name).detach().numpy(), p.detach().numpy(),
                                   rtol=1e-6, atol=1e-6, err_msg=name)
    ed = kw["embed_dim"]
    n, lq, ls = 2, 3, 4
    q = RNG.standard_normal((n, lq, ed) if kw.get("batch_first") else (lq, n, ed))
    k = RNG.standard_normal((n, ls, kw.get("kdim", ed)) if kw.get("batch_first")
                            else (ls, n, kw.get("kdim", ed)))
    v = RNG.standard_normal((n, ls, kw.get("vdim", ed)) if kw.get("batch_first")
                            else (ls, n, kw.get("vdim", ed)))
    kpm = np.zeros((n, ls), dtype=bool)
    kpm[1, -1] = True
    causal = np.triu(np.ones((lq, ls), dtype=bool), 1)
    xs = [a.astype(np.float32) for a in (q, k, v)]
    for need in (True, False):
        ye = e(*[ember.tensor(a) for a in xs], key_padding_mask=ember.tensor(kpm),
               attn_mask=ember.tensor(causal), need_weights=need)
        yt = t(*[torch.tensor(a) for a in xs], key_padding_mask=torch.tensor(kpm),
               attn_mask=torch.tensor(causal), need_weights=need)
        assert_same(ye, yt, rtol=1e-5, atol=1e-5)
    out_e, _ = e(*[ember.tensor(a) for a in xs])
    out_t, _ = t(*[torch.tensor(a) for a in xs])
    out_e.sum().backward()
    out_t.sum().backward()
    for name, p in t.named_parameters():
        assert_same(e.get_parameter(name).grad, p.grad, rtol=1e-4, atol=1e-5, what=name)


@NEEDS_LINEAR
def test_multihead_attention_unbatched_and_state_dict_roundtrip() -> None:
    e, t = _mha_pair(embed_dim=4, num_heads=2)
    e.load_state_dict({k: ember.tensor(v.numpy()) for k, v in t.state_dict().items()})
    x = RNG.standard_normal((3, 4)).astype(np.float32)
    ye = e(ember.tensor(x), ember.tensor(x), ember.tensor(x), average_attn_weights=False)
    yt = t(torch.tensor(x), torch.tensor(x), torch.tensor(x), average_attn_weights=False)
    assert_same(ye, yt, rtol=1e-5, atol=1e-6)


NEEDS_PART_A = pytest.mark.skipif(
    not all(hasattr(ember.nn, n) for n in ("Linear", "LayerNorm", "Dropout")),
    reason="TransformerEncoderLayer needs nn.Linear, nn.LayerNorm and nn.Dropout (part A)")


@NEEDS_PART_A
@pytest.mark.parametrize("kw", [
    {},
    {"norm_first": True, "activation": "gelu", "batch_first": True},
])
def test_transformer_encoder_layer(kw: dict) -> None:
    args = dict(d_model=4, nhead=2, dim_feedforward=8, dropout=0.0, **kw)
    ember.manual_seed(0)
    torch.manual_seed(0)
    e, t = ember.nn.TransformerEncoderLayer(**args), torch.nn.TransformerEncoderLayer(**args)
    assert list(e.state_dict()) == list(t.state_dict())
    e.load_state_dict({k: ember.tensor(v.numpy()) for k, v in t.state_dict().items()})
    shape = (2, 3, 4) if kw.get("batch_first") else (3, 2, 4)  # N=2, S=3
    x = RNG.standard_normal(shape).astype(np.float32)
    kpm = np.array([[False, False, True], [False, False, False]])  # (N, S)
    xe, xt = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ye = e(xe, src_key_padding_mask=ember.tensor(kpm))
    yt = t(xt, src_key_padding_mask=torch.tensor(kpm))
    assert_same(ye, yt, rtol=1e-5, atol=1e-5)
    ye.sum().backward()
    yt.sum().backward()
    assert_same(xe.grad, xt.grad, rtol=1e-4, atol=1e-5)
    enc_e = ember.nn.TransformerEncoder(e, 2)
    enc_t = torch.nn.TransformerEncoder(t, 2, enable_nested_tensor=False)
    assert list(enc_e.state_dict()) == list(enc_t.state_dict())
    enc_e.load_state_dict({k: ember.tensor(v.numpy()) for k, v in enc_t.state_dict().items()})
    assert_same(enc_e(ember.tensor(x)), enc_t(torch.tensor(x)), rtol=1e-5, atol=1e-5)
