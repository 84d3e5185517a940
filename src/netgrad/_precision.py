"""The floating-point type an evaluation runs in, for layers that make floats from nothing.

A layer whose output is floating point but whose inputs are integers or absent (one-hot vectors,
random arrays) cannot take its dtype from an input or an array. Evaluation (``net(data,
precision=...)``) sets :func:`evaluation_dtype` while it runs; elsewhere (``net.forward``, the
trainer) those layers use the dtype of their own ``dtype`` buffer, which ``module.to(dtype)``
and ``module.double()`` convert like any buffer.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch

__all__ = ["evaluation_dtype", "evaluating_in"]

_current: list[torch.dtype] = []


def evaluation_dtype() -> torch.dtype | None:
    """The dtype of the evaluation running now, or None outside one."""
    return _current[-1] if _current else None


@contextlib.contextmanager
def evaluating_in(dtype: torch.dtype) -> Iterator[None]:
    """Within the block, :func:`evaluation_dtype` is ``dtype`` (nests)."""
    _current.append(dtype)
    try:
        yield
    finally:
        _current.pop()
