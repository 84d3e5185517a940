"""Arithmetic: add, sub, neg, mul, div, pow.

``add``, ``sub`` and ``neg`` are torch's own (their gradients are ±g, which keeps the contract).
``mul``, ``div`` and ``pow`` broadcast like torch and accept a Python number on either side.
"""

from __future__ import annotations

import torch
from torch.autograd import Function

from ._core import R, all_finite, floating, plain, product_grads, strong_, szmul, unbroadcast

__all__ = ["add", "sub", "neg", "mul", "div", "pow"]

_Tensor = torch.Tensor


@plain
def add(input, other, *, alpha=1):
    """``input + alpha * other`` (either may be a number). Gradient g, alpha·g."""
    if not isinstance(input, _Tensor):
        return other * alpha + input if alpha != 1 else other + input
    return torch.add(input, other, alpha=alpha)


@plain
def sub(input, other, *, alpha=1):
    """``input - alpha * other`` (either may be a number). Gradient g, -alpha·g."""
    if not isinstance(input, _Tensor):
        return input - other * alpha if alpha != 1 else input - other
    return torch.sub(input, other, alpha=alpha)


@plain
def neg(input):
    """``-input``. Gradient -g."""
    return torch.neg(input)


class _Mul(Function):
    @staticmethod
    @plain
    def forward(ctx, a, b):
        ta, tb = isinstance(a, _Tensor), isinstance(b, _Tensor)
        ctx.save_for_backward(a if ta else None, b if tb else None)
        ctx.scalars = (None if ta else a, None if tb else b)
        r = a * b
        # r all finite means a and b are finite everywhere (a non-finite factor makes the
        # product inf or NaN); then g * b and g * a can hold a NaN only where g is not finite,
        # and one check of g decides both products in the backward
        ctx.finite = ta and tb and all(ctx.needs_input_grad) and \
            r.shape == a.shape == b.shape and all_finite(r)
        return r

    @staticmethod
    @plain
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        if ctx.finite and not torch.is_grad_enabled() and all_finite(g):
            return g * b, g * a  # finite factors: no NaN, no strong zero to impose
        return product_grads(ctx, g, a, b)


def mul(input, other):
    """``input * other`` with broadcasting. Gradient g ⊙ other, g ⊙ input (strong zeros:
    a zero cotangent or a zero factor gives 0 even against inf)."""
    if not floating(input, other):
        return torch.mul(input, other)
    return _Mul.apply(input, other)


class _Div(Function):
    @staticmethod
    @plain
    def forward(ctx, a, b):
        y = a / b
        ta, tb = isinstance(a, _Tensor), isinstance(b, _Tensor)
        ctx.save_for_backward(a if ta else None, b if tb else None, y if tb else None)
        ctx.sb = None if tb else b
        return y

    @staticmethod
    @plain
    def backward(ctx, g):
        a, b, y = ctx.saved_tensors
        bb = b if b is not None else ctx.sb
        if torch.is_grad_enabled():
            ga = szmul(g, R.div(1.0, bb))
            gb = R.neg(szmul(ga, y)) if ctx.needs_input_grad[1] else None
        else:
            ga = strong_(g / bb, g, lambda: 1.0 / bb)
            gb = None
            if ctx.needs_input_grad[1]:
                gb = ga * y
                gb = strong_(gb, ga, y).neg_()
        return (unbroadcast(ga, a) if ctx.needs_input_grad[0] else None,
                unbroadcast(gb, b) if ctx.needs_input_grad[1] else None)


def div(input, other, *, rounding_mode=None):
    """``input / other`` with broadcasting (either may be a number).

    Gradient g/other and -g·y/other; ±inf where other = 0 (a true infinity), 0 where the
    cotangent is 0. With a ``rounding_mode`` the result is piecewise constant: torch's own.
    """
    if rounding_mode is not None or not floating(input, other):
        return torch.div(input, other, rounding_mode=rounding_mode)
    return _Div.apply(input, other)


class _Pow(Function):
    @staticmethod
    @plain
    def forward(ctx, x, p):
        y = torch.pow(x, p)
        tx, tp = isinstance(x, _Tensor), isinstance(p, _Tensor)
        ctx.save_for_backward(x if tx else None, p if tp else None, y)
        ctx.sx, ctx.sp = (None if tx else x), (None if tp else p)
        return y

    @staticmethod
    @plain
    def backward(ctx, g):
        x, p, y = ctx.saved_tensors
        xx = x if x is not None else ctx.sx
        pp = p if p is not None else ctx.sp
        gx = gp = None
        if torch.is_grad_enabled():
            if ctx.needs_input_grad[0]:
                gx = szmul(g, _pow_dx(xx, pp, R))
            if ctx.needs_input_grad[1]:
                logx = R.where(x == 0, 0.0, R.log(R.abs(x))) if x is not None else \
                    _scalar_log_abs(xx)
                gp = szmul(g, szmul(y, logx))
        else:
            if ctx.needs_input_grad[0]:
                d = _pow_dx_fast(x, pp)
                gx = strong_(g * d, g, d) if d is not None else torch.zeros_like(g)
            if ctx.needs_input_grad[1]:
                if x is not None:
                    logx = torch.log(torch.abs(x)).masked_fill_(x == 0, 0.0)
                    t = strong_(y * logx, logx, y)
                else:
                    t = y * _scalar_log_abs(xx)
                    t = strong_(t, y) if _scalar_log_abs(xx) == 0 else t
                gp = strong_(g * t, g, t)
        return unbroadcast(gx, x), unbroadcast(gp, p)


def _scalar_log_abs(v) -> float:
    import math

    return 0.0 if v == 0 else math.log(abs(v))


def _pow_dx(x, p, ns):
    """p · x^(p-1) as a strong-zero product (p = 0 gives 0 even where x^(-1) = inf)."""
    if not isinstance(p, _Tensor):
        if p == 0:
            return torch.zeros_like(x)
        if p == 1:
            return torch.ones_like(x)
        return ns.mul(ns.pow(x, p - 1), p)
    return szmul(p, ns.pow(x, ns.sub(p, 1.0)))


def _pow_dx_fast(x, p):
    if not isinstance(p, _Tensor):
        if p == 0:
            return None
        if p == 1:
            return torch.ones_like(x)
        if p == 2:
            return x * 2.0
        return torch.pow(x, p - 1).mul_(p)
    t = torch.pow(x, p - 1)
    return strong_(p * t, p, t)


def pow(input, exponent):
    """``input ** exponent`` with broadcasting; either may be a number; both may be trainable.

    Gradients: d/dx = p·x^(p-1) (0 everywhere when p = 0, +inf at x = 0 for 0 < p < 1);
    d/dp = y·log|x|, taken as 0 at x = 0 and as the real part (log|x|) for negative x.
    """
    if not floating(input, exponent):
        return torch.pow(input, exponent)
    return _Pow.apply(input, exponent)
