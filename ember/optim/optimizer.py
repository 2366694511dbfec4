"""Optimizer base class: param groups, lazy per-parameter state, state_dict in torch's format."""

from __future__ import annotations

import functools
import warnings
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable
from copy import deepcopy
from itertools import chain
from typing import Any

import numpy as np

from ember.autograd import enable_grad, no_grad
from ember.dtypes import float64, get_default_dtype
from ember.tensor import Tensor

__all__ = ["Optimizer", "required"]

NDArray = np.ndarray


class _RequiredParameter:
    """Marks a hyperparameter with no default, as torch's `optim.optimizer.required`."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _RequiredParameter()


def _typename(x: Any) -> str:
    """torch.typename: 'torch.FloatTensor' for tensors, the qualified class name otherwise."""
    if isinstance(x, Tensor):
        return str(x.type())
    module = type(x).__module__
    name = type(x).__qualname__
    return name if module in ("", "builtins") else f"{module}.{name}"


class _Handle:
    """Removes a registered hook. Matches `torch.utils.hooks.RemovableHandle` (enough of it)."""

    _next_id = 0

    def __init__(self, hooks: OrderedDict[int, Any]) -> None:
        self.hooks = hooks
        self.id = _Handle._next_id
        _Handle._next_id += 1

    def remove(self) -> None:
        self.hooks.pop(self.id, None)


def _scalar(x: Any) -> Any:
    """A 1-element Tensor hyperparameter as a NumPy scalar of its dtype (torch computes with the
    0-d tensor, so a float32 lr keeps float32 arithmetic); anything else unchanged."""
    return x._data.reshape(())[()] if isinstance(x, Tensor) else x


def _hooked_step(step: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(step)
    def wrapper(self: Optimizer, *args: Any, **kwargs: Any) -> Any:
        for pre in list(self._optimizer_step_pre_hooks.values()):
            result = pre(self, args, kwargs)
            if result is not None:
                args, kwargs = result
        out = step(self, *args, **kwargs)
        for post in list(self._optimizer_step_post_hooks.values()):
            post(self, args, kwargs)
        return out

    wrapper.hooked = True  # type: ignore[attr-defined]
    return wrapper


_HOOK_DICTS = ("_optimizer_step_pre_hooks", "_optimizer_step_post_hooks",
               "_optimizer_state_dict_pre_hooks", "_optimizer_state_dict_post_hooks",
               "_optimizer_load_state_dict_pre_hooks", "_optimizer_load_state_dict_post_hooks")


class Optimizer:
    """Matches `torch.optim.Optimizer`.

    A subclass supplies `defaults`, `_init_state(p, group)` (the lazily created state) and one
    `_update(p, g, state, group)` that updates one parameter's NumPy arrays in place; the base
    class runs the loop under no_grad and skips parameters whose grad is None.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "step" in cls.__dict__ and not getattr(cls.__dict__["step"], "hooked", False):
            cls.step = _hooked_step(cls.__dict__["step"])  # type: ignore[method-assign]

    def __init__(self, params: Any, defaults: dict[str, Any]) -> None:
        if defaults.get("differentiable"):
            raise NotImplementedError("ember optimizers do not support differentiable=True: "
                                      "updates run in place under no_grad")
        self.defaults = defaults
        self._optimizer_step_pre_hooks: OrderedDict[int, Any] = OrderedDict()
        self._optimizer_step_post_hooks: OrderedDict[int, Any] = OrderedDict()
        self._optimizer_state_dict_pre_hooks: OrderedDict[int, Any] = OrderedDict()
        self._optimizer_state_dict_post_hooks: OrderedDict[int, Any] = OrderedDict()
        self._optimizer_load_state_dict_pre_hooks: OrderedDict[int, Any] = OrderedDict()
        self._optimizer_load_state_dict_post_hooks: OrderedDict[int, Any] = OrderedDict()
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of "
                            "Tensors or dicts, but got " + _typename(params))
        self.state: defaultdict[Any, Any] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(group)

    def __getstate__(self) -> dict[str, Any]:
        return {"defaults": self.defaults, "state": self.state,
                "param_groups": self.param_groups}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        for name in _HOOK_DICTS:
            self.__dict__.setdefault(name, OrderedDict())
        # states saved by older torch versions lack newer group keys and keep 'step' a number
        for group in self.param_groups:
            for key, default in self.defaults.items():
                if default is not required:
                    group.setdefault(key, default)
        for st in self.state.values():
            if isinstance(st, dict) and "step" in st and not isinstance(st["step"], Tensor):
                st["step"] = _step_tensor(float(st["step"]))

    def __repr__(self) -> str:
        s = self.__class__.__name__ + " ("
        for i, group in enumerate(self.param_groups):
            s += f"\nParameter Group {i}\n"
            for key in sorted(group.keys()):
                if key != "params":
                    s += f"    {key}: {group[key]}\n"
        return s + ")"

    # ---- param groups -----------------------------------------------------------------------
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Matches `torch.optim.Optimizer.add_param_group`."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group)}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, "
                            "but the ordering of tensors in sets will change between runs. "
                            "Please use a list instead.")
        params = list(params)
        names = [p[0] for p in params if isinstance(p, tuple)]
        params = [p[1] if isinstance(p, tuple) else p for p in params]
        param_group["params"] = params
        if names:
            if len(names) != len(params):
                raise ValueError("all optimizer params should be with/without names. Some param "
                                 "names are missing")
            param_group["param_names"] = names
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError("optimizer can only optimize Tensors, but one of the params is "
                                + _typename(p))
            if not (p.is_leaf or p.retains_grad):
                raise ValueError("can't optimize a non-leaf Tensor")
        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError("parameter group didn't specify a value of required "
                                 f"optimization parameter {name}")
            param_group.setdefault(name, default)
        if len(params) != len({id(p) for p in params}):
            warnings.warn("optimizer contains a parameter group with duplicate parameters; in "
                          "future, this will cause an error; see "
                          "github.com/pytorch/pytorch/issues/40967 for more information",
                          stacklevel=3)
        seen: set[int] = set()
        for group in self.param_groups:
            seen.update(id(p) for p in group["params"])
            if ("param_names" in param_group) != ("param_names" in group):
                which = "with names" if "param_names" in param_group else "without names"
                raise ValueError("all optimizer param groups should be with/without names. "
                                 f"cannot add param group {which} to the optimizer")
        if any(id(p) in seen for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Matches `torch.optim.Optimizer.zero_grad`."""
        for group in self.param_groups:
            for p in group["params"]:
                g = p._grad
                if g is None:
                    continue
                if set_to_none:
                    p._grad = None
                else:
                    if g.grad_fn is not None:
                        g.detach_()
                    else:
                        g.requires_grad_(False)
                    g._data[...] = 0
                    g._version_ref[0] += 1

    # ---- hooks ------------------------------------------------------------------------------
    def register_step_pre_hook(self, hook: Callable[..., Any]) -> _Handle:
        """Matches `torch.optim.Optimizer.register_step_pre_hook`."""
        handle = _Handle(self._optimizer_step_pre_hooks)
        self._optimizer_step_pre_hooks[handle.id] = hook
        return handle

    def register_step_post_hook(self, hook: Callable[..., Any]) -> _Handle:
        """Matches `torch.optim.Optimizer.register_step_post_hook`."""
        handle = _Handle(self._optimizer_step_post_hooks)
        self._optimizer_step_post_hooks[handle.id] = hook
        return handle

    def _register(self, hooks: OrderedDict[int, Any], hook: Any, prepend: bool) -> _Handle:
        handle = _Handle(hooks)
        hooks[handle.id] = hook
        if prepend:
            hooks.move_to_end(handle.id, last=False)
        return handle

    def register_state_dict_pre_hook(self, hook: Callable[..., Any],
                                     prepend: bool = False) -> _Handle:
        """Matches `torch.optim.Optimizer.register_state_dict_pre_hook`."""
        return self._register(self._optimizer_state_dict_pre_hooks, hook, prepend)

    def register_state_dict_post_hook(self, hook: Callable[..., Any],
                                      prepend: bool = False) -> _Handle:
        """Matches `torch.optim.Optimizer.register_state_dict_post_hook`."""
        return self._register(self._optimizer_state_dict_post_hooks, hook, prepend)

    def register_load_state_dict_pre_hook(self, hook: Callable[..., Any],
                                          prepend: bool = False) -> _Handle:
        """Matches `torch.optim.Optimizer.register_load_state_dict_pre_hook`."""
        return self._register(self._optimizer_load_state_dict_pre_hooks, hook, prepend)

    def register_load_state_dict_post_hook(self, hook: Callable[..., Any],
                                           prepend: bool = False) -> _Handle:
        """Matches `torch.optim.Optimizer.register_load_state_dict_post_hook`."""
        return self._register(self._optimizer_load_state_dict_post_hooks, hook, prepend)

    # ---- stepping ---------------------------------------------------------------------------
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Matches `torch.optim.Optimizer.step` of the subclass: one update per parameter."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        with no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    grad = p._grad
                    if grad is None:
                        continue
                    state = self.state.get(p)
                    if not state:
                        state = {}
                        self._init_state(p, group, state)
                    g = grad._data
                    if group.get("maximize"):
                        g = -g
                    self._update(p._data, g, state, group)
                    p._version_ref[0] += 1
                    if state:  # torch's SGD without momentum keeps no state entry at all
                        self.state[p] = state
        return loss

    def _init_state(self, p: Tensor, group: dict[str, Any], state: dict[str, Any]) -> None:
        """Fill a parameter's empty state before its first update."""

    def _update(self, p: NDArray, g: NDArray, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        """Update one parameter's array `p` in place from its gradient `g`."""
        raise NotImplementedError

    # ---- state_dict -------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Matches `torch.optim.Optimizer.state_dict`: state keyed by parameter index."""
        for pre in list(self._optimizer_state_dict_pre_hooks.values()):
            pre(self)
        mapping: dict[int, int] = {}
        start = 0

        def pack(group: dict[str, Any]) -> dict[str, Any]:
            nonlocal start
            packed = {k: v for k, v in group.items() if k != "params"}
            for i, p in enumerate(group["params"], start):
                mapping.setdefault(id(p), i)
            packed["params"] = [mapping[id(p)] for p in group["params"]]
            start += len(packed["params"])
            return packed

        groups = [pack(g) for g in self.param_groups]
        state = {(mapping[id(k)] if isinstance(k, Tensor) else k): v
                 for k, v in self.state.items()}
        out = {"state": state, "param_groups": groups}
        for post in list(self._optimizer_state_dict_post_hooks.values()):
            result = post(self, out)
            if result is not None:
                out = result
        return out

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Matches `torch.optim.Optimizer.load_state_dict`: tensors are copied and cast to the
        parameter's dtype, except 'step'."""
        state_dict = state_dict.copy()
        for pre in list(self._optimizer_load_state_dict_pre_hooks.values()):
            result = pre(self, state_dict)
            if result is not None:
                state_dict = result
        groups = self.param_groups
        saved_groups = deepcopy(state_dict["param_groups"])
        if len(groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(s["params"]) for g, s in zip(groups, saved_groups)):
            raise ValueError("loaded state dict contains a parameter group that doesn't match "
                             "the size of optimizer's group")
        id_map = dict(zip(chain.from_iterable(g["params"] for g in saved_groups),
                          chain.from_iterable(g["params"] for g in groups)))

        def cast(param: Tensor, value: Any, key: Any = None) -> Any:
            if isinstance(value, Tensor):
                if key != "step" and param.is_floating_point():
                    return Tensor._make(value._data.astype(param._data.dtype, copy=True))
                return Tensor._make(value._data.copy())
            if isinstance(value, dict):
                return {k: cast(param, v, k) for k, v in value.items()}
            if isinstance(value, Iterable) and not isinstance(value, str):
                return type(value)(cast(param, v) for v in value)  # type: ignore[call-arg]
            return value

        state: defaultdict[Any, Any] = defaultdict(dict)
        for k, v in state_dict["state"].items():
            if k in id_map:
                state[id_map[k]] = cast(id_map[k], v)
            else:
                state[k] = v
        for g, ng in zip(groups, saved_groups):
            ng["params"] = g["params"]
            if "param_names" in g and "param_names" not in ng:
                ng["param_names"] = g["param_names"]
        self.__setstate__({"state": state, "param_groups": saved_groups})
        for post in list(self._optimizer_load_state_dict_post_hooks.values()):
            post(self)


Optimizer.step = _hooked_step(Optimizer.step)  # type: ignore[method-assign]


def _zeros_like(p: Tensor) -> Tensor:
    return Tensor._make(np.zeros_like(p._data))


def _scalar_dtype() -> type[np.floating]:
    """torch's _get_scalar_dtype: float32, or float64 under a float64 default dtype."""
    return np.float64 if get_default_dtype() == float64 else np.float32


def _step_tensor(value: float = 0.0) -> Tensor:
    """torch keeps 'step' as a 0-dim tensor of the scalar dtype."""
    return Tensor._make(np.array(value, dtype=_scalar_dtype()))


def _check_same_dtype(state_arr: NDArray, p: NDArray) -> None:
    """torch's lerp_ refuses mixed dtypes, e.g. after model.double() with existing state."""
    if state_arr.dtype != p.dtype:
        names = {np.dtype(np.float32): "float", np.dtype(np.float64): "double",
                 np.dtype(np.float16): "Half"}
        raise RuntimeError(f"expected dtype {names.get(state_arr.dtype, state_arr.dtype)} for "
                           f"`end` but got dtype {names.get(p.dtype, p.dtype)}")


def _lerp_(a: NDArray, b: NDArray, w: float) -> None:
    """a.lerp_(b, w) in torch's formula (the form depends on |w| < 0.5), in place."""
    if abs(w) < 0.5:
        a += w * (b - a)
    else:
        np.subtract(b, (b - a) * (1 - w), out=a)
