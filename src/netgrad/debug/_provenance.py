"""Non-finite provenance for evaluation: the hooks ``net(data)`` and NetPortGradient call.

The normal path costs one reduction over the outputs (or the gradients) and one
synchronization (see :func:`all_finite`). Only when that
says something is bad is the net re-run with instrumentation (:mod:`._locate`) to find where.
"""

from __future__ import annotations

import contextlib

import math
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

import torch

from . import _detailed
from ._locate import _bad_tensor_report, _explain_forward, locate_backward, locate_forward
from ._report import NonFiniteReport
from ._settings import NonFiniteWarning, get_nonfinite

__all__ = ["check_forward", "check_backward", "all_finite", "emit"]

# id of the inputs of the last evaluation whose forward pass was reported (in "warn" mode a bad
# forward pass makes the gradients bad too; that is not reported a second time).
_reported_forward: int | None = None


def all_finite(tensors: Iterable[Any]) -> bool:
    """True when no tensor among ``tensors`` holds a NaN or an infinity (one synchronization).

    The fast path is the sum of the tensors' 2-norms (one fused ``torch._foreach_norm``): it is
    NaN or infinite whenever a tensor holds a NaN or an infinity. It can also overflow with
    finite values above ~1e19 (float32); only then is each tensor checked exactly.
    """
    ts = [t for t in tensors if isinstance(t, torch.Tensor) and t.is_floating_point()]
    if not ts:
        return True
    with torch.no_grad():
        if len(ts) > 1:
            total = torch.stack(torch._foreach_norm(ts, 2)).sum().item()
        else:
            total = (ts[0] if ts[0].numel() == 1 else ts[0].sum()).item()
        if math.isfinite(total):
            return True
        return all(bool(torch.isfinite(t).all()) for t in ts)


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


@contextlib.contextmanager
def _replaying(rng_state: torch.Tensor | None):
    """Re-run with the random state the evaluation started from (dropout draws the same mask),
    leaving the caller's random state as it was."""
    if rng_state is None:
        yield
        return
    with torch.random.fork_rng(devices=[]):
        torch.set_rng_state(rng_state)
        yield


def check_forward(net, inputs: Mapping[str, torch.Tensor], outputs: Mapping[str, torch.Tensor],
                  *, batch: bool = True, dtype: torch.dtype | None = None,
                  rng_state: torch.Tensor | None = None) -> None:
    """Called after a Wolfram-style forward pass.

    Args:
        net: the net evaluated.
        inputs: port → batched input tensor ``(batch, *shape)`` as the net saw it.
        outputs: port → batched output tensor.
        batch: False when the user gave one example (reported indices then drop the batch index).
        dtype: the precision evaluated in.
        rng_state: ``torch.get_rng_state()`` from before the forward pass, when it was random
            (Train mode), so the re-run reproduces it.
    """
    global _reported_forward
    _reported_forward = None
    mode = get_nonfinite()
    if mode == "ignore" or all_finite(outputs.values()):
        return
    session = _detailed.active_session()
    eager = session._bad if session is not None else None
    bad = next(p for p, t in outputs.items() if not all_finite([t]))
    seen_at = f'output "{bad}"'
    with (session.paused() if session is not None else _nullcontext()):
        if eager is not None:
            report = _explain_forward(net, _EagerCall(eager), eager.ins, eager.port, eager.out,
                                      {p: ("layer", p) for p in eager.ins}, batch, seen_at)
        else:
            with _replaying(rng_state):
                report = locate_forward(net, inputs, batch=batch, dtype=dtype, seen_at=seen_at)
    if report is None:
        report, _ = _bad_tensor_report("forward", net, outputs[bad].detach(), batch, port=bad,
                                       seen_at=seen_at, reproduced=False)
        report.cause = ("the instrumented re-run did not reproduce the non-finite values (is the "
                        "net random, e.g. dropout in Train mode?)")
    _reported_forward = id(inputs)
    emit(report, mode)


def check_backward(net, inputs: Mapping[str, torch.Tensor], grads: Mapping[Any, torch.Tensor],
                   *, batch: bool = True, dtype: torch.dtype | None = None,
                   imposed: Mapping[str, Any] | None = None,
                   rng_state: torch.Tensor | None = None) -> None:
    """Called after NetPortGradient.

    Args:
        grads: ``NetPortGradient`` → gradient tensor (per example for input ports).
        imposed: output port → the gradient imposed there (``{NetPortGradient("Output"): g}`` in
            the data), as given; None or empty when none was imposed.
        (``net``, ``inputs``, ``batch``, ``dtype``: as for :func:`check_forward`.)
    """
    mode = get_nonfinite()
    if mode == "ignore" or all_finite(grads.values()):
        return
    if _reported_forward == id(inputs):
        return
    from ..gradient import resolve_gradient

    bad = [spec for spec, g in grads.items() if not all_finite([g])]
    targets = [resolve_gradient(net, spec) for spec in bad]
    output_grads = None
    if imposed:
        output_grads = {p: (torch.as_tensor(g) if batch else torch.as_tensor(g).unsqueeze(0))
                        for p, g in imposed.items()}
    session = _detailed.active_session()
    with (session.paused() if session is not None else _nullcontext()):
        with _replaying(rng_state):
            report = locate_backward(net, inputs, output_grads, wrt=targets, batch=batch,
                                     dtype=dtype, seen_at=repr(bad[0]))
    if report is None:
        g = grads[bad[0]].detach()
        report, _ = _bad_tensor_report("backward", net, g, batch or targets[0].kind != "input",
                                       seen_at=repr(bad[0]), reproduced=False)
        report.cause = ("the instrumented re-run did not reproduce the non-finite gradient (is "
                        "the net random, e.g. dropout in Train mode?)")
    emit(report, mode)


class _EagerCall:
    """A layer call seen by detailed mode, in the shape :func:`_explain_forward` expects."""

    def __init__(self, bad) -> None:
        self.path, self.layer = bad.path, bad.layer


class _nullcontext:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False
