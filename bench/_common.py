"""Timing helpers shared by the benchmark scripts."""

from __future__ import annotations

import random
import statistics
import time
from typing import Callable, Sequence

import torch

__all__ = ["best_time", "fwd_bwd", "interleaved_ratio"]


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


def _once(fn: Callable[[], object], number: int) -> float:
    t = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - t) / number


def interleaved_ratio(fn: Callable[[], object], base: Callable[[], object], rounds: int = 9,
                      number: int = 3, seed: int = 0,
                      window: float = 0.03) -> tuple[float, float, float, float]:
    """Time ``fn`` against ``base`` in interleaved rounds (order shuffled each round), so a
    burst of load on a shared machine hits both sides alike.

    Each timing covers at least ``number`` calls and at least ``window`` seconds of ``base``
    (short windows of a sub-millisecond op are dominated by scheduler noise). Returns
    ``(median ratio, ratio of minima, min time of fn, min time of base)``; the median is taken
    over the per-round ratios fn/base.
    """
    rng = random.Random(seed)
    fn(), base(), fn(), base()  # warm-up (allocator, lazy imports, first-call dispatch)
    number = max(number, int(window / max(_once(base, 3), 1e-6)) + 1)
    ratios, t_fn, t_base = [], [], []
    for _ in range(rounds):
        pair: Sequence[tuple[str, Callable]] = [("fn", fn), ("base", base)]
        if rng.random() < 0.5:
            pair = pair[::-1]
        got = {k: _once(f, number) for k, f in pair}
        t_fn.append(got["fn"])
        t_base.append(got["base"])
        ratios.append(got["fn"] / got["base"])
    return statistics.median(ratios), min(t_fn) / min(t_base), min(t_fn), min(t_base)


def fwd_bwd(f: Callable[..., torch.Tensor], *inputs: torch.Tensor) -> Callable[[], None]:
    """A closure running forward + backward of ``f`` on fresh leaves of ``inputs``."""
    def run():
        leaves = [x.detach().requires_grad_(x.is_floating_point()) for x in inputs]
        out = f(*leaves)
        grads = [x for x in leaves if x.requires_grad]
        torch.autograd.grad(out, grads, torch.ones_like(out), allow_unused=True)
    return run
