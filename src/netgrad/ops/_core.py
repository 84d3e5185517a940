"""Shared machinery of the robust operations.

* :func:`plain` runs a function with ``__torch_function__`` handling switched off, so that the
  robust operations never re-enter :func:`netgrad.ops.robust` mode (nor any other mode) from
  inside themselves.
* :func:`strong_` turns a freshly computed product ``r = g * d`` into a *strong-zero* product:
  ``0 * anything = 0`` (contract rule 3). IEEE multiplication gives NaN exactly when a factor is
  NaN or when ``0`` meets ``inf``, so the common case costs one ``isnan`` pass and one ``any``;
  the masks are only built when a NaN is actually present.

The rule registry (``_registry.py``) builds on these: its namespaces ``R``, ``T`` and ``F`` and
the differentiable strong-zero product ``szmul`` live there.
"""

from __future__ import annotations

import functools
import math
from typing import Callable, Iterable

import torch

from . import _strong_zero

__all__ = ["plain", "has_nan", "all_finite", "strong_", "dims_of", "unbroadcast", "is_float",
           "floating", "prod_of"]

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


def prod_of(xs: Iterable[int]) -> int:
    out = 1
    for v in xs:
        out *= v
    return out
