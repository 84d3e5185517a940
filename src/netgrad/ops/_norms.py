"""Norms and statistics: norm, var, std, normalize, cosine_similarity, power and geometric means."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["norm", "var", "std", "normalize", "cosine_similarity", "geometric_mean",
           "power_mean"]


def norm(input, ord=2, dim=None, keepdim=False, *, dtype=None):
    return torch.linalg.vector_norm(input, ord, dim, keepdim, dtype=dtype)


def var(input, dim=None, *, correction=1, keepdim=False):
    return torch.var(input, dim, correction=correction, keepdim=keepdim)


def std(input, dim=None, *, correction=1, keepdim=False):
    return torch.std(input, dim, correction=correction, keepdim=keepdim)


def normalize(input, p=2.0, dim=1, eps=1e-12, out=None):
    return F.normalize(input, p, dim, eps)


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    return F.cosine_similarity(x1, x2, dim, eps)


def geometric_mean(x, dim=None, keepdim=False):
    return torch.exp(torch.mean(torch.log(torch.abs(x)), dim, keepdim=keepdim))


def power_mean(x, p, dim=None, keepdim=False):
    return torch.mean(torch.abs(x) ** p, dim, keepdim=keepdim) ** (1 / p)
