"""PyTorch's zip `.pt` container: writing the archive, and reading it back with every record
checked (names, sizes, CRCs) before its bytes become a tensor."""

from __future__ import annotations

import os
import struct
import zipfile
import zlib
from typing import IO, Any

import numpy as np

from ember import dtypes as _dt
from ember.serialization.errors import CheckpointError, CorruptCheckpointError, UnpicklingError
from ember.serialization.pickler import _PickleWriter
from ember.serialization.unpickler import _SafeUnpickler, _Storage, _StorageType


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
