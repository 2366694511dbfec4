"""torch.special: the special functions ember has, under torch's names in this namespace."""

from __future__ import annotations

from typing import Any

import ember
from ember.tensor import Tensor

__all__ = ["erf", "erfc", "erfinv", "expit", "logit", "exp2", "expm1", "log1p", "log_softmax",
           "softmax", "logsumexp", "xlogy", "round", "sinc"]

erf = ember.erf
erfc = ember.erfc
erfinv = ember.erfinv
expit = ember.sigmoid
exp2 = ember.exp2
expm1 = ember.expm1
log1p = ember.log1p
logsumexp = ember.logsumexp
xlogy = ember.xlogy
round = ember.round  # noqa: A001 - torch's name


def logit(input: Tensor, eps: float | None = None) -> Tensor:
    """Matches `torch.special.logit`: log(p / (1 - p)), p clamped to [eps, 1 - eps] if given."""
    p = input if eps is None else input.clamp(eps, 1 - eps)
    return (p / (1 - p)).log()


def sinc(input: Tensor) -> Tensor:
    """Matches `torch.special.sinc`: sin(pi x) / (pi x), 1 at 0."""
    import math

    pix = input * math.pi
    safe = ember.where(input == 0, ember.ones_like(pix), pix)
    return ember.where(input == 0, ember.ones_like(pix), safe.sin() / safe)


def softmax(input: Tensor, dim: int, *, dtype: Any = None) -> Tensor:
    """Matches `torch.special.softmax`."""
    return ember.softmax(input, dim, dtype=dtype)


def log_softmax(input: Tensor, dim: int, *, dtype: Any = None) -> Tensor:
    """Matches `torch.special.log_softmax`."""
    return ember.log_softmax(input, dim, dtype=dtype)
