"""nn.Module: registration of parameters, buffers and submodules; iteration, state_dict, hooks."""

from __future__ import annotations

import itertools
import warnings
from collections import OrderedDict, namedtuple
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

from ember import dtypes as _dt
from ember.nn.parameter import Buffer, Parameter
from ember.tensor import Tensor

__all__ = ["Module"]

# torch.nn.modules.module.register_module_forward{_pre,}_hook: hooks run for every module
_global_forward_pre_hooks: OrderedDict[int, Any] = OrderedDict()
_global_forward_hooks: OrderedDict[int, Any] = OrderedDict()
_global_forward_hooks_with_kwargs: dict[int, bool] = {}

_EXTRA_STATE_KEY_SUFFIX = "_extra_state"
_hook_ids = itertools.count()


def _typename(obj: object) -> str:
    """torch.typename: legacy tensor type names, 'int' for builtins, else module.qualname."""
    if isinstance(obj, Tensor):
        return "torch." + obj.dtype._legacy
    cls = type(obj)
    if cls.__module__ in ("builtins", "__builtin__"):
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


class RemovableHandle:
    """A handle that removes a hook from its dicts. Matches `torch.utils.hooks.RemovableHandle`."""

    def __init__(self, *dicts: dict[int, Any]) -> None:
        self.id = next(_hook_ids)
        self._dicts = dicts

    def remove(self) -> None:
        for d in self._dicts:
            d.pop(self.id, None)  # type: ignore[arg-type]

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *args: object) -> None:
        self.remove()


class _IncompatibleKeys(namedtuple("_IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    """load_state_dict's result, as torch's `_IncompatibleKeys`."""

    missing_keys: list[str]
    unexpected_keys: list[str]

    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()

    __str__ = __repr__


def _addindent(s: str, num_spaces: int) -> str:
    lines = s.split("\n")
    if len(lines) == 1:
        return s
    return lines[0] + "\n" + "\n".join(" " * num_spaces + line for line in lines[1:])


def _forward_unimplemented(self: Module, *input: Any) -> None:
    raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required "forward" '
                              "function")


# While load_state_dict runs, _load_from_state_dict queues its copies here so that nothing is
# written before every key has been checked (torch copies as it goes and can leave a half-load).
_pending_loads: list[Callable[[], None]] | None = None


def _copy_into(dst: Tensor, src: Tensor) -> None:
    np.copyto(dst._data, src._data.reshape(dst._data.shape), casting="unsafe")
    dst._version_ref[0] += 1


class Module:
    """The base class of every layer. Matches `torch.nn.Module`.

    Differences: load_state_dict checks every key before copying anything, so a failed load
    leaves the module untouched; an error raised inside forward gets a note naming the module
    path (`(raised in encoder.layers.3 (Block))`); cuda() raises, as ember runs on the CPU.
    """

    training: bool
    _parameters: dict[str, Parameter | None]
    _buffers: dict[str, Tensor | None]
    _modules: dict[str, Module | None]
    _version: int = 1
    forward: Callable[..., Any] = _forward_unimplemented

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if kwargs:
            raise TypeError(f"{type(self).__name__}.__init__() got an unexpected keyword "
                            f"argument '{next(iter(kwargs))}'")
        if args:
            raise TypeError(f"{type(self).__name__}.__init__() takes 1 positional argument but "
                            f"{len(args) + 1} were given")
        setattr_ = object.__setattr__
        setattr_(self, "training", True)
        setattr_(self, "_parameters", {})
        setattr_(self, "_buffers", {})
        setattr_(self, "_non_persistent_buffers_set", set())
        setattr_(self, "_modules", {})
        setattr_(self, "_forward_pre_hooks", OrderedDict())
        setattr_(self, "_forward_pre_hooks_with_kwargs", {})
        setattr_(self, "_forward_hooks", OrderedDict())
        setattr_(self, "_forward_hooks_with_kwargs", {})
        setattr_(self, "_backward_hooks", OrderedDict())
        setattr_(self, "_backward_pre_hooks", OrderedDict())

    # ---- calling -----------------------------------------------------------------------------
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not (self._forward_pre_hooks or self._forward_hooks or self._backward_hooks
                or self._backward_pre_hooks or _global_forward_pre_hooks
                or _global_forward_hooks):
            try:  # free in CPython 3.11+ unless something raises
                return self.forward(*args, **kwargs)  # the hot path: no allocations
            except Exception as e:
                _note_module_path(e, self)
                raise
        try:
            return self._call_with_hooks(args, kwargs)
        except Exception as e:
            _note_module_path(e, self)
            raise

    def _call_with_hooks(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        for hid, hook in [*_global_forward_pre_hooks.items(), *self._forward_pre_hooks.items()]:
            if hid in self._forward_pre_hooks_with_kwargs:
                res = hook(self, args, kwargs)
                if res is not None:
                    if not (isinstance(res, tuple) and len(res) == 2):
                        raise RuntimeError("forward pre-hook must return None or a tuple of "
                                           f"(new_args, new_kwargs), but got {res}.")
                    args, kwargs = res
            else:
                res = hook(self, args)
                if res is not None:
                    args = res if isinstance(res, tuple) else (res,)
        try:
            if self._backward_hooks or self._backward_pre_hooks:
                result = _call_with_backward_hooks(self, args, kwargs)
            else:
                result = self.forward(*args, **kwargs)
        except Exception:
            self._run_always_called_hooks(args, kwargs)
            raise
        for hid, hook in [*_global_forward_hooks.items(), *self._forward_hooks.items()]:
            if hid in self._forward_hooks_with_kwargs or hid in _global_forward_hooks_with_kwargs:
                res = hook(self, args, kwargs, result)
            else:
                res = hook(self, args, result)
            if res is not None:
                result = res
        return result

    def _run_always_called_hooks(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """forward raised: still run the hooks registered with always_call=True, as torch."""
        always = self.__dict__.get("_forward_hooks_always_called", {})
        for hid, hook in list(self._forward_hooks.items()):
            if hid not in always:
                continue
            try:
                if hid in self._forward_hooks_with_kwargs:
                    hook(self, args, kwargs, None)
                else:
                    hook(self, args, None)
            except Exception as e:
                warnings.warn(f"global module forward hook with ``always_call=True`` raised an "
                              f"exception that was silenced as another error was raised in "
                              f"forward: {e}", stacklevel=3)

    def register_forward_pre_hook(self, hook: Callable[..., Any], *, prepend: bool = False,
                                  with_kwargs: bool = False) -> RemovableHandle:
        """Matches `torch.nn.Module.register_forward_pre_hook`."""
        return self._add_hook(self._forward_pre_hooks, self._forward_pre_hooks_with_kwargs,
                              hook, prepend, with_kwargs)

    def register_forward_hook(self, hook: Callable[..., Any], *, prepend: bool = False,
                              with_kwargs: bool = False,
                              always_call: bool = False) -> RemovableHandle:
        """Matches `torch.nn.Module.register_forward_hook`."""
        handle = self._add_hook(self._forward_hooks, self._forward_hooks_with_kwargs, hook,
                                prepend, with_kwargs)
        if always_call:
            always = self._hooks("_forward_hooks_always_called")
            always[handle.id] = True
            handle._dicts = (*handle._dicts, always)
        return handle

    def register_full_backward_hook(self, hook: Callable[..., Any],
                                    prepend: bool = False) -> RemovableHandle:
        """Matches `torch.nn.Module.register_full_backward_hook`."""
        return self._add_hook(self._backward_hooks, {}, hook, prepend, False)

    def register_full_backward_pre_hook(self, hook: Callable[..., Any],
                                        prepend: bool = False) -> RemovableHandle:
        """Matches `torch.nn.Module.register_full_backward_pre_hook`."""
        return self._add_hook(self._backward_pre_hooks, {}, hook, prepend, False)

    def _hooks(self, name: str) -> OrderedDict[int, Any]:
        """A rarely used hook dict, created on first registration."""
        d = self.__dict__.get(name)
        if d is None:
            d = OrderedDict()
            self.__dict__[name] = d
        return d

    def register_state_dict_pre_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """Matches `torch.nn.Module.register_state_dict_pre_hook`: hook(module, prefix,
        keep_vars)."""
        return self._add_hook(self._hooks("_state_dict_pre_hooks"), {}, hook, False, False)

    def register_state_dict_post_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """Matches `torch.nn.Module.register_state_dict_post_hook`: hook(module, state_dict,
        prefix, local_metadata), which must return None."""
        public = self._hooks("_state_dict_public_hooks")  # ids of hooks that must return None
        return self._add_hook(self._hooks("_state_dict_hooks"), public, hook, False, True)

    def _register_state_dict_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """torch's private form: the hook may return a replacement state dict."""
        return self._add_hook(self._hooks("_state_dict_hooks"), {}, hook, False, False)

    def register_load_state_dict_pre_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """Matches `torch.nn.Module.register_load_state_dict_pre_hook`: hook(module,
        state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
        error_msgs)."""
        return self._add_hook(self._hooks("_load_state_dict_pre_hooks"), {}, hook, False, False)

    def register_load_state_dict_post_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """Matches `torch.nn.Module.register_load_state_dict_post_hook`: hook(module,
        incompatible_keys), which may edit the key lists before the strict check."""
        return self._add_hook(self._hooks("_load_state_dict_post_hooks"), {}, hook, False, False)

    @staticmethod
    def _add_hook(hooks: OrderedDict[int, Any], kw: dict[int, bool], hook: Callable[..., Any],
                  prepend: bool, with_kwargs: bool) -> RemovableHandle:
        handle = RemovableHandle(hooks, kw)
        hooks[handle.id] = hook
        if with_kwargs:
            kw[handle.id] = True
        if prepend:
            hooks.move_to_end(handle.id, last=False)
        return handle

    # ---- registration ------------------------------------------------------------------------
    def _check_name(self, kind: str, name: Any, store: str) -> None:
        if store not in self.__dict__:
            raise AttributeError(f"cannot assign {kind} before Module.__init__() call")
        if not isinstance(name, str):
            raise TypeError(f"{kind} name should be a string. Got {_typename(name)}")
        if "." in name:
            raise KeyError(f"{kind} name can't contain \".\"")
        if name == "":
            raise KeyError(f"{kind} name can't be empty string \"\"")
        if hasattr(self, name) and name not in self.__dict__[store]:
            raise KeyError(f"attribute '{name}' already exists")

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Matches `torch.nn.Module.register_parameter`."""
        self._check_name("parameter", name, "_parameters")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign '{_typename(param)}' object to parameter '{name}' "
                            "(torch.nn.Parameter or None required)")
        if param is not None and param.grad_fn is not None:
            raise ValueError(
                f"Cannot assign non-leaf Tensor to parameter '{name}'. Model parameters must be "
                f"created explicitly. To express '{name}' as a function of another Tensor, "
                "compute the value in the forward() method.")
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Matches `torch.nn.Module.register_buffer`."""
        self._check_name("buffer", name, "_buffers")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign '{_typename(tensor)}' object to buffer '{name}' "
                            "(torch Tensor or None required)")
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        """Matches `torch.nn.Module.add_module`."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{_typename(module)} is not a Module subclass")
        if not isinstance(name, str):
            raise TypeError(f"module name should be a string. Got {_typename(name)}")
        if hasattr(self, name) and name not in self._modules:
            raise KeyError(f"attribute '{name}' already exists")
        if "." in name:
            raise KeyError(f"module name can't contain \".\", got: {name}")
        if name == "":
            raise KeyError("module name can't be empty string \"\"")
        self._modules[name] = module

    def register_module(self, name: str, module: Module | None) -> None:
        """Matches `torch.nn.Module.register_module` (an alias of add_module)."""
        self.add_module(name, module)

    def _remove_from(self, name: str, *stores: str) -> None:
        d = self.__dict__
        d.pop(name, None)
        for store in stores:
            d[store].pop(name, None)
        if "_buffers" in stores:
            d["_non_persistent_buffers_set"].discard(name)

    def __setattr__(self, name: str, value: Any) -> None:
        d = self.__dict__
        params = d.get("_parameters")
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            self._remove_from(name, "_buffers", "_modules")
            self.register_parameter(name, value)
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(f"cannot assign '{_typename(value)}' as parameter '{name}' "
                                "(torch.nn.Parameter or None expected)")
            params[name] = None
        elif isinstance(value, Module):
            if d.get("_modules") is None:
                raise AttributeError("cannot assign module before Module.__init__() call")
            self._remove_from(name, "_parameters", "_buffers")
            d["_modules"][name] = value
        elif d.get("_modules") is not None and name in d["_modules"]:
            if value is not None:
                raise TypeError(f"cannot assign '{_typename(value)}' as child module '{name}' "
                                "(torch.nn.Module or None expected)")
            d["_modules"][name] = None
        elif isinstance(value, Buffer) or (d.get("_buffers") is not None
                                           and name in d["_buffers"]):
            self._set_buffer(name, value)
        else:
            object.__setattr__(self, name, value)

    def _set_buffer(self, name: str, value: Any) -> None:
        if value is not None and not isinstance(value, Tensor):
            raise TypeError(f"cannot assign '{_typename(value)}' as buffer '{name}' "
                            "(torch.nn.Buffer, torch.Tensor or None expected)")
        if isinstance(value, Buffer):
            persistent = bool(value._extra["buffer"])  # type: ignore[index]
        else:
            persistent = name not in self._non_persistent_buffers_set
        self.register_buffer(name, value, persistent)

    def __getattr__(self, name: str) -> Any:
        d = self.__dict__  # runs for every parameter read in forward: kept to plain lookups
        if "_parameters" in d:
            if name in d["_parameters"]:
                return d["_parameters"][name]
            if name in d["_buffers"]:
                return d["_buffers"][name]
            if name in d["_modules"]:
                return d["_modules"][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        d = self.__dict__
        if name in d["_parameters"]:
            del d["_parameters"][name]
        elif name in d["_buffers"]:
            del d["_buffers"][name]
            d["_non_persistent_buffers_set"].discard(name)
        elif name in d["_modules"]:
            del d["_modules"][name]
        else:
            object.__delattr__(self, name)

    def __dir__(self) -> list[str]:
        keys = [*dir(type(self)), *self.__dict__, *self._parameters, *self._modules,
                *self._buffers]
        return sorted(k for k in set(keys) if not k[0].isdigit())

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        for key in ("_forward_pre_hooks", "_forward_hooks", "_backward_hooks",
                    "_backward_pre_hooks"):
            self.__dict__.setdefault(key, OrderedDict())
        for key in ("_forward_pre_hooks_with_kwargs", "_forward_hooks_with_kwargs"):
            self.__dict__.setdefault(key, {})
        self.__dict__.setdefault("_non_persistent_buffers_set", set())

    # ---- iteration ---------------------------------------------------------------------------
    def _named_members(self, get_members: Callable[[Module], Any], prefix: str = "",
                       recurse: bool = True,
                       remove_duplicate: bool = True) -> Iterator[tuple[str, Any]]:
        """One walk for parameters and buffers: pre-order over modules, each member once."""
        seen: set[int] = set()
        modules = (self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate)
                   if recurse else [(prefix, self)])
        for module_prefix, module in modules:
            for k, v in get_members(module):
                if v is None or id(v) in seen:
                    continue
                if remove_duplicate:
                    seen.add(id(v))
                yield (module_prefix + "." + k if module_prefix else k), v

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True) -> Iterator[tuple[str, Parameter]]:
        """Matches `torch.nn.Module.named_parameters`."""
        return self._named_members(lambda m: m._parameters.items(), prefix, recurse,
                                   remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """Matches `torch.nn.Module.parameters`."""
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Tensor]]:
        """Matches `torch.nn.Module.named_buffers`."""
        return self._named_members(lambda m: m._buffers.items(), prefix, recurse,
                                   remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        """Matches `torch.nn.Module.buffers`."""
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """Matches `torch.nn.Module.named_children`."""
        seen: set[int] = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def children(self) -> Iterator[Module]:
        """Matches `torch.nn.Module.children`."""
        for _, m in self.named_children():
            yield m

    def named_modules(self, memo: set[Any] | None = None, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Module]]:
        """Matches `torch.nn.Module.named_modules`."""
        if memo is None:
            memo = set()
        if id(self) in memo:
            return
        if remove_duplicate:
            memo.add(id(self))
        yield prefix, self
        for name, m in self._modules.items():
            if m is not None:
                yield from m.named_modules(memo, prefix + "." + name if prefix else name,
                                           remove_duplicate)

    def modules(self, remove_duplicate: bool = True) -> Iterator[Module]:
        """Matches `torch.nn.Module.modules`."""
        for _, m in self.named_modules(remove_duplicate=remove_duplicate):
            yield m

    def get_submodule(self, target: str) -> Module:
        """Matches `torch.nn.Module.get_submodule`."""
        if target == "":
            return self
        mod: Module = self
        for item in target.split("."):
            if not hasattr(mod, item):
                raise AttributeError(f"{mod._get_name()} has no attribute `{item}`")
            mod = getattr(mod, item)
            if not isinstance(mod, Module):
                raise AttributeError(f"`{item}` is not an nn.Module")
        return mod

    def set_submodule(self, target: str, module: Module, strict: bool = False) -> None:
        """Matches `torch.nn.Module.set_submodule`: replace (or, unless `strict`, add) the
        submodule at a dotted path; whatever sits at the path must itself be a Module."""
        if target == "":
            raise ValueError("Cannot set the submodule without a target name!")
        if not isinstance(module, Module):
            raise ValueError(f"`module` is not an nn.Module, found {type(module)}")
        parent_path, _, name = target.rpartition(".")
        parent = self.get_submodule(parent_path)
        if strict and not hasattr(parent, name):
            raise AttributeError(f"{parent._get_name()} has no attribute `{name}`")
        if hasattr(parent, name) and not isinstance(getattr(parent, name), Module):
            raise AttributeError(f"`{name}` is not an nn.Module")
        setattr(parent, name, module)

    def _get_member(self, target: str, kind: str) -> Any:
        module_path, _, name = target.rpartition(".")
        mod = self.get_submodule(module_path)
        if not hasattr(mod, name):
            raise AttributeError(f"{mod._get_name()} has no attribute `{name}`")
        store = mod._parameters if kind == "parameter" else mod._buffers
        if name not in store:
            raise AttributeError(f"`{name}` is not an nn.Parameter" if kind == "parameter"
                                 else f"`{name}` is not a buffer")
        return store[name]

    def get_parameter(self, target: str) -> Parameter:
        """Matches `torch.nn.Module.get_parameter`."""
        return self._get_member(target, "parameter")  # type: ignore[no-any-return]

    def get_buffer(self, target: str) -> Tensor:
        """Matches `torch.nn.Module.get_buffer`."""
        return self._get_member(target, "buffer")  # type: ignore[no-any-return]

    # ---- state_dict --------------------------------------------------------------------------
    def get_extra_state(self) -> Any:
        """Matches `torch.nn.Module.get_extra_state`: override it to save extra state."""
        raise RuntimeError("Reached a code path in Module.get_extra_state() that should never be "
                           "called.")

    def set_extra_state(self, state: Any) -> None:
        """Matches `torch.nn.Module.set_extra_state`."""
        raise RuntimeError("Reached a code path in Module.set_extra_state() that should never be "
                           "called.")

    def _has_extra_state(self) -> bool:
        return type(self).get_extra_state is not Module.get_extra_state

    def _save_to_state_dict(self, destination: dict[str, Any], prefix: str,
                            keep_vars: bool) -> None:
        for name, p in self._parameters.items():
            if p is not None:
                destination[prefix + name] = p if keep_vars else p.detach()
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent_buffers_set:
                destination[prefix + name] = b if keep_vars else b.detach()
        if self._has_extra_state():
            destination[prefix + _EXTRA_STATE_KEY_SUFFIX] = self.get_extra_state()

    def state_dict(self, *args: Any, destination: Any = None, prefix: str = "",
                   keep_vars: bool = False) -> Any:
        """Matches `torch.nn.Module.state_dict`: an OrderedDict with `_metadata`; values are
        detached tensors sharing data with the module's."""
        if args:  # torch's deprecated positional form (destination, prefix, keep_vars)
            destination = args[0]
            prefix = args[1] if len(args) > 1 else prefix
            keep_vars = args[2] if len(args) > 2 else keep_vars
        if destination is None:
            destination = OrderedDict()
            destination._metadata = OrderedDict()  # type: ignore[attr-defined]
        metadata = getattr(destination, "_metadata", None)
        local_metadata = {"version": self._version}
        if metadata is not None:
            metadata[prefix[:-1]] = local_metadata
        d = self.__dict__
        for hook in d.get("_state_dict_pre_hooks", {}).values():
            hook(self, prefix, keep_vars)
        self._save_to_state_dict(destination, prefix, keep_vars)
        for name, m in self._modules.items():
            if m is not None:
                m.state_dict(destination=destination, prefix=prefix + name + ".",
                             keep_vars=keep_vars)
        public = d.get("_state_dict_public_hooks", {})
        for hid, hook in d.get("_state_dict_hooks", {}).items():
            res = hook(self, destination, prefix, local_metadata)
            if hid in public and res is not None:
                raise RuntimeError("state_dict post-hook must return None")
            if res is not None:
                destination = res
        return destination

    def _load_from_state_dict(self, state_dict: Mapping[str, Any], prefix: str,
                              local_metadata: dict[str, Any], strict: bool,
                              missing_keys: list[str], unexpected_keys: list[str],
                              error_msgs: list[str]) -> None:
        """Check this module's own keys and queue their copies (torch's hook point)."""
        for hook in self.__dict__.get("_load_state_dict_pre_hooks", {}).values():
            hook(self, state_dict, prefix, local_metadata, strict, missing_keys,
                 unexpected_keys, error_msgs)
        persistent = {k: v for k, v in self._buffers.items()
                      if k not in self._non_persistent_buffers_set}
        local = {k: v for k, v in itertools.chain(self._parameters.items(), persistent.items())
                 if v is not None}
        assign = local_metadata.get("assign_to_params_buffers", False)
        for name, param in local.items():
            key = prefix + name
            if key not in state_dict:
                if strict:
                    missing_keys.append(key)
                continue
            value = state_dict[key]
            if not isinstance(value, Tensor):
                error_msgs.append(f'While copying the parameter named "{key}", expected '
                                  "torch.Tensor or Tensor-like object from checkpoint but "
                                  f"received {type(value)}")
                continue
            if param.ndim == 0 and value.ndim == 1 and value.numel() == 1:
                value = value.reshape(())  # torch's back-compat for 0-dim params
            if value.shape != param.shape:
                error_msgs.append(f"size mismatch for {key}: copying a param with shape "
                                  f"{value.shape} from checkpoint, the shape in current model "
                                  f"is {param.shape}.")
                continue
            self._queue_load(name, param, value, assign)
        extra_key = prefix + _EXTRA_STATE_KEY_SUFFIX
        if self._has_extra_state():
            if extra_key in state_dict:
                state = state_dict[extra_key]
                self._queue(lambda: self.set_extra_state(state))
            elif strict:
                missing_keys.append(extra_key)
        if strict:
            for key in state_dict:
                if key.startswith(prefix) and key != extra_key:
                    first = key[len(prefix):].split(".", 1)[0]
                    if first not in self._modules and first not in local:
                        unexpected_keys.append(key)

    @staticmethod
    def _queue(action: Callable[[], None]) -> None:
        if _pending_loads is None:
            action()
        else:
            _pending_loads.append(action)

    def _queue_load(self, name: str, param: Tensor, value: Tensor, assign: bool) -> None:
        if not assign:
            self._queue(lambda: _copy_into(param, value))
        elif isinstance(param, Parameter):
            new = value if isinstance(value, Parameter) else Parameter(
                value, requires_grad=param.requires_grad)
            self._queue(lambda: self._parameters.__setitem__(name, new))
        else:
            self._queue(lambda: self._buffers.__setitem__(name, value))

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True,
                        assign: bool = False) -> _IncompatibleKeys:
        """Matches `torch.nn.Module.load_state_dict`; on error nothing has been copied."""
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict)}.")
        global _pending_loads
        metadata = getattr(state_dict, "_metadata", None)
        sd: Any = OrderedDict(state_dict)
        if metadata is not None:
            sd._metadata = metadata
        missing: list[str] = []
        unexpected: list[str] = []
        errors: list[str] = []
        outer, _pending_loads = _pending_loads, []
        try:
            for prefix, m in self.named_modules(remove_duplicate=False):
                local_meta = dict(metadata.get(prefix, {})) if metadata is not None else {}
                if assign:
                    local_meta["assign_to_params_buffers"] = True
                p = prefix + "." if prefix else ""
                local_sd = {k: v for k, v in sd.items() if k.startswith(p)}
                m._load_from_state_dict(local_sd, p, local_meta, True, missing, unexpected,
                                        errors)
            pending = _pending_loads
        finally:
            _pending_loads = outer
        post_hooks = [(m, h) for m in _post_order(self)
                      for h in m.__dict__.get("_load_state_dict_post_hooks", {}).values()]
        if post_hooks and not errors:
            # torch runs these after the copies and before the strict check, and they may
            # edit the key lists; so with post-hooks, missing/unexpected keys are raised late
            for action in pending:
                action()
            pending = []
            result = _IncompatibleKeys(missing, unexpected)
            for m, hook in post_hooks:
                if hook(m, result) is not None:
                    raise AssertionError("Hooks registered with "
                                         "``register_load_state_dict_post_hook`` are not "
                                         "expected to return new values, if incompatible_keys "
                                         "need to be modified, it should be done inplace.")
        if strict:
            if unexpected:
                errors.insert(0, "Unexpected key(s) in state_dict: {}. ".format(
                    ", ".join(f'"{k}"' for k in unexpected)))
            if missing:
                errors.insert(0, "Missing key(s) in state_dict: {}. ".format(
                    ", ".join(f'"{k}"' for k in missing)))
        if errors:
            err = RuntimeError("Error(s) in loading state_dict for {}:\n\t{}".format(
                type(self).__name__, "\n\t".join(errors)))
            if strict and (missing or unexpected):  # the hint goes in a note: str(err) is torch's
                err.add_note("Pass strict=False to load_state_dict to skip missing and unexpected "
                             "keys (size mismatches still raise). Nothing was loaded.")
            raise err
        for action in pending:
            action()
        return _IncompatibleKeys(missing, unexpected)

    # ---- modes and conversion ----------------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        """Matches `torch.nn.Module.train`."""
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        self.training = mode
        for m in self.children():
            m.train(mode)
        return self

    def eval(self) -> Module:
        """Matches `torch.nn.Module.eval`."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Matches `torch.nn.Module.requires_grad_`."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Matches `torch.nn.Module.zero_grad`."""
        for p in self.parameters():
            g = p._grad
            if g is None:
                continue
            if set_to_none:
                p._grad = None
            else:
                g.grad_fn, g._requires_grad = None, False
                g._data[...] = 0
                g._version_ref[0] += 1

    def apply(self, fn: Callable[[Module], None]) -> Module:
        """Matches `torch.nn.Module.apply`: children first, then self."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    def _apply(self, fn: Callable[[np.ndarray], np.ndarray]) -> Module:
        """Convert every parameter (and its grad) and buffer in place, keeping each object."""
        for m in self.children():
            m._apply(fn)
        for t in itertools.chain(self._parameters.values(), self._buffers.values()):
            if t is None:
                continue
            t._data = fn(t._data)
            g = t._grad
            if g is not None:
                g._data = fn(g._data)
        return self

    def _convert_floats(self, d: _dt.dtype) -> Module:
        np_dtype = d.to_numpy()

        def convert(a: np.ndarray) -> np.ndarray:
            if a.dtype == np_dtype or not _is_float(a):
                return a
            return a.astype(np_dtype)

        return self._apply(convert)

    def to(self, *args: Any, **kwargs: Any) -> Module:
        """Matches `torch.nn.Module.to`: converts floating-point tensors in place."""
        from ember.size import device as _device

        dtype = kwargs.pop("dtype", None)
        dev = kwargs.pop("device", None)
        for a in args:
            if isinstance(a, Tensor):
                dtype = a.dtype
            elif isinstance(a, _dt.dtype) or (isinstance(a, str) and _is_dtype_name(a)):
                dtype = a
            elif a is not None:
                dev = a
        if dev is not None:
            _device(dev)  # only the CPU exists: anything else raises
        if dtype is None:
            return self
        d = _dt.to_dtype(dtype)
        if not d.is_floating_point:
            raise TypeError("nn.Module.to only accepts floating point or complex dtypes, but got "
                            f"desired dtype={d}")
        return self._convert_floats(d)

    def float(self) -> Module:
        """Matches `torch.nn.Module.float`."""
        return self._convert_floats(_dt.float32)

    def double(self) -> Module:
        """Matches `torch.nn.Module.double`."""
        return self._convert_floats(_dt.float64)

    def half(self) -> Module:
        """Matches `torch.nn.Module.half`."""
        return self._convert_floats(_dt.float16)

    def bfloat16(self) -> Module:
        """Matches `torch.nn.Module.bfloat16`."""
        return self._convert_floats(_dt.bfloat16)

    def type(self, dst_type: Any) -> Module:
        """Matches `torch.nn.Module.type`: every parameter and buffer, integers included."""
        np_dtype = _dt.to_dtype(dst_type).to_numpy()
        return self._apply(lambda a: a if a.dtype == np_dtype else a.astype(np_dtype))

    def to_empty(self, *, device: Any, recurse: bool = True) -> Module:
        """Matches `torch.nn.Module.to_empty`: uninitialised storage of the same shapes."""
        modules = self.modules() if recurse else [self]
        for m in modules:
            for t in itertools.chain(m._parameters.values(), m._buffers.values()):
                if t is not None:
                    t._data = np.empty_like(t._data)
        return self

    def cpu(self) -> Module:
        """Matches `torch.nn.Module.cpu`."""
        return self

    def cuda(self, device: Any = None) -> Module:
        """Matches `torch.nn.Module.cuda`; raises, as ember runs on the CPU only."""
        from ember.size import device as _device

        _device("cuda")
        return self

    def share_memory(self) -> Module:
        """Matches `torch.nn.Module.share_memory` (a no-op: NumPy arrays are shared by fork)."""
        return self

    # ---- repr --------------------------------------------------------------------------------
    def _get_name(self) -> str:
        return type(self).__name__

    def extra_repr(self) -> str:
        """Matches `torch.nn.Module.extra_repr`: override it to describe the layer."""
        return ""

    def _child_lines(self) -> list[str]:
        return [f"({name}): " + _addindent(repr(m), 2) for name, m in self._modules.items()]

    def __repr__(self) -> str:
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = self._child_lines()
        lines = extra_lines + child_lines
        main = self._get_name() + "("
        if lines:
            if len(extra_lines) == 1 and not child_lines:
                main += extra_lines[0]
            else:
                main += "\n  " + "\n  ".join(lines) + "\n"
        return main + ")"


class _BackwardHookState:
    """Per-call state shared by the identity nodes placed around a module's inputs and outputs."""

    def __init__(self, module: Module, n_inputs: int, waiting: int) -> None:
        self.module = module
        self.grad_inputs: list[Any] = [None] * n_inputs
        self.grad_outputs: tuple[Any, ...] = ()
        self.waiting = waiting  # input grads still to arrive before the hooks run

    def run_hooks(self) -> tuple[Any, ...]:
        grad_inputs = tuple(self.grad_inputs)
        for hook in list(self.module._backward_hooks.values()):
            res = hook(self.module, grad_inputs, self.grad_outputs)
            if res is not None:
                grad_inputs = tuple(res)
        return grad_inputs


def _hook_identity(x: Tensor, on_grad: Callable[[Any], Any]) -> Any:
    """x through an identity node whose backward passes the gradient to `on_grad`."""
    global _BackwardHookFunction
    if _BackwardHookFunction is None:
        from ember.autograd.function import Function

        class BackwardHookFunction(Function):
            @staticmethod
            def forward(ctx: Any, x: Tensor, on_grad: Any) -> Tensor:
                ctx.on_grad = on_grad
                return x

            @staticmethod
            def backward(ctx: Any, g: Tensor) -> Any:
                return ctx.on_grad(g), None

        _BackwardHookFunction = BackwardHookFunction
    return _BackwardHookFunction.apply(x, on_grad)


_BackwardHookFunction: Any = None  # defined on first use: ember.autograd imports ember.nn late


def _call_with_backward_hooks(module: Module, args: tuple[Any, ...],
                              kwargs: dict[str, Any]) -> Any:
    """Route gradients through identity nodes so the full backward hooks see (grad_input,
    grad_output). A hook's replacement of grad_input applies to the input whose gradient
    arrives last (with one tensor input, torch's behaviour exactly)."""
    needs = [i for i, a in enumerate(args) if isinstance(a, Tensor) and a.requires_grad]
    state = _BackwardHookState(module, len(args), len(needs))

    def input_hook(i: int) -> Callable[[Any], Any]:
        def on_grad(g: Tensor) -> Any:
            state.grad_inputs[i] = g
            state.waiting -= 1
            return state.run_hooks()[i] if state.waiting == 0 else g

        return on_grad

    new_args = list(args)
    for i in needs:
        new_args[i] = _hook_identity(args[i], input_hook(i))
    result = module.forward(*new_args, **kwargs)

    def output_hook(g: Tensor) -> Any:
        for hook in list(module._backward_pre_hooks.values()):
            res = hook(module, (g,))
            if res is not None:
                g = res[0] if isinstance(res, tuple) else res
        state.grad_outputs = (g,)
        if not needs and module._backward_hooks:
            warnings.warn("Full backward hook is firing when gradients are computed with respect "
                          "to module outputs since no inputs require gradients. See "
                          "https://docs.pytorch.org/docs/main/generated/torch.nn.Module.html"
                          "#torch.nn.Module.register_full_backward_hook for more details.",
                          stacklevel=2)
            state.run_hooks()
        return g

    if isinstance(result, Tensor) and result.requires_grad:
        result = _hook_identity(result, output_hook)
    return result


def register_module_forward_pre_hook(hook: Callable[..., Any]) -> RemovableHandle:
    """Matches `torch.nn.modules.module.register_module_forward_pre_hook`."""
    return Module._add_hook(_global_forward_pre_hooks, {}, hook, False, False)


def register_module_forward_hook(hook: Callable[..., Any], *, with_kwargs: bool = False,
                                 always_call: bool = False) -> RemovableHandle:
    """Matches `torch.nn.modules.module.register_module_forward_hook`."""
    return Module._add_hook(_global_forward_hooks, _global_forward_hooks_with_kwargs, hook,
                            False, with_kwargs)


def _note_module_path(e: Exception, module: Module) -> None:
    """Name the module an error came from in a note: `(raised in encoder.layers.3.fc1 (Linear))`.

    The innermost module's __call__ records itself; each enclosing one prepends the child's
    attribute name as the error passes through, so the path starts at the outermost call.
    """
    try:
        info = e.__dict__.get("_ember_module")
        if info is None:
            info = [module, [], type(module).__name__]
            e._ember_module = info  # type: ignore[attr-defined]
        else:
            inner, path = info[0], info[1]
            if inner is module:
                return
            name = next((n for n, m in module._modules.items() if m is inner), None)
            if name is None:
                name = next((n for n, m in module.named_modules() if m is inner), None)
            if name is None:
                return
            path.insert(0, name)
            info[0] = module
        where = ".".join(info[1]) or "the called module"
        note = f"(raised in {where} ({info[2]}))"
        notes = getattr(e, "__notes__", None)
        if notes and notes[-1].startswith("(raised in "):
            notes[-1] = note
        else:
            e.add_note(note)
    except Exception:  # the annotation must never hide the real error
        pass


def _post_order(module: Module) -> Iterator[Module]:
    """Children before parents, as torch's load() runs the load_state_dict post-hooks."""
    for m in module._modules.values():
        if m is not None:
            yield from _post_order(m)
    yield module


def _is_float(a: np.ndarray) -> bool:
    try:
        return _dt._BY_NP[a.dtype].is_floating_point
    except KeyError:
        return False


def _is_dtype_name(a: str) -> bool:
    return a.removeprefix("torch.").removeprefix("ember.") in _dt._BY_NAME
