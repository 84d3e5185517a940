"""Layers that rearrange elements: TransposeLayer, ReplicateLayer, AppendLayer, PrependLayer,
ExtractLayer, OrderingLayer.

Dimensions and positions are 0-based and count the dimensions of one example (the batch
dimension is never counted), like every position in netgrad; negative values count from the
end.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from .._errors import NetTypeError, NetValueError, ShapeError
from .._shapes import MaybeShape, ShapeLike, describe_shape, fmt_shape
from ._base import Layer, register_layer
from ._checks import data_checks_apply, shape_arg

__all__ = ["TransposeLayer", "ReplicateLayer", "AppendLayer", "PrependLayer", "ExtractLayer",
           "OrderingLayer"]


def _ints(value: Any, name: str, where: str) -> tuple[int, ...]:
    vals = (value,) if isinstance(value, int) else value
    try:
        out = tuple(vals)
    except TypeError:
        out = ()
    if not out and value != () or any(isinstance(v, bool) or not isinstance(v, int) for v in out):
        raise NetTypeError(f"{name} is an int or a tuple of ints", where=where,
                           got=f"got {value!r}", fix=f"e.g. {name}=(1, 0)")
    return out


@register_layer
class TransposeLayer(Layer):
    """Permutes the dimensions of each example.

    Args:
        perm: a permutation of all dimensions of an example, ``perm[i]`` being the input
            dimension that becomes output dimension ``i`` (as ``numpy.transpose``), or a pair
            ``(a, b)`` of dimensions to swap. Default ``(0, 1)``: swap the first two (Wolfram's
            ``TransposeLayer[]``). 0-based; negative counts from the end.
        input: the shape of the input (optional).

    Shape:
        - Input: ``(*s)``; Output: ``s`` permuted.
    """

    def __init__(self, perm: Any = (0, 1), *, input: ShapeLike = None) -> None:
        super().__init__()
        self.perm = _ints(perm, "perm", "TransposeLayer")
        if len(self.perm) < 2:
            raise NetValueError("perm is a pair of dimensions to swap or a permutation",
                                where="TransposeLayer", got=f"got {perm!r}",
                                fix="e.g. TransposeLayer((1, 0)) or TransposeLayer((2, 0, 1))")
        self._setup(Input=input)

    def _order(self, rank: int) -> tuple[int, ...]:
        where = 'TransposeLayer, port "Input"'
        dims = []
        for d in self.perm:
            if not -rank <= d < rank:
                raise ShapeError(f"dimension {d} does not exist in an example of rank {rank}",
                                 where=where, got=f"got perm {self.perm}",
                                 fix=f"use dimensions 0 to {rank - 1} (or -{rank} to -1)")
            dims.append(d % rank)
        if len(dims) == rank and sorted(dims) == list(range(rank)):
            return tuple(dims)
        if len(dims) == 2 and dims[0] != dims[1]:
            order = list(range(rank))
            order[dims[0]], order[dims[1]] = order[dims[1]], order[dims[0]]
            return tuple(order)
        raise ShapeError(f"perm is a pair to swap or a permutation of the {rank} dimensions",
                         where=where, got=f"got {self.perm}",
                         fix=f"e.g. {tuple(reversed(range(rank)))}")

    def infer_outputs(self, shapes: dict[str, MaybeShape]) -> dict[str, MaybeShape]:
        s = shapes["Input"]
        if s is None:
            return {"Output": None}
        return {"Output": tuple(s[d] for d in self._order(len(s)))}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        order = self._order(x.dim() - 1)
        return x.permute(0, *(d + 1 for d in order))

    def get_config(self) -> dict[str, Any]:
        return self._with_input({"perm": list(self.perm)})


@register_layer
class ReplicateLayer(Layer):
    """Replicates each example along new dimensions (a view: no copy; the gradient sums over
    the copies).

    Args:
        shape: the new dimensions (an int or a tuple).
        level: where they go among the dimensions of the output (0-based; default 0, in
            front, as Wolfram's ``ReplicateLayer[n]``; -1 puts them last).
        input: the shape of the input (optional).

    Shape:
        - Input: ``(*s)``; Output: ``s`` with ``shape`` inserted at ``level``.
    """

    sequence_support = None

    def __init__(self, shape: ShapeLike, level: int = 0, *, input: ShapeLike = None) -> None:
        super().__init__()
        self.shape = shape_arg(shape, "shape", "ReplicateLayer")
        if isinstance(level, bool) or not isinstance(level, int):
            raise NetTypeError("level is an int", where="ReplicateLayer", got=f"got {level!r}")
        self.level = level
        self._setup(Input=input)

    def _at(self, rank: int) -> int:
        out_rank = rank + len(self.shape)  # type: ignore[arg-type]
        at = self.level if self.level >= 0 else rank + 1 + self.level
        if not 0 <= at <= rank:
            raise ShapeError(f"level {self.level} does not exist for an input of rank {rank}",
                             where='ReplicateLayer, port "Input"',
                             got=f"got an output of rank {out_rank}",
                             fix=f"use a level from 0 to {rank} (or -{rank + 1} to -1)")
        return at

    def infer_outputs(self, shapes: dict[str, MaybeShape]) -> dict[str, MaybeShape]:
        s = shapes["Input"]
        if s is None:
            return {"Output": None}
        at = self._at(len(s))
        return {"Output": tuple(s[:at]) + tuple(self.shape) + tuple(s[at:])}  # type: ignore[arg-type]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        at = self._at(x.dim() - 1) + 1
        new = tuple(self.shape)  # type: ignore[arg-type]
        y = x.reshape(*x.shape[:at], *([1] * len(new)), *x.shape[at:])
        return y.expand(*x.shape[:at], *new, *x.shape[at:])

    def get_config(self) -> dict[str, Any]:
        return self._with_input({"shape": list(self.shape), "level": self.level})  # type: ignore[arg-type]


class _AddElement(Layer):
    """Adds port "Element" (one element) to the front or the end of port "Input"."""

    input_ports = ("Input", "Element")
    _front = False

    def __init__(self, *, input: ShapeLike = None, element: ShapeLike = None) -> None:
        super().__init__()
        self._setup(Input=input, Element=element)

    def complete_inputs(self, shapes):
        shapes = self._merged_inputs(shapes)
        a, e = shapes["Input"], shapes["Element"]
        if e is None and a is not None and len(a) >= 1:
            e = tuple(a[1:])
        return {"Input": a, "Element": e}

    def infer_outputs(self, shapes: dict[str, MaybeShape]) -> dict[str, MaybeShape]:
        a, e = shapes["Input"], shapes["Element"]
        kind = type(self).__name__
        if a is not None and len(a) == 0:
            raise ShapeError("Input is an array of elements (rank at least 1)",
                             where=f'{kind}, port "Input"', got="got a scalar",
                             fix="reshape it, e.g. ReshapeLayer((1,))")
        if a is None:
            return {"Output": None}
        if e is not None and tuple(e) != tuple(a[1:]):
            raise ShapeError(f"Element must have the shape of one element of Input, "
                             f"{describe_shape(tuple(a[1:]))}", where=f'{kind}, port "Element"',
                             got=f"got {describe_shape(e)}")
        return {"Output": (a[0] + 1,) + tuple(a[1:])}

    def forward(self, x: torch.Tensor, element: torch.Tensor) -> torch.Tensor:
        e = element.unsqueeze(1).to(x.dtype)
        return torch.cat((e, x) if self._front else (x, e), dim=1)

    def get_config(self) -> dict[str, Any]:
        cfg = self._with_input({})
        if "Element" in self._declared and self._declared["Element"] is not None:
            cfg["element"] = list(self._declared["Element"])
        return cfg


@register_layer
class AppendLayer(_AddElement):
    """Appends port "Element" after the last element of port "Input" (Wolfram's AppendLayer).

    Shape:
        - Input: ``(n, *e)``; Element: ``e``; Output: ``(n + 1, *e)``.
    """


@register_layer
class PrependLayer(_AddElement):
    """Puts port "Element" before the first element of port "Input" (Wolfram's PrependLayer).

    Shape:
        - Input: ``(n, *e)``; Element: ``e``; Output: ``(n + 1, *e)``.
    """

    _front = True


@register_layer
class ExtractLayer(Layer):
    """Extracts the part of "Input" at the integer position given by port "Position"
    (Wolfram's ExtractLayer; positions are 0-based, negative counts from the end).

    A "Position" vector ``(p0, ..., pk-1)`` gives ``Input[p0, ..., pk-1]``; a matrix of ``m``
    positions gives the ``m`` parts stacked. The gradient of Input is the incoming gradient
    at the extracted places (summed where a place is extracted twice), 0 elsewhere. A position
    outside the array is an error naming it (checked in eager evaluation).

    Args:
        input: the shape of Input (optional); position: the shape of Position (optional).

    Shape:
        - Input: ``(*s)``; Position: ``(k,)`` or ``(m, k)`` integers.
        - Output: ``s[k:]``, or ``(m, *s[k:])``.
    """

    input_ports = ("Input", "Position")
    integer_input_ports = frozenset({"Position"})

    def __init__(self, *, input: ShapeLike = None, position: ShapeLike = None) -> None:
        super().__init__()
        self._setup(Input=input, Position=position)

    def infer_outputs(self, shapes: dict[str, MaybeShape]) -> dict[str, MaybeShape]:
        s, p = shapes["Input"], shapes["Position"]
        where = 'ExtractLayer, port "Position"'
        if p is not None and len(p) not in (1, 2):
            raise ShapeError("Position is a vector (one position) or a matrix (several)",
                             where=where, got=f"got {describe_shape(p)}",
                             fix="e.g. position=2 for Input[i, j]")
        if s is None or p is None:
            return {"Output": None}
        k = p[-1]
        if k > len(s):
            raise ShapeError(f"a position has at most {len(s)} entries for an input of rank "
                             f"{len(s)}", where=where, got=f"got positions of length {k}",
                             fix=f"use positions of length 1 to {len(s)}")
        return {"Output": (tuple(p[:1]) if len(p) == 2 else ()) + tuple(s[k:])}

    def forward(self, x: torch.Tensor, position: torch.Tensor) -> torch.Tensor:
        pos = position.long()
        single = pos.dim() == 2
        if single:
            pos = pos.unsqueeze(1)
        b, m, k = pos.shape
        sizes = torch.tensor(x.shape[1:k + 1], device=x.device)
        if data_checks_apply(pos):
            bad = (pos >= sizes) | (pos < -sizes)
            if bool(bad.any()):
                at = tuple(int(i) for i in bad.nonzero()[0].tolist())
                raise NetValueError(f"positions are 0-based (negative from the end) and lie in "
                                    f"the input's dimensions {fmt_shape(tuple(x.shape[1:k + 1]))}",
                                    where='ExtractLayer, port "Position"',
                                    got=f"got {pos[at[:2]].tolist()} in example {at[0]}",
                                    fix="use positions from 0 to size - 1 in each dimension")
        pos = torch.where(pos < 0, pos + sizes, pos)
        strides = torch.tensor([math.prod(x.shape[i + 2:k + 1]) for i in range(k)],
                               device=x.device)
        flat = (pos * strides).sum(-1)  # (b, m)
        rest = x.shape[k + 1:]
        xs = x.reshape(b, -1, *rest)
        index = flat.reshape(b, m, *([1] * len(rest))).expand(b, m, *rest)
        out = xs.gather(1, index)
        return out.squeeze(1) if single else out

    def get_config(self) -> dict[str, Any]:
        cfg = self._with_input({})
        if self._declared.get("Position") is not None:
            cfg["position"] = list(self._declared["Position"])  # type: ignore[arg-type]
        return cfg


@register_layer
class OrderingLayer(Layer):
    """The positions that sort each vector (Wolfram's OrderingLayer; 0-based, ties in order of
    position). Integer output, so no gradient flows through it.

    Args:
        n: ``None`` for all positions, ``n > 0`` for the positions of the ``n`` smallest,
            ``n < 0`` for those of the ``|n|`` largest (largest last, as Wolfram's
            ``Ordering[list, -n]``).
        input: the shape of the input (optional).

    Shape:
        - Input: ``(*s, d)``, ordered along the last dimension; Output: ``(*s, |n| or d)``
          integers.
    """

    sequence_support = None

    def __init__(self, n: int | None = None, *, input: ShapeLike = None) -> None:
        super().__init__()
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n == 0):
            raise NetTypeError("n is None or a non-zero int", where="OrderingLayer",
                               got=f"got {n!r}", fix="e.g. OrderingLayer(3) for the 3 smallest")
        self.n = n
        self._setup(Input=input)

    def infer_outputs(self, shapes: dict[str, MaybeShape]) -> dict[str, MaybeShape]:
        s = shapes["Input"]
        if s is None:
            return {"Output": None}
        if len(s) == 0:
            raise ShapeError("expected a vector (or an array of vectors)",
                             where='OrderingLayer, port "Input"', got="got a scalar")
        if self.n is not None and abs(self.n) > s[-1]:
            raise ShapeError(f"a vector of length {s[-1]} has no {abs(self.n)} positions",
                             where='OrderingLayer, port "Input"', got=f"got {describe_shape(s)}",
                             fix=f"use n between -{s[-1]} and {s[-1]}")
        return {"Output": tuple(s[:-1]) + ((abs(self.n) if self.n else s[-1]),)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        order = torch.argsort(x.detach(), dim=-1, stable=True)
        if self.n is None:
            return order
        return order[..., :self.n] if self.n > 0 else order[..., self.n:]

    def get_config(self) -> dict[str, Any]:
        return self._with_input({"n": self.n})
