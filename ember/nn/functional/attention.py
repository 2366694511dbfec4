"""Attention: scaled_dot_product_attention and multi_head_attention_forward."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import ember
from ember import _buffers
from ember._parallel import parallel_for
from ember.autograd.function import Primitive
from ember.autograd.grad_mode import is_grad_enabled
from ember.tensor import Tensor

NDArray = np.ndarray

__all__ = ["scaled_dot_product_attention", "multi_head_attention_forward"]


def _dropout(x: Tensor, p: float, training: bool = True) -> Tensor:
    """torch's dropout: x * (bernoulli_(1-p) mask / (1-p)), drawing the same numbers as torch
    from the same seed."""
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0.0
    noise = ember.empty(tuple(x.shape), dtype=x.dtype).bernoulli_(1.0 - p)
    return x * Tensor._make(noise._data / np.asarray(1.0 - p, dtype=x._data.dtype))


def _attn_bias(attn_mask: Tensor | None, is_causal: bool, lq: int, lk: int,
               dtype: Any) -> Tensor | None:
    """The additive bias: -inf where a bool mask is False or above the causal diagonal."""
    bias: Tensor | None = None
    if is_causal:
        if attn_mask is not None:
            raise RuntimeError("_scaled_dot_product_attention: Explicit attn_mask should not be "
                               "set when is_causal=True")
        allowed = np.tril(np.ones((lq, lk), dtype=bool))
        bias = Tensor._make(np.where(allowed, 0.0, -np.inf).astype(dtype.np))
    if attn_mask is not None:
        if attn_mask.dtype == ember.bool:
            bias = Tensor._make(np.where(attn_mask._data, 0.0, -np.inf).astype(dtype.np))
        else:
            bias = attn_mask
    return bias


_CAUSAL: dict[tuple[int, int, Any], NDArray] = {}  # (L, S, np dtype) -> (L, S) 0 / -inf bias


def _causal_bias(lq: int, lk: int, dtype: Any) -> NDArray:
    """The (L, S) additive causal bias (0 on and below the diagonal, -inf above), built once."""
    key = (lq, lk, dtype)
    bias = _CAUSAL.get(key)
    if bias is None:
        if len(_CAUSAL) > 32:
            _CAUSAL.clear()
        bias = np.where(np.tri(lq, lk, dtype=bool), 0.0, -np.inf).astype(dtype)
        bias.flags.writeable = False
        _CAUSAL[key] = bias
    return bias


def _split(q: NDArray, k: NDArray, v: NDArray, bias: NDArray | None,
           ps: tuple[int, ...]) -> int:
    """How many items of the leading dim the attention kernels may split over ember's threads:
    P's (ps) leading size where q, k, v have P's rank (and size 1 or P's there), else 1.
    The per-item work is matmuls of one item and row-wise softmax passes, so any split gives
    the same bits."""
    n = ps[0] if len(ps) >= 3 else 1
    if n < 2 or any(a.ndim != len(ps) or a.shape[0] not in (1, n) for a in (q, k, v)):
        return 1
    if isinstance(bias, np.ndarray) and bias.ndim == len(ps) and bias.shape[0] not in (1, n):
        return 1
    return n


def _rows(a: NDArray | None, i: int, j: int, n: int, rank: int) -> NDArray | None:
    """Items i:j of P's leading dim (n items, P of rank `rank`), or all of `a` where it
    broadcasts along that dim (a lower rank, or size 1 there)."""
    if a is None or n == 1 or a.ndim != rank or a.shape[0] != n:
        return a
    return a[i:j]


def _t(a: NDArray) -> NDArray:
    """a.mT as a C-contiguous copy: OpenBLAS's small GEMMs with a transposed right operand ran
    ~2x slower than the copy plus the plain GEMM ((64, 32) @ (32, 64) batches: 0.60 -> 0.42 ms)."""
    return np.ascontiguousarray(np.swapaxes(a, -1, -2))


def _empty_as(like: NDArray, shape: tuple[int, ...], dtype: Any) -> NDArray:
    """An empty (..., H, L, E) array in `like`'s memory order of the head and row dims: where
    `like` is a (B, L, H, E) array seen as (B, H, L, E) (q after nanoGPT's
    view(B, T, nh, hs).transpose(1, 2)), a transposed view of a (..., L, H, E) buffer, as
    torch's CPU flash attention returns. Its transpose back then is contiguous, so the
    caller's .contiguous().view(B, T, C) and, in backward, the view and transpose of the
    gradients copy nothing (4 copies of (16, 64, 128) per GPT layer)."""
    if len(shape) < 3 or like.ndim != len(shape) or like.strides[-3] >= like.strides[-2]:
        return _buffers.empty(shape, dtype)
    return np.swapaxes(_buffers.empty(shape[:-3] + (shape[-2], shape[-3], shape[-1]), dtype),
                       -3, -2)


_ATTN_GRAIN = 1 << 16  # elements of P per thread at least
# |scores| below this skip softmax's row max (0.29 ms of ~0.9 for (8,4,64,64) float32): a
# row's sum of exps stays within (e^-60, S e^60), far from float32's under- and overflow
_EXP_SAFE = 60.0


class _Attention(Primitive):
    """softmax(q k^T scale + bias) v over the last two dims, q (..., L, E), k (..., S, E),
    v (..., S, Ev), bias None, an array or a Tensor broadcastable to (..., L, S); no row may be
    fully masked. The probabilities P (..., L, S) are kept for backward. Items of the leading
    dim run on ember's threads.
    VJP: dv = P^T g; dP = g v^T; dS = P (dP - rowsum(dP P)); dq = scale dS k;
    dk = scale dS^T q; dbias = dS."""

    @staticmethod
    def forward(ctx: Any, q: NDArray, k: NDArray, v: NDArray, bias: NDArray | None,
                scale: float) -> NDArray:
        ps = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2]) + (
            q.shape[-2], k.shape[-2])
        if bias is not None:  # a mask may have more batch dims than q k^T
            ps = np.broadcast_shapes(bias.shape, ps)
        p = _buffers.empty(ps, np.result_type(q, k))  # (..., L, S)
        out = _empty_as(q, ps[:-1] + (v.shape[-1],), np.result_type(p, v))  # (..., L, Ev)
        n, r = _split(q, k, v, bias, ps), len(ps)
        # with no bias or the causal one (every row keeps its diagonal, bias 0), scores within
        # +-_EXP_SAFE need no row max: exp neither overflows nor underflows a whole row
        bounded = bias is None or any(bias is c for c in _CAUSAL.values())

        def run(i: int, j: int) -> None:
            pi = p[i:j] if n > 1 else p
            np.matmul(_rows(q, i, j, n, r), _t(_rows(k, i, j, n, r)),  # type: ignore[arg-type]
                      out=pi)
            pi *= scale
            # per item of the leading dim (all of P when it is not split), so the path an
            # item takes does not depend on the thread split
            items = pi.reshape(pi.shape[0] if n > 1 else 1, -1)
            unsafe = np.flatnonzero((items.max(axis=1) >= _EXP_SAFE)
                                    | (items.min(axis=1) <= -_EXP_SAFE)) if bounded else None
            if bias is not None:
                pi += _rows(bias, i, j, n, r)  # type: ignore[arg-type]
            if unsafe is None:
                pi -= pi.max(axis=-1, keepdims=True)  # softmax in place
            for u in () if unsafe is None else unsafe:  # the rare item with large scores
                it = pi[u] if n > 1 else pi
                it -= it.max(axis=-1, keepdims=True)
            np.exp(pi, out=pi)
            pi /= _buffers.row_sum(pi)  # GEMV: ~4x NumPy's reduce along rows of 64
            np.matmul(pi, _rows(v, i, j, n, r),  # type: ignore[arg-type]
                      out=out[i:j] if n > 1 else out)

        parallel_for(run, n, _ATTN_GRAIN, p.size // max(n, 1))
        if True in ctx.needs_input_grad:
            ctx.save_for_backward(*ctx.inputs[:4])
            ctx.p, ctx.scale = p, scale
        return out

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor | None, ...]:
        q, k, v, bias = ctx.saved_tensors
        need = ctx.needs_input_grad
        scale = ctx.scale
        if is_grad_enabled():  # create_graph: P as a function of the inputs
            scores = (q @ k.mT) * scale
            if bias is not None:
                scores = scores + (bias if isinstance(bias, Tensor) else Tensor._make(bias))
            p = scores.softmax(-1)
        else:
            return _attention_vjp(ctx.p, g._data, q._data, k._data, v._data, scale, need)
        dv = p.mT @ g if need[2] else None
        dp = g @ v.mT
        ds = p * (dp - (dp * p).sum(-1, keepdim=True))  # (..., L, S)
        dq = (ds @ k) * scale if need[0] else None
        dk = (ds.mT @ q) * scale if need[1] else None
        return dq, dk, dv, (ds if need[3] else None), None


def _attention_vjp(p: NDArray, g: NDArray, q: NDArray, k: NDArray, v: NDArray, scale: float,
                   need: tuple[bool, ...]) -> tuple[Tensor | None, ...]:
    """`_Attention`'s VJP in NumPy (no create_graph): the same formulas, dS built in place,
    items of the leading dim on ember's threads. q, k, v grads come out at P's batch shape
    (the engine sums them down where they broadcast)."""
    ps, bshape = p.shape, p.shape[:-2]
    g = np.broadcast_to(g, ps[:-1] + (v.shape[-1],))
    n, r = _split(q, k, v, None, ps), len(ps)
    dq = _empty_as(q, bshape + q.shape[-2:], p.dtype) if need[0] else None  # in q's layout
    dk = _empty_as(k, bshape + k.shape[-2:], p.dtype) if need[1] else None
    dv = _empty_as(v, bshape + v.shape[-2:], p.dtype) if need[2] else None
    dbias = _buffers.empty(ps, p.dtype) if need[3] else None

    def run(i: int, j: int) -> None:
        sl = slice(i, j) if n > 1 else slice(None)
        pi, gi = p[sl], g[sl]
        if dv is not None:
            np.matmul(np.swapaxes(pi, -1, -2), gi, out=dv[sl])
        ds = np.matmul(gi, _t(_rows(v, i, j, n, r)),  # type: ignore[arg-type]
                       out=_buffers.empty(pi.shape, pi.dtype))  # dP (.., L, S)
        prod = np.multiply(ds, pi, out=_buffers.empty(pi.shape, pi.dtype))
        ds -= _buffers.row_sum(prod)
        del prod
        ds *= pi  # dS = P (dP - rowsum(dP P))
        if dbias is not None:
            dbias[sl] = ds
        ds *= scale
        if dq is not None:
            np.matmul(ds, _rows(k, i, j, n, r), out=dq[sl])  # type: ignore[arg-type]
        if dk is not None:
            np.matmul(np.swapaxes(ds, -1, -2), _rows(q, i, j, n, r),  # type: ignore[arg-type]
                      out=dk[sl])

    parallel_for(run, n, _ATTN_GRAIN, p.size // max(n, 1))
    return tuple(None if a is None else Tensor._make(a) for a in (dq, dk, dv, dbias)) + (None,)


def _fusable(query: Tensor, key: Tensor, value: Tensor, attn_mask: Tensor | None,
             dropout_p: float) -> bool:
    """The fused path covers float32/64 without dropout; masks of the query's dtype or bool."""
    dt = query.dtype
    return (dropout_p == 0.0 and dt in (ember.float32, ember.float64) and key.dtype == dt
            and value.dtype == dt and query.ndim >= 2 and key.ndim >= 2 and value.ndim >= 2
            and key.shape[-2] > 0
            and (attn_mask is None or attn_mask.dtype in (dt, ember.bool)))


def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor,
                                 attn_mask: Tensor | None = None, dropout_p: float = 0.0,
                                 is_causal: bool = False, scale: float | None = None,
                                 enable_gqa: bool = False) -> Tensor:
    """Matches `torch.nn.functional.scaled_dot_product_attention` (the math backend): a bool mask
    keeps True positions, a float mask is added, rows with nothing to attend to give zeros.
    Dropout draws from ember's generator, so its masks differ from torch's."""
    lq, lk = query.shape[-2], key.shape[-2]
    if enable_gqa and query.ndim >= 3 and key.shape[-3] != query.shape[-3]:
        rep = query.shape[-3] // key.shape[-3]
        key = key.repeat_interleave(rep, -3)
        value = value.repeat_interleave(rep, -3)
    s = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    if _fusable(query, key, value, attn_mask, dropout_p):
        if is_causal and attn_mask is not None:
            raise RuntimeError("_scaled_dot_product_attention: Explicit attn_mask should not be "
                               "set when is_causal=True")
        npdt = query._data.dtype
        bias: Any = None
        if is_causal:
            bias = _causal_bias(lq, lk, npdt)  # row i keeps keys 0..i: none fully masked
        elif attn_mask is not None and attn_mask.dtype == ember.bool:
            if attn_mask._data.any(axis=-1).all():  # else a fully masked row: composed path
                bias = np.where(attn_mask._data, 0.0, -np.inf).astype(npdt)
        elif attn_mask is not None and not np.isneginf(attn_mask._data).all(axis=-1).any():
            bias = attn_mask
        if bias is not None or (attn_mask is None and not is_causal):
            return _Attention.apply(query, key, value, bias, s)
    return _sdpa_composed(query, key, value, attn_mask, dropout_p, is_causal, s)


def _sdpa_composed(query: Tensor, key: Tensor, value: Tensor, attn_mask: Tensor | None,
                   dropout_p: float, is_causal: bool, s: float) -> Tensor:
    """The reference composition (dropout, other dtypes, fully masked rows; the tests'
    reference for `_Attention`)."""
    lq, lk = query.shape[-2], key.shape[-2]
    scores = (query @ key.mT) * s  # (..., L, S)
    bias = _attn_bias(attn_mask, is_causal, lq, lk, query.dtype)
    dead = None
    if bias is not None:
        full = np.broadcast_to(bias._data, np.broadcast_shapes(bias.shape, scores.shape))
        dead = np.all(np.isneginf(full), axis=-1, keepdims=True)  # rows fully masked
        if dead.any():  # softmax of a finite row there, zeroed afterwards
            bias = bias.expand(full.shape).masked_fill(Tensor._make(dead), 0.0)
        else:
            dead = None
        scores = scores + bias
    attn = scores.softmax(-1)
    if dead is not None:
        attn = attn * Tensor._make((~dead).astype(attn._data.dtype))
    attn = _dropout(attn, dropout_p)
    return attn @ value


def _canonical(mask: Tensor | None, dtype: Any) -> Tensor | None:
    """MultiheadAttention masks: bool True means 'do not attend' -> a float -inf bias."""
    if mask is None or mask.dtype != ember.bool:
        return mask
    return Tensor._make(np.where(mask._data, -np.inf, 0.0).astype(dtype.np))


def _project(x: Tensor, w: Tensor, b: Tensor | None) -> Tensor:
    y = x @ w.mT
    return y if b is None else y + b


def multi_head_attention_forward(
        query: Tensor, key: Tensor, value: Tensor, embed_dim_to_check: int, num_heads: int,
        in_proj_weight: Tensor | None, in_proj_bias: Tensor | None, bias_k: Tensor | None,
        bias_v: Tensor | None, add_zero_attn: bool, dropout_p: float, out_proj_weight: Tensor,
        out_proj_bias: Tensor | None, training: bool = True,
        key_padding_mask: Tensor | None = None, need_weights: bool = True,
        attn_mask: Tensor | None = None, use_separate_proj_weight: bool = False,
        q_proj_weight: Tensor | None = None, k_proj_weight: Tensor | None = None,
        v_proj_weight: Tensor | None = None, static_k: Tensor | None = None,
        static_v: Tensor | None = None, average_attn_weights: bool = True,
        is_causal: bool = False) -> tuple[Tensor, Tensor | None]:
    """Matches `torch.nn.functional.multi_head_attention_forward` (sequence-first inputs
    (L, N, E) or unbatched (L, E)); static_k/static_v are not supported."""
    if static_k is not None or static_v is not None:
        raise NotImplementedError("multi_head_attention_forward: static_k/static_v are not "
                                  "supported by ember")
    unbatched = query.ndim == 2
    if unbatched:
        query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
        if key_padding_mask is not None:
            key_padding_mask = key_padding_mask.unsqueeze(0)
    tgt_len, bsz, embed_dim = query.shape
    if embed_dim != embed_dim_to_check:
        raise AssertionError(f"was expecting embedding dimension of {embed_dim_to_check}, but "
                             f"got {embed_dim}")
    if is_causal and attn_mask is None:
        raise RuntimeError("Need attn_mask if specifying the is_causal hint. You may use the "
                           "Transformer module method `generate_square_subsequent_mask` to "
                           "create this mask.")
    head_dim = embed_dim // num_heads
    if head_dim * num_heads != embed_dim:
        raise AssertionError(f"embed_dim {embed_dim} not divisible by num_heads {num_heads}")
    if use_separate_proj_weight:
        if q_proj_weight is None or k_proj_weight is None or v_proj_weight is None:
            raise AssertionError("use_separate_proj_weight is True but q_proj_weight, "
                                 "k_proj_weight or v_proj_weight is None")
        w_q, w_k, w_v = q_proj_weight, k_proj_weight, v_proj_weight
    else:
        assert in_proj_weight is not None
        w_q, w_k, w_v = in_proj_weight.chunk(3)
    b_q = b_k = b_v = None
    if in_proj_bias is not None:
        b_q, b_k, b_v = in_proj_bias.chunk(3)
    q = _project(query, w_q, b_q)  # (L, N, E)
    k = _project(key, w_k, b_k)  # (S, N, E)
    v = _project(value, w_v, b_v)
    attn_mask = _canonical(attn_mask, q.dtype)
    key_padding_mask = _canonical(key_padding_mask, q.dtype)
    if attn_mask is not None and attn_mask.ndim == 2:
        attn_mask = attn_mask.unsqueeze(0)  # (1, L, S)
    if bias_k is not None and bias_v is not None:
        k = ember.cat([k, bias_k.repeat(1, bsz, 1)])
        v = ember.cat([v, bias_v.repeat(1, bsz, 1)])
        attn_mask = None if attn_mask is None else _pad_last(attn_mask)
        key_padding_mask = None if key_padding_mask is None else _pad_last(key_padding_mask)
    q = q.reshape(tgt_len, bsz * num_heads, head_dim).transpose(0, 1)  # (N*H, L, hd)
    k = k.reshape(k.shape[0], bsz * num_heads, head_dim).transpose(0, 1)  # (N*H, S, hd)
    v = v.reshape(v.shape[0], bsz * num_heads, head_dim).transpose(0, 1)
    if add_zero_attn:
        k = ember.cat([k, ember.zeros(bsz * num_heads, 1, head_dim, dtype=k.dtype)], dim=1)
        v = ember.cat([v, ember.zeros(bsz * num_heads, 1, head_dim, dtype=v.dtype)], dim=1)
        attn_mask = None if attn_mask is None else _pad_last(attn_mask)
        key_padding_mask = None if key_padding_mask is None else _pad_last(key_padding_mask)
    src_len = k.shape[1]
    if key_padding_mask is not None:
        kpm = key_padding_mask.reshape(bsz, 1, 1, src_len).expand(bsz, num_heads, 1, src_len)
        kpm = kpm.reshape(bsz * num_heads, 1, src_len)
        attn_mask = kpm if attn_mask is None else attn_mask + kpm
    if not training:
        dropout_p = 0.0
    if need_weights:
        scores = (q * math.sqrt(1.0 / head_dim)) @ k.mT  # (N*H, L, S)
        if attn_mask is not None:
            scores = scores + attn_mask
        weights = _dropout(scores.softmax(-1), dropout_p)
        out = weights @ v  # (N*H, L, hd)
        out = out.transpose(0, 1).reshape(tgt_len * bsz, embed_dim)
        out = _project(out, out_proj_weight, out_proj_bias).reshape(tgt_len, bsz, embed_dim)
        weights = weights.reshape(bsz, num_heads, tgt_len, src_len)
        if average_attn_weights:
            weights = weights.mean(1)
        if unbatched:
            return out.squeeze(1), weights.squeeze(0)
        return out, weights
    if attn_mask is not None:
        attn_mask = attn_mask.reshape(bsz, num_heads, -1, src_len) if attn_mask.shape[0] > 1 \
            else attn_mask.unsqueeze(0)
    q4 = q.reshape(bsz, num_heads, tgt_len, head_dim)
    k4 = k.reshape(bsz, num_heads, src_len, head_dim)
    v4 = v.reshape(bsz, num_heads, src_len, head_dim)
    out = scaled_dot_product_attention(q4, k4, v4, attn_mask, dropout_p)  # (N, H, L, hd)
    out = out.permute(2, 0, 1, 3).reshape(bsz * tgt_len, embed_dim)
    out = _project(out, out_proj_weight, out_proj_bias).reshape(tgt_len, bsz, embed_dim)
    return (out.squeeze(1) if unbatched else out), None


def _pad_last(mask: Tensor) -> Tensor:
    """One more (zero-bias) key column."""
    from ember.nn.functional.vision import pad

    return pad(mask, (0, 1))
