"""Reductions: sum, mean, amax, amin, prod, cumprod, logsumexp.

``dim`` is None (all dimensions), an int, or a tuple of ints, with ``keepdim`` as in torch.
``sum``, ``mean``, ``amax`` and ``amin`` are torch's own (their gradients already keep the
contract: amax/amin split ties evenly); ``prod`` and ``cumprod`` differentiate by exclusive
products, never ``y / x``; ``logsumexp`` handles all -inf and +inf slices.
"""

from __future__ import annotations

import torch
from torch.autograd import Function

from ._core import dims_of, has_nan, plain, strong_
from ._registry import R, szmul

__all__ = ["sum", "mean", "prod", "cumprod", "amax", "amin", "logsumexp"]

_Tensor = torch.Tensor
_builtin_sum = sum


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


class _Prod(Function):
    @staticmethod
    @plain
    def forward(ctx, x, dims, keepdim):
        ctx.save_for_backward(x)
        ctx.dims, ctx.keepdim = dims, keepdim
        out = x
        for d in reversed(dims):
            out = torch.prod(out, d, keepdim=True)
        if not keepdim:
            out = out.squeeze(dims) if dims else out
        return out

    @staticmethod
    @plain
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        dims = ctx.dims
        if not dims:
            return g, None, None
        gk = g if ctx.keepdim else g.reshape([1 if d in dims else s
                                              for d, s in enumerate(x.shape)])
        v = _to_last(x, dims)
        graph = torch.is_grad_enabled()
        if graph:
            pre, suf = _exclusive_products(v, R.cumprod)
        kept = [d for d in range(x.dim()) if d not in dims]
        gv = _to_last(gk.expand(x.shape), dims)[..., :1]
        if graph:
            gx = szmul(szmul(gv, pre), suf)
        else:
            gx = _exclusive_times(v, gv)
        # undo _to_last: (*kept, n) -> (*kept, *dims) -> original order
        gx = gx.reshape(*[x.shape[d] for d in kept], *[x.shape[d] for d in dims])
        order = kept + list(dims)
        inverse = [order.index(d) for d in range(x.dim())]
        return gx.permute(*inverse), None, None


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
    return _Prod.apply(input, dims, keepdim)


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


class _Cumprod(Function):
    @staticmethod
    @plain
    def forward(ctx, x, dim):
        y = torch.cumprod(x, dim)
        ctx.save_for_backward(x, y)
        ctx.dim = dim
        return y

    @staticmethod
    @plain
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        dim = ctx.dim
        if x.dim() == 0 or x.shape[dim] == 0:
            return g, None
        xl, yl, gl = (t.movedim(dim, -1) for t in (x, y, g))
        n = xl.shape[-1]
        if not torch.is_grad_enabled() and n >= 64 and xl.numel() >= 1 << 16:
            shape = xl.shape
            s = _blocked_reverse_scan(xl.reshape(-1, n), gl.reshape(-1, n)).reshape(shape)
            if not has_nan(s):  # else: a 0·inf inside the scan, the careful path below
                gx = s  # a fresh tensor
                gx[..., 1:].mul_(yl[..., :-1])  # y_{k-1}·s_k
                if not has_nan(gx):
                    return gx.movedim(-1, dim), None
        zero = torch.zeros_like(xl[..., :1])
        a = torch.cat([xl[..., 1:], zero], -1)        # a_k = x_{k+1}
        prev = torch.cat([torch.ones_like(zero), yl[..., :-1]], -1)  # y_{k-1} = Π_{j<k} x_j
        if torch.is_grad_enabled():
            s = _reverse_affine_scan(a, gl, szmul, R.add)
            gx = szmul(prev, s)
        else:
            s = _reverse_affine_scan(a, gl, torch.mul, torch.add)
            if has_nan(s):  # a 0·inf met somewhere: redo with strong zeros
                s = _reverse_affine_scan(a, gl, szmul, torch.add)
            gx = strong_(prev * s, prev, s)
        return gx.movedim(-1, dim), None


def cumprod(input: torch.Tensor, dim: int, *, dtype=None) -> torch.Tensor:
    """Cumulative product along ``dim``. Gradient without division: Σ_{i≥k} g_i Π_{j≤i, j≠k} x_j
    = y_{k-1} · s_k with s_k = g_k + x_{k+1} s_{k+1}, a reverse scan in log2(n) steps."""
    if dtype is not None:
        input = input.to(dtype)
    if not input.is_floating_point():
        return torch.cumprod(input, dim)
    return _Cumprod.apply(input, dim)


# ----------------------------------------------------------------------------- logsumexp
def _softmax_weights(x: _Tensor, y: _Tensor) -> _Tensor:
    """exp(x - y) with the conventions: slices whose y is -inf get 0; slices whose y is +inf
    share evenly among their +inf entries."""
    p = torch.exp(x - y)
    if has_nan(p):
        nan = torch.isnan(p)
        pinf = (x == float("inf")) & (y == float("inf"))
        count = pinf.sum(dim=tuple(i for i in range(x.dim()) if y.shape[i] == 1 and
                                       x.shape[i] != 1) or None, keepdim=True)
        share = pinf.to(x.dtype) / count.clamp_min(1).to(x.dtype)
        p = torch.where(nan & (y == float("-inf")), 0.0, p)
        p = torch.where(torch.isinf(y) & (y > 0) & ~torch.isnan(x), share, p)
    return p


class _LogSumExp(Function):
    @staticmethod
    @plain
    def forward(ctx, x, dims, keepdim):
        y = torch.logsumexp(x, dims, keepdim=True)
        out = y if keepdim else y.squeeze(dims)
        ctx.save_for_backward(x, out)  # the output itself, so double backward sees through it
        ctx.keep_shape = y.shape
        return out

    @staticmethod
    @plain
    def backward(ctx, g):
        x, out = ctx.saved_tensors
        y = out.reshape(ctx.keep_shape)
        gk = g.reshape(ctx.keep_shape)
        if torch.is_grad_enabled():
            with torch.no_grad():
                p0 = _softmax_weights(x, y.detach())
            special = torch.isinf(y)
            p = R.where(special, p0, R.exp(R.sub(x, y)))
            return szmul(gk, p), None, None
        p = _softmax_weights(x, y)
        return strong_(gk * p, gk, p), None, None


def logsumexp(input: torch.Tensor, dim=None, keepdim: bool = False) -> torch.Tensor:
    """log Σ exp(x) over ``dim`` (None: all), without overflow. Gradient softmax(x)·g; an all
    -inf slice gives -inf with gradient 0."""
    if not input.is_floating_point():
        return torch.logsumexp(input, dims_of(input, dim), keepdim=keepdim)
    return _LogSumExp.apply(input, dims_of(input, dim), keepdim)
