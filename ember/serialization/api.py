"""ember.save / ember.load: format by path suffix (save) or by the file's first bytes (load);
saves to a path are atomic."""

from __future__ import annotations

import io
import mmap
import os
import tempfile
import warnings
from collections.abc import Callable
from typing import IO, Any

from ember.serialization.errors import CheckpointError, CorruptCheckpointError
from ember.serialization.legacy import _read_pt_legacy
from ember.serialization.safetensors import _read_safetensors, _write_safetensors
from ember.serialization.zipformat import _read_pt_zip, _write_pt

__all__ = ["load", "save"]


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
    if not os.path.isdir(directory):
        raise RuntimeError(f"Parent directory {directory} does not exist.")  # torch's error
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


def load(f: Any, map_location: Any = None, pickle_module: Any = None, *,
         weights_only: bool | None = True, mmap: bool | None = None, **kwargs: Any) -> Any:
    """Matches `torch.load` with `weights_only=True` (the default): reads PyTorch zip checkpoints
    (and the legacy non-zip layout) and safetensors files (recognised from their bytes), onto
    the CPU, without running any code from the file. `map_location` and `mmap` are accepted and
    have nothing to do on the CPU.

    Difference: ember has no code-executing loader. `weights_only=False` (common in scripts
    written for torch 2.6+) is accepted with a warning and reads the file with the same
    allow-list, so plain checkpoints load and anything else is refused with UnpicklingError."""
    if weights_only is False:
        warnings.warn(
            "ember.load(weights_only=False): ember never unpickles arbitrary objects; the file is "
            "read with the same allow-list as weights_only=True (allow your own data classes "
            "with ember.serialization.add_safe_globals([...])).", UserWarning, stacklevel=2)
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


def _map_file(fh: Any) -> mmap.mmap | None:
    """The whole file mapped read-only, or None for streams without a file descriptor."""
    try:
        return mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return None


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
        mapped = _map_file(fh) if start == 0 else None
        if mapped is not None:  # storages are copied out of the page cache: memory ~1x the file
            try:
                return _read_pt_legacy(mapped, name)
            finally:
                try:
                    mapped.close()
                except BufferError:  # a view still exported (an error in flight): GC closes it
                    pass
        raw = bytearray(size)
        if fh.readinto(raw) != size:
            raise CorruptCheckpointError(f"{name}: could not read the whole file")
        return _read_pt_legacy(raw, name)
    if not head:
        raise CorruptCheckpointError(f"{name}: the file is empty; the checkpoint is incomplete or "
                                     "corrupted")
    raise CheckpointError(f"{name}: not a PyTorch zip checkpoint or a safetensors file")
