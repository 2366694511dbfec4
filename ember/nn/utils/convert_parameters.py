"""parameters_to_vector and vector_to_parameters."""

from __future__ import annotations

from collections.abc import Iterable

from ember.tensor import Tensor

__all__ = ["parameters_to_vector", "vector_to_parameters"]


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """Matches `torch.nn.utils.parameters_to_vector`: one flat tensor (differentiable)."""
    from ember.ops.movement import cat

    return cat([p.reshape(-1) for p in parameters])


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    """Matches `torch.nn.utils.vector_to_parameters`: each parameter's data becomes a view of
    its slice of `vec`, as torch's `param.data = vec[i:j].view_as(param).data` does."""
    if not isinstance(vec, Tensor):
        from ember.nn.modules.module import _typename

        raise TypeError(f"expected torch.Tensor, but got: {_typename(vec)}")
    pointer = 0
    for param in parameters:
        n = param.numel()
        param._data = vec._data[pointer:pointer + n].reshape(param._data.shape)
        pointer += n
