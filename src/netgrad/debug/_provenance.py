"""Non-finite provenance for evaluation: the hooks ``net(data)`` and NetPortGradient call.

The normal path costs one reduction over the outputs (or the gradients) and one
synchronization (see :func:`~netgrad.debug._finite.all_finite`). Only when that
says something is bad is the net re-run with instrumentation (:mod:`._locate`) to find where.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Mapping
from typing import Any

import torch

from ..net._record import EvaluationRecord
from . import _detailed
from ._finite import all_finite
from ._locate import _bad_tensor_report, _explain_forward, locate_backward, locate_forward
from ._report import NonFiniteReport
from ._settings import NonFiniteWarning, get_nonfinite

__all__ = ["check_forward", "check_backward", "emit"]

# id of the record of the last evaluation whose forward pass was reported (in "warn" mode a bad
# forward pass makes the gradients bad too; that is not reported a second time).
_reported_forward: int | None = None


def emit(report: NonFiniteReport, mode: str | None = None, stacklevel: int = 4) -> None:
    """Raise or warn with ``report``, per the setting (``mode`` overrides it)."""
    mode = mode or get_nonfinite()
    session = _detailed.active_session()
    if session is not None:
        session.reports.append(report)
    if mode == "raise":
        raise report.to_error()
    if mode == "warn":
        warnings.warn(NonFiniteWarning(str(report), report), stacklevel=stacklevel)


def check_forward(record: EvaluationRecord, outputs: Mapping[str, torch.Tensor]) -> None:
    """Called after a Wolfram-style forward pass: ``outputs`` are the batched outputs of the
    evaluation ``record`` describes. Raises or warns (per the setting) when one is non-finite."""
    global _reported_forward
    _reported_forward = None
    mode = get_nonfinite()
    if mode == "ignore" or all_finite(outputs.values()):
        return
    net, batch = record.net, record.batch
    session = _detailed.active_session()
    eager = session._bad if session is not None else None
    bad = next(p for p, t in outputs.items() if not all_finite([t]))
    seen_at = f'output "{bad}"'
    report: NonFiniteReport | None
    with (session.paused() if session is not None else contextlib.nullcontext()):
        if eager is not None:
            report = _explain_forward(net, _EagerCall(eager),  # type: ignore[arg-type]
                                      eager.ins, eager.port, eager.out,
                                      {p: ("layer", p) for p in eager.ins}, batch, seen_at)
        else:
            with record.replaying():
                report = locate_forward(record, seen_at=seen_at)
    if report is None:
        report, _ = _bad_tensor_report("forward", net, outputs[bad].detach(), batch, port=bad,
                                       seen_at=seen_at, reproduced=False)
        report.cause = ("the instrumented re-run did not reproduce the non-finite values (is the "
                        "net random, e.g. dropout in Train mode?)")
    _reported_forward = id(record)
    emit(report, mode)


def check_backward(record: EvaluationRecord, grads: Mapping[Any, torch.Tensor]) -> None:
    """Called after NetPortGradient: ``grads`` maps each ``NetPortGradient`` of the record to
    its gradient (per example for input ports). Raises or warns when one is non-finite (unless
    the forward pass of the same evaluation was reported already)."""
    mode = get_nonfinite()
    if mode == "ignore" or all_finite(grads.values()):
        return
    if _reported_forward == id(record):
        return
    bad = [spec for spec, g in grads.items() if not all_finite([g])]
    targets = [record.targets[spec] for spec in bad]
    session = _detailed.active_session()
    with (session.paused() if session is not None else contextlib.nullcontext(), record.replaying()):
        report = locate_backward(record, wrt=targets, seen_at=repr(bad[0]))
    if report is None:
        g = grads[bad[0]].detach()
        report, _ = _bad_tensor_report("backward", record.net, g,
                                       record.batch or targets[0].kind != "input",
                                       seen_at=repr(bad[0]), reproduced=False)
        report.cause = ("the instrumented re-run did not reproduce the non-finite gradient (is "
                        "the net random, e.g. dropout in Train mode?)")
    emit(report, mode)


class _EagerCall:
    """A layer call seen by detailed mode, in the shape :func:`_explain_forward` expects."""

    def __init__(self, bad) -> None:
        self.path, self.layer = bad.path, bad.layer
