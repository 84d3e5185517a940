"""matmul and linear: torch's own.

Their gradients are matrix products (g @ Wᵀ, xᵀ @ g), which keep the contract except that an
infinite weight meeting an exactly-zero cotangent inside the sum gives NaN (IEEE 0·inf); netgrad
does not slow every matrix product down to guard that case.
"""

from __future__ import annotations

import torch

from ._core import plain

__all__ = ["matmul", "linear"]


@plain
def matmul(input: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
    """Matrix product with torch's broadcasting rules (``torch.matmul``)."""
    return torch.matmul(input, other)


@plain
def linear(input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None
           ) -> torch.Tensor:
    """x Wᵀ + b (``torch.nn.functional.linear``).

    Shape: ``input`` (*, in), ``weight`` (out, in), ``bias`` (out), output (*, out).
    """
    return torch.nn.functional.linear(input, weight, bias)
