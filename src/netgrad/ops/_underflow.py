"""Exact zeros and underflowed zeros of a local derivative (contract rule 9).

The strong-zero product ``g ⊙ d`` (rule 3) answers 0 where the cotangent ``g`` is exactly 0, and
where the local derivative ``d`` is exactly 0 *mathematically* (the flat part of Ramp, the unused
branch of ``where``, a saturated clip). Many derivatives are never 0 at a finite point — σ'(x),
tanh'(x), eˣ, the Gaussian in erf' — and a computed 0 there is an underflow: at x = -300 in
float32, σ'(x) rounds to 0 although it is about 5e-131. Where such a zero meets an infinite
cotangent the product is indeterminate in floating point; answering 0 would be a made-up number.

:func:`weak_mul` is the product for those derivatives: 0 where ``g`` is 0 and where the rule
declares its zero exact (``exact``, a mask: e.g. x = ±inf, where the limit of σ' is 0), and the
IEEE product (NaN) where an infinite ``g`` meets an underflowed 0. On the eager CPU path such a
NaN is *reported*: an :class:`UnderflowWarning` names the operation, the dtype, the point and
the stable rewrite to use (``log(sigmoid(x))`` is ``F.logsigmoid(x)``); :data:`events` keeps the
last reports for the non-finite provenance. Under ``robust()`` the common compositions are
rewritten before they reach this point (``_rewrites.py``).
"""

from __future__ import annotations

import math
import warnings
from collections import deque
from dataclasses import dataclass
from typing import Callable

import torch

from ._core import has_nan

__all__ = ["weak_mul", "UnderflowWarning", "Underflow", "events", "HINTS"]


class UnderflowWarning(RuntimeWarning):
    """An infinite gradient met a local derivative that underflowed to 0: the product is
    indeterminate in floating point and is left NaN (never a made-up 0). The message names the
    operation and the stable rewrite."""


@dataclass(frozen=True)
class Underflow:
    """One report: ``op`` (the rule), ``count`` elements, ``dtype``, the first ``point`` (the
    operand's value there) and ``hint`` (the rewrite to use)."""

    op: str
    count: int
    dtype: torch.dtype
    point: float
    hint: str

    def __str__(self) -> str:
        dt = str(self.dtype).replace("torch.", "")
        return (f"netgrad.ops.{self.op} backward: an infinite gradient from a later operation met "
                f"a local derivative that underflowed to 0 in {dt} at x = {self.point:.6g} "
                f"({self.count} element{'s' if self.count != 1 else ''}); the mathematical "
                f"derivative there is not 0, so 0·inf is indeterminate and is left NaN. "
                f"Fix: {self.hint}")


#: The most recent reports (newest last), for the non-finite provenance.
events: deque[Underflow] = deque(maxlen=32)

#: The rewrite to suggest, by rule.
HINTS: dict[str, str] = {
    "logistic_sigmoid": "log(sigmoid(x)) is F.logsigmoid(x); log(1 - sigmoid(x)) is "
                        "F.logsigmoid(-x); for a loss use F.binary_cross_entropy_with_logits",
    "exp": "log(exp(x)) is x; log(1 + exp(x)) is F.softplus(x); log(Σ exp) is torch.logsumexp",
    "exp2": "work in the log domain (log2(2^x) is x; torch.logaddexp2)",
    "tanh": "log(1 - tanh(x)) is log(2) - 2·softplus(x) ... write the composition in the log domain",
    "softplus": "log(softplus(x)) for very negative x: use x + log1p(-exp(x)/2) or keep x moderate",
    "erf": "1 - erf(x) is torch.erfc(x); log(erfc(x)) is log(torch.special.erfcx(x)) - x²",
    "erfc": "log(erfc(x)) is log(torch.special.erfcx(x)) - x²",
}


def _hint(op: str) -> str:
    return HINTS.get(op, "rewrite the composition so the infinity does not arise (work in the "
                         "log domain), or evaluate in float64")


def _report(op: str, nan: torch.Tensor, x) -> None:
    n = int(nan.sum())
    if n == 0:
        return
    point = math.nan
    if isinstance(x, torch.Tensor):
        try:
            point = float(torch.broadcast_to(x, nan.shape)[nan].reshape(-1)[0])
        except RuntimeError:
            pass
    ev = Underflow(op, n, nan.dtype if nan.is_floating_point() else
                   (x.dtype if isinstance(x, torch.Tensor) else torch.float32), point, _hint(op))
    events.append(ev)
    warnings.warn(UnderflowWarning(str(ev)), stacklevel=2)


def _isinf(t):
    return t.abs() == math.inf


def weak_mul(ns, g, d, exact: Callable[[], torch.Tensor] | None, op: str, x=None):
    """``g ⊙ d`` where only the *exact* zeros of ``d`` are strong.

    Args:
        ns: the namespace (``R``, ``T`` or ``F`` of ``_registry``).
        g: the cotangent; d: the local derivative (tensors, broadcastable).
        exact: a callable giving the bool mask where a zero of ``d`` is mathematically exact
            (None: nowhere, every computed zero is an underflow).
        op: the rule's name (for the report); x: the operand (for the report's point).
    """
    if not isinstance(d, torch.Tensor) or not isinstance(g, torch.Tensor):
        return ns.mul(g, d)
    if ns.fast:  # eager CPU: the plain product; the masks only when it holds a NaN
        r = g * d
        if not has_nan(r):
            return r
        nan = torch.isnan(r)
        kill = g == 0
        if exact is not None:
            kill = kill | ((d == 0) & exact())
        r = r.masked_fill(nan & kill, 0.0)
        left = nan & ~kill & (d == 0) & _isinf(g)
        if bool(left.any()):
            _report(op, left.expand(r.shape) if left.shape != r.shape else left, x)
        return r
    if ns.sync_free:
        kill = g == 0
        if exact is not None:
            kill = kill | ((d == 0) & exact())
        return torch.where(kill, 0.0, g * d)
    # recorded (create_graph): the strong product, with the indeterminate elements put back
    bad = (d == 0) & _isinf(g)
    if exact is not None:
        bad = bad & ~exact()
    return ns.where(bad, math.nan, ns.mul(g, d))
