"""softmax and log_softmax."""

from __future__ import annotations

import torch

__all__ = ["softmax", "log_softmax"]


def softmax(input, dim=None, dtype=None):
    return torch.softmax(input, dim if dim is not None else -1, dtype=dtype)


def log_softmax(input, dim=None, dtype=None):
    return torch.log_softmax(input, dim if dim is not None else -1, dtype=dtype)
