"""Layer classes (part A) vs torch: weights copied across, outputs, gradients, buffers, init."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import ember

R = np.random.default_rng(0)


def _copy_weights(e: ember.nn.Module, t: torch.nn.Module) -> None:
    """Give the ember module torch's parameters and buffers (same names, same values)."""
    sd = {k: ember.tensor(v.detach().numpy().copy()) for k, v in t.state_dict().items()}
    e.load_state_dict(sd)


def _run(e: ember.nn.Module, t: torch.nn.Module, *xs: np.ndarray, rtol: float = 1e-6,
         atol: float = 1e-6) -> None:
    """Forward and backward on the same input; compare output, input grads and param grads."""
    ex = [ember.tensor(x, requires_grad=x.dtype.kind == "f") for x in xs]
    tx = [torch.tensor(x, requires_grad=x.dtype.kind == "f") for x in xs]
    eo, to = e(*ex), t(*tx)
    np.testing.assert_allclose(eo.detach().numpy(), to.detach().numpy(), rtol=rtol, atol=atol)
    assert eo.dtype.name == str(to.dtype).removeprefix("torch.")
    cot = R.standard_normal(tuple(to.shape)).astype(to.detach().numpy().dtype)
    eo.backward(ember.tensor(cot))
    to.backward(torch.tensor(cot))
    for a, b in zip(ex, tx):
        if b.grad is not None:
            np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=rtol, atol=atol)
    ep, tp = dict(e.named_parameters()), dict(t.named_parameters())
    assert list(ep) == list(tp)
    for k in tp:
        if tp[k].grad is None:
            assert ep[k].grad is None, k
        else:
            np.testing.assert_allclose(ep[k].grad.numpy(), tp[k].grad.numpy(), rtol=rtol,
                                       atol=atol, err_msg=k)


def test_linear_bilinear_parity() -> None:
    t, e = torch.nn.Linear(4, 3), ember.nn.Linear(4, 3)
    _copy_weights(e, t)
    _run(e, t, R.standard_normal((2, 5, 4)).astype(np.float32))
    assert repr(e) == repr(t)
    t2, e2 = torch.nn.Linear(4, 3, bias=False), ember.nn.Linear(4, 3, bias=False)
    assert e2.bias is None and list(e2.state_dict()) == list(t2.state_dict()) == ["weight"]
    tb, eb = torch.nn.Bilinear(3, 2, 4), ember.nn.Bilinear(3, 2, 4)
    _copy_weights(eb, tb)
    _run(eb, tb, R.standard_normal((5, 3)).astype(np.float32),
         R.standard_normal((5, 2)).astype(np.float32))
    assert repr(eb) == repr(tb)


def test_linear_default_init_distribution() -> None:
    ember.manual_seed(0)
    m = ember.nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)
    w = m.weight.detach().numpy()
    assert w.dtype == np.float32 and w.shape == (300, 400)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    std = bound / math.sqrt(3)  # U(-b, b)
    assert abs(w.std() - std) < 5 * std / math.sqrt(2 * w.size)
    assert abs(w.mean()) < 5 * std / math.sqrt(w.size)
    b = m.bias.detach().numpy()
    assert np.abs(b).max() <= bound and b.std() > 0.5 * std
    assert m.weight.requires_grad and m.weight.grad_fn is None


def test_linear_init_follows_torch_seed() -> None:
    torch.manual_seed(3)
    ember.manual_seed(3)
    t, e = torch.nn.Linear(5, 3), ember.nn.Linear(5, 3)
    # weight first, then bias, from the same stream as torch's MT19937
    np.testing.assert_array_equal(e.weight.detach().numpy(), t.weight.detach().numpy())
    np.testing.assert_array_equal(e.bias.detach().numpy(), t.bias.detach().numpy())


def test_embedding_layer() -> None:
    t, e = torch.nn.Embedding(7, 3, padding_idx=2), ember.nn.Embedding(7, 3, padding_idx=2)
    assert np.all(e.weight.detach().numpy()[2] == 0)
    _copy_weights(e, t)
    _run(e, t, np.array([[0, 2, 2, 6], [1, 1, 2, 3]]))
    assert repr(e) == repr(t)
    assert ember.nn.Embedding(5, 2, padding_idx=-1).padding_idx == 4
    with pytest.raises(AssertionError, match="Padding_idx must be within num_embeddings"):
        ember.nn.Embedding(5, 2, padding_idx=5)
    w = ember.tensor(R.standard_normal((4, 2)))
    fp = ember.nn.Embedding.from_pretrained(w)
    assert not fp.weight.requires_grad and fp.num_embeddings == 4
    assert ember.nn.Embedding.from_pretrained(w, freeze=False).weight.requires_grad
    ember.manual_seed(0)
    big = ember.nn.Embedding(200, 50).weight.detach().numpy()
    assert abs(big.std() - 1) < 0.05 and abs(big.mean()) < 0.05


ACT = [("ReLU", ()), ("ReLU6", ()), ("LeakyReLU", (0.2,)), ("ELU", (0.7,)), ("SELU", ()),
       ("CELU", (1.5,)), ("GELU", ()), ("GELU", ("tanh",)), ("SiLU", ()), ("Mish", ()),
       ("Sigmoid", ()), ("Tanh", ()), ("Softmax", (1,)), ("LogSoftmax", (-1,)),
       ("Softmin", (0,)), ("Softplus", (2.0, 5.0)), ("Hardtanh", (-0.5, 0.5)),
       ("Hardswish", ()), ("Hardsigmoid", ()), ("LogSigmoid", ()), ("GLU", ()),
       ("PReLU", ()), ("Threshold", (0.1, 20.0)), ("Softsign", ()), ("Tanhshrink", ()),
       ("Hardshrink", ()), ("Softshrink", (0.3,))]


@pytest.mark.parametrize("name,args", ACT, ids=[f"{n}{a}" for n, a in ACT])
def test_activation_layers(name: str, args: tuple) -> None:
    e, t = getattr(ember.nn, name)(*args), getattr(torch.nn, name)(*args)
    assert repr(e) == repr(t)
    _copy_weights(e, t)
    x = R.standard_normal((3, 4)) * 3
    _run(e, t, x.astype(np.float32) if name == "PReLU" else x)  # torch's prelu never promotes


def test_prelu_channels_and_inplace_identity() -> None:
    e, t = ember.nn.PReLU(3, init=0.1), torch.nn.PReLU(3, init=0.1)
    np.testing.assert_array_equal(e.weight.detach().numpy(), t.weight.detach().numpy())
    _run(e, t, R.standard_normal((2, 3, 4)).astype(np.float32))
    x = ember.tensor([-1.0, 1.0])
    assert ember.nn.ReLU(inplace=True)(x) is x
    assert ember.nn.Identity(3, foo=1)(x) is x


def test_flatten_unflatten() -> None:
    x = R.standard_normal((2, 3, 4, 5))
    for e, t in [(ember.nn.Flatten(), torch.nn.Flatten()),
                 (ember.nn.Flatten(0, 2), torch.nn.Flatten(0, 2)),
                 (ember.nn.Unflatten(1, (3, 1)), torch.nn.Unflatten(1, (3, 1)))]:
        assert repr(e) == repr(t)
        _run(e, t, x)


@pytest.mark.parametrize("cls", ["Dropout", "Dropout1d", "Dropout2d"])
def test_dropout_layers(cls: str) -> None:
    e = getattr(ember.nn, cls)(0.25)
    assert repr(e) == repr(getattr(torch.nn, cls)(0.25))
    x = ember.ones(8, 6, 5)
    y = e(x).numpy()
    assert set(np.unique(y).tolist()) <= {0.0, np.float32(1 / 0.75).item()}
    assert 0 < (y == 0).mean() < 0.6
    e.eval()
    assert e(x) is x
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1"):
        getattr(ember.nn, cls)(-0.1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layer_group_rms_norm_layers(dtype: type) -> None:
    x = (R.standard_normal((2, 4, 6)) * 2 + 1).astype(dtype)
    pairs = [(ember.nn.LayerNorm(6), torch.nn.LayerNorm(6)),
             (ember.nn.LayerNorm([4, 6], elementwise_affine=False),
              torch.nn.LayerNorm([4, 6], elementwise_affine=False)),
             (ember.nn.LayerNorm(6, bias=False), torch.nn.LayerNorm(6, bias=False)),
             (ember.nn.GroupNorm(2, 4), torch.nn.GroupNorm(2, 4)),
             (ember.nn.RMSNorm(6), torch.nn.RMSNorm(6)),
             (ember.nn.RMSNorm([4, 6], eps=1e-3), torch.nn.RMSNorm([4, 6], eps=1e-3))]
    for e, t in pairs:
        assert repr(e) == repr(t)
        assert list(e.state_dict()) == list(t.state_dict())
        if dtype == np.float64:
            e.double()
            t.double()
        with torch.no_grad():
            for p in t.parameters():
                p.add_(torch.randn(p.shape, dtype=p.dtype) * 0.1)
        _copy_weights(e, t)
        _run(e, t, x, rtol=1e-5, atol=1e-5)
    assert ember.nn.LayerNorm(4).normalized_shape == (4,)


@pytest.mark.parametrize("cls,shape", [("BatchNorm1d", (6, 3)), ("BatchNorm1d", (4, 3, 5)),
                                       ("BatchNorm2d", (4, 3, 2, 2))])
@pytest.mark.parametrize("momentum", [0.1, None])
def test_batchnorm_running_stats(cls: str, shape: tuple, momentum: float | None) -> None:
    e, t = getattr(ember.nn, cls)(3, momentum=momentum), getattr(torch.nn, cls)(3,
                                                                                momentum=momentum)
    assert repr(e) == repr(t)
    assert list(e.state_dict()) == list(t.state_dict())
    for _ in range(3):
        _run(e, t, R.standard_normal(shape).astype(np.float32) * 2 + 0.5, rtol=1e-5, atol=1e-5)
    for k, v in t.state_dict().items():
        ev = e.state_dict()[k]
        assert ev.dtype.name == str(v.dtype).removeprefix("torch.")
        np.testing.assert_allclose(ev.numpy(), v.numpy(), rtol=1e-5, atol=1e-6, err_msg=k)
    assert int(e.num_batches_tracked) == 3
    e.eval()
    t.eval()
    before = e.running_mean.numpy().copy()
    _run(e, t, R.standard_normal(shape).astype(np.float32), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(e.running_mean.numpy(), before)
    assert int(e.num_batches_tracked) == 3


def test_batchnorm_options_and_errors() -> None:
    e = ember.nn.BatchNorm2d(3, track_running_stats=False, affine=False)
    t = torch.nn.BatchNorm2d(3, track_running_stats=False, affine=False)
    assert e.running_mean is None and list(e.state_dict()) == list(t.state_dict()) == []
    x = R.standard_normal((2, 3, 2, 2))
    e.eval()
    t.eval()
    _run(e, t, x)  # batch statistics in eval too
    with pytest.raises(ValueError, match=r"expected 4D input \(got 3D input\)"):
        ember.nn.BatchNorm2d(3)(ember.zeros(3, 2, 2))
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        ember.nn.BatchNorm1d(3)(ember.zeros(1, 3))
    b = ember.nn.BatchNorm1d(3).double()
    assert b.num_batches_tracked.dtype == ember.int64 and b.running_var.dtype == ember.float64
    nb = ember.nn.BatchNorm1d(3, bias=False)
    assert nb.bias is None and repr(nb) == repr(torch.nn.BatchNorm1d(3, bias=False))


def test_same_seed_gives_torch_masks_and_weights() -> None:
    """Dropout masks (bernoulli from float64 uniforms) and default inits follow torch's RNG."""
    for seed in (0, 5):
        ember.manual_seed(seed)
        torch.manual_seed(seed)
        e = ember.nn.Dropout(0.3)(ember.ones(40)).numpy()
        t = torch.nn.Dropout(0.3)(torch.ones(40)).numpy()
        np.testing.assert_array_equal(e, t)
        e2 = ember.nn.Dropout2d(0.3)(ember.ones(2, 5, 3, 3)).numpy()
        t2 = torch.nn.Dropout2d(0.3)(torch.ones(2, 5, 3, 3)).numpy()
        np.testing.assert_array_equal(e2, t2)
        eb, tb = ember.nn.Bilinear(4, 5, 3), torch.nn.Bilinear(4, 5, 3)
        np.testing.assert_array_equal(eb.weight.detach().numpy(), tb.weight.detach().numpy())
        np.testing.assert_array_equal(eb.bias.detach().numpy(), tb.bias.detach().numpy())
        ee, te = ember.nn.Embedding(4, 5, padding_idx=1), torch.nn.Embedding(4, 5, padding_idx=1)
        # normal_ on >= 16 elements is reproduced within float32 rounding, not bit-exactly
        np.testing.assert_allclose(ee.weight.detach().numpy(), te.weight.detach().numpy(),
                                   rtol=1e-6, atol=2e-7)


def _tiny_lm(lib):  # type: ignore[no-untyped-def]
    """A GPT-shaped stack written once against either library."""
    nn, F = lib.nn, lib.nn.functional

    class Tiny(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.wte = nn.Embedding(11, 8)
            self.ln = nn.LayerNorm(8, bias=False)
            self.fc = nn.Linear(8, 16)
            self.act = nn.GELU(approximate="tanh")
            self.proj = nn.Linear(16, 8)
            self.drop = nn.Dropout(0.0)
            self.ln_f = nn.RMSNorm(8)
            self.head = nn.Linear(8, 11, bias=False)

        def forward(self, idx, targets):  # type: ignore[no-untyped-def]
            x = self.wte(idx)  # (B, T, C)
            x = x + self.drop(self.proj(self.act(self.fc(self.ln(x)))))
            logits = self.head(self.ln_f(x))  # (B, T, V)
            return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1),
                                   ignore_index=-1)

    return Tiny()


def test_tiny_language_model_step_matches_torch() -> None:
    t, e = _tiny_lm(torch), _tiny_lm(ember)
    assert list(e.state_dict()) == list(t.state_dict())
    _copy_weights(e, t)
    idx = R.integers(0, 11, (2, 5))
    tgt = R.integers(0, 11, (2, 5))
    tgt[0, 1] = -1
    el = e(ember.tensor(idx), ember.tensor(tgt))
    tl = t(torch.tensor(idx), torch.tensor(tgt))
    np.testing.assert_allclose(float(el), float(tl.detach()), rtol=1e-5)
    el.backward()
    tl.backward()
    for (k, p), (_, q) in zip(e.named_parameters(), t.named_parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-4, atol=1e-6,
                                   err_msg=k)
