"""`ember.Size` (a tuple subclass, as torch.Size) and `ember.device`."""

from __future__ import annotations

import math
from typing import Any


class Size(tuple):  # type: ignore[type-arg]
    """Matches `torch.Size`: a tuple of ints; slicing and `+` give a Size again."""

    def __new__(cls, sizes: Any = ()) -> Size:
        return super().__new__(cls, sizes)

    def __repr__(self) -> str:
        return f"torch.Size({list(self)})"  # torch's text, so printed output matches torch's

    def numel(self) -> int:
        return math.prod(self)

    def __getitem__(self, i: Any) -> Any:
        r = super().__getitem__(i)
        return Size(r) if isinstance(i, slice) else r

    def __add__(self, other: Any) -> Size:
        return Size(tuple(self) + tuple(other))

    def __radd__(self, other: Any) -> Size:
        return Size(tuple(other) + tuple(self))

    def __reduce__(self) -> Any:
        return (Size, (tuple(self),))


class device:
    """Matches `torch.device` for the CPU; asking for an accelerator gets a clear error."""

    __slots__ = ("type", "index")
    type: str
    index: int | None

    def __init__(self, type: Any = "cpu", index: int | None = None) -> None:  # noqa: A002
        spec: Any = type
        if isinstance(spec, device):
            spec, index = spec.type, spec.index
        name = str(spec)
        if ":" in name:
            name, idx = name.split(":", 1)
            index = int(idx)
        if name not in ("cpu", "meta"):
            raise RuntimeError(
                f"ember runs on the CPU only: device '{spec}' is not available "
                "(torch.cuda.is_available() is False here)"
            )
        self.type = name
        self.index = index

    def __repr__(self) -> str:
        idx = "" if self.index is None else f", index={self.index}"
        return f"device(type='{self.type}'{idx})"

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            try:
                other = device(other)
            except RuntimeError:
                return False
        return isinstance(other, device) and (self.type, self.index) == (other.type, other.index)

    def __hash__(self) -> int:
        return hash((self.type, self.index))


CPU = device("cpu")
