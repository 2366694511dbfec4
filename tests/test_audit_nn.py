"""Audit of #3 (nn): every listed module, functional, init and util exists, and the Module API
behaves as torch's: each case below runs the same code on torch and on ember and compares the
results (reprs, with "ember" read as "torch"), errors included (type and text)."""

from __future__ import annotations

import copy
import pickle
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

import ember
from tests.helpers import assert_same

NN = """Parameter Module Linear Bilinear Identity Flatten Unflatten Embedding Conv1d Conv2d
ConvTranspose2d MaxPool1d MaxPool2d AvgPool1d AvgPool2d AdaptiveAvgPool2d AdaptiveMaxPool2d
BatchNorm1d BatchNorm2d LayerNorm GroupNorm RMSNorm Dropout Dropout2d Upsample MultiheadAttention
LSTM GRU ReLU ReLU6 LeakyReLU ELU GELU SiLU Mish Sigmoid Tanh Softmax LogSoftmax Softplus
Hardtanh Hardswish CrossEntropyLoss NLLLoss MSELoss L1Loss SmoothL1Loss HuberLoss BCELoss
BCEWithLogitsLoss KLDivLoss CosineEmbeddingLoss Sequential ModuleList ModuleDict ParameterList
ParameterDict""".split()
FUNCTIONAL = """linear bilinear conv1d conv2d conv_transpose2d max_pool1d max_pool2d avg_pool1d
avg_pool2d adaptive_avg_pool2d adaptive_max_pool2d batch_norm layer_norm group_norm rms_norm dropout
dropout2d embedding pad interpolate normalize one_hot scaled_dot_product_attention softmax
log_softmax relu relu6 leaky_relu elu gelu silu mish sigmoid tanh softplus hardtanh hardswish
cross_entropy nll_loss mse_loss l1_loss smooth_l1_loss huber_loss binary_cross_entropy
binary_cross_entropy_with_logits kl_div cosine_embedding_loss unfold fold""".split()
INIT = """calculate_gain uniform_ normal_ constant_ ones_ zeros_ eye_ xavier_uniform_ xavier_normal_
kaiming_uniform_ kaiming_normal_ trunc_normal_ orthogonal_""".split()
UTILS = "clip_grad_norm_ clip_grad_value_ parameters_to_vector vector_to_parameters".split()


def test_every_listed_nn_name_exists() -> None:
    missing = [f"nn.{n}" for n in NN if not hasattr(ember.nn, n)]
    missing += [f"F.{n}" for n in FUNCTIONAL if not hasattr(ember.nn.functional, n)]
    missing += [f"init.{n}" for n in INIT if not hasattr(ember.nn.init, n)]
    missing += [f"utils.{n}" for n in UTILS if not hasattr(ember.nn.utils, n)]
    assert not missing, missing


def _outcome(fn: Callable[[Any], Any], lib: Any) -> str:
    try:
        out = repr(fn(lib))
    except Exception as err:  # the error is part of the behaviour compared
        out = f"{type(err).__name__}: {err}"
    return out.replace("ember", "torch")  # ember prints torch's names (torch.Size, dtypes)


def _param_results(L: Any) -> list[str]:
    ops: list[Callable[[Any], Any]] = [
        lambda p: p * 2, lambda p: p.detach(), lambda p: p.clone(), lambda p: p.data,
        lambda p: p[0], lambda p: p.view(2), copy.deepcopy, lambda p: p.to(L.float64),
        lambda p: p.float(), lambda p: p.double()]
    return [type(f(L.nn.Parameter(L.ones(2)))).__name__ for f in ops]


def _deepcopy_tied(L: Any) -> Any:
    m = L.nn.Sequential(L.nn.Linear(2, 2), L.nn.Linear(2, 2))
    m[1].weight = m[0].weight
    m[0].weight.grad = L.ones(2, 2)
    c = copy.deepcopy(m)
    return c[1].weight is c[0].weight, c[0].weight.grad, type(c[0].weight).__name__


def _pickled(L: Any) -> Any:
    q = pickle.loads(pickle.dumps(L.nn.Parameter(L.ones(2), requires_grad=False)))
    return type(q).__name__, q.requires_grad, q


def _registration_errors(L: Any) -> list[str]:
    m = L.nn.Module()
    m.w = L.nn.Parameter(L.ones(1))
    calls: list[Callable[[], Any]] = [
        lambda: m.register_parameter("a.b", None), lambda: m.register_parameter("", None),
        lambda: m.register_buffer("x.y", None), lambda: m.add_module("a.b", None),
        lambda: m.add_module("", None), lambda: m.register_parameter(1, None),
        lambda: m.register_parameter("p", L.ones(2)), lambda: m.add_module("m", L.ones(2)),
        lambda: m.register_buffer("b", 3), lambda: setattr(m, "w", L.ones(1)),
        lambda: m.register_parameter("nl", L.nn.Parameter(L.ones(1)) * 2),
        lambda: m.register_buffer("w", L.ones(1)),
        lambda: m.register_parameter("training", None)]
    return [_outcome(lambda _: c(), L) for c in calls]


def _state_dict_load(L: Any) -> list[Any]:
    m = L.nn.Sequential(L.nn.Linear(2, 3), L.nn.BatchNorm1d(3))
    m.register_buffer("np", L.ones(1), persistent=False)
    s = m.state_dict()
    bad = dict(s, extra=L.ones(1))
    del bad["0.bias"]
    bad["1.weight"] = L.ones(4)
    before = m[0].weight.detach().clone()
    out: list[Any] = [list(s), _outcome(lambda _: m.load_state_dict(bad), L)]
    out.append(bool((m[0].weight == before).all()))  # nothing half-loaded
    loose = dict(s, extra=L.ones(1))
    del loose["0.bias"]
    out.append(m.load_state_dict(loose, strict=False))
    return out


def _conversions(L: Any) -> list[Any]:
    m = L.nn.Sequential(L.nn.Linear(2, 3), L.nn.BatchNorm1d(3))
    w = m[0].weight
    w.grad = L.ones(3, 2)
    r = [m.half() is m, m[0].weight is w, w.dtype, w.grad.dtype, m[1].num_batches_tracked.dtype]
    m.double()
    r += [m[1].running_mean.dtype, type(w).__name__]
    m.type(L.float32)
    m.bfloat16()
    r.append(w.dtype)
    m.to("cpu").cpu().to(L.float32)
    m.to(L.zeros(1, dtype=L.float64))
    r.append(w.dtype)
    m.to("cpu", L.float16)
    r += [w.dtype, m[0].weight is w, _outcome(lambda _: m.to(L.int32), L)]
    return r


def _nested_repr(L: Any) -> str:
    return repr(L.nn.Sequential(
        L.nn.Conv2d(3, 8, 3, padding=1, bias=False), L.nn.BatchNorm2d(8), L.nn.ReLU(),
        L.nn.ModuleDict({"a": L.nn.Linear(2, 2)}),
        L.nn.ModuleList([L.nn.Dropout(0.1), L.nn.LSTM(3, 4, 2, batch_first=True), L.nn.GRU(2, 3)]),
        L.nn.MultiheadAttention(8, 2, batch_first=True), L.nn.Embedding(10, 3, padding_idx=0),
        L.nn.ParameterList([L.nn.Parameter(L.ones(2))]),
        L.nn.ParameterDict({"p": L.nn.Parameter(L.ones(2, 3))}), L.nn.Upsample(scale_factor=2),
        L.nn.GELU("tanh"), L.nn.LeakyReLU(0.2, inplace=True), L.nn.Softmax(dim=1),
        L.nn.LayerNorm(4), L.nn.GroupNorm(2, 4), L.nn.RMSNorm(4), L.nn.AvgPool2d(2, ceil_mode=True),
        L.nn.MaxPool1d(2), L.nn.AdaptiveAvgPool2d((1, 1)), L.nn.ConvTranspose2d(2, 3, 2),
        L.nn.Flatten(), L.nn.Unflatten(1, (2, 2)), L.nn.Bilinear(2, 3, 4),
        L.nn.CrossEntropyLoss(label_smoothing=0.1), L.nn.BCEWithLogitsLoss(), L.nn.Hardtanh(),
        L.nn.ELU(), L.nn.Softplus(), L.nn.Hardswish(), L.nn.Mish(), L.nn.SiLU(), L.nn.ReLU6(),
        L.nn.Identity(), L.nn.Dropout2d(), L.nn.HuberLoss(delta=2.0),
        L.nn.KLDivLoss(log_target=True), L.nn.CosineEmbeddingLoss(), L.nn.MaxPool2d(3, 2, 1),
        L.nn.AdaptiveMaxPool2d(2), L.nn.SmoothL1Loss(beta=0.5), L.nn.NLLLoss(),
        L.nn.BatchNorm1d(3, momentum=None, affine=False, track_running_stats=False),
        L.nn.Conv1d(2, 4, 3, padding="same", padding_mode="reflect"), L.nn.LogSoftmax(1),
        L.nn.Tanh(), L.nn.Sigmoid(), L.nn.L1Loss(), L.nn.MSELoss(), L.nn.BCELoss()))


def _hooks(L: Any) -> list[str]:
    m = L.nn.Linear(2, 2)
    log: list[str] = []
    h1 = m.register_forward_pre_hook(lambda mod, inp: log.append("pre"))
    h2 = m.register_forward_hook(lambda mod, inp, out: log.append("post"))
    m.register_forward_pre_hook(lambda mod, args, kwargs: (args, kwargs), with_kwargs=True)
    m(L.ones(2))
    h1.remove()
    m(L.ones(2))
    h2.remove()
    m(L.ones(2))
    return log


def _containers(L: Any) -> list[Any]:
    s = L.nn.Sequential(L.nn.ReLU(), L.nn.Tanh(), L.nn.Sigmoid())
    s.append(L.nn.ReLU())
    s2 = L.nn.Sequential(OrderedDict(a=L.nn.ReLU(), b=L.nn.Tanh()))
    return [len(s), type(s[1:]).__name__, s[-1], list(s2._modules), s2.a, s[1:3],
            [type(x).__name__ for x in s], [n for n, _ in s2.named_children()],
            [type(c).__name__ for c in s2.children()]]


def _named(L: Any) -> list[Any]:
    lin = L.nn.Linear(2, 2)
    m = L.nn.Sequential(lin, lin, L.nn.Sequential(lin))
    return [[n for n, _ in m.named_modules()],
            [n for n, _ in m.named_modules(remove_duplicate=False)],
            [n for n, _ in m.named_parameters(remove_duplicate=False)],
            [n for n, _ in m.named_parameters(prefix="p", recurse=True)],
            len(list(m.modules(remove_duplicate=False))), len(list(m.modules()))]


def _submodules(L: Any) -> list[Any]:
    m = L.nn.Sequential(L.nn.Linear(2, 2), L.nn.Sequential(L.nn.ReLU()))
    calls: list[Callable[[Any], Any]] = [
        lambda _: m.set_submodule("1.0", L.nn.Tanh()),
        lambda _: m.set_submodule("1.5", L.nn.Tanh(), strict=True),
        lambda _: m.set_submodule("0.weight", L.nn.Tanh()),
        lambda _: m.set_submodule("", L.nn.Tanh()), lambda _: m.set_submodule("1.x", 3),
        lambda _: m.set_submodule("1.new", L.nn.ReLU()), lambda _: m.get_submodule("1.zz"),
        lambda _: m.get_parameter("0.bias").shape, lambda _: m.get_parameter("0.nope")]
    return [_outcome(c, L) for c in calls] + [m]


def _zero_grad(L: Any) -> list[Any]:
    m = L.nn.Linear(2, 2)
    m(L.ones(2)).sum().backward()
    m.zero_grad()
    first = m.weight.grad
    m(L.ones(2)).sum().backward()
    m.zero_grad(set_to_none=False)
    return [first, m.weight.grad]


def _train_apply(L: Any) -> list[Any]:
    m = L.nn.Sequential(L.nn.Linear(2, 2), L.nn.Dropout())
    m.requires_grad_(False)
    m.train(False)
    r: list[Any] = [m[0].weight.requires_grad, m.training, m[1].training]
    m.eval()
    m.train()
    r.append(m[1].training)
    m.apply(lambda mod: r.append(type(mod).__name__))
    return r


CASES: dict[str, Callable[[Any], Any]] = {
    "parameter from an integer tensor": lambda L: L.nn.Parameter(L.ones(2, dtype=L.int64)),
    "integer parameter without grad": lambda L: L.nn.Parameter(
        L.ones(2, dtype=L.int64), requires_grad=False),
    "empty parameter": lambda L: L.nn.Parameter(),
    "parameter repr": lambda L: L.nn.Parameter(L.tensor([1.0, 2.0])),
    "what ops on a parameter return": _param_results,
    "deepcopy keeps ties, drops nothing else": _deepcopy_tied,
    "pickle keeps type and requires_grad": _pickled,
    "registration errors": _registration_errors,
    "state_dict keys, load errors, no half-update": _state_dict_load,
    "in-place conversions keep identity": _conversions,
    "nested repr": _nested_repr,
    "forward hooks": _hooks,
    "containers": _containers,
    "named_* with duplicates": _named,
    "get/set_submodule": _submodules,
    "zero_grad": _zero_grad,
    "train/eval/requires_grad_/apply": _train_apply,
}


@pytest.mark.parametrize("case", list(CASES))
def test_module_api_as_torch(case: str) -> None:
    fn = CASES[case]
    assert _outcome(fn, ember) == _outcome(fn, torch)


def test_rms_norm_forward_keyword_and_cosine_embedding_loss_module() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((4, 5)), rng.standard_normal((4, 5))
    target = np.array([1, -1, 1, -1])
    outs, grads = [], []
    for lib in (ember, torch):
        x1 = lib.tensor(a, requires_grad=True)
        x2 = lib.tensor(b, requires_grad=True)
        loss = lib.nn.CosineEmbeddingLoss(margin=0.2, reduction="sum")(x1, x2, lib.tensor(target))
        norm = lib.nn.RMSNorm(5, dtype=lib.float64)(x=x1)
        (loss + norm.square().sum()).backward()
        outs.append((loss, norm))
        grads.append((x1.grad, x2.grad))
    assert_same(outs[0], outs[1])
    assert_same(grads[0], grads[1], what="grads")


LAYERS_WITH_DTYPE = {"Linear": (2, 2), "Bilinear": (2, 2, 2), "Embedding": (4, 2),
                     "Conv1d": (2, 2, 2), "Conv2d": (2, 2, 2), "ConvTranspose2d": (2, 2, 2),
                     "BatchNorm1d": (2,), "BatchNorm2d": (2,), "LayerNorm": (2,),
                     "GroupNorm": (1, 2), "RMSNorm": (2,), "MultiheadAttention": (4, 2),
                     "LSTM": (2, 2), "GRU": (2, 2), "PReLU": (), "TransformerEncoderLayer": (4, 2)}


@pytest.mark.parametrize("name", list(LAYERS_WITH_DTYPE))
def test_layers_take_a_dtype_by_name(name: str) -> None:
    """#2: "a dtype also accepts its name as a string anywhere a dtype is taken"."""
    m = getattr(ember.nn, name)(*LAYERS_WITH_DTYPE[name], dtype="float64")
    floats = [t for t in (*m.parameters(), *m.buffers()) if t.dtype.is_floating_point]
    assert floats and all(t.dtype == ember.float64 for t in floats)
