"""Probability distributions as torch.distributions has them, the ones training scripts use most
(Normal for VAEs and policies, Categorical and Bernoulli for sampling actions and tokens), with
`kl_divergence` between two of the same kind. Sampling draws from ember's global generator."""

from __future__ import annotations

import math
from typing import Any

import ember
from ember.nn import functional as F
from ember.size import Size
from ember.tensor import Tensor

__all__ = ["Distribution", "Normal", "Categorical", "Bernoulli", "kl_divergence"]

_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def _as_tensor(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else ember.tensor(float(x))


class Distribution:
    """Matches `torch.distributions.Distribution`: batch_shape/event_shape, sample (no grad),
    rsample where reparameterisable, log_prob, entropy, mean/variance/stddev."""

    has_rsample = False

    def __init__(self, batch_shape: Any = (), event_shape: Any = (),
                 validate_args: bool | None = None) -> None:
        self._batch_shape = Size(batch_shape)
        self._event_shape = Size(event_shape)

    @property
    def batch_shape(self) -> Size:
        return self._batch_shape

    @property
    def event_shape(self) -> Size:
        return self._event_shape

    def _extended_shape(self, sample_shape: Any = ()) -> tuple[int, ...]:
        return (*Size(sample_shape), *self._batch_shape, *self._event_shape)

    def sample(self, sample_shape: Any = ()) -> Tensor:
        with ember.no_grad():
            return self.rsample(sample_shape)

    def rsample(self, sample_shape: Any = ()) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no reparameterised sample "
                                  "(rsample); use sample()")

    def log_prob(self, value: Tensor) -> Tensor:
        raise NotImplementedError

    def entropy(self) -> Tensor:
        raise NotImplementedError

    @property
    def stddev(self) -> Tensor:
        return self.variance.sqrt()

    @property
    def mean(self) -> Tensor:
        raise NotImplementedError

    @property
    def variance(self) -> Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        params = ", ".join(f"{k}: {v.size() if v.numel() > 1 else v}"
                           for k, v in self._params().items())
        return f"{type(self).__name__}({params})"

    def _params(self) -> dict[str, Tensor]:
        return {}


class Normal(Distribution):
    """Matches `torch.distributions.Normal(loc, scale)`; rsample = loc + eps * scale."""

    has_rsample = True

    def __init__(self, loc: Any, scale: Any, validate_args: bool | None = None) -> None:
        self.loc, self.scale = ember.broadcast_tensors(_as_tensor(loc), _as_tensor(scale))
        if validate_args is not False and not bool((self.scale > 0).all()):
            raise ValueError(f"Expected parameter scale (Tensor of shape {tuple(self.scale.shape)})"
                             f" of distribution Normal to satisfy the constraint GreaterThan("
                             f"lower_bound=0.0), but found invalid values:\n{self.scale}")
        super().__init__(self.loc.shape)

    def _params(self) -> dict[str, Tensor]:
        return {"loc": self.loc, "scale": self.scale}

    @property
    def mean(self) -> Tensor:
        return self.loc

    @property
    def variance(self) -> Tensor:
        return self.scale.pow(2)

    @property
    def stddev(self) -> Tensor:
        return self.scale

    def rsample(self, sample_shape: Any = ()) -> Tensor:
        eps = ember.randn(self._extended_shape(sample_shape), dtype=self.loc.dtype)
        return self.loc + eps * self.scale

    def log_prob(self, value: Tensor) -> Tensor:
        value = _as_tensor(value)
        return -((value - self.loc) ** 2) / (2 * self.variance) - self.scale.log() - _HALF_LOG_2PI

    def entropy(self) -> Tensor:
        return 0.5 + _HALF_LOG_2PI + self.scale.log()

    def cdf(self, value: Tensor) -> Tensor:
        return 0.5 * (1 + ember.erf((value - self.loc) / (self.scale * math.sqrt(2))))


class Categorical(Distribution):
    """Matches `torch.distributions.Categorical(probs=None, logits=None)` over the last dim."""

    def __init__(self, probs: Tensor | None = None, logits: Tensor | None = None,
                 validate_args: bool | None = None) -> None:
        if (probs is None) == (logits is None):
            raise ValueError("Either `probs` or `logits` must be specified, but not both.")
        if probs is not None:
            if probs.dim() < 1:
                raise ValueError("`probs` parameter must be at least one-dimensional.")
            self.probs = probs / probs.sum(-1, keepdim=True)
            self.logits = self.probs.clamp(min=_tiny(probs)).log()
        else:
            assert logits is not None
            if logits.dim() < 1:
                raise ValueError("`logits` parameter must be at least one-dimensional.")
            self.logits = logits - logits.logsumexp(dim=-1, keepdim=True)
            self.probs = F.softmax(self.logits, dim=-1)
        self._num_events = self.probs.shape[-1]
        super().__init__(self.probs.shape[:-1])

    def _params(self) -> dict[str, Tensor]:
        return {"probs": self.probs}

    @property
    def mean(self) -> Tensor:
        return ember.full(self._extended_shape(), float("nan"), dtype=self.probs.dtype)

    @property
    def param_shape(self) -> Size:
        return self.probs.size()

    def sample(self, sample_shape: Any = ()) -> Tensor:
        n = math.prod(Size(sample_shape))
        with ember.no_grad():
            probs_2d = self.probs.reshape(-1, self._num_events)  # (B, K)
            samples = ember.multinomial(probs_2d, n, replacement=True).T  # (n, B)
        return samples.reshape(self._extended_shape(sample_shape))

    def log_prob(self, value: Tensor) -> Tensor:
        value = value.long().unsqueeze(-1)
        value, log_pmf = ember.broadcast_tensors(value, self.logits)
        return log_pmf.gather(-1, value[..., :1]).squeeze(-1)

    def entropy(self) -> Tensor:
        logits = self.logits.clamp(min=float(_finfo(self.logits.dtype).min))
        return -(logits * self.probs).sum(-1)


class Bernoulli(Distribution):
    """Matches `torch.distributions.Bernoulli(probs=None, logits=None)`."""

    def __init__(self, probs: Any = None, logits: Any = None,
                 validate_args: bool | None = None) -> None:
        if (probs is None) == (logits is None):
            raise ValueError("Either `probs` or `logits` must be specified, but not both.")
        if probs is not None:
            self.probs = _as_tensor(probs)
            eps = _tiny(self.probs) if self.probs.dtype.is_floating_point else 1e-12
            clamped = self.probs.clamp(eps, 1 - float(_finfo(self.probs.dtype).eps))
            self.logits = clamped.log() - (-clamped).log1p()
        else:
            self.logits = _as_tensor(logits)
            self.probs = self.logits.sigmoid()
        super().__init__(self.probs.shape)

    def _params(self) -> dict[str, Tensor]:
        return {"probs": self.probs}

    @property
    def mean(self) -> Tensor:
        return self.probs

    @property
    def variance(self) -> Tensor:
        return self.probs * (1 - self.probs)

    def sample(self, sample_shape: Any = ()) -> Tensor:
        with ember.no_grad():
            return ember.bernoulli(self.probs.expand(self._extended_shape(sample_shape)))

    def log_prob(self, value: Tensor) -> Tensor:
        logits, value = ember.broadcast_tensors(self.logits, _as_tensor(value))
        return -F.binary_cross_entropy_with_logits(logits, value, reduction="none")

    def entropy(self) -> Tensor:
        return F.binary_cross_entropy_with_logits(self.logits, self.probs, reduction="none")


def _finfo(dtype: Any) -> Any:
    import ml_dtypes

    return ml_dtypes.finfo(dtype.np)


def _tiny(t: Tensor) -> float:
    return float(_finfo(t.dtype).tiny)


def kl_divergence(p: Distribution, q: Distribution) -> Tensor:
    """Matches `torch.distributions.kl_divergence` for two Normals, Categoricals or Bernoullis."""
    if isinstance(p, Normal) and isinstance(q, Normal):
        var_ratio = (p.scale / q.scale).pow(2)
        t1 = ((p.loc - q.loc) / q.scale).pow(2)
        return 0.5 * (var_ratio + t1 - 1 - var_ratio.log())
    if isinstance(p, Categorical) and isinstance(q, Categorical):
        t = p.probs * (p.logits - q.logits)
        t = ember.where(q.probs == 0, ember.full_like(t, float("inf")), t)
        t = ember.where(p.probs == 0, ember.zeros_like(t), t)
        return t.sum(-1)
    if isinstance(p, Bernoulli) and isinstance(q, Bernoulli):
        t1 = p.probs * (F.softplus(-q.logits) - F.softplus(-p.logits))
        t2 = (1 - p.probs) * (F.softplus(q.logits) - F.softplus(p.logits))
        return t1 + t2
    raise NotImplementedError(f"kl_divergence({type(p).__name__}, {type(q).__name__}) is not "
                              "implemented by ember")
