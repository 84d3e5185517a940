"""Max, mean and total pooling over 1, 2 or 3 spatial dimensions.

Max pooling splits the gradient evenly among tied maxima (contract rule 4); a non-maximal
element gets 0 even from an infinite cotangent (rule 3). Mean and total pooling are linear, so
PyTorch's average pooling is exact for them. See :mod:`netgrad.ops._pooling` for the table of
rules of every pooling kernel.
"""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F

from ._pool_windows import _NEG_INF, _Windows, _batched, _plain, _traced
from ._registry import Rule, register

__all__ = [
    "max_pool1d", "max_pool2d", "max_pool3d",
    "mean_pool1d", "mean_pool2d", "mean_pool3d",
    "total_pool1d", "total_pool2d", "total_pool3d",
]


# ---- max, mean, total ----------------------------------------------------------------------------
def _max_forward(x, win: _Windows):
    return win.squeeze(win.reduce(win.view(x, pad_value=_NEG_INF), "max",
                                  inplace=not _traced()))


def _ties(x, y, win: _Windows):
    """The tied maxima of each window (True) and how many there are (window-level)."""
    tie = win.view(x, pad_value=_NEG_INF) == win.keep(y)
    return tie, tie.sum(win.kdims, keepdim=True)


def _max_vjp(ns, g, s):
    """The gradient is linear in ``g`` with a constant mask, so one formula serves every
    namespace: ``where`` keeps the strong zero (a non-maximal element gets 0 even from an
    infinite cotangent) without reading anything back."""
    x, y, win = s.inputs[0], s.y, s.params[0]
    tie, count = _ties(x, y, win)
    gw = torch.where(tie, win.keep(g) / count, 0.0)
    return (win.fold(gw, x.shape, functional=_traced()),)


def _max_fast(g, s):
    x, y, win = s.inputs[0], s.y, s.params[0]
    if not win.blocks:
        return None
    return (_max_backward_blocks(x, y, g, win),)


def _max_jvp(ns, ts, s):
    x, y, win = s.inputs[0], s.y, s.params[0]
    tie, count = _ties(x, y, win)
    tw = torch.where(tie, win.view(ts[0]), 0.0)
    return win.squeeze(tw.sum(win.kdims, keepdim=True) / count)


_max_rule = register(Rule(
    "max_pool", _max_forward, 1, _max_vjp, _max_jvp, fast=_max_fast, saves=(0,),
    save_output=True,
    derivative="g / k on each of the k tied maxima of a window, 0 elsewhere",
    convention="ties split the gradient evenly (rule 4); a non-maximal element gets 0 even "
               "from an infinite cotangent (rule 3); padding is -inf (never the maximum)"))


def _spread_blocks(w: torch.Tensor, kernel: tuple[int, ...]) -> torch.Tensor:
    """``(N, C, o1, o2, …)`` → ``(N, C, o1, k1, o2, k2, …)``, each value copied over its block
    (one strided copy per kernel offset: faster than expand-and-reshape or interpolate)."""
    shape = w.shape[:2] + tuple(v for o, k in zip(w.shape[2:], kernel) for v in (o, k))
    out = w.new_empty(shape)
    for offs in itertools.product(*(range(k) for k in kernel)):
        idx = (slice(None), slice(None)) + tuple(v for j in offs for v in (slice(None), j))
        out[idx] = w
    return out


def _max_backward_blocks(x: torch.Tensor, y: torch.Tensor, g: torch.Tensor,
                         win: "_Windows") -> torch.Tensor:
    """First-order max-pool backward when the windows are disjoint blocks (stride = kernel, no
    padding): ties split evenly, with contiguous passes only (the general path's strided
    comparisons cost about 5× more on CPU).

    ``y`` and ``g`` have the output shape ``(N, C, *out)``; elements left over past the last
    block get gradient 0.
    """
    k, o = win.kernel, win.out
    region = (Ellipsis,) + tuple(slice(0, oi * ki) for oi, ki in zip(o, k))
    blocks = x[region].reshape(x.shape[:2] + tuple(v for oi, ki in zip(o, k) for v in (oi, ki)))
    tie = blocks == _spread_blocks(y, k)
    m = tie.to(g.dtype)  # (mixed bool/float arithmetic is slower than this conversion)
    count = m
    for dim in range(3 + 2 * (len(k) - 1), 2, -2):  # block sums by slices (strided sums are slow)
        parts = count.unbind(dim)
        total = parts[0].clone() if len(parts) > 1 else parts[0]
        for part in parts[1:]:
            total.add_(part)
        count = total
    share = g / count
    if bool(torch.isfinite(share.sum())):  # one small reduction: inf and NaN propagate into it
        r = _spread_blocks(share, k).mul_(m)
    else:  # strong zeros: a non-maximal element gets 0 even from an infinite cotangent
        r = torch.where(tie, _spread_blocks(share, k), 0.0)
    r = r.reshape(x[region].shape)
    if r.shape == x.shape:
        return r
    full = x.new_zeros(x.shape)
    full[region] = r
    return full


@_plain
def _max(x, kernel_size, stride, padding, ceil_mode, d, name):
    where = f"ops.{name}"
    x, unbatched = _batched(x, d, where)
    win = _Windows(x.shape[2:], kernel_size, stride, padding, ceil_mode, where)
    y = _max_rule(x, win)
    return y.squeeze(0) if unbatched else y


@_plain
def _linear_pool(x, kernel_size, stride, padding, ceil_mode, d, name, mean):
    """Mean (over in-bounds elements) or total: linear, so PyTorch's avg_pool is exact."""
    where = f"ops.{name}"
    x, unbatched = _batched(x, d, where)
    win = _Windows(x.shape[2:], kernel_size, stride, padding, ceil_mode, where)
    k, s, pd = win.kernel, win.stride, win.padding
    xx = x.unsqueeze(-1) if d == 1 else x
    if d == 1:
        k, s, pd = k + (1,), s + (1,), pd + (0,)
    pool = F.avg_pool3d if d == 3 else F.avg_pool2d
    y = pool(xx, k, s, pd, ceil_mode=win.ceil_mode, count_include_pad=not mean,
             divisor_override=None if mean else 1)
    if d == 1:
        y = y.squeeze(-1)
    return y.squeeze(0) if unbatched else y


# ---- public functions ----------------------------------------------------------------------------


def max_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False):
    """Max pooling, as :func:`torch.nn.functional.max_pool1d`, but ties split the gradient evenly.

    Shape: input ``(N, C, L)`` or ``(C, L)``; padding is ``-inf`` (never the maximum).
    """
    return _max(input, kernel_size, stride, padding, ceil_mode, 1, "max_pool1d")


def max_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False):
    """Max pooling over 2 spatial dimensions (ties split evenly); see :func:`max_pool1d`."""
    return _max(input, kernel_size, stride, padding, ceil_mode, 2, "max_pool2d")


def max_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False):
    """Max pooling over 3 spatial dimensions (ties split evenly); see :func:`max_pool1d`."""
    return _max(input, kernel_size, stride, padding, ceil_mode, 3, "max_pool3d")


def mean_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False):
    """Mean over each window's in-bounds elements (padding is not counted).

    Shape: input ``(N, C, L)`` or ``(C, L)``.
    """
    return _linear_pool(input, kernel_size, stride, padding, ceil_mode, 1, "mean_pool1d", True)


def mean_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False):
    """Mean pooling over 2 spatial dimensions; see :func:`mean_pool1d`."""
    return _linear_pool(input, kernel_size, stride, padding, ceil_mode, 2, "mean_pool2d", True)


def mean_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False):
    """Mean pooling over 3 spatial dimensions; see :func:`mean_pool1d`."""
    return _linear_pool(input, kernel_size, stride, padding, ceil_mode, 3, "mean_pool3d", True)


def total_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False):
    """Sum over each window (padding adds zeros).

    Shape: input ``(N, C, L)`` or ``(C, L)``.
    """
    return _linear_pool(input, kernel_size, stride, padding, ceil_mode, 1, "total_pool1d", False)


def total_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False):
    """Total pooling over 2 spatial dimensions; see :func:`total_pool1d`."""
    return _linear_pool(input, kernel_size, stride, padding, ceil_mode, 2, "total_pool2d", False)


def total_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False):
    """Total pooling over 3 spatial dimensions; see :func:`total_pool1d`."""
    return _linear_pool(input, kernel_size, stride, padding, ceil_mode, 3, "total_pool3d", False)
