"""Training on sequences of different lengths: the trainer's side of sequence ports.

A port whose shape has a varying first dimension (``("Varying", 8)``, ``("Varying",)`` for
tokens) takes, in every data form the trainer accepts, a list of sequences of different lengths
(one per example; a torch Dataset or generator may yield such lists too). They are padded once
(:func:`netgrad._sequences.pad_batch`) and each port's lengths travel **in the batch** under the
key ``"<port>#lengths"``, so the sources (shuffling with ``index_select``, sharding, micro-
batches) treat them like any other column. Just before the net runs, :func:`split_lengths`
takes them out again, cuts each padded tensor to its batch's longest sequence (on the CPU, where
that costs no device read) and the step calls ``module.run_ports(inputs, lengths=lengths)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from .._sequences import pad_batch, ragged_shape
from .._shapes import MaybeShape, has_varying

__all__ = ["LENGTHS_SUFFIX", "lengths_key", "is_lengths_key", "to_sequence_tensors",
           "split_lengths", "ragged", "shape_of_ragged"]

LENGTHS_SUFFIX = "#lengths"


def lengths_key(port: str) -> str:
    return port + LENGTHS_SUFFIX


def is_lengths_key(key: str) -> bool:
    return isinstance(key, str) and key.endswith(LENGTHS_SUFFIX)


def ragged(values: list[Any]) -> bool:
    """Whether a port's examples (one value each) differ in shape."""
    try:
        shapes = {tuple(np.shape(v)) for v in values}
    except ValueError:
        return True
    return len(shapes) > 1


def shape_of_ragged(value: Any) -> MaybeShape:
    """The per-example shape ``(Varying, *s)`` a ragged batch implies (None if it is not one)."""
    return ragged_shape(value)


def to_sequence_tensors(value: Any, shape: MaybeShape, dtype: torch.dtype, where: str,
                        integer: bool) -> dict[str, torch.Tensor] | None:
    """For a sequence port: ``{port data, lengths}`` as two tensors (padded, (N,) int64);
    None when the port is not a sequence port."""
    if not has_varying(shape):
        return None
    padded, lengths = pad_batch(value, shape, dtype, torch.device("cpu"), where, integer)
    return {"data": padded, "lengths": lengths}


def split_lengths(batch: Mapping[str, torch.Tensor]
                  ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor] | None]:
    """A batch → (its port tensors, the sequence ports' lengths or None); padded CPU tensors
    are cut to the batch's longest sequence."""
    if not any(is_lengths_key(k) for k in batch):
        return dict(batch), None
    lengths = {k[:-len(LENGTHS_SUFFIX)]: v for k, v in batch.items() if is_lengths_key(k)}
    inputs = {k: v for k, v in batch.items() if not is_lengths_key(k)}
    for p, n in lengths.items():
        x = inputs[p]
        if x.device.type == "cpu" and n.numel() and x.dim() >= 2:
            longest = int(n.max())
            if longest < x.shape[1]:
                inputs[p] = x[:, :longest]
    return inputs, lengths
