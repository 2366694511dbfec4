"""The global RNG: `manual_seed`, `Generator`, and the random creation functions."""

from __future__ import annotations

from typing import Any

import numpy as np

from ember import dtypes as _dt
from ember.tensor import Tensor

__all__ = ["Generator", "default_generator", "manual_seed", "seed", "initial_seed", "rand", "randn"]

_DEFAULT_SEED = 67280421310721  # torch's initial seed


class Generator:
    """Matches `torch.Generator` (CPU): an MT19937 stream seeded like torch's."""

    def __init__(self, device: Any = "cpu") -> None:
        self._seed = _DEFAULT_SEED
        self._mt = np.random.MT19937()
        self.manual_seed(_DEFAULT_SEED)

    def manual_seed(self, seed: int) -> Generator:
        seed = int(seed)
        self._seed = seed
        self._mt._legacy_seeding(seed & 0xFFFFFFFF)
        self._np = np.random.Generator(self._mt)
        return self

    def initial_seed(self) -> int:
        return self._seed

    def seed(self) -> int:
        s = int(np.random.SeedSequence().entropy) & 0xFFFFFFFFFFFFFFFF  # type: ignore[arg-type]
        self.manual_seed(s)
        return s

    @property
    def device(self) -> Any:
        from ember.size import CPU

        return CPU


default_generator = Generator()


def manual_seed(seed: int) -> Generator:
    """Matches `torch.manual_seed`: seeds the global generator and returns it."""
    return default_generator.manual_seed(seed)


def seed() -> int:
    """Matches `torch.seed`: a non-deterministic seed for the global generator."""
    return default_generator.seed()


def initial_seed() -> int:
    """Matches `torch.initial_seed`."""
    return default_generator.initial_seed()


def _gen(generator: Generator | None) -> Generator:
    return default_generator if generator is None else generator


def _shape(size: tuple[Any, ...]) -> tuple[int, ...]:
    from ember.ops.common import shape_arg

    return shape_arg(size, "rand")


def _float_dtype(dtype: Any) -> Any:
    return (_dt.get_default_dtype() if dtype is None else _dt.to_dtype(dtype)).to_numpy()


def rand(*size: Any, generator: Generator | None = None, dtype: Any = None, device: Any = None,
         requires_grad: bool = False, out: Any = None, layout: Any = None,
         pin_memory: bool = False) -> Tensor:
    """Matches `torch.rand`: uniform on [0, 1)."""
    arr = _gen(generator)._np.random(_shape(size)).astype(_float_dtype(dtype))
    t = Tensor._make(arr)
    return t.requires_grad_() if requires_grad else t


def randn(*size: Any, generator: Generator | None = None, dtype: Any = None, device: Any = None,
          requires_grad: bool = False, out: Any = None, layout: Any = None,
          pin_memory: bool = False) -> Tensor:
    """Matches `torch.randn`: standard normal."""
    arr = _gen(generator)._np.standard_normal(_shape(size)).astype(_float_dtype(dtype))
    t = Tensor._make(arr)
    return t.requires_grad_() if requires_grad else t
