"""softmax and log_softmax along one dimension.

A fully masked slice (all -inf) gives softmax 0 and log_softmax -inf, with gradient 0; a slice
with +inf entries shares the mass evenly among them (the limit). Otherwise the values are
torch's.
"""

from __future__ import annotations

import torch
from torch.autograd import Function

from ._core import has_nan, plain, strong_
from ._registry import R, szmul

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


def _slices_nan(y: torch.Tensor, dim: int) -> bool:
    """Whether torch's (log_)softmax output ``y`` has NaN slices, reading one entry per slice.

    Every slice torch gets wrong (all -inf, a +inf entry, a NaN entry) shares its NaN
    normalizer with all of its entries, so the first entry of each slice tells: a pass over
    1/n of the output instead of all of it.
    """
    if y.dim() == 0 or y.shape[dim] == 0:
        return has_nan(y)
    return has_nan(y.narrow(dim, 0, 1))


def _slices_nonfinite(t: torch.Tensor, dim: int) -> bool:
    """Whether the first entry of some slice of ``t`` along ``dim`` is inf or NaN."""
    if t.dim() == 0 or t.shape[dim] == 0:
        return True
    return not bool(torch.isfinite(t.narrow(dim, 0, 1)).all())


def _softmax_grad_nan_free(gx: torch.Tensor, g: torch.Tensor, y: torch.Tensor, dim: int) -> bool:
    """Whether ``gx = y ⊙ (g - s)`` (torch's softmax backward, ``s = Σ g ⊙ y`` per slice) is
    free of NaN, reading one entry per slice instead of all of ``gx``.

    A NaN or infinite entry of ``g`` or ``y`` makes ``s`` non-finite (∞·y, ∞·0 = NaN), and then
    every entry of its slice, the first included, is non-finite. With ``s`` finite and ``g``,
    ``y`` finite, an entry is NaN only as ``0 · ∞``: ``y = 0`` against ``g - s`` overflowing,
    which needs ``|s|`` of at least half the last ulp below the largest float. The first entry
    bounds ``|s| ≤ |g₀| + |gx₀| / y₀`` (to rounding; ``y₀ = 0`` gives no bound, and a
    non-finite ``gx₀`` none either): when every slice's bound is below a quarter ulp of the
    largest float, no entry of ``gx`` can be NaN.
    """
    if gx.dim() == 0 or gx.shape[dim] < 8 or gx.numel() < 1 << 15 or g.shape != gx.shape:
        return False  # short slices or a small tensor: the full check is as cheap
    fi = torch.finfo(gx.dtype)
    g0, y0, gx0 = g.narrow(dim, 0, 1), y.narrow(dim, 0, 1), gx.narrow(dim, 0, 1)
    bound = torch.addcdiv(torch.abs(g0), torch.abs(gx0), y0)  # NaN or inf: no bound
    return torch.amax(bound).item() < fi.max * fi.eps / 8  # (NaN compares False)


class _Softmax(Function):
    @staticmethod
    @plain
    def forward(ctx, x, dim):
        y = torch.softmax(x, dim)
        if _slices_nan(y, dim):
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
        if _softmax_grad_nan_free(gx, g, y, dim):  # one entry per slice, not all of gx
            return gx, None
        # The careful path: y = 0 (masked entries) is an exact 0 in Σ g·y and in y·(g - Σ), even
        # against an infinite g there.
        # Slices without a NaN keep torch's result.
        gy = strong_(g * y, g, y)
        careful = strong_(y * (g - gy.sum(dim, keepdim=True)), y)
        return torch.where(torch.isnan(gx).any(dim, keepdim=True), careful, gx), None


class _LogSoftmax(Function):
    @staticmethod
    @plain
    def forward(ctx, x, dim):
        y = torch.log_softmax(x, dim)
        masked = None
        if _slices_nan(y, dim):
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
        # gx = g - exp(y)·Σg is NaN only where exp(y) = 0 meets an infinite Σg (or g, y are
        # NaN), and a non-finite Σg makes every entry of its slice non-finite: one entry per
        # slice tells whether the fix-up (the entry keeps its own g) is needed.
        if _slices_nonfinite(gx, dim) and has_nan(gx):
            gx = torch.where(torch.isnan(gx) & (y == -_INF), g, gx)
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
