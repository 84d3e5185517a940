"""Reductions: sum, mean, amax, amin, prod, cumprod, logsumexp.

``dim`` is None (all dimensions), an int, or a tuple of ints, with ``keepdim`` as in torch.
``sum``, ``mean``, ``amax`` and ``amin`` are torch's own (their gradients already keep the
contract: amax/amin split ties evenly); ``prod`` and ``cumprod`` differentiate by exclusive
products, never ``y / x``; ``logsumexp`` handles all -inf and +inf slices.
"""

from __future__ import annotations

import torch

from ._core import dims_of, has_nan, plain, strong_
from . import _mode
from ._registry import R, Rule, register, szmul

__all__ = ["sum", "mean", "prod", "cumprod", "amax", "amin", "logsumexp"]

_Tensor = torch.Tensor
_builtin_sum = sum
_INF = float("inf")


@plain
def sum(input: torch.Tensor, dim=None, keepdim: bool = False, *, dtype=None) -> torch.Tensor:
    """Σ over ``dim`` (None: all). Gradient: g broadcast back."""
    if dim is None and not keepdim:
        return torch.sum(input, dtype=dtype)
    return torch.sum(input, dims_of(input, dim), keepdim=keepdim, dtype=dtype)


@plain
def mean(input: torch.Tensor, dim=None, keepdim: bool = False, *, dtype=None) -> torch.Tensor:
    """Mean over ``dim`` (None: all). Gradient: g / n broadcast back."""
    if dim is None and not keepdim:
        return torch.mean(input, dtype=dtype)
    return torch.mean(input, dims_of(input, dim), keepdim=keepdim, dtype=dtype)


@plain
def amax(input: torch.Tensor, dim=(), keepdim: bool = False) -> torch.Tensor:
    """Max over ``dim`` (None or (): all). Gradient split evenly among tied maxima."""
    return torch.amax(input, () if dim is None else dim, keepdim=keepdim)


@plain
def amin(input: torch.Tensor, dim=(), keepdim: bool = False) -> torch.Tensor:
    """Min over ``dim`` (None or (): all). Gradient split evenly among tied minima."""
    return torch.amin(input, () if dim is None else dim, keepdim=keepdim)


# ----------------------------------------------------------------------------- prod
def _to_last(x: _Tensor, dims: tuple[int, ...]) -> _Tensor:
    """Move ``dims`` to the end and flatten them into one: shape (*kept, n)."""
    kept = [d for d in range(x.dim()) if d not in dims]
    return x.permute(*kept, *dims).reshape(*[x.shape[d] for d in kept], -1)


def _exclusive_products(v: _Tensor, ns_cumprod) -> _Tensor:
    """Π_{j≠i} v_j along the last dim, as (prefix product before i) · (suffix product after i)."""
    one = torch.ones_like(v[..., :1])
    pre = torch.cat([one, ns_cumprod(v[..., :-1], -1)], -1)
    suf = torch.cat([ns_cumprod(v[..., 1:].flip(-1), -1).flip(-1), one], -1)
    return pre, suf


def _exclusive_times(v: _Tensor, gv: _Tensor) -> _Tensor:
    """gv ⊙ Π_{j≠i} v_j along the last dim, as strong-zero products, in one buffer: the prefix
    products are scanned straight into it, the suffix products (a scan of the flipped tensor,
    in place) multiplied in. Any NaN (a 0·inf somewhere) takes the careful path, so the result
    is always that of ``strong_(gv * ex, gv, ex)`` with ``ex = strong_(pre * suf, pre, suf)``.
    The two sequential scans are most of the cost."""

    def careful():
        pre, suf = _exclusive_products(v, torch.cumprod)
        ex = strong_(pre * suf, pre, suf)
        return strong_(gv * ex, gv, ex)

    n = v.shape[-1]
    if n < 3:
        return careful()
    pre = torch.cumprod(v, -1)  # inclusive: Π_{j≤i}
    suf = v.flip(-1).cumprod_(-1).flip(-1)  # inclusive: Π_{j≥i}
    out = torch.empty_like(v)  # Π_{j≠i} = pre_{i-1} · suf_{i+1}
    torch.mul(pre[..., :-2], suf[..., 2:], out=out[..., 1:-1])
    out[..., :1] = suf[..., 1:2]
    out[..., -1:] = pre[..., -2:-1]
    out.mul_(gv)
    return careful() if has_nan(out) else out


def _prod_forward(x, dims, keepdim):
    out = x
    for d in reversed(dims):
        out = torch.prod(out, d, keepdim=True)
    if not keepdim:
        out = out.squeeze(dims) if dims else out
    return out


def _free_cumprod(v: _Tensor, dim: int) -> _Tensor:
    """cumprod with 0 · anything = 0 as branch-free masks: every product after a zero is 0."""
    zero = v == 0
    seen = torch.cumsum(zero.to(torch.int32), dim) > 0
    return torch.where(seen, 0.0, torch.cumprod(torch.where(zero, 1.0, v), dim))


def _exclusive(ns, v: _Tensor) -> _Tensor:
    """Π_{j≠i} v_j along the last dim, with strong zeros, in namespace ``ns``."""
    if ns is R:
        pre, suf = _exclusive_products(v, R.cumprod)
    else:
        pre, suf = _exclusive_products(v, _free_cumprod if ns.sync_free else torch.cumprod)
    return ns.mul(pre, suf)


def _undo_to_last(gx: _Tensor, x: _Tensor, dims) -> _Tensor:
    """(*kept, n) -> the shape and dimension order of ``x``."""
    kept = [d for d in range(x.dim()) if d not in dims]
    gx = gx.reshape(*[x.shape[d] for d in kept], *[x.shape[d] for d in dims])
    order = kept + list(dims)
    return gx.permute(*[order.index(d) for d in range(x.dim())])


def _prod_vjp(ns, g, s):
    (x,), (dims, keepdim) = s.inputs, s.params
    if not dims:
        return (g,)
    gk = g if keepdim else g.reshape([1 if d in dims else n for d, n in enumerate(x.shape)])
    v = _to_last(x, dims)
    gv = _to_last(gk.expand(x.shape), dims)[..., :1]
    if ns is R:
        pre, suf = _exclusive_products(v, R.cumprod)
        gx = R.mul(R.mul(gv, pre), suf)
    elif ns.sync_free:
        gx = ns.mul(gv, _exclusive(ns, v))
    else:
        gx = _exclusive_times(v, gv)
    return (_undo_to_last(gx, x, dims),)


def _prod_jvp(ns, ts, s):
    (x,), (dims, keepdim), (t,) = s.inputs, s.params, ts
    if not dims:
        return t
    ty = ns.sum(ns.mul(_to_last(t, dims), _exclusive(ns, _to_last(x, dims))), -1)
    shape = [1 if d in dims else n for d, n in enumerate(x.shape)] if keepdim else \
        [n for d, n in enumerate(x.shape) if d not in dims]
    return ty.reshape(shape)


_PROD = register(Rule(
    "prod", _prod_forward, 1, _prod_vjp, _prod_jvp, saves=(0,),
    public=True,
    derivative="g ⊙ Π_{j≠i} x_j (exclusive prefix × suffix products, never y / x)",
    convention="zeros never give 0/0; a zero factor times an infinite one is 0 (strong zeros)"))


def prod(input: torch.Tensor, dim=None, keepdim: bool = False, *, dtype=None) -> torch.Tensor:
    """Π over ``dim`` (None: all; an int; or a tuple). Gradient: the product of the *other*
    factors (exclusive prefix × suffix products), so zeros never give 0/0."""
    if dtype is not None:
        input = input.to(dtype)
    if not input.is_floating_point():
        if dim is None:
            return torch.prod(input)
        out = input
        for d in sorted(dims_of(input, dim), reverse=True):
            out = torch.prod(out, d, keepdim=keepdim)
        return out
    dims = dims_of(input, dim)
    if input.dim() == 0:
        return input.clone()
    return _PROD(input, dims, keepdim)


# ----------------------------------------------------------------------------- cumprod
def _reverse_affine_scan(a: _Tensor, b: _Tensor, mul, add) -> _Tensor:
    """s_k = b_k + a_k · s_{k+1} along the last dim (s_n = 0), in log2(n) doubling steps."""
    n = a.shape[-1]
    d = 1
    while d < n:
        b = torch.cat([add(b[..., :n - d], mul(a[..., :n - d], b[..., d:])), b[..., n - d:]], -1)
        a = torch.cat([mul(a[..., :n - d], a[..., d:]), a[..., n - d:]], -1)
        d *= 2
    return b


def _blocked_reverse_scan(x: _Tensor, g: _Tensor) -> _Tensor:
    """s_k = g_k + x_{k+1}·s_{k+1} along the last dim of (R, n) tensors, s_n = 0.

    Two levels: within blocks of B (32-64) the doubling scan runs on the (R, nb, B) view, each
    of its log2(B) steps one fused addcmul and one mul over contiguous runs (no cats), giving the
    block-local s and the transfer products A_k = Π_{k<j≤end+1} x_j; the nb block carries are a
    small doubling scan; one addcmul finishes: s_k = s_local_k + A_k·carry. The inputs are
    never written.
    """
    R, n = x.shape
    B = next((b for b in (32, 40, 48, 50, 56, 64) if n % b == 0), 32)
    nb = -(-n // B)
    pad = nb * B - n
    A = torch.zeros(R, nb * B, dtype=x.dtype, device=x.device)  # a_k = x_{k+1}, a_{n-1} = 0
    A[:, :n - 1] = x[:, 1:]
    S = (torch.nn.functional.pad(g, (0, pad)) if pad else g).reshape(R, nb, B)
    A = A.view(R, nb, B)
    S_next, A_next = torch.empty_like(A), torch.empty_like(A)
    owned = False  # S starts as (a view of) g, which is read, never written
    fresh = {id(S_next), id(A_next)}  # buffers that hold nothing yet
    d = 1
    while d < B:
        # entries k ≥ B - d are final and only carried over; a buffer that was the source two
        # steps ago already holds those with k ≥ B - d/2
        tail = B if id(S_next) in fresh else B - d // 2
        torch.addcmul(S[..., :B - d], A[..., :B - d], S[..., d:], out=S_next[..., :B - d])
        S_next[..., B - d:tail] = S[..., B - d:tail]
        tail = B if id(A_next) in fresh else B - d // 2
        torch.mul(A[..., :B - d], A[..., d:], out=A_next[..., :B - d])
        A_next[..., B - d:tail] = A[..., B - d:tail]
        fresh -= {id(S_next), id(A_next)}
        if owned:
            S, S_next = S_next, S
        else:
            S, S_next = S_next, torch.empty_like(A)
            fresh.add(id(S_next))
        owned = True
        A, A_next = A_next, A
        d *= 2
    start = _reverse_affine_scan(A[..., 0], S[..., 0], torch.mul, torch.add)  # s at block starts
    carry = torch.zeros(R, nb, 1, dtype=x.dtype, device=x.device)
    carry[:, :-1, 0] = start[:, 1:]
    S.addcmul_(A, carry)
    out = S.view(R, nb * B)
    return out[:, :n] if pad else out


def _cumprod_forward(x, dim):
    return torch.cumprod(x, dim)


def _cumprod_parts(x, y, dim):
    xl, yl = x.movedim(dim, -1), y.movedim(dim, -1)
    zero = torch.zeros_like(xl[..., :1])
    a = torch.cat([xl[..., 1:], zero], -1)                       # a_k = x_{k+1}
    prev = torch.cat([torch.ones_like(zero), yl[..., :-1]], -1)  # y_{k-1} = Π_{j<k} x_j
    return xl, a, prev


def _cumprod_vjp(ns, g, s):
    (x,), (dim,) = s.inputs, s.params
    if x.dim() == 0 or x.shape[dim] == 0:
        return (g,)
    _, a, prev = _cumprod_parts(x, s.y, dim)
    gl = g.movedim(dim, -1)
    sc = _reverse_affine_scan(a, gl, ns.mul, ns.add)
    return (ns.mul(prev, sc).movedim(-1, dim),)


def _cumprod_jvp(ns, ts, s):
    """ty_k = x_k · ty_{k-1} + y_{k-1} · t_k: a forward scan, run as the reverse one flipped."""
    (x,), (dim,), (t,) = s.inputs, s.params, ts
    if x.dim() == 0 or x.shape[dim] == 0:
        return t
    xl, _, prev = _cumprod_parts(x, s.y, dim)
    b = ns.mul(prev, t.movedim(dim, -1))
    ty = _reverse_affine_scan(xl.flip(-1), b.flip(-1), ns.mul, ns.add).flip(-1)
    return ty.movedim(-1, dim)


def _cumprod_fast(g, s):
    """The blocked reverse scan (long slices, eager CPU), kept when it holds no NaN; else the
    formula with read-back strong zeros."""
    (x,), (dim,) = s.inputs, s.params
    if x.dim() == 0 or x.shape[dim] == 0:
        return (g,)
    xl, yl, gl = (t.movedim(dim, -1) for t in (x, s.y, g))
    n = xl.shape[-1]
    if n >= 64 and xl.numel() >= 1 << 16:
        shape = xl.shape
        sc = _blocked_reverse_scan(xl.reshape(-1, n), gl.reshape(-1, n)).reshape(shape)
        if not has_nan(sc):  # else: a 0·inf inside the scan, the formula
            gx = sc  # a fresh tensor
            gx[..., 1:].mul_(yl[..., :-1])  # y_{k-1}·s_k
            if not has_nan(gx):
                return (gx.movedim(-1, dim),)
    _, a, prev = _cumprod_parts(x, s.y, dim)
    sc = _reverse_affine_scan(a, gl, torch.mul, torch.add)
    if has_nan(sc):  # a 0·inf met somewhere: redo with strong zeros
        sc = _reverse_affine_scan(a, gl, szmul, torch.add)
    return (strong_(prev * sc, prev, sc).movedim(-1, dim),)


_CUMPROD = register(Rule(
    "cumprod", _cumprod_forward, 1, _cumprod_vjp, _cumprod_jvp, fast=_cumprod_fast,
    saves=(0,), save_output=True,
    public=True,
    derivative="y_{k-1} · s_k, s_k = g_k + x_{k+1} s_{k+1} (a reverse scan, no division)",
    convention="zeros never give 0/0; a zero factor times an infinite one is 0 (strong zeros)"))


def cumprod(input: torch.Tensor, dim: int, *, dtype=None) -> torch.Tensor:
    """Cumulative product along ``dim``. Gradient without division: Σ_{i≥k} g_i Π_{j≤i, j≠k} x_j
    = y_{k-1} · s_k with s_k = g_k + x_{k+1} s_{k+1}, a reverse scan in log2(n) steps."""
    if dtype is not None:
        input = input.to(dtype)
    if not input.is_floating_point():
        return torch.cumprod(input, dim)
    return _CUMPROD(input, dim % max(input.dim(), 1))


# ----------------------------------------------------------------------------- logsumexp
def _fix_weights(x: _Tensor, y: _Tensor, p: _Tensor) -> _Tensor:
    """The conventions on ``p = exp(x - y)`` (branch-free): slices whose y is -inf get 0;
    slices whose y is +inf share evenly among their +inf entries."""
    nan = torch.isnan(p)
    pinf = (x == _INF) & (y == _INF)
    count = pinf.sum(dim=tuple(i for i in range(x.dim()) if y.shape[i] == 1 and
                                   x.shape[i] != 1) or None, keepdim=True)
    share = pinf.to(x.dtype) / count.clamp_min(1).to(x.dtype)
    p = torch.where(nan & (y == -_INF), 0.0, p)
    return torch.where((y == _INF) & ~torch.isnan(x), share, p)


def _softmax_weights(x: _Tensor, y: _Tensor) -> _Tensor:
    """exp(x - y) with the conventions of :func:`_fix_weights`; the eager CPU path applies
    them only when the weights hold a NaN (one read-back)."""
    p = torch.exp(x - y)
    if _mode.sync_free_active(x) or has_nan(p):
        p = _fix_weights(x, y, p)
    return p


def _lse_forward(x, dims, keepdim):
    y = torch.logsumexp(x, dims, keepdim=True)
    return y if keepdim else y.squeeze(dims)


def _lse_weights(ns, x, out, dims):
    y = out.reshape([1 if d in dims else n for d, n in enumerate(x.shape)])
    if ns is R:
        with torch.no_grad():
            p0 = _softmax_weights(x.detach(), y.detach())
        return R.where(y.detach().abs() == _INF, p0, R.exp(R.sub(x, y))), y
    return _softmax_weights(x, y), y


def _lse_vjp(ns, g, s):
    (x,), (dims, _) = s.inputs, s.params
    p, y = _lse_weights(ns, x, s.y, dims)
    return (ns.mul(g.reshape(y.shape), p),)


def _lse_jvp(ns, ts, s):
    (x,), (dims, _), (t,) = s.inputs, s.params, ts
    p, y = _lse_weights(ns, x, s.y, dims)
    return ns.sum(ns.mul(p, t), dims, keepdim=True).reshape(s.y.shape)


_LOGSUMEXP = register(Rule(
    "logsumexp", _lse_forward, 1, _lse_vjp, _lse_jvp, saves=(0,), save_output=True,
    public=True,
    derivative="g ⊙ softmax(x)",
    convention="an all -inf slice gives -inf with gradient 0; +inf entries share g evenly"))


def logsumexp(input: torch.Tensor, dim=None, keepdim: bool = False) -> torch.Tensor:
    """log Σ exp(x) over ``dim`` (None: all), without overflow. Gradient softmax(x)·g; an all
    -inf slice gives -inf with gradient 0."""
    if not input.is_floating_point():
        return torch.logsumexp(input, dims_of(input, dim), keepdim=keepdim)
    return _LOGSUMEXP(input, dims_of(input, dim), keepdim)
