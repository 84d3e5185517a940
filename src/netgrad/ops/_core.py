"""Shared machinery of the robust operations.

* :func:`plain` runs a function with ``__torch_function__`` handling switched off, so that the
  robust operations never re-enter :func:`netgrad.ops.robust` mode (nor any other mode) from
  inside themselves.
* :func:`strong_` turns a freshly computed product ``r = g * d`` into a *strong-zero* product:
  ``0 * anything = 0`` (contract rule 3). IEEE multiplication gives NaN exactly when a factor is
  NaN or when ``0`` meets ``inf``, so the common case costs one ``isnan`` pass and one ``any``;
  the masks are only built when a NaN is actually present.
* :func:`szmul` is the same product as a differentiable operation, used by the backward formulas
  when ``create_graph=True``, so that double backward keeps the contract too.
* :data:`R` and :data:`T` are the two namespaces the derivative rules in ``_rules.py`` are written
  against: ``R`` holds the robust operations (used when the backward itself is differentiated),
  ``T`` plain torch (the fast path, used when it is not).
"""

from __future__ import annotations

import functools
import math
from typing import Callable, Iterable

import torch
from torch.autograd import Function

from ..debug import _strong_zero

__all__ = ["plain", "has_nan", "all_finite", "strong_", "szmul", "product_grads", "dims_of", "unbroadcast",
           "is_float", "floating", "R", "T"]

_disable = torch._C.DisableTorchFunction


def plain(fn: Callable) -> Callable:
    """Run ``fn`` with ``__torch_function__`` modes and overrides disabled (no re-entry)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with _disable():
            return fn(*args, **kwargs)

    return wrapper


def is_float(*xs) -> bool:
    """True when every tensor among ``xs`` is real floating point (others are left to torch)."""
    return all(not isinstance(x, torch.Tensor) or x.is_floating_point() for x in xs)


def floating(*xs) -> bool:
    """True when the robust path applies: no non-float tensor, and at least one float tensor."""
    return is_float(*xs) and any(isinstance(x, torch.Tensor) for x in xs)


def dims_of(x: torch.Tensor, dim) -> tuple[int, ...]:
    """Normalize ``dim`` (None, an int or a sequence of ints) to sorted non-negative dims."""
    n = x.dim()
    if dim is None:
        return tuple(range(n))
    if isinstance(dim, int):
        dim = (dim,)
    m = max(n, 1)
    out = sorted({d % m if -m <= d < m else _bad_dim(d, n) for d in dim})
    return tuple(d for d in out if d < n) if n else ()


def _bad_dim(d: int, n: int) -> int:
    raise IndexError(f"Dimension out of range (expected to be in range of [{-max(n, 1)}, "
                     f"{max(n, 1) - 1}], but got {d})")


def unbroadcast(grad, like):
    """Sum ``grad`` down to the shape of ``like`` (a tensor, or a non-tensor: returns None)."""
    if not isinstance(like, torch.Tensor) or grad is None:
        return None
    if grad.shape != like.shape:
        grad = grad.sum_to_size(like.shape) if like.dim() else grad.sum()
    return grad


def has_nan(r: torch.Tensor) -> bool:
    """Whether ``r`` holds a NaN: one reduction pass (amax propagates NaN), no boolean temporary."""
    if r.numel() == 0:
        return False
    return math.isnan((torch.amax(r) if r.dim() else r).item())  # (item: no 0-dim ops)


def all_finite(r: torch.Tensor) -> bool:
    """Whether every entry of ``r`` is finite: one sum (inf and NaN propagate into it). A sum
    that overflows with finite entries answers False too; callers only use False to take a
    slower, careful path."""
    if r.numel() == 0:
        return True
    return math.isfinite(torch.sum(r).item())  # (torch.isfinite of a 0-dim: four more ops)


def strong_(r: torch.Tensor, g: torch.Tensor, d=None) -> torch.Tensor:
    """Make the fresh product ``r = g * d`` a strong-zero product, in place.

    Args:
        r: the product, a temporary that may be overwritten.
        g: the incoming gradient (broadcastable to ``r``); where it is exactly 0, ``r`` is 0.
        d: the local derivative, or a callable returning it, or None; where it is exactly 0,
            ``r`` is 0 even if ``g`` is infinite. Only evaluated when ``r`` holds a NaN.
    """
    if not has_nan(r):
        return r
    nan = torch.isnan(r)
    kill = g == 0
    if d is not None:
        d = d() if callable(d) else d
        kill = kill | (d == 0)
    fill = nan & kill
    if _strong_zero.enabled:  # detailed diagnostics count where the convention decided
        _strong_zero.record(fill, g, d)
    r.masked_fill_(fill, 0)
    return r


class _SZMul(Function):
    """``a * b`` with 0 * anything = 0; differentiable to any order."""

    @staticmethod
    @plain
    def forward(ctx, a, b):
        ta, tb = isinstance(a, torch.Tensor), isinstance(b, torch.Tensor)
        ctx.save_for_backward(a if ta else None, b if tb else None)
        ctx.scalars = (None if ta else a, None if tb else b)
        return _szmul_nograd(a, b)

    @staticmethod
    @plain
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        return product_grads(ctx, g, a, b)


def product_grads(ctx, g, a, b):
    """The gradients of a product ``a * b`` saved by an autograd Function (a Python number
    operand in ``ctx.scalars``): ``g * b`` and ``g * a`` as strong-zero products, each summed
    back to its operand's shape; None for an operand that needs no gradient."""
    sa, sb = ctx.scalars
    ga = gb = None
    if ctx.needs_input_grad[0]:
        ga = unbroadcast(szmul(g, b if b is not None else sb), a)
    if ctx.needs_input_grad[1]:
        gb = unbroadcast(szmul(g, a if a is not None else sa), b)
    return ga, gb


@plain
def _szmul_nograd(a, b):
    r = a * b
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        return strong_(r, a, b)
    t, s = (a, b) if isinstance(a, torch.Tensor) else (b, a)
    return strong_(r, t, s) if s == 0 or not math.isfinite(s) else r


def szmul(a, b):
    """Strong-zero product ``a * b`` (0 * inf = 0 * nan = 0), differentiable to any order."""
    if not torch.is_grad_enabled() and (isinstance(a, torch.Tensor) or
                                        isinstance(b, torch.Tensor)):
        # no graph can be recorded (e.g. a backward without create_graph, whose saved tensors
        # still require grad): the same product without the autograd Function's overhead
        return _szmul_nograd(a, b)
    return _SZMul.apply(a, b)


class _Namespace:
    """Attribute access to a set of functions, resolved lazily (the robust ops import late)."""

    def __init__(self, resolve: Callable[[str], Callable]):
        self._resolve = resolve

    def __getattr__(self, name: str):
        fn = self._resolve(name)
        setattr(self, name, fn)
        return fn


def _robust_fn(name: str):
    from netgrad import ops

    if name == "szmul":
        return szmul
    return getattr(ops, name)


_TORCH = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "neg": lambda a: -a,
    "szmul": lambda a, b: a * b,
    "logistic_sigmoid": torch.sigmoid,
    "ramp": torch.relu,
}


def _torch_fn(name: str):
    if name in _TORCH:
        return _TORCH[name]
    return getattr(torch, name)


#: The robust operations, for backward formulas that must themselves be differentiable.
R = _Namespace(_robust_fn)
R.fast = False
#: Plain torch, for the fast path of backward formulas (no graph is being built).
T = _Namespace(_torch_fn)
T.fast = True


def prod_of(xs: Iterable[int]) -> int:
    out = 1
    for v in xs:
        out *= v
    return out
