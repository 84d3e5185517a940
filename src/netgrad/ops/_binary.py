"""Binary and selection operations: atan2, hypot, xlogy, where, clip, maximum, minimum.

All broadcast like torch. Conventions at undefined points are listed in ``_rules.py``.
"""

from __future__ import annotations

import math

import torch
from torch.autograd import Function

from ._core import floating, has_nan, plain, strong_, unbroadcast
from ._registry import R, elementwise, register, szmul

__all__ = ["atan2", "hypot", "xlogy", "where", "clip", "maximum", "minimum"]

_Tensor = torch.Tensor


# ----------------------------------------------------------------------------- where
def _mask(cond, like) -> _Tensor:
    """A 0/1 local derivative in the dtype of the result (never promotes a float16 gradient)."""
    return cond.to(like.dtype if isinstance(like, _Tensor) and like.is_floating_point()
                   else torch.get_default_dtype())


def _dtype_of(*xs):
    ts = [x for x in xs if isinstance(x, _Tensor) and x.is_floating_point()]
    return ts[0] if ts else None


_where = register(elementwise(
    "where", torch.where,
    (None, lambda ns, c, a, b, y: _mask(c, _dtype_of(a, b)),
     lambda ns, c, a, b, y: _mask(~c, _dtype_of(a, b))),
    saves=(0,),
    grads=(None, lambda ns, g, c, a, b, y: ns.where(c, g, 0.0),
           lambda ns, g, c, a, b, y: ns.where(c, 0.0, g)),
    derivative="g where c else 0, g where ¬c else 0",
    convention="the unused branch gets an exact 0"))


def where(condition: torch.Tensor, input, other):
    """``input`` where ``condition`` else ``other`` (either may be a number), broadcasting.

    Gradient: g to the chosen branch and an exact 0 to the other, so a NaN or inf that the
    unused branch would produce never leaks (no "double where" needed).
    """
    if not floating(input, other):
        return torch.where(condition, input, other)
    if not isinstance(input, _Tensor) and not isinstance(other, _Tensor):
        return torch.where(condition, input, other)
    return _where(condition, input, other)


# ----------------------------------------------------------------------------- max / min
def _share(sign: int, first: bool):
    """∂max(a, b)/∂a (sign 1) or ∂min/∂a (sign -1), or /∂b: 1 for the winner, ½ at a tie."""

    def d(ns, a, b, y):
        x, o = (a, b) if first else (b, a)
        lose = x < o if sign > 0 else x > o
        like = _dtype_of(a, b)
        return torch.where(x == o, 0.5, torch.where(lose, 0.0, 1.0)).to(like.dtype)

    return d


_maximum = register(elementwise(
    "maximum", torch.maximum, (_share(1, True), _share(1, False)), saves=(0, 1),
    derivative="g to the larger input", convention="ties: ½ / ½"))
_minimum = register(elementwise(
    "minimum", torch.minimum, (_share(-1, True), _share(-1, False)), saves=(0, 1),
    derivative="g to the smaller input", convention="ties: ½ / ½"))


def maximum(input: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
    """Elementwise max with broadcasting. Gradient to the larger input; ties split ½ / ½."""
    if not floating(input, other):
        return torch.maximum(input, other)
    return _maximum(input, other)


def minimum(input: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
    """Elementwise min with broadcasting. Gradient to the smaller input; ties split ½ / ½."""
    if not floating(input, other):
        return torch.minimum(input, other)
    return _minimum(input, other)


# ----------------------------------------------------------------------------- clip
def _inside(x, lo, hi) -> _Tensor:
    inside = torch.ones_like(x, dtype=torch.bool)
    if lo is not None:
        inside &= x > lo
    if hi is not None:
        inside &= x < hi
    if lo is not None and hi is not None and lo > hi:
        inside = torch.zeros_like(inside)
    return inside


_clip_numbers = register(elementwise(
    "clip_numbers", torch.clamp, (lambda ns, x, y, lo, hi: _mask(_inside(x, lo, hi), x),),
    saves=(0,), grads=(lambda ns, g, x, y, lo, hi: ns.where(_inside(x, lo, hi), g, 0.0),),
    derivative="g where lo < x < hi else 0 (number bounds)",
    convention="at a number bound: 0 (rule 4)"))


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
        out = _clip_numbers(out, lo_n, hi_n)
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
