"""save/load: PyTorch's zip `.pt` format and `.safetensors`, read without ever running file code.

The `.pt` reader is a small pickle interpreter of its own (not `pickle.Unpickler`): a GLOBAL is
looked up in a fixed table of the names a tensor checkpoint needs and nothing is ever imported, so
no code named by a file can run. Every malformed input raises `CheckpointError` (a ValueError) or
one of its subclasses. Saving writes a temporary file beside the target, fsyncs it and renames it
over the target, so a crash never leaves a half-written checkpoint behind.

Layout: `api` (save/load, atomic writes, format detection), `pickler` (writing), `unpickler`
(the allow-list and the pickle interpreter), `zipformat` (torch's zip container), `legacy`
(torch's pre-1.6 non-zip layout), `safetensors`, `errors`.
"""

from __future__ import annotations

from ember.serialization.api import load, save
from ember.serialization.errors import CheckpointError, CorruptCheckpointError, UnpicklingError
from ember.serialization.safetensors import (  # noqa: F401 - private names tests reach for
    MAX_SAFETENSORS_HEADER, _write_safetensors,
)
from ember.serialization.unpickler import (  # noqa: F401
    MAX_PICKLE_ITEMS, _SafeUnpickler, add_safe_globals, get_safe_globals, safe_globals,
)

__all__ = ["save", "load", "CheckpointError", "UnpicklingError", "CorruptCheckpointError",
           "add_safe_globals", "safe_globals", "get_safe_globals"]
