"""torch's legacy non-zip `.pt` layout (torch.save(..., _use_new_zipfile_serialization=False)),
read with the same allow-list unpickler."""

from __future__ import annotations

import mmap
import struct
from collections.abc import Callable
from typing import Any, Literal

import numpy as np

from ember import dtypes as _dt
from ember.serialization.errors import CheckpointError, CorruptCheckpointError, UnpicklingError
from ember.serialization.unpickler import _SafeUnpickler, _Storage, _StorageType

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001


def _read_pt_legacy(raw: bytes | bytearray | mmap.mmap, name: str) -> Any:
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
