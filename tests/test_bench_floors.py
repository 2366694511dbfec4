"""benchmarks/floors.py lists the GEMM shapes of each benchmark workload by hand: check them
against the layers the workloads' models really run, and the products against NumPy's."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import ember
from benchmarks import floors
from benchmarks.workloads import WORKLOADS


@pytest.mark.parametrize("name", list(floors.LAYERS))
def test_layers_match_the_workload(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[int, int, int]] = []
    attention: list[tuple[int, ...]] = []
    linear_forward, conv_forward = ember.nn.Linear.forward, ember.nn.Conv2d.forward
    sdpa = ember.nn.functional.scaled_dot_product_attention

    def linear(self: Any, x: Any) -> Any:
        seen.append((x.numel() // self.in_features, self.in_features, self.out_features))
        return linear_forward(self, x)

    def conv(self: Any, x: Any) -> Any:
        out = conv_forward(self, x)
        n, c_out, h, w = out.shape
        kh, kw = self.kernel_size
        seen.append((n * h * w, self.in_channels // self.groups * kh * kw, c_out))
        return out

    def attend(q: Any, k: Any, v: Any, *args: Any, **kwargs: Any) -> Any:
        attention.append(tuple(q.shape))
        return sdpa(q, k, v, *args, **kwargs)

    monkeypatch.setattr(ember.nn.Linear, "forward", linear)
    monkeypatch.setattr(ember.nn.Conv2d, "forward", conv)
    monkeypatch.setattr(ember.nn.functional, "scaled_dot_product_attention", attend)
    WORKLOADS[name](ember)()
    assert seen == floors.LAYERS[name]
    calls, bh, t, hs = floors.ATTENTION.get(name, (0, 0, 0, 0))
    assert len(attention) == calls
    assert all(s[0] * s[1] == bh and s[2:] == (t, hs) for s in attention)


def test_products_and_flops() -> None:
    gemms = floors.gemms("MLP train step")
    # forward of each layer, then dW, then dx except for the first layer: 3 + 3 + 2
    assert len(gemms) == 8
    assert floors.flops(gemms) == 2 * 128 * (3 * (784 * 512 + 512 * 512 + 512 * 10) - 784 * 512)
    ((a, b, out),) = floors.operands([(6, 5, 4, True, True, 1)])
    np.matmul(a, b, out=out)
    assert a.shape == (6, 5) and b.shape == (5, 4) and not a.flags.c_contiguous
    np.testing.assert_allclose(out, a.astype(np.float64) @ b, rtol=1e-5)
