"""matmul and linear."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["matmul", "linear"]


def matmul(input, other):
    return torch.matmul(input, other)


def linear(input, weight, bias=None):
    return F.linear(input, weight, bias)
