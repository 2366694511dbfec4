"""Reading: the allow-list of globals a checkpoint may name, and the pickle interpreter that
never imports or calls anything outside it."""

from __future__ import annotations

import collections
import math
import mmap
import struct
from collections.abc import Callable
from typing import Any

import numpy as np

from ember import dtypes as _dt
from ember.serialization.errors import CheckpointError, UnpicklingError
from ember.serialization.pickler import _STORAGE_TYPES
from ember.tensor import Tensor

MAX_PICKLE_ITEMS = 10_000_000  # stack + memo entries: bounds memory of a hostile opcode stream


_SAFE_EXTRA: dict[tuple[str, str], Any] = {}
_NEVER_MODULES = ("os", "sys", "posix", "nt", "subprocess", "builtins", "__builtin__", "importlib",
                  "pickle", "marshal", "runpy", "code", "codeop", "types", "functools", "operator",
                  "pydoc", "pkgutil", "shutil", "socket", "ctypes", "cProfile", "timeit", "pip")


def add_safe_globals(safe_globals: list[Any]) -> None:
    """Matches `torch.serialization.add_safe_globals`: allow extra classes/functions by their
    `module.qualname` (plain data classes only; code-running modules stay refused)."""
    for g in safe_globals:
        obj, name = (g[0], g[1]) if isinstance(g, tuple) else (g, None)
        module = str(getattr(obj, "__module__", "") or "")
        qual = str(name or getattr(obj, "__qualname__", getattr(obj, "__name__", "")))
        if module.split(".")[0] in _NEVER_MODULES or not isinstance(obj, type):
            raise UnpicklingError(f"refusing to allow {module}.{qual}: only classes outside "
                                  "code-running modules can be allowed")
        _SAFE_EXTRA[(module, qual)] = obj


def get_safe_globals() -> list[Any]:
    """Matches `torch.serialization.get_safe_globals`."""
    return list(_SAFE_EXTRA.values())


class safe_globals:  # noqa: N801 - torch's name
    """Matches `torch.serialization.safe_globals`: a context manager around add_safe_globals."""

    def __init__(self, globs: list[Any]) -> None:
        self.globs = globs

    def __enter__(self) -> None:
        self._before = dict(_SAFE_EXTRA)
        add_safe_globals(self.globs)

    def __exit__(self, *exc: object) -> None:
        _SAFE_EXTRA.clear()
        _SAFE_EXTRA.update(self._before)


class _StorageType:
    """Stands for `torch.FloatStorage` etc. inside a persistent id."""

    def __init__(self, dtype: _dt.dtype) -> None:
        self.dtype = dtype


class _Storage:
    def __init__(self, arr: np.ndarray) -> None:
        self.arr = arr


def _rebuild_tensor_v2(storage: Any, offset: Any, size: Any, stride: Any, requires_grad: Any,
                       hooks: Any = None, metadata: Any = None) -> Tensor:
    if not isinstance(storage, _Storage):
        raise UnpicklingError("_rebuild_tensor_v2: the first argument is not a storage")
    size, stride = tuple(size), tuple(stride)
    if not (isinstance(offset, int) and all(isinstance(s, int) and not isinstance(s, bool)
                                            for s in size + stride)):
        raise UnpicklingError("tensor geometry must be integers")
    if len(size) != len(stride):
        raise UnpicklingError(f"tensor size {list(size)} and stride {list(stride)} differ in "
                              "length")
    buf = storage.arr
    numel = math.prod(size)
    if offset < 0 or any(s < 0 for s in size) or any(s < 0 for s in stride):
        raise CheckpointError("negative tensor size, stride or storage offset")
    if numel == 0:
        return Tensor._make(np.zeros(size, dtype=buf.dtype))
    last = offset + sum((n - 1) * s for n, s in zip(size, stride))
    if last >= buf.size:
        raise CheckpointError(f"tensor of size {list(size)} with stride {list(stride)} at offset "
                              f"{offset} reaches past its storage of {buf.size} elements")
    if numel > buf.size:  # overlapping strides: a small file that expands on use
        raise CheckpointError(f"tensor of {numel} elements views a storage of only {buf.size}: "
                              "overlapping (e.g. stride-0) views are refused")
    item = buf.itemsize
    arr = np.lib.stride_tricks.as_strided(buf[offset:], size, tuple(s * item for s in stride))
    t = Tensor._make(arr)
    if requires_grad is True and t.dtype.is_floating_point:
        t._requires_grad = True
    return t


def _rebuild_parameter(data: Any, requires_grad: Any, hooks: Any = None) -> Tensor:
    if not isinstance(data, Tensor):
        raise UnpicklingError("_rebuild_parameter: expected a tensor")
    from ember import nn

    return nn.Parameter(data, requires_grad=bool(requires_grad))  # type: ignore[attr-defined]


def _ordered_dict(*args: Any) -> Any:
    if args:
        raise UnpicklingError("OrderedDict() is only rebuilt empty, then filled")
    return collections.OrderedDict()


def _make_set(items: Any = ()) -> set[Any]:
    if not isinstance(items, list):
        raise UnpicklingError("set() expects a list")
    return set(items)


def _make_frozenset(items: Any = ()) -> frozenset[Any]:
    return frozenset(_make_set(items))


def _codecs_encode(text: Any, encoding: Any = "latin1") -> bytes:
    if not isinstance(text, str) or encoding != "latin1":
        raise UnpicklingError("_codecs.encode is only allowed for latin1 strings (pickled bytes)")
    return text.encode("latin1")


def _make_size(dims: Any = ()) -> Any:
    from ember.size import Size

    if not isinstance(dims, tuple):
        raise UnpicklingError("torch.Size expects a tuple")
    return Size(dims)


def _make_device(*args: Any) -> Any:
    from ember.size import device

    return device("cpu")  # map_location: everything loads onto the CPU


def _make_complex(*args: Any) -> complex:
    return complex(*[a for a in args if isinstance(a, (int, float))])


_CALLABLE = {
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("collections", "OrderedDict"): _ordered_dict,
    ("__builtin__", "set"): _make_set, ("builtins", "set"): _make_set,
    ("__builtin__", "frozenset"): _make_frozenset, ("builtins", "frozenset"): _make_frozenset,
    ("__builtin__", "complex"): _make_complex, ("builtins", "complex"): _make_complex,
    ("_codecs", "encode"): _codecs_encode,
    ("torch", "Size"): _make_size,
    ("torch", "device"): _make_device,
}


def _find_global(module: str, name: str) -> Any:
    """The allow-list: a dictionary lookup, never an import."""
    f = _CALLABLE.get((module, name))
    if f is not None:
        return f
    if module == "torch":
        if name in _STORAGE_TYPES:
            return _StorageType(_STORAGE_TYPES[name])
        d = _dt._BY_NAME.get(name)
        if d is not None:
            return d
        if name.endswith("Storage"):  # e.g. ComplexFloatStorage
            raise UnpicklingError(f"the checkpoint holds a tensor stored as torch.{name}, a dtype "
                                  "ember does not have")
    if (module, name) == ("torch._utils", "_rebuild_tensor_v3"):  # torch's newer dtypes only
        raise UnpicklingError("the checkpoint holds a tensor of a dtype ember does not have "
                              "(torch writes uint16/32/64 and float8 tensors with "
                              "_rebuild_tensor_v3)")
    extra = _SAFE_EXTRA.get((module, name))
    if extra is not None and module.split(".")[0] not in _NEVER_MODULES:
        return extra
    raise UnpicklingError(
        f"Weights only load failed: unsupported global {module}.{name} is not on ember's "
        "allow-list of checkpoint globals. If you trust this file's origin and the class only "
        "holds data, use ember.serialization.add_safe_globals([...]).")


class _Mark:
    pass


_MARK = _Mark()
_NO_STATE = object()


class _SafeUnpickler:
    """An iterative pickle interpreter for protocols 0-2 (and the harmless parts of 3-5).

    Containers are type-checked before every SETITEM/APPEND (CVE-2026-24747's class of bug) and
    every structural error becomes UnpicklingError, never IndexError/KeyError/struct.error."""

    def __init__(self, data: bytes | bytearray | mmap.mmap, persistent_load: Callable[[Any], Any],
                 pos: int = 0) -> None:
        self.data = data
        self.pos = pos
        self.persistent_load = persistent_load

    def _read(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise UnpicklingError("pickle data was truncated")
        b = bytes(self.data[self.pos:self.pos + n])  # no copy for bytes; a bytearray's slice
        self.pos += n
        return b

    def _line(self) -> bytes:
        end = self.data.find(b"\n", self.pos)
        if end < 0:
            raise UnpicklingError("pickle data was truncated (missing newline)")
        b = bytes(self.data[self.pos:end])
        self.pos = end + 1
        return b

    def load(self) -> Any:
        try:
            return self._run()
        except CheckpointError:
            raise
        except (IndexError, KeyError, struct.error, UnicodeDecodeError, ValueError, TypeError,
                OverflowError, MemoryError, RecursionError) as e:
            raise UnpicklingError(f"malformed pickle data: {type(e).__name__}: {e}") from None

    def _pop_mark(self, stack: list[Any], marks: list[int]) -> list[Any]:
        if not marks:
            raise UnpicklingError("pickle opcode expected a MARK that is not there")
        k = marks.pop()
        items = stack[k:]
        del stack[k:]
        return items

    def _run(self) -> Any:  # noqa: C901 - one opcode per branch reads best
        stack: list[Any] = []
        marks: list[int] = []
        memo: dict[int, Any] = {}
        read = self._read
        while True:
            if len(stack) + len(memo) > MAX_PICKLE_ITEMS:
                raise UnpicklingError("pickle data holds too many objects")
            op = read(1)
            if op == b"\x80":  # PROTO
                read(1)
            elif op == b"\x95":  # FRAME (protocol 4): the framing length is informational
                read(8)
            elif op == b".":  # STOP
                if len(stack) != 1 or marks:
                    raise UnpicklingError("pickle ended with an unbalanced stack")
                return stack.pop()
            elif op == b"(":
                marks.append(len(stack))
            elif op in (b"}", b"]", b")"):
                stack.append({b"}": dict, b"]": list, b")": tuple}[op]())
            elif op == b"\x8f":  # EMPTY_SET
                stack.append(set())
            elif op == b"N":
                stack.append(None)
            elif op == b"\x88" or op == b"\x89":
                stack.append(op == b"\x88")
            elif op == b"K":
                stack.append(read(1)[0])
            elif op == b"M":
                stack.append(struct.unpack("<H", read(2))[0])
            elif op == b"J":
                stack.append(struct.unpack("<i", read(4))[0])
            elif op == b"\x8a":  # LONG1
                n = read(1)[0]
                stack.append(int.from_bytes(read(n), "little", signed=True))
            elif op == b"\x8b":  # LONG4
                n = struct.unpack("<i", read(4))[0]
                if n > 1 << 16:
                    raise UnpicklingError("pickled integer is implausibly long")
                stack.append(int.from_bytes(read(n), "little", signed=True))
            elif op == b"I":  # INT (protocol 0)
                s = self._line()
                stack.append(True if s == b"01" else False if s == b"00" else int(s))
            elif op == b"L":  # LONG (protocol 0)
                stack.append(int(self._line().rstrip(b"L")))
            elif op == b"G":
                stack.append(struct.unpack(">d", read(8))[0])
            elif op == b"F":
                stack.append(float(self._line()))
            elif op == b"X":
                stack.append(read(struct.unpack("<I", read(4))[0]).decode("utf-8", "surrogatepass"))
            elif op == b"\x8c":  # SHORT_BINUNICODE
                stack.append(read(read(1)[0]).decode("utf-8", "surrogatepass"))
            elif op == b"\x8d":  # BINUNICODE8
                stack.append(read(struct.unpack("<Q", read(8))[0]).decode("utf-8", "surrogatepass"))
            elif op == b"U":  # SHORT_BINSTRING
                stack.append(read(read(1)[0]).decode("latin1"))
            elif op == b"T":  # BINSTRING
                stack.append(read(struct.unpack("<i", read(4))[0]).decode("latin1"))
            elif op == b"C":  # SHORT_BINBYTES
                stack.append(read(read(1)[0]))
            elif op == b"B":  # BINBYTES
                stack.append(read(struct.unpack("<I", read(4))[0]))
            elif op == b"\x8e":  # BINBYTES8
                stack.append(read(struct.unpack("<Q", read(8))[0]))
            elif op == b"t":
                stack.append(tuple(self._pop_mark(stack, marks)))
            elif op in (b"\x85", b"\x86", b"\x87"):
                n = op[0] - 0x84
                if len(stack) - (marks[-1] if marks else 0) < n:
                    raise UnpicklingError("stack underflow in TUPLE opcode")
                items = stack[-n:]
                del stack[-n:]
                stack.append(tuple(items))
            elif op == b"l":  # LIST
                stack.append(self._pop_mark(stack, marks))
            elif op == b"d":  # DICT
                items = self._pop_mark(stack, marks)
                if len(items) % 2:
                    raise UnpicklingError("DICT with an odd number of items")
                stack.append(dict(zip(items[::2], items[1::2])))
            elif op in (b"q", b"r", b"p", b"\x94"):  # BINPUT, LONG_BINPUT, PUT, MEMOIZE
                idx = (read(1)[0] if op == b"q" else struct.unpack("<I", read(4))[0] if op == b"r"
                       else int(self._line()) if op == b"p" else len(memo))
                if not stack:
                    raise UnpicklingError("memo PUT on an empty stack")
                memo[idx] = stack[-1]
            elif op in (b"h", b"j", b"g"):  # BINGET, LONG_BINGET, GET
                idx = (read(1)[0] if op == b"h" else struct.unpack("<I", read(4))[0] if op == b"j"
                       else int(self._line()))
                if idx not in memo:
                    raise UnpicklingError(f"memo key {idx} was never stored")
                stack.append(memo[idx])
            elif op == b"c":  # GLOBAL
                module = self._line().decode("ascii")
                name = self._line().decode("ascii")
                stack.append(_find_global(module, name))
            elif op == b"\x93":  # STACK_GLOBAL
                name, module = stack.pop(), stack.pop()
                if not (isinstance(module, str) and isinstance(name, str)):
                    raise UnpicklingError("STACK_GLOBAL needs two strings")
                stack.append(_find_global(module, name))
            elif op == b"R":  # REDUCE
                args = stack.pop()
                fn = stack.pop()
                if not (callable(fn) and (fn in _CALLABLE.values() or fn in _SAFE_EXTRA.values())):
                    raise UnpicklingError(f"REDUCE on a non-callable or non-allowed object "
                                          f"{type(fn).__name__}")
                if not isinstance(args, tuple):
                    raise UnpicklingError("REDUCE arguments must be a tuple")
                stack.append(fn(*args))
            elif op == b"\x81":  # NEWOBJ: only for classes the user explicitly allowed
                args = stack.pop()
                cls = stack.pop()
                if cls not in _SAFE_EXTRA.values() or not isinstance(args, tuple):
                    raise UnpicklingError("NEWOBJ on a class outside the allow-list")
                stack.append(cls.__new__(cls, *args))
            elif op == b"b":  # BUILD
                state = stack.pop()
                target = stack[-1]
                self._build(target, state)
            elif op == b"Q":  # BINPERSID
                stack.append(self.persistent_load(stack.pop()))
            elif op == b"P":  # PERSID (protocol 0)
                stack.append(self.persistent_load(self._line().decode("ascii")))
            elif op == b"s":  # SETITEM
                v = stack.pop()
                k = stack.pop()
                self._setitems(stack[-1], [k, v])
            elif op == b"u":  # SETITEMS
                items = self._pop_mark(stack, marks)
                if not stack:
                    raise UnpicklingError("SETITEMS without a target")
                self._setitems(stack[-1], items)
            elif op == b"a":  # APPEND
                v = stack.pop()
                self._append(stack[-1], [v])
            elif op == b"e":  # APPENDS
                items = self._pop_mark(stack, marks)
                if not stack:
                    raise UnpicklingError("APPENDS without a target")
                self._append(stack[-1], items)
            elif op == b"\x90":  # ADDITEMS
                items = self._pop_mark(stack, marks)
                if not stack or not isinstance(stack[-1], set):
                    raise UnpicklingError("ADDITEMS on something that is not a set")
                stack[-1].update(items)
            elif op == b"\x91":  # FROZENSET
                stack.append(frozenset(self._pop_mark(stack, marks)))
            elif op == b"0":  # POP
                if marks and marks[-1] == len(stack):
                    marks.pop()
                else:
                    stack.pop()
            elif op == b"1":  # POP_MARK
                self._pop_mark(stack, marks)
            elif op == b"2":  # DUP
                stack.append(stack[-1])
            else:
                raise UnpicklingError(f"unsupported pickle opcode {op!r} at byte {self.pos - 1} "
                                      "(checkpoints never need it)")

    @staticmethod
    def _setitems(target: Any, items: list[Any]) -> None:
        if type(target) not in (dict, collections.OrderedDict) or len(items) % 2:
            raise UnpicklingError(f"SETITEM(S) on a {type(target).__name__}, not a dict")
        for k, v in zip(items[::2], items[1::2]):
            if not isinstance(k, (str, int, float, bool, tuple, type(None), bytes)):
                raise UnpicklingError(f"unhashable or unexpected dict key type "
                                      f"{type(k).__name__}")
            target[k] = v

    @staticmethod
    def _append(target: Any, items: list[Any]) -> None:
        if type(target) is not list:
            raise UnpicklingError(f"APPEND(S) on a {type(target).__name__}, not a list")
        target.extend(items)

    @staticmethod
    def _build(target: Any, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2:  # (state, slotstate)
            state = state[1] if state[0] is None else state[0]
        if isinstance(target, collections.OrderedDict) and isinstance(state, dict):
            meta = state.get("_metadata")
            if set(state) - {"_metadata"}:
                raise UnpicklingError("BUILD may only set _metadata on an OrderedDict")
            target._metadata = meta  # type: ignore[attr-defined]
            return
        if isinstance(target, Tensor) and isinstance(state, (dict, collections.OrderedDict)):
            return  # torch's tensor state (hooks) carries nothing ember uses
        if type(target) in _SAFE_EXTRA.values() and isinstance(state, dict):
            target.__dict__.update(state)
            return
        raise UnpicklingError(f"BUILD on a {type(target).__name__} is not allowed")
