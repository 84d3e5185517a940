"""Reductions: sum, mean, prod, cumprod, amax, amin, logsumexp."""

from __future__ import annotations

import torch

__all__ = ["sum", "mean", "prod", "cumprod", "amax", "amin", "logsumexp"]


def _dims(input, dim):
    if dim is None:
        return tuple(range(input.dim()))
    if isinstance(dim, int):
        return (dim,)
    return tuple(dim)


def sum(input, dim=None, keepdim=False, *, dtype=None):
    if dim is None and not keepdim:
        return torch.sum(input, dtype=dtype)
    return torch.sum(input, _dims(input, dim), keepdim=keepdim, dtype=dtype)


def mean(input, dim=None, keepdim=False, *, dtype=None):
    if dim is None and not keepdim:
        return torch.mean(input, dtype=dtype)
    return torch.mean(input, _dims(input, dim), keepdim=keepdim, dtype=dtype)


def prod(input, dim=None, keepdim=False, *, dtype=None):
    out = input if dtype is None else input.to(dtype)
    for d in sorted((d % max(input.dim(), 1) for d in _dims(input, dim)), reverse=True):
        out = torch.prod(out, d, keepdim=keepdim)
    return out


def cumprod(input, dim, *, dtype=None):
    return torch.cumprod(input, dim, dtype=dtype)


def amax(input, dim=(), keepdim=False):
    return torch.amax(input, dim if dim is not None else (), keepdim=keepdim)


def amin(input, dim=(), keepdim=False):
    return torch.amin(input, dim if dim is not None else (), keepdim=keepdim)


def logsumexp(input, dim, keepdim=False):
    return torch.logsumexp(input, dim, keepdim=keepdim)
