"""The CPU RNG (torch's MT19937 stream, reproduced draw for draw) and the random functions."""

from __future__ import annotations

import contextlib
import math
import struct
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ember import dtypes as _dt
from ember.tensor import Tensor


def _zeros_like(t: Tensor) -> Tensor:
    return Tensor._make(np.zeros_like(t._data))

__all__ = [
    "Generator", "default_generator", "manual_seed", "seed", "initial_seed", "get_rng_state",
    "set_rng_state", "rand", "randn", "randint", "randperm", "rand_like", "randn_like",
    "randint_like", "normal", "bernoulli", "multinomial",
]

NDArray = np.ndarray
_DEFAULT_SEED = 67280421310721  # torch's initial seed
_N = 624  # MT19937 state words
_STATE_SIZE = 5056  # sizeof(CPUGeneratorImplState): torch's get_rng_state layout
_M24, _M53 = (1 << 24) - 1, (1 << 53) - 1


class Generator:
    """Matches `torch.Generator` (CPU): torch's MT19937 stream with its Box-Muller cache."""

    def __init__(self, device: Any = "cpu") -> None:
        self._mt = np.random.MT19937()
        self.manual_seed(_DEFAULT_SEED)

    def manual_seed(self, seed: Any) -> Generator:
        seed = int(seed)
        if not -(1 << 63) <= seed < (1 << 64):
            raise ValueError("Overflow when unpacking long long")
        self._seed = seed & 0xFFFFFFFFFFFFFFFF
        # torch seeds with the low 32 bits: the same key as NumPy's legacy seeding
        self._mt._legacy_seeding(self._seed & 0xFFFFFFFF)
        self._fresh = True  # torch's `next` index is 0 until the first draw
        self._normal: float | None = None  # the cached second Box-Muller value
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

    # ---- raw draws --------------------------------------------------------------------------
    def _u32(self, n: int) -> NDArray:
        """n raw 32-bit outputs (as uint64), torch's `random()`."""
        if n:
            self._fresh = False
        return self._mt.random_raw(n)  # type: ignore[no-any-return]

    def _u64(self, n: int) -> NDArray:
        """n 64-bit values from two outputs each, torch's `random64()`: first << 32 | second."""
        r = self._u32(2 * n).reshape(n, 2)
        return (r[:, 0] << np.uint64(32)) | r[:, 1]  # type: ignore[no-any-return]

    def _double(self, n: int) -> NDArray:
        """n float64 uniforms on [0, 1) with 53 random bits."""
        return (self._u64(n) & np.uint64(_M53)) * 2.0**-53  # type: ignore[no-any-return]

    # ---- state ------------------------------------------------------------------------------
    def get_state(self) -> Tensor:
        """torch's 5056-byte state layout, so states move between ember and torch."""
        st = self._mt.state["state"]
        pos = int(st["pos"])
        nxt = 0 if self._fresh else pos
        head = struct.pack("<QiiQ", self._seed, _N + 1 - pos, 1, nxt)
        key = np.asarray(st["key"], dtype=np.uint64).astype("<u8").tobytes()
        valid = self._normal is not None
        tail = struct.pack("<dddi", 0.0, self._normal if valid else 0.0, 0.0, int(valid))
        raw = head + key + tail
        raw += bytes(_STATE_SIZE - len(raw))
        return Tensor._make(np.frombuffer(raw, dtype=np.uint8).copy())

    def set_state(self, new_state: Tensor) -> Generator:
        if not isinstance(new_state, Tensor) or new_state._data.dtype != np.uint8:
            raise TypeError("RNG state must be a torch.ByteTensor")
        raw = new_state._data.tobytes()
        if len(raw) != _STATE_SIZE:
            raise RuntimeError(f"Expected a CPUGeneratorImplState of size {_STATE_SIZE} but found "
                               f"the input RNG state size to be {len(raw)}")
        seed, left, _, nxt = struct.unpack_from("<QiiQ", raw, 0)
        if not 1 <= left <= _N:
            raise RuntimeError("The legacy_state.left value is invalid: state is corrupted")
        key = np.frombuffer(raw, dtype="<u8", count=_N, offset=24).astype(np.uint32)
        _, normal_y, _, valid = struct.unpack_from("<dddi", raw, 24 + 8 * _N)
        self._mt.state = {"bit_generator": "MT19937", "state": {"key": key, "pos": _N + 1 - left}}
        self._seed = seed
        self._fresh = left == 1 and nxt == 0
        self._normal = normal_y if valid else None
        return self

    def __repr__(self) -> str:
        return f"<torch._C.Generator object at {id(self):#x}>"


default_generator = Generator()


def manual_seed(seed: Any) -> Generator:
    """Matches `torch.manual_seed`: seeds the global generator and returns it."""
    return default_generator.manual_seed(seed)


def seed() -> int:
    """Matches `torch.seed`: a non-deterministic seed for the global generator."""
    return default_generator.seed()


def initial_seed() -> int:
    """Matches `torch.initial_seed`."""
    return default_generator.initial_seed()


def get_rng_state() -> Tensor:
    """Matches `torch.get_rng_state`: a uint8 tensor in torch's byte layout."""
    return default_generator.get_state()


def set_rng_state(new_state: Tensor) -> None:
    """Matches `torch.set_rng_state`."""
    default_generator.set_state(new_state)


def _gen(generator: Generator | None) -> Generator:
    return default_generator if generator is None else generator


# ---- value streams (row-major, as torch's serial CPU kernels) -------------------------------
def _uniform_values(g: Generator, n: int, np_dtype: Any, a: float, b: float) -> NDArray:
    """torch's `uniform_real_distribution<T>(a, b)`: x = (bits & mask) / 2**digits,
    then x * (b - a) + a with the difference taken in T."""
    if np_dtype == np.float64:
        return _fma(g._double(n), b - a, a)  # torch's compiler fuses x * (b - a) + a
    if np_dtype == np.float32:
        x = (g._u32(n) & np.uint64(_M24)) * 2.0**-24
        fa, fb = np.float32(a), np.float32(b)
        return (x * float(fb - fa) + float(fa)).astype(np.float32)  # type: ignore[no-any-return]
    # float16 / bfloat16: torch draws as float32 and rounds
    return _uniform_values(g, n, np.float32, a, b).astype(np_dtype)  # type: ignore[no-any-return]


def _fma(x: NDArray, y: float, z: float) -> NDArray:
    """x * y + z rounded once (as a fused multiply-add), by Dekker's exact product."""
    p = x * y
    split = 134217729.0  # 2**27 + 1
    xh = x * split
    xh = xh - (xh - x)
    yh = y * split
    yh = yh - (yh - y)
    ep = ((xh * yh - p) + xh * (y - yh) + (x - xh) * yh) + (x - xh) * (y - yh)
    s = p + z
    bb = s - p
    es = (p - (s - bb)) + (z - bb)
    return s + (es + ep)  # type: ignore[no-any-return]


def _box_muller(g: Generator, n: int) -> NDArray:
    """n standard normals from torch's `normal_distribution<double>`: each pair of float64
    uniforms (u1, u2) gives r*cos(2 pi u1) now and caches r*sin(2 pi u1); r = sqrt(-2 log1p(-u2)).
    """
    out = np.empty(n)
    i = 0
    if n and g._normal is not None:
        out[0], g._normal, i = g._normal, None, 1
    pairs = (n - i + 1) // 2
    if pairs:
        u = g._double(2 * pairs).reshape(pairs, 2)
        vals = np.empty(2 * pairs)
        for k in range(pairs):  # libm, as torch, for bit-exact values
            r = math.sqrt(-2.0 * math.log1p(-float(u[k, 1])))
            theta = 2.0 * math.pi * float(u[k, 0])
            vals[2 * k], vals[2 * k + 1] = r * math.cos(theta), r * math.sin(theta)
        out[i:] = vals[: n - i]
        if (n - i) % 2:
            g._normal = float(vals[-1])
    return out


def _normal_fill(g: Generator, n: int, np_dtype: Any, mean: float, std: float) -> NDArray:
    """torch's `normal_fill` for contiguous tensors of 16+ elements: uniforms first, then a
    Box-Muller over each block of 16 (j with j+8); a ragged tail redraws the last 16. Below
    float64 the math is float32 step by step, as torch's SIMD kernel (most values exact, the
    rest within an ulp)."""
    wd = np.float64 if np_dtype == np.float64 else np.float32
    full = n // 16 * 16
    # float16/bfloat16 fill a float buffer padded to whole blocks: its last block is the tail
    padded = wd is np.float32 and np_dtype != np.float32 and n % 16
    d = _uniform_values(g, full + 16 if padded else n, wd, 0.0, 1.0)
    out = np.empty(n, wd)
    _fill16(d[:full].reshape(-1, 16), out[:full].reshape(-1, 16))
    if n % 16:
        tail = d[full:] if padded else _uniform_values(g, 16, wd, 0.0, 1.0)
        _fill16(tail.reshape(1, 16), out[n - 16:].reshape(1, 16))
    if wd is np.float64:
        return _fma(out, std, mean)
    # float32 multiply-add rounded once
    return out.astype(np.float64) * float(np.float32(std)) + float(np.float32(mean))  # type: ignore[no-any-return]


def _fill16(d: NDArray, out: NDArray) -> None:
    # d, out: (blocks, 16), float32 or float64; every step rounds in that dtype
    wd = d.dtype.type
    r = np.sqrt(wd(-2.0) * np.log(wd(1.0) - d[:, :8]))
    theta = wd(2.0 * math.pi) * d[:, 8:]
    out[:, :8] = r * np.cos(theta)
    out[:, 8:] = r * np.sin(theta)


def _normal_values(g: Generator, n: int, np_dtype: Any, mean: float, std: float,
                   contiguous: bool = True) -> NDArray:
    if std < 0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {_fmt(std)}")
    if n >= 16 and contiguous:
        return _normal_fill(g, n, np_dtype, mean, std).astype(np_dtype)  # type: ignore[no-any-return]
    return _fma(_box_muller(g, n), std, mean).astype(np_dtype)  # type: ignore[no-any-return]


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def _int_range_values(g: Generator, n: int, low: int, high: int) -> NDArray:
    """torch's `random_from_to`: low + bits % range, from 32 bits (64 for ranges >= 2**32)."""
    rng = high - low
    bits = g._u64(n) if rng >= 1 << 32 else g._u32(n)
    return ((bits % np.uint64(rng)).astype(np.int64) + low)  # type: ignore[no-any-return]


def _float_dtype(dtype: Any, kernel: str = "check_uniform_bounds") -> Any:
    d = _dt.get_default_dtype() if dtype is None else _dt.to_dtype(dtype)
    if not d.is_floating_point:
        raise NotImplementedError(f"\"{kernel}\" not implemented for '{d._legacy[:-6]}'")
    return d.to_numpy()


def _shape(size: tuple[Any, ...], fn: str) -> tuple[int, ...]:
    from ember.ops.creation import _sized

    return _sized(fn, size)


def _finish(arr: NDArray, requires_grad: bool) -> Tensor:
    t = Tensor._make(arr)
    return t.requires_grad_() if requires_grad else t


def _in_memory_order(arr: NDArray, fill: Callable[[int, bool], NDArray]) -> NDArray:
    """Values for `arr`'s shape, drawn in its memory order as torch's TensorIterator does."""
    if arr.flags.c_contiguous or arr.ndim < 2:
        return fill(arr.size, arr.flags.c_contiguous).reshape(arr.shape)
    order = sorted(range(arr.ndim), key=lambda i: -abs(arr.strides[i]))
    vals = fill(arr.size, False).reshape([arr.shape[i] for i in order])
    return np.transpose(vals, np.argsort(order))


# ---- creation functions ---------------------------------------------------------------------
def rand(*shape: Any, size: Any = None, generator: Generator | None = None,
         dtype: Any = None, device: Any = None, requires_grad: bool = False, out: Any = None,
         layout: Any = None, pin_memory: bool = False) -> Tensor:
    """Matches `torch.rand`, value for value from the same seed."""
    shape, npd = _shape(shape if size is None else (size,), "rand"), _float_dtype(dtype)
    n = math.prod(shape)
    return _finish(_uniform_values(_gen(generator), n, npd, 0.0, 1.0).reshape(shape), requires_grad)


def randn(*shape: Any, size: Any = None, generator: Generator | None = None,
          dtype: Any = None, device: Any = None, requires_grad: bool = False, out: Any = None,
          layout: Any = None, pin_memory: bool = False) -> Tensor:
    """Matches `torch.randn`: float64, float16, bfloat16 and float32 below 16 elements are
    bit-exact; float32 from 16 elements most values exact, the rest within an ulp."""
    shape, npd = _shape(shape if size is None else (size,), "randn"), \
        _float_dtype(dtype, "normal_kernel_cpu")
    vals = _normal_values(_gen(generator), math.prod(shape), npd, 0.0, 1.0)
    return _finish(vals.reshape(shape), requires_grad)


def rand_like(input: Tensor, *, dtype: Any = None, generator: Generator | None = None,
              requires_grad: bool = False, **kw: Any) -> Tensor:
    """Matches `torch.rand_like`."""
    return rand(input.shape, dtype=dtype or input.dtype, generator=generator,
                requires_grad=requires_grad)


def randn_like(input: Tensor, *, dtype: Any = None, generator: Generator | None = None,
               requires_grad: bool = False, **kw: Any) -> Tensor:
    """Matches `torch.randn_like`."""
    return randn(input.shape, dtype=dtype or input.dtype, generator=generator,
                 requires_grad=requires_grad)


def randint(*args: Any, low: int | None = None, high: int | None = None, size: Any = None,
            generator: Generator | None = None, dtype: Any = None, device: Any = None,
            requires_grad: bool = False, out: Any = None, layout: Any = None,
            pin_memory: bool = False) -> Tensor:
    """Matches `torch.randint(low=0, high, size)`: `low + bits % (high - low)`, exact."""
    pos = list(args)
    if size is None and pos:
        size = pos.pop()
    if high is None and pos:
        high = pos.pop()
    if low is None:
        low = pos.pop() if pos else 0
    if size is None or high is None or pos:
        raise TypeError("randint() received an invalid combination of arguments: expected "
                        "(low=0, high, size)")
    lo, hi = int(low), int(high)
    if lo >= hi:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={lo} >= "
                           f"to={hi}")
    shape = _shape((size,), "randint")
    d = _dt.int64 if dtype is None else _dt.to_dtype(dtype)
    vals = _int_range_values(_gen(generator), math.prod(shape), lo, hi)
    return _finish(vals.reshape(shape).astype(d.to_numpy()), requires_grad)


def randint_like(input: Tensor, *args: Any, low: int | None = None, high: int | None = None,
                 dtype: Any = None, generator: Generator | None = None,
                 requires_grad: bool = False, **kw: Any) -> Tensor:
    """Matches `torch.randint_like(input, low=0, high)`."""
    return randint(*args, low=low, high=high, size=input.shape, dtype=dtype or input.dtype,
                   generator=generator, requires_grad=requires_grad)


def randperm(n: int, *, generator: Generator | None = None, dtype: Any = None,
             device: Any = None, requires_grad: bool = False, out: Any = None,
             layout: Any = None, pin_memory: bool = False) -> Tensor:
    """Matches `torch.randperm`: torch's forward Fisher-Yates, swap i with i + bits % (n - i)."""
    n = int(n)
    if n < 0:
        raise RuntimeError(f"Trying to create tensor with negative dimension {n}: [{n}]")
    g = _gen(generator)
    r = np.arange(n, dtype=np.int64)
    if n > 1:
        bits = g._u64(n - 1) if n >= 1 << 32 else g._u32(n - 1)
        z = (bits % np.arange(n, 1, -1, dtype=np.uint64)).astype(np.int64).tolist()
        rl = r.tolist()
        for i, zi in enumerate(z):
            j = i + zi
            rl[i], rl[j] = rl[j], rl[i]
        r = np.array(rl, dtype=np.int64)
    d = _dt.int64 if dtype is None else _dt.to_dtype(dtype)
    return _finish(r.astype(d.to_numpy()), requires_grad)


def normal(mean: Any, std: Any = 1.0, size: Any = None, *, generator: Generator | None = None,
           out: Any = None, dtype: Any = None, device: Any = None, layout: Any = None,
           pin_memory: bool = False, requires_grad: bool = False) -> Tensor:
    """Matches `torch.normal`: (Tensor, Tensor), (Tensor, float), (float, Tensor) or
    (float, float, size). Like torch, the result carries no gradient to mean or std."""
    g = _gen(generator)
    mt, st = isinstance(mean, Tensor), isinstance(std, Tensor)
    if not mt and not st:
        if size is None:
            raise TypeError("normal() received an invalid combination of arguments: "
                            "(float, float) needs a size")
        shape, npd = _shape((size,), "normal"), _float_dtype(dtype)
        vals = _normal_values(g, math.prod(shape), npd, float(mean), float(std))
        return _finish(vals.reshape(shape), requires_grad)
    if st and (std._data < 0).any():
        raise RuntimeError("normal expects all elements of std >= 0.0")
    ref = mean if mt else std
    if not ref.dtype.is_floating_point:
        raise RuntimeError(f"normal expects floating-point outputs, got {ref.dtype}")
    m = mean._data if mt else None
    s = std._data if st else None
    shape = np.broadcast_shapes(*(a.shape for a in (m, s) if a is not None))
    npd = ref._data.dtype
    if mt and not st:  # normal_(0, std) then add_(mean)
        base = _normal_values(g, math.prod(shape), npd, 0.0, float(std)).reshape(shape)
        return Tensor._make((base + m).astype(npd))
    base = _normal_values(g, math.prod(shape), npd, 0.0, 1.0).reshape(shape)
    return Tensor._make((base * s + (m if mt else np.asarray(mean, npd))).astype(npd))


def bernoulli(input: Tensor, p: Any = None, *, generator: Generator | None = None,
              out: Any = None) -> Tensor:
    """Matches `torch.bernoulli`, bit for bit: 1 where a uniform is below p (see `bernoulli_`)."""
    if p is None:
        return _bernoulli_(_zeros_like(input), input, generator=generator)
    return _bernoulli_(_zeros_like(input), p, generator=generator)


def _tensor_p_uniforms(g: Generator, n: int, p_dtype: Any) -> NDArray:
    """torch's tensor-p kernel draws uniforms of p's dtype: 53 bits for float64, else 24."""
    if p_dtype == np.float64:
        return g._double(n)
    return (g._u32(n) & np.uint64(_M24)) * 2.0**-24  # type: ignore[no-any-return]


def multinomial(input: Tensor, num_samples: int, replacement: bool = False, *,
                generator: Generator | None = None, out: Any = None) -> Tensor:
    """Matches `torch.multinomial`: with replacement, a float64 uniform searched in the
    normalised cdf; without, the exponential race argmax p / Exp(1) (the same indices as torch
    from the same seed in the cases tested)."""
    p = input._data.astype(np.float64)
    if p.ndim not in (1, 2):
        raise RuntimeError("prob_dist must be 1 or 2 dim")
    if (p < 0).any() or not np.isfinite(p).all():
        raise RuntimeError("probability tensor contains either `inf`, `nan` or element < 0")
    rows = p.reshape(-1, p.shape[-1])
    if not replacement and num_samples > rows.shape[1]:
        raise RuntimeError("cannot sample n_sample > prob_dist.size(-1) samples without "
                           "replacement")
    g = _gen(generator)
    res = np.empty((rows.shape[0], num_samples), dtype=np.int64)
    for i, row in enumerate(rows):
        if row.sum() <= 0:
            raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
        if replacement:
            cdf = np.cumsum(row / row.sum())
            u = g._double(num_samples)
            res[i] = np.minimum(np.searchsorted(cdf, u, side="right"), len(row) - 1)
        else:  # the exponential race: argsort of p / Exp(1), as torch
            e = -np.log1p(-g._double(len(row)))
            with np.errstate(divide="ignore"):
                res[i] = np.argsort(-(row / e), kind="stable")[:num_samples]
    return Tensor._make(res.reshape(*p.shape[:-1], num_samples))


# ---- in-place samplers: Tensor.uniform_, normal_, ... (attached below) ---------------------
def _check_float(t: Tensor, name: str) -> None:
    if not t.dtype.is_floating_point:
        raise NotImplementedError(f"\"{name}\" not implemented for '{t.dtype._legacy[:-6]}'")


def _write(t: Tensor, vals: NDArray) -> Tensor:
    t._check_inplace()
    np.copyto(t._data, vals, casting="unsafe")
    t._version_ref[0] += 1
    return t


def _uniform_(self: Tensor, from_: float = 0.0, to: float = 1.0, *,
              generator: Generator | None = None) -> Tensor:
    """Matches `torch.Tensor.uniform_`, bit for bit from the same seed."""
    _check_float(self, "check_uniform_bounds")
    if from_ > to:
        raise RuntimeError(f"uniform_ expects to return a [from, to) range, but found "
                           f"from={_fmt(from_)} > to={_fmt(to)}")
    g, npd = _gen(generator), self._data.dtype
    vals = _in_memory_order(self._data, lambda n, c: _uniform_values(g, n, npd, from_, to))
    return _write(self, vals)


def _normal_(self: Tensor, mean: float = 0.0, std: float = 1.0, *,
             generator: Generator | None = None) -> Tensor:
    """Matches `torch.Tensor.normal_` (see `ember.randn` for exactness)."""
    _check_float(self, "normal_kernel_cpu")
    g, npd = _gen(generator), self._data.dtype
    vals = _in_memory_order(self._data, lambda n, c: _normal_values(g, n, npd, mean, std, c))
    return _write(self, vals)


def _bernoulli_(self: Tensor, p: Any = 0.5, *, generator: Generator | None = None) -> Tensor:
    """Matches `torch.Tensor.bernoulli_`, bit for bit: a float p compares float64 uniforms; a
    tensor p compares uniforms of its own dtype (float64: 53 bits, else float32's 24)."""
    g = _gen(generator)
    if not isinstance(p, Tensor):
        if not 0 <= p <= 1:
            raise RuntimeError(f"bernoulli_ expects p to be in [0, 1], but got p={_fmt(p)}")
        vals = _in_memory_order(self._data, lambda n, c: g._double(n))
        return _write(self, vals < float(p))
    probs = p._data
    if ((probs < 0) | (probs > 1)).any():
        raise RuntimeError("Expected p_in >= 0 && p_in <= 1 to be true, but got false.  "
                           "(Could this error message be improved?  If so, please report an "
                           "enhancement request to PyTorch.)")
    pt = np.float64 if probs.dtype == np.float64 else np.float32
    vals = _in_memory_order(self._data, lambda n, c: _tensor_p_uniforms(g, n, probs.dtype))
    return _write(self, vals < np.broadcast_to(probs, self._data.shape).astype(pt))


def _random_(self: Tensor, from_: int | None = None, to: int | None = None, *,
             generator: Generator | None = None) -> Tensor:
    """Matches `torch.Tensor.random_`: `random_()`, `random_(to)` or `random_(from, to)`."""
    g, npd = _gen(generator), self._data.dtype
    if from_ is not None and to is None:
        from_, to = 0, from_
    if to is not None:
        lo, hi = int(from_ or 0), int(to)
        if lo >= hi:
            raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={lo} "
                               f">= to={hi}")
        vals = _in_memory_order(self._data, lambda n, c: _int_range_values(g, n, lo, hi))
        return _write(self, vals)
    # the full range: [0, 2**digits] for floats, [0, max] for integers, a bit for bool
    if npd == np.bool_:
        return _write(self, _in_memory_order(self._data, lambda n, c: g._u32(n) & np.uint64(1)))
    wide = npd in (np.int64, np.float64)
    if npd.kind == "f" or npd == _dt.bfloat16.np:
        mod = (1 << {8: 53, 4: 24, 2: 11 if npd == np.float16 else 8}[npd.itemsize]) + 1
    else:
        mod = int(np.iinfo(npd).max) + 1
    vals = _in_memory_order(
        self._data, lambda n, c: (g._u64(n) if wide else g._u32(n)) % np.uint64(mod))
    return _write(self, vals)


# the C type names torch's cauchy_ error uses
_C_NAMES = {"int64": "long int", "int32": "int", "int16": "short int", "int8": "signed char",
            "uint8": "unsigned char", "bool": "bool"}


def _doubles_then(self: Tensor, generator: Generator | None,
                  f: Callable[[NDArray], NDArray]) -> Tensor:
    g = _gen(generator)
    return _write(self, _in_memory_order(self._data, lambda n, c: f(g._double(n))))


def _libm(fn: Callable[[float], float], x: NDArray) -> NDArray:
    """fn element by element through the C library, as torch (NumPy's SIMD versions can differ
    in the last bit, which shows in float64 results)."""
    return np.fromiter((fn(v) for v in x.tolist()), np.float64, x.size).reshape(x.shape)


def _exponential_(self: Tensor, lambd: float = 1.0, *,
                  generator: Generator | None = None) -> Tensor:
    """Matches `torch.Tensor.exponential_`, bit for bit: -1/lambd * log1p(-u)."""
    if not self.dtype.is_floating_point:
        name = self.dtype._legacy[:-6]
        raise RuntimeError("Exponential distribution is a continuous probability distribution. "
                           f"dtype must be a floating point but you specified {name}")
    if not lambd > 0:
        raise RuntimeError(f"exponential_ expects lambda > 0.0, but found lambda={_fmt(lambd)}")
    return _doubles_then(self, generator, lambda u: -1.0 / lambd * _libm(math.log1p, -u))


def _geometric_(self: Tensor, p: float, *, generator: Generator | None = None) -> Tensor:
    """Matches `torch.Tensor.geometric_`: ceil(log(u) / log1p(-p))."""
    if not 0 < p < 1:
        raise RuntimeError(f"geometric_ expects p to be in (0, 1), but got p={_fmt(p)}")
    return _doubles_then(self, generator, lambda u: np.ceil(_libm(math.log, u) / math.log1p(-p)))


def _cauchy_(self: Tensor, median: float = 0.0, sigma: float = 1.0, *,
             generator: Generator | None = None) -> Tensor:
    """Matches `torch.Tensor.cauchy_`: median + sigma * tan(pi * (u - 1/2))."""
    if not self.dtype.is_floating_point:
        name = _C_NAMES[self.dtype.name]
        raise RuntimeError("Cauchy distribution is a continuous probability distribution. dtype "
                           f"must be a floating point but you specified {name}")
    return _doubles_then(
        self, generator, lambda u: median + sigma * _libm(math.tan, math.pi * (u - 0.5)))


def _log_normal_(self: Tensor, mean: float = 1.0, std: float = 2.0, *,
                 generator: Generator | None = None) -> Tensor:
    """Matches `torch.Tensor.log_normal_`: exp of a normal(mean, std)."""
    _check_float(self, "log_normal_cpu")
    g = _gen(generator)
    vals = _in_memory_order(
        self._data, lambda n, c: np.exp(_box_muller(g, n) * std + mean))
    return _write(self, vals)


@contextlib.contextmanager
def fork_rng(devices: Any = None, enabled: bool = True, **kw: Any) -> Iterator[None]:
    """Matches `torch.random.fork_rng`: the global generator's state is restored on exit."""
    if not enabled:
        yield
        return
    state = get_rng_state()
    try:
        yield
    finally:
        set_rng_state(state)


for _name, _fn in [("bernoulli", bernoulli), ("multinomial", multinomial),
                   ("uniform_", _uniform_), ("normal_", _normal_), ("bernoulli_", _bernoulli_),
                   ("random_", _random_), ("exponential_", _exponential_),
                   ("geometric_", _geometric_), ("cauchy_", _cauchy_),
                   ("log_normal_", _log_normal_)]:
    if _name.endswith("_"):
        _fn.__name__ = _fn.__qualname__ = _name
    setattr(Tensor, _name, _fn)
