"""The divergence guard: one fused finiteness check per step, and a report when it fails.

Per step, the loss and the largest magnitude of every gradient (``torch._foreach_norm`` with
``ord=inf``, which propagates NaN) and of every array go into one small tensor that is copied to
the host once: that single synchronization gives the loss value for the history and decides
whether the step is applied. Only when something is not finite is more work done, to say where.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

__all__ = ["fused_check", "describe_bad", "locate"]


def fused_check(loss: torch.Tensor, grads: Sequence[torch.Tensor],
                params: Sequence[torch.Tensor]) -> list[float]:
    """``[loss, Σ grad for each grad..., Σ param for each param...]`` on the host.

    A sum is NaN or infinite when any element is (NaN and ±inf propagate), so finite sums
    prove finite tensors; one small stack, one copy to the host. A non-finite sum of finite
    elements (overflow, only possible near 3e38 in float32) is told apart by :func:`confirm`.
    """
    parts = [loss.detach().reshape(())]
    parts += [g.sum() for g in grads]
    parts += [p.detach().sum() for p in params]
    return torch.stack([t.to(torch.float64) for t in parts]).tolist()


def confirm(values: list[float], tensors: Sequence[torch.Tensor], offset: int) -> list[float]:
    """Replace each non-finite sum at ``offset + i`` whose tensor is in fact finite by 0.0
    (an overflowing sum); the slow path, run only when the fused check fails."""
    out = list(values)
    for i, t in enumerate(tensors):
        v = out[offset + i]
        if not math.isfinite(v):
            if bool(torch.isfinite(t).all()):
                out[offset + i] = 0.0
            else:
                bad = t[~torch.isfinite(t)]
                out[offset + i] = float("nan") if bool(torch.isnan(bad).any()) else float(bad[0])
    return out


def all_finite(values: Sequence[float]) -> bool:
    return all(math.isfinite(v) for v in values)


def describe_bad(names: Sequence[str], values: Sequence[float], what: str) -> list[str]:
    return [f"{n} ({what} {'NaN' if v != v else v})" for n, v in zip(names, values)
            if not math.isfinite(v)]


def locate(module, batch: dict[str, torch.Tensor]) -> str | None:
    """Ask the diagnostics (``netgrad.debug.locate_nonfinite``, when it exists) where the
    non-finite value first appeared; ``None`` when they are not available."""
    try:
        from .. import debug
    except ImportError:  # pragma: no cover
        return None
    fn = getattr(debug, "locate_nonfinite", None)
    if fn is None:
        return None
    training = [m.training for m in module.modules()]
    try:
        with torch.enable_grad():
            report = fn(module, batch)
    except Exception as e:  # noqa: BLE001 - a diagnostic must never stop training
        return f"(the diagnostics could not locate it: {type(e).__name__}: {e})"
    finally:
        for m, t in zip(module.modules(), training):
            m.training = t
    return None if report is None else str(report)
