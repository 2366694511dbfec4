"""Writing: a protocol-2 pickle of checkpoint data with the opcodes torch.save produces."""

from __future__ import annotations

import collections
import io
import struct
from typing import Any

import numpy as np

from ember import dtypes as _dt
from ember.tensor import Tensor


# ---- the storage/dtype table shared by reader and writer ------------------------------------
_STORAGE_TYPES = {
    "FloatStorage": _dt.float32, "DoubleStorage": _dt.float64, "HalfStorage": _dt.float16,
    "BFloat16Storage": _dt.bfloat16, "LongStorage": _dt.int64, "IntStorage": _dt.int32,
    "ShortStorage": _dt.int16, "CharStorage": _dt.int8, "ByteStorage": _dt.uint8,
    "BoolStorage": _dt.bool_,
}
_STORAGE_OF = {d: name for name, d in _STORAGE_TYPES.items()}


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
