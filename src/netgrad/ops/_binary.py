"""Binary and selection operations: atan2, hypot, xlogy, where, clip, maximum, minimum.

All broadcast like torch. Conventions at undefined points are listed in ``_rules.py``.
"""

from __future__ import annotations

import math

import torch
from torch.autograd import Function

from ._core import R, floating, has_nan, plain, strong_, szmul, unbroadcast

__all__ = ["atan2", "hypot", "xlogy", "where", "clip", "maximum", "minimum"]

_Tensor = torch.Tensor


# ----------------------------------------------------------------------------- where
class _Where(Function):
    @staticmethod
    @plain
    def forward(ctx, cond, a, b):
        ctx.save_for_backward(cond, a if isinstance(a, _Tensor) else None,
                              b if isinstance(b, _Tensor) else None)
        return torch.where(cond, a, b)

    @staticmethod
    @plain
    def backward(ctx, g):
        cond, a, b = ctx.saved_tensors
        w = R.where if torch.is_grad_enabled() else torch.where
        ga = unbroadcast(w(cond, g, 0.0), a) if ctx.needs_input_grad[1] else None
        gb = unbroadcast(w(cond, 0.0, g), b) if ctx.needs_input_grad[2] else None
        return None, ga, gb


def where(condition: torch.Tensor, input, other):
    """``input`` where ``condition`` else ``other`` (either may be a number), broadcasting.

    Gradient: g to the chosen branch and an exact 0 to the other, so a NaN or inf that the
    unused branch would produce never leaks (no "double where" needed).
    """
    if not floating(input, other):
        return torch.where(condition, input, other)
    if not isinstance(input, _Tensor) and not isinstance(other, _Tensor):
        return torch.where(condition, input, other)
    return _Where.apply(condition, input, other)


# ----------------------------------------------------------------------------- max / min
class _Extremum(Function):
    """maximum (sign = 1) or minimum (sign = -1) of two tensors; ties split the gradient ½ / ½."""

    @staticmethod
    @plain
    def forward(ctx, a, b, sign):
        ctx.save_for_backward(a, b)
        ctx.sign = sign
        return torch.maximum(a, b) if sign > 0 else torch.minimum(a, b)

    @staticmethod
    @plain
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        lose_a = a < b if ctx.sign > 0 else a > b
        lose_b = b < a if ctx.sign > 0 else b > a
        tie = a == b
        if torch.is_grad_enabled():
            half = R.mul(g, 0.5)
            ga = R.where(tie, half, R.where(lose_a, 0.0, g)) if ctx.needs_input_grad[0] else None
            gb = R.where(tie, half, R.where(lose_b, 0.0, g)) if ctx.needs_input_grad[1] else None
        else:
            half = g * 0.5
            ga = torch.where(tie, half, g).masked_fill_(lose_a, 0.0) \
                if ctx.needs_input_grad[0] else None
            gb = torch.where(tie, half, g).masked_fill_(lose_b, 0.0) \
                if ctx.needs_input_grad[1] else None
        return unbroadcast(ga, a), unbroadcast(gb, b), None


def maximum(input: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
    """Elementwise max with broadcasting. Gradient to the larger input; ties split ½ / ½."""
    if not floating(input, other):
        return torch.maximum(input, other)
    return _Extremum.apply(input, other, 1)


def minimum(input: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
    """Elementwise min with broadcasting. Gradient to the smaller input; ties split ½ / ½."""
    if not floating(input, other):
        return torch.minimum(input, other)
    return _Extremum.apply(input, other, -1)


# ----------------------------------------------------------------------------- clip
class _ClipNumbers(Function):
    @staticmethod
    @plain
    def forward(ctx, x, lo, hi):
        y = torch.clamp(x, lo, hi)
        ctx.save_for_backward(x)
        ctx.bounds = (lo, hi)
        return y

    @staticmethod
    @plain
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        lo, hi = ctx.bounds
        inside = torch.ones_like(x, dtype=torch.bool)
        if lo is not None:
            inside &= x > lo
        if hi is not None:
            inside &= x < hi
        if lo is not None and hi is not None and lo > hi:
            inside.zero_()
        if torch.is_grad_enabled():
            return R.where(inside, g, 0.0), None, None
        return torch.where(inside, g, 0.0), None, None


def clip(input: torch.Tensor, min=None, max=None) -> torch.Tensor:
    """Clamp ``input`` to [min, max] (as ``torch.clip``; bounds are numbers, tensors or None).

    Gradient: g strictly inside, 0 outside and at a number bound (minimum-norm subgradient,
    like Ramp at 0); against a tensor bound, ties split ½ / ½ as in :func:`maximum`.
    """
    if not floating(input, min, max) or (min is None and max is None):
        return torch.clip(input, min, max)
    lo_n = None if isinstance(min, _Tensor) else min
    hi_n = None if isinstance(max, _Tensor) else max
    out = input
    if lo_n is not None or hi_n is not None:
        out = _ClipNumbers.apply(out, lo_n, hi_n)
    if isinstance(min, _Tensor):
        out = maximum(out, min)
    if isinstance(max, _Tensor):
        out = minimum(out, max)
    return out


# ----------------------------------------------------------------------------- hypot, atan2
def _unit(x, y, r):
    """(x/r, y/r) with the conventions: 0 at r = 0; at r = inf the direction of the infinite
    component(s) (sign ±1, or ±1/√2 when both are infinite)."""
    ux, uy = x / r, y / r
    if has_nan(ux) or has_nan(uy):
        bad = torch.isnan(ux) | torch.isnan(uy)
        xi, yi = torch.isinf(x), torch.isinf(y)
        both = (xi & yi).to(x.dtype)
        scale = 1.0 - both * (1.0 - 1.0 / math.sqrt(2.0))
        zero = r == 0
        fx = torch.where(xi, torch.sign(x) * scale, 0.0)
        fy = torch.where(yi, torch.sign(y) * scale, 0.0)
        fix = bad & (zero | torch.isinf(r))
        ux = torch.where(fix, torch.where(zero, 0.0, fx), ux)
        uy = torch.where(fix, torch.where(zero, 0.0, fy), uy)
    return ux, uy


class _Hypot(Function):
    @staticmethod
    @plain
    def forward(ctx, x, y):
        r = torch.hypot(x, y)
        ctx.save_for_backward(x, y, r)
        return r

    @staticmethod
    @plain
    def backward(ctx, g):
        x, y, r = ctx.saved_tensors
        if torch.is_grad_enabled():
            bad = (r == 0) | torch.isinf(r)
            with torch.no_grad():
                fx, fy = _unit(x, y, r)
            ux = R.where(bad, fx, R.div(x, r))
            uy = R.where(bad, fy, R.div(y, r))
            return unbroadcast(szmul(g, ux), x), unbroadcast(szmul(g, uy), y)
        ux, uy = _unit(x, y, r)
        gx = strong_(g * ux, g, ux) if ctx.needs_input_grad[0] else None
        gy = strong_(g * uy, g, uy) if ctx.needs_input_grad[1] else None
        return unbroadcast(gx, x), unbroadcast(gy, y)


def hypot(input: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
    """√(x² + y²) without overflow. Gradient (x, y)/r; 0 at the origin (minimum-norm
    subgradient); at infinity the direction of the infinite component."""
    if not floating(input, other):
        return torch.hypot(input, other)
    return _Hypot.apply(input, other)


class _Atan2(Function):
    @staticmethod
    @plain
    def forward(ctx, y, x):
        ctx.save_for_backward(y, x)
        return torch.atan2(y, x)

    @staticmethod
    @plain
    def backward(ctx, g):
        y, x = ctx.saved_tensors
        if torch.is_grad_enabled():
            r = R.hypot(y, x)
            bad = (r == 0) | torch.isinf(r)
            cy = R.where(bad, 0.0, R.div(R.div(x, r), r))
            cx = R.where(bad, 0.0, R.neg(R.div(R.div(y, r), r)))
            return unbroadcast(szmul(g, cy), y), unbroadcast(szmul(g, cx), x)
        r = torch.hypot(y, x)
        bad = (r == 0) | torch.isinf(r)
        cy = (x / r).div_(r).masked_fill_(bad, 0.0)
        cx = (y / r).div_(r).neg_().masked_fill_(bad, 0.0)
        gy = strong_(g * cy, g, cy) if ctx.needs_input_grad[0] else None
        gx = strong_(g * cx, g, cx) if ctx.needs_input_grad[1] else None
        return unbroadcast(gy, y), unbroadcast(gx, x)


def atan2(input: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
    """The angle of the point (x = other, y = input), as ``torch.atan2(input, other)``.

    Gradient (x, -y)/(x² + y²), computed through hypot so it never overflows; 0 at the origin
    and at infinity (convention).
    """
    if not floating(input, other):
        return torch.atan2(input, other)
    return _Atan2.apply(input, other)


# ----------------------------------------------------------------------------- xlogy
class _Xlogy(Function):
    @staticmethod
    @plain
    def forward(ctx, x, y):
        ctx.save_for_backward(x if isinstance(x, _Tensor) else None,
                              y if isinstance(y, _Tensor) else None)
        ctx.scalars = (None if isinstance(x, _Tensor) else x,
                       None if isinstance(y, _Tensor) else y)
        return torch.xlogy(x, y)

    @staticmethod
    @plain
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        xx = x if x is not None else ctx.scalars[0]
        yy = y if y is not None else ctx.scalars[1]
        gx = gy = None
        if torch.is_grad_enabled():
            if ctx.needs_input_grad[0]:
                gx = szmul(g, R.log(yy))
            if ctx.needs_input_grad[1]:
                gy = szmul(szmul(g, xx), R.div(1.0, yy))
        else:
            if ctx.needs_input_grad[0]:
                ly = torch.log(yy)
                gx = strong_(g * ly, g, ly)
            if ctx.needs_input_grad[1]:
                t = g * xx
                t = strong_(t, g, xx) if isinstance(xx, _Tensor) else t
                gy = strong_(t / yy, t, lambda: 1.0 / yy)
        return unbroadcast(gx, x), unbroadcast(gy, y)


def xlogy(input, other):
    """x·log y, and 0 where x = 0 (as ``torch.xlogy``; either may be a number).

    Gradient log y (-inf at y = 0) and x/y (0 wherever x = 0)."""
    if not floating(input, other):
        return torch.xlogy(input, other)
    return _Xlogy.apply(input, other)
