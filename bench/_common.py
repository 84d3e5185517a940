"""Timing helpers shared by the benchmark scripts."""

from __future__ import annotations

import time
from typing import Callable

import torch

__all__ = ["best_time", "fwd_bwd"]


def best_time(fn: Callable[[], object], repeat: int = 7, number: int = 3) -> float:
    """Best-of-``repeat`` mean wall time (seconds) of ``number`` calls, after one warm-up."""
    fn()
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - t) / number)
    return best


def fwd_bwd(f: Callable[..., torch.Tensor], *inputs: torch.Tensor) -> Callable[[], None]:
    """A closure running forward + backward of ``f`` on fresh leaves of ``inputs``."""
    def run():
        leaves = [x.detach().requires_grad_(x.is_floating_point()) for x in inputs]
        out = f(*leaves)
        grads = [x for x in leaves if x.requires_grad]
        torch.autograd.grad(out, grads, torch.ones_like(out), allow_unused=True)
    return run
