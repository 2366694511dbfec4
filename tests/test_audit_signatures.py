"""Audit of #2/#3's "names and defaults exactly as torch": every public callable of ember.nn,
ember.nn.functional, ember.nn.init, ember.nn.utils and top-level ember that torch also has must take
torch's parameter names (and, where torch's are Python, the same kinds and defaults).

torch's C++ builtins (torch.add, F.one_hot, ...) carry no Python signature; their parameter names
come from the native schemas (`torch._C._jit_get_schemas_for_operator`), which are what torch's
argument parser accepts as keywords (`self` is spelled `input`)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest
import torch
import torch.nn.functional as TF

import ember
import ember.nn.functional as EF

# Deliberate differences, each with its reason. Keys are "<namespace>.<name>".
ALLOWED: dict[str, str] = {
    # torch's no_grad() takes no function; ember's also decorates when given one
    "top.no_grad": "ember's no_grad(func) doubles as a decorator factory",
    # serialization (owned by audit-4-5): ember's save writes safetensors metadata; load's
    # pickle_load_args are accepted as **kwargs
    "top.save": "metadata= for .safetensors; no _disable_byteorder_record",
    "top.load": "pickle_load_args spelled **kwargs",
    # NumPy spelling accepted as well as torch's dim (torch's argument parser accepts it too)
    "top.concatenate": "axis= alias of dim",
    # torch.max(input, other) / torch.min(input, other) keywords: positional use works
    "top.max": "the `other=` keyword of the binary overload is not accepted (positional works)",
    "top.min": "the `other=` keyword of the binary overload is not accepted (positional works)",
    # result_type(scalar=, tensor=): the scalar-first overload only positionally
    "top.result_type": "scalar-first overload only positionally",
    # numpy's sort(reverse=) is TorchScript-only in torch as well
    "top.sort": "TorchScript's list overload (reverse=) is not a tensor function",
}
# torch's schema arguments that its Python binding adds to every factory or that are out= forms:
# not required from ember (ember has no out= and no layouts, pinned memory or named tensors)
IGNORED_TORCH = {"out", "layout", "pin_memory", "memory_format", "names", "values", "indices",
                 "max", "max_values", "min", "min_indices", "out_dtype"}
# Python-binding extras torch accepts on top of its schema
BINDING_EXTRAS = {"requires_grad", "device", "dtype", "generator", "pin_memory", "layout",
                  "memory_format", "out", "as_tuple"}
SCRIPT_ONLY = {"a", "b", "l", "n", "t", "s", "el", "list"}  # TorchScript list/number overloads


def _python_signature(f: Any) -> inspect.Signature | None:
    try:
        return inspect.signature(f)
    except (TypeError, ValueError):
        return None


def _torch_signature(ns: str, name: str, f: Any) -> inspect.Signature | None:
    """torch's Python signature, looking through its generic wrappers to the real one."""
    if ns == "F" and hasattr(TF, name + "_with_indices"):  # boolean_dispatch (max_pool2d, ...)
        return inspect.signature(getattr(TF, name + "_with_indices"))
    if ns == "nn" and name in ("RNN", "LSTM", "GRU"):
        sig = inspect.signature(torch.nn.RNNBase.__init__)
        params = [p for p in sig.parameters.values() if p.name != "mode"]
        if name == "RNN":  # RNN adds nonlinearity after num_layers (torch's documented order)
            params.insert(4, inspect.Parameter("nonlinearity", params[3].kind, default="tanh"))
        if name != "LSTM":
            params = [p for p in params if p.name != "proj_size"]
        return sig.replace(parameters=params)
    return _python_signature(f.__init__ if inspect.isclass(f) else f)


def _same_default(a: Any, b: Any) -> bool:
    if callable(a) and callable(b):  # e.g. activation=F.relu: the same function by name
        return getattr(a, "__name__", a) == getattr(b, "__name__", b)
    if isinstance(a, float) and isinstance(b, float) and a != a:
        return b != b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):  # margin=0.0 vs torch's 0
        return isinstance(a, bool) == isinstance(b, bool) and a == b
    return type(a) is type(b) and a == b


def _compare_python(label: str, ours: inspect.Signature, theirs: inspect.Signature) -> list[str]:
    # out= is accepted by a few torch Python functions (norm, tensordot); ember need not have it
    mine = [p for p in ours.parameters.values() if p.name != "out"]
    torch_ = [p for p in theirs.parameters.values() if p.name != "out"]
    names, tnames = [p.name for p in mine], [p.name for p in torch_]
    if names != tnames:
        return [f"{label}: parameters {names} != torch's {tnames}"]
    problems = []
    for p, q in zip(mine, torch_, strict=True):
        if p.kind != q.kind:
            problems.append(f"{label}({p.name}): kind {p.kind.name} != torch's {q.kind.name}")
        if not _same_default(p.default, q.default):
            problems.append(f"{label}({p.name}): default {p.default!r} != torch's {q.default!r}")
    return problems


def _schema_overloads(name: str) -> list[list[str]]:
    out = []
    for s in torch._C._jit_get_schemas_for_operator("aten::" + name):
        args = ["input" if a.name == "self" else a.name for a in s.arguments]
        if s.overload_name.endswith("out") or any(a in SCRIPT_ONLY for a in args):
            continue
        if "dimname" in s.overload_name.lower() or "names" in s.overload_name:
            continue
        out.append(args)
    return out


def _compare_builtin(label: str, name: str, ours: inspect.Signature) -> list[str]:
    overloads = _schema_overloads(name)
    if not overloads:
        return []  # pure Python-binding functions (from_numpy, get_default_dtype, ...)
    known = {a for o in overloads for a in o}
    mine = [p for p in ours.parameters.values() if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
    extra = [p.name for p in mine if p.name not in known | BINDING_EXTRAS]
    problems = []
    if extra:
        problems.append(f"{label}: parameters {extra} are not torch's (torch: {overloads})")
    if not any(p.kind == p.VAR_POSITIONAL for p in ours.parameters.values()):
        names = {p.name for p in mine}
        lacking = sorted(known - names - IGNORED_TORCH - BINDING_EXTRAS)
        if lacking:
            problems.append(f"{label}: torch's keywords {lacking} are not accepted "
                            f"(torch: {overloads})")
    return problems


def _public_callables(ours: ModuleType, theirs: Any) -> list[tuple[str, Any, Any]]:
    found = []
    for name in sorted(dir(ours)):
        if name.startswith("_"):
            continue
        mine, torch_ = getattr(ours, name), getattr(theirs, name, None)
        if torch_ is None or not callable(mine) or not callable(torch_):
            continue
        if inspect.ismodule(mine) or inspect.isclass(mine) != inspect.isclass(torch_):
            continue
        if not getattr(mine, "__module__", "").startswith("ember"):  # re-exported helpers
            continue
        found.append((name, mine, torch_))
    return found


def _problems(ns: str, name: str, mine: Any, torch_: Any) -> list[str]:
    label = f"{ns}.{name}"
    sig = _python_signature(mine.__init__ if inspect.isclass(mine) else mine)
    assert sig is not None, f"{label}: ember's callable has no signature"
    tsig = _torch_signature(ns, name, torch_)
    if tsig is None:
        return _compare_builtin(label, name, sig)
    if _generic(tsig):  # torch's (*args, **kwargs) wrappers name nothing to compare
        return []
    return _compare_python(label, sig, tsig)


def _mismatches(ns: str, ours: ModuleType, theirs: Any) -> list[str]:
    problems = []
    for name, mine, torch_ in _public_callables(ours, theirs):
        if f"{ns}.{name}" not in ALLOWED:
            problems += _problems(ns, name, mine, torch_)
    return problems


def _generic(sig: inspect.Signature) -> bool:
    kinds = {p.kind for p in sig.parameters.values() if p.name != "self"}
    return bool(kinds) and kinds <= {inspect.Parameter.VAR_POSITIONAL,
                                     inspect.Parameter.VAR_KEYWORD}


NAMESPACES: dict[str, tuple[Callable[[], ModuleType], Any]] = {
    "nn": (lambda: ember.nn, torch.nn),
    "F": (lambda: EF, TF),
    "init": (lambda: ember.nn.init, torch.nn.init),
    "utils": (lambda: ember.nn.utils, torch.nn.utils),
    "top": (lambda: ember, torch),
}


@pytest.mark.parametrize("ns", list(NAMESPACES))
def test_parameter_names_and_defaults_match_torch(ns: str) -> None:
    ours, theirs = NAMESPACES[ns]
    problems = _mismatches(ns, ours(), theirs)
    assert not problems, "\n".join(problems)


def test_the_check_catches_a_renamed_parameter() -> None:
    """The comparison itself can fail: a wrong keyword, default or missing torch keyword."""

    def linear(input, weights, bias=None):  # type: ignore[no-untyped-def]
        return input

    def dot(input, other):  # type: ignore[no-untyped-def]
        return input

    assert _problems("F", "linear", linear, TF.linear)  # C++ builtin: schema names
    assert _problems("top", "dot", dot, torch.dot)  # `other` is not torch's `tensor`
    assert _problems("init", "uniform_", lambda tensor, a=0.0, c=1.0: tensor,
                     torch.nn.init.uniform_)


def test_allow_list_has_no_stale_entries() -> None:
    """Each allowed difference must still be one (remove the entry once it is fixed)."""
    for label in ALLOWED:
        ns, name = label.split(".", 1)
        ours, theirs = NAMESPACES[ns]
        found = [n for n, *_ in _public_callables(ours(), theirs) if n == name]
        assert found, f"{label}: no longer a public callable of both"
        mine, torch_ = getattr(ours(), name), getattr(theirs, name)
        assert _problems(ns, name, mine, torch_), f"{label} now matches torch: drop its entry"


def _method_mismatches(ecls: type, tcls: type) -> list[str]:
    """Methods torch's class defines itself (not inherited) that ember's class has."""
    problems = []
    for name, tfn in vars(tcls).items():
        if name.startswith("_") or not callable(tfn) or not hasattr(ecls, name):
            continue
        tsig, sig = _python_signature(tfn), _python_signature(getattr(ecls, name))
        if tsig is not None and sig is not None and not _generic(tsig):
            problems += _compare_python(f"nn.{tcls.__name__}.{name}", sig, tsig)
    return problems


def test_module_methods_and_forward_match_torch() -> None:
    """Module's own methods (state_dict, named_modules, to_empty, ...) and every layer's
    forward and extra methods (Sequential.append, MultiheadAttention.forward, ...)."""
    problems = []
    for name in dir(ember.nn):
        ecls, tcls = getattr(ember.nn, name), getattr(torch.nn, name, None)
        if inspect.isclass(ecls) and inspect.isclass(tcls) and issubclass(tcls, torch.nn.Module):
            problems += _method_mismatches(ecls, tcls)
    assert not problems, "\n".join(problems)
