"""Optimizer state_dict: format, round trips within ember, and interchange with torch."""

import copy

import numpy as np
import pytest
import torch

import ember
from ember import optim

ONE_PER_CLASS = [
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    ("Adam", {"lr": 0.01, "amsgrad": True, "weight_decay": 0.1}),
    ("AdamW", {"lr": 0.01}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.9, "centered": True}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.01}),
    ("Adamax", {"lr": 0.01}),
    ("NAdam", {"lr": 0.01, "weight_decay": 0.1}),
    ("RAdam", {"lr": 0.01}),
    ("Adadelta", {"lr": 0.5}),
    ("Rprop", {"lr": 0.01}),
    ("ASGD", {"lr": 0.05, "t0": 5}),
    ("Adafactor", {"lr": 0.02, "weight_decay": 0.1}),
]
IDS = [n for n, _ in ONE_PER_CLASS]


def to_torch(x):
    if isinstance(x, ember.Tensor):
        return torch.from_numpy(np.array(x._data, copy=True))
    if isinstance(x, dict):
        return {k: to_torch(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(to_torch(v) for v in x)
    return x


def to_ember(x):
    if isinstance(x, torch.Tensor):
        return ember.tensor(x.detach().numpy().copy())
    if isinstance(x, dict):
        return {k: to_ember(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(to_ember(v) for v in x)
    return x


def _grad(a, k):
    return np.sin(2.0 * a + k) + 0.1 * a


def _make(mod, name, kwargs, weights):
    params = [mod.tensor(w.copy(), requires_grad=True) for w in weights]
    groups = [{"params": params[:2]}, {"params": params[2:], "lr": kwargs["lr"] / 2}]
    return params, getattr(mod.optim, name)(groups, **kwargs)


def _steps(mod, params, opt, n):
    for _ in range(n):
        for k, p in enumerate(params):
            p.grad = mod.tensor(_grad(p.detach().numpy().copy(), k))
        opt.step()


def _weights():
    rng = np.random.default_rng(1)
    return [rng.standard_normal(s) for s in [(4, 3), (3,), (2, 2)]]


@pytest.mark.parametrize("name,kwargs", ONE_PER_CLASS, ids=IDS)
def test_round_trip_within_ember_is_bit_identical(name, kwargs):
    params, opt = _make(ember, name, kwargs, _weights())
    _steps(ember, params, opt, 10)
    saved = copy.deepcopy(opt.state_dict())
    mid = [p.detach().numpy().copy() for p in params]
    _steps(ember, params, opt, 10)
    params2, opt2 = _make(ember, name, kwargs, mid)
    opt2.load_state_dict(saved)
    _steps(ember, params2, opt2, 10)
    for a, b in zip(params, params2):
        if name in ("NAdam", "ASGD"):
            # load casts their float32 scalar state (mu_product; eta, mu) to the param dtype, as
            # torch does, so the resumed run is close but not bit-exact
            np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-7)
        else:
            np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())


@pytest.mark.parametrize("name,kwargs", ONE_PER_CLASS, ids=IDS)
def test_ember_state_loads_into_torch(name, kwargs):
    params, opt = _make(ember, name, kwargs, _weights())
    _steps(ember, params, opt, 10)
    sd = to_torch(opt.state_dict())
    mid = [p.detach().numpy().copy() for p in params]
    tparams, topt = _make(torch, name, kwargs, mid)
    topt.load_state_dict(sd)
    _steps(ember, params, opt, 10)
    _steps(torch, tparams, topt, 10)
    for a, b in zip(params, tparams):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-10)


@pytest.mark.parametrize("name,kwargs", ONE_PER_CLASS, ids=IDS)
def test_torch_state_loads_into_ember(name, kwargs):
    tparams, topt = _make(torch, name, kwargs, _weights())
    _steps(torch, tparams, topt, 10)
    tsd = topt.state_dict()
    sd = to_ember(tsd)
    mid = [p.detach().numpy().copy() for p in tparams]
    params, opt = _make(ember, name, kwargs, mid)
    opt.load_state_dict(sd)
    # compare with torch resuming from the same state (loading casts some state, in both)
    tparams, topt2 = _make(torch, name, kwargs, mid)
    topt2.load_state_dict(tsd)
    topt = topt2
    for st in opt.state.values():
        if "step" in st:
            assert st["step"].dtype == ember.float32 and st["step"].dim() == 0
    _steps(ember, params, opt, 10)
    _steps(torch, tparams, topt, 10)
    for a, b in zip(params, tparams):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-10)


def test_format_matches_torch():
    out = {}
    for mod in (ember, torch):
        params, opt = _make(mod, "Adam", {"lr": 0.1}, _weights())
        _steps(mod, params, opt, 1)
        out[mod.__name__] = opt.state_dict()
        st = out[mod.__name__]["state"][0]
        assert st["exp_avg"] is opt.state[params[0]]["exp_avg"]  # live tensors, not copies
    e, t = out["ember"], out["torch"]
    assert e["param_groups"] == t["param_groups"]
    assert e["param_groups"][1]["params"] == [2]
    assert list(e["state"][0]) == ["step", "exp_avg", "exp_avg_sq"]
    assert float(e["state"][0]["step"]) == 1.0 and e["state"][0]["step"].dtype == ember.float32


def test_load_restores_hyperparameters_and_copies_state():
    params, opt = _make(ember, "SGD", {"lr": 0.1, "momentum": 0.9}, _weights())
    _steps(ember, params, opt, 1)
    sd = opt.state_dict()
    params2, opt2 = _make(ember, "SGD", {"lr": 0.7, "momentum": 0.9}, _weights())
    opt2.load_state_dict(sd)
    assert opt2.param_groups[0]["lr"] == 0.1 and opt2.param_groups[0]["params"][0] is params2[0]
    buf = opt2.state[params2[0]]["momentum_buffer"]
    assert buf is not sd["state"][0]["momentum_buffer"]
    np.testing.assert_array_equal(buf.numpy(), sd["state"][0]["momentum_buffer"].numpy())


def test_load_casts_to_param_dtype_except_step():
    p32 = ember.ones(3, requires_grad=True)
    opt = optim.Adam([p32])
    sd = {"state": {0: {"step": ember.tensor(3.0), "exp_avg": ember.zeros(3, dtype=ember.float64),
                        "exp_avg_sq": ember.zeros(3, dtype=ember.float64)}},
          "param_groups": [dict(opt.state_dict()["param_groups"][0])]}
    opt.load_state_dict(sd)
    assert opt.state[p32]["exp_avg"].dtype == ember.float32
    assert opt.state[p32]["step"].dtype == ember.float32


def test_mismatch_errors_match_torch():
    for mod in (ember, torch):
        a, b = mod.ones(2, requires_grad=True), mod.ones(2, requires_grad=True)
        sd = mod.optim.SGD([a, b], lr=0.1).state_dict()
        with pytest.raises(ValueError, match="different number of parameter groups"):
            mod.optim.SGD([{"params": [a]}, {"params": [b]}], lr=0.1).load_state_dict(sd)
        with pytest.raises(ValueError, match="doesn't match the size of optimizer's group"):
            mod.optim.SGD([a], lr=0.1).load_state_dict(sd)


def test_lbfgs_round_trip():
    def run(opt, x, n):
        def closure():
            opt.zero_grad()
            loss = ((x - 2) ** 4).sum() + (x * x).sum()
            loss.backward()
            return loss
        for _ in range(n):
            opt.step(closure)

    x = ember.tensor([1.0, -1.0, 0.5], dtype=ember.float64, requires_grad=True)
    opt = optim.LBFGS([x], max_iter=3, history_size=4)
    run(opt, x, 2)
    saved, mid = copy.deepcopy(opt.state_dict()), x.detach().numpy().copy()
    run(opt, x, 2)
    x2 = ember.tensor(mid, requires_grad=True)
    opt2 = optim.LBFGS([x2], max_iter=3, history_size=4)
    opt2.load_state_dict(saved)
    run(opt2, x2, 2)
    np.testing.assert_array_equal(x.detach().numpy(), x2.detach().numpy())


def test_saved_file_loads_in_torch(tmp_path):
    params, opt = _make(ember, "AdamW", {"lr": 0.01}, _weights())
    _steps(ember, params, opt, 3)
    ember.save(opt.state_dict(), tmp_path / "opt.pt")
    sd = torch.load(tmp_path / "opt.pt")
    assert sd["param_groups"][0]["lr"] == 0.01 and sd["state"][0]["step"].dtype == torch.float32
    np.testing.assert_array_equal(sd["state"][2]["exp_avg"].numpy(),
                                  opt.state_dict()["state"][2]["exp_avg"].numpy())


def test_old_format_state_loads():
    # torch < 1.12 saved 'step' as a Python number and lacked newer group keys
    p = ember.ones(3, requires_grad=True)
    opt = optim.Adam([p], lr=0.1)
    group = {k: v for k, v in opt.state_dict()["param_groups"][0].items()
             if k not in ("decoupled_weight_decay", "fused")}
    sd = {"state": {0: {"step": 4, "exp_avg": ember.zeros(3), "exp_avg_sq": ember.zeros(3)}},
          "param_groups": [group]}
    opt.load_state_dict(sd)
    assert opt.state[p]["step"].dtype == ember.float32 and float(opt.state[p]["step"]) == 4.0
    assert opt.param_groups[0]["decoupled_weight_decay"] is False
    p.grad = ember.ones(3)
    opt.step()
    assert float(opt.state[p]["step"]) == 5.0


def test_named_parameters_give_param_names():
    out = []
    for mod in (ember, torch):
        a, b = mod.ones(2, requires_grad=True), mod.ones(3, requires_grad=True)
        opt = mod.optim.SGD([("0.weight", a), ("0.bias", b)], lr=0.1)
        out.append(opt.state_dict()["param_groups"])
        with pytest.raises(ValueError, match="with/without names"):
            opt.add_param_group({"params": [mod.ones(1, requires_grad=True)]})
    assert out[0] == out[1] and out[0][0]["param_names"] == ["0.weight", "0.bias"]


def test_state_dict_hooks_run_in_torchs_order():
    for mod in (ember, torch):
        p = mod.ones(2, requires_grad=True)
        opt = mod.optim.SGD([p], lr=0.1)
        calls = []
        opt.register_state_dict_pre_hook(lambda o: calls.append("pre"))
        opt.register_state_dict_post_hook(lambda o, sd: {**sd, "extra": 1})
        opt.register_load_state_dict_pre_hook(lambda o, sd: calls.append("lpre"))
        h = opt.register_load_state_dict_post_hook(lambda o: calls.append("lpost"))
        opt.register_load_state_dict_post_hook(lambda o: calls.append("first"), prepend=True)
        sd = opt.state_dict()
        opt.load_state_dict(sd)
        h.remove()
        opt.load_state_dict(sd)
        assert sd["extra"] == 1
        assert calls == ["pre", "lpre", "first", "lpost", "lpre", "first"]


def test_torch_saved_file_loads_into_ember(tmp_path):
    tparams, topt = _make(torch, "Adam", {"lr": 0.01}, _weights())
    _steps(torch, tparams, topt, 3)
    torch.save(topt.state_dict(), tmp_path / "t.pt")
    params, opt = _make(ember, "Adam", {"lr": 0.01},
                        [p.detach().numpy().copy() for p in tparams])
    opt.load_state_dict(ember.load(tmp_path / "t.pt"))
    _steps(ember, params, opt, 5)
    _steps(torch, tparams, topt, 5)
    for a, b in zip(params, tparams):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-10)


def test_step_dtype_follows_default_dtype_like_torch():
    for mod in (ember, torch):
        old = mod.get_default_dtype()
        mod.set_default_dtype(mod.float64)
        try:
            p = mod.ones(2, requires_grad=True)
            opt = mod.optim.Adam([p])
            p.grad = mod.ones(2)
            opt.step()
            assert str(opt.state[p]["step"].dtype) == "torch.float64"
        finally:
            mod.set_default_dtype(old)
