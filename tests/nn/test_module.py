"""nn.Module against torch: registration rules and errors, iteration order, state_dict,
load_state_dict, conversions, hooks, repr, copying."""

from __future__ import annotations

import copy
import pickle
from collections import OrderedDict
from typing import Any

import numpy as np
import pytest
import torch

import ember


def _models(lib: Any) -> Any:
    """The same nested structure built with `lib` (ember or torch): custom modules only."""
    nn = lib.nn

    class Leaf(nn.Module):
        def __init__(self, i: int, o: int) -> None:
            super().__init__()
            self.weight = nn.Parameter(lib.ones(o, i))
            self.bias = nn.Parameter(lib.zeros(o))

        def forward(self, x: Any) -> Any:
            return x @ self.weight.t() + self.bias

        def extra_repr(self) -> str:
            return f"in={self.weight.shape[1]}, out={self.weight.shape[0]}"

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Parameter(lib.ones(2))
            self.register_buffer("buf", lib.zeros(2))
            self.register_buffer("nb", lib.zeros(1), persistent=False)
            self.lin = Leaf(2, 2)

        def forward(self, x: Any) -> Any:
            return self.lin(x) * self.a + self.buf

    class Nest(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("b0", lib.zeros(3))
            self.c1 = Block()
            self.p0 = nn.Parameter(lib.full((2,), 0.5))
            self.c2 = nn.Sequential(Leaf(2, 3), Leaf(3, 2))
            self.steps = nn.Buffer(lib.tensor(7))

        def forward(self, x: Any) -> Any:
            return self.c2(self.c1(x)) * self.p0

    return Leaf, Block, Nest


E_LEAF, E_BLOCK, E_NEST = _models(ember)
T_LEAF, T_BLOCK, T_NEST = _models(torch)


def _names(it: Any) -> list[str]:
    return [n for n, _ in it]


def _raises(fn_e: Any, fn_t: Any) -> None:
    """Both raise the same exception type with the same message."""
    with pytest.raises(Exception) as te:
        fn_t()
    with pytest.raises(Exception) as ee:
        fn_e()
    assert type(ee.value) is type(te.value), (ee.value, te.value)
    assert str(ee.value) == str(te.value)


def test_my_linear_register_parameter_and_grad_accumulation() -> None:
    class MyLinear(ember.nn.Module):
        def __init__(self, i: int, o: int) -> None:
            super().__init__()
            self.register_parameter("weight", ember.nn.Parameter(ember.ones(o, i)))
            self.register_parameter("bias", ember.nn.Parameter(ember.zeros(o)))

        def forward(self, x: ember.Tensor) -> ember.Tensor:
            return x @ self.weight.t() + self.bias

    m = MyLinear(3, 2)
    x = ember.tensor([[1.0, 2.0, 3.0]])
    m(x).sum().backward()
    m(x).sum().backward()
    tm = torch.nn.Linear(3, 2)
    with torch.no_grad():
        tm.weight.fill_(1)
        tm.bias.zero_()
    tx = torch.tensor([[1.0, 2.0, 3.0]])
    tm(tx).sum().backward()
    tm(tx).sum().backward()
    np.testing.assert_allclose(m.weight.grad.numpy(), tm.weight.grad.numpy())
    np.testing.assert_allclose(m.bias.grad.numpy(), tm.bias.grad.numpy())
    assert [n for n, _ in m.named_parameters()] == ["weight", "bias"]
    m.zero_grad()
    assert m.weight.grad is None
    m(x).sum().backward()
    m.zero_grad(set_to_none=False)
    assert m.weight.grad is not None and float(m.weight.grad.abs().sum()) == 0


def test_iteration_order_matches_torch() -> None:
    e, t = E_NEST(), T_NEST()
    assert _names(e.named_parameters()) == _names(t.named_parameters())
    assert _names(e.named_buffers()) == _names(t.named_buffers())
    assert _names(e.named_modules()) == _names(t.named_modules())
    assert _names(e.named_children()) == _names(t.named_children())
    assert _names(e.named_modules(prefix="root")) == _names(t.named_modules(prefix="root"))
    assert _names(e.named_parameters(prefix="m")) == _names(t.named_parameters(prefix="m"))
    assert _names(e.named_parameters(recurse=False)) == _names(t.named_parameters(recurse=False))
    assert _names(e.named_buffers(recurse=False)) == _names(t.named_buffers(recurse=False))
    assert len(list(e.modules())) == len(list(t.modules()))
    assert len(list(e.buffers())) == len(list(t.buffers()))


def test_shared_parameters_listed_once() -> None:
    def build(lib: Any, leaf: Any) -> Any:
        m = lib.nn.Module()
        m.l1 = leaf(2, 2)
        m.l2 = m.l1
        m.l3 = leaf(2, 2)
        m.l3.weight = m.l1.weight
        return m

    e, t = build(ember, E_LEAF), build(torch, T_LEAF)
    assert _names(e.named_parameters()) == _names(t.named_parameters())
    assert len(list(e.parameters())) == 3
    assert (_names(e.named_parameters(remove_duplicate=False))
            == _names(t.named_parameters(remove_duplicate=False)))
    assert _names(e.named_modules()) == _names(t.named_modules())
    assert list(e.state_dict()) == list(t.state_dict())
    assert (_names(e.named_modules(remove_duplicate=False))
            == _names(t.named_modules(remove_duplicate=False)))


def test_state_dict_keys_values_and_metadata() -> None:
    e, t = E_NEST(), T_NEST()
    esd, tsd = e.state_dict(), t.state_dict()
    assert type(esd) is OrderedDict and list(esd) == list(tsd)
    assert esd._metadata == tsd._metadata  # type: ignore[attr-defined]
    for k in tsd:
        assert type(esd[k]) is ember.Tensor and not esd[k].requires_grad
        np.testing.assert_array_equal(esd[k].numpy(), tsd[k].numpy())
    esd["p0"].add_(1)  # shares storage with the parameter
    assert float(e.p0[0]) == 1.5
    assert list(e.state_dict(prefix="x.")) == list(t.state_dict(prefix="x."))
    kv = e.state_dict(keep_vars=True)
    assert kv["p0"] is e.p0 and kv["c1.a"] is e.c1.a


def test_load_state_dict_copies_and_casts() -> None:
    e = E_NEST()
    sd = {k: ember.tensor(v.numpy() * 0 + 3, dtype=ember.float64) for k, v in
          e.state_dict().items() if v.dtype.is_floating_point}
    sd["steps"] = ember.tensor(9)
    w = e.c1.lin.weight
    res = e.load_state_dict(sd)
    assert repr(res) == "<All keys matched successfully>"
    assert res.missing_keys == [] and res.unexpected_keys == []
    assert e.c1.lin.weight is w and w.dtype == ember.float32 and float(w[0, 0]) == 3.0
    assert isinstance(w, ember.nn.Parameter) and w.requires_grad and w.is_leaf
    sd["c1.lin.weight"][0, 0] = 5.0  # no storage shared with the source
    assert float(w[0, 0]) == 3.0
    assert int(e.steps) == 9


def test_load_state_dict_errors_match_torch() -> None:
    e, t = E_NEST(), T_NEST()
    esd, tsd = e.state_dict(), t.state_dict()
    for sd in (esd, tsd):
        del sd["c1.a"], sd["b0"]
        sd["extra"] = sd["p0"]
        sd["c1.nb"] = sd["p0"]  # a non-persistent buffer's key is unexpected
    esd["c1.lin.weight"] = ember.zeros(3, 3)
    tsd["c1.lin.weight"] = torch.zeros(3, 3)
    before = e.c1.lin.bias.detach().numpy().copy()
    esd["c1.lin.bias"] = ember.full((2,), 9.0)
    _raises(lambda: e.load_state_dict(esd), lambda: t.load_state_dict(tsd))
    np.testing.assert_array_equal(e.c1.lin.bias.detach().numpy(), before)  # nothing half-loaded
    # strict=False still raises on the size mismatch
    _raises(lambda: e.load_state_dict(esd, strict=False),
            lambda: t.load_state_dict(tsd, strict=False))
    esd["c1.lin.weight"] = ember.zeros(2, 2)
    tsd["c1.lin.weight"] = torch.zeros(2, 2)
    er, tr = e.load_state_dict(esd, strict=False), t.load_state_dict(tsd, strict=False)
    assert er.missing_keys == tr.missing_keys and er.unexpected_keys == tr.unexpected_keys
    assert float(e.c1.lin.bias[0]) == 9.0
    esd["c1.lin.weight"] = [[1.0]]
    tsd["c1.lin.weight"] = [[1.0]]
    _raises(lambda: e.load_state_dict(esd, strict=False),
            lambda: t.load_state_dict(tsd, strict=False))


def test_load_state_dict_assign_keeps_requires_grad() -> None:
    e = E_LEAF(2, 2)
    e.weight.requires_grad_(False)
    src = {"weight": ember.full((2, 2), 2.0), "bias": ember.ones(2)}
    e.load_state_dict(src, assign=True)
    assert isinstance(e.weight, ember.nn.Parameter) and not e.weight.requires_grad
    assert e.bias.requires_grad
    src["weight"][0, 0] = 7.0
    assert float(e.weight[0, 0]) == 7.0  # assign shares the source's storage


def test_setattr_and_registration_errors_match_torch() -> None:
    e, t = E_BLOCK(), T_BLOCK()
    pairs: list[tuple[Any, Any]] = [
        (lambda m, lib: setattr(m, "a", lib.zeros(1)), "param <- tensor"),
        (lambda m, lib: setattr(m, "a", 3), "param <- int"),
        (lambda m, lib: setattr(m, "lin", lib.zeros(1)), "module <- tensor"),
        (lambda m, lib: setattr(m, "buf", 3), "buffer <- int"),
        (lambda m, lib: m.register_parameter("a.b", None), ""),
        (lambda m, lib: m.register_parameter("", None), ""),
        (lambda m, lib: m.register_parameter("training", None), ""),
        (lambda m, lib: m.register_parameter(1, None), ""),
        (lambda m, lib: m.register_parameter("zz", lib.zeros(1)), ""),
        (lambda m, lib: m.register_buffer("a.b", None), ""),
        (lambda m, lib: m.register_buffer("", None), ""),
        (lambda m, lib: m.register_buffer("lin", None), ""),
        (lambda m, lib: m.register_buffer("bb", 3), ""),
        (lambda m, lib: m.add_module("a.b", lib.nn.Module()), ""),
        (lambda m, lib: m.add_module("", lib.nn.Module()), ""),
        (lambda m, lib: m.add_module("a", lib.nn.Module()), ""),
        (lambda m, lib: m.add_module("q", 3), ""),
        (lambda m, lib: m.nothere, ""),
        (lambda m, lib: m.train("x"), ""),
        (lambda m, lib: m.to(lib.int32), ""),
        (lambda m, lib: lib.nn.Module()(1), ""),
        (lambda m, lib: m.get_submodule("lin.zz"), ""),
        (lambda m, lib: m.register_parameter("nl", lib.nn.Parameter(lib.ones(1)) * 2), ""),
    ]
    for fn, _ in pairs:
        _raises(lambda fn=fn: fn(e, ember), lambda fn=fn: fn(t, torch))


def test_setattr_routing() -> None:
    m = E_BLOCK()
    m.buf = ember.ones(5)  # a tensor on a buffer name replaces the buffer
    assert "buf" in m._buffers and m.buf.shape == (5,)
    m.plain = ember.ones(1)  # a plain attribute: not in the state dict
    assert "plain" not in m.state_dict()
    m.buf = ember.nn.Parameter(ember.ones(1))  # a Parameter on a buffer name becomes a parameter
    assert "buf" in m._parameters and "buf" not in m._buffers
    m.a = None
    assert m.a is None and "a" not in dict(m.named_parameters()) and "a" not in m.state_dict()
    m.register_buffer("bp", ember.nn.Parameter(ember.ones(1)))
    assert isinstance(m._buffers["bp"], ember.nn.Parameter)
    del m.bp, m.lin, m.buf
    assert "lin" not in m._modules and not hasattr(m, "bp") and not hasattr(m, "buf")
    m.nbuf = ember.nn.Buffer(ember.ones(1), persistent=False)
    assert "nbuf" in m._buffers and "nbuf" not in m.state_dict()
    assert {"a", "nbuf"} <= set(dir(m))
    m.add_module("x", None)
    m.register_module("y", E_LEAF(1, 1))
    assert m.x is None and _names(m.named_children()) == ["y"]


def test_get_submodule_parameter_buffer() -> None:
    e, t = E_NEST(), T_NEST()
    assert e.get_submodule("c2.0") is e.c2[0]
    assert e.get_parameter("c2.0.bias") is e.c2[0].bias
    assert e.get_buffer("c1.buf") is e.c1.buf
    _raises(lambda: e.get_submodule("c2.9"), lambda: t.get_submodule("c2.9"))
    _raises(lambda: e.get_parameter("c1.buf"), lambda: t.get_parameter("c1.buf"))
    _raises(lambda: e.get_buffer("c1.a"), lambda: t.get_buffer("c1.a"))


def test_to_and_dtype_conversions_keep_identity() -> None:
    e = E_NEST()
    w = e.c1.lin.weight
    e(ember.ones(1, 2)).sum().backward()
    assert e.to(ember.float64) is e
    assert e.c1.lin.weight is w and isinstance(w, ember.nn.Parameter)
    assert w.dtype == ember.float64 and w.grad.dtype == ember.float64
    assert e.steps.dtype == ember.int64  # integer buffers are left alone
    assert e.half() is e and w.dtype == ember.float16
    assert e.float() is e and e.cpu() is e and e.to("cpu") is e
    assert e.to("cpu", ember.float64) is e and w.dtype == ember.float64
    data = w._data
    e.double()  # no change: the storage is untouched
    assert w._data is data
    assert e.bfloat16() is e and w.dtype == ember.bfloat16
    e.type(ember.float32)
    assert w.dtype == ember.float32 and e.steps.dtype == ember.float32


def test_modes_apply_requires_grad() -> None:
    e, t = E_NEST(), T_NEST()
    assert e.eval() is e and not any(m.training for m in e.modules())
    e.add_module("late", E_LEAF(1, 1))
    assert e.late.training  # not inherited
    assert e.train() is e and all(m.training for m in e.modules())
    seen_e: list[str] = []
    seen_t: list[str] = []
    assert e.apply(lambda m: seen_e.append(type(m).__name__)) is e
    t.add_module("late", T_LEAF(1, 1))
    t.apply(lambda m: seen_t.append(type(m).__name__))
    assert seen_e == seen_t
    assert e.requires_grad_(False) is e and not any(p.requires_grad for p in e.parameters())


def test_repr_matches_torch() -> None:
    def extra(lib: Any) -> Any:
        class E(lib.nn.Module):
            def extra_repr(self) -> str:
                return "a=1,\nb=2"

        return E

    e, t = E_NEST(), T_NEST()
    e.ml = ember.nn.ModuleList([E_LEAF(1, 1), E_LEAF(1, 1), E_BLOCK()])
    t.ml = torch.nn.ModuleList([T_LEAF(1, 1), T_LEAF(1, 1), T_BLOCK()])
    e.md = ember.nn.ModuleDict({"x": extra(ember)()})
    t.md = torch.nn.ModuleDict({"x": extra(torch)()})
    assert repr(e) == repr(t)
    assert repr(ember.nn.Module()) == repr(torch.nn.Module()) == "Module()"
    assert repr(extra(ember)()) == repr(extra(torch)())


def test_forward_hooks_order_kwargs_and_removal() -> None:
    for lib in (ember, torch):
        log: list[Any] = []
        m = (E_LEAF if lib is ember else T_LEAF)(2, 2)
        h1 = m.register_forward_pre_hook(lambda mod, args: log.append("pre1"))
        m.register_forward_pre_hook(lambda mod, args: log.append("pre2"), prepend=True)
        m.register_forward_pre_hook(lambda mod, args, kw: log.append(("prekw", kw)),
                                    with_kwargs=True)
        m.register_forward_hook(lambda mod, args, out: log.append("post"))
        h5 = m.register_forward_hook(lambda mod, args, kw, out: out * 2, with_kwargs=True)
        out = m(lib.ones(1, 2))
        assert log == ["pre2", "pre1", ("prekw", {}), "post"]
        assert out.tolist() == [[4.0, 4.0]]
        h1.remove()
        h5.remove()
        log.clear()
        assert m(lib.ones(1, 2)).tolist() == [[2.0, 2.0]] and "pre1" not in log
        m.register_forward_pre_hook(lambda mod, args: args[0] * 0)  # non-tuple: wrapped
        assert m(lib.ones(1, 2)).tolist() == [[0.0, 0.0]]
        log.clear()
        assert m.forward(lib.ones(1, 2)).tolist() == [[2.0, 2.0]] and log == []


class PLeaf(ember.nn.Module):
    """A module-level class, so that pickle can find it."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = ember.nn.Parameter(ember.ones(2, 2))
        self.register_buffer("buf", ember.zeros(1))

    def forward(self, x: ember.Tensor) -> ember.Tensor:
        return x @ self.weight


def test_deepcopy_and_pickle_keep_ties_and_types() -> None:
    m = ember.nn.Module()
    m.a = PLeaf()
    m.b = PLeaf()
    m.b.weight = m.a.weight
    m.a(ember.ones(1, 2)).sum().backward()
    for c in (copy.deepcopy(m), pickle.loads(pickle.dumps(m))):
        assert c.a.weight is c.b.weight and c.a.weight is not m.a.weight
        assert isinstance(c.a.weight, ember.nn.Parameter) and c.a.weight.requires_grad
        assert c.a.weight.grad is None
        np.testing.assert_array_equal(c.a.weight.detach().numpy(), m.a.weight.detach().numpy())
        assert _names(c.named_parameters()) == _names(m.named_parameters())


def test_extra_state_roundtrip() -> None:
    class S(ember.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.value = 1

        def get_extra_state(self) -> Any:
            return {"value": self.value}

        def set_extra_state(self, state: Any) -> None:
            self.value = state["value"]

    s = S()
    s.value = 5
    sd = s.state_dict()
    assert list(sd) == ["_extra_state"]
    s2 = S()
    s2.load_state_dict(sd)
    assert s2.value == 5


def test_full_backward_hook_matches_torch() -> None:
    for lib in (ember, torch):
        m = (E_LEAF if lib is ember else T_LEAF)(3, 2)
        seen: list[Any] = []
        m.register_full_backward_hook(lambda mod, gi, go: seen.append((gi, go)))
        x = lib.ones(1, 3, requires_grad=True)
        m(x).sum().backward()
        (gi,), (go,) = seen[0]
        assert gi.tolist() == x.grad.tolist() == [[2.0, 2.0, 2.0]]
        assert go.tolist() == [[1.0, 1.0]]
        h = m.register_full_backward_hook(lambda mod, gi, go: (gi[0] * 0,))
        x.grad = None
        m(x).sum().backward()
        assert x.grad.tolist() == [[0.0, 0.0, 0.0]]
        h.remove()
        seen.clear()
        with pytest.warns(UserWarning, match="Full backward hook is firing"):
            m(lib.ones(1, 3)).sum().backward()
        assert seen[0][0] == (None,)


def test_init_arguments_and_incompatible_keys_repr() -> None:
    for args, kwargs in (((1,), {}), ((), {"q": 1})):
        _raises(lambda a=args, k=kwargs: ember.nn.Module(*a, **k),
                lambda a=args, k=kwargs: torch.nn.Module(*a, **k))
    e, t = ember.nn.Module(), torch.nn.Module()
    e.w = ember.nn.Parameter(ember.ones(1))
    t.w = torch.nn.Parameter(torch.ones(1))
    er = e.load_state_dict({"x": ember.ones(1)}, strict=False)
    tr = t.load_state_dict({"x": torch.ones(1)}, strict=False)
    assert repr(er) == repr(tr) and er == tr


def test_call_without_hooks_runs_forward_only() -> None:
    m = E_LEAF(2, 2)
    calls: list[int] = []
    m.forward = lambda x: calls.append(1) or x  # type: ignore[method-assign]
    assert m(5) == 5 and calls == [1]


def test_full_backward_pre_hook_replaces_grad_output() -> None:
    for lib in (ember, torch):
        m = (E_LEAF if lib is ember else T_LEAF)(3, 2)
        seen: list[Any] = []
        m.register_full_backward_pre_hook(lambda mod, go: seen.append(go) or (go[0] * 3,))
        x = lib.ones(1, 3, requires_grad=True)
        m(x).sum().backward()
        assert seen[0][0].tolist() == [[1.0, 1.0]]
        assert x.grad.tolist() == [[6.0, 6.0, 6.0]] and m.bias.grad.tolist() == [3.0, 3.0]


def test_state_dict_hooks_match_torch() -> None:
    def run(lib: Any, leaf: Any) -> list[Any]:
        log: list[Any] = []
        m = lib.nn.Sequential(leaf(2, 2))
        m[0].register_state_dict_pre_hook(lambda mod, prefix, kv: log.append(("pre", prefix)))
        h = m.register_state_dict_post_hook(
            lambda mod, sd, prefix, meta: log.append(("post", list(sd))))
        m._register_state_dict_hook(lambda mod, sd, prefix, meta: {"only": sd["0.bias"]})
        log.append(list(m.state_dict()))
        h.remove()
        m.register_state_dict_post_hook(lambda mod, sd, prefix, meta: {})
        try:
            m.state_dict()
        except RuntimeError as e:
            log.append(str(e))
        m2 = leaf(2, 2)
        m2.register_load_state_dict_pre_hook(
            lambda mod, sd, prefix, *rest: sd.__setitem__(prefix + "bias", lib.ones(2)))

        def post(mod: Any, keys: Any) -> None:
            log.append(("loadpost", list(keys.missing_keys), list(keys.unexpected_keys)))
            keys.unexpected_keys.clear()

        m2.register_load_state_dict_post_hook(post)
        res = m2.load_state_dict({"weight": lib.zeros(2, 2), "extra": lib.ones(1)})
        log.append((repr(res), m2.bias.tolist(), m2.weight.tolist()))
        return log

    assert run(ember, E_LEAF) == run(torch, T_LEAF)


def test_global_forward_hooks_and_to_empty() -> None:
    from ember.nn.modules import module as emod

    for lib, mod, leaf in ((ember, emod, E_LEAF), (torch, torch.nn.modules.module, T_LEAF)):
        log: list[str] = []
        m = lib.nn.Sequential(leaf(2, 2))
        h1 = mod.register_module_forward_pre_hook(
            lambda md, a: log.append("pre " + type(md).__name__))
        h2 = mod.register_module_forward_hook(lambda md, a, out: log.append("post"))
        m(lib.ones(1, 2))
        h1.remove()
        h2.remove()
        m(lib.ones(1, 2))
        assert log == ["pre Sequential", "pre Leaf", "post", "post"]
    e = E_LEAF(3, 2)
    w = e.weight
    assert e.to_empty(device="cpu") is e and e.weight is w and w.shape == (2, 3)


def test_errors_name_the_module_path_and_load_hint() -> None:
    class Bad(ember.nn.Module):
        def forward(self, x: ember.Tensor) -> ember.Tensor:
            return x @ ember.ones(5, 2)

    class Block(ember.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layers = ember.nn.ModuleList([E_LEAF(1, 1), Bad()])

        def forward(self, x: ember.Tensor) -> ember.Tensor:
            return self.layers[1](x)

    m = ember.nn.Sequential(Block())
    with pytest.raises(RuntimeError) as info:
        m(ember.ones(2, 3))
    assert info.value.__notes__ == ["(raised in 0.layers.1 (Bad))"]
    e = E_LEAF(2, 2)
    with pytest.raises(RuntimeError) as info:
        e.load_state_dict({})
    assert "strict=False" in info.value.__notes__[0]
    assert str(info.value).startswith("Error(s) in loading state_dict for Leaf:")


def test_forward_hook_always_call() -> None:
    for lib in (ember, torch):
        m = lib.nn.Module()
        log: list[Any] = []
        m.register_forward_hook(lambda mod, args, out: log.append(("always", out)),
                                always_call=True)
        m.register_forward_hook(lambda mod, args, out: log.append("normal"))
        with pytest.raises(NotImplementedError):
            m(1)
        assert log == [("always", None)]
