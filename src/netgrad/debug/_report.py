"""NonFiniteReport: where a NaN or infinity came from, in fields and in words."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch

from .._errors import NonFiniteError, describe_location

__all__ = ["NonFiniteReport", "count_bad", "fmt_index", "fmt_value"]


def fmt_value(v: Any) -> str:
    """A number as a user would write it: ``0.0``, ``-inf``, ``nan``, ``89.7``."""
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, torch.Tensor):
        v = v.item()
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return f"{v:.6g}" if v != int(v) or abs(v) >= 1e16 else f"{v:.1f}"
    return str(v)


def fmt_index(index: tuple[int, ...] | None) -> str:
    if index is None:
        return ""
    return "[" + ", ".join(map(str, index)) + "]"


def count_bad(t: torch.Tensor) -> dict[str, Any]:
    """Counts of NaN, +inf, -inf in ``t`` and the first bad position (a full index of ``t``)."""
    bad = ~torch.isfinite(t)
    nan = torch.isnan(t)
    flat = bad.reshape(-1).nonzero()
    first = None
    if flat.numel():
        first = tuple(int(i) for i in torch.unravel_index(flat[0, 0], t.shape)) if t.dim() else ()
    return {"n_bad": int(bad.sum()), "n_total": t.numel(), "n_nan": int(nan.sum()),
            "n_posinf": int((t == math.inf).sum()), "n_neginf": int((t == -math.inf).sum()),
            "index": first}


@dataclass
class NonFiniteReport:
    """Where a non-finite value came from. Every field is also in ``str(report)``.

    Attributes:
        phase: ``"forward"`` or ``"backward"``.
        net_type: type of the net that was evaluated (``"NetChain"``).
        path: vertex path to the layer where the first non-finite value appeared (``("f",)``;
            ``()`` for the net's own ports, e.g. bad input data).
        layer_type: that layer's type (``"ElementwiseLayer"``), or None for the net's ports.
        port: the port whose value (forward) or gradient (backward) is bad.
        array: for a backward pass, the learned array whose gradient is bad (then ``port`` is None).
        n_bad, n_total, n_nan, n_posinf, n_neginf: counts in that tensor.
        index: the first bad position (per example when one example was evaluated, else
            ``(example, ...)``).
        value: the bad value there.
        inputs: the layer's input values at that position (port → number, or a short text when
            the port's shape does not match), and for a backward pass the incoming gradient
            under ``"∂Output"``-style keys.
        cause: the likely cause in words.
        primitive: the primitive operation that produced it (``"aten.log"``; in a backward pass
            with the autograd node, ``"aten.div in SqrtBackward0"``), when found.
        true_infinity: the value is a true infinity that the gradient contract keeps (log 0,
            the derivative of √x at 0), not a failure of the arithmetic.
        seen_at: what the check saw to be bad (``'output "Output"'``, ``NetPortGradient(...)``).
        reproduced: False when the instrumented re-run did not reproduce the bad values
            (a random net, e.g. dropout in Train mode); the location fields are then empty.
    """

    phase: str
    net_type: str
    path: tuple[str, ...] = ()
    layer_type: str | None = None
    port: str | None = None
    array: str | None = None
    n_bad: int = 0
    n_total: int = 0
    n_nan: int = 0
    n_posinf: int = 0
    n_neginf: int = 0
    index: tuple[int, ...] | None = None
    value: float = math.nan
    inputs: dict[str, Any] = field(default_factory=dict)
    cause: str = ""
    primitive: str | None = None
    true_infinity: bool = False
    seen_at: str = ""
    reproduced: bool = True

    # ---- rendering ---------------------------------------------------------------------------
    def location(self) -> str:
        """``NetChain › "f" (ElementwiseLayer), port "Output"``."""
        if not self.reproduced:
            return f"{self.net_type}, {self.seen_at}"
        if not self.path:  # the net's own ports (bad data), or a layer evaluated on its own
            part = f'port "{self.port}"' if self.port else f'array "{self.array}"'
            return f"{self.net_type}, {part}"
        return f"{self.net_type} › " + describe_location(self.path, self.layer_type,
                                                         port=self.port, array=self.array)

    def _what(self) -> str:
        name = self.array or self.port or "value"
        return f"∂{name}" if self.phase == "backward" else name

    def counts(self) -> str:
        kinds = [f"{n} {k}" for n, k in ((self.n_nan, "NaN"), (self.n_posinf, "+inf"),
                                         (self.n_neginf, "-inf")) if n]
        verb = "is" if self.n_bad == 1 else "are"
        return f"{self.n_bad} of {self.n_total} values {verb} non-finite ({', '.join(kinds)})"

    def got(self) -> str:
        text = self.counts()
        if self.index is not None:
            text += f", first at {self._what()}{fmt_index(self.index)} = {fmt_value(self.value)}"
        if self.inputs:
            there = ", ".join(f"{k}{fmt_index(self.index) if not isinstance(v, str) else ''} = "
                              f"{fmt_value(v) if not isinstance(v, str) else v}"
                              for k, v in self.inputs.items())
            text += f"; the layer's inputs there: {there}"
        if self.primitive:
            text += f"; made by {self.primitive}"
        if self.seen_at and self.reproduced:
            text += f"; seen at {self.seen_at}"
        return text

    def fix(self) -> str | None:
        if self.true_infinity:
            return ("this infinity is the true value; if it should not reach the output, keep the "
                    "argument away from the singular point or mask it (netgrad.ops.where keeps "
                    "the unused branch out of the gradient)")
        c = self.cause
        if "input data" in c or "imposed gradient" in c:
            return "clean the data (e.g. replace missing values) before evaluating the net"
        if "overflow" in c:
            return ('evaluate with precision="float64", rescale the inputs, or use an operation '
                    "that works in the log domain (netgrad.ops.logsumexp, log_softmax)")
        if "array" in c and ("holds" in c or "contains" in c):
            return ("re-initialize the net (netgrad.NetInitialize(net, reinitialize=True)) or lower "
                    "the learning rate if training diverged")
        if not self.reproduced:
            return ("re-run the step under netgrad.debug.detailed(), or with a fixed seed, to "
                    "locate it")
        return None

    def headline(self) -> str:
        return f"{self.phase} pass: {self.cause}" if self.cause else f"{self.phase} pass"

    def __str__(self) -> str:
        text = f"{self.location()}: {self.headline()}; {self.got()}"
        fix = self.fix()
        return text + (f". Fix: {fix}" if fix else "")

    def to_error(self) -> NonFiniteError:
        """The :class:`netgrad.NonFiniteError` for this report (``error.report`` is ``self``)."""
        return NonFiniteError(self.headline(), where=self.location(), got=self.got(),
                              fix=self.fix(), report=self)
