"""Muon against torch.optim.Muon: trajectories (its Newton-Schulz runs in bfloat16), state and
errors."""

import numpy as np
import pytest
import torch

import ember

SHAPES = [(6, 4), (3, 8), (5, 5)]


def _run(mod, kwargs, dtype, steps=20, none_grad_index=None):
    rng = np.random.default_rng(0)
    params = [mod.tensor(rng.standard_normal(s).astype(dtype), requires_grad=True)
              for s in SHAPES]
    opt = mod.optim.Muon(params, **kwargs)
    for k in range(steps):
        for i, p in enumerate(params):
            if i == none_grad_index:
                continue
            a = p.detach().numpy()
            p.grad = mod.tensor((np.sin(3 * a + k) * 0.7 + 0.1 * i).astype(dtype))
        opt.step()
    return [p.detach().numpy().copy() for p in params], opt


CASES = [{"lr": 0.02}, {"lr": 0.02, "nesterov": False, "weight_decay": 0.0},
         {"lr": 0.01, "adjust_lr_fn": "match_rms_adamw", "momentum": 0.9, "ns_steps": 3},
         {"lr": 0.01, "adjust_lr_fn": "original", "ns_coefficients": (2.0, -1.5, 0.5)}]


@pytest.mark.parametrize("kwargs", CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_trajectory_matches_torch(kwargs, dtype) -> None:
    ours, eo = _run(ember, kwargs, dtype, none_grad_index=2)
    ref, to = _run(torch, kwargs, dtype, none_grad_index=2)
    for a, b in zip(ours, ref):
        assert a.dtype == dtype
        # the orthogonalised update is bfloat16 in both; only the float32 sums' order differs
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(ours[2], ref[2])  # no grad: untouched
    es, ts = eo.state_dict(), to.state_dict()
    assert es["param_groups"] == ts["param_groups"]
    assert sorted(es["state"]) == sorted(ts["state"]) == [0, 1]
    for k in ts["state"]:
        assert list(es["state"][k]) == list(ts["state"][k]) == ["momentum_buffer"]


def test_state_dict_crosses_to_torch_and_back() -> None:
    _, eo = _run(ember, CASES[0], np.float64, steps=3)
    params = [torch.zeros(s, dtype=torch.float64, requires_grad=True) for s in SHAPES]
    to = torch.optim.Muon(params, lr=0.02)
    to.load_state_dict({"state": {k: {n: torch.from_numpy(v.numpy().copy()) for n, v in s.items()}
                                  for k, s in eo.state_dict()["state"].items()},
                        "param_groups": eo.state_dict()["param_groups"]})
    np.testing.assert_array_equal(to.state[params[0]]["momentum_buffer"].numpy(),
                                  eo.state[eo.param_groups[0]["params"][0]]["momentum_buffer"]
                                  .numpy())


def test_errors_match_torch() -> None:
    cases = [
        (lambda m, p: m.optim.Muon([m.ones(3, requires_grad=True)]), ValueError,
         "Muon only supports 2D parameters"),
        (lambda m, p: m.optim.Muon([p], lr=-1.0), ValueError,
         "Learning rate should be >= 0 but is: -1.0"),
        (lambda m, p: m.optim.Muon([p], momentum=-0.5), ValueError,
         "momentum should be >= 0 but is: -0.5"),
        (lambda m, p: m.optim.Muon([p], weight_decay=-1), ValueError,
         "weight decay should be >= 0 but is: -1"),
        (lambda m, p: m.optim.Muon([p], adjust_lr_fn="bogus"), ValueError,
         "Adjust learning rate function bogus is not supported"),
    ]
    for fn, exc, msg in cases:
        for mod in (torch, ember):
            with pytest.raises(exc, match=msg):
                fn(mod, mod.ones(2, 3, requires_grad=True))
    for mod in (torch, ember):
        p = mod.ones(2, 3, requires_grad=True)
        opt = mod.optim.Muon([p], ns_steps=100)
        p.grad = mod.ones(2, 3)
        with pytest.raises(ValueError, match="Number of steps must be less than 100"):
            opt.step()
    assert ember.optim.Muon([ember.ones(2, 2, requires_grad=True)]).defaults == \
        torch.optim.Muon([torch.ones(2, 2, requires_grad=True)]).defaults
