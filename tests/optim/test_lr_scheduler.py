"""LR schedulers: the lr (and momentum) sequences over 100 steps equal torch's exactly."""

import math
import warnings

import numpy as np
import pytest
import torch

import ember


def _opt(mod, kind="SGD"):
    a = mod.ones(2, requires_grad=True)
    b = mod.ones(3, requires_grad=True)
    groups = [{"params": [a]}, {"params": [b], "lr": 0.05}]
    if kind == "SGD":
        return mod.optim.SGD(groups, lr=0.1, momentum=0.9)
    return mod.optim.Adam(groups, lr=0.1)


def _L(mod):
    return mod.optim.lr_scheduler


SCHEDULERS = {
    "LambdaLR": lambda m, o: _L(m).LambdaLR(o, lambda e: 1 / (e + 1)),
    "LambdaLR-list": lambda m, o: _L(m).LambdaLR(o, [lambda e: 0.9**e, lambda e: 1 + e % 3]),
    "MultiplicativeLR": lambda m, o: _L(m).MultiplicativeLR(o, lambda e: 0.95),
    "StepLR": lambda m, o: _L(m).StepLR(o, step_size=7, gamma=0.3),
    "MultiStepLR": lambda m, o: _L(m).MultiStepLR(o, [5, 20, 20, 60], gamma=0.5),
    "ConstantLR": lambda m, o: _L(m).ConstantLR(o, factor=0.25, total_iters=9),
    "LinearLR": lambda m, o: _L(m).LinearLR(o, start_factor=0.2, end_factor=0.9, total_iters=30),
    "ExponentialLR": lambda m, o: _L(m).ExponentialLR(o, gamma=0.97),
    "CosineAnnealingLR": lambda m, o: _L(m).CosineAnnealingLR(o, T_max=13, eta_min=0.001),
    "CosineAnnealingWarmRestarts": lambda m, o: _L(m).CosineAnnealingWarmRestarts(
        o, T_0=5, T_mult=2, eta_min=0.002),
    "OneCycleLR": lambda m, o: _L(m).OneCycleLR(o, max_lr=[1.0, 0.5], total_steps=100),
    "OneCycleLR-3phase-linear": lambda m, o: _L(m).OneCycleLR(
        o, max_lr=0.4, epochs=10, steps_per_epoch=10, pct_start=0.25, three_phase=True,
        anneal_strategy="linear", base_momentum=0.8, max_momentum=0.99),
    "OneCycleLR-no-momentum": lambda m, o: _L(m).OneCycleLR(
        o, max_lr=0.3, total_steps=120, cycle_momentum=False, div_factor=10),
    "CyclicLR": lambda m, o: _L(m).CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=7),
    "CyclicLR-triangular2": lambda m, o: _L(m).CyclicLR(
        o, base_lr=[0.01, 0.02], max_lr=0.1, step_size_up=5, step_size_down=9,
        mode="triangular2"),
    "CyclicLR-exp_range": lambda m, o: _L(m).CyclicLR(
        o, base_lr=0.01, max_lr=0.1, step_size_up=4, mode="exp_range", gamma=0.98),
    "CyclicLR-scale_fn": lambda m, o: _L(m).CyclicLR(
        o, base_lr=0.01, max_lr=0.1, step_size_up=6, scale_fn=lambda x: 1 / (1 + x),
        scale_mode="iterations", cycle_momentum=False),
    "PolynomialLR": lambda m, o: _L(m).PolynomialLR(o, total_iters=40, power=2.5),
    "SequentialLR": lambda m, o: _L(m).SequentialLR(
        o, [_L(m).LinearLR(o, 0.1, total_iters=10), _L(m).ExponentialLR(o, 0.9),
            _L(m).CosineAnnealingLR(o, T_max=7)], milestones=[10, 40]),
    "ChainedScheduler": lambda m, o: _L(m).ChainedScheduler(
        [_L(m).ConstantLR(o, factor=0.5, total_iters=12), _L(m).ExponentialLR(o, 0.98),
         _L(m).StepLR(o, 9, 0.7)]),
}


def _sequence(mod, name, kind="SGD", steps=100):
    opt = _opt(mod, kind)
    sched = SCHEDULERS[name](mod, opt)
    lrs, moms = [sched.get_last_lr()], []
    for _ in range(steps):
        moms.append([g["momentum"] if kind == "SGD" else g["betas"] for g in opt.param_groups])
        opt.step()
        sched.step()
        lrs.append(sched.get_last_lr())
    return lrs, moms, [g["lr"] for g in opt.param_groups]


@pytest.mark.parametrize("name", list(SCHEDULERS))
def test_sequence_equals_torch(name):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the correct call order warns about nothing
        ours = _sequence(ember, name)
    assert ours == _sequence(torch, name)


@pytest.mark.parametrize("name", ["OneCycleLR", "CyclicLR", "CyclicLR-triangular2"])
def test_beta1_cycling_with_adam(name):
    ours = _sequence(ember, name, kind="Adam")
    assert ours == _sequence(torch, name, kind="Adam")
    assert len({m[0][0] for m in ours[1]}) > 5  # betas[0] really moves


def test_onecycle_too_many_steps():
    for mod in (torch, ember):
        opt = _opt(mod)
        sched = _L(mod).OneCycleLR(opt, max_lr=1.0, total_steps=3)
        for _ in range(3):
            opt.step()
            sched.step()
        opt.step()
        with pytest.raises(ValueError, match="Tried to step 4 times. The specified number of "
                                             "total steps is 3"):
            sched.step()


def test_onecycle_documented_values():
    opt = _opt(ember)
    sched = _L(ember).OneCycleLR(opt, max_lr=1.0, total_steps=10)
    lrs = [sched.get_last_lr()[0]]
    for _ in range(9):
        opt.step()
        sched.step()
        lrs.append(sched.get_last_lr()[0])
    expected = [.04, .52, 1.0, .9505, .8117, .6113, .3887, .1883, .0495, 4e-6]
    assert lrs == pytest.approx(expected, abs=1e-4)
    assert opt.param_groups[0]["momentum"] == pytest.approx(0.95)


@pytest.mark.parametrize("kwargs", [
    {"patience": 2},
    {"mode": "max", "factor": 0.5, "patience": 1, "threshold_mode": "abs", "threshold": 0.05},
    {"patience": 0, "cooldown": 3, "min_lr": [0.02, 0.001]},
    {"patience": 1, "factor": 0.3, "min_lr": 0.004, "eps": 1e-3},
])
def test_reduce_on_plateau(kwargs):
    metrics = [1.0, 0.9, 0.9, 0.91, 0.95, 0.9, 0.5, 0.5, 0.6, 0.49] * 10
    out = []
    for mod in (torch, ember):
        opt = _opt(mod)
        sched = _L(mod).ReduceLROnPlateau(opt, **kwargs)
        seq = []
        for m in metrics:
            opt.step()
            sched.step(m)
            seq.append((sched.get_last_lr(), sched.num_bad_epochs, sched.cooldown_counter))
        out.append(seq)
    assert out[0] == out[1]


def test_step_before_optimizer_step_warns():
    opt = _opt(ember)
    sched = _L(ember).StepLR(opt, 3)
    with pytest.warns(UserWarning, match="Detected call of `lr_scheduler.step\\(\\)` before "
                                         "`optimizer.step\\(\\)`"):
        sched.step()


def test_epoch_argument_warns_and_uses_closed_form():
    res = []
    for mod in (torch, ember):
        opt = _opt(mod)
        sched = _L(mod).StepLR(opt, 3, gamma=0.5)
        opt.step()
        with pytest.warns(UserWarning, match="epoch parameter in `scheduler.step\\(\\)`"):
            sched.step(7)
        res.append(sched.get_last_lr())
    assert res[0] == res[1] == [0.1 * 0.25, 0.05 * 0.25]


def test_get_lr_outside_step_warns():
    sched = _L(ember).ExponentialLR(_opt(ember), 0.5)
    with pytest.warns(UserWarning, match="please use `get_last_lr\\(\\)`"):
        sched.get_lr()


@pytest.mark.parametrize("name", ["StepLR", "CosineAnnealingLR", "OneCycleLR", "CyclicLR",
                                  "SequentialLR", "ChainedScheduler", "LinearLR"])
def test_state_dict_keys_and_resume(name):
    def skeys(sd):
        return sorted(k for k in sd if k not in ("_scale_fn_ref",))

    t_opt, e_opt = _opt(torch), _opt(ember)
    t_s, e_s = SCHEDULERS[name](torch, t_opt), SCHEDULERS[name](ember, e_opt)
    for _ in range(17):
        t_opt.step(), e_opt.step()
        t_s.step(), e_s.step()
    sd = e_s.state_dict()
    assert skeys(sd) == skeys(t_s.state_dict())
    # a fresh optimizer and scheduler resume from the saved state and continue identically;
    # as torch documents, the optimizer state is loaded after the scheduler is constructed
    opt2 = _opt(ember)
    s2 = SCHEDULERS[name](ember, opt2)
    opt2.load_state_dict(e_opt.state_dict())
    s2.load_state_dict(sd)
    for _ in range(20):
        e_opt.step(), opt2.step()
        e_s.step(), s2.step()
        assert e_s.get_last_lr() == s2.get_last_lr()


def test_lambda_state_dict_drops_functions():
    sched = _L(ember).LambdaLR(_opt(ember), lambda e: 0.5)
    sd = sched.state_dict()
    assert sd["lr_lambdas"] == [None, None] and "optimizer" not in sd


def test_constructor_errors_match_torch():
    cases = [
        (lambda L, o: L.ConstantLR(o, factor=2), ValueError, "between 0 and 1"),
        (lambda L, o: L.LinearLR(o, start_factor=0), ValueError, "greater than 0"),
        (lambda L, o: L.CosineAnnealingWarmRestarts(o, T_0=0), ValueError, "positive integer"),
        (lambda L, o: L.OneCycleLR(o, 1.0), ValueError, "You must define either total_steps"),
        (lambda L, o: L.OneCycleLR(o, 1.0, 10, anneal_strategy="x"), ValueError,
         "anneal_strategy must be one of"),
        (lambda L, o: L.CyclicLR(o, 0.1, 1.0, mode="x"), ValueError, "mode is invalid"),
        (lambda L, o: L.ReduceLROnPlateau(o, factor=1.0), ValueError, "Factor should be < 1.0."),
        (lambda L, o: L.StepLR(o, 3, last_epoch=5), KeyError, "initial_lr"),
        (lambda L, o: L.SequentialLR(o, [L.StepLR(o, 2)], milestones=[3]), ValueError,
         "one more than the number of milestone points"),
        (lambda L, o: L.StepLR(object(), 3), TypeError, "is not an Optimizer"),
        (lambda L, o: L.LambdaLR(o, [lambda e: 1.0]), ValueError, "Expected 2 lr_lambdas"),
    ]
    for fn, exc, msg in cases:
        for mod in (torch, ember):
            with pytest.raises(exc, match=msg):
                fn(_L(mod), _opt(mod))


def test_cosine_keeps_oscillating_and_tensor_lr():
    opt = _opt(ember)
    sched = _L(ember).CosineAnnealingLR(opt, T_max=4)
    lrs = []
    for _ in range(8):
        opt.step()
        sched.step()
        lrs.append(sched.get_last_lr()[0])
    assert lrs[3] < 1e-12 and math.isclose(lrs[7], 0.1)
    res = []
    for mod in (torch, ember):
        p = mod.ones(2, requires_grad=True)
        lr = mod.tensor(np.array(0.1))  # a float64 0-dim lr
        opt = mod.optim.SGD([p], lr=lr)
        sched = _L(mod).ExponentialLR(opt, 0.5)
        for _ in range(3):
            opt.step()
            sched.step()
        assert opt.param_groups[0]["lr"] is lr  # updated in place
        res.append(float(lr))
    assert res[0] == res[1]
