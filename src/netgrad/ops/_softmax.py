"""softmax and log_softmax along one dimension.

A fully masked slice (all -inf) gives softmax 0 and log_softmax -inf, with gradient 0; a slice
with +inf entries shares the mass evenly among them (the limit). Otherwise the values are
torch's.
"""

from __future__ import annotations

import torch
from torch.autograd import Function

from ._core import R, has_nan, plain, strong_, szmul

__all__ = ["softmax", "log_softmax"]

_INF = float("inf")


def _fix_softmax(x: torch.Tensor, y: torch.Tensor, dim: int, log: bool) -> torch.Tensor:
    """Replace the NaN slices torch produces for all -inf and +inf slices (rare path)."""
    m = torch.amax(x, dim, keepdim=True)
    masked = m == -_INF
    pinf = x == _INF
    count = pinf.sum(dim, keepdim=True).to(x.dtype)
    share = pinf.to(x.dtype) / count.clamp_min(1)
    has_inf = (m == _INF) & ~torch.isnan(x).any(dim, keepdim=True)
    if log:
        y = torch.where(masked, -_INF, y)
        return torch.where(has_inf, torch.log(share), y)
    y = torch.where(masked, 0.0, y)
    return torch.where(has_inf, share, y)


class _Softmax(Function):
    @staticmethod
    @plain
    def forward(ctx, x, dim):
        y = torch.softmax(x, dim)
        if has_nan(y):
            y = _fix_softmax(x, y, dim, log=False)
        ctx.save_for_backward(y)
        ctx.dim = dim
        return y

    @staticmethod
    @plain
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        dim = ctx.dim
        if torch.is_grad_enabled():
            gy = szmul(g, y)
            return R.sub(gy, szmul(y, R.sum(gy, dim, keepdim=True))), None
        gx = torch._softmax_backward_data(g, y, dim, y.dtype)
        return strong_(gx, y), None  # y = 0 (masked entries) is an exact 0, even against inf g


class _LogSoftmax(Function):
    @staticmethod
    @plain
    def forward(ctx, x, dim):
        y = torch.log_softmax(x, dim)
        masked = None
        if has_nan(y):
            y = _fix_softmax(x, y, dim, log=True)
            masked = torch.amax(x, dim, keepdim=True) == -_INF
        ctx.save_for_backward(y, masked)
        ctx.dim = dim
        return y

    @staticmethod
    @plain
    def backward(ctx, g):
        y, masked = ctx.saved_tensors
        dim = ctx.dim
        if torch.is_grad_enabled():
            gx = R.sub(g, szmul(R.exp(y), R.sum(g, dim, keepdim=True)))
            return (gx if masked is None else R.where(masked, 0.0, gx)), None
        gx = torch._log_softmax_backward_data(g, y, dim, y.dtype)
        if masked is not None:
            gx.masked_fill_(masked, 0.0)
        nan = torch.isnan(gx)
        if bool(nan.any()):  # exp(y) = 0 met an infinite Σg: the entry keeps its own g
            gx = torch.where(nan & (y == -_INF), g, gx)
        return gx, None


def _prepare(x, dim, dtype):
    if dtype is not None:
        x = x.to(dtype)
    if dim is None:  # torch's legacy implicit choice
        dim = 0 if x.dim() in (0, 1, 3) else 1
    return x, dim


def softmax(input: torch.Tensor, dim: int | None = None, dtype=None) -> torch.Tensor:
    """exp(x) / Σ exp(x) along ``dim``. Gradient y ⊙ (g - Σ g ⊙ y); a fully masked (all -inf)
    slice gives 0 with gradient 0."""
    x, dim = _prepare(input, dim, dtype)
    if not x.is_floating_point():
        return torch.softmax(x, dim)
    return _Softmax.apply(x, dim)


def log_softmax(input: torch.Tensor, dim: int | None = None, dtype=None) -> torch.Tensor:
    """x - logsumexp(x) along ``dim``. Gradient g - exp(y) ⊙ Σ g; a fully masked slice gives
    -inf with gradient 0."""
    x, dim = _prepare(input, dim, dtype)
    if not x.is_floating_point():
        return torch.log_softmax(x, dim)
    return _LogSoftmax.apply(x, dim)
