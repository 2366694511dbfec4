"""optim.swa_utils against torch: averaged weights (SWA, EMA), SWALR's schedule, update_bn."""

import numpy as np
import pytest
import torch

import ember


def _averaging(mod, kind: str):
    mod.manual_seed(0)
    model = mod.nn.Sequential(mod.nn.Linear(4, 8), mod.nn.BatchNorm1d(8), mod.nn.ReLU(),
                              mod.nn.Linear(8, 2))
    opt = mod.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    su = mod.optim.swa_utils
    avg = {"swa": lambda: su.AveragedModel(model),
           "ema-multi": lambda: su.AveragedModel(model, multi_avg_fn=su.get_ema_multi_avg_fn(0.9)),
           "ema-fn-buffers": lambda: su.AveragedModel(model, avg_fn=su.get_ema_avg_fn(0.9),
                                                      use_buffers=True),
           "swa-multi": lambda: su.AveragedModel(model, multi_avg_fn=su.get_swa_multi_avg_fn()),
           }[kind]()
    sched = su.SWALR(opt, swa_lr=[0.05], anneal_epochs=3,
                     anneal_strategy="linear" if kind == "ema-multi" else "cos")
    rng = np.random.default_rng(0)
    data = [mod.tensor(rng.standard_normal((16, 4)).astype(np.float32)) for _ in range(6)]
    lrs = []
    for x in data:
        loss = model(x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        avg.update_parameters(model)
        lrs.append(sched.get_last_lr())
    su.update_bn([(x, 0) for x in data], avg)  # (input, target) pairs: the input is used
    out = {k: v.detach().numpy().copy() for k, v in avg.state_dict().items()}
    return lrs, out, avg(data[0]).detach().numpy(), sched


@pytest.mark.parametrize("kind", ["swa", "ema-multi", "ema-fn-buffers", "swa-multi"])
def test_averaged_model_and_swalr_match_torch(kind: str) -> None:
    t_lrs, t_sd, t_out, t_sched = _averaging(torch, kind)
    e_lrs, e_sd, e_out, e_sched = _averaging(ember, kind)
    assert e_lrs == t_lrs
    assert list(e_sd) == list(t_sd)  # module.* keys, then n_averaged
    for k in t_sd:
        assert e_sd[k].dtype == t_sd[k].dtype, k
        np.testing.assert_allclose(e_sd[k], t_sd[k], rtol=1e-5, atol=1e-6, err_msg=k)
    assert int(e_sd["n_averaged"]) == 6
    np.testing.assert_allclose(e_out, t_out, rtol=1e-5, atol=1e-5)
    assert sorted(e_sched.state_dict()) == sorted(t_sched.state_dict())


def test_swalr_state_dict_resumes_and_anneals_to_swa_lr() -> None:
    def sched(mod):
        p = mod.zeros(1, requires_grad=True)
        opt = mod.optim.SGD([p], lr=1.0)
        return opt, mod.optim.swa_utils.SWALR(opt, swa_lr=0.1, anneal_epochs=5)

    opt, s = sched(ember)
    for _ in range(2):
        opt.step()
        s.step()
    opt2, s2 = sched(ember)
    opt2.load_state_dict(opt.state_dict())
    s2.load_state_dict(s.state_dict())
    seq, seq2 = [], []
    for o, sc, out in ((opt, s, seq), (opt2, s2, seq2)):
        for _ in range(6):
            o.step()
            sc.step()
            out.append(sc.get_last_lr()[0])
    assert seq == seq2 and seq[-1] == pytest.approx(0.1)


def test_swa_utils_errors_match_torch() -> None:
    for mod in (torch, ember):
        su = mod.optim.swa_utils
        p = mod.zeros(1, requires_grad=True)
        opt = mod.optim.SGD([p], lr=1.0)
        with pytest.raises(ValueError, match=r"Invalid decay value 1.5 provided"):
            su.get_ema_multi_avg_fn(1.5)
        with pytest.raises(ValueError, match=r"Invalid decay value -0.1 provided"):
            su.get_ema_avg_fn(-0.1)
        with pytest.raises(AssertionError, match="Only one of avg_fn and multi_avg_fn"):
            su.AveragedModel(mod.nn.Linear(1, 1), avg_fn=su.get_ema_avg_fn(),
                             multi_avg_fn=su.get_ema_multi_avg_fn())
        with pytest.raises(ValueError, match="anneal_strategy must be one of 'cos' or 'linear'"):
            su.SWALR(opt, swa_lr=0.1, anneal_strategy="exp")
        with pytest.raises(ValueError, match="anneal_epochs must be equal or greater than 0"):
            su.SWALR(opt, swa_lr=0.1, anneal_epochs=-1)
        with pytest.raises(ValueError, match="swa_lr must have the same length as optimizer"):
            su.SWALR(mod.optim.SGD([{"params": [p]}, {"params": [mod.ones(1,
                     requires_grad=True)]}], lr=1.0), swa_lr=[0.1])
        # the running mean over integer buffers is refused by torch's in-place kernels
        bn = mod.nn.BatchNorm1d(2)
        avg = su.AveragedModel(bn, multi_avg_fn=su.get_swa_multi_avg_fn(), use_buffers=True)
        avg.update_parameters(bn)
        with pytest.raises(RuntimeError, match="Integer division"):
            avg.update_parameters(bn)
