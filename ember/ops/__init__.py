"""All tensor operations; `Tensor` methods and `ember.<fn>` both call into this namespace."""

from __future__ import annotations

from typing import Any

from ember.ops.creation import (  # noqa: F401
    as_tensor,
    clone,
    empty,
    empty_like,
    from_numpy,
    full,
    full_like,
    ones,
    ones_like,
    tensor,
    to,
    zeros,
    zeros_like,
)
from ember.ops.elementwise import (  # noqa: F401
    add,
    div,
    eq,
    exp,
    ge,
    gt,
    le,
    log,
    lt,
    mul,
    ne,
    neg,
    relu,
    rsub,
    sub,
)
from ember.ops.indexing import getitem, setitem  # noqa: F401
from ember.ops.linalg import matmul, mm  # noqa: F401
from ember.ops.movement import (  # noqa: F401
    expand,
    permute,
    reshape,
    squeeze,
    t,
    transpose,
    unsqueeze,
    view,
)
from ember.ops.reduce import mean, sum  # noqa: A004, F401
from ember.tensor import Tensor


def scalar_like(x: Any, like: Tensor) -> Any:
    """For reflected operators (`2 / t`): keep Python scalars as they are, wrap anything else."""
    from ember.ops.common import as_tensor_arg, is_scalar

    return x if is_scalar(x) else as_tensor_arg(x)
