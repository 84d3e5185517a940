"""Norms, means and spreads: norm, power_mean, geometric_mean, var, std, normalize,
cosine_similarity.

Power sums are taken relative to the largest magnitude of the slice (the smallest, for negative
p), in the log domain, so float32 neither overflows nor underflows where the true value is
representable (contract rule 6). The limits p → 0 (geometric mean) and p → ±inf (max / min) are
taken analytically.
"""

from __future__ import annotations

import math

import torch
from torch.autograd import Function

from ._core import all_finite, dims_of, plain, prod_of, strong_
from ._registry import R, szmul

__all__ = ["norm", "var", "std", "normalize", "cosine_similarity", "geometric_mean",
           "power_mean"]

_Tensor = torch.Tensor
_INF = math.inf


def _keep_shape(x: _Tensor, dims) -> list[int]:
    return [1 if d in dims else s for d, s in enumerate(x.shape)]


def _finish(out: _Tensor, dims, keepdim: bool) -> _Tensor:
    return out if keepdim or not dims else out.squeeze(dims)


# ----------------------------------------------------------------------------- 2-norm
def _inf_direction(x: _Tensor, dims) -> _Tensor:
    """sign(x_i)/√k on the k infinite entries of each slice, 0 elsewhere."""
    xi = torch.isinf(x)
    k = xi.sum(dims, keepdim=True).clamp_min(1).to(x.dtype)
    return torch.where(xi, torch.sign(x), 0.0) / k.sqrt()


def _norm2_value(x: _Tensor, dims) -> _Tensor:
    """‖x‖₂ over ``dims`` (keepdim shape), finite whenever the true value is."""
    n = torch.linalg.vector_norm(x, 2, dims, keepdim=True)
    # Σx² may have overflowed, or lost its small terms to underflow: redo those slices
    # relative to the largest magnitude (the check reads only the small output).
    fi = torch.finfo(x.dtype)
    count = max(prod_of(x.shape[d] for d in dims), 1)
    bad = ~torch.isfinite(n) | (n * n < count * fi.tiny / fi.eps)
    if bool(bad.any()):
        m = torch.amax(x.abs(), dims, keepdim=True)
        ok = (m > 0) & torch.isfinite(m)
        ms = torch.where(ok, m, 1.0)
        scaled = torch.linalg.vector_norm(x / ms, 2, dims, keepdim=True) * ms
        n = torch.where(bad, torch.where(ok, scaled, m), n)
    return n


class _Norm2(Function):
    @staticmethod
    @plain
    def forward(ctx, x, dims, keepdim):
        out = _finish(_norm2_value(x, dims), dims, keepdim)
        ctx.save_for_backward(x, out)
        ctx.dims = dims
        return out

    @staticmethod
    @plain
    def backward(ctx, g):
        x, out = ctx.saved_tensors
        dims = ctx.dims
        shape = _keep_shape(x, dims)
        n, gk = out.reshape(shape), g.reshape(shape)
        if torch.is_grad_enabled():
            coef = R.where(n == 0, 0.0, R.div(gk, n))
            gx = szmul(x, coef)
            if bool(torch.isinf(n).any()):
                gx = R.where(torch.isinf(n), szmul(gk, _inf_direction(x, dims)), gx)
            return gx, None, None
        coef = (gk / n).masked_fill_(n == 0, 0.0)
        gx = strong_(x * coef, coef, x)
        if bool(torch.isinf(n).any()):
            gx = torch.where(torch.isinf(n), gk * _inf_direction(x, dims), gx)
        return gx, None, None


# ----------------------------------------------------------------------------- general p
def _reference(x: _Tensor, p: _Tensor, dims):
    """|x|, the reference magnitude m (max |x| for p ≥ 0, min |x| for p < 0), whether it is
    usable (0 < m < inf), the usable m, and ℓ = log|x| - log m (so p·ℓ ≤ 0)."""
    a = R.abs(x)
    m = R.where(p >= 0, R.amax(a, dims, keepdim=True), R.amin(a, dims, keepdim=True))
    ok = (m > 0) & torch.isfinite(m)
    ms = R.where(ok, m, 1.0)
    ell = R.sub(R.log(a), R.log(ms))
    return a, m, ok, ms, ell


def _as_p(p, like: _Tensor) -> _Tensor:
    if isinstance(p, _Tensor):
        return p.to(like.dtype) if not p.is_floating_point() else p
    return torch.tensor(float(p), dtype=like.dtype, device=like.device)


def _pnorm(x: _Tensor, p: _Tensor, dims) -> _Tensor:
    """(Σ|x|^p)^(1/p) = m·exp(logsumexp(p·ℓ)/p), keepdim shape; p = ±inf, 0 handled."""
    a, m, ok, ms, ell = _reference(x, p, dims)
    general = R.mul(ms, R.exp(R.div(R.logsumexp(R.mul(ell, p), dims, keepdim=True), p)))
    out = R.where(ok, general, m)
    count = R.where(torch.ones_like(m, dtype=torch.bool),
                    (x != 0).sum(dims, keepdim=True).to(x.dtype), R.sum(a, dims, keepdim=True))
    out = R.where(p == 0, count, out)
    out = R.where(p == _INF, R.amax(a, dims, keepdim=True), out)
    return R.where(p == -_INF, R.amin(a, dims, keepdim=True), out)


class _PNormPositive(Function):
    """(Σ|x|^p)^(1/p) for one finite p > 0 (a 0-dim tensor), on slices with 0 < max|x| < inf
    (``forward`` returns None otherwise, and the caller takes the composition ``_pnorm``).

    Forward relative to m = max|x|: q = |x|/m ≤ 1, t = q^(p-1), s = Σ t·q ≥ 1, N = m·s^(1/p).
    Backward without logs of x (torch.log and pow are the slow passes here):
      dN/dx = sign(x)·(|x|/N)^(p-1) = sign(x)·t·(m/N)^(p-1),
      dN/dp = (N/p)·Σ w log(|x|/N) with w = (|x|/N)^p, = (N/p)·(Σ xlogy(t·q, q)/s - log(s)/p);
    both terms of dN/dp are ≤ 0, so nothing cancels. Under create_graph the backward is the
    gradient of the robust composition ``_pnorm`` (second derivatives keep the contract).
    """

    @staticmethod
    @plain
    def forward(ctx, x, p, dims):
        q = x.abs()
        m = torch.amax(q, dims, keepdim=True)
        if not bool(((m > 0) & (m < _INF)).all()):  # zero vectors, inf or NaN: the composition
            return None
        q.div_(m)
        pv = float(p)
        t = torch.pow(q, pv - 1)  # a Python exponent: torch's fast paths (p = 3: q·q)
        if pv <= 1:  # 0^(p-1) = 1 or inf: the factor of an exact zero is taken as 0 (0^p = 0,
            t.masked_fill_(q == 0, 0.0)  # and sign(0)·t = 0, the composition's convention)
        s = (t * q).sum(dims, keepdim=True)
        out = m * s.pow(1 / p)
        ctx.save_for_backward(x, p, q, t, s, m, out)
        ctx.dims = dims
        return out

    @staticmethod
    @plain
    def backward(ctx, g):
        x, p, q, t, s, m, out = ctx.saved_tensors
        dims = ctx.dims
        if torch.is_grad_enabled():
            need = [v for v, n in zip((x, p), ctx.needs_input_grad[:2]) if n]
            with torch.enable_grad():
                grads = iter(torch.autograd.grad(_pnorm(x, p, dims), need, g, create_graph=True,
                                                 allow_unused=True))
            gx = next(grads) if ctx.needs_input_grad[0] else None
            gp = next(grads) if ctx.needs_input_grad[1] else None
            return gx, gp, None
        gx = gp = None
        if ctx.needs_input_grad[0]:
            c = g * (m / out).pow(p - 1)
            gx = torch.copysign(t, x).mul_(c)  # t = 0 wherever x = 0, so copysign is sign(x)·t
            if not all_finite(gx):  # an infinite g (0 where t is 0)
                gx = strong_(torch.copysign(t, x).mul_(c), c.expand_as(x),
                             lambda: torch.copysign(t, x))
        if ctx.needs_input_grad[1]:
            # Σ xlogy(u, q) with u = t·q: u·log q is NaN exactly where q = 0 (0·-inf; q is never
            # NaN here), which nansum counts as the convention's 0. (torch.xlogy is ~4x slower.)
            u = (t * q).mul_(torch.log(q))
            inner = u.nansum(dims, keepdim=True).div_(s).sub_(torch.log(s) / p)
            gp = strong_(g * (out / p) * inner, g, inner)
            gp = gp.sum() if p.dim() == 0 else gp.sum_to_size(p.shape)
        return gx, gp, None


def norm(input: _Tensor, ord=2, dim=None, keepdim: bool = False, *, dtype=None) -> _Tensor:
    """The vector p-norm (Σ|x|^p)^(1/p) over ``dim`` (None: all), as
    ``torch.linalg.vector_norm``; ``ord`` may be a number or a (trainable) tensor.

    Computed relative to max|x|, so it is finite whenever the true value is. Gradient x/‖x‖ for
    p = 2; at the zero vector 0 for x and p (minimum-norm subgradient); ord = inf / -inf: max /
    min |x| (ties split); ord = 0: number of non-zeros (gradient 0).

    Shape: ``input`` (*), output (*) with ``dim`` removed unless ``keepdim``.
    """
    x = input if dtype is None else input.to(dtype)
    dims = dims_of(x, dim)
    if not x.is_floating_point():
        return torch.linalg.vector_norm(x, ord, dim, keepdim, dtype=dtype)
    if not isinstance(ord, _Tensor):
        if ord == 2:
            return _Norm2.apply(x, dims, keepdim)
        if ord == 1:
            return R.sum(R.abs(x), dims, keepdim=keepdim)
        if ord == _INF:
            return R.amax(R.abs(x), dims, keepdim=keepdim)
    p = _as_p(ord, x)
    if p.numel() == 1 and x.numel() and dims:
        pv = float(p.detach())
        if 0 < pv < _INF:
            out = _PNormPositive.apply(x, p.reshape(()), dims)
            if out is not None:
                return _finish(out, dims, keepdim)
    out = _pnorm(x, p, dims)
    return _finish(out, dims, keepdim)


def power_mean(x: _Tensor, p, dim=None, keepdim: bool = False) -> _Tensor:
    """The power (generalized) mean (mean |x|^p)^(1/p) over ``dim`` (None: all).

    ``p`` is a number or a tensor (trainable) broadcastable to the reduced shape. p = 0 is the
    geometric mean, p = inf the max and p = -inf the min of |x|; small |p| uses the cumulant
    series of log|x| so both the value and d/dp stay accurate. Computed relative to max|x| (min
    for p < 0): finite in float32 whenever the true value is. An all-zero slice gives 0 with
    gradient 0 for x and p.

    Shape: ``x`` (*), ``p`` broadcastable to the output, output (*) with ``dim`` removed unless
    ``keepdim``.
    """
    dims = dims_of(x, dim)
    p = _as_p(p, x)
    if p.dim() and not keepdim and dims:  # p is given in the reduced shape: align it
        p = p.reshape([1 if d in dims else s for d, s in enumerate(x.shape)]) \
            if p.numel() > 1 else p.reshape(())
    a, m, ok, ms, ell = _reference(x, p, dims)
    e = R.mean(R.expm1(R.mul(ell, p)), dims, keepdim=True)
    general = R.mul(ms, R.exp(R.div(R.log1p(e), p)))
    out = R.where(ok, general, m)
    # small |p|: log M = κ1 + p κ2/2 + p² κ3/6 + p³ κ4/24 (cumulants of log|x|)
    c = R.log(a)
    k1 = R.mean(c, dims, keepdim=True)
    dev = R.sub(c, k1)
    dev2 = R.mul(dev, dev)
    mu2 = R.mean(dev2, dims, keepdim=True)
    mu3 = R.mean(R.mul(dev2, dev), dims, keepdim=True)
    mu4 = R.mean(R.mul(dev2, dev2), dims, keepdim=True)
    k4 = R.sub(mu4, R.mul(R.mul(mu2, mu2), 3.0))
    series = R.add(k1, R.mul(p, R.add(R.mul(mu2, 0.5), R.mul(p, R.add(
        R.div(mu3, 6.0), R.mul(p, R.div(k4, 24.0)))))))
    with torch.no_grad():
        spread = (torch.amax(c, dims, keepdim=True) - torch.amin(c, dims, keepdim=True))
        tau = 1e-4 if x.dtype == torch.float64 else 1e-2
        small = torch.isfinite(spread) & (p.abs() * spread < tau)
    out = R.where(p == 0, R.exp(k1), out)  # geometric mean (any zero: 0)
    out = R.where(small, R.exp(series), out)  # includes p = 0 when no |x| is 0, with d/dp
    out = R.where(p == _INF, R.amax(a, dims, keepdim=True), out)
    out = R.where(p == -_INF, R.amin(a, dims, keepdim=True), out)
    return _finish(out, dims, keepdim)


def geometric_mean(x: _Tensor, dim=None, keepdim: bool = False) -> _Tensor:
    """exp(mean log|x|) over ``dim`` (None: all): never overflows. Any zero gives 0 with
    gradient 0 (at the zero itself the cusp gets 0, the minimum-norm convention)."""
    return R.exp(R.mean(R.log(R.abs(x)), dim, keepdim=keepdim))


# ----------------------------------------------------------------------------- var, std
def _first(x: _Tensor, dims) -> _Tensor:
    for d in dims:
        x = x.narrow(d, 0, 1)
    return x


def _correction(correction, unbiased) -> float:
    if correction is None:
        return 1.0 if unbiased is None or unbiased else 0.0
    return float(correction)


class _Spread(Function):
    """var (root = False) or std (root = True), with a slice shifted by its first element so a
    constant slice is exactly 0."""

    @staticmethod
    @plain
    def forward(ctx, x, dims, c, keepdim, root):
        d = x - _first(x, dims)
        v = torch.var(d, dims, correction=c, keepdim=True)
        out = _finish(v.sqrt() if root else v, dims, keepdim)
        ctx.save_for_backward(x, out)
        ctx.args = (dims, c, root)
        return out

    @staticmethod
    @plain
    def backward(ctx, g):
        x, out = ctx.saved_tensors
        dims, c, root = ctx.args
        shape = _keep_shape(x, dims)
        s, gk = out.reshape(shape), g.reshape(shape)
        n = prod_of(x.shape[d] for d in dims)
        if torch.is_grad_enabled():
            dev = R.sub(x, R.mean(x, dims, keepdim=True))
            if root:
                coef = R.where(s == 0, 0.0, R.div(gk, R.mul(s, n - c)))
            else:
                coef = R.mul(gk, 2.0 / (n - c))
            return szmul(dev, coef), None, None, None, None
        d = x - _first(x, dims)
        dev = d - d.mean(dims, keepdim=True)
        if root:
            coef = (gk / (s * (n - c))).masked_fill_(s == 0, 0.0)
        else:
            coef = gk * (2.0 / (n - c))
        return strong_(dev * coef, coef, dev), None, None, None, None


def _spread(input, dim, correction, keepdim, unbiased, root):
    dims = dims_of(input, dim)
    c = _correction(correction, unbiased)
    n = prod_of(input.shape[d] for d in dims)
    torch_fn = torch.std if root else torch.var
    if not input.is_floating_point() or n - c <= 0 or input.dim() == 0:
        return torch_fn(input, dim, correction=c, keepdim=keepdim)
    return _Spread.apply(input, dims, c, keepdim, root)


def var(input: _Tensor, dim=None, *, correction=None, keepdim: bool = False,
        unbiased: bool | None = None) -> _Tensor:
    """Variance over ``dim`` with ``correction`` (default 1), as ``torch.var``; a constant
    slice gives exactly 0. Gradient 2(x - x̄)/(n - correction)·g."""
    return _spread(input, dim, correction, keepdim, unbiased, root=False)


def std(input: _Tensor, dim=None, *, correction=None, keepdim: bool = False,
        unbiased: bool | None = None) -> _Tensor:
    """Standard deviation, as ``torch.std``; a constant slice gives exactly 0 with gradient 0
    (minimum-norm subgradient)."""
    return _spread(input, dim, correction, keepdim, unbiased, root=True)


# ----------------------------------------------------------------------------- directions
def _normalize_composed(x: _Tensor, p, dim) -> _Tensor:
    n = norm(x, p, dim, keepdim=True)
    return R.where(n == 0, 0.0, R.div(x, n))


def _composed_grad(fn, x: _Tensor, g: _Tensor, create_graph: bool) -> _Tensor:
    """The gradient of the robust composition ``fn`` at ``x`` against ``g``."""
    with torch.enable_grad():
        if not create_graph:
            x = x.detach().requires_grad_()
        (gx,) = torch.autograd.grad(fn(x), x, g, create_graph=create_graph)
    return gx


class _Normalize2(Function):
    """x / ‖x‖₂ along ``dim`` as one Function: backward (g - y·Σ g·y)/‖x‖ in a few fused
    passes, 0 on zero vectors; a non-finite result (an infinite g) and create_graph take the
    gradient of the robust composition. ``forward`` returns None (the caller composes) when a
    norm is not finite."""

    @staticmethod
    @plain
    def forward(ctx, x, dim):
        n = _norm2_value(x, (dim,))
        if not all_finite(n):
            return None
        y = x / n
        zero = n == 0
        if bool(zero.any()):
            y.masked_fill_(zero, 0.0)
        ctx.save_for_backward(x, y, n)
        ctx.dim = dim
        return y

    @staticmethod
    @plain
    def backward(ctx, g):
        x, y, n = ctx.saved_tensors
        dim = ctx.dim
        composed = lambda v: _normalize_composed(v, 2.0, dim)  # noqa: E731
        if torch.is_grad_enabled():
            return _composed_grad(composed, x, g, True), None
        dot = (g * y).sum(dim, keepdim=True)
        gx = torch.addcmul(g, y, dot, value=-1.0).div_(n)
        zero = n == 0
        if bool(zero.any()):
            gx.masked_fill_(zero, 0.0)
        if not all_finite(gx):
            gx = _composed_grad(composed, x, g, False)
        return gx, None


def normalize(input: _Tensor, p=2.0, dim: int = 1, eps: float = 1e-12, out=None) -> _Tensor:
    """x / ‖x‖_p along ``dim``, as ``torch.nn.functional.normalize`` but with no eps: tiny
    vectors still normalize to length 1, and the zero vector gives 0 with gradient 0.
    (``eps`` is accepted for compatibility and ignored.)"""
    y = None
    if (not isinstance(p, _Tensor) and p == 2 and isinstance(dim, int) and input.dim()
            and input.is_floating_point() and input.numel()):
        y = _Normalize2.apply(input, dim % input.dim())
    if y is None:
        y = _normalize_composed(input, p, dim)
    if out is not None:
        return out.copy_(y)
    return y


def cosine_similarity(x1: _Tensor, x2: _Tensor, dim: int = 1, eps: float = 1e-8) -> _Tensor:
    """Σ (x1/‖x1‖)(x2/‖x2‖) along ``dim`` (inputs broadcast), as
    ``torch.nn.functional.cosine_similarity`` without eps; a zero vector gives 0 with
    gradient 0."""
    a, b = torch.broadcast_tensors(x1, x2)
    return R.sum(R.mul(normalize(a, 2.0, dim), normalize(b, 2.0, dim)), dim)
