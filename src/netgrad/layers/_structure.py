"""Layers that move elements around: PartLayer, CatenateLayer, ReshapeLayer, FlattenLayer."""

from __future__ import annotations

import math
from typing import Any, Union

import torch

from .._errors import NetTypeError, NetValueError, ShapeError
from .._shapes import MaybeShape, ShapeLike, describe_shape, fmt_shape
from ._aggregation import resolve_levels
from ._base import Layer, register_layer

__all__ = ["PartLayer", "CatenateLayer", "ReshapeLayer", "FlattenLayer"]

Part = Union[int, slice, tuple]


def _encode_part(part: Part) -> Any:
    if isinstance(part, slice):
        return {"slice": [part.start, part.stop, part.step]}
    if isinstance(part, tuple):
        return [_encode_part(p) for p in part]
    return part


def _decode_part(part: Any) -> Part:
    if isinstance(part, dict):
        return slice(*part["slice"])
    if isinstance(part, list):
        return tuple(_decode_part(p) for p in part)
    return part


@register_layer
class PartLayer(Layer):
    """Takes a part of each example, with NumPy basic indexing (0-based, slices, negatives).

    Args:
        part: an int, a slice, or a tuple of ints and slices, applied to one example:
            ``PartLayer(0)`` is the first row, ``PartLayer((slice(None), 2))`` the third column.

    Shape:
        - Input: ``(*s)``; Output: ``s`` indexed by ``part``.
    """

    def __init__(self, part: Part, *, input: ShapeLike = None) -> None:
        super().__init__()
        part = _decode_part(part)
        items = part if isinstance(part, tuple) else (part,)
        for p in items:
            if isinstance(p, bool) or not isinstance(p, (int, slice)):
                raise NetTypeError("PartLayer takes ints, slices, or a tuple of them",
                                   where="PartLayer", got=f"got {part!r}",
                                   fix="e.g. PartLayer(0), PartLayer(slice(1, None)) or "
                                       "PartLayer((slice(None), 2))")
        self.part = part
        self._index = (slice(None),) + items
        self._setup(Input=input)

    def infer_outputs(self, shapes: dict[str, MaybeShape]) -> dict[str, MaybeShape]:
        s = shapes["Input"]
        if s is None:
            return {"Output": None}
        items = self._index[1:]
        if len(items) > len(s):
            raise ShapeError(f"part {self.part!r} needs an input of rank at least {len(items)}",
                             where='PartLayer, port "Input"', got=f"got {describe_shape(s)}",
                             fix=f"index at most {len(s)} dimensions of this input")
        for p, d in zip(items, s):
            if isinstance(p, int) and not -d <= p < d:
                raise ShapeError(f"index {p} must lie in [{-d}, {d - 1}] for a dimension of "
                                 f"size {d}", where='PartLayer, port "Input"',
                                 got=f"got {describe_shape(s)}",
                                 fix=f"use an index from 0 to {d - 1} (or -1 for the last); "
                                     "indices are 0-based")
        return {"Output": tuple(torch.empty(s, device="meta")[items].shape)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[self._index]

    def get_config(self) -> dict[str, Any]:
        return self._with_input({"part": _encode_part(self.part)})


def _first_difference(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    """The first level (1-based) where two shapes of one rank differ."""
    return next(i + 1 for i, (x, y) in enumerate(zip(a, b)) if x != y)


@register_layer
class CatenateLayer(Layer):
    """Joins its inputs along a level (1 = the first dimension of one example).

    Args:
        level: the level to join along (default 1; -1 is the last).
        n: number of inputs (in a NetGraph, the number of sources connected).

    Shape:
        - Input1 … Inputn: arrays of one rank that agree except at ``level``.
        - Output: the joined array.
    """

    variadic = True

    def __init__(self, level: int = 1, n: int = 2) -> None:
        super().__init__()
        if isinstance(level, bool) or not isinstance(level, int):
            raise NetTypeError("CatenateLayer's level is an int", where="CatenateLayer",
                               got=f"got {type(level).__name__} {level!r}",
                               fix="e.g. CatenateLayer(1) (the first level) or CatenateLayer(-1)")
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise NetValueError("CatenateLayer takes at least 1 input", where="CatenateLayer",
                                got=f"got n={n!r}", fix="e.g. CatenateLayer(1, n=3)")
        self.level = level
        self._arity = n
        self._setup()

    def infer_outputs(self, shapes: dict[str, MaybeShape]) -> dict[str, MaybeShape]:
        known = [s for s in shapes.values() if s is not None]
        if len(known) < len(shapes):
            return {"Output": None}
        ranks = {len(s) for s in known}
        got = "got " + ", ".join(f"{k} {fmt_shape(v)}" for k, v in shapes.items())
        if len(ranks) != 1:
            raise ShapeError("inputs must have the same rank", where="CatenateLayer", got=got,
                             fix="reshape the inputs to one rank first (ReshapeLayer)")
        (rank,) = ranks
        (lv,) = resolve_levels(self.level, rank, "CatenateLayer")
        first = known[0]
        for s in known:
            if s[:lv - 1] + s[lv:] != first[:lv - 1] + first[lv:]:
                raise ShapeError(f"inputs must agree in every dimension but level {self.level}",
                                 where="CatenateLayer", got=got,
                                 fix="join along the level where they differ, e.g. "
                                     f"CatenateLayer({_first_difference(s, first)})")
        total = sum(int(s[lv - 1]) for s in known)
        return {"Output": first[:lv - 1] + (total,) + first[lv:]}

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        (lv,) = resolve_levels(self.level, xs[0].dim() - 1, "CatenateLayer")
        return torch.cat(xs, dim=lv)

    def get_config(self) -> dict[str, Any]:
        return {"level": self.level, "n": self._arity}


@register_layer
class ReshapeLayer(Layer):
    """Reshapes each example.

    Args:
        shape: the new per-example shape; one entry may be -1 (inferred).

    Shape:
        - Input: any ``(*s)`` with ``prod(s) == prod(shape)``; Output: ``shape``.
    """

    def __init__(self, shape: ShapeLike, *, input: ShapeLike = None) -> None:
        super().__init__()
        dims = (shape,) if isinstance(shape, int) else \
            tuple(shape) if isinstance(shape, (tuple, list)) else ("?",)
        if sum(1 for d in dims if d == -1) > 1 or any(
                isinstance(d, bool) or not isinstance(d, int) or d < -1 for d in dims):
            raise NetTypeError("a shape has non-negative ints and at most one -1",
                               where="ReshapeLayer", got=f"got {shape!r}",
                               fix="e.g. ReshapeLayer((2, 3)) or ReshapeLayer((-1, 3))")
        self.shape = dims
        self._setup(Input=input)

    def infer_outputs(self, shapes: dict[str, MaybeShape]) -> dict[str, MaybeShape]:
        s = shapes["Input"]
        if s is None:
            return {"Output": None if -1 in self.shape else self.shape}
        n = math.prod(s)
        known = math.prod(d for d in self.shape if d != -1)
        if -1 in self.shape and known and n % known == 0:
            out = tuple(n // known if d == -1 else d for d in self.shape)
        else:
            out = self.shape
        if math.prod(out) != n:
            raise ShapeError(f"expected {n} elements to fill shape {fmt_shape(self.shape)}",
                             where='ReshapeLayer, port "Input"', got=f"got {describe_shape(s)}",
                             fix=f"choose a shape of {n} elements (one -1 is inferred)")
        return {"Output": out}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.shape)

    def get_config(self) -> dict[str, Any]:
        return self._with_input({"shape": list(self.shape)})


@register_layer
class FlattenLayer(Layer):
    """Flattens each example.

    Args:
        levels: ``None`` flattens an example to a vector; ``n`` merges its first ``n + 1``
            dimensions (Wolfram's ``FlattenLayer[n]``).

    Shape:
        - Input: ``(*s)``; Output: ``(prod(s),)``, or ``(prod(s[:n+1]), *s[n+1:])``.
    """

    def __init__(self, levels: int | None = None, *, input: ShapeLike = None) -> None:
        super().__init__()
        if levels is not None and (isinstance(levels, bool) or not isinstance(levels, int)
                                   or levels < 1):
            raise NetTypeError("levels is None or a positive int", where="FlattenLayer",
                               got=f"got {levels!r}",
                               fix="FlattenLayer() flattens to a vector; FlattenLayer(1) merges the "
                                   "first two dimensions")
        self.levels = levels
        self._setup(Input=input)

    def _keep(self, rank: int) -> int:
        return rank if self.levels is None else min(self.levels + 1, rank)

    def infer_outputs(self, shapes: dict[str, MaybeShape]) -> dict[str, MaybeShape]:
        s = shapes["Input"]
        if s is None:
            return {"Output": None}
        if self.levels is not None and self.levels + 1 > len(s):
            raise ShapeError(f"FlattenLayer({self.levels}) needs an input of rank at least "
                             f"{self.levels + 1}", where='FlattenLayer, port "Input"',
                             got=f"got {describe_shape(s)}",
                             fix=f"use levels up to {len(s) - 1}, or FlattenLayer() for a vector")
        k = self._keep(len(s))
        return {"Output": (math.prod(s[:k]),) + tuple(s[k:])}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = self._keep(x.dim() - 1)
        return x.flatten(1, k) if k >= 1 else x.reshape(x.shape[0], 1)

    def get_config(self) -> dict[str, Any]:
        return self._with_input({"levels": self.levels})

