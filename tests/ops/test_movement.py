"""Shape and movement ops against torch: values, dtypes, views, gradients and errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import ember
from tests.helpers import assert_same, check

R = np.random.default_rng(0)


def arr(*shape: int, dtype: type = np.float64) -> np.ndarray:
    return R.standard_normal(shape).astype(dtype)


A23, A234, A4, A33 = arr(2, 3), arr(2, 3, 4), arr(4), arr(3, 3)

# (id, fn(lib, *xs), inputs) — each runs in float64 (with finite differences) and float32
CASES = [
    ("view", lambda L, x: x.view(3, 2), [A23]),
    ("view_tuple", lambda L, x: x.view((-1,)), [A23]),
    ("view_as", lambda L, x: x.view_as(L.zeros(6)), [A23]),
    ("reshape_t", lambda L, x: x.t().reshape(6), [A23]),
    ("reshape_as", lambda L, x: x.reshape_as(L.zeros(3, 2)), [A23]),
    ("permute", lambda L, x: x.permute(2, 0, 1), [A234]),
    ("permute_list", lambda L, x: L.permute(x, [1, 2, 0]), [A234]),
    ("transpose", lambda L, x: L.transpose(x, 0, -1), [A234]),
    ("swapaxes", lambda L, x: L.swapaxes(x, 0, 1), [A234]),
    ("swapdims", lambda L, x: x.swapdims(1, 2), [A234]),
    ("t", lambda L, x: x.t(), [A23]),
    ("t_1d", lambda L, x: L.t(x), [A4]),
    ("squeeze", lambda L, x: x.reshape(1, 2, 1, 3).squeeze(), [A23]),
    ("squeeze_dim", lambda L, x: x.reshape(1, 2, 1, 3).squeeze(2), [A23]),
    ("squeeze_tuple", lambda L, x: x.reshape(1, 2, 1, 3).squeeze((0, 2)), [A23]),
    ("squeeze_noop", lambda L, x: x.squeeze(0), [A23]),
    ("unsqueeze", lambda L, x: x.unsqueeze(-1), [A23]),
    ("flatten", lambda L, x: x.flatten(), [A234]),
    ("flatten_range", lambda L, x: L.flatten(x, 1, 2), [A234]),
    ("flatten_0d", lambda L, x: x.sum().flatten(), [A23]),
    ("unflatten", lambda L, x: x.unflatten(2, (2, -1)), [A234]),
    ("ravel", lambda L, x: x.transpose(0, 1).ravel(), [A23]),
    ("expand", lambda L, x: x.reshape(2, 1, 3).expand(4, 2, 5, -1), [A23]),
    ("expand_as", lambda L, x: x.expand_as(L.zeros(4, 2, 3)), [A23]),
    ("broadcast_to", lambda L, x: L.broadcast_to(x, (2, 2, 3)), [A23]),
    ("broadcast_tensors", lambda L, x, y: L.broadcast_tensors(x, y.reshape(4, 1, 1))[0], [A23, A4]),
    ("repeat", lambda L, x: x.repeat(2, 1, 3), [A23]),
    ("repeat_list", lambda L, x: x.repeat([2, 2]), [A23]),
    ("tile", lambda L, x: L.tile(x, (2,)), [A23]),
    ("tile_more", lambda L, x: x.tile((3, 1, 2)), [A23]),
    ("ri_int", lambda L, x: L.repeat_interleave(x, 2, dim=1), [A23]),
    ("ri_flat", lambda L, x: x.repeat_interleave(3), [A23]),
    ("ri_tensor", lambda L, x: x.repeat_interleave(L.tensor([1, 0, 2]), dim=1), [A23]),
    ("cat", lambda L, x, y: L.cat([x, y.reshape(2, 2)], 1), [A23, A4]),
    ("cat_neg", lambda L, x, y: L.cat((x, x * 2), dim=-1), [A23, A4]),
    ("concat", lambda L, x: L.concat([x, x], 0), [A23]),
    ("concatenate", lambda L, x: L.concatenate([x, x], axis=1), [A23]),
    ("cat_skip_empty", lambda L, x: L.cat([x, L.zeros(0, dtype=x.dtype), x]), [A23]),
    ("stack", lambda L, x: L.stack([x, x * 3], 1), [A23]),
    ("stack_neg", lambda L, x: L.stack([x, x], -1), [A23]),
    ("hstack", lambda L, x, y: L.hstack([x, x]), [A23, A4]),
    ("hstack_1d", lambda L, x: L.hstack([x, x]), [A4]),
    ("vstack", lambda L, x, y: L.vstack([y.reshape(1, 4)[:, :3], x]), [A23, A4]),
    ("vstack_1d", lambda L, x: L.vstack([x, x]), [A4]),
    ("dstack", lambda L, x: L.dstack([x, x]), [A23]),
    ("dstack_1d", lambda L, x: L.dstack([x, x]), [A4]),
    ("split", lambda L, x: x.split(2, 2), [A234]),
    ("split_sizes", lambda L, x: L.split(x, [1, 3], dim=-1), [A234]),
    ("chunk", lambda L, x: x.chunk(2, 1), [A23]),
    ("chunk_more", lambda L, x: L.chunk(x, 3, -1), [A234]),
    ("tensor_split", lambda L, x: L.tensor_split(x, 3, dim=2), [A234]),
    ("tensor_split_idx", lambda L, x: x.tensor_split([1, 3], 2), [A234]),
    ("tensor_split_oob", lambda L, x: x.tensor_split([1, 9], 2), [A234]),
    ("unbind", lambda L, x: x.unbind(1), [A23]),
    ("hsplit", lambda L, x: x.hsplit([1, 2]), [A234]),
    ("hsplit_1d", lambda L, x: L.hsplit(x, 2), [A4]),
    ("vsplit", lambda L, x: L.vsplit(x, 2), [A234]),
    ("dsplit", lambda L, x: x.dsplit(2), [A234]),
    ("narrow", lambda L, x: x.narrow(2, 1, 2), [A234]),
    ("narrow_neg", lambda L, x: L.narrow(x, -1, -2, 2), [A234]),
    ("select", lambda L, x: L.select(x, 1, -1), [A234]),
    ("flip", lambda L, x: x.flip(0, 2), [A234]),
    ("flip_tuple", lambda L, x: L.flip(x, (-1,)), [A234]),
    ("fliplr", lambda L, x: L.fliplr(x), [A23]),
    ("flipud", lambda L, x: x.flipud(), [A23]),
    ("roll", lambda L, x: x.roll(1, 1), [A234]),
    ("roll_multi", lambda L, x: L.roll(x, (1, -2), (0, 2)), [A234]),
    ("roll_flat", lambda L, x: L.roll(x, 5), [A234]),
    ("rot90", lambda L, x: L.rot90(x), [A234]),
    ("rot90_k2", lambda L, x: L.rot90(x, 2, [1, 2]), [A234]),
    ("rot90_k3", lambda L, x: x.rot90(-1, (0, 2)), [A234]),
    ("rot90_k0", lambda L, x: x.rot90(4), [A23]),
    ("tril", lambda L, x: x.tril(), [A33]),
    ("tril_k", lambda L, x: L.tril(x, -1), [A234]),
    ("triu", lambda L, x: L.triu(x, 1), [A234]),
    ("diag_1d", lambda L, x: L.diag(x), [A4]),
    ("diag_1d_k", lambda L, x: L.diag(x, -2), [A4]),
    ("diag_2d", lambda L, x: x.diag(), [A23]),
    ("diag_2d_k", lambda L, x: L.diag(x, diagonal=1), [A23]),
    ("diagonal", lambda L, x: x.diagonal(), [A33]),
    ("diagonal_3d", lambda L, x: L.diagonal(x, 1, 0, 2), [A234]),
    ("diagonal_neg", lambda L, x: x.diagonal(-1, -1, -2), [A234]),
    ("diag_embed", lambda L, x: L.diag_embed(x), [A23]),
    ("diag_embed_k", lambda L, x: x.diag_embed(1, 0, 2), [A23]),
    ("diagflat", lambda L, x: L.diagflat(x, 1), [A23]),
    ("block_diag", lambda L, x, y: L.block_diag(x, y, y.sum(), x.t()), [A23, A4]),
    ("cartesian_prod", lambda L, x, y: L.cartesian_prod(x, y, x[:2]), [A4, A23[0]]),
    ("cartesian_prod_1", lambda L, x: L.cartesian_prod(x), [A4]),
    ("row_stack", lambda L, x, y: L.row_stack([x, y[:3]]), [A23, A4]),
    ("narrow_copy", lambda L, x: L.narrow_copy(x, 2, 1, 2), [A234]),
    ("movedim", lambda L, x: x.movedim(0, -1), [A234]),
    ("movedim_tuple", lambda L, x: L.movedim(x, (0, 1), (2, 0)), [A234]),
    ("moveaxis", lambda L, x: L.moveaxis(x, -1, 0), [A234]),
    ("meshgrid_ij", lambda L, x, y: L.meshgrid(x, y, indexing="ij"), [A4, A23[0]]),
    ("meshgrid_xy", lambda L, x, y: L.meshgrid([x, y], indexing="xy"), [A4, A23[0]]),
    ("atleast_1d", lambda L, x: L.atleast_1d(x.sum()), [A23]),
    ("atleast_2d", lambda L, x, y: L.atleast_2d(x, y), [A23, A4]),
    ("atleast_3d", lambda L, x, y: L.atleast_3d([x, y, y.sum()]), [A23, A4]),
    ("column_stack", lambda L, x, y: L.column_stack([x.t(), y[:3], y.sum().expand(3)]),
     [A23, A4]),
    ("slice_scatter", lambda L, x, y: L.slice_scatter(x, y.reshape(2, 2), 1, 0, 4, 2),
     [arr(2, 4), A4]),
    ("select_scatter", lambda L, x, y: L.select_scatter(x, y[:2], 1, -1), [A23, A4]),
    ("unfold", lambda L, x: x.unfold(2, 2, 1), [A234]),
    ("unfold_step", lambda L, x: x.unfold(0, 2, 2), [arr(5, 3)]),
    ("unfold_last", lambda L, x: x.unfold(-1, 3, 1), [A4]),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("fn,inputs", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_parity(fn, inputs, dtype) -> None:
    check(fn, *[x.astype(dtype) for x in inputs])


def test_meshgrid_warns_without_indexing() -> None:
    with pytest.warns(UserWarning, match="indexing argument"):
        e = ember.meshgrid(ember.arange(3) if hasattr(ember, "arange") else ember.tensor([0, 1, 2]),
                           ember.tensor([0, 1]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = torch.meshgrid(torch.tensor([0, 1, 2]), torch.tensor([0, 1]))
    assert_same(e, t)


@pytest.mark.parametrize("dt", [(np.int64, np.float32), (np.int32, np.int64),
                                (np.bool_, np.int32), (np.float16, np.float64)])
def test_cat_promotes(dt) -> None:
    a, b = np.ones((2, 2), dt[0]), np.zeros((1, 2), dt[1])
    check(lambda L, x, y: L.cat([x, y]), a, b, grad=False)
    check(lambda L, x, y: L.stack([x, y[0:1].expand(2, 2)]), a, b, grad=False)


def test_cat_int_float_grad() -> None:
    check(lambda L, x, y: L.cat([x, y]), np.ones(3, np.int64), arr(2).astype(np.float32))


def test_repeat_interleave_one_arg() -> None:
    check(lambda L, r: L.repeat_interleave(r), np.array([2, 0, 3]), grad=False)
    for lib in (ember, torch):
        with pytest.raises(RuntimeError, match="only accept 1D vector"):
            lib.repeat_interleave(lib.tensor(3))


def test_broadcast_shapes() -> None:
    for shapes in [((2, 1), (3,)), ((1,), (4, 1, 2), ()), (5, (1,))]:
        assert tuple(ember.broadcast_shapes(*shapes)) == tuple(torch.broadcast_shapes(*shapes))
    with pytest.raises(RuntimeError, match="Shape mismatch"):
        ember.broadcast_shapes((2,), (3,))


def test_split_sizes_and_chunk_facts() -> None:
    x = ember.zeros(2, 3)
    assert [t.shape[1] for t in x.split(2, dim=1)] == [2, 1]
    assert [t.shape[1] for t in x.chunk(2, dim=1)] == [2, 1]
    assert len(ember.zeros(5).chunk(4)) == len(torch.zeros(5).chunk(4)) == 3
    assert [t.shape for t in ember.zeros(0).split(2)] == [t.shape for t in torch.zeros(0).split(2)]


# ---- views and version counters (§8.9) --------------------------------------------------------
VIEWS = [lambda x: x.view(4, 3), lambda x: x.t(), lambda x: x.permute(1, 0),
         lambda x: x.unsqueeze(0), lambda x: x.narrow(1, 1, 2), lambda x: x.diagonal(),
         lambda x: x.split(2, 1)[1], lambda x: x.unbind(0)[2], lambda x: x.select(0, 1),
         lambda x: x.unfold(1, 2, 2), lambda x: x.flatten(), lambda x: x.chunk(2)[0],
         lambda x: x.movedim(0, 1), lambda x: x.swapaxes(0, 1)]


@pytest.mark.parametrize("make", VIEWS)
def test_views_share_memory_and_version(make) -> None:
    x = ember.arange(12.).reshape(3, 4) if hasattr(ember, "arange") else ember.tensor(
        np.arange(12.0).reshape(3, 4))
    tx = torch.arange(12.).reshape(3, 4)
    v, tv = make(x), make(tx)
    v0 = x._version
    v.mul_(2) if hasattr(v, "mul_") else None
    tv.mul_(2)
    assert_same(x, tx)
    assert x._version == v._version == v0 + 1
    assert v._base is x or v._base is x._base


def test_view_on_transposed_raises_reshape_copies() -> None:
    x = ember.zeros(2, 3)
    with pytest.raises(RuntimeError, match="view size is not compatible"):
        x.t().view(6)
    r = x.t().reshape(6)
    r.add_(1)
    assert float(x.sum()) == 0.0
    r2 = x.reshape(6)
    r2.add_(1)
    assert float(x.sum()) == 6.0


def test_view_dtype() -> None:
    e = ember.tensor([1.0, -2.0]).view(ember.int32)
    t = torch.tensor([1.0, -2.0]).view(torch.int32)
    assert_same(e, t)
    with pytest.raises(NotImplementedError):
        ember.tensor([1.0]).view(ember.float64)


def test_copies_do_not_share() -> None:
    x = ember.zeros(2, 3)
    for y in (x.flip(0), x.roll(1), x.repeat(1, 1), x.tril(), ember.cat([x]), x.diag()
              if x.ndim == 1 else x[0:2].diag()):
        y.add_(1)
    assert float(x.sum()) == 0.0


# ---- errors ----------------------------------------------------------------------------------
ERRORS = [
    (lambda L: L.zeros(2, 3).t().view(6), RuntimeError, "view size is not compatible"),
    (lambda L: L.zeros(2, 3).view(4), RuntimeError, "invalid for input of size 6"),
    (lambda L: L.zeros(2, 3).view(-1, -1), RuntimeError, "only one dimension can be inferred"),
    (lambda L: L.zeros(2, 3, 4).t(), RuntimeError, "expects a tensor with <= 2 dimensions"),
    (lambda L: L.zeros(2, 3).permute(0), RuntimeError, "number of dimensions"),
    (lambda L: L.zeros(2, 3).permute(0, 0), RuntimeError, "duplicate dims"),
    (lambda L: L.zeros(2, 3).transpose(0, 2), IndexError, "Dimension out of range"),
    (lambda L: L.zeros(2, 3).expand(4, 3), RuntimeError, "must match the existing size"),
    (lambda L: L.zeros(2, 3).expand(3), RuntimeError, "number of sizes provided"),
    (lambda L: L.cat([L.zeros(2, 3), L.zeros(2, 4)]), RuntimeError, "Sizes of tensors must match"),
    (lambda L: L.cat([L.zeros(2, 3), L.zeros(3)]), RuntimeError, "same number of dimensions"),
    (lambda L: L.cat([L.tensor(1.0)]), RuntimeError, "zero-dimensional tensor"),
    (lambda L: L.cat([]), ValueError, "non-empty list"),
    (lambda L: L.stack([L.zeros(2), L.zeros(3)]), RuntimeError, "stack expects each tensor"),
    (lambda L: L.zeros(2, 3).split([1, 1], 1), RuntimeError, "split_with_sizes expects"),
    (lambda L: L.zeros(2, 3).repeat(2), RuntimeError, "can not be smaller"),
    (lambda L: L.zeros(2, 3).narrow(1, 2, 2), RuntimeError, "exceeds dimension size"),
    (lambda L: L.zeros(2, 3).flip(0, 0), RuntimeError, "appears multiple times"),
    (lambda L: L.zeros(3).fliplr(), RuntimeError, "Input must be >= 2-d"),
    (lambda L: L.zeros(3).tril(), RuntimeError, "at least 2 dimensions"),
    (lambda L: L.zeros(2, 3).roll((1, 2), 0), RuntimeError, "shifts and dimensions must align"),
    (lambda L: L.zeros(2, 2, 2).diag(), RuntimeError, "1D or 2D"),
    (lambda L: L.zeros(2, 3).diagonal(0, 1, 1), RuntimeError, "cannot be identical"),
    (lambda L: L.zeros(2, 3).unfold(1, 4, 1), RuntimeError, "maximum size for tensor"),
    (lambda L: L.zeros(2, 3).chunk(0), RuntimeError, "greater than 0"),
    (lambda L: L.zeros(3).unflatten(0, (2, 2)), RuntimeError, "don't multiply up"),
    (lambda L: L.meshgrid(L.zeros(2), indexing="yx"), RuntimeError, "indexing must be one of"),
    (lambda L: L.zeros(2, 3).hsplit(2), RuntimeError, "not divisible by the split_size 2"),
    (lambda L: L.zeros(3).vsplit(1), RuntimeError, "at least 2 dimension"),
]


@pytest.mark.parametrize("fn,exc,msg", ERRORS)
def test_errors_match_torch(fn, exc, msg) -> None:
    with pytest.raises(exc, match=msg):
        fn(torch)
    with pytest.raises(exc, match=msg):
        fn(ember)


# ---- hypothesis -------------------------------------------------------------------------------
@settings(max_examples=25, deadline=None)
@given(hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=4), st.data())
def test_hypothesis_permute_flip_roll(shape, data) -> None:
    x = R.standard_normal(shape)
    perm = data.draw(st.permutations(range(len(shape))))
    dims = data.draw(st.lists(st.integers(0, len(shape) - 1), unique=True, max_size=len(shape)))
    shift = data.draw(st.integers(-5, 5))
    check(lambda L, a: a.permute(*perm).flip(dims).roll(shift, 0), x)


@settings(max_examples=25, deadline=None)
@given(hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=4), st.data())
def test_hypothesis_cat_split(shape, data) -> None:
    x = R.standard_normal(shape)
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    size = data.draw(st.integers(1, 4))
    check(lambda L, a: L.cat(list(a.split(size, dim))[::-1], dim), x)
    reps = data.draw(st.lists(st.integers(0, 3), min_size=len(shape), max_size=len(shape) + 1))
    check(lambda L, a: a.repeat(*reps), x)


EDGE = [
    ("stack0d", lambda L: L.stack([L.tensor(1.), L.tensor(2.)])),
    ("hstack0d", lambda L: L.hstack([L.tensor(1.), L.tensor(2.)])),
    ("vstack0d", lambda L: L.vstack([L.tensor(1.), L.tensor(2.)])),
    ("cat_empty2d", lambda L: L.cat([L.zeros(0, 3), L.ones(2, 3)])),
    ("cat_all_empty", lambda L: L.cat([L.zeros(0), L.zeros(0, dtype=L.int64)])),
    ("cat_empty_first", lambda L: L.cat([L.zeros(0), L.ones(2, 3)], 1)),
    ("unbind0", lambda L: L.zeros(0, 2).unbind(1)),
    ("ri_out", lambda L: L.tensor([1, 2]).repeat_interleave(2, output_size=4)),
    ("ri_0d", lambda L: L.tensor(5.).repeat_interleave(3)),
    ("tsplit_t", lambda L: L.arange(6).tensor_split(L.tensor([1, 4]))),
    ("tsplit_t0", lambda L: L.arange(7).tensor_split(L.tensor(3))),
    ("narrow_t", lambda L: L.arange(6).narrow(0, L.tensor(2), 3)),
    ("roll_empty", lambda L: L.zeros(0, 2).roll(1, 0)),
    ("squeeze0d", lambda L: L.tensor(1.).squeeze(0)),
    ("unsq0d", lambda L: L.tensor(1.).unsqueeze(-1)),
    ("flatten_empty", lambda L: L.zeros(2, 0, 3).flatten(1)),
    ("diag_empty", lambda L: L.zeros(0).diag()),
    ("diag_off_big", lambda L: L.ones(2, 3).diagonal(5)),
    ("tril_big", lambda L: L.ones(2, 3, 3).tril(-5)),
    ("movedim0d", lambda L: L.tensor(1.).movedim(0, 0)),
    ("flip0d", lambda L: L.tensor(1.).flip(0)),
    ("broadcast_to_0d", lambda L: L.tensor(2.).broadcast_to((2, 2))),
    ("expand_neg_new", lambda L: L.ones(3).expand(2, -1)),
    ("tile_empty", lambda L: L.ones(2, 3).tile(())),
    ("meshgrid1", lambda L: L.meshgrid(L.arange(3), indexing="xy")),
    ("meshgrid3xy", lambda L: L.meshgrid(L.arange(3), L.arange(2), L.arange(4), indexing="xy")),
    ("unfold0d", lambda L: L.tensor(3.).unfold(0, 1, 1)),
    ("unflatten_neg", lambda L: L.zeros(2, 6).unflatten(-1, (-1, 3))),
    ("chunk_uneven", lambda L: L.arange(5).chunk(3)),
    ("split_tensor", lambda L: L.arange(5).split(L.tensor(2).item())),
    ("diag_embed_neg", lambda L: L.ones(2, 3).diag_embed(-1)),
    ("rot90_neg", lambda L: L.arange(6).reshape(2, 3).rot90(-3)),
]


@pytest.mark.parametrize("fn", [c[1] for c in EDGE], ids=[c[0] for c in EDGE])
def test_edge_cases(fn) -> None:
    """Empty, 0-dim and unusual arguments: same result, or the same exception type, as torch."""
    try:
        expected = fn(torch)
    except Exception as err:  # noqa: BLE001  (any torch error must be matched by type)
        with pytest.raises(type(err)):
            fn(ember)
        return
    assert_same(fn(ember), expected)


SECOND_ORDER = [
    lambda x: ember.cat([x, x * 2], 1) ** 2, lambda x: x.repeat(2, 1) ** 2,
    lambda x: x.diagonal(1) ** 2, lambda x: x.diag_embed() ** 2,
    lambda x: x.unfold(1, 2, 1) ** 2, lambda x: x.flip(0).roll(1, 1) ** 2,
    lambda x: x.tril() ** 2, lambda x: ember.stack(x.split(1, 1)) ** 2,
    lambda x: x.t().expand(2, 3, 2) ** 2, lambda x: x.repeat_interleave(2, 0) ** 2,
]


@pytest.mark.parametrize("fn", SECOND_ORDER)
def test_second_order(fn) -> None:
    from ember.autograd import gradcheck, gradgradcheck

    x = ember.tensor(A23, requires_grad=True)
    assert gradcheck(fn, (x,))
    assert gradgradcheck(fn, (x,))
