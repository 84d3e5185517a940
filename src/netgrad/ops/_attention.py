"""Scaled dot-product attention whose fully masked rows are 0 with gradient 0.

``scaled_dot_product_attention`` has torch's signature and values. A query whose keys are all
masked (a padded row, a causal mask with more keys than queries...) gets output 0 and gradient
0, and never turns any other row, nor any gradient of the batch, into NaN; masked entries
(weight exactly 0) contribute exact zeros to every gradient even when the cotangent or a masked
value is infinite (strong zeros, contract rule 3).

One registry rule (``_registry.py``), so eager, ``torch.func`` and ``torch.compile`` share it:

    S = (Q·scale) Kᵀ + additive mask, entries not allowed (boolean mask, causal) -inf;
    P = softmax(S) per row, a row of -inf giving P = 0;   O = (P ⊙ keep) V
    dV = (P ⊙ keep)ᵀ g,  dP = (g Vᵀ) ⊙ keep,  dS = P ⊙ (dP - Σ_row dP ⊙ P),
    dQ = dS K · scale,  dK = dSᵀ Q · scale,  d(additive mask) = dS

(``keep`` is the dropout multiplier, 0 or 1/(1-p)). Every ``⊙`` is a strong-zero product and the
matrix products of the backward are strong-zero products on the exact paths. Paths:

* eager CPU: torch's fused flash-attention kernel (``_scaled_dot_product_flash_attention_for_cpu``
  and its backward, which give a fully masked row 0 and gradient 0 themselves) when its result
  holds no NaN; the attention backward is sums and products of the weights (in [0, 1]), the
  inputs and the cotangent, so a NaN-free result is the robust one. Otherwise the formulas above
  with read-back strong zeros (``T``);
* traced, ``torch.func``, non-CPU, ``sync_free()``: the same formulas branch-free (``F``); their
  matrix products are optimistic (0 · inf inside a sum gives NaN) except under
  :func:`netgrad.ops.careful`;
* double backward: the formulas on the robust operations (``R``), P recomputed from Q and K.
"""

from __future__ import annotations

import math

import torch

from . import _linalg, _mode
from ._core import has_nan
from ._registry import R, Rule, register

__all__ = ["scaled_dot_product_attention"]

_NEG_INF = float("-inf")
_aten = torch.ops.aten


# ----------------------------------------------------------------------------- products
def _mm(ns, a, b):
    """The matrix product of a formula: strong zeros (0 · inf = 0) on the exact paths."""
    if ns is R:  # differentiable; strong zeros in eager (the old-style Function is not func-ready)
        return torch.matmul(a, b) if _mode.sync_free_active(a) else _linalg._strong_matmul(a, b)
    if ns.sync_free and not _mode.careful_active():
        return torch.matmul(a, b)              # optimistic: branch-free, no read-back
    if ns.sync_free:
        return _linalg._strong_zero_bmm(a, b) if a.dim() >= 2 and b.dim() >= 2 else a @ b
    return _linalg._mm(a, b)                   # torch's product, redone carefully if it holds NaN


def _tr(t):
    return t.transpose(-2, -1)


# ----------------------------------------------------------------------------- scores, weights
def _allowed(q, k, mask, causal):
    """Boolean ``(…, L, S)`` of the entries that take part (None: all), from a boolean mask and
    the causal option."""
    allowed = None
    if causal:
        allowed = torch.ones(q.shape[-2], k.shape[-2], dtype=torch.bool, device=q.device).tril()
    if mask is not None and mask.dtype == torch.bool:
        allowed = mask if allowed is None else allowed & mask
    return allowed


def _scores(ns, q, k, mask, causal, scale):
    s = _mm(ns, ns.mul(q, scale), _tr(k))
    if mask is not None and mask.dtype != torch.bool:
        s = ns.add(s, mask)
    allowed = _allowed(q, k, mask, causal)
    if allowed is not None:
        s = ns.where(allowed, s, _NEG_INF) if ns is R else torch.where(allowed, s, _NEG_INF)
    return s


def _softmax_rows(s):
    """softmax over the last dim with an all -inf row giving 0, branch-free; also the row's
    logsumexp (0 for such a row, as the fused kernel stores it)."""
    m = s.amax(-1, keepdim=True)
    m = torch.where(m > _NEG_INF, m, 0.0)
    e = torch.exp(s - m)
    z = e.sum(-1, keepdim=True)
    p = e / torch.where(z > 0, z, 1.0)
    lse = torch.where(z > 0, torch.log(z) + m, 0.0)
    return p, lse.squeeze(-1)


def _weights(ns, q, k, mask, causal, scale, lse):
    """P: recomputed from the saved logsumexp (first order), or differentiably from Q and K
    (``R``, when the backward is itself differentiated)."""
    s = _scores(ns, q, k, mask, causal, scale)
    if ns is R:  # softmax from registry operations; an all -inf row gives 0 with gradient 0
        m = s.detach().amax(-1, keepdim=True)
        e = R.exp(R.sub(s, torch.where(m > _NEG_INF, m, 0.0)))
        z = e.sum(-1, keepdim=True)
        return R.div(e, torch.where(z > 0, z, 1.0))
    return torch.exp(s - lse.unsqueeze(-1))  # -inf entries (masked) give exactly 0


# ----------------------------------------------------------------------------- the rule
def _flash_ok(q, k, v, mask, keep) -> bool:
    return (keep is None and q.device.type == "cpu" and q.dim() == 4 and k.dim() == 4
            and v.dim() == 4 and q.shape[:2] == k.shape[:2] == v.shape[:2]
            and q.shape[-1] == v.shape[-1] and q.dtype in (torch.float32, torch.float64)
            and q.dtype == k.dtype == v.dtype and (mask is None or mask.dim() in (2, 4)))


def _float_mask(mask, dtype):
    if mask is None or mask.dtype != torch.bool:
        return mask if mask is None else mask.to(dtype)
    return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(~mask, _NEG_INF)


def _composed_forward(q, k, v, mask, keep, causal, scale, ns):
    p, lse = _softmax_rows(_scores(ns, q, k, mask, causal, scale))
    pk = p if keep is None else ns.mul(p, keep)
    return _mm(ns, pk, v), lse


def _forward(q, k, v, mask, keep, causal, scale):
    from ._registry import F, T
    sync_free = _mode.sync_free_active(q)
    if not sync_free and _flash_ok(q, k, v, mask, keep):
        out, lse = _aten._scaled_dot_product_flash_attention_for_cpu(
            q, k, v, 0.0, causal, attn_mask=_float_mask(mask, q.dtype), scale=scale)
        if not has_nan(out):
            return out, lse
    return _composed_forward(q, k, v, mask, keep, causal, scale, F if sync_free else T)


def _vjp(ns, g, s):
    q, k, v, mask, keep = s.inputs
    (lse,) = s.aux
    causal, scale = s.params
    p = _weights(ns, q, k, mask, causal, scale, lse)
    pk = p if keep is None else ns.mul(p, keep)
    gq = gk = gv = gm = None
    if s.needs[2]:
        gv = s.sum_to(_mm(ns, _tr(pk), g), 2)
    if s.needs[0] or s.needs[1] or s.needs[3]:
        dp = _mm(ns, g, _tr(v))
        if keep is not None:
            dp = ns.mul(dp, keep)
        ds = ns.mul(p, ns.sub(dp, ns.mul(dp, p).sum(-1, keepdim=True)))
        if s.needs[0]:
            gq = s.sum_to(ns.mul(_mm(ns, ds, k), scale), 0)
        if s.needs[1]:
            gk = s.sum_to(ns.mul(_mm(ns, _tr(ds), q), scale), 1)
        if s.needs[3]:
            gm = s.sum_to(ds, 3)
    return gq, gk, gv, gm, None


def _jvp(ns, ts, s):
    q, k, v, mask, keep = s.inputs
    (lse,) = s.aux
    causal, scale = s.params
    tq, tk, tv, tm, _ = ts
    p = _weights(ns, q, k, mask, causal, scale, lse)
    pk = p if keep is None else ns.mul(p, keep)
    out = None
    if tq is not None or tk is not None or tm is not None:
        dsc = None
        if tq is not None:
            dsc = _mm(ns, tq, _tr(k))
        if tk is not None:
            term = _mm(ns, q, _tr(tk))
            dsc = term if dsc is None else ns.add(dsc, term)
        dsc = None if dsc is None else ns.mul(dsc, scale)
        if tm is not None:
            dsc = tm if dsc is None else ns.add(dsc, tm)
        dp = ns.mul(p, ns.sub(dsc, ns.mul(p, dsc).sum(-1, keepdim=True)))
        if keep is not None:
            dp = ns.mul(dp, keep)
        out = _mm(ns, dp, v)
    if tv is not None:
        term = _mm(ns, pk, tv)
        out = term if out is None else ns.add(out, term)
    if out is None:
        out = torch.zeros(q.shape[:-1] + v.shape[-1:], dtype=q.dtype, device=q.device)
    return out


def _fast(g, s):
    """torch's fused flash-attention backward (eager CPU, first order); None when a gradient
    holds a NaN (then the formulas decide) or the kernel does not apply."""
    q, k, v, mask, keep = s.inputs
    (lse,) = s.aux
    causal, scale = s.params
    if s.needs[3] or not _flash_ok(q, k, v, mask, keep):
        return None
    gq, gk, gv = _aten._scaled_dot_product_flash_attention_for_cpu_backward(
        g.contiguous(), q, k, v, s.y, lse, 0.0, causal, attn_mask=_float_mask(mask, q.dtype),
        scale=scale)
    if any(has_nan(t) for t in (gq, gk, gv)):
        return None
    return (gq if s.needs[0] else None, gk if s.needs[1] else None,
            gv if s.needs[2] else None, None, None)


_RULE = register(Rule(
    "scaled_dot_product_attention", _forward, 5, _vjp, _jvp, fast=_fast,
    saves=(0, 1, 2, 3, 4), save_output=True, n_aux=1, optimistic=True,
    derivative="dV = Pᵀg; dS = P ⊙ (gVᵀ - Σ_row gVᵀ ⊙ P); dQ = dS K·scale; dK = dSᵀ Q·scale",
    convention="a query with every key masked: output 0, gradient 0; masked weights are exact "
               "zeros (0 · inf = 0)"))


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


def _expand_heads(k: torch.Tensor, heads: int) -> torch.Tensor:
    """Grouped-query attention: repeat each key/value head to the query's number of heads."""
    if k.dim() < 3 or k.shape[-3] == heads:
        return k
    return k.repeat_interleave(heads // k.shape[-3], dim=-3)


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
    if enable_gqa:
        key, value = _expand_heads(key, query.shape[-3]), _expand_heads(value, query.shape[-3])
    keep = None
    if dropout_p > 0.0:
        shape = torch.broadcast_shapes(query.shape[:-2], key.shape[:-2]) + \
            (query.shape[-2], key.shape[-2])
        keep = (torch.rand(shape, device=query.device) >= dropout_p).to(query.dtype) / \
            (1.0 - dropout_p)
    return _RULE(query, key, value, attn_mask, keep, bool(is_causal), s)
