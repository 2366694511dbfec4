"""All tensor operations; `Tensor` methods and `ember.<fn>` both call into this namespace.

Each family module lists its public functions in `__all__`; this package re-exports them all.
"""

from __future__ import annotations

from typing import Any

from ember.ops import creation, elementwise, indexing, linalg, movement, reduce
from ember.ops.creation import *  # noqa: F403
from ember.ops.elementwise import *  # noqa: F403
from ember.ops.indexing import *  # noqa: F403
from ember.ops.linalg import *  # noqa: F403
from ember.ops.movement import *  # noqa: F403
from ember.ops.reduce import *  # noqa: F403
from ember.tensor import Tensor

__all__ = [*creation.__all__, *elementwise.__all__, *indexing.__all__, *linalg.__all__,
           *movement.__all__, *reduce.__all__]


def scalar_like(x: Any, like: Tensor) -> Any:
    """For reflected operators (`2 / t`): keep Python scalars as they are, wrap anything else."""
    from ember.ops.common import as_tensor_arg, is_scalar

    return x if is_scalar(x) else as_tensor_arg(x)
