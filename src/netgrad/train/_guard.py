"""What the divergence guard says when a step is not finite: the arrays, and (through the
diagnostics) the layer. The check itself is :func:`netgrad.train._step.finite_check`."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from ._sequences import split_lengths

__all__ = ["describe_bad", "locate"]


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
    inputs, lengths = split_lengths(batch)
    try:
        with torch.enable_grad():
            report = fn(module, inputs, lengths=lengths) if lengths else fn(module, inputs)
    except Exception as e:  # noqa: BLE001 - a diagnostic must never stop training
        return f"(the diagnostics could not locate it: {type(e).__name__}: {e})"
    finally:
        for m, t in zip(module.modules(), training):
            m.training = t
    return None if report is None else str(report)
