"""Optimizer trajectories, behaviours and errors against torch.optim."""

import warnings

import numpy as np
import pytest
import torch

import ember
from ember import optim

SHAPES = [(3, 4), (5,), (2, 1, 3)]


def _grad_fn(a: np.ndarray, k: int) -> np.ndarray:
    # a deterministic, nonlinear gradient of the current weights, identical in both libraries
    idx = np.arange(a.size).reshape(a.shape)
    return (np.sin(3.0 * a + k) * 0.7 + 0.2 * np.tanh(a) + 0.1 * np.cos(idx)).astype(a.dtype)


def _init(dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(dtype) for s in SHAPES]


def _run(lib, cls_name, kwargs, steps=50, dtype=np.float64, none_grad_index=None):
    mod = torch if lib == "torch" else ember
    params = [mod.tensor(a.copy(), requires_grad=True) for a in _init(dtype)]
    opt = getattr(mod.optim, cls_name)(params, **kwargs)
    for _ in range(steps):
        for k, p in enumerate(params):
            if k == none_grad_index:
                continue
            p.grad = mod.tensor(_grad_fn(p.detach().numpy().copy(), k))
        opt.step()
    return [p.detach().numpy().copy() for p in params], opt


CASES = [
    ("SGD", {"lr": 0.05}),
    ("SGD", {"lr": 0.05, "momentum": 0.9}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.3}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.1}),
    ("SGD", {"lr": 0.05, "weight_decay": 0.01, "maximize": True}),
    ("Adam", {"lr": 0.01}),
    ("Adam", {"lr": 0.01, "amsgrad": True, "weight_decay": 0.1}),
    ("Adam", {"lr": 0.01, "betas": (0.8, 0.9), "eps": 1e-3, "maximize": True}),
    ("Adam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("AdamW", {"lr": 0.01}),
    ("AdamW", {"lr": 0.01, "weight_decay": 0.3, "amsgrad": True, "maximize": True}),
    ("RMSprop", {"lr": 0.01}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.9, "centered": True, "weight_decay": 0.1}),
    ("RMSprop", {"lr": 0.01, "alpha": 0.9, "centered": True, "maximize": True}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.5}),
    ("Adagrad", {"lr": 0.1}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.01, "weight_decay": 0.1,
                 "initial_accumulator_value": 0.5, "eps": 1e-6, "maximize": True}),
    ("Adamax", {"lr": 0.01}),
    ("Adamax", {"lr": 0.01, "betas": (0.8, 0.95), "weight_decay": 0.1, "maximize": True}),
    ("NAdam", {"lr": 0.01}),
    ("NAdam", {"lr": 0.01, "weight_decay": 0.1, "momentum_decay": 0.01}),
    ("NAdam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True,
               "maximize": True}),
    ("RAdam", {"lr": 0.01}),
    ("RAdam", {"lr": 0.01, "weight_decay": 0.1}),
    ("RAdam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True,
               "maximize": True}),
    ("Adadelta", {}),
    ("Rprop", {"lr": 0.01}),
    ("Rprop", {"lr": 0.05, "etas": (0.3, 1.5), "step_sizes": (1e-3, 0.2), "maximize": True}),
    ("ASGD", {"lr": 0.05}),
    ("ASGD", {"lr": 0.05, "lambd": 1e-2, "alpha": 0.6, "t0": 10, "weight_decay": 0.1}),
    ("Adadelta", {"lr": 0.5, "rho": 0.8, "eps": 1e-4, "weight_decay": 0.1, "maximize": True}),
    ("Adafactor", {}),
    ("Adafactor", {"lr": 0.05, "weight_decay": 0.1, "maximize": True}),
    ("Adafactor", {"eps": (1e-10, 1e-2), "d": 2.0, "beta2_decay": -0.5}),
]


@pytest.mark.parametrize("name,kwargs", CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_trajectory_float64(name, kwargs):
    ours, _ = _run("ember", name, kwargs, none_grad_index=2)
    ref, _ = _run("torch", name, kwargs, none_grad_index=2)
    for a, b in zip(ours, ref):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(ours[2], _init()[2])  # grad None: untouched


@pytest.mark.parametrize("name,kwargs", CASES[::3], ids=[n for n, _ in CASES[::3]])
def test_trajectory_float32(name, kwargs):
    ours, _ = _run("ember", name, kwargs, steps=20, dtype=np.float32)
    ref, _ = _run("torch", name, kwargs, steps=20, dtype=np.float32)
    for a, b in zip(ours, ref):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name,kwargs", CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_state_keys_and_dtypes_match_torch(name, kwargs):
    _, o1 = _run("ember", name, kwargs, steps=2, none_grad_index=1)
    _, o2 = _run("torch", name, kwargs, steps=2, none_grad_index=1)
    s1, s2 = o1.state_dict(), o2.state_dict()
    assert sorted(s1["state"]) == sorted(s2["state"])
    for k in s2["state"]:
        assert list(s1["state"][k]) == list(s2["state"][k])
        for key, v in s2["state"][k].items():
            assert str(s1["state"][k][key].dtype) == str(v.dtype), key
            np.testing.assert_allclose(s1["state"][k][key].numpy(), v.numpy(), rtol=1e-12)
    assert s1["param_groups"] == s2["param_groups"]


def _lbfgs_run(lib, **kwargs):
    mod = torch if lib == "torch" else ember
    x = mod.tensor(np.array([-1.2, 1.0, 0.5, -0.3]), requires_grad=True)

    def closure():
        opt.zero_grad()
        a, b = x[:-1], x[1:]
        loss = (100 * (b - a * a) ** 2 + (1 - a) ** 2).sum()  # Rosenbrock
        loss.backward()
        return loss

    opt = mod.optim.LBFGS([x], **kwargs)
    losses = [float(opt.step(closure).detach()) for _ in range(3)]
    return x.detach().numpy().copy(), losses, opt


@pytest.mark.parametrize("kwargs", [{}, {"line_search_fn": "strong_wolfe"},
                                    {"history_size": 3, "max_iter": 7, "lr": 0.5},
                                    {"line_search_fn": "strong_wolfe", "history_size": 2}])
def test_lbfgs_matches_torch(kwargs):
    x1, l1, o1 = _lbfgs_run("ember", **kwargs)
    x2, l2, o2 = _lbfgs_run("torch", **kwargs)
    np.testing.assert_allclose(x1, x2, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(l1, l2, rtol=1e-9, atol=1e-14)
    s1, s2 = o1.state[o1._params[0]], o2.state[o2.param_groups[0]["params"][0]]
    assert s1["func_evals"] == s2["func_evals"] and s1["n_iter"] == s2["n_iter"]


def test_lbfgs_refuses_groups_and_bad_line_search():
    a = ember.zeros(2, requires_grad=True)
    b = ember.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match="doesn't support per-parameter options"):
        optim.LBFGS([{"params": [a]}, {"params": [b]}])
    opt = optim.LBFGS([a], line_search_fn="bogus")

    def closure():
        opt.zero_grad()
        loss = ((a - 1) ** 2).sum()
        loss.backward()
        return loss

    with pytest.raises(RuntimeError, match="only 'strong_wolfe' is supported"):
        opt.step(closure)


# ---- behaviours -------------------------------------------------------------------------------
def _leaf(n=3, value=1.0):
    return ember.full((n,), value, requires_grad=True)


def test_defaults_and_groups_match_torch():
    for name in ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adamax", "NAdam", "RAdam",
                 "Adadelta", "LBFGS", "Rprop", "ASGD", "Adafactor"]:
        e = getattr(optim, name)([_leaf()]).defaults
        t = getattr(torch.optim, name)([torch.ones(3, requires_grad=True)]).defaults
        assert e == t, name
    a, b = _leaf(), _leaf()
    opt = optim.SGD([{"params": [a]}, {"params": b, "lr": 0.5}], lr=0.1, momentum=0.9)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    assert [g["momentum"] for g in opt.param_groups] == [0.9, 0.9]
    c = _leaf()
    opt.add_param_group({"params": [c], "lr": 1.0})
    assert opt.param_groups[2]["momentum"] == 0.9 and opt.param_groups[2]["params"][0] is c
    assert isinstance(optim.AdamW([_leaf()]), optim.Adam)


def test_repr_matches_torch():
    e = optim.Adam([_leaf()], lr=0.1)
    t = torch.optim.Adam([torch.ones(3, requires_grad=True)], lr=0.1)
    assert repr(e) == repr(t)


def test_errors_match_torch():
    cases = [
        (lambda m, p: m.optim.SGD([], lr=0.1), ValueError, "optimizer got an empty parameter list"),
        (lambda m, p: m.optim.SGD([p], lr=-1), ValueError, "Invalid learning rate: -1"),
        (lambda m, p: m.optim.SGD(p, lr=0.1), TypeError, "should be an iterable of Tensors"),
        (lambda m, p: m.optim.SGD([p * 2], lr=0.1), ValueError, "can't optimize a non-leaf"),
        (lambda m, p: m.optim.SGD([{"params": [p]}, {"params": [p]}], lr=0.1), ValueError,
         "some parameters appear in more than one parameter group"),
        (lambda m, p: m.optim.SGD([p], nesterov=True), ValueError,
         "Nesterov momentum requires a momentum and zero dampening"),
        (lambda m, p: m.optim.Adam([p], betas=(1.0, 0.9)), ValueError,
         "Invalid beta parameter at index 0: 1.0"),
        (lambda m, p: m.optim.Adam([p], eps=-1), ValueError, "Invalid epsilon value: -1"),
        (lambda m, p: m.optim.RMSprop([p], alpha=-1), ValueError, "Invalid alpha value: -1"),
        (lambda m, p: m.optim.Adadelta([p], rho=2), ValueError, "Invalid rho value: 2"),
        (lambda m, p: m.optim.SGD([{"params": {p}}], lr=0.1), TypeError, "ordered collections"),
        (lambda m, p: m.optim.Adafactor([p], beta2_decay=0.5), ValueError,
         "beta2_decay should be <= 0 but is: 0.5"),
        (lambda m, p: m.optim.Adafactor([p], d=0.5), ValueError,
         "Clipping threshold d should be >= 1 but is: 0.5"),
        (lambda m, p: m.optim.Adafactor([p], eps=(None, -1.0)), ValueError,
         "epsilon2 should be >= 0 but is: -1.0"),
    ]
    for fn, exc, msg in cases:
        for mod in (torch, ember):
            p = mod.ones(3, requires_grad=True)
            with pytest.raises(exc, match=msg):
                fn(mod, p)


def test_duplicate_in_group_warns():
    p = _leaf()
    with pytest.warns(UserWarning, match="duplicate parameters"):
        optim.SGD([p, p], lr=0.1)


def test_differentiable_true_is_refused_clearly():
    with pytest.raises(NotImplementedError, match="differentiable=True"):
        optim.Adam([_leaf()], differentiable=True)


def test_step_in_place_skips_none_and_returns_closure_loss():
    a, b = _leaf(), _leaf()
    before = a._data
    version = a._version
    opt = optim.SGD([a, b], lr=0.5, weight_decay=0.1)
    a.grad = ember.ones(3)
    assert opt.step() is None
    assert a._data is before and a._version > version
    np.testing.assert_allclose(a.detach().numpy(), 1 - 0.5 * 1.1)
    np.testing.assert_array_equal(b.detach().numpy(), 1.0)
    assert opt.state_dict()["state"] == {}
    assert opt.step(lambda: 7.0) == 7.0


def test_zero_grad():
    a = _leaf()
    opt = optim.SGD([a], lr=0.1)
    a.grad = ember.ones(3)
    g = a.grad
    opt.zero_grad(set_to_none=False)
    assert a.grad is g and float(g.sum()) == 0.0
    opt.zero_grad()
    assert a.grad is None


def test_adagrad_state_is_eager():
    a = _leaf()
    opt = optim.Adagrad([a], initial_accumulator_value=0.3)
    st = opt.state[a]
    assert float(st["step"]) == 0.0 and st["step"].dtype == ember.float32
    np.testing.assert_allclose(st["sum"].numpy(), 0.3)


def test_adamw_decays_with_zero_grad():
    a = _leaf(1, 1.0)
    opt = optim.AdamW([a], lr=0.1, weight_decay=0.01)
    a.grad = ember.zeros(1)
    opt.step()
    assert float(a) == pytest.approx(0.999, abs=1e-7)


def test_tensor_lr():
    out = []
    for mod in (torch, ember):
        p = mod.tensor(np.arange(3.0), requires_grad=True)
        opt = mod.optim.SGD([p], lr=mod.tensor(0.5), weight_decay=mod.tensor(0.25))
        for _ in range(2):
            p.grad = mod.ones(3, dtype=mod.float64)
            opt.step()
        out.append(p.detach().numpy().copy())
    np.testing.assert_array_equal(out[0], out[1])


def test_hooks():
    a = _leaf()
    opt = optim.Adam([a])
    calls = []
    h1 = opt.register_step_pre_hook(lambda o, args, kw: calls.append("pre"))
    opt.register_step_post_hook(lambda o, args, kw: calls.append("post"))
    a.grad = ember.ones(3)
    opt.step()
    h1.remove()
    opt.step()
    assert calls == ["pre", "post", "post"]


def test_keeps_working_after_module_double():
    # SGD with a float32 momentum buffer keeps stepping; Adam with float32 state refuses
    results = {}
    for mod in (torch, ember):
        w = mod.nn.Parameter(mod.ones(3))
        sgd = mod.optim.SGD([w], lr=0.1, momentum=0.9)
        w.grad = mod.ones(3)
        sgd.step()
        m = mod.nn.Module()
        m.w = w
        m.double()
        assert m.w is w and w.dtype == mod.float64
        w.grad = mod.ones(3, dtype=mod.float64)
        sgd.step()
        results[mod.__name__] = w.detach().numpy().copy()
        adam = mod.optim.Adam([w])
        adam.step()
        v = mod.nn.Parameter(mod.ones(2))
        adam2 = mod.optim.Adam([v])
        v.grad = mod.ones(2)
        adam2.step()
        m2 = mod.nn.Module()
        m2.v = v
        m2.double()
        v.grad = mod.ones(2, dtype=mod.float64)
        with pytest.raises(RuntimeError, match="expected dtype float"):
            adam2.step()
    np.testing.assert_allclose(results["ember"], results["torch"], rtol=1e-7)


def test_no_warnings_in_plain_step():
    a = _leaf()
    opt = optim.RAdam([a])
    a.grad = ember.ones(3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opt.step()


# ---- end to end: small models trained 20 steps against torch ----------------------------------
def _model_params(mod, cnn):
    rng = np.random.default_rng(3)
    shapes = ([(4, 1, 3, 3), (4,), (10, 36), (10,)] if cnn
              else [(16, 8), (16,), (10, 16), (10,)])
    return [mod.nn.Parameter(mod.tensor((rng.standard_normal(s) * 0.3).astype(np.float32)))
            for s in shapes]


def _forward(mod, params, x, cnn):
    F = mod.nn.functional
    if cnn:
        w1, b1, w2, b2 = params
        h = F.max_pool2d(F.relu(F.conv2d(x, w1, b1)), 2)  # (N, 4, 3, 3)
        h = h.reshape(h.shape[0], -1)
    else:
        w1, b1, w2, b2 = params
        h = F.relu(x @ w1.T + b1)
    return h @ w2.T + b2


def _train(mod, cnn, recipe):
    rng = np.random.default_rng(4)
    xs = rng.standard_normal((20, 8, 1, 8, 8) if cnn else (20, 8, 8)).astype(np.float32)
    ys = np.eye(10, dtype=np.float32)[rng.integers(0, 10, (20, 8))]
    params = _model_params(mod, cnn)
    if recipe == "sgd":
        opt = mod.optim.SGD(params, lr=0.1, momentum=0.9)
        sched = mod.optim.lr_scheduler.StepLR(opt, step_size=5, gamma=0.5)
    else:
        opt = mod.optim.AdamW(params, lr=0.01, weight_decay=0.05)
        sched = mod.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=20)
    losses = []
    for x, y in zip(xs, ys):
        opt.zero_grad()
        logp = mod.nn.functional.log_softmax(_forward(mod, params, mod.tensor(x), cnn), dim=1)
        loss = -(logp * mod.tensor(y)).sum() / x.shape[0]  # cross-entropy with one-hot targets
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
    return losses, [p.detach().numpy().copy() for p in params]


@pytest.mark.parametrize("cnn", [False, True], ids=["mlp", "cnn"])
@pytest.mark.parametrize("recipe", ["sgd", "adamw"])
def test_end_to_end_training_matches_torch(cnn, recipe):
    l1, p1 = _train(ember, cnn, recipe)
    l2, p2 = _train(torch, cnn, recipe)
    np.testing.assert_allclose(l1, l2, rtol=1e-4, atol=1e-5)
    assert l1[-1] < l1[0]  # it actually trains
    for a, b in zip(p1, p2):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adamax", "NAdam",
                                  "RAdam", "Adadelta", "Rprop", "ASGD", "Adafactor", "Muon"])
@pytest.mark.parametrize("lr_dtype", ["float32", "float64"])
def test_tensor_lr_trajectory_matches_torch(name, lr_dtype):
    """torch computes lr-derived factors with the 0-d lr tensor, so a float32 lr on float64
    parameters rounds them to float32; ember must do the same to follow the trajectory."""
    out = []
    for mod in (torch, ember):
        p = mod.tensor([[1.0, -2.0, 3.0], [0.5, 0.25, -1.5]], dtype=mod.float64,
                       requires_grad=True)
        opt = getattr(mod.optim, name)([p], lr=mod.tensor(0.01, dtype=getattr(mod, lr_dtype)))
        for k in range(10):
            p.grad = mod.tensor(np.sin(p.detach().numpy() + k))
            opt.step()
        out.append(p.detach().numpy().copy())
    np.testing.assert_allclose(out[1], out[0], rtol=1e-14, atol=0)
