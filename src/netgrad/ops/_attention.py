"""Scaled dot-product attention whose fully masked rows are 0 with gradient 0.

``scaled_dot_product_attention`` has torch's signature and values. A query whose keys are all
masked (a padded row, a causal mask with more keys than queries...) gets output 0 and gradient
0, and never turns any other row, nor any gradient of the batch, into NaN; masked entries
(weight exactly 0) contribute exact zeros to every gradient even when the cotangent or a masked
value is infinite (strong zeros, contract rule 3).

Paths (see ``_verified.py``): torch's fused ``F.scaled_dot_product_attention`` and its own
backward when their results hold no NaN (the attention backward is sums and products of the
weights in [0, 1], the inputs and the cotangent, so a NaN-free result is the robust one);
otherwise, and for double backward, the robust composition

    S = (Q·scale) Kᵀ, masked entries -inf (or + an additive mask);
    P = netgrad.ops.softmax(S)      (an all -inf row gives 0 with gradient 0);
    O = P V                         (a strong-zero product: P = 0 meets an infinite V as 0).

Dropout (``dropout_p > 0``) draws its mask once and always takes the composition, so the
forward and every recomputation use the same mask.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from . import _linalg
from ._arith import add, mul
from ._binary import where
from ._softmax import softmax
from ._verified import tracing, verified

__all__ = ["scaled_dot_product_attention"]

_NEG_INF = float("-inf")


def _expand_heads(k: torch.Tensor, heads: int) -> torch.Tensor:
    """Grouped-query attention: repeat each key/value head to the query's number of heads."""
    if k.dim() < 3 or k.shape[-3] == heads:
        return k
    return k.repeat_interleave(heads // k.shape[-3], dim=-3)


def _composed(q, k, v, attn_mask, is_causal, scale, enable_gqa, keep=None, dropout_p=0.0):
    """The robust composition (see the module docstring); ``keep`` is a dropout mask."""
    if enable_gqa:
        k, v = _expand_heads(k, q.shape[-3]), _expand_heads(v, q.shape[-3])
    s = _linalg.matmul(mul(q, scale), k.transpose(-2, -1))
    if is_causal:
        L, S = q.shape[-2], k.shape[-2]
        allowed = torch.ones(L, S, dtype=torch.bool, device=q.device).tril()
        s = where(allowed, s, _NEG_INF)
    if attn_mask is not None:
        if attn_mask.dtype == torch.bool:
            s = where(attn_mask, s, _NEG_INF)
        else:
            s = add(s, attn_mask)
    p = softmax(s, -1)
    if keep is not None:
        p = mul(p, keep.to(p.dtype) / (1.0 - dropout_p))
    return (_linalg._strong_matmul(p, v),)


def _fused(q, k, v, attn_mask, is_causal, scale, enable_gqa):
    extra = {"enable_gqa": True} if enable_gqa else {}
    return (F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, is_causal=is_causal,
                                           scale=scale, **extra),)


def _check(query, key, value, attn_mask, dropout_p, is_causal):
    for name, t in (("query", query), ("key", key), ("value", value)):
        if not isinstance(t, torch.Tensor) or not t.is_floating_point() or t.dim() < 2:
            raise TypeError(f"scaled_dot_product_attention: {name} must be a floating-point tensor "
                            f"of rank >= 2 (..., length, features); got "
                            f"{type(t).__name__ if not isinstance(t, torch.Tensor) else t.dtype}"
                            f"{'' if not isinstance(t, torch.Tensor) else f' of shape {tuple(t.shape)}'}")
    if query.shape[-1] != key.shape[-1] or key.shape[-2] != value.shape[-2]:
        raise ValueError("scaled_dot_product_attention: expected query (..., L, E), key (..., S, E) "
                         f"and value (..., S, Ev); got {tuple(query.shape)}, {tuple(key.shape)}, "
                         f"{tuple(value.shape)}")
    if is_causal and attn_mask is not None:
        raise ValueError("scaled_dot_product_attention: give attn_mask or is_causal=True, not both "
                         "(as torch): combine a causal mask into attn_mask instead")
    if not 0.0 <= dropout_p < 1.0:
        raise ValueError(f"scaled_dot_product_attention: dropout_p lies in [0, 1); got {dropout_p!r}")


def scaled_dot_product_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                                 attn_mask: torch.Tensor | None = None, dropout_p: float = 0.0,
                                 is_causal: bool = False, scale: float | None = None,
                                 enable_gqa: bool = False) -> torch.Tensor:
    """softmax(Q Kᵀ · scale + mask) V, as ``torch.nn.functional.scaled_dot_product_attention``.

    Args:
        query: ``(..., L, E)``; key: ``(..., S, E)``; value: ``(..., S, Ev)``.
        attn_mask: broadcastable to ``(..., L, S)``: boolean (True: the key takes part) or
            additive floats (``-inf`` masks); may require grad (a learned bias).
        dropout_p: dropout on the attention weights (apply only in training).
        is_causal: query i sees keys 0…i (top-left aligned, as torch).
        scale: default ``1/√E``.
        enable_gqa: grouped-query attention (key/value heads, dim -3, divide query heads).

    Returns:
        ``(..., L, Ev)``. A query whose keys are all masked gives 0, with gradient 0.
    """
    _check(query, key, value, attn_mask, dropout_p, is_causal)
    s = 1.0 / math.sqrt(query.shape[-1]) if scale is None else float(scale)
    if dropout_p > 0.0:
        L, S = query.shape[-2], key.shape[-2]
        shape = torch.broadcast_shapes(query.shape[:-2], key.shape[:-2]) + (L, S)
        keep = torch.rand(shape, device=query.device) >= dropout_p
        return _composed(query, key, value, attn_mask, is_causal, s, enable_gqa, keep,
                         dropout_p)[0]
    if tracing():
        return _composed(query, key, value, attn_mask, is_causal, s, enable_gqa)[0]
    careful = lambda q, k, v, m: _composed(q, k, v, m, is_causal, s, enable_gqa)  # noqa: E731
    fast = lambda q, k, v, m: _fused(q, k, v, m, is_causal, s, enable_gqa)  # noqa: E731
    return verified(fast, careful, query, key, value, attn_mask)[0]
