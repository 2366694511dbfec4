"""save/load: PyTorch's zip `.pt` format and `.safetensors`, read without ever running file code.

The `.pt` reader is a small pickle interpreter of its own (not `pickle.Unpickler`): a GLOBAL is
looked up in a fixed table of the names a tensor checkpoint needs and nothing is ever imported, so
no code named by a file can run. Every malformed input raises `CheckpointError` (a ValueError) or
one of its subclasses. Saving writes a temporary file beside the target, fsyncs it and renames it
over the target, so a crash never leaves a half-written checkpoint behind.
"""

from __future__ import annotations

import collections
import io
import json
import math
import os
import pickle
import struct
import tempfile
import zipfile
import zlib
from collections.abc import Callable
from typing import IO, Any, Literal

import numpy as np

from ember import dtypes as _dt
from ember.tensor import Tensor

__all__ = ["save", "load", "CheckpointError", "UnpicklingError", "CorruptCheckpointError",
           "add_safe_globals", "safe_globals", "get_safe_globals"]

MAX_SAFETENSORS_HEADER = 100_000_000
MAX_PICKLE_ITEMS = 10_000_000  # stack + memo entries: bounds memory of a hostile opcode stream


class CheckpointError(ValueError):
    """A checkpoint file is malformed, hostile, or not something ember reads."""


class UnpicklingError(CheckpointError, pickle.UnpicklingError):
    """The pickle inside a `.pt` file asks for something outside the allow-list, or is broken."""


class CorruptCheckpointError(CheckpointError):
    """The file is truncated or its container is damaged."""


# ---- the storage/dtype table shared by reader and writer ------------------------------------
_STORAGE_TYPES = {
    "FloatStorage": _dt.float32, "DoubleStorage": _dt.float64, "HalfStorage": _dt.float16,
    "BFloat16Storage": _dt.bfloat16, "LongStorage": _dt.int64, "IntStorage": _dt.int32,
    "ShortStorage": _dt.int16, "CharStorage": _dt.int8, "ByteStorage": _dt.uint8,
    "BoolStorage": _dt.bool_,
}
_STORAGE_OF = {d: name for name, d in _STORAGE_TYPES.items()}
_ST_DTYPES = {"F32": _dt.float32, "F64": _dt.float64, "F16": _dt.float16, "BF16": _dt.bfloat16,
              "I64": _dt.int64, "I32": _dt.int32, "I16": _dt.int16, "I8": _dt.int8,
              "U8": _dt.uint8, "BOOL": _dt.bool_}
_ST_NAME = {d: n for n, d in _ST_DTYPES.items()}


# ================================ writing ========================================================
class _PickleWriter:
    """Emits a protocol-2 pickle of checkpoint data with the opcodes torch.save produces."""

    def __init__(self) -> None:
        self.out = io.BytesIO()
        self.storages: dict[int, tuple[str, np.ndarray]] = {}  # id(root array) -> (key, array)
        self._globals: dict[str, int] = {}
        self._memo = 0

    def _put(self) -> None:
        self.out.write(b"q" + bytes([self._memo]) if self._memo < 256
                       else b"r" + struct.pack("<I", self._memo))
        self._memo += 1

    def _global(self, module: str, name: str) -> None:
        key = module + " " + name
        if key in self._globals:
            i = self._globals[key]
            self.out.write(b"h" + bytes([i]) if i < 256 else b"j" + struct.pack("<I", i))
            return
        self.out.write(b"c" + f"{module}\n{name}\n".encode())
        self._globals[key] = self._memo
        self._put()

    def dump(self, obj: Any) -> bytes:
        self.out.write(b"\x80\x02")
        self._save(obj, 0)
        self.out.write(b".")
        return self.out.getvalue()

    def _save(self, obj: Any, depth: int) -> None:
        if depth > 1000:
            raise ValueError("ember.save: the object is nested more than 1000 levels deep")
        w = self.out.write
        if obj is None:
            w(b"N")
        elif obj is True or obj is False:
            w(b"\x88" if obj else b"\x89")
        elif isinstance(obj, (int, np.integer)) and not isinstance(obj, Tensor):
            self._int(int(obj))
        elif isinstance(obj, (float, np.floating)):
            w(b"G" + struct.pack(">d", float(obj)))
        elif isinstance(obj, str):
            data = obj.encode("utf-8", "surrogatepass")
            w(b"X" + struct.pack("<I", len(data)) + data)
            self._put()
        elif isinstance(obj, (bytes, bytearray)):
            self._global("_codecs", "encode")  # how protocol 2 spells bytes
            self._save((bytes(obj).decode("latin1"), "latin1"), depth + 1)
            w(b"R")
            self._put()
        elif isinstance(obj, Tensor):
            self._tensor(obj, depth)
        elif isinstance(obj, _dt.dtype):
            self._global("torch", obj.name)
        elif isinstance(obj, tuple) and type(obj).__name__ == "Size":
            self._global("torch", "Size")
            self._save(tuple(int(s) for s in obj), depth + 1)
            w(b"\x85R")
            self._put()
        elif isinstance(obj, tuple):
            self._tuple(obj, depth)
        elif isinstance(obj, list):
            w(b"]")
            self._put()
            self._items(obj, b"e", depth)
        elif isinstance(obj, collections.OrderedDict):
            self._global("collections", "OrderedDict")
            w(b")R")
            self._put()
            self._dict_items(obj, depth)
            meta = getattr(obj, "_metadata", None)
            if meta is not None:  # torch keeps per-module versions on state_dicts: BUILD sets it
                w(b"}")
                self._put()
                self._save("_metadata", depth + 1)
                self._save(meta, depth + 1)
                w(b"sb")
        elif isinstance(obj, dict):
            w(b"}")
            self._put()
            self._dict_items(obj, depth)
        elif isinstance(obj, (set, frozenset)):
            self._global("__builtin__", type(obj).__name__)
            w(b"]")
            self._put()
            self._items(list(obj), b"e", depth)
            w(b"\x85R")
            self._put()
        elif type(obj).__name__ == "device":
            self._global("torch", "device")
            self._save((str(obj),), depth + 1)
            w(b"R")
            self._put()
        else:
            raise TypeError(f"ember.save: cannot save an object of type {type(obj).__name__}; "
                            "checkpoints hold tensors, numbers, strings, bytes, None and "
                            "dicts/lists/tuples/sets of them")

    def _int(self, v: int) -> None:
        if 0 <= v < 256:
            self.out.write(b"K" + bytes([v]))
        elif 0 <= v < 65536:
            self.out.write(b"M" + struct.pack("<H", v))
        elif -(2**31) <= v < 2**31:
            self.out.write(b"J" + struct.pack("<i", v))
        else:
            data = v.to_bytes((v.bit_length() + 8) // 8, "little", signed=True)
            self.out.write(b"\x8a" + bytes([len(data)]) + data)

    def _tuple(self, obj: tuple[Any, ...], depth: int) -> None:
        if not obj:
            self.out.write(b")")
            return
        if len(obj) <= 3:
            for x in obj:
                self._save(x, depth + 1)
            self.out.write(b"\x85\x86\x87"[len(obj) - 1:len(obj)])
        else:
            self.out.write(b"(")
            for x in obj:
                self._save(x, depth + 1)
            self.out.write(b"t")
        self._put()

    def _items(self, items: list[Any], op: bytes, depth: int) -> None:
        for start in range(0, len(items), 1000):  # batches of 1000, as pickle does
            self.out.write(b"(")
            for x in items[start:start + 1000]:
                self._save(x, depth + 1)
            self.out.write(op)

    def _dict_items(self, d: dict[Any, Any], depth: int) -> None:
        items = list(d.items())
        for start in range(0, len(items), 1000):
            self.out.write(b"(")
            for k, v in items[start:start + 1000]:
                self._save(k, depth + 1)
                self._save(v, depth + 1)
            self.out.write(b"u")

    def _tensor(self, t: Tensor, depth: int) -> None:
        arr = t._data
        root, offset, stride = _storage_of(arr)
        key_arr = self.storages.get(id(root))
        if key_arr is None:
            key_arr = (str(len(self.storages)), root)
            self.storages[id(root)] = key_arr
        is_param = type(t).__name__ == "Parameter"
        if is_param:
            self._global("torch._utils", "_rebuild_parameter")
        self._global("torch._utils", "_rebuild_tensor_v2")
        w = self.out.write
        w(b"(")
        # persistent id: ('storage', torch.<X>Storage, key, 'cpu', numel)
        w(b"(")
        self._save("storage", depth + 1)
        self._global("torch", _STORAGE_OF[t.dtype])
        self._save(key_arr[0], depth + 1)
        self._save("cpu", depth + 1)
        self._int(root.size)
        w(b"t")
        self._put()
        w(b"Q")
        self._int(offset)
        self._tuple(tuple(int(s) for s in arr.shape), depth + 1)
        self._tuple(stride, depth + 1)
        w(b"\x88" if (t.requires_grad and not is_param) else b"\x89")
        self._global("collections", "OrderedDict")
        w(b")R")
        self._put()
        w(b"t")
        self._put()
        w(b"R")
        self._put()
        if is_param:
            w(b"\x88" if t.requires_grad else b"\x89")
            self._global("collections", "OrderedDict")
            w(b")R")
            self._put()
            w(b"\x87R")
            self._put()


def _storage_of(arr: np.ndarray) -> tuple[np.ndarray, int, tuple[int, ...]]:
    """The array whose whole buffer is saved (shared by views), the element offset and strides.

    Views of one C-contiguous NumPy base share one storage, as torch's views do; anything else
    (broadcast/negative strides, foreign buffers) is saved as a packed copy of its own.
    """
    root = arr
    while isinstance(root.base, np.ndarray):
        root = root.base
    item = arr.itemsize
    if (root is not arr and root.flags.c_contiguous and root.dtype == arr.dtype and arr.size
            and all(n == 1 or (s > 0 and s % item == 0) for n, s in zip(arr.shape, arr.strides))):
        start = arr.__array_interface__["data"][0] - root.__array_interface__["data"][0]
        if start >= 0 and start % item == 0:
            strides = tuple(max(s, 0) // item for s in arr.strides)
            offset = start // item
            last = offset + sum((n - 1) * s for n, s in zip(arr.shape, strides)) if arr.size else 0
            if last < root.size:
                return root, offset, strides
    if not arr.flags.c_contiguous or root is not arr:
        arr = np.ascontiguousarray(arr)
        if arr.base is not None:
            arr = arr.copy()
    strides = tuple(s // item for s in arr.strides) if arr.ndim else ()
    if arr.size == 0:
        strides = tuple(int(np.prod(arr.shape[i + 1:])) for i in range(arr.ndim))
    return arr, 0, strides


def _write_pt(obj: Any, f: IO[bytes], root: str) -> None:
    writer = _PickleWriter()
    data_pkl = writer.dump(obj)
    with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED) as z:
        _add(z, f"{root}/data.pkl", data_pkl)
        _add(z, f"{root}/.format_version", b"1")
        _add(z, f"{root}/.storage_alignment", b"64")
        _add(z, f"{root}/byteorder", b"little")
        for key, arr in writer.storages.values():
            _add(z, f"{root}/data/{key}", _le_bytes(arr), align=True)
        _add(z, f"{root}/version", b"3\n")
        _add(z, f"{root}/.data/serialization_id", b"%040d" % (int.from_bytes(os.urandom(16),
                                                                            "little") % 10**40))


def _le_bytes(arr: np.ndarray) -> bytes | memoryview:
    if arr.dtype.byteorder == ">":
        arr = arr.astype(arr.dtype.newbyteorder("<"))
    if arr.dtype == _dt.bfloat16.np:
        return np.ascontiguousarray(arr).view(np.uint16).data
    return np.ascontiguousarray(arr).data


def _add(z: zipfile.ZipFile, name: str, data: Any, align: bool = False) -> None:
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_STORED
    if align:  # pad the local header's extra field so the payload starts at a multiple of 64
        fp = z.fp
        assert fp is not None
        start = fp.tell() + 30 + len(name.encode())
        pad = (-(start + 4)) % 64
        info.extra = struct.pack("<HH", 0x4246, pad) + b"F" * pad  # 'FB' id, like torch
    z.writestr(info, bytes(data) if isinstance(data, memoryview) else data)


def _write_safetensors(obj: Any, f: IO[bytes], metadata: dict[str, str] | None) -> None:
    if not isinstance(obj, dict) or not all(isinstance(v, Tensor) for v in obj.values()):
        raise TypeError("a .safetensors file holds a flat dict of tensors (str -> Tensor)")
    header: dict[str, Any] = {}
    if metadata:
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise TypeError("safetensors metadata must map str to str")
        header["__metadata__"] = dict(metadata)
    blobs = []
    offset = 0
    for name, t in obj.items():
        if not isinstance(name, str) or name == "__metadata__":
            raise ValueError(f"invalid safetensors tensor name {name!r}")
        data = bytes(_le_bytes(np.ascontiguousarray(t._data)))
        header[name] = {"dtype": _ST_NAME[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * ((-len(head)) % 8)
    f.write(struct.pack("<Q", len(head)) + head)
    for b in blobs:
        f.write(b)


def save(obj: Any, f: Any, pickle_module: Any = None, pickle_protocol: int = 2,
         _use_new_zipfile_serialization: bool = True, *,
         metadata: dict[str, str] | None = None) -> None:
    """Matches `torch.save`: PyTorch's zip format (readable by `torch.load(weights_only=True)`),
    or safetensors when the path ends in `.safetensors`. A path is written atomically: a temp
    file in the same directory, flushed, fsynced, renamed over the target, directory fsynced."""
    if isinstance(f, (str, os.PathLike)):
        path = os.fspath(f)
        st = path.endswith(".safetensors")
        root = os.path.splitext(os.path.basename(path))[0] or "archive"
        _atomic_write(path, lambda fh: _write_safetensors(obj, fh, metadata) if st
                      else _write_pt(obj, fh, root))
    else:
        _write_pt(obj, f, "archive")


def _atomic_write(path: str, write: Callable[[IO[bytes]], None]) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    base = os.path.basename(path)
    # the writer's pid is in the name, so a later save can tell a dead writer's leftovers
    fd, tmp = tempfile.mkstemp(prefix=f".{base}.{os.getpid()}.", suffix=".ember-tmp",
                               dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)  # mkstemp makes 0600; a plain create respects the umask
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:
        dfd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
    _remove_dead_temps(directory, base)


def _remove_dead_temps(directory: str, base: str) -> None:
    """Delete temp files of earlier saves of this target whose writing process has died."""
    for entry in os.listdir(directory):
        if not (entry.startswith(f".{base}.") and entry.endswith(".ember-tmp")):
            continue
        pid = entry[len(base) + 2:].split(".", 1)[0]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
            continue  # still running: maybe a concurrent save
        except ProcessLookupError:
            pass
        except OSError:
            continue
        try:
            os.unlink(os.path.join(directory, entry))
        except OSError:
            pass


# ================================ reading ========================================================
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

    def __init__(self, data: bytes | bytearray, persistent_load: Callable[[Any], Any],
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


def _read_pt_zip(fh: Any, size: int, name: str) -> Any:
    try:
        z = zipfile.ZipFile(fh)
        infos = z.infolist()
    except Exception as e:  # zipfile raises many types on damaged input; all mean "corrupt"
        raise CorruptCheckpointError(f"{name}: not a readable zip archive ({e}); the checkpoint is "
                                     "incomplete or corrupted") from None
    names = [i.filename for i in infos]
    if len(set(names)) != len(names):
        raise CheckpointError(f"{name}: duplicate entries in the archive")
    for i in infos:
        n = i.filename
        if (n.startswith(("/", "\\")) or "\\" in n or "\x00" in n or ":" in n
                or ".." in n.split("/")):
            raise CheckpointError(f"{name}: unsafe entry name {n!r} in the archive")
        if i.compress_type != zipfile.ZIP_STORED:
            raise CheckpointError(f"{name}: entry {n!r} is compressed; ember reads only stored "
                                  "(uncompressed) entries, as torch.save writes them")
        if i.file_size > size or i.compress_size > size:
            raise CorruptCheckpointError(f"{name}: entry {n!r} claims more bytes than the file has")
    pkl = [n for n in names if n.endswith("data.pkl") and n.count("/") == 1]
    if len(pkl) != 1:
        if any(n.endswith("constants.pkl") for n in names):
            raise CheckpointError(f"{name}: a TorchScript archive, not a checkpoint; ember does "
                                  "not load TorchScript")
        raise CheckpointError(f"{name}: the archive has no (or several) <root>/data.pkl records")
    prefix = pkl[0][: -len("data.pkl")]
    if any(not n.startswith(prefix) for n in names):
        raise CheckpointError(f"{name}: entries outside the archive's folder {prefix!r}")

    def member(n: str) -> bytes:
        try:
            return z.read(n)
        except Exception as e:  # NotImplementedError, BadZipFile, OSError, ...: all "corrupt"
            raise CorruptCheckpointError(f"{name}: entry {n!r} is damaged ({e}); the checkpoint "
                                         "is incomplete or corrupted") from None

    byteorder = member(prefix + "byteorder").decode() if prefix + "byteorder" in names else "little"
    if byteorder not in ("little", "big"):
        raise CheckpointError(f"{name}: unknown byteorder {byteorder!r}")
    storages: dict[str, _Storage] = {}
    used: set[str] = set()

    def persistent_load(pid: Any) -> _Storage:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"
                and isinstance(pid[1], _StorageType) and isinstance(pid[2], str)
                and isinstance(pid[4], int) and not isinstance(pid[4], bool)):
            raise UnpicklingError(f"unsupported persistent id {pid!r:.100}")
        stype, key, numel = pid[1], pid[2], pid[4]
        if key in storages:
            return storages[key]
        entry = f"{prefix}data/{key}"
        if entry not in names:
            raise CheckpointError(f"{name}: storage {key!r} has no record {entry!r}")
        np_dtype = stype.dtype.to_numpy()
        raw_dtype = np.dtype(np.uint16) if stype.dtype is _dt.bfloat16 else np_dtype
        if numel < 0:
            raise CheckpointError(f"{name}: storage {key!r} declares {numel} elements")
        want = numel * raw_dtype.itemsize
        info = z.getinfo(entry)
        if info.file_size != want:
            raise CheckpointError(f"{name}: storage {key!r} record holds {info.file_size} bytes, "
                                  f"but {numel} elements of {stype.dtype.name} need {want}")
        buf = _read_stored(fh, info, want, name)
        arr = np.frombuffer(buf, dtype=raw_dtype.newbyteorder("<" if byteorder == "little"
                                                              else ">"))
        if byteorder == "big":
            arr = arr.astype(raw_dtype)
        if stype.dtype is _dt.bfloat16:
            arr = arr.view(np_dtype)
        if stype.dtype is _dt.bool_ and arr.size and arr.view(np.uint8).max() > 1:
            raise CheckpointError(f"{name}: storage {key!r} has bool bytes other than 0 and 1")
        storages[key] = _Storage(arr)
        used.add(entry)
        return storages[key]

    obj = _SafeUnpickler(member(pkl[0]), persistent_load).load()
    stray = [n for n in names if n.startswith(prefix + "data/") and n not in used]
    if stray:
        raise CheckpointError(f"{name}: records not referenced by the checkpoint: {stray[:5]}")
    return obj


_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001


def _read_pt_legacy(raw: bytearray, name: str) -> Any:
    """torch.save(..., _use_new_zipfile_serialization=False): five pickles (magic number,
    protocol version, sys_info, the object, the storage keys), then each storage as an int64
    element count and its bytes. Storages are allocated while the object is unpickled and filled
    afterwards, so their declared sizes are checked against the file's size before allocating."""
    where = f"{name}: legacy (non-zip) checkpoint"
    pos = 0

    def next_pickle(persistent_load: Callable[[Any], Any] = _no_persistent_ids) -> Any:
        nonlocal pos
        u = _SafeUnpickler(raw, persistent_load, pos)
        try:
            obj = u.load()
        except UnpicklingError as e:
            raise UnpicklingError(f"{where}: {e}") from None if where not in str(e) else e
        pos = u.pos
        return obj

    if next_pickle() != _LEGACY_MAGIC:
        raise CheckpointError(f"{where}: invalid magic number; the file is corrupt")
    if next_pickle() != _LEGACY_PROTOCOL:
        raise CheckpointError(f"{where}: unsupported protocol version (expected 1001)")
    sys_info = next_pickle()
    if not (isinstance(sys_info, dict) and isinstance(sys_info.get("little_endian"), bool)):
        raise CheckpointError(f"{where}: malformed sys_info record")
    order: Literal["<", ">"] = "<" if sys_info["little_endian"] else ">"
    roots: dict[str, _Storage] = {}
    views: dict[str, _Storage] = {}
    budget = [len(raw)]  # declared storage bytes may not exceed the file's size

    def persistent_load(pid: Any) -> _Storage:
        if not (isinstance(pid, tuple) and len(pid) == 6 and pid[0] == "storage"
                and isinstance(pid[1], _StorageType) and isinstance(pid[2], str)
                and type(pid[4]) is int and pid[4] >= 0):
            raise UnpicklingError(f"{where}: unsupported persistent id {pid!r:.100}")
        stype, key, numel, view = pid[1], pid[2], pid[4], pid[5]
        root = roots.get(key)
        if root is None:
            np_dtype = stype.dtype.to_numpy()
            budget[0] -= numel * np_dtype.itemsize
            if budget[0] < 0:
                raise CheckpointError(f"{where}: storages declare more bytes than the file has")
            root = roots[key] = _Storage(np.zeros(numel, dtype=np_dtype))
        elif root.arr.dtype != stype.dtype.to_numpy() or root.arr.size != numel:
            raise CheckpointError(f"{where}: storage {key!r} is declared twice differently")
        if view is None:
            return root
        if not (isinstance(view, tuple) and len(view) == 3 and isinstance(view[0], str)
                and all(type(v) is int and v >= 0 for v in view[1:])
                and view[1] + view[2] <= numel):
            raise CheckpointError(f"{where}: malformed storage view {view!r:.100}")
        if view[0] not in views:
            views[view[0]] = _Storage(root.arr[view[1]:view[1] + view[2]])
        return views[view[0]]

    obj = next_pickle(persistent_load)
    keys = next_pickle()
    if not (isinstance(keys, list) and sorted(keys) == sorted(roots)
            and len(set(keys)) == len(keys)):
        raise CheckpointError(f"{where}: the storage key list does not match the storages used")
    for key in keys:
        arr = roots[key].arr
        if pos + 8 > len(raw):
            raise CorruptCheckpointError(f"{where}: storage {key!r} is truncated")
        (count,) = struct.unpack(order + "q", raw[pos:pos + 8])
        nbytes = arr.size * arr.itemsize
        if count != arr.size or pos + 8 + nbytes > len(raw):
            raise CorruptCheckpointError(f"{where}: storage {key!r} holds {count} elements "
                                         f"(expected {arr.size}) or is truncated")
        raw_dtype = np.dtype(np.uint16) if arr.dtype == _dt.bfloat16.np else arr.dtype
        data = np.frombuffer(raw, dtype=raw_dtype.newbyteorder(order), count=arr.size,
                             offset=pos + 8)
        arr.view(raw_dtype)[...] = data  # converts to native order
        if arr.dtype == np.bool_ and arr.size and arr.view(np.uint8).max() > 1:
            raise CheckpointError(f"{where}: storage {key!r} has bool bytes other than 0 and 1")
        pos += 8 + nbytes
    if pos != len(raw):
        raise CheckpointError(f"{where}: {len(raw) - pos} unexpected bytes after the storages")
    return obj


def _no_persistent_ids(pid: Any) -> Any:
    raise UnpicklingError(f"unexpected persistent id {pid!r:.100}")


def _read_stored(fh: Any, info: zipfile.ZipInfo, size: int, name: str) -> bytearray:
    """A stored member's bytes read straight into a writable buffer (one allocation, no copy),
    CRC-checked, so a tensor can own the memory."""
    fh.seek(info.header_offset)
    local = fh.read(30)
    if len(local) != 30 or local[:4] != b"PK\x03\x04":
        raise CorruptCheckpointError(f"{name}: bad local header for {info.filename!r}; the "
                                     "checkpoint is incomplete or corrupted")
    name_len, extra_len = struct.unpack("<HH", local[26:30])
    fh.seek(info.header_offset + 30 + name_len + extra_len)
    buf = bytearray(size)
    if fh.readinto(buf) != size:
        raise CorruptCheckpointError(f"{name}: entry {info.filename!r} is truncated; the "
                                     "checkpoint is incomplete or corrupted")
    if zlib.crc32(buf) != info.CRC:
        raise CorruptCheckpointError(f"{name}: entry {info.filename!r} fails its CRC check; the "
                                     "checkpoint is corrupted")
    return buf


def _read_safetensors(raw: bytearray, name: str) -> dict[str, Tensor]:
    if len(raw) < 8:
        raise CorruptCheckpointError(f"{name}: too short for a safetensors file")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > MAX_SAFETENSORS_HEADER:
        raise CheckpointError(f"{name}: safetensors header of {n} bytes exceeds the "
                              f"{MAX_SAFETENSORS_HEADER}-byte limit")
    if n == 0 or 8 + n > len(raw):
        raise CorruptCheckpointError(f"{name}: safetensors header length {n} does not fit in the "
                                     f"{len(raw)}-byte file")
    head = raw[8:8 + n]
    if head[:1] != b"{":
        raise CheckpointError(f"{name}: safetensors header does not start with '{{'")

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in pairs]
        if len(set(keys)) != len(keys):
            raise CheckpointError(f"{name}: duplicate key in the safetensors header")
        return dict(pairs)

    try:
        header = json.loads(head.decode("utf-8"), object_pairs_hook=no_duplicates)
    except CheckpointError:
        raise
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise CheckpointError(f"{name}: safetensors header is not valid UTF-8 JSON: "
                              f"{type(e).__name__}") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{name}: safetensors header is not a JSON object")
    meta = header.pop("__metadata__", None)
    if meta is not None and not (isinstance(meta, dict) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in meta.items())):
        raise CheckpointError(f"{name}: __metadata__ must map strings to strings")
    body = memoryview(raw)[8 + n:]
    entries = []
    for order, (tname, info) in enumerate(header.items()):
        if not (isinstance(info, dict) and set(info) == {"dtype", "shape", "data_offsets"}):
            raise CheckpointError(f"{name}: tensor {tname!r}: malformed entry")
        dt = _ST_DTYPES.get(info["dtype"]) if isinstance(info["dtype"], str) else None
        shape, offs = info["shape"], info["data_offsets"]
        if dt is None:
            raise CheckpointError(f"{name}: tensor {tname!r}: unknown dtype {info['dtype']!r}")
        if not (isinstance(shape, list) and all(type(s) is int and s >= 0 for s in shape)):
            raise CheckpointError(f"{name}: tensor {tname!r}: invalid shape {shape!r:.80}")
        if not (isinstance(offs, list) and len(offs) == 2
                and all(type(o) is int and o >= 0 for o in offs) and offs[0] <= offs[1]):
            raise CheckpointError(f"{name}: tensor {tname!r}: invalid data_offsets {offs!r:.80}")
        nbytes = math.prod(shape) * dt.itemsize  # Python ints: no overflow
        if offs[1] - offs[0] != nbytes:
            raise CheckpointError(f"{name}: tensor {tname!r}: {offs[1] - offs[0]} bytes for shape "
                                  f"{shape} of {dt.name} (needs {nbytes})")
        entries.append((offs[0], offs[1], tname, dt, shape, order))
    entries.sort(key=lambda e: (e[0], e[1]))
    pos = 0
    for begin, end, tname, _, _, _ in entries:
        if begin != pos:
            raise CheckpointError(f"{name}: tensor {tname!r} starts at byte {begin}, expected "
                                  f"{pos} (overlapping or gapped data)")
        pos = end
    if pos != len(body):
        raise CheckpointError(f"{name}: {len(body) - pos} bytes after the last tensor (or the file "
                              "is truncated)" if pos <= len(body) else
                              f"{name}: the tensors need {pos} bytes but the file has "
                              f"{len(body)}; it is incomplete or corrupted")
    out: dict[str, Tensor] = {}
    for begin, end, tname, dt, shape, _ in sorted(entries, key=lambda e: e[5]):  # file order
        np_dt = np.dtype(np.uint16) if dt is _dt.bfloat16 else dt.to_numpy()
        arr = np.frombuffer(body[begin:end], dtype=np_dt)  # a view into the file's bytearray
        if dt is _dt.bfloat16:
            arr = arr.view(dt.to_numpy())
        if dt is _dt.bool_ and arr.size and arr.view(np.uint8).max() > 1:
            raise CheckpointError(f"{name}: tensor {tname!r} has bool bytes other than 0 and 1")
        out[tname] = Tensor._make(arr.reshape(shape))
    return out


def load(f: Any, map_location: Any = None, pickle_module: Any = None, *,
         weights_only: bool | None = True, mmap: bool | None = None, **kwargs: Any) -> Any:
    """Matches `torch.load` with `weights_only=True` (the default): reads PyTorch zip checkpoints
    and safetensors files (recognised from their bytes), onto the CPU, without running any code
    from the file. `weights_only=False` is refused: ember has no code-executing loader."""
    if weights_only is False:
        raise CheckpointError(
            "ember.load(weights_only=False) is not supported: ember never unpickles arbitrary "
            "objects. Save plain data (tensors, numbers, strings, dicts/lists) or allow your own "
            "data classes with ember.serialization.add_safe_globals([...]).")
    if isinstance(f, (str, os.PathLike)):
        name = os.fspath(f)
        with open(name, "rb") as fh:
            return _load_from(fh, name)
    if not hasattr(f, "read"):
        raise TypeError("ember.load expects a path or a binary file object, got "
                        f"{type(f).__name__}")
    stream: Any = f if _seekable(f) else io.BytesIO(f.read())
    return _load_from(stream, str(getattr(f, "name", "<file object>")))


def _seekable(f: Any) -> bool:
    try:
        return bool(f.seekable())
    except (AttributeError, OSError, ValueError):
        return False


def _load_from(fh: Any, name: str) -> Any:
    start = fh.tell()
    fh.seek(0, os.SEEK_END)
    size = fh.tell() - start
    fh.seek(start)
    head = fh.read(9)
    if not isinstance(head, bytes):
        raise TypeError("ember.load expects a binary file object")
    fh.seek(start)
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        if start:
            fh = io.BytesIO(fh.read())
        return _read_pt_zip(fh, size, name)
    if len(head) == 9 and head[8:9] == b"{":
        raw = bytearray(size)
        if fh.readinto(raw) != size:
            raise CorruptCheckpointError(f"{name}: could not read the whole file")
        return _read_safetensors(raw, name)
    if head[:3] == b"\x80\x02\x8a":  # a pickled int first: the legacy format's magic number
        raw = bytearray(size)
        if fh.readinto(raw) != size:
            raise CorruptCheckpointError(f"{name}: could not read the whole file")
        return _read_pt_legacy(raw, name)
    if not head:
        raise CorruptCheckpointError(f"{name}: the file is empty; the checkpoint is incomplete or "
                                     "corrupted")
    raise CheckpointError(f"{name}: not a PyTorch zip checkpoint or a safetensors file")
