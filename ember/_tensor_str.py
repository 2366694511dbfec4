"""Tensor repr in torch's format."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ember import dtypes as _dt

if TYPE_CHECKING:
    from ember.tensor import Tensor


def tensor_repr(t: Tensor) -> str:
    body = np.array2string(t._data, separator=", ", prefix="tensor(", precision=4)
    suffix = []
    if t.dtype not in (_dt.float32, _dt.int64, _dt.bool_) or (
        t._data.size == 0 and t._data.dtype != np.float32
    ):
        suffix.append(f"dtype=torch.{t.dtype.name}")
    if t.grad_fn is not None:
        suffix.append(f"grad_fn=<{t.grad_fn.name()}>")
    elif t._requires_grad:
        suffix.append("requires_grad=True")
    return "tensor(" + body + "".join(", " + s for s in suffix) + ")"
