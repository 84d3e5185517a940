"""Stable rewrites of the compositions robust() recognises (contract rule 9).

Some compositions of exact operations go wrong in floating point although every step is right:
``log(sigmoid(x))`` at x = -300 in float32 is log(0) = -inf, and its backward meets the
infinite derivative of log with σ'(x), which underflowed to 0 — the true gradient is 1. Under
``robust()`` the operations that start such a composition mark their output with what they
computed (:func:`made`: the operation and its operands, invalidated by an in-place change), and
the operation that completes it computes the whole composition by its stable formula instead:

==========================  ==============================================================
written                     computed
==========================  ==============================================================
log(sigmoid(x))             logsigmoid(x)   (1 - sigmoid(x) is sigmoid(-x) first)
log(softmax(x, d))          log_softmax(x, d)
log(1 + exp(x)),            softplus(x)
log1p(exp(x))
log(exp(x))                 x
log(1 + x)                  log1p(x)
exp(x) - 1                  expm1(x)
sqrt(x*x + y*y)             hypot(x, y)     (x*x, x**2 and square(x) alike)
1 - cos(x)                  2·sin²(x/2)
x * log(x)                  xlogy(x, x)
==========================  ==============================================================

A marked tensor keeps references to its operands while it lives (the autograd graph usually
holds them anyway). Everything else goes through the robust operations unchanged.
"""

from __future__ import annotations

import numbers

import torch

from . import _arith as A
from . import _binary as B
from . import _elementwise as E
from . import _softmax as S
from ._rules_more import MORE

__all__ = ["made", "mark", "log", "log1p", "sqrt", "mul", "add", "sub", "rsub", "sigmoid",
           "exp", "cos", "softmax", "square", "pow"]

TAG = "_netgrad_made"
_T = torch.Tensor
NI = NotImplemented


def mark(y, kind: str, *operands):
    """Record on ``y`` that it is ``kind(*operands)``; returns ``y``."""
    if isinstance(y, _T):
        y.__dict__[TAG] = (kind, operands, y._version,
                           tuple(o._version if isinstance(o, _T) else None for o in operands))
    return y


def made(t) -> tuple | None:
    """``(kind, operands)`` when ``t`` was marked and neither it nor its operands changed since."""
    if not isinstance(t, _T):
        return None
    tag = t.__dict__.get(TAG)
    if tag is None or tag[2] != t._version:
        return None
    kind, ops, _, versions = tag
    for o, v in zip(ops, versions):
        if v is not None and o._version != v:
            return None
    return kind, ops


def _is_one(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and v == 1


def _float(t) -> bool:
    return isinstance(t, _T) and t.is_floating_point()


# ----------------------------------------------------------------------------- producers
def sigmoid(x):
    return mark(E.logistic_sigmoid(x), "sigmoid", x) if _float(x) else E.logistic_sigmoid(x)


def exp(x):
    return mark(E.exp(x), "exp", x) if _float(x) else E.exp(x)


def cos(x):
    return mark(E.cos(x), "cos", x) if _float(x) else E.cos(x)


def softmax(x, dim, dtype=None):
    y = S.softmax(x, dim, dtype=dtype)
    return mark(y, "softmax", x, dim) if dtype is None and _float(x) else y


def square(x):
    return mark(MORE["square"](x), "sq", x) if _float(x) else torch.square(x)


# ----------------------------------------------------------------------------- consumers
def log(x):
    m = made(x)
    if m is not None:
        kind, ops = m
        if kind == "sigmoid":
            return MORE["logsigmoid"](ops[0])
        if kind == "softmax":
            return S.log_softmax(ops[0], ops[1])
        if kind == "exp":
            return ops[0].view_as(ops[0])
        if kind == "1+":
            inner = made(ops[0])
            if inner is not None and inner[0] == "exp":
                return E.softplus(inner[1][0], 1.0, 20.0)
            return E.log1p(ops[0])
    y = E.log(x)
    return mark(y, "log", x) if _float(x) else y


def log1p(x):
    m = made(x)
    if m is not None and m[0] == "exp":
        return E.softplus(m[1][0], 1.0, 20.0)
    return E.log1p(x)


def sqrt(x):
    m = made(x)
    if m is not None and m[0] == "sumsq":
        a, b = m[1]
        if a.shape == b.shape == x.shape or torch.broadcast_shapes(a.shape, b.shape) == x.shape:
            return B.hypot(a, b)
    return E.sqrt(x)


def mul(a, b, op):
    if a is b and _float(a):
        return mark(op(a, a), "sq", a)
    if isinstance(a, _T) and isinstance(b, _T):
        mb = made(b)
        if mb is not None and mb[0] == "log" and mb[1][0] is a:
            return B.xlogy(a, a)
        ma = made(a)
        if ma is not None and ma[0] == "log" and ma[1][0] is b:
            return B.xlogy(b, b)
    return op(a, b)


def pow(x, p, op):
    y = op(x, p)
    if isinstance(p, numbers.Real) and not isinstance(p, bool) and p == 2 and _float(x):
        mark(y, "sq", x)
    return y


def add(a, b, *args, **kwargs):
    if args or kwargs:
        return NI
    if _is_one(b) and _float(a):
        return mark(torch.add(a, b), "1+", a)
    if _is_one(a) and _float(b):
        return mark(torch.add(b, a), "1+", b)
    ma, mb = made(a), made(b)
    if ma is not None and mb is not None and ma[0] == "sq" and mb[0] == "sq":
        return mark(torch.add(a, b), "sumsq", ma[1][0], mb[1][0])
    return NI


def sub(a, b, *args, **kwargs):
    if args or kwargs:
        return NI
    if _is_one(b):
        m = made(a)
        if m is not None and m[0] == "exp":
            return E.expm1(m[1][0])
        return NI
    if _is_one(a):
        return rsub(b, a)
    return NI


def rsub(b, a, *args, **kwargs):
    """``a - b`` (torch's argument order for ``__rsub__``)."""
    if args or kwargs or not _is_one(a):
        return NI
    m = made(b)
    if m is not None:
        kind, ops = m
        if kind == "cos":
            s = E.sin(A.mul(ops[0], 0.5))
            return A.mul(MORE["square"](s), 2.0)
        if kind == "sigmoid":
            x = torch.neg(ops[0])
            return mark(E.logistic_sigmoid(x), "sigmoid", x)
    return NI
