"""SoftmaxLayer and DropoutLayer."""

from __future__ import annotations

from typing import Any

import torch

from .. import ops
from .._errors import NetTypeError, NetValueError
from .._shapes import MaybeShape, ShapeLike
from ._aggregation import resolve_levels
from ._base import Layer, register_layer

__all__ = ["SoftmaxLayer", "DropoutLayer"]


@register_layer
class SoftmaxLayer(Layer):
    """Normalized exponential over one level (default the last).

    A slice that is all ``-inf`` (fully masked) gives zeros with gradient 0.

    Shape:
        - Input: ``(*s)`` with rank ≥ 1; Output: the same.
    """

    def __init__(self, level: int = -1, *, input: ShapeLike = None) -> None:
        super().__init__()
        if isinstance(level, bool) or not isinstance(level, int):
            raise NetTypeError("SoftmaxLayer's level is an int (1 the first dimension of an "
                               "example, -1 the last)", where="SoftmaxLayer",
                               got=f"got {type(level).__name__} {level!r}",
                               fix="e.g. SoftmaxLayer() (the last level) or SoftmaxLayer(1)")
        self.level = level
        self._setup(Input=input)

    def sequence_mode(self, shapes):
        s = shapes.get("Input")
        if s is not None and 1 in resolve_levels(self.level, len(s), 'SoftmaxLayer, port "Input"'):
            return None  # normalizing over the sequence itself would need masks
        return "positions"

    def sequence_fix(self) -> str:
        return "normalize over a level of each element (level=-1, the default); over the " \
               "sequence use AttentionLayer"

    def infer_outputs(self, shapes: dict[str, MaybeShape]) -> dict[str, MaybeShape]:
        s = shapes["Input"]
        if s is not None:
            resolve_levels(self.level, len(s), 'SoftmaxLayer, port "Input"')
        return {"Output": s}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        (lv,) = resolve_levels(self.level, x.dim() - 1, "SoftmaxLayer")
        return ops.softmax(x, dim=lv)

    def get_config(self) -> dict[str, Any]:
        return self._with_input({"level": self.level})


@register_layer
class DropoutLayer(Layer):
    """Sets each element to 0 with probability ``p`` during training (scaling the rest by
    ``1 / (1 - p)``); the identity when a net is evaluated (Wolfram's ``"Test"`` mode).

    Shape:
        - Input: any; Output: the same.
    """

    sequence_support = "positions"

    def __init__(self, p: float = 0.5, *, input: ShapeLike = None) -> None:
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float)):
            raise NetTypeError("the dropout probability is a number in [0, 1)",
                               where="DropoutLayer", got=f"got {type(p).__name__} {p!r}",
                               fix="e.g. DropoutLayer(0.5)")
        if not 0.0 <= float(p) < 1.0:
            raise NetValueError("the dropout probability must lie in [0, 1)",
                                where="DropoutLayer", got=f"got p={p!r}",
                                fix="e.g. DropoutLayer(0.5); p=0 turns dropout off")
        self.p = float(p)
        self._setup(Input=input)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        return torch.nn.functional.dropout(x, self.p, training=True)

    def get_config(self) -> dict[str, Any]:
        return self._with_input({"p": self.p})
