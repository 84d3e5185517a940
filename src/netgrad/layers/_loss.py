"""Loss layers: ports "Input" and "Target", output "Loss" (one number per example)."""

from __future__ import annotations

from typing import Any

import torch

from .. import ops
from .._errors import NetValueError, ShapeError, did_you_mean
from .._shapes import MaybeShape, ShapeLike, describe_shape, fmt_shape
from ._checks import check_indices
from ._base import Layer, register_layer
from ._checks import real_number

__all__ = ["MeanSquaredLossLayer", "MeanAbsoluteLossLayer", "CrossEntropyLossLayer",
           "ContrastiveLossLayer"]


def _example_mean(x: torch.Tensor) -> torch.Tensor:
    """Mean over every dimension of one example (batch dimension 0 kept)."""
    if x.dim() == 1:
        return x
    return ops.mean(x, dim=tuple(range(1, x.dim())))


class _PairLoss(Layer):
    input_ports = ("Input", "Target")
    output_ports = ("Loss",)
    sequence_support = "mean"  # a sequence's loss is the mean over its own positions

    def __init__(self, *, input: ShapeLike = None) -> None:
        super().__init__()
        self._setup(Input=input, Target=input)

    def complete_inputs(self, shapes):
        shapes = self._merged_inputs(shapes)
        a, b = shapes["Input"], shapes["Target"]
        return {"Input": a if a is not None else b, "Target": b if b is not None else a}

    def infer_outputs(self, shapes: dict[str, MaybeShape]) -> dict[str, MaybeShape]:
        a, b = shapes["Input"], shapes["Target"]
        if a is not None and b is not None and a != b:
            raise ShapeError(f"Target must have the shape of Input, {describe_shape(a)}",
                             where=f'{type(self).__name__}, port "Target"',
                             got=f"got {describe_shape(b)}",
                             fix=f"give targets of shape {fmt_shape(a)} per example")
        return {"Loss": ()}

    def get_config(self) -> dict[str, Any]:
        return self._with_input({})


@register_layer
class MeanSquaredLossLayer(_PairLoss):
    """Mean of ``(Input - Target)²`` over the elements of each example.

    Shape:
        - Input, Target: ``(*s)``; Loss: scalar.
    """

    def forward(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        d = ops.sub(x, target)
        return _example_mean(ops.mul(d, d))


@register_layer
class MeanAbsoluteLossLayer(_PairLoss):
    """Mean of ``|Input - Target|`` over the elements of each example (gradient 0 where equal).

    Shape:
        - Input, Target: ``(*s)``; Loss: scalar.
    """

    def forward(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return _example_mean(ops.abs(ops.sub(x, target)))


_TARGET_FORMS = ("Index", "Probabilities", "Binary")


@register_layer
class CrossEntropyLossLayer(Layer):
    """Cross-entropy between predicted **probabilities** (e.g. after a SoftmaxLayer) and a target.

    Args:
        target: ``"Index"``: Target is a class index (0-based int), Loss = -log Input[Target];
            ``"Probabilities"``: Target is a probability vector, Loss = -Σ Target·log Input;
            ``"Binary"``: Input and Target are probabilities of one event per element,
            Loss = mean of -(t·log p + (1-t)·log(1-p)).

    No eps clamps the probabilities: 0·log 0 is 0 and -log 0 is +∞, as in mathematics.

    Shape:
        - Index: Input ``(C,)`` (or ``(*s, C)``), Target scalar int (or ``(*s)``).
        - Probabilities: Input and Target ``(C,)`` (or ``(*s, C)``).
        - Binary: Input and Target of any equal shape.
        - Loss: scalar.
    """

    input_ports = ("Input", "Target")
    output_ports = ("Loss",)
    sequence_support = "mean"  # a sequence's loss is the mean over its own positions

    def __init__(self, target: str = "Index", *, input: ShapeLike = None) -> None:
        super().__init__()
        if target not in _TARGET_FORMS:
            raise NetValueError(f"CrossEntropyLossLayer's target is one of {list(_TARGET_FORMS)}",
                                where="CrossEntropyLossLayer", got=f"got {target!r}",
                                fix=did_you_mean(target, _TARGET_FORMS,
                                                 aliases={"indices": "Index", "class": "Index",
                                                          "labels": "Index",
                                                          "probs": "Probabilities"}))
        self.target = target
        if target == "Index":
            self.integer_input_ports = frozenset({"Target"})
        self._setup(Input=input)

    def complete_inputs(self, shapes):
        shapes = self._merged_inputs(shapes)
        a, b = shapes["Input"], shapes["Target"]
        if b is None and a is not None and len(a) >= 1:
            b = a[:-1] if self.target == "Index" else a
        if a is None and b is not None and self.target != "Index":
            a = b
        return {"Input": a, "Target": b}

    def infer_outputs(self, shapes: dict[str, MaybeShape]) -> dict[str, MaybeShape]:
        a, b = shapes["Input"], shapes["Target"]
        where = 'CrossEntropyLossLayer, port "Target"'
        if self.target == "Index":
            if a is not None and len(a) == 0:
                raise ShapeError("Input must be a vector of class probabilities",
                                 where='CrossEntropyLossLayer, port "Input"', got="got a scalar",
                                 fix='put a SoftmaxLayer over the classes before it, or use '
                                     'CrossEntropyLossLayer("Binary") for one probability')
            if a is not None and b is not None and b != a[:-1]:
                raise ShapeError(f"Target must be {describe_shape(a[:-1])} of class indices",
                                 where=where, got=f"got {describe_shape(b)}",
                                 fix="give one 0-based class index per example (not a one-hot "
                                     'vector; for those use CrossEntropyLossLayer("Probabilities"))')
        elif a is not None and b is not None and a != b:
            raise ShapeError(f"Target must have the shape of Input, {describe_shape(a)}",
                             where=where, got=f"got {describe_shape(b)}",
                             fix=f"give targets of shape {fmt_shape(a)} per example")
        return {"Loss": ()}

    def forward(self, p: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.target == "Index":
            check_indices(target, p.shape[-1], 'CrossEntropyLossLayer, port "Target"',
                          fix=f"class indices are 0-based: 0 to {p.shape[-1] - 1} for "
                              f"{p.shape[-1]} classes (Wolfram's 1-based labels: subtract 1)")
            picked = p.gather(-1, target.long().unsqueeze(-1)).squeeze(-1)
            return _example_mean(ops.neg(ops.log(picked)))
        if self.target == "Probabilities":
            return _example_mean(ops.neg(ops.sum(ops.xlogy(target, p), dim=-1)))
        return _example_mean(ops.binary_cross_entropy(p, target, reduction="none"))

    def get_config(self) -> dict[str, Any]:
        return self._with_input({"target": self.target})


@register_layer
class ContrastiveLossLayer(_PairLoss):
    """A loss on a distance that should be small for similar pairs and at least ``margin`` for
    dissimilar ones (Wolfram's ContrastiveLossLayer; Hadsell et al. 2006):
    ``Loss = (1 - t)·d² + t·Ramp(margin - d)²``, averaged over the elements of an example.

    "Input" is the distance ``d`` (e.g. the norm of the difference of two embeddings), "Target"
    ``t`` is True (1) where the distance should grow (a dissimilar pair), False (0) where it
    should shrink, as in Wolfram. At ``d = margin`` the gradient is 0 (the kink of Ramp).

    Args:
        margin: the distance beyond which a dissimilar pair costs nothing (default 1;
            Wolfram's default is 0.5).
        input: the shape of Input and Target (optional; usually a scalar, ``()``).

    Shape:
        - Input, Target: ``(*s)``; Loss: scalar.
    """

    def __init__(self, margin: float = 1.0, *, input: ShapeLike = None) -> None:
        self.margin = real_number(margin, "margin", "ContrastiveLossLayer", low=0.0)
        super().__init__(input=input)

    def forward(self, d: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        t = target.to(d.dtype)
        near = ops.mul(ops.mul(d, d), 1.0 - t)
        gap = ops.ramp(self.margin - d)
        return _example_mean(near + ops.mul(ops.mul(gap, gap), t))

    def get_config(self) -> dict[str, Any]:
        return self._with_input({"margin": self.margin})
