"""More of robust()'s routing table: the rules of ``_rules_more.py`` under their torch names
(functions, ``Tensor`` methods, ``torch.special``, ``torch.nn.functional``), the in-place forms
(``x.sqrt_()``, ``y.mul_(w)``, ``F.elu(x, inplace=True)``) and ``out=``, and
``F.multi_head_attention_forward`` routed piece by piece (projections, attention, output
projection on the robust operations; a fully masked query gives 0 with gradient 0).

In-place forms compute the robust result out of place from a copy of the input (the rule saves
what it reads) and copy it into the tensor, so autograd records the copy; without a gradient to
record they run torch's own in-place kernel. ``out=`` copies the robust result into ``out``
(differentiably, which torch's ``out=`` is not).
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F

from . import _attention as AT
from . import _linalg as LA
from . import _softmax as S
from ._rules_more import MORE

__all__ = ["unary_routes", "inplace_routes", "with_out", "multi_head_attention_forward"]

NI = NotImplemented
_T = torch.Tensor
_disable = torch._C.DisableTorchFunction

# torch name(s) of each rule of _rules_more (functions and Tensor methods)
_NAMES = {
    "log2": ("log2",), "log10": ("log10",), "exp2": ("exp2",), "rsqrt": ("rsqrt",),
    "reciprocal": ("reciprocal",), "asin": ("asin", "arcsin"), "acos": ("acos", "arccos"),
    "atan": ("atan", "arctan"), "sinh": ("sinh",), "cosh": ("cosh",),
    "asinh": ("asinh", "arcsinh"), "acosh": ("acosh", "arccosh"), "atanh": ("atanh", "arctanh"),
    "tan": ("tan",), "erf": ("erf",), "erfc": ("erfc",), "erfinv": ("erfinv",),
}
_SPECIAL = {"exp2": "exp2", "erf": "erf", "erfc": "erfc", "erfinv": "erfinv", "ndtr": "ndtr"}


def _logit(x, eps=None, *args, **kwargs):
    if args or kwargs:
        return NI
    return MORE["logit"](x, None if eps is None else float(eps))


def _gelu(x, approximate="none", **kwargs):
    if kwargs:
        return NI
    return MORE["gelu"](x, approximate)


def _act(name: str, *defaults):
    """F.<name>(x, *params, inplace=False) with ``defaults`` for the params."""
    op = MORE[name]

    def handler(x, *args, inplace=False, **kwargs):
        params = list(defaults)
        names = ("alpha",)
        for i, a in enumerate(args):
            if isinstance(a, bool) and i == len(defaults):
                inplace = a
            elif i < len(params):
                params[i] = a
            else:
                return NI
        for k, v in kwargs.items():
            if k in names[:len(params)]:
                params[names.index(k)] = v
            else:
                return NI
        if inplace:
            return _into(x, lambda c: op(c, *params))
        return op(x, *params)

    return handler


def unary_routes(reg: Callable, unary: Callable, methods: Callable) -> None:
    """Add the rules of ``_rules_more`` to the table (``reg(handler, *funcs)``)."""
    sp = torch.special
    for rule, names in _NAMES.items():
        for n in names:
            reg(unary(MORE[rule]), getattr(torch, n, None), methods(n))
    for rule, n in _SPECIAL.items():
        reg(unary(MORE[rule]), getattr(sp, n, None))
    reg(_logit, torch.logit, sp.logit, methods("logit"))
    reg(_gelu, F.gelu)
    reg(_act("silu"), F.silu)
    reg(_act("mish"), F.mish)
    reg(_act("elu", 1.0), F.elu)
    reg(_act("selu"), F.selu, torch.selu)
    reg(_act("celu", 1.0), F.celu, torch.celu)
    reg(_act("hardswish"), F.hardswish)
    reg(_act("hardsigmoid"), F.hardsigmoid)
    reg(unary(MORE["softsign"]), F.softsign)
    reg(unary(MORE["logsigmoid"]), F.logsigmoid)


# ----------------------------------------------------------------------------- in place, out=
def _records(*xs) -> bool:
    if not torch.is_grad_enabled():
        return False
    return any(isinstance(x, _T) and x.requires_grad for x in xs)


def _into(x, compute: Callable):
    """``x`` overwritten with ``compute(copy of x)``, recorded by autograd; NI when the result
    cannot go into ``x`` (torch's own in-place call then raises its error)."""
    r = compute(x.clone() if _records(x) else x.detach().clone())
    if r is NI or not isinstance(r, _T) or r.shape != x.shape or \
            not torch.can_cast(r.dtype, x.dtype):
        return NI
    return x.copy_(r)


def _inplace(handler: Callable) -> Callable:
    def run(x, *args, **kwargs):
        if not isinstance(x, _T) or not _records(x, *args, *kwargs.values()):
            return NI  # nothing to record: torch's own in-place kernel, the same values
        return _into(x, lambda c: handler(c, *args, **kwargs))

    return run


_INPLACE = ("sqrt", "exp", "log", "log1p", "expm1", "abs", "absolute", "relu", "sign", "tanh",
            "sigmoid", "sin", "cos", "sinc", "square", "log2", "log10", "exp2", "rsqrt",
            "reciprocal", "asin", "arcsin", "acos", "arccos", "atan", "arctan", "sinh", "cosh",
            "asinh", "arcsinh", "acosh", "arccosh", "atanh", "arctanh", "tan", "erf", "erfc",
            "erfinv", "logit", "mul", "multiply", "div", "divide", "true_divide", "pow",
            "clamp", "clip", "clamp_min", "clamp_max", "atan2", "arctan2", "hypot", "xlogy",
            "logaddexp", "logaddexp2")


def inplace_routes(table: dict, methods: Callable) -> None:
    """``Tensor.<name>_`` and ``torch.<name>_`` for every routed ``<name>``."""
    for name in _INPLACE:
        src = [f for f in methods(name) if f in table]
        if not src:
            continue
        handler = _inplace(table[src[0]])
        for f in methods(name + "_"):
            table[f] = handler
        f = getattr(torch, name + "_", None)
        if f is not None and getattr(torch, name, None) in table:
            table[f] = _inplace(table[getattr(torch, name)])
    for name in ("__imul__", "__itruediv__", "__ipow__"):
        base = {"__imul__": "mul", "__itruediv__": "div", "__ipow__": "pow"}[name]
        src = [f for f in methods(base) if f in table]
        for f in methods(name):
            table[f] = _inplace(table[src[0]])
    table[F.relu_] = _inplace(table[F.relu])


def with_out(func: Callable, handler: Callable, args: tuple, kwargs: dict):
    """``func(*args, out=out)`` under robust(): the robust result copied into ``out``."""
    kw = dict(kwargs)
    out = kw.pop("out")
    with _disable():
        r = handler(*args, **kw) if isinstance(out, _T) else NI
        if r is NI or not isinstance(r, _T) or not torch.can_cast(r.dtype, out.dtype) or \
                (out.shape != r.shape and out.numel() != 0):
            r = NI
        elif out.shape != r.shape:
            out.resize_(r.shape)
    if r is NI:
        return func(*args, **kwargs)
    with _disable():
        return out.copy_(r)


# ----------------------------------------------------------------------------- attention
def _additive(mask, dtype):
    if mask is None:
        return None
    if mask.dtype == torch.bool:  # True: not allowed (nn.MultiheadAttention's convention)
        return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill_(
            mask, -math.inf)
    return mask.to(dtype)


def multi_head_attention_forward(query, key, value, embed_dim_to_check, num_heads,
                                 in_proj_weight, in_proj_bias, bias_k, bias_v, add_zero_attn,
                                 dropout_p, out_proj_weight, out_proj_bias, training=True,
                                 key_padding_mask=None, need_weights=True, attn_mask=None,
                                 use_separate_proj_weight=False, q_proj_weight=None,
                                 k_proj_weight=None, v_proj_weight=None, static_k=None,
                                 static_v=None, average_attn_weights=True, is_causal=False):
    """``F.multi_head_attention_forward`` on the robust operations: the input projections and
    the output projection by :func:`netgrad.ops.linear`, the attention by
    :func:`netgrad.ops.scaled_dot_product_attention` (or softmax and matmul when the weights are
    asked for). ``key_padding_mask`` and ``attn_mask`` (boolean: True is not allowed; or
    additive) are merged into one additive mask; a query whose keys are all masked gives 0 with
    gradient 0. ``add_zero_attn``, ``static_k``/``static_v`` and a causal hint without a mask
    go to torch (NotImplemented)."""
    if add_zero_attn or static_k is not None or static_v is not None or \
            (is_causal and attn_mask is None) or query.dim() not in (2, 3) or \
            not query.is_floating_point():
        return NI
    batched = query.dim() == 3
    if not batched:
        query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
        if key_padding_mask is not None:
            key_padding_mask = key_padding_mask.unsqueeze(0)
    L, N, E = query.shape
    if embed_dim_to_check != E or E % num_heads:
        return NI
    H, hd = num_heads, E // num_heads
    if not use_separate_proj_weight:
        wq, wk, wv = in_proj_weight.chunk(3)
    else:
        wq, wk, wv = q_proj_weight, k_proj_weight, v_proj_weight
    bq, bk, bv = in_proj_bias.chunk(3) if in_proj_bias is not None else (None, None, None)
    q = LA.linear(query, wq, bq)
    k = LA.linear(key, wk, bk)
    v = LA.linear(value, wv, bv)
    if bias_k is not None and bias_v is not None:
        k = torch.cat([k, bias_k.repeat(1, N, 1)])
        v = torch.cat([v, bias_v.repeat(1, N, 1)])
        if attn_mask is not None:
            attn_mask = F.pad(attn_mask, (0, 1))
        if key_padding_mask is not None:
            key_padding_mask = F.pad(key_padding_mask, (0, 1))
    S_ = k.shape[0]
    # (L, N, E) -> (N, H, L, hd)
    q = q.reshape(L, N, H, hd).permute(1, 2, 0, 3)
    k = k.reshape(S_, N, H, hd).permute(1, 2, 0, 3)
    v = v.reshape(S_, N, H, hd).permute(1, 2, 0, 3)
    mask = _additive(attn_mask, q.dtype)
    if mask is not None:
        mask = mask.reshape(N, H, L, S_) if mask.dim() == 3 else mask
    pad = _additive(key_padding_mask, q.dtype)
    if pad is not None:
        pad = pad.reshape(N, 1, 1, S_)
        mask = pad if mask is None else mask + pad
    p = dropout_p if training else 0.0
    if not need_weights:
        o = AT.scaled_dot_product_attention(q, k, v, mask, p)
        weights = None
    else:
        scores = LA.matmul(q, k.transpose(-2, -1)) * (1.0 / math.sqrt(hd))
        if mask is not None:
            scores = scores + mask
        w = S.softmax(scores, -1)
        weights = w.mean(dim=1) if average_attn_weights else w
        if p > 0.0:
            w = F.dropout(w, p)
        o = LA.matmul(w, v)
    o = o.permute(2, 0, 1, 3).reshape(L, N, E)
    o = LA.linear(o, out_proj_weight, out_proj_bias)
    if not batched:
        o = o.squeeze(1)
        if weights is not None:
            weights = weights.squeeze(0)
    return o, weights
