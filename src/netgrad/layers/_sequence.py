"""Layers on the sequence dimension: SequenceLastLayer, SequenceMostLayer, SequenceRestLayer,
SequenceReverseLayer, SequenceIndicesLayer.

Each takes a sequence (a first dimension of varying length, or of a fixed length) and honours
each sequence's own length: "last" is the last valid element, "reverse" reverses the valid
part only. Gradients reach exactly the elements an output reads; all others get exactly 0.
"""

from __future__ import annotations

from typing import Any

import torch

from .._errors import NetValueError, ShapeError
from .._sequences import positions_mask
from .._shapes import MaybeShape, ShapeLike, describe_shape, is_varying
from ._base import Layer, register_layer

__all__ = ["SequenceLastLayer", "SequenceMostLayer", "SequenceRestLayer", "SequenceReverseLayer",
           "SequenceIndicesLayer", "reverse_sequences"]


def reverse_sequences(x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """Reverse each sequence of a padded batch ``(B, T, ...)`` within its own length (padding
    stays where it is)."""
    if lengths is None:
        return x.flip(1)
    t = torch.arange(x.shape[1], device=x.device)[None, :]
    n = lengths.to(x.device)[:, None]
    index = torch.where(t < n, n - 1 - t, t)
    index = index.reshape(*index.shape, *([1] * (x.dim() - 2))).expand_as(x)
    return torch.gather(x, 1, index)


def _need_nonempty(lengths: torch.Tensor | None, kind: str, least: int = 1) -> None:
    """Data check (skipped while tracing): every sequence has at least ``least`` elements."""
    if lengths is None or torch.compiler.is_compiling():
        return
    short = (lengths < least).nonzero().flatten()
    if short.numel():
        i = int(short[0])
        raise NetValueError(f"{kind} needs sequences of at least {least} element"
                            f"{'s' if least > 1 else ''}", where=f'{kind}, port "Input"',
                            got=f"got sequence {i} of length {int(lengths[i])}"
                                + (f" (and {short.numel() - 1} more)" if short.numel() > 1 else ""),
                            fix="drop empty sequences from the data, or pad them")


class _SequenceLayer(Layer):
    """A layer on the first (sequence) dimension of its input, given the lengths."""

    sequence_support = "lengths"

    def __init__(self, *, input: ShapeLike = None) -> None:
        super().__init__()
        self._setup(Input=input)

    def _sequence_input(self, shapes: dict[str, MaybeShape]) -> MaybeShape:
        s = shapes["Input"]
        if s is not None and len(s) == 0:
            raise ShapeError("expected a sequence (an array of rank at least 1)",
                             where=f'{type(self).__name__}, port "Input"', got="got a scalar",
                             fix='declare a sequence, e.g. input=("Varying", 8)')
        return s

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor | None:
        """The lengths of the output sequence (None: the output is not a sequence)."""
        return lengths

    def run_sequences(self, inputs, lengths):
        n = lengths.get("Input")
        out = torch.nn.Module.__call__(self, inputs["Input"], lengths=n)
        new = self.output_lengths(n) if n is not None else None
        return {"Output": out}, ({"Output": new} if new is not None else {})

    def get_config(self) -> dict[str, Any]:
        return self._with_input({})


@register_layer
class SequenceLastLayer(_SequenceLayer):
    """The last element of each sequence (at its own length).

    Shape:
        - Input: ``(Varying, *s)`` or ``(n, *s)``; Output: ``s``.
    """

    def infer_outputs(self, shapes):
        s = self._sequence_input(shapes)
        if s is not None and not is_varying(s[0]) and s[0] == 0:
            raise ShapeError("expected a non-empty sequence", where='SequenceLastLayer, port "Input"',
                             got=f"got {describe_shape(s)}")
        return {"Output": None if s is None else tuple(s[1:])}

    def output_lengths(self, lengths):
        return None

    def forward(self, x: torch.Tensor, *, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """``x`` ``(B, T, *s)``, ``lengths`` ``(B,)`` (None: all T) → ``(B, *s)``."""
        if lengths is None:
            return x[:, -1]
        _need_nonempty(lengths, "SequenceLastLayer")
        last = (lengths.to(x.device) - 1).clamp_min(0)
        return x[torch.arange(x.shape[0], device=x.device), last]


class _Drop(_SequenceLayer):
    """SequenceMost / SequenceRest: drop one element at an end."""

    def infer_outputs(self, shapes):
        s = self._sequence_input(shapes)
        if s is None:
            return {"Output": None}
        if is_varying(s[0]):
            return {"Output": s}
        if s[0] == 0:
            raise ShapeError("expected a non-empty sequence",
                             where=f'{type(self).__name__}, port "Input"',
                             got=f"got {describe_shape(s)}")
        return {"Output": (s[0] - 1,) + tuple(s[1:])}

    def output_lengths(self, lengths):
        return lengths - 1


@register_layer
class SequenceMostLayer(_Drop):
    """Every element but the last of each sequence (length n → n - 1).

    Shape:
        - Input: ``(Varying, *s)`` or ``(n, *s)``; Output: ``(Varying, *s)`` or ``(n - 1, *s)``.
    """

    def forward(self, x: torch.Tensor, *, lengths: torch.Tensor | None = None) -> torch.Tensor:
        _need_nonempty(lengths, "SequenceMostLayer")
        return x[:, :-1]


@register_layer
class SequenceRestLayer(_Drop):
    """Every element but the first of each sequence (length n → n - 1).

    Shape:
        - Input: ``(Varying, *s)`` or ``(n, *s)``; Output: ``(Varying, *s)`` or ``(n - 1, *s)``.
    """

    def forward(self, x: torch.Tensor, *, lengths: torch.Tensor | None = None) -> torch.Tensor:
        _need_nonempty(lengths, "SequenceRestLayer")
        return x[:, 1:]


@register_layer
class SequenceReverseLayer(_SequenceLayer):
    """Each sequence reversed (within its own length).

    Shape:
        - Input: ``(Varying, *s)`` or ``(n, *s)``; Output: the same.
    """

    def infer_outputs(self, shapes):
        return {"Output": self._sequence_input(shapes)}

    def forward(self, x: torch.Tensor, *, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return reverse_sequences(x, lengths)


@register_layer
class SequenceIndicesLayer(_SequenceLayer):
    """The position of each element of a sequence: 0, 1, …, n - 1 (integers, e.g. for an
    EmbeddingLayer of positions). Wolfram counts from 1; netgrad's indices are 0-based like
    its class indices.

    Args:
        n: clip the indices at ``n - 1`` (so they always fit an embedding of ``n`` rows).

    Shape:
        - Input: ``(Varying, *s)`` or ``(m, *s)`` (any values); Output: ``(Varying,)`` or
          ``(m,)`` integers.
    """

    def __init__(self, n: int | None = None, *, input: ShapeLike = None) -> None:
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
            raise NetValueError("SequenceIndicesLayer's n is a positive int (or None)",
                                where="SequenceIndicesLayer", got=f"got {n!r}")
        self.n = n
        super().__init__(input=input)

    def infer_outputs(self, shapes):
        s = self._sequence_input(shapes)
        return {"Output": None if s is None else (s[0],)}

    def forward(self, x: torch.Tensor, *, lengths: torch.Tensor | None = None) -> torch.Tensor:
        idx = torch.arange(x.shape[1], device=x.device).expand(x.shape[0], x.shape[1])
        if self.n is not None:
            idx = idx.clamp_max(self.n - 1)
        if lengths is not None:
            idx = idx * positions_mask(lengths.to(x.device), x.shape[1])
        return idx

    def get_config(self) -> dict[str, Any]:
        return self._with_input({"n": self.n} if self.n is not None else {})
