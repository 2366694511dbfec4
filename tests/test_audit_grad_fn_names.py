"""Audit of #2's repr (`grad_fn=<...>`): indexing and view ops carry torch's grad_fn names, and
Tensor.where takes self as the values, not the condition."""

from __future__ import annotations

import pytest
import torch

import ember

EXPRS = ["x[0]", "x[0, :]", "x[:]", "x[..., None]", "x[None, 0]", "x[0:2, None]", "x[1:, 2]",
         "x[:, 1:3]", "x[..., 0]", "x[None]", "x[...]", "x[::2]", "x[0, 1]", "x[[0, 1]]",
         "x[x > 0]", "x[0, [1, 2]]", "x[:, None, 1:]", "x[-1]", "x.view(12)", "x.reshape(12)",
         "x.view(-1, 4)", "x.t()", "x.T", "x.mT", "x.flatten()", "x.unsqueeze(0)", "x.squeeze()",
         "y.squeeze(1)", "y.squeeze((0, 1))", "x.transpose(0, 1)", "x.narrow(0, 0, 1)",
         "x.select(0, 1)", "x.unflatten(1, (2, 2))", "x.split(1)[0]", "x.split([1, 2])[1]",
         "x.chunk(3)[0]", "x.unbind()[0]", "x.tril()", "x.triu(1)", "x.movedim(0, 1)",
         "x.view_as(x)", "x.swapaxes(0, 1)", "x.ravel()", "x.hsplit(2)[0]", "x.expand(2, 3, 4)",
         "x.permute(1, 0)", "x * 2", "x.sum()", "x.exp().mean()", "x.relu()"]


@pytest.mark.parametrize("expr", EXPRS)
def test_grad_fn_name_as_torch(expr: str) -> None:
    names = []
    for lib in (ember, torch):
        env = {"x": lib.ones(3, 4, requires_grad=True), "y": lib.ones(3, 1, 4, requires_grad=True)}
        out = eval(expr, env)  # noqa: S307  (fixed expressions above)
        names.append(out.grad_fn.name())
        if lib is ember:
            assert f"grad_fn=<{names[0]}>" in repr(out)
    assert names[0] == names[1]


def test_tensor_where_method_takes_self_as_values() -> None:
    grads = []
    for lib in (ember, torch):
        x = lib.tensor([1.0, -2.0, 3.0], requires_grad=True)
        y = x.where(x > 0, 0.5)
        assert y.tolist() == [1.0, 0.5, 3.0]
        y.sum().backward()
        grads.append(x.grad.tolist())
    assert grads[0] == grads[1] == [1.0, 0.0, 1.0]
