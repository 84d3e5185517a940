"""Helpers shared by the tests of netgrad.ops (independent references, devices)."""

from __future__ import annotations

import math

import mpmath
import pytest
import torch

mpmath.mp.dps = 50
INF, NAN = math.inf, math.nan

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="no CUDA device"))]


def grad_of(f, *xs, cotangent=None):
    """Gradients of f(*xs) (weighted by ``cotangent``, default ones) w.r.t. each x."""
    leaves = [x.detach().clone().requires_grad_(True) for x in xs]
    out = f(*leaves)
    ct = torch.ones_like(out) if cotangent is None else cotangent
    gs = torch.autograd.grad(out, leaves, ct, allow_unused=True)
    return [g if g is not None else torch.zeros_like(x) for g, x in zip(gs, leaves)]


def assert_same(actual: torch.Tensor, expected, rtol=1e-10, atol=0.0):
    """Close, with infinities equal and NaN equal only to NaN."""
    expected = torch.as_tensor(expected, dtype=actual.dtype, device=actual.device)
    torch.testing.assert_close(actual, expected.expand_as(actual), rtol=rtol, atol=atol,
                               equal_nan=True)
