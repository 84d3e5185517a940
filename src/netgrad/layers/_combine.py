"""Layers that combine or sum arrays: DotLayer, TotalLayer, SummationLayer; and UnitVectorLayer
(integers to one-hot vectors)."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from .. import ops
from .._errors import NetValueError, ShapeError
from .._shapes import MaybeShape, ShapeLike, describe_shape, fmt_shape
from ._base import Layer, register_layer
from ._checks import add_dtype_buffer, check_indices, float_dtype, positive_int

__all__ = ["DotLayer", "TotalLayer", "SummationLayer", "UnitVectorLayer"]


@register_layer
class DotLayer(Layer):
    """The dot product of its two inputs per example (Wolfram's DotLayer): the last dimension
    of Input1 contracted with the first dimension of Input2 (vector·vector is a number,
    matrix·vector a vector, matrix·matrix the matrix product). Products are strong-zero
    products (netgrad.ops.matmul).

    Shape:
        - Input1: ``(*a, n)``; Input2: ``(n, *b)``; Output: ``(*a, *b)``.
    """

    input_ports = ("Input1", "Input2")

    def __init__(self, *, input1: ShapeLike = None, input2: ShapeLike = None) -> None:
        super().__init__()
        self._setup(Input1=input1, Input2=input2)

    def infer_outputs(self, shapes: dict[str, MaybeShape]) -> dict[str, MaybeShape]:
        a, b = shapes["Input1"], shapes["Input2"]
        for port, s in (("Input1", a), ("Input2", b)):
            if s is not None and len(s) == 0:
                raise ShapeError("the inputs of a dot product are arrays (rank at least 1)",
                                 where=f'DotLayer, port "{port}"', got="got a scalar",
                                 fix="use a ThreadingLayer(\"Times\") to multiply by a number")
        if a is None or b is None:
            return {"Output": None}
        if a[-1] != b[0]:
            raise ShapeError(f"the last dimension of Input1 ({a[-1]}) must equal the first of "
                             f"Input2", where='DotLayer, port "Input2"',
                             got=f"got Input1 {fmt_shape(a)} and Input2 {fmt_shape(b)}",
                             fix="transpose one input (TransposeLayer) so the sizes meet")
        return {"Output": tuple(a[:-1]) + tuple(b[1:])}

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        n = a.shape[0]
        left, right = a.shape[1:-1], b.shape[2:]
        y = ops.matmul(a.reshape(n, math.prod(left), a.shape[-1]),
                       b.reshape(n, b.shape[1], math.prod(right)))
        return y.reshape(n, *left, *right)

    def get_config(self) -> dict[str, Any]:
        cfg = {}
        for port, key in (("Input1", "input1"), ("Input2", "input2")):
            if self._declared.get(port) is not None:
                cfg[key] = list(self._declared[port])  # type: ignore[arg-type]
        return cfg


@register_layer
class TotalLayer(Layer):
    """The elementwise sum of its inputs (Wolfram's TotalLayer), e.g. a residual connection.

    Args:
        n: number of inputs (in a NetGraph, the number of sources connected).

    Shape:
        - Input1 … Inputn: one shape ``s`` (or shapes that broadcast, aligned at the last
          dimension); Output: ``s``.
    """

    variadic = True
    sequence_support = "positions"

    def __init__(self, n: int = 2) -> None:
        super().__init__()
        self._arity = positive_int(n, "n", "TotalLayer")
        self._setup()

    def infer_outputs(self, shapes: dict[str, MaybeShape]) -> dict[str, MaybeShape]:
        known = [s for s in shapes.values() if s is not None]
        if len(known) < len(shapes):
            return {"Output": None}
        try:
            out = tuple(torch.broadcast_shapes(*known))
        except RuntimeError:
            raise ShapeError("the inputs of a sum must have one shape", where="TotalLayer",
                             got="got " + ", ".join(f"{k} {describe_shape(v)}"
                                                    for k, v in shapes.items()),
                             fix="reshape or project the inputs to one shape first") from None
        return {"Output": out}

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        rank = max(x.dim() for x in xs)
        total = None
        for x in xs:
            x = x if x.dim() == rank else x.reshape(x.shape[0], *([1] * (rank - x.dim())),
                                                     *x.shape[1:])
            total = x if total is None else total + x
        return total  # type: ignore[return-value]

    def get_config(self) -> dict[str, Any]:
        return {"n": self._arity}


@register_layer
class SummationLayer(Layer):
    """The sum of all elements of each example (Wolfram's SummationLayer).

    Shape:
        - Input: ``(*s)``; Output: a scalar.
    """

    def __init__(self, *, input: ShapeLike = None) -> None:
        super().__init__()
        self._setup(Input=input)

    def infer_outputs(self, shapes: dict[str, MaybeShape]) -> dict[str, MaybeShape]:
        return {"Output": ()}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ops.sum(x, dim=tuple(range(1, x.dim()))) if x.dim() > 1 else x

    def get_config(self) -> dict[str, Any]:
        return self._with_input({})


@register_layer
class UnitVectorLayer(Layer):
    """Integers ``0 .. n-1`` to one-hot vectors of length ``n`` (Wolfram's UnitVectorLayer;
    indices are 0-based). The input takes integers, so it has no gradient; an index outside
    ``0 .. n-1`` is an error naming it (checked in eager evaluation).

    Args:
        n: the length of the vectors.
        input: the shape of the input (optional; ``()`` for one integer per example).

    Shape:
        - Input: ``(*s)`` integers; Output: ``(*s, n)``.
    """

    integer_input_ports = frozenset({"Input"})
    sequence_support = "positions"

    def __init__(self, n: int, *, input: ShapeLike = None) -> None:
        super().__init__()
        self.n = positive_int(n, "n", "UnitVectorLayer")
        add_dtype_buffer(self)
        self._setup(Input=input)

    def infer_outputs(self, shapes: dict[str, MaybeShape]) -> dict[str, MaybeShape]:
        s = shapes["Input"]
        return {"Output": None if s is None else tuple(s) + (self.n,)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.is_floating_point() or x.dtype == torch.bool:
            raise NetValueError("UnitVectorLayer takes integer indices",
                                where='UnitVectorLayer, port "Input"',
                                got=f"got a tensor of dtype {x.dtype}", fix="pass integers")
        check_indices(x, self.n, 'UnitVectorLayer, port "Input"',
                      fix=f"indices are 0-based: use 0 to {self.n - 1}, or a larger n")
        return F.one_hot(x.long(), self.n).to(float_dtype(self))

    def get_config(self) -> dict[str, Any]:
        return self._with_input({"n": self.n})

    def config_text(self) -> str:
        return f"UnitVectorLayer({self.n})"
