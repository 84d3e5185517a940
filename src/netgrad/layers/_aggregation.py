"""AggregationLayer: Total, Times, Max, Min or Mean over Wolfram levels."""

from __future__ import annotations

from typing import Any, Union

import torch

from .. import ops
from .._errors import NetTypeError, NetValueError, ShapeError, did_you_mean
from .._sequences import positions_mask
from .._shapes import MaybeShape, ShapeLike
from ._base import Layer, register_layer

__all__ = ["AggregationLayer", "AGGREGATIONS", "resolve_levels"]

#: Wolfram names → robust op in :mod:`netgrad.ops`. Max/Min split the gradient evenly among
#: ties; Times has the exclusive-product gradient (never output/x).
AGGREGATIONS: dict[str, str] = {"Total": "sum", "Times": "prod", "Max": "amax", "Min": "amin",
                                "Mean": "mean"}

Levels = Union[int, str, tuple, list]

#: What padding becomes before aggregating over a sequence: the function's identity.
_IDENTITY = {"Total": 0.0, "Mean": 0.0, "Times": 1.0, "Max": float("-inf"), "Min": float("inf")}


LEVELS_FIX = 'levels=1 (the first dimension of an example), -1 (the last), (1, 2), or "2;;" (2 to the end)'


def check_levels(levels: Any, where: str) -> Levels:
    """Check the form of a levels option at construction (an int, ints, or a span string)."""
    ok = (isinstance(levels, int) and not isinstance(levels, bool)) or isinstance(levels, str) or (
        isinstance(levels, (tuple, list)) and levels and
        all(isinstance(lv, int) and not isinstance(lv, bool) for lv in levels))
    if not ok:
        raise NetTypeError("levels are an int, a tuple of ints or a span string \"m;;n\"",
                           where=where, got=f"got {type(levels).__name__} {levels!r}",
                           fix=LEVELS_FIX)
    if isinstance(levels, str):
        resolve_levels(levels, 64, where)  # the form only
    return tuple(levels) if isinstance(levels, list) else levels


def resolve_levels(levels: Levels, rank: int, where: str) -> tuple[int, ...]:
    """Wolfram levels of one example → 1-based levels ``1..rank``.

    ``levels`` is an int (``1`` is the first dimension of an example, ``-1`` the last), a
    tuple of ints, or a Wolfram span string ``"m;;n"`` / ``"m;;"`` (both ends included).
    """
    if isinstance(levels, str):
        try:
            lo, hi = levels.split(";;")
            lo_i = int(lo) if lo.strip() else 1
            hi_i = int(hi) if hi.strip() else -1
        except ValueError:
            raise NetValueError('a level span is written "m;;n" or "m;;"', where=where,
                                got=f"got {levels!r}", fix='e.g. "2;;" or "1;;2"') from None
        lo_r = _one(lo_i, rank, where, levels, allow_end=True)
        hi_r = _one(hi_i, rank, where, levels)
        out = tuple(range(lo_r, hi_r + 1))
    elif isinstance(levels, bool):
        raise NetTypeError("levels must be ints or a span string", where=where,
                           got=f"got {levels!r}", fix=LEVELS_FIX)
    elif isinstance(levels, int):
        out = (_one(levels, rank, where, levels),)
    else:
        out = tuple(sorted({_one(int(lv), rank, where, levels) for lv in levels}))
    if not out:
        raise ShapeError(f"levels {levels!r} select no dimension of an example of rank {rank}",
                         where=where, got=f"got an input of rank {rank}",
                         fix="choose levels between 1 and the input's rank, e.g. levels=1")
    return out


def _one(level: int, rank: int, where: str, spec: Any, allow_end: bool = False) -> int:
    resolved = level if level > 0 else rank + level + 1
    if allow_end and resolved == rank + 1:
        return resolved  # the start of an empty span such as "2;;" on a vector
    if not 1 <= resolved <= rank:
        raise ShapeError(f"level {level} does not exist in an example of rank {rank}",
                         where=where, got=f"got levels {spec!r}",
                         fix=f"use levels between 1 and {rank} (or -{rank} to -1)")
    return resolved


@register_layer
class AggregationLayer(Layer):
    """Aggregates an array over some of its levels (dimensions of one example).

    Args:
        function: ``"Total"``, ``"Times"``, ``"Max"``, ``"Min"`` or ``"Mean"``.
        levels: which levels to aggregate: an int (1 = first dimension of an example, -1 the
            last), a tuple of ints, or a span ``"m;;n"`` (inclusive). Default ``"2;;"``: all but
            the first, e.g. every channel of an image aggregated to one number.
        input: shape of the input (optional).

    Over a sequence (level 1 of an input ``(Varying, *s)``), each sequence is aggregated over
    its own elements only ("Mean" of an empty sequence is 0, "Max" -inf); over other levels it
    acts on each element of the sequence.

    Shape:
        - Input: ``(*s)``; Output: ``s`` without the aggregated levels.
    """

    def __init__(self, function: str = "Total", levels: Levels = "2;;", *,
                 input: ShapeLike = None) -> None:
        super().__init__()
        if function not in AGGREGATIONS:
            raise NetValueError(f"AggregationLayer knows {sorted(AGGREGATIONS)}",
                                where="AggregationLayer", got=f"got {function!r}",
                                fix=did_you_mean(function, sorted(AGGREGATIONS),
                                                 aliases={"sum": "Total", "prod": "Times",
                                                          "product": "Times", "average": "Mean",
                                                          "avg": "Mean", "amax": "Max",
                                                          "amin": "Min"}))
        self.function = function
        self.levels = check_levels(levels, "AggregationLayer")
        self._setup(Input=input)

    def infer_outputs(self, shapes: dict[str, MaybeShape]) -> dict[str, MaybeShape]:
        s = shapes["Input"]
        if s is None:
            return {"Output": None}
        lv = resolve_levels(self.levels, len(s), 'AggregationLayer, port "Input"')
        return {"Output": tuple(d for i, d in enumerate(s, start=1) if i not in lv)}

    def sequence_mode(self, shapes):
        s = shapes.get("Input")
        if s is not None and 1 in resolve_levels(self.levels, len(s), 'AggregationLayer, port "Input"'):
            return "lengths"
        return "positions"

    def run_sequences(self, inputs, lengths):
        if self.sequence_mode({"Input": self.port_shape("Input")}) == "positions":
            return super().run_sequences(inputs, lengths)
        out = torch.nn.Module.__call__(self, inputs["Input"], lengths=lengths.get("Input"))
        return {"Output": out}, {}

    def forward(self, x: torch.Tensor, *, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """``x`` ``(B, *s)``; ``lengths`` ``(B,)``: the valid length of level 1 (a sequence)."""
        dims = resolve_levels(self.levels, x.dim() - 1, "AggregationLayer")
        if lengths is None or 1 not in dims:
            return getattr(ops, AGGREGATIONS[self.function])(x, dim=dims)
        keep = positions_mask(lengths.to(x.device), x.shape[1])
        keep = keep.reshape(*keep.shape, *([1] * (x.dim() - 2)))
        x = ops.where(keep, x, _IDENTITY[self.function])
        if self.function != "Mean":
            return getattr(ops, AGGREGATIONS[self.function])(x, dim=dims)
        total = ops.sum(x, dim=dims)
        count = lengths.to(device=x.device, dtype=x.dtype)
        for d in dims:
            if d != 1:
                count = count * x.shape[d]
        return total / count.clamp_min(1).reshape(-1, *([1] * (total.dim() - 1)))

    def get_config(self) -> dict[str, Any]:
        levels = list(self.levels) if isinstance(self.levels, tuple) else self.levels
        return self._with_input({"function": self.function, "levels": levels})

    def config_text(self) -> str:
        return f"AggregationLayer({self.function}, levels={self.levels!r})"
