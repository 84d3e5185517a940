"""Binary and selection operations: atan2, hypot, xlogy, where, clip, maximum, minimum."""

from __future__ import annotations

import torch

__all__ = ["atan2", "hypot", "xlogy", "where", "clip", "maximum", "minimum"]


def atan2(input, other):
    return torch.atan2(input, other)


def hypot(input, other):
    return torch.hypot(input, other)


def xlogy(input, other):
    return torch.xlogy(input, other)


def where(condition, input, other):
    return torch.where(condition, input, other)


def clip(input, min=None, max=None):
    return torch.clip(input, min, max)


def maximum(input, other):
    return torch.maximum(input, other)


def minimum(input, other):
    return torch.minimum(input, other)
