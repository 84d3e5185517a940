"""Arithmetic: add, sub, neg, mul, div, pow.

``add``, ``sub`` and ``neg`` are torch's own (their gradients are ±g, which keeps the contract).
``mul``, ``div`` and ``pow`` broadcast like torch and accept a Python number on either side.
"""

from __future__ import annotations

import math

import torch

from ._core import floating, plain
from ._registry import Rule, elementwise, register

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


_mul = register(elementwise(
    "mul", lambda a, b: a * b, (lambda ns, a, b, y: b, lambda ns, a, b, y: a), saves=(0, 1),
    derivative="g ⊙ b, g ⊙ a", convention="0 · inf = 0 in the gradient"))


def mul(input, other):
    """``input * other`` with broadcasting. Gradient g ⊙ other, g ⊙ input (strong zeros:
    a zero cotangent or a zero factor gives 0 even against inf)."""
    if not floating(input, other):
        return torch.mul(input, other)
    return _mul(input, other)


def _div_vjp(ns, g, s):
    b, y = s.inputs[1], s.y
    ga = ns.sdiv(g, b)  # g ⊙ (1/b), formed as a division
    gb = ns.neg(ns.mul(ga, y)) if s.needs[1] else None
    return (s.sum_to(ga, 0) if s.needs[0] else None), s.sum_to(gb, 1)


def _div_jvp(ns, ts, s):
    (ta, tb), y, b = ts, s.y, s.inputs[1]
    t = ta if tb is None else (ns.neg(ns.mul(tb, y)) if ta is None else
                               ns.sub(ta, ns.mul(tb, y)))
    t = ns.sdiv(t, b)
    return t.expand(y.shape).clone() if t.shape != y.shape else t


_div = register(Rule(
    "div", lambda a, b: a / b, 2, _div_vjp, _div_jvp, saves=(1,), save_output=True,
    derivative="g ⊙ (1/b), -(g ⊙ (1/b)) ⊙ y",
    convention="b = 0: ±inf (true); b = ±inf: 0; a Python number b = 0 is ±inf too"))


def div(input, other, *, rounding_mode=None):
    """``input / other`` with broadcasting (either may be a number).

    Gradient g/other and -g·y/other; ±inf where other = 0 (a true infinity), 0 where the
    cotangent is 0. With a ``rounding_mode`` the result is piecewise constant: torch's own.
    """
    if rounding_mode is not None or not floating(input, other):
        return torch.div(input, other, rounding_mode=rounding_mode)
    return _div(input, other)


def _log_abs(ns, x):
    """log|x| with 0 at x = 0 (the convention of d/dp x^p at x = 0)."""
    if not isinstance(x, torch.Tensor):
        return 0.0 if x == 0 else math.log(abs(x))
    return ns.where(x == 0, 0.0, ns.log(ns.abs(x)))


def _pow_dx(ns, x, p, y):
    """p · x^(p-1) as a strong-zero product (p = 0 gives 0 even where x^(-1) = inf)."""
    if not isinstance(p, torch.Tensor):
        if p == 0:
            return 0.0
        if p == 1:
            return 1.0
        if p == 2:
            return ns.mul(x, 2.0)
        return ns.mul(ns.pow(x, p - 1), p)
    return ns.mul(p, ns.pow(x, ns.sub(p, 1.0)))


_pow = register(elementwise(
    "pow", torch.pow, (_pow_dx, lambda ns, x, p, y: ns.mul(y, _log_abs(ns, x))),
    saves=(0, 1), save_output=True,
    derivative="g ⊙ (p ⊙ x^(p-1)); g ⊙ (y ⊙ L), L = log|x|, L := 0 at x = 0",
    convention="p = 0: d/dx = 0 everywhere; d/dp at x = 0 is 0; x < 0 (integer p): "
               "L = log|x| (real part)"))


def pow(input, exponent):
    """``input ** exponent`` with broadcasting; either may be a number; both may be trainable.

    Gradients: d/dx = p·x^(p-1) (0 everywhere when p = 0, +inf at x = 0 for 0 < p < 1);
    d/dp = y·log|x|, taken as 0 at x = 0 and as the real part (log|x|) for negative x.
    """
    if not floating(input, exponent):
        return torch.pow(input, exponent)
    return _pow(input, exponent)
