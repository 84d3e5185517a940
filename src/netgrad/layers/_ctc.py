"""CTCLossLayer: the connectionist temporal classification loss of a sequence of probability
vectors against a shorter target sequence of class indices."""

from __future__ import annotations

from typing import Any

import torch

from .. import ops
from .._errors import NetValueError, ShapeError
from .._shapes import ShapeLike, describe_shape, is_varying
from ._base import Layer, register_layer

__all__ = ["CTCLossLayer"]


@register_layer
class CTCLossLayer(Layer):
    """``Loss = -log p(Target | Input)``, summed over every alignment of the target to the input
    (Wolfram's CTCLossLayer: the **last** class is the blank).

    Args:
        zero_infinity: an impossible alignment (an input too short for the target and its
            repeats, or probabilities 0 where every alignment needs the label) gives Loss 0
            instead of +inf; the gradient is 0 either way (torch's ``zero_infinity``).
        input: the input shape, ``("Varying", C)`` or ``(T, C)``.

    Shape:
        - Input: a sequence of probability vectors ``(Varying, C)`` (after a SoftmaxLayer);
          classes 0…C-2 are labels, C-1 the blank.
        - Target: ``(Varying,)`` class indices in 0…C-2 (may be empty: the all-blank alignment).
        - Loss: scalar.
    """

    input_ports = ("Input", "Target")
    output_ports = ("Loss",)
    integer_input_ports = frozenset({"Target"})
    sequence_support = "lengths"

    def __init__(self, *, zero_infinity: bool = False, input: ShapeLike = None) -> None:
        super().__init__()
        self.zero_infinity = bool(zero_infinity)
        self._setup(Input=input)

    def complete_inputs(self, shapes):
        shapes = self._merged_inputs(shapes)
        if shapes.get("Target") is None and shapes.get("Input") is not None:
            shapes["Target"] = ("Varying",) if is_varying(shapes["Input"][0]) else None
        return shapes

    def infer_outputs(self, shapes):
        a, b = shapes["Input"], shapes.get("Target")
        if a is not None and len(a) != 2:
            raise ShapeError("expected a sequence of probability vectors, (Varying, C)",
                             where='CTCLossLayer, port "Input"', got=f"got {describe_shape(a)}")
        if a is not None and a[1] < 2:
            raise ShapeError("expected at least 2 classes (a label and the blank, which is last)",
                             where='CTCLossLayer, port "Input"', got=f"got {describe_shape(a)}")
        if b is not None and len(b) != 1:
            raise ShapeError("expected a sequence of class indices, (Varying,)",
                             where='CTCLossLayer, port "Target"', got=f"got {describe_shape(b)}")
        return {"Loss": ()}

    def run_sequences(self, inputs, lengths):
        out = torch.nn.Module.__call__(self, inputs["Input"], inputs["Target"],
                                       input_lengths=lengths.get("Input"),
                                       target_lengths=lengths.get("Target"))
        return {"Loss": out}, {}

    def _check_targets(self, target: torch.Tensor, lengths, classes: int) -> None:
        if torch.compiler.is_compiling() or target.numel() == 0:
            return
        valid = torch.ones_like(target, dtype=torch.bool) if lengths is None else \
            torch.arange(target.shape[1], device=target.device)[None, :] < lengths.to(target.device)[:, None]
        bad = valid & ((target < 0) | (target >= classes - 1))
        if bool(bad.any()):
            b, t = (int(v) for v in bad.nonzero()[0])
            raise NetValueError(f"targets are class indices 0…{classes - 2} (class {classes - 1} "
                                "is the blank)", where='CTCLossLayer, port "Target"',
                                got=f"got {int(target[b, t])} at position {t} of sequence {b}")

    def forward(self, x: torch.Tensor, target: torch.Tensor, *,
                input_lengths: torch.Tensor | None = None,
                target_lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Probabilities ``(B, T, C)``, targets ``(B, S)``, lengths ``(B,)`` → ``(B,)``."""
        self._check_targets(target, target_lengths, x.shape[-1])
        return ops.ctc_loss(ops.log(x), target, input_lengths, target_lengths,
                            blank=x.shape[-1] - 1, zero_infinity=self.zero_infinity)

    def get_config(self) -> dict[str, Any]:
        cfg = self._with_input({})
        if self.zero_infinity:
            cfg["zero_infinity"] = True
        return cfg

