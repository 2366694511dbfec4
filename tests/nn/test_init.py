"""nn.init against torch: gains, fans, errors, distributions, and the same weights from the
same seed (uniform-based initialisers bit for bit, normal-based ones within float32 rounding)."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pytest
import torch

import ember
from ember.nn import init


def _same_seed(name: str, shape: tuple[int, ...], *args: Any, **kwargs: Any) -> tuple[Any, Any]:
    ember.manual_seed(0)
    torch.manual_seed(0)
    e, t = ember.empty(*shape), torch.empty(*shape)
    assert getattr(init, name)(e, *args, **kwargs) is e
    assert getattr(torch.nn.init, name)(t, *args, **kwargs) is t
    return e.numpy(), t.numpy()


@pytest.mark.parametrize("name,shape,args", [
    ("uniform_", (5, 7), (-2.0, 3.0)),
    ("kaiming_uniform_", (30, 20), (math.sqrt(5),)),
    ("kaiming_uniform_", (8, 4, 3, 3), (0, "fan_out", "relu")),
    ("xavier_uniform_", (8, 4, 3, 3), (2.0,)),
    ("normal_", (3,), (1.0, 2.0)),
    ("constant_", (4,), (0.3,)),
    ("eye_", (3, 5), ()),
    ("dirac_", (4, 2, 3, 3), (2,)),
    ("trunc_normal_", (500,), (0.0, 1.0, 3.0, 4.0)),
])
@pytest.mark.filterwarnings("ignore:mean is more than 2 std")
def test_bit_identical_to_torch(name: str, shape: tuple[int, ...], args: tuple[Any, ...]) -> None:
    e, t = _same_seed(name, shape, *args)
    np.testing.assert_array_equal(e, t)


@pytest.mark.parametrize("name,shape,args", [
    ("kaiming_normal_", (30, 20), ()),
    ("xavier_normal_", (30, 20), (2.0,)),
    ("trunc_normal_", (50, 40), (0.0, 1.0, -0.5, 0.5)),
    ("trunc_normal_", (50, 40), (0.0, 0.02)),
    ("orthogonal_", (6, 10), ()),
    ("orthogonal_", (10, 6, 2), (1.5,)),
    ("sparse_", (10, 5), (0.3,)),
])
def test_close_to_torch(name: str, shape: tuple[int, ...], args: tuple[Any, ...]) -> None:
    e, t = _same_seed(name, shape, *args)
    np.testing.assert_allclose(e, t, rtol=1e-5, atol=2e-6)


def test_calculate_gain_matches_torch() -> None:
    for nl in ("linear", "conv2d", "sigmoid", "tanh", "relu", "selu", "leaky_relu"):
        assert init.calculate_gain(nl) == torch.nn.init.calculate_gain(nl)
        assert type(init.calculate_gain(nl)) is type(torch.nn.init.calculate_gain(nl))
    assert init.calculate_gain("leaky_relu", 0.2) == torch.nn.init.calculate_gain("leaky_relu", 0.2)
    assert init.calculate_gain("leaky_relu", 3) == torch.nn.init.calculate_gain("leaky_relu", 3)
    with pytest.raises(ValueError, match="Unsupported nonlinearity foo"):
        init.calculate_gain("foo")
    with pytest.raises(ValueError, match="negative_slope True not a valid number"):
        init.calculate_gain("leaky_relu", True)  # type: ignore[arg-type]


def test_fans_and_errors_match_torch() -> None:
    assert init._calculate_fan_in_and_fan_out(ember.empty(300, 200)) == (200, 300)
    assert init._calculate_fan_in_and_fan_out(ember.empty(8, 4, 3, 3)) == (36, 72)
    cases = [
        (lambda lib: lib.nn.init.xavier_uniform_(lib.empty(3)), ValueError),
        (lambda lib: lib.nn.init.kaiming_uniform_(lib.empty(3, 3), mode="fan"), ValueError),
        (lambda lib: lib.nn.init.eye_(lib.empty(3)), ValueError),
        (lambda lib: lib.nn.init.dirac_(lib.empty(3, 3)), ValueError),
        (lambda lib: lib.nn.init.dirac_(lib.empty(3, 3, 3), 2), ValueError),
        (lambda lib: lib.nn.init.orthogonal_(lib.empty(3)), ValueError),
    ]
    for fn, exc in cases:
        with pytest.raises(exc) as te:
            fn(torch)
        with pytest.raises(exc) as ee:
            fn(ember)
        assert str(ee.value) == str(te.value)


def test_works_on_parameters_under_autograd() -> None:
    p = ember.nn.Parameter(ember.empty(4, 3))
    for fn in (init.kaiming_uniform_, init.xavier_normal_, init.zeros_, init.ones_,
               init.orthogonal_, init.trunc_normal_):
        assert fn(p) is p
        assert p.is_leaf and p.grad_fn is None and p.requires_grad
        assert isinstance(p, ember.nn.Parameter)
    assert p.tolist() != ember.ones(4, 3).tolist()


def test_distributions() -> None:
    t = init.kaiming_uniform_(ember.empty(400, 100), a=math.sqrt(5))
    bound = math.sqrt(3.0) * (math.sqrt(2.0 / (1 + 5)) / math.sqrt(100))
    assert float(t.abs().max()) <= bound and float(t.abs().max()) > 0.99 * bound
    n = init.kaiming_normal_(ember.empty(500, 200), nonlinearity="relu")
    np.testing.assert_allclose(float(n.std()), math.sqrt(2 / 200), rtol=0.02)
    tn = init.trunc_normal_(ember.empty(20000), std=0.5, a=-0.6, b=0.9)
    assert float(tn.min()) >= -0.6 and float(tn.max()) <= 0.9
    o = init.orthogonal_(ember.empty(5, 8), gain=2.0).numpy()
    np.testing.assert_allclose(o @ o.T, 4 * np.eye(5), atol=1e-5)
    g = ember.Generator().manual_seed(3)
    a = init.uniform_(ember.empty(6), generator=g).tolist()
    g.manual_seed(3)
    assert init.uniform_(ember.empty(6), generator=g).tolist() == a


def test_zero_element_warning_and_deprecated_aliases() -> None:
    with pytest.warns(UserWarning, match="Initializing zero-element tensors is a no-op"):
        init.kaiming_uniform_(ember.empty(0, 3))
    with pytest.warns(FutureWarning, match="nn.init.normal` is now deprecated"):
        init.normal(ember.empty(3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        init.constant_(ember.empty(3), 1.0)
