"""LinearLayer: ``Weights · x + Biases``."""

from __future__ import annotations

import math
from typing import Any

import torch

from .. import ops
from .._errors import NetValueError, ShapeError
from .._shapes import MaybeShape, ShapeLike, as_shape, describe_shape
from ._base import Layer, register_layer

__all__ = ["LinearLayer"]


@register_layer
class LinearLayer(Layer):
    """A trainable affine map, ``Output = Weights · Flatten(Input) + Biases``.

    Args:
        n: output size: an int for a vector, a tuple for an array, ``()`` for a scalar.
        input: shape of the input (optional; inferred from the net or the weights).
        weights: initial values of "Weights", shape ``(prod(n), prod(input))``.
        biases: initial values of "Biases", shape ``(prod(n),)``; ``False`` for no biases.

    Shape:
        - Input: ``(*input)`` per example, any rank (it is flattened).
        - Output: ``(*n)`` per example.
        - Weights: ``(prod(n), prod(input))``; Biases: ``(prod(n),)``.
    """

    array_names = ("Weights", "Biases")
    Weights: torch.Tensor | None
    Biases: torch.Tensor | None

    def __init__(self, n: ShapeLike, *, input: ShapeLike = None, weights: Any = None,
                 biases: Any = None) -> None:
        super().__init__()
        shape = as_shape(n, what="LinearLayer's output size", where="LinearLayer")
        if shape is None or any(d == 0 for d in shape):
            raise NetValueError("LinearLayer's output size is at least 1 in every dimension",
                                where="LinearLayer", got=f"got n={n!r}",
                                fix="e.g. LinearLayer(3) for 3 outputs, LinearLayer(()) for a scalar")
        self.n = shape
        self.out_features = math.prod(self.n)
        w = self._weights_and_biases(weights, biases)
        if w is not None:
            if w.dim() != 2 or w.shape[0] != self.out_features:
                raise ShapeError(f"LinearLayer({self.n}) needs weights of shape "
                                 f"({self.out_features}, input size)",
                                 where="LinearLayer", got=f"got weights of shape {tuple(w.shape)}",
                                 fix=f"pass weights of shape ({self.out_features}, n_inputs); "
                                     "for PyTorch's nn.Linear that is its .weight as it is")
            if input is None:
                input = (w.shape[1],)
        self._setup(Input=input)

    def infer_outputs(self, shapes: dict[str, MaybeShape]) -> dict[str, MaybeShape]:
        s = shapes["Input"]
        if s is not None and len(s) == 0:
            raise ShapeError("expected an array of rank at least 1",
                             where='LinearLayer, port "Input"', got="got a scalar",
                             fix="reshape the input to a vector, e.g. ReshapeLayer((1,))")
        return {"Output": self.n}

    def array_shapes_for(self, shapes: dict[str, MaybeShape]) -> dict[str, MaybeShape]:
        s = shapes["Input"]
        arrays: dict[str, MaybeShape] = {
            "Weights": None if s is None else (self.out_features, math.prod(s))}
        if self.has_biases:
            arrays["Biases"] = (self.out_features,)
        return arrays

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.Weights is None:
            raise NetValueError("LinearLayer's input size is unknown, so it has no weights yet",
                                where="LinearLayer", got=f"got input {describe_shape(tuple(x.shape[1:]))}",
                                fix="declare it: LinearLayer(n, input=size)")
        y = ops.linear(x.flatten(1), self.Weights, self.Biases if self.has_biases else None)
        return y.reshape(x.shape[0], *self.n)

    def get_config(self) -> dict[str, Any]:
        cfg = self._with_input({"n": list(self.n) if len(self.n) != 1 else self.n[0]})
        if not self.has_biases:
            cfg["biases"] = False
        return cfg

    def config_text(self) -> str:
        n = self.n[0] if len(self.n) == 1 else self.n
        return f"LinearLayer({n}{'' if self.has_biases else ', biases=False'})"
