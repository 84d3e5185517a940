"""check_gradients: NetPortGradient against central finite differences, in float64.

The net is copied and converted to float64; each checked element ``x_i`` of an input or an array
is moved by ``±h_i`` (``h_i = step · max(1, |x_i|)``) and the derivative of
``F = Σ_ports Σ g · output`` (``g`` = 1, or the imposed output gradient) is estimated as
``(F(x + h_i e_i) - F(x - h_i e_i)) / (2 h_i)``. In float64 with the default step the estimate is
good to about 1e-9 relative at smooth points; points on a kink (Ramp or Abs at 0, ties in Max)
have no derivative to compare with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .._errors import NetTypeError
from ..gradient import All, NetPortGradient
from ..net._evaluate import run
from ..net._record import EvaluationRecord, build_record
from ._report import fmt_index

__all__ = ["check_gradients", "GradientCheck", "GradientCheckResult"]


@dataclass
class GradientCheck:
    """The comparison for one port or array.

    Attributes:
        spec: the NetPortGradient checked.
        max_abs_error: largest ``|analytic - numeric|`` over the checked elements.
        max_rel_error: largest ``|analytic - numeric| / max(|analytic|, |numeric|)`` (0 where
            both are 0).
        worst_index: the element with the largest error relative to the tolerance.
        analytic, numeric: the two values there.
        n_checked, n_total: elements checked (see ``max_elements``) and elements in all.
        ok: every checked element within ``atol + rtol · |numeric|``.
    """

    spec: NetPortGradient
    max_abs_error: float
    max_rel_error: float
    worst_index: tuple[int, ...]
    analytic: float
    numeric: float
    n_checked: int
    n_total: int
    ok: bool

    def __str__(self) -> str:
        mark = "ok  " if self.ok else "FAIL"
        return (f"{mark} {self.spec!r}: max abs error {self.max_abs_error:.3g}, max rel error "
                f"{self.max_rel_error:.3g}; worst at {fmt_index(self.worst_index) or '[]'}: "
                f"analytic {self.analytic:.10g}, numeric {self.numeric:.10g} "
                f"({self.n_checked} of {self.n_total} elements checked)")


@dataclass
class GradientCheckResult:
    """All the comparisons; ``ok`` (also ``passed``) when every one passed. ``str()`` is a
    readable table; ``result[spec]`` is one :class:`GradientCheck`."""

    checks: list[GradientCheck]
    atol: float
    rtol: float

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    passed = ok

    def __getitem__(self, spec: Any) -> GradientCheck:
        spec = spec if isinstance(spec, NetPortGradient) else NetPortGradient(spec)
        for c in self.checks:
            if c.spec == spec:
                return c
        raise KeyError(spec)

    def __str__(self) -> str:
        head = (f"check_gradients: {'passed' if self.ok else 'FAILED'} "
                f"(tolerance {self.atol:g} + {self.rtol:g}·|numeric|, float64 central differences)")
        return "\n".join([head] + [f"  {c}" for c in self.checks])


def _objective(record: EvaluationRecord) -> float:
    """``Σ_ports Σ g · output`` with the record's cotangents ``g`` (inside ``record.running()``)."""
    outputs = record.forward()
    return sum(float((outputs[p] * g).sum()) for p, g in record.cotangents(outputs).items())


def check_gradients(net, data: Any, specs: Any = All, *, step: float = 1e-6, atol: float = 1e-6,
                    rtol: float = 1e-5, max_elements: int | None = 256, mode: str = "Test",
                    seed: int = 0) -> GradientCheckResult:
    """Compare ``net(data, NetPortGradient(spec))`` with central finite differences in float64.

    Args:
        net: an initialized net or layer (it is not modified: float64 copies of its arrays are
            evaluated and perturbed).
        data: as for evaluation: an array-like or a dict of port → data (one example or a
            batch); may include ``{NetPortGradient("Output"): g}`` to check a vector-Jacobian
            product.
        specs: ``All`` (every real input and learned array), one spec or a list of specs (port
            or array names, path tuples, or NetPortGradient).
        step: relative finite-difference step.
        atol, rtol: an element passes when ``|analytic - numeric| <= atol + rtol · |numeric|``.
        max_elements: check at most this many elements per port or array (a random sample,
            fixed by ``seed``); None checks all.
        mode: ``"Test"`` or ``"Train"`` (random layers make finite differences meaningless).

    Returns:
        A :class:`GradientCheckResult`: ``result.ok``, and ``print(result)`` for the table.
    """
    if not (specs is All or isinstance(specs, (str, tuple, list, NetPortGradient))):
        raise NetTypeError("specs is All, a spec, or a list of specs", where="check_gradients",
                           got=f"got {type(specs).__name__} {specs!r}",
                           fix='e.g. check_gradients(net, x, ["Input", ("lin", "Weights")])')
    # The net is evaluated in float64 on copies of its arrays, which the differences perturb.
    record = build_record(net, data, specs, precision="float64", mode=mode, copy_arrays=True,
                          names_are_gradients=True)
    record.tensors = {p: t.detach().clone(memory_format=torch.contiguous_format)
                      .requires_grad_(t.requires_grad) for p, t in record.tensors.items()}
    _, analytic = run(record)
    gen = np.random.default_rng(seed)
    checks = []
    with torch.no_grad(), record.running():
        for spec, target in record.targets.items():
            if target.kind == "input":
                x = record.tensors[target.port]
                x = x if record.batch else x[0]
            else:
                x = getattr(target.layer, target.name)
            a = analytic[spec].detach().to("cpu", torch.float64).reshape(x.shape)
            n_total = x.numel()
            picks = np.arange(n_total) if max_elements is None or n_total <= max_elements else \
                np.sort(gen.choice(n_total, size=max_elements, replace=False))
            flat = x.view(-1)
            num = np.empty(len(picks))
            for j, i in enumerate(picks):
                orig = float(flat[i])
                h = step * max(1.0, abs(orig))
                flat[i] = orig + h
                fp = _objective(record)
                flat[i] = orig - h
                fm = _objective(record)
                flat[i] = orig
                num[j] = (fp - fm) / (2 * h)
            an = a.reshape(-1).numpy()[picks]
            err = np.abs(an - num)
            scale = np.maximum(np.abs(an), np.abs(num))
            rel = np.where(scale > 0, err / np.where(scale > 0, scale, 1.0), 0.0)
            bad = err > atol + rtol * np.abs(num)
            bad |= ~np.isfinite(an) | ~np.isfinite(num)
            excess = np.where(np.isfinite(err), err - (atol + rtol * np.abs(num)), np.inf)
            w = int(np.argmax(excess))
            worst = tuple(int(k) for k in np.unravel_index(int(picks[w]), tuple(x.shape)))
            checks.append(GradientCheck(
                spec=spec, max_abs_error=float(err.max()), max_rel_error=float(rel.max()),
                worst_index=worst, analytic=float(an[w]), numeric=float(num[w]),
                n_checked=len(picks), n_total=n_total, ok=not bool(bad.any())))
    return GradientCheckResult(checks, atol, rtol)
