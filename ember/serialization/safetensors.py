"""The safetensors format: a length-prefixed JSON header, then the tensors' bytes, validated
field by field before anything is allocated."""

from __future__ import annotations

import json
import math
import struct
from typing import IO, Any

import numpy as np

from ember import dtypes as _dt
from ember.serialization.errors import CheckpointError, CorruptCheckpointError
from ember.serialization.zipformat import _le_bytes
from ember.tensor import Tensor

MAX_SAFETENSORS_HEADER = 100_000_000
_ST_DTYPES = {"F32": _dt.float32, "F64": _dt.float64, "F16": _dt.float16, "BF16": _dt.bfloat16,
              "I64": _dt.int64, "I32": _dt.int32, "I16": _dt.int16, "I8": _dt.int8,
              "U8": _dt.uint8, "BOOL": _dt.bool_}
_ST_NAME = {d: n for n, d in _ST_DTYPES.items()}


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
