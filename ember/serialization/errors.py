"""The exceptions every malformed or hostile checkpoint raises (all ValueErrors)."""

from __future__ import annotations

import pickle

__all__ = ["CheckpointError", "CorruptCheckpointError", "UnpicklingError"]


class CheckpointError(ValueError):
    """A checkpoint file is malformed, hostile, or not something ember reads."""


class UnpicklingError(CheckpointError, pickle.UnpicklingError):
    """The pickle inside a `.pt` file asks for something outside the allow-list, or is broken."""


class CorruptCheckpointError(CheckpointError):
    """The file is truncated or its container is damaged."""
