"""Convolution and deconvolution (transposed convolution) over 1, 2 or 3 spatial dimensions.

Both are linear in the input and in the weights, so PyTorch's kernels and their gradients are
exact (no robustness issue); these functions only choose the kernel from the weights' rank and
check shapes with netgrad's error messages.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .._errors import NetTypeError, ShapeError

__all__ = ["convolution", "deconvolution"]

_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_DECONV = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


def _check(input, weight, bias, groups, where, in_dim):
    if not isinstance(input, torch.Tensor) or not isinstance(weight, torch.Tensor):
        raise NetTypeError("input and weight must be torch tensors", where=where,
                           got=f"got {type(input).__name__} and {type(weight).__name__}")
    d = weight.dim() - 2
    if d not in (1, 2, 3):
        raise ShapeError("weight must have 1, 2 or 3 spatial dimensions", where=where,
                         got=f"got weight of shape {tuple(weight.shape)}")
    if input.dim() not in (d + 1, d + 2):
        raise ShapeError(f"input must be (N, C, {d} spatial dims) or (C, {d} spatial dims) for "
                         f"a {d}-d kernel", where=where, got=f"got input of shape "
                         f"{tuple(input.shape)}")
    c = input.shape[-d - 1]
    expected = weight.shape[in_dim] * (groups if in_dim == 1 else 1)
    if c != expected:
        raise ShapeError(f"the input must have {expected} channels to fit the weights",
                         where=where, got=f"got an input with {c} channels (shape "
                         f"{tuple(input.shape)}) and weight of shape {tuple(weight.shape)}")
    return d


def convolution(input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
                stride=1, padding=0, dilation=1, groups: int = 1) -> torch.Tensor:
    """Cross-correlation, as :func:`torch.nn.functional.conv2d`, for 1–3 spatial dimensions.

    The number of spatial dimensions is the weight's rank minus 2.

    Shape:
        - input: ``(N, C, *spatial)`` or ``(C, *spatial)``.
        - weight: ``(n, C / groups, *kernel)``; bias: ``(n,)``.
        - output: ``(N, n, *out)`` with ``out = (s + 2·padding - dilation·(k - 1) - 1) // stride + 1``.
    """
    d = _check(input, weight, bias, groups, "ops.convolution", 1)
    return _CONV[d](input, weight, bias, stride, padding, dilation, groups)


def deconvolution(input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
                  stride=1, padding=0, output_padding=0, groups: int = 1,
                  dilation=1) -> torch.Tensor:
    """Transposed convolution, as :func:`torch.nn.functional.conv_transpose2d`, 1–3 dimensions.

    Shape:
        - input: ``(N, C, *spatial)`` or ``(C, *spatial)``.
        - weight: ``(C, n / groups, *kernel)``; bias: ``(n,)``.
        - output: ``(N, n, *out)`` with
          ``out = (s - 1)·stride - 2·padding + dilation·(k - 1) + output_padding + 1``.
    """
    d = _check(input, weight, bias, groups, "ops.deconvolution", 0)
    return _DECONV[d](input, weight, bias, stride, padding, output_padding, groups, dilation)
