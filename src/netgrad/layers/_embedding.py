"""EmbeddingLayer: integer indices to learned vectors."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from .._errors import NetValueError, ShapeError
from .._shapes import MaybeShape, ShapeLike
from ._base import Layer, register_layer
from ._checks import check_indices, positive_int

__all__ = ["EmbeddingLayer"]


@register_layer
class EmbeddingLayer(Layer):
    """Maps each integer ``i`` (0-based: ``0 .. n-1``) to row ``i`` of the learned "Weights".

    Wolfram's ``EmbeddingLayer[size, n]`` takes the integers 1..n; netgrad's indices are 0-based,
    like every position and class index in netgrad. An index outside ``0 .. n-1`` is an error
    naming the offending value (checked in eager evaluation; skipped while tracing and inside
    ``torch.func`` transforms, where no value can be read).

    Args:
        size: length of each embedding vector.
        n: number of indices (rows of "Weights"); optional when ``weights`` are given.
        input: shape of the input (an int for a sequence of that length, ``()`` for one
            index per example; default unknown: any shape).
        weights: initial values of "Weights", shape ``(n, size)``.

    The gradient of "Weights" is the sum of the incoming gradients of every use of a row
    (rows not used get exactly 0); the indices have no gradient. NetInitialize gives the
    weights standard normal values (torch's ``nn.Embedding``) for "Kaiming" and "Random",
    Xavier-uniform or orthogonal values for those methods.

    Shape:
        - Input: ``(*s)`` integers in ``0 .. n-1``.
        - Output: ``(*s, size)``.
        - Weights: ``(n, size)``.
    """

    array_names = ("Weights",)
    integer_input_ports = frozenset({"Input"})
    sequence_support = "positions"

    def __init__(self, size: int, n: int | None = None, *, input: ShapeLike = None,
                 weights: Any = None) -> None:
        super().__init__()
        self.size = positive_int(size, "size", "EmbeddingLayer")
        if weights is not None:
            w = torch.as_tensor(weights) if not isinstance(weights, torch.Tensor) else weights
            if w.dim() != 2 or w.shape[1] != self.size or (n is not None and w.shape[0] != n):
                raise ShapeError(f"EmbeddingLayer({size}, {n}) needs weights of shape "
                                 f"({n if n is not None else 'n'}, {size})",
                                 where="EmbeddingLayer", got=f"got weights of shape "
                                 f"{tuple(w.shape)}", fix="pass weights with one row per index")
            n = w.shape[0] if n is None else n
        if n is None:
            raise NetValueError("EmbeddingLayer needs the number of indices n",
                                where="EmbeddingLayer", got=f"got EmbeddingLayer({size})",
                                fix=f"EmbeddingLayer({size}, n) for indices 0 .. n-1, or "
                                    "weights=... of shape (n, size)")
        self.n = positive_int(n, "n", "EmbeddingLayer")
        self._setup(Input=input)
        if weights is not None:
            self.set_array("Weights", weights)

    def infer_outputs(self, shapes: dict[str, MaybeShape]) -> dict[str, MaybeShape]:
        s = shapes["Input"]
        return {"Output": None if s is None else tuple(s) + (self.size,)}

    def array_shapes_for(self, shapes: dict[str, MaybeShape]) -> dict[str, MaybeShape]:
        return {"Weights": (self.n, self.size)}

    def init_array(self, name: str, tensor: torch.Tensor, method: str,
                   generator: torch.Generator) -> None:
        if method == "Xavier":
            bound = math.sqrt(6.0 / (self.n + self.size))
            tensor.uniform_(-bound, bound, generator=generator)
        elif method == "Orthogonal":
            torch.nn.init.orthogonal_(tensor, generator=generator)
        else:
            tensor.normal_(0.0, 1.0, generator=generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.is_floating_point() or x.dtype == torch.bool:
            raise NetValueError("EmbeddingLayer takes integer indices", where='EmbeddingLayer, '
                                'port "Input"', got=f"got a tensor of dtype {x.dtype}",
                                fix="pass integer (long) tensors, e.g. x.long()")
        check_indices(x, self.n, 'EmbeddingLayer, port "Input"',
                      fix=f"indices are 0-based: use 0 to {self.n - 1}, or a larger n")
        return F.embedding(x, self.Weights)

    def get_config(self) -> dict[str, Any]:
        return self._with_input({"size": self.size, "n": self.n})

    def config_text(self) -> str:
        return f"EmbeddingLayer({self.size}, {self.n})"
