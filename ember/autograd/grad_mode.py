"""Grad-mode switches: no_grad, enable_grad, set_grad_enabled, inference_mode."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class _State:
    """Global grad mode. One object so the hot path reads a single attribute."""

    __slots__ = ("enabled", "inference")

    def __init__(self) -> None:
        self.enabled = True
        self.inference = False


STATE = _State()


def is_grad_enabled() -> bool:
    """Matches `torch.is_grad_enabled`."""
    return STATE.enabled


def is_inference_mode_enabled() -> bool:
    """Matches `torch.is_inference_mode_enabled`."""
    return STATE.inference


class _Mode:
    """A context manager that is also a decorator (with or without parentheses)."""

    enabled: bool = True
    inference: bool | None = None

    def __new__(cls, func: Any = None, *args: Any, **kwargs: Any) -> Any:
        self = super().__new__(cls)
        if callable(func) and cls is not set_grad_enabled:  # bare decorator: @no_grad
            self.__init__()  # type: ignore[misc]
            return self(func)
        return self

    def __enter__(self) -> None:
        self._prev = (STATE.enabled, STATE.inference)
        STATE.enabled = self.enabled
        if self.inference is not None:
            STATE.inference = self.inference

    def __exit__(self, *exc: object) -> None:
        STATE.enabled, STATE.inference = self._prev

    def __call__(self, func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self._clone():
                return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    def _clone(self) -> _Mode:
        return self


class no_grad(_Mode):
    """Matches `torch.no_grad`: disables graph recording."""

    enabled = False

    def __init__(self, func: Any = None) -> None:
        pass

    def _clone(self) -> _Mode:
        return no_grad()


class enable_grad(_Mode):
    """Matches `torch.enable_grad`: re-enables graph recording inside no_grad."""

    enabled = True

    def __init__(self, func: Any = None) -> None:
        pass

    def _clone(self) -> _Mode:
        return enable_grad()


class set_grad_enabled(_Mode):
    """Matches `torch.set_grad_enabled`: a context manager, a decorator, or a plain call."""

    def __init__(self, mode: bool) -> None:
        self.enabled = bool(mode)
        self._prev = (STATE.enabled, STATE.inference)
        STATE.enabled = self.enabled  # a plain call sets the state at once, as torch does

    def __enter__(self) -> None:
        STATE.enabled = self.enabled

    def __call__(self, func: F) -> F:
        STATE.enabled = self._prev[0]  # used as a decorator: undo the immediate switch
        return super().__call__(func)

    def _clone(self) -> _Mode:
        return _Restoring(self.enabled)


class _Restoring(_Mode):
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled


class inference_mode(_Mode):
    """Matches `torch.inference_mode`: no recording; tensors made inside are inference tensors."""

    def __init__(self, mode: Any = True) -> None:
        if callable(mode):
            mode = True
        self.enabled = not mode
        self.inference = bool(mode)

    def _clone(self) -> _Mode:
        return inference_mode(self.inference)
