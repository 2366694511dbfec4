"""Containers against torch: Sequential, ModuleList, ModuleDict, ParameterList, ParameterDict."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import pytest
import torch

import ember


def _classes(lib: Any) -> Any:
    class Scale(lib.nn.Module):
        def __init__(self, k: float) -> None:
            super().__init__()
            self.k = k
            self.w = lib.nn.Parameter(lib.ones(1))

        def forward(self, x: Any) -> Any:
            return x * self.k * self.w

        def extra_repr(self) -> str:
            return f"k={self.k}"

    return Scale


E_SCALE, T_SCALE = _classes(ember), _classes(torch)


def _names(it: Any) -> list[str]:
    return [n for n, _ in it]


def _both(fn: Any) -> tuple[Any, Any]:
    return fn(ember, E_SCALE), fn(torch, T_SCALE)


def test_sequential_forward_index_slice_and_repr() -> None:
    e, t = _both(lambda lib, S: lib.nn.Sequential(S(2.0), S(3.0), S(4.0)))
    assert float(e(ember.ones(1)).detach()) == float(t(torch.ones(1)).detach()) == 24.0
    assert len(e) == 3 and e[-1].k == 4.0 and e[0] is list(e)[0]
    sub = e[1:]
    assert type(sub) is ember.nn.Sequential and list(sub._modules) == ["1", "2"]
    assert repr(e) == repr(t) and repr(sub) == repr(t[1:])
    with pytest.raises(IndexError, match="index 3 is out of range"):
        e[3]
    od = ember.nn.Sequential(OrderedDict([("fc", E_SCALE(1.0)), ("act", E_SCALE(2.0))]))
    assert _names(od.named_parameters()) == ["fc.w", "act.w"]
    assert repr(ember.nn.Sequential()) == repr(torch.nn.Sequential()) == "Sequential()"


def test_sequential_mutation_matches_torch() -> None:
    def ops(lib: Any, S: Any) -> list[Any]:
        s = lib.nn.Sequential(S(1.0), S(2.0))
        out = [s.append(S(3.0)) is s]
        s.insert(0, S(0.5))
        s.extend([S(4.0)])
        popped = s.pop(1)
        del s[0]
        s[0] = S(9.0)
        s2 = s + lib.nn.Sequential(S(5.0))
        s += lib.nn.Sequential(S(6.0))
        s3 = lib.nn.Sequential(S(7.0)) * 2
        out += [popped.k, list(s._modules), [m.k for m in s], list(s2._modules),
                [m.k for m in s2], [m.k for m in s3], repr(s)]
        return out

    assert ops(ember, E_SCALE) == ops(torch, T_SCALE)
    for lib in (ember, torch):
        with pytest.raises(ValueError, match="add operator supports only objects of Sequential"):
            lib.nn.Sequential() + 1


def test_module_list() -> None:
    def ops(lib: Any, S: Any) -> list[Any]:
        ml = lib.nn.ModuleList([S(1.0), S(1.0), S(2.0)])
        out: list[Any] = [repr(ml), len(ml), ml[-1].k, _names(ml.named_parameters())]
        ml.append(S(3.0)).extend([S(4.0)])
        ml.insert(1, S(5.0))
        ml += [S(6.0)]
        out += [[m.k for m in ml], type(ml[1:3]).__name__, [m.k for m in ml[1:3]]]
        popped = ml.pop(0)
        del ml[1:3]
        ml[0] = S(8.0)
        out += [popped.k, list(ml._modules), [m.k for m in ml], repr(ml), repr(ml + ml)]
        return out

    assert ops(ember, E_SCALE) == ops(torch, T_SCALE)
    assert repr(ember.nn.ModuleList()) == repr(torch.nn.ModuleList())
    with pytest.raises(TypeError, match="ModuleList.extend should be called with an iterable"):
        ember.nn.ModuleList().extend(3)  # type: ignore[arg-type]


def test_module_dict() -> None:
    def ops(lib: Any, S: Any) -> list[Any]:
        md = lib.nn.ModuleDict({"b": S(1.0), "a": S(2.0)})
        out: list[Any] = [list(md), list(md.keys()), repr(md), "a" in md, len(md)]
        md["c"] = S(3.0)
        md.update([("d", S(4.0))])
        popped = md.pop("b")
        out += [popped.k, [k for k, _ in md.items()], [m.k for m in md.values()],
                _names(md.named_parameters())]
        md.clear()
        return [*out, len(md)]

    assert ops(ember, E_SCALE) == ops(torch, T_SCALE)


def test_parameter_list() -> None:
    def ops(lib: Any, S: Any) -> list[Any]:
        pl = lib.nn.ParameterList([lib.nn.Parameter(lib.ones(1)), lib.zeros(2, 3)])
        out: list[Any] = [type(pl[1]).__name__, pl[1].requires_grad,
                          _names(pl.named_parameters()), len(pl), repr(pl)]
        pl.append(lib.ones(4)).extend([lib.ones(5, dtype=lib.float64)])
        pl += [lib.ones(2)]
        out += [_names(pl.named_parameters()), [tuple(p.shape) for p in pl],
                type(pl[1:3]).__name__, len(pl[1:3]), repr(pl)]
        return out

    assert ops(ember, E_SCALE) == ops(torch, T_SCALE)
    with pytest.raises(RuntimeError, match="ParameterList should not be called"):
        ember.nn.ParameterList()()


def test_parameter_dict() -> None:
    def ops(lib: Any, S: Any) -> list[Any]:
        pd = lib.nn.ParameterDict({"b": lib.ones(1), "a": lib.nn.Parameter(lib.zeros(2))})
        out: list[Any] = [list(pd), _names(pd.named_parameters()), repr(pd),
                          type(pd["b"]).__name__]
        pd2 = lib.nn.ParameterDict(OrderedDict([("z", lib.ones(1)), ("y", lib.ones(1))]))
        pd["c"] = lib.ones(3)
        pd.update(pd2)
        out += [list(pd), "c" in pd, pd.get("q") is None, len(pd)]
        k, _ = pd.popitem()
        v = pd.pop("a")
        out += [k, tuple(v.shape), list(pd), list(pd | pd2), list(pd.copy())]
        out += [pd.setdefault("n", lib.ones(1)).shape[0], list(reversed(pd))]
        pd.clear()
        return [*out, len(pd)]

    assert ops(ember, E_SCALE) == ops(torch, T_SCALE)
    with pytest.raises(TypeError, match="not a string"):
        ember.nn.ParameterDict()[1]  # type: ignore[index]


def test_containers_in_state_dict_and_conversion() -> None:
    def build(lib: Any, S: Any) -> Any:
        m = lib.nn.Module()
        m.seq = lib.nn.Sequential(S(1.0), lib.nn.ModuleList([S(2.0)]))
        m.pd = lib.nn.ParameterDict({"x": lib.ones(2)})
        m.pl = lib.nn.ParameterList([lib.ones(3)])
        return m

    e, t = _both(build)
    assert list(e.state_dict()) == list(t.state_dict())
    assert _names(e.named_modules()) == _names(t.named_modules())
    x = e.pd["x"]
    e.double()
    assert e.pd["x"] is x and x.dtype == ember.float64 and e.pl[0].dtype == ember.float64
