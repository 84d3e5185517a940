"""``padding="Same"`` for convolution and pooling: the output has ``ceil(size / stride)``
positions in each spatial dimension (TensorFlow's and Wolfram's "Same").

The total padding of a dimension is ``max((out - 1)·stride + dilation·(kernel - 1) + 1 - size,
0)``, half before and the rest after; when it is odd the extra element goes after. The
symmetric part is the layer's own padding (so pooling keeps its semantics: padding is never the
maximum, adds nothing to totals, is not counted in means); the extra element is added
explicitly, with a value that is neutral for the operation.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["SAME", "same_output", "same_padding", "pad_extra"]

SAME = "Same"


def same_output(size: int, stride: int) -> int:
    return math.ceil(size / stride)


def same_padding(sizes, kernel, stride, dilation) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """``(symmetric padding per dimension, extra padding after per dimension)``."""
    sym, extra = [], []
    for n, k, s, d in zip(sizes, kernel, stride, dilation):
        total = max((same_output(n, s) - 1) * s + d * (k - 1) + 1 - n, 0)
        sym.append(total // 2)
        extra.append(total - 2 * (total // 2))
    return tuple(sym), tuple(extra)


def pad_extra(x: torch.Tensor, extra: tuple[int, ...], value: float) -> torch.Tensor:
    """``x`` with ``extra[i]`` elements of ``value`` after spatial dimension ``i``."""
    if not any(extra):
        return x
    return F.pad(x, [v for e in reversed(extra) for v in (0, e)], value=value)
