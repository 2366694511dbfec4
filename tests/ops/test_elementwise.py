"""Elementwise ops against torch: values, dtypes, gradients (and finite differences), errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import ember
from tests.helpers import assert_same, check

RNG = np.random.default_rng(0)


def _r(*shape: int, lo: float = -2.0, hi: float = 2.0, dtype: type = np.float64) -> np.ndarray:
    return RNG.uniform(lo, hi, shape).astype(dtype)


# name -> (function of (lib, x), domain (lo, hi))
UNARY = {
    "neg": (lambda L, x: L.neg(x), (-2, 2)),
    "negative": (lambda L, x: L.negative(x), (-2, 2)),
    "abs": (lambda L, x: L.abs(x), (-2, 2)),
    "absolute": (lambda L, x: L.absolute(x), (-2, 2)),
    "sign": (lambda L, x: L.sign(x), (-2, 2)),
    "square": (lambda L, x: L.square(x), (-2, 2)),
    "reciprocal": (lambda L, x: L.reciprocal(x), (0.5, 2)),
    "sqrt": (lambda L, x: L.sqrt(x), (0.1, 3)),
    "rsqrt": (lambda L, x: L.rsqrt(x), (0.1, 3)),
    "exp": (lambda L, x: L.exp(x), (-2, 2)),
    "exp2": (lambda L, x: L.exp2(x), (-2, 2)),
    "log": (lambda L, x: L.log(x), (0.1, 3)),
    "log1p": (lambda L, x: L.log1p(x), (-0.5, 3)),
    "expm1": (lambda L, x: L.expm1(x), (-2, 2)),
    "log2": (lambda L, x: L.log2(x), (0.1, 3)),
    "log10": (lambda L, x: L.log10(x), (0.1, 3)),
    "sin": (lambda L, x: L.sin(x), (-3, 3)),
    "cos": (lambda L, x: L.cos(x), (-3, 3)),
    "tan": (lambda L, x: L.tan(x), (-1.2, 1.2)),
    "asin": (lambda L, x: L.asin(x), (-0.9, 0.9)),
    "acos": (lambda L, x: L.acos(x), (-0.9, 0.9)),
    "atan": (lambda L, x: L.atan(x), (-3, 3)),
    "sinh": (lambda L, x: L.sinh(x), (-2, 2)),
    "cosh": (lambda L, x: L.cosh(x), (-2, 2)),
    "tanh": (lambda L, x: L.tanh(x), (-3, 3)),
    "sigmoid": (lambda L, x: L.sigmoid(x), (-6, 6)),
    "relu": (lambda L, x: L.relu(x), (-2, 2)),
    "erf": (lambda L, x: L.erf(x), (-3, 3)),
    "erfc": (lambda L, x: L.erfc(x), (-3, 3)),
    "erfinv": (lambda L, x: L.erfinv(x), (-0.95, 0.95)),
    "floor": (lambda L, x: L.floor(x), (-3, 3)),
    "ceil": (lambda L, x: L.ceil(x), (-3, 3)),
    "round": (lambda L, x: L.round(x), (-3, 3)),
    "round_dec": (lambda L, x: L.round(x, decimals=2), (-3, 3)),
    "trunc": (lambda L, x: L.trunc(x), (-3, 3)),
    "frac": (lambda L, x: L.frac(x), (-3, 3)),
    "clamp": (lambda L, x: L.clamp(x, -0.5, 0.7), (-2, 2)),
    "clamp_min": (lambda L, x: L.clamp_min(x, -0.5), (-2, 2)),
    "clamp_max": (lambda L, x: x.clamp_max(0.5), (-2, 2)),
    "clip": (lambda L, x: L.clip(x, max=0.3), (-2, 2)),
    "nan_to_num": (lambda L, x: L.nan_to_num(L.log(x), nan=0.5, neginf=-2.0), (-2, 2)),
    "pow_scalar": (lambda L, x: x ** 3, (-2, 2)),
    "pow_half": (lambda L, x: L.pow(x, 0.5), (0.1, 2)),
    "rpow": (lambda L, x: 2 ** x, (-2, 2)),
    "method_chain": (lambda L, x: (x * 2).exp().log1p().tanh(), (-1, 1)),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_unary_parity(name: str, dtype: type) -> None:
    fn, (lo, hi) = UNARY[name]
    check(fn, _r(3, 4, lo=lo, hi=hi, dtype=dtype))


# name -> function of (lib, a, b); inputs are positive-ish where the op needs it
BINARY = {
    "add": lambda L, a, b: L.add(a, b, alpha=2),
    "sub": lambda L, a, b: L.sub(a, b, alpha=0.5),
    "rsub": lambda L, a, b: L.rsub(a, b),
    "mul": lambda L, a, b: a * b,
    "div": lambda L, a, b: a / b,
    "true_divide": lambda L, a, b: L.true_divide(a, b),
    "div_floor": lambda L, a, b: L.div(a, b, rounding_mode="floor"),
    "div_trunc": lambda L, a, b: L.div(a, b, rounding_mode="trunc"),
    "remainder": lambda L, a, b: a % b,
    "fmod": lambda L, a, b: L.fmod(a, b),
    "pow": lambda L, a, b: L.pow(a.abs() + 0.5, b),
    "atan2": lambda L, a, b: L.atan2(a, b),
    "hypot": lambda L, a, b: L.hypot(a, b),
    "logaddexp": lambda L, a, b: L.logaddexp(a, b),
    "xlogy": lambda L, a, b: L.xlogy(a, b.abs() + 0.1),
    "maximum": lambda L, a, b: L.maximum(a, b),
    "minimum": lambda L, a, b: L.minimum(a, b),
    "fmax": lambda L, a, b: L.fmax(a, b),
    "fmin": lambda L, a, b: L.fmin(a, b),
    "where": lambda L, a, b: L.where(a > b, a, b * 2),
    "lerp_scalar": lambda L, a, b: L.lerp(a, b, 0.3),
    "lerp_tensor": lambda L, a, b: L.lerp(a, b, L.sigmoid(a)),
    "addcmul": lambda L, a, b: L.addcmul(a, a, b, value=0.5),
    "addcdiv": lambda L, a, b: L.addcdiv(a, a, b.abs() + 0.5, value=-2),
    "clamp_tensor": lambda L, a, b: L.clamp(a, min=b - 0.5, max=b + 0.5),
    "masked_fill": lambda L, a, b: a.masked_fill(a > 0, b.sum()),
    "copy": lambda L, a, b: (a * 1).copy_(b[0]),
    "fill": lambda L, a, b: (a * 1).fill_(b.mean()) * a,
    "zero": lambda L, a, b: (a * 1).zero_() + b,
}


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_binary_parity_broadcast(name: str, dtype: type) -> None:
    a, b = _r(3, 4, dtype=dtype), _r(1, 4, lo=0.5, hi=2.0, dtype=dtype)
    b[0, 1] = -b[0, 1]  # one negative divisor
    check(BINARY[name], a, b)


@pytest.mark.parametrize("shapes", [((2, 1, 3), (4, 1)), ((), (3,)), ((3,), ()), ((2, 3), (2, 3))])
def test_broadcast_shapes(shapes: tuple) -> None:
    a, b = _r(*shapes[0]), _r(*shapes[1], lo=0.5, hi=2)
    for name in ("mul", "div", "maximum", "atan2", "pow", "remainder"):
        check(BINARY[name], a, b)


@settings(max_examples=10, deadline=None)
@given(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3),
       st.sampled_from(["add", "mul", "div", "maximum", "atan2", "hypot", "logaddexp", "where",
                        "lerp_tensor", "clamp_tensor", "remainder", "pow"]))
def test_broadcast_shapes_drawn(shapes: hnp.BroadcastableShapes, name: str) -> None:
    a, b = _r(*shapes.input_shapes[0]), _r(*shapes.input_shapes[1], lo=0.5, hi=2)
    check(BINARY[name], a, b)


MIXED = [lambda L, x, y: x ** y, lambda L, x, y: L.maximum(x, y),
         lambda L, x, y: L.where(x > 0.5, x, y), lambda L, x, y: L.clamp(x, y - 1, y),
         lambda L, x, y: (y * 1).copy_(x), lambda L, x, y: x.masked_fill(x > 0.5, y.sum()),
         lambda L, x, y: L.fmod(x, y.sum()), lambda L, x, y: 1.5 ** y * x,
         lambda L, x, y: x.sum() ** y, lambda L, x, y: L.lerp(x, x * 2, y.float())]


@pytest.mark.parametrize("fn", MIXED)
def test_mixed_float_dtypes(fn) -> None:  # type: ignore[no-untyped-def]
    """float32 with float64 (0-dim too): result dtype, and each gradient in its input's dtype."""
    check(fn, _r(3, lo=0.1, hi=1.0, dtype=np.float32), _r(3, lo=0.5, hi=1.5), fd=False)


SAMPLES = {
    "bool": np.array([True, False, True]),
    "uint8": np.array([1, 2, 250], dtype=np.uint8),
    "int32": np.array([-3, 0, 7], dtype=np.int32),
    "int64": np.array([-3, 5, 7]),
    "f16": np.array([0.5, -1.5, 2.0], dtype=np.float16),
    "f32": np.array([0.5, -1.5, 2.0], dtype=np.float32),
    "f64": np.array([0.5, -1.5, 2.0]),
    "f64_0d": np.array(1.5),
    "i64_0d": np.array(3),
}
OPERANDS = [*SAMPLES, 2, 2.5, True]


def _operand(lib, key):  # type: ignore[no-untyped-def]
    return lib.tensor(SAMPLES[key]) if isinstance(key, str) else key


@pytest.mark.parametrize("op", ["add", "mul", "div", "maximum", "eq", "lt", "where", "atan2",
                                "remainder", "floor_divide", "fmod", "pow", "bitwise_and"])
def test_type_promotion(op: str) -> None:
    for ka in SAMPLES:
        for kb in OPERANDS:
            outs = []
            for lib in (ember, torch):
                a, b = _operand(lib, ka), _operand(lib, kb)
                try:
                    if op == "where":
                        outs.append(lib.where(lib.tensor([True, False, True]), a, b))
                    elif op in ("maximum", "atan2") and not isinstance(kb, str):
                        outs.append(getattr(lib, op)(a, lib.tensor(b)))
                    else:
                        outs.append(getattr(lib, op)(a, b))
                except (RuntimeError, TypeError, NotImplementedError) as err:
                    outs.append(type(err))
            if isinstance(outs[1], type):
                assert isinstance(outs[0], type), f"{op}({ka}, {kb}): torch raised {outs[1]}"
                continue
            assert not isinstance(outs[0], type), f"{op}({ka}, {kb}): ember raised {outs[0]}"
            assert_same(outs[0], outs[1], rtol=1e-3, atol=1e-3, what=f"{op}({ka}, {kb})")


@pytest.mark.parametrize("op", ["sqrt", "exp", "sigmoid", "floor", "abs", "sign", "square",
                                "logical_not", "bitwise_not", "isnan", "nan_to_num", "round",
                                "neg", "erf", "relu"])
def test_unary_dtypes(op: str) -> None:
    for key in SAMPLES:
        outs = []
        for lib in (ember, torch):
            try:
                outs.append(getattr(lib, op)(lib.tensor(SAMPLES[key])))
            except (RuntimeError, NotImplementedError) as err:
                outs.append(type(err))
        if isinstance(outs[1], type):
            assert outs[0] is outs[1], f"{op}({key}): torch raised {outs[1]}, ember {outs[0]}"
            continue
        assert_same(outs[0], outs[1], rtol=1e-3, atol=1e-3, what=f"{op}({key})")


EDGE = st.sampled_from([0.0, -0.0, np.inf, -np.inf, np.nan, 1e308, -1e308, 1e-310, 5e-324, 1.0,
                        -1.0, 0.5, 2.5, -2.5, 3.0, 1e-8, 40.0, -40.0, 710.0, -745.0])
EDGE_UNARY = ["exp", "exp2", "expm1", "log", "log1p", "log2", "log10", "sqrt", "rsqrt", "sin",
              "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "sigmoid", "relu",
              "erf", "erfc", "erfinv", "floor", "ceil", "round", "trunc", "frac", "abs", "sign",
              "reciprocal", "nan_to_num", "isnan", "isinf", "isfinite", "isposinf", "isneginf",
              "square", "neg"]


@settings(max_examples=25, deadline=None)
@given(st.lists(EDGE, min_size=1, max_size=6), st.sampled_from([np.float64, np.float32]))
def test_edge_values_unary(vals: list, dtype: type) -> None:
    x = np.array(vals, dtype=dtype)
    with np.errstate(all="ignore"):
        for op in EDGE_UNARY:
            e = getattr(ember, op)(ember.tensor(x))
            t = getattr(torch, op)(torch.from_numpy(x))
            # subnormal results may flush to zero in torch's vectorised kernels: atol = tiny
            tol = 1e-6 if dtype == np.float64 else 2e-6
            assert_same(e, t, rtol=tol, atol=float(np.finfo(dtype).tiny), what=op)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(EDGE, EDGE), min_size=1, max_size=6))
def test_edge_values_binary(pairs: list) -> None:
    a, b = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
    for op in ("add", "sub", "mul", "div", "remainder", "fmod", "pow", "atan2", "hypot",
               "logaddexp", "xlogy", "maximum", "minimum", "fmax", "fmin", "floor_divide",
               "eq", "lt", "ge", "isclose"):
        e = getattr(ember, op)(ember.tensor(a), ember.tensor(b))
        t = getattr(torch, op)(torch.from_numpy(a), torch.from_numpy(b))
        assert_same(e, t, rtol=1e-12, atol=0, what=op)
    for mode in ("trunc", "floor"):
        e = ember.div(ember.tensor(a), ember.tensor(b), rounding_mode=mode)
        assert_same(e, torch.div(torch.from_numpy(a), torch.from_numpy(b), rounding_mode=mode))


def test_alpha() -> None:
    check(lambda L, x, y: (L.add(x, y, alpha=2), L.sub(x, 3, alpha=-2), L.add(x, 1.5, alpha=2)),
          np.array([1, 2]), np.array([3, -4]))
    check(lambda L, x: L.add(x, True, alpha=2), np.array([True, False]))
    check(lambda L, x, y: L.sub(x, y, alpha=0.5), np.array([1.0, 2.0]), np.array([2, 3]))


def test_integer_division_and_modulo() -> None:
    a = np.array([7, -7, 7, -7, 0, 5])
    b = np.array([2, 2, -2, -2, 3, 5])
    for f in (lambda L, x, y: x // y, lambda L, x, y: x % y, lambda L, x, y: L.fmod(x, y),
              lambda L, x, y: L.div(x, y, rounding_mode="trunc"), lambda L, x, y: x / y,
              lambda L, x, y: x ** L.abs(y), lambda L, x, y: 3 % y, lambda L, x, y: 20 // y):
        check(f, a, b)
    check(lambda L, x, y: x ** y, np.array([1, -1, 2, -2, 0]), np.array([-1, -3, -2, -1, 2]))
    for lib in (ember, torch):  # // is recorded but has no derivative in torch
        x = lib.tensor([3.0, -2.0], requires_grad=True)
        with pytest.raises(RuntimeError, match="derivative for aten::floor_divide"):
            (x // 2).sum().backward()
    for f in (lambda L: L.tensor([5]) // 0, lambda L: L.tensor([5]) % 0,
              lambda L: L.fmod(L.tensor([5]), 0)):
        with pytest.raises(RuntimeError, match="ZeroDivisionError"):
            f(ember)


def test_errors() -> None:
    t = ember.tensor([True, False])
    with pytest.raises(RuntimeError, match="Subtraction, the `-` operator, with two bool"):
        t - t
    with pytest.raises(RuntimeError, match="Negation, the `-` operator, on a bool tensor"):
        -t
    with pytest.raises(RuntimeError, match="Integers to negative integer powers are not allowed"):
        ember.tensor([2, 3]) ** -1
    with pytest.raises(RuntimeError, match="result type Float can't be cast to the desired output "
                                           "type Long"):
        ember.tensor([1, 2]).add_(1.5)
    with pytest.raises(RuntimeError, match="argument alpha must not be a floating point"):
        ember.add(ember.tensor([1]), 2, alpha=0.5)
    with pytest.raises(RuntimeError, match="At least one of 'min' or 'max' must not be None"):
        ember.clamp(ember.tensor([1.0]))
    with pytest.raises(RuntimeError, match="where expected condition to be a boolean tensor"):
        ember.where(ember.tensor([1.0]), 1, 2)
    with pytest.raises(RuntimeError, match="masked_fill_ only supports boolean masks"):
        ember.tensor([1.0]).masked_fill(ember.tensor([1]), 0)
    with pytest.raises(RuntimeError, match="0-dimensional value tensor"):
        ember.tensor([1.0]).masked_fill(ember.tensor([True]), ember.tensor([1.0]))
    with pytest.raises(RuntimeError, match="div expected rounding_mode"):
        ember.div(ember.tensor([1.0]), 2, rounding_mode="bad")
    with pytest.raises(NotImplementedError, match="bitwise_and_cpu"):
        ember.tensor([1.0]) & ember.tensor([1.0])
    with pytest.raises(RuntimeError, match="Boolean inputs not supported for relu"):
        ember.relu(t)
    with pytest.raises(RuntimeError, match="Integer division with addcdiv"):
        ember.addcdiv(ember.tensor([1]), ember.tensor([1]), ember.tensor([1]))
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        ember.tensor([1.0], requires_grad=True).add_(1)


@pytest.mark.parametrize("case", [
    ("relu", [0.0], lambda L, x: L.relu(x)),
    ("abs", [0.0], lambda L, x: L.abs(x)),
    ("sqrt", [0.0], lambda L, x: L.sqrt(x)),
    ("pow_half", [0.0], lambda L, x: x ** 0.5),
    ("clamp", [-1.0, 0.0, 1.0, 2.0], lambda L, x: L.clamp(x, 0, 1)),
    ("sign", [-1.0, 0.0, 2.0], lambda L, x: L.sign(x)),
    ("clamp_lo_gt_hi", [0.0, 1.0, 2.0, 3.0],
     lambda L, x: L.clamp(x, x.detach() * 0 + 1, L.tensor([0.5, 0.5, 3.0, 2.0], dtype=x.dtype))),
    ("pow0", [0.0, 2.0], lambda L, x: x ** 0),
    ("rpow", [0.0, 1.5], lambda L, x: 2 ** x),
    ("pow_t_at_0", [0.0, 2.0], lambda L, x: L.pow(x, x)),
    ("max_tie", [1.0, 2.0], lambda L, x: L.maximum(x, L.tensor([1.0, 3.0], dtype=x.dtype))),
    ("min_tie", [1.0, 2.0], lambda L, x: L.minimum(x, L.ones(2, dtype=x.dtype))),
    ("fmax_tie", [1.0, 2.0], lambda L, x: L.fmax(x, L.ones(2, dtype=x.dtype))),
    ("xlogy0", [0.0, 2.0], lambda L, x: L.xlogy(x, x)),
    ("nan_to_num", [np.nan, np.inf, 1.0], lambda L, x: L.nan_to_num(x)),
    ("floor", [1.5], lambda L, x: L.floor(x) + L.round(x) + L.div(x, 2, rounding_mode="floor")),
])
def test_gradient_edge_cases(case: tuple) -> None:
    _, vals, fn = case
    e = ember.tensor(vals, dtype=ember.float64, requires_grad=True)
    t = torch.tensor(vals, dtype=torch.float64, requires_grad=True)
    fn(ember, e).sum().backward()
    fn(torch, t).sum().backward()
    assert_same(e.grad, t.grad, what="grad")


@pytest.mark.parametrize("fn", [lambda L, x, y: x * y * x, lambda L, x, y: L.exp(x * y),
                                lambda L, x, y: L.tanh(x) * y, lambda L, x, y: L.sigmoid(x) / y,
                                lambda L, x, y: L.erf(x) * L.sqrt(y), lambda L, x, y: x ** y,
                                lambda L, x, y: L.maximum(x, y) * x,
                                lambda L, x, y: L.clamp(x * y, 0.3, 1.0) * x,
                                lambda L, x, y: L.where(x > y, x * x, y * x),
                                lambda L, x, y: L.atan2(x, y) + L.hypot(x, y) * x,
                                lambda L, x, y: L.logaddexp(x, y) * L.erfinv(x / 2) * y,
                                lambda L, x, y: L.log(x) * L.rsqrt(y) + L.sin(x * y),
                                lambda L, x, y: L.xlogy(x, y) * L.reciprocal(x)])
def test_second_order(fn) -> None:  # type: ignore[no-untyped-def]
    xs, ys = _r(4, lo=0.2, hi=1.5), _r(4, lo=0.2, hi=1.5)
    results = []
    for lib, grad in ((ember, ember.autograd.grad), (torch, torch.autograd.grad)):
        x = lib.tensor(xs, requires_grad=True)
        y = lib.tensor(ys, requires_grad=True)
        (gx,) = grad(fn(lib, x, y).sum(), (x,), create_graph=True)
        gxx, gxy = grad(gx.sum(), (x, y))
        results.append((gx, gxx, gxy))
    assert_same(results[0], results[1], what="second order")


def test_comparisons_logic_and_misc() -> None:
    a, b = np.array([1.0, np.nan, 3.0, 2.0]), np.array([1.0, 2.0, np.nan, 3.0])
    for name in ("eq", "ne", "lt", "le", "gt", "ge", "greater", "less", "greater_equal",
                 "less_equal", "not_equal", "logical_and", "logical_or", "logical_xor", "fmax",
                 "fmin", "maximum", "minimum"):
        check(lambda L, x, y, n=name: getattr(L, n)(x, y), a, b, grad=False)
    check(lambda L, x, y: (L.isclose(x, y, equal_nan=True), L.isclose(x, y + 1e-9)), a, b)
    i, j = np.array([12, 5, -3]), np.array([10, 3, 6])
    check(lambda L, x, y: (x & y, x | y, x ^ y, ~x, x & 6, 3 | x), i, j)
    m, n = np.array([True, False, True]), np.array([True, True, False])
    check(lambda L, x, y: (x & y, x | y, x ^ y, ~x, L.logical_not(x)), m, n)
    check(lambda L, x: L.where(x > 0), np.array([[1.0, -1.0], [2.0, 0.0]]))
    check(lambda L, x: L.where(x > 0, x, 0.0), _r(3, 2))
    for lib_pair in ((ember, ember.tensor([1.0, 2.0])), (torch, torch.tensor([1.0, 2.0]))):
        lib, x = lib_pair
        assert lib.equal(x, x * 1) is True and lib.equal(x, x + 1) is False
        assert lib.allclose(x, x + 1e-9) is True and lib.allclose(x, x + 1) is False
    assert ember.equal(ember.ones(2), ember.ones(3)) is False


def test_inplace_methods() -> None:
    def run(lib):  # type: ignore[no-untyped-def]
        w = lib.tensor([0.5, -1.0, 2.0], dtype=lib.float64, requires_grad=True)
        x = w * 1
        x.mul_(2).add_(1).clamp_(0, 2.5).sqrt_()
        v = (w * 1).masked_fill_(w > 1.5, 0.25).tanh_()
        y = lib.ones(2, 3, dtype=lib.float64)
        y.copy_(w)
        z = lib.tensor([5, -3, 8])
        z //= 2
        z %= 3
        return x, y, z, v, (x.sum() + y.sum() * 2 + v.sum()).backward() or w.grad

    assert_same(run(ember), run(torch))


def test_erf_family_accuracy() -> None:
    x = np.concatenate([np.linspace(-6, 6, 4001), [0.0, 1e-300, 1e-9, 27.0, -27.0]])
    for name in ("erf", "erfc"):
        e = getattr(ember, name)(ember.tensor(x)).numpy()
        t = getattr(torch, name)(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(e, t, rtol=5e-13, atol=0, err_msg=name)
    y = np.concatenate([np.linspace(-0.999999, 0.999999, 4001), [0.0, 1e-300, 1e-12, -1, 1, 2]])
    e = ember.erfinv(ember.tensor(y)).numpy()
    np.testing.assert_allclose(e, torch.erfinv(torch.from_numpy(y)).numpy(), rtol=1e-10, atol=0)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision(dtype: str) -> None:
    for op in ("exp", "log", "sqrt", "sigmoid", "tanh", "erf", "erfinv", "sin", "floor", "round",
               "abs", "relu", "rsqrt", "expm1", "frac", "sign", "reciprocal", "square"):
        e = getattr(ember, op)(ember.tensor([0.3, -0.7, 0.9], dtype=getattr(ember, dtype)))
        t = getattr(torch, op)(torch.tensor([0.3, -0.7, 0.9], dtype=getattr(torch, dtype)))
        assert_same(e, t, rtol=1e-2, atol=1e-3, what=f"{op} {dtype}")
    inf = float("inf")
    for fn in (lambda L, d: L.nan_to_num(L.tensor([float("nan"), inf, -inf, 1.0], dtype=d)),
               lambda L, d: L.clamp(L.tensor([-3.0, 1.0], dtype=d), -1, 0.5),
               lambda L, d: L.tensor([1.0, 2.0], dtype=d).masked_fill(L.tensor([True, False]), 3),
               lambda L, d: L.zeros(2, dtype=d).copy_(L.tensor([1.1, 2.2]))):
        assert_same(fn(ember, getattr(ember, dtype)), fn(torch, getattr(torch, dtype)))
    for op in ("add", "mul", "div", "maximum", "pow", "atan2", "remainder", "fmod", "hypot",
               "logaddexp", "xlogy", "floor_divide"):
        args = [[0.3, 0.7, 2.5], [1.5, -0.5, 2.0]]
        e = getattr(ember, op)(*[ember.tensor(a, dtype=getattr(ember, dtype)) for a in args])
        t = getattr(torch, op)(*[torch.tensor(a, dtype=getattr(torch, dtype)) for a in args])
        assert_same(e, t, rtol=1e-2, atol=1e-3, what=f"{op} {dtype}")
