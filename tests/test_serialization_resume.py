"""A full training checkpoint (model, optimizer, scheduler, epoch, RNG state) crosses between
torch and ember both ways, and training continues as it would have in the library that saved it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember


def _build(mod):
    mod.manual_seed(0)
    return mod.nn.Sequential(mod.nn.Linear(6, 16), mod.nn.ReLU(), mod.nn.Dropout(0.2),
                             mod.nn.Linear(16, 3))


RECIPES = {
    "sgd-momentum-steplr": lambda mod, params: (
        (o := mod.optim.SGD(params, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3)),
        mod.optim.lr_scheduler.StepLR(o, step_size=4, gamma=0.5)),
    "adamw-amsgrad-onecycle": lambda mod, params: (
        (o := mod.optim.AdamW(params, lr=0.01, weight_decay=0.1, amsgrad=True)),
        mod.optim.lr_scheduler.OneCycleLR(o, max_lr=0.05, total_steps=40)),
    "rmsprop-cosine-warm-restarts": lambda mod, params: (
        (o := mod.optim.RMSprop(params, lr=0.01, momentum=0.5, centered=True)),
        mod.optim.lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2)),
    "adam-sequential": lambda mod, params: (
        (o := mod.optim.Adam(params, lr=0.01)),
        mod.optim.lr_scheduler.SequentialLR(
            o, [mod.optim.lr_scheduler.LinearLR(o, 0.1, total_iters=5),
                mod.optim.lr_scheduler.ExponentialLR(o, 0.9)], milestones=[5])),
}


def _setup(mod, recipe: str):
    model = _build(mod)
    opt, sched = RECIPES[recipe](mod, model.parameters())
    return model, opt, sched


def _train(mod, model, opt, sched, steps: int) -> list[float]:
    """Data and dropout masks come from the global RNG, so the RNG state must travel too."""
    losses = []
    for _ in range(steps):
        x = mod.randn(8, 6)
        y = mod.randint(0, 3, (8,))
        loss = mod.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
    return losses


def _checkpoint(mod, model, opt, sched, epoch: int) -> dict:
    return {"model": model.state_dict(), "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict(), "epoch": epoch, "rng": mod.get_rng_state()}


def _resume(mod, recipe: str, ck: dict):
    model, opt, sched = _setup(mod, recipe)
    model.load_state_dict(ck["model"])
    opt.load_state_dict(ck["optimizer"])
    sched.load_state_dict(ck["scheduler"])
    mod.set_rng_state(ck["rng"])
    return model, opt, sched


def _compare(a_losses, a_model, a_sched, b_losses, b_model, b_sched) -> None:
    np.testing.assert_allclose(a_losses, b_losses, rtol=1e-5, atol=1e-6)
    for p, q in zip(a_model.parameters(), b_model.parameters()):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-5, atol=1e-6)
    assert a_sched.get_last_lr() == pytest.approx(b_sched.get_last_lr(), rel=1e-12)


@pytest.mark.parametrize("recipe", list(RECIPES))
def test_torch_checkpoint_resumes_in_ember(tmp_path, recipe: str) -> None:
    model, opt, sched = _setup(torch, recipe)
    _train(torch, model, opt, sched, 7)
    torch.save(_checkpoint(torch, model, opt, sched, 3), tmp_path / "ck.pt")
    ref = _train(torch, model, opt, sched, 8)

    ck = ember.load(tmp_path / "ck.pt")
    assert ck["epoch"] == 3 and ck["rng"].dtype == ember.uint8
    e_model, e_opt, e_sched = _resume(ember, recipe, ck)
    got = _train(ember, e_model, e_opt, e_sched, 8)
    _compare(got, e_model, e_sched, ref, model, sched)


@pytest.mark.parametrize("recipe", list(RECIPES))
def test_ember_checkpoint_resumes_in_torch(tmp_path, recipe: str) -> None:
    model, opt, sched = _setup(ember, recipe)
    _train(ember, model, opt, sched, 7)
    ember.save(_checkpoint(ember, model, opt, sched, 3), tmp_path / "ck.pt")
    ref = _train(ember, model, opt, sched, 8)

    ck = torch.load(tmp_path / "ck.pt", weights_only=True)
    assert ck["epoch"] == 3 and ck["rng"].dtype == torch.uint8
    t_model, t_opt, t_sched = _resume(torch, recipe, ck)
    got = _train(torch, t_model, t_opt, t_sched, 8)
    _compare(got, t_model, t_sched, ref, model, sched)


def test_ember_checkpoint_resumes_in_ember_bit_identically(tmp_path) -> None:
    model, opt, sched = _setup(ember, "adamw-amsgrad-onecycle")
    _train(ember, model, opt, sched, 5)
    ember.save(_checkpoint(ember, model, opt, sched, 1), tmp_path / "ck.pt")
    ref = _train(ember, model, opt, sched, 6)
    ck = ember.load(tmp_path / "ck.pt")
    e_model, e_opt, e_sched = _resume(ember, "adamw-amsgrad-onecycle", ck)
    assert _train(ember, e_model, e_opt, e_sched, 6) == ref
    for p, q in zip(model.parameters(), e_model.parameters()):
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())


def test_reduce_on_plateau_state_crosses_both_ways(tmp_path) -> None:
    def run(mod, losses, state=None):
        p = mod.zeros(2, requires_grad=True)
        opt = mod.optim.SGD([p], lr=1.0)
        sched = mod.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=1, factor=0.5, cooldown=1)
        if state is not None:
            opt.load_state_dict(state["opt"])
            sched.load_state_dict(state["sched"])
        for v in losses:
            opt.step()
            sched.step(v)
        return {"opt": opt.state_dict(), "sched": sched.state_dict()}, sched.get_last_lr()

    first, second = [1.0, 0.9, 0.95, 0.97], [0.99, 0.98, 0.5, 0.6, 0.7, 0.8]
    _, ref = run(torch, first + second)
    ts, _ = run(torch, first)
    torch.save(ts, tmp_path / "t.pt")
    _, got = run(ember, second, ember.load(tmp_path / "t.pt"))
    assert got == ref
    es, _ = run(ember, first)
    ember.save(es, tmp_path / "e.pt")
    _, got = run(torch, second, torch.load(tmp_path / "e.pt", weights_only=True))
    assert got == ref
