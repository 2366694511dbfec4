"""Recurrent layers: RNN, LSTM, GRU and their cells, with torch's parameter names and layout."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import ember
from ember import dtypes as _dt
from ember.nn.modules.module import Module
from ember.nn.parameter import Parameter
from ember.tensor import Tensor

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]

_GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}


def _param(shape: tuple[int, ...], dtype: Any) -> Parameter:
    d = _dt.get_default_dtype() if dtype is None else _dt.to_dtype(dtype)
    return Parameter(Tensor._make(np.empty(shape, dtype=d.np)))


def _lstm_step(gi: Tensor, h: Tensor, c: Tensor, w_hh: Tensor,
               b_hh: Tensor | None) -> tuple[Tensor, Tensor]:
    """One LSTM step; gi = x W_ih^T + b_ih (N, 4H). Gate order i, f, g, o."""
    gates = gi + h @ w_hh.mT
    if b_hh is not None:
        gates = gates + b_hh
    i, f, g, o = gates.chunk(4, -1)
    c = f.sigmoid() * c + i.sigmoid() * g.tanh()
    return o.sigmoid() * c.tanh(), c


def _gru_step(gi: Tensor, h: Tensor, w_hh: Tensor, b_hh: Tensor | None) -> Tensor:
    """One GRU step; gate order r, z, n; n = tanh(gi_n + r * (h W_hn^T + b_hn))."""
    gh = h @ w_hh.mT
    if b_hh is not None:
        gh = gh + b_hh
    i_r, i_z, i_n = gi.chunk(3, -1)
    h_r, h_z, h_n = gh.chunk(3, -1)
    r = (i_r + h_r).sigmoid()
    z = (i_z + h_z).sigmoid()
    n = (i_n + r * h_n).tanh()
    return (h - n) * z + n  # torch's rounding order for (1 - z) * n + z * h


def _rnn_step(gi: Tensor, h: Tensor, w_hh: Tensor, b_hh: Tensor | None, relu: bool) -> Tensor:
    pre = gi + h @ w_hh.mT
    if b_hh is not None:
        pre = pre + b_hh
    return pre.relu() if relu else pre.tanh()


class RNNBase(Module):
    """Matches `torch.nn.RNNBase`: the shared multi-layer, bidirectional recurrence."""

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        if not 0 <= dropout <= 1 or isinstance(dropout, bool):
            raise ValueError("dropout should be a number in range [0, 1] representing the "
                             "probability of an element being zeroed")
        if hidden_size <= 0:
            raise ValueError("hidden_size must be greater than zero")
        if num_layers <= 0:
            raise ValueError("num_layers must be greater than zero")
        if proj_size:
            raise NotImplementedError("LSTM proj_size is not supported by ember")
        self.mode, self.input_size, self.hidden_size = mode, input_size, hidden_size
        self.num_layers, self.bias, self.batch_first = num_layers, bias, batch_first
        self.dropout, self.bidirectional, self.proj_size = float(dropout), bidirectional, 0
        num_dir = 2 if bidirectional else 1
        gate = _GATES[mode] * hidden_size
        self._flat_weights_names: list[str] = []
        for layer in range(num_layers):
            for d in range(num_dir):
                in_size = input_size if layer == 0 else hidden_size * num_dir
                sfx = f"_l{layer}" + ("_reverse" if d == 1 else "")
                shapes: list[tuple[str, tuple[int, ...]]] = [
                    ("weight_ih", (gate, in_size)), ("weight_hh", (gate, hidden_size))]
                if bias:
                    shapes += [("bias_ih", (gate,)), ("bias_hh", (gate,))]
                for name, shape in shapes:
                    setattr(self, name + sfx, _param(shape, dtype))
                    self._flat_weights_names.append(name + sfx)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every weight U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), in parameter order."""
        from ember.nn import init

        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def flatten_parameters(self) -> None:
        """Matches `torch.nn.RNNBase.flatten_parameters`: a cuDNN memory-layout step; ember's
        weights are separate NumPy arrays already used as they are, so there is nothing to do."""
        return None

    @property
    def all_weights(self) -> list[list[Parameter]]:
        per = 4 if self.bias else 2
        names = self._flat_weights_names
        return [[getattr(self, n) for n in names[i:i + per]] for i in range(0, len(names), per)]

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s

    def _weights(self, layer: int, d: int) -> tuple[Tensor, Tensor, Tensor | None,
                                                     Tensor | None]:
        sfx = f"_l{layer}" + ("_reverse" if d == 1 else "")
        b_ih = getattr(self, "bias_ih" + sfx) if self.bias else None
        b_hh = getattr(self, "bias_hh" + sfx) if self.bias else None
        return getattr(self, "weight_ih" + sfx), getattr(self, "weight_hh" + sfx), b_ih, b_hh

    def _run_direction(self, x: Tensor, layer: int, d: int, h: Tensor,
                       c: Tensor | None) -> tuple[Tensor, Tensor, Tensor | None]:
        """One layer in one direction over x (L, N, in): outputs (L, N, H), h_n, c_n."""
        w_ih, w_hh, b_ih, b_hh = self._weights(layer, d)
        gi_all = x @ w_ih.mT  # (L, N, G*H): one GEMM for every step's input projection
        if b_ih is not None:
            gi_all = gi_all + b_ih
        steps = range(x.shape[0] - 1, -1, -1) if d == 1 else range(x.shape[0])
        outs: list[Tensor] = [h] * x.shape[0]
        for t in steps:
            gi = gi_all[t]
            if self.mode == "LSTM":
                assert c is not None
                h, c = _lstm_step(gi, h, c, w_hh, b_hh)
            elif self.mode == "GRU":
                h = _gru_step(gi, h, w_hh, b_hh)
            else:
                h = _rnn_step(gi, h, w_hh, b_hh, self.mode == "RNN_RELU")
            outs[t] = h
        return ember.stack(outs), h, c

    def _check_input(self, input: Tensor) -> bool:
        if input.ndim not in (2, 3):
            raise ValueError(f"{type(self).__name__}: Expected input to be 2D or 3D, got "
                             f"{input.ndim}D instead")
        if input.shape[-1] != self.input_size:
            raise RuntimeError(f"input.size(-1) must be equal to input_size. Expected "
                               f"{self.input_size}, got {input.shape[-1]}")
        return input.ndim == 3

    def _zeros(self, n: int, x: Tensor) -> Tensor:
        num_dir = 2 if self.bidirectional else 1
        return ember.zeros(self.num_layers * num_dir, n, self.hidden_size, dtype=x.dtype)

    def _check_hidden(self, hx: Tensor, n: int, what: str = "hidden") -> None:
        num_dir = 2 if self.bidirectional else 1
        expected = (self.num_layers * num_dir, n, self.hidden_size)
        if tuple(hx.shape) != expected:
            raise RuntimeError(f"Expected {what} size {expected}, got {list(hx.shape)}")

    def _forward(self, input: Tensor, h0: Tensor | None,
                 c0: Tensor | None) -> tuple[Tensor, Tensor, Tensor | None]:
        batched = self._check_input(input)
        x = input if batched else input.unsqueeze(1)
        if batched and self.batch_first:
            x = x.transpose(0, 1)  # (L, N, in)
        n = x.shape[1]
        if h0 is not None and not batched:
            if h0.ndim != 2:
                raise RuntimeError(f"For unbatched 2-D input, hx should also be 2-D but got "
                                   f"{h0.ndim}-D tensor")
            h0 = h0.unsqueeze(1)
            c0 = None if c0 is None else c0.unsqueeze(1)
        if h0 is None:
            h0 = self._zeros(n, x)
        self._check_hidden(h0, n)
        if self.mode == "LSTM":
            c0 = self._zeros(n, x) if c0 is None else c0
            self._check_hidden(c0, n, "cell")
        num_dir = 2 if self.bidirectional else 1
        h_n: list[Tensor] = []
        c_n: list[Tensor] = []
        for layer in range(self.num_layers):
            if layer > 0 and self.dropout and self.training:
                x = _layer_dropout(x, self.dropout)
            outs = []
            for d in range(num_dir):
                k = layer * num_dir + d
                out, h, c = self._run_direction(x, layer, d, h0[k],
                                                None if c0 is None else c0[k])
                outs.append(out)
                h_n.append(h)
                if c is not None:
                    c_n.append(c)
            x = outs[0] if num_dir == 1 else ember.cat(outs, -1)
        out = x.transpose(0, 1) if batched and self.batch_first else x
        hs = ember.stack(h_n)
        cs = ember.stack(c_n) if c_n else None
        if not batched:
            out, hs = out.squeeze(1), hs.squeeze(1)
            cs = None if cs is None else cs.squeeze(1)
        return out, hs, cs


def _layer_dropout(x: Tensor, p: float) -> Tensor:
    """Dropout between stacked layers (training only)."""
    from ember.nn.functional.attention import _dropout

    return _dropout(x, p)


class RNN(RNNBase):
    """Matches `torch.nn.RNN` (nonlinearity 'tanh' or 'relu')."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False, device: Any = None,
                 dtype: Any = None) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or "
                             "'relu'.")
        self.nonlinearity = nonlinearity
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size,
                         hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         device=device, dtype=dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> tuple[Tensor, Tensor]:
        out, h, _ = self._forward(input, hx, None)
        return out, h


class LSTM(RNNBase):
    """Matches `torch.nn.LSTM` (without proj_size): returns output, (h_n, c_n)."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 proj_size: int = 0, device: Any = None, dtype: Any = None) -> None:
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, proj_size, device, dtype)

    def forward(self, input: Tensor,
                hx: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        h0, c0 = (None, None) if hx is None else hx
        out, h, c = self._forward(input, h0, c0)
        assert c is not None
        return out, (h, c)


class GRU(RNNBase):
    """Matches `torch.nn.GRU`."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, device=device, dtype=dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> tuple[Tensor, Tensor]:
        out, h, _ = self._forward(input, hx, None)
        return out, h


# ---- cells ---------------------------------------------------------------------------------------
class RNNCellBase(Module):
    """Matches `torch.nn.RNNCellBase`: weight_ih, weight_hh, bias_ih, bias_hh."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool, num_chunks: int,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        self.weight_ih = _param((num_chunks * hidden_size, input_size), dtype)
        self.weight_hh = _param((num_chunks * hidden_size, hidden_size), dtype)
        if bias:
            self.bias_ih = _param((num_chunks * hidden_size,), dtype)
            self.bias_hh = _param((num_chunks * hidden_size,), dtype)
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        from ember.nn import init

        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        return s

    def _prep(self, input: Tensor, hx: Tensor | None) -> tuple[Tensor, Tensor, Tensor | None,
                                                                bool]:
        if input.ndim not in (1, 2):
            raise ValueError(f"{type(self).__name__}: Expected input to be 1D or 2D, got "
                             f"{input.ndim}D instead")
        batched = input.ndim == 2
        x = input if batched else input.unsqueeze(0)
        gi = x @ self.weight_ih.mT
        if self.bias_ih is not None:
            gi = gi + self.bias_ih
        h = None if hx is None else (hx if batched else hx.unsqueeze(0))
        return x, gi, h, batched


class RNNCell(RNNCellBase):
    """Matches `torch.nn.RNNCell`."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", device: Any = None, dtype: Any = None) -> None:
        super().__init__(input_size, hidden_size, bias, 1, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        x, gi, h, batched = self._prep(input, hx)
        h = ember.zeros(x.shape[0], self.hidden_size, dtype=x.dtype) if h is None else h
        out = _rnn_step(gi, h, self.weight_hh, self.bias_hh, self.nonlinearity == "relu")
        return out if batched else out.squeeze(0)


class LSTMCell(RNNCellBase):
    """Matches `torch.nn.LSTMCell`: returns (h', c')."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__(input_size, hidden_size, bias, 4, device, dtype)

    def forward(self, input: Tensor,
                hx: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        x, gi, h, batched = self._prep(input, None if hx is None else hx[0])
        zeros = ember.zeros(x.shape[0], self.hidden_size, dtype=x.dtype)
        if hx is None:
            h, c = zeros, zeros
        else:
            c = hx[1] if batched else hx[1].unsqueeze(0)
        assert h is not None
        h, c = _lstm_step(gi, h, c, self.weight_hh, self.bias_hh)
        return (h, c) if batched else (h.squeeze(0), c.squeeze(0))


class GRUCell(RNNCellBase):
    """Matches `torch.nn.GRUCell`."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__(input_size, hidden_size, bias, 3, device, dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        x, gi, h, batched = self._prep(input, hx)
        h = ember.zeros(x.shape[0], self.hidden_size, dtype=x.dtype) if h is None else h
        out = _gru_step(gi, h, self.weight_hh, self.bias_hh)
        return out if batched else out.squeeze(0)
