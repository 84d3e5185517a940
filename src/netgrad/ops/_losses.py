"""Losses: binary_cross_entropy (on probabilities) and cross_entropy (on logits)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["binary_cross_entropy", "cross_entropy"]


def binary_cross_entropy(input, target, weight=None, reduction="mean"):
    out = -(torch.xlogy(target, input) + torch.xlogy(1 - target, 1 - input))
    if weight is not None:
        out = out * weight
    if reduction == "mean":
        return out.mean()
    if reduction == "sum":
        return out.sum()
    return out


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean",
                  label_smoothing=0.0):
    return F.cross_entropy(input, target, weight, ignore_index=ignore_index,
                           reduction=reduction, label_smoothing=label_smoothing)
