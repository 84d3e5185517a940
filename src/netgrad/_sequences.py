"""Batches of sequences of different lengths: padding, lengths and masks.

Inside a net, a batch of sequences for a port of shape ``(Varying, *s)`` is one padded tensor
``(batch, max_length, *s)`` plus ``lengths`` ``(batch,)`` (int64): sequence ``b`` is
``padded[b, :lengths[b]]`` and the rest is padding, whose values never reach a valid position
(every layer that mixes positions masks it) and whose gradient is exactly 0.

* :class:`SequenceBatch` is that pair as a value users can pass in and get back.
* :func:`pad_batch` turns what users give (a list of sequences, a SequenceBatch, a rectangular
  array of equal-length sequences) into the pair, with errors that name the port and example.
* :func:`positions_mask`, :func:`masked_mean`, :func:`common_lengths` are what layers use.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

import numpy as np
import torch

from ._errors import NetTypeError, NetValueError, ShapeError
from ._shapes import MaybeShape, Shape, describe_shape, fmt_shape

__all__ = ["SequenceBatch", "pad_batch", "sequence_tensor", "positions_mask", "masked_mean",
           "mask_padding", "common_lengths", "is_sequence_batch_data", "ragged_shape",
           "split_sequences"]


class SequenceBatch:
    """A batch of sequences as one padded array and the length of each sequence.

    Args:
        data: ``(batch, max_length, *s)``, a tensor or array-like; entries past a sequence's
            length are padding (their values are ignored).
        lengths: ``(batch,)`` ints in ``[0, max_length]``.

    ``len(batch)`` is the number of sequences; ``batch[i]`` is sequence ``i`` without padding;
    ``list(batch)`` all of them. Nets return a SequenceBatch (padding set to 0) for a
    SequenceBatch of torch tensors given to a sequence port.
    """

    __slots__ = ("data", "lengths", "is_torch")

    def __init__(self, data: Any, lengths: Any) -> None:
        self.is_torch = isinstance(data, torch.Tensor)
        self.data = data if self.is_torch else torch.as_tensor(np.asarray(data))
        self.lengths = torch.as_tensor(lengths if not isinstance(lengths, torch.Tensor)
                                       else lengths.detach(), dtype=torch.long).cpu()
        if self.data.dim() < 2 or self.lengths.dim() != 1 or \
                self.lengths.shape[0] != self.data.shape[0]:
            raise ShapeError("a SequenceBatch is data (batch, max_length, ...) and lengths "
                             "(batch,)", where="SequenceBatch",
                             got=f"got data of shape {fmt_shape(tuple(self.data.shape))} and lengths "
                                 f"of shape {fmt_shape(tuple(self.lengths.shape))}")
        if self.lengths.numel():
            lo, hi = int(self.lengths.min()), int(self.lengths.max())
            if lo < 0 or hi > self.data.shape[1]:
                raise NetValueError(f"lengths lie in [0, {self.data.shape[1]}] (the padded length)",
                                    where="SequenceBatch", got=f"got lengths {self.lengths.tolist()}")

    def __len__(self) -> int:
        return self.data.shape[0]

    def __getitem__(self, i: int):
        return self.data[i, :int(self.lengths[i])]

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __repr__(self) -> str:
        return (f"SequenceBatch({len(self)} sequences of lengths {self.lengths.tolist()}, "
                f"padded to {fmt_shape(tuple(self.data.shape[1:]))})")


def is_sequence_batch_data(value: Any, shape: MaybeShape) -> bool:
    """Whether ``value`` is a batch (not one example) for a port of sequence shape ``shape``."""
    if isinstance(value, SequenceBatch):
        return True
    rank = len(shape)
    if isinstance(value, (torch.Tensor, np.ndarray)):
        return value.ndim == rank + 1
    if isinstance(value, (list, tuple)):
        if not value:
            return True
        if all(isinstance(v, (torch.Tensor, np.ndarray)) for v in value):
            return True
        try:
            a = np.asarray(value)
        except ValueError:
            return True  # ragged: a list of sequences
        if a.dtype == object:
            return True
        return a.ndim == rank + 1
    return False


def ragged_shape(value: Any) -> MaybeShape:
    """For data given to a port of unknown shape: ``(Varying, *s)`` when it is a SequenceBatch
    or a list of arrays ``(length_i, *s)`` whose lengths differ; otherwise None."""
    from ._shapes import Varying
    if isinstance(value, SequenceBatch):
        return cast(Shape, (Varying,) + tuple(value.data.shape[2:]))
    if not isinstance(value, (list, tuple)) or len(value) < 2:
        return None
    try:
        shapes = [tuple(np.shape(v)) for v in value]
    except ValueError:
        return None
    if any(len(s) == 0 for s in shapes) or len({s[1:] for s in shapes}) != 1 or \
            len({s[0] for s in shapes}) == 1:
        return None
    return cast(Shape, (Varying,) + shapes[0][1:])


def sequence_tensor(value: Any, shape: MaybeShape, dtype: torch.dtype, device: torch.device,
                    where: str, integer: bool = False) -> tuple[torch.Tensor, torch.Tensor, str]:
    """A port's data for a sequence port → ``(padded, lengths, form)``; ``form`` is how the user
    gave it, so results come back the same way: ``"one"`` (one sequence), ``"list"`` (a list of
    sequences), ``"batch"`` (a SequenceBatch) or ``"array"`` (equal-length sequences as one
    array)."""
    if isinstance(value, SequenceBatch):
        form = "batch"
    elif not is_sequence_batch_data(value, shape):
        form, value = "one", [value]
    elif isinstance(value, (torch.Tensor, np.ndarray)):
        form = "array"
    else:
        form = "list"
    padded, lengths = pad_batch(value, shape, dtype, device, where, integer)
    return padded, lengths, form


def _as_array(v: Any, integer: bool, where: str, i: int) -> torch.Tensor:
    if isinstance(v, torch.Tensor):
        return v
    try:
        a = np.asarray(v)
    except ValueError:
        a = None
    if a is None or a.dtype == object:
        raise NetTypeError("each sequence must be a rectangular array", where=where,
                           got=f"got a ragged {type(v).__name__} as sequence {i}")
    if not integer and not np.issubdtype(a.dtype, np.number) and a.dtype != bool:
        raise NetTypeError("expected numbers", where=where, got=f"got {a.dtype} in sequence {i}")
    return torch.as_tensor(a)


def pad_batch(value: Any, shape: MaybeShape, dtype: torch.dtype, device: torch.device,
              where: str, integer: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch of sequences for a port of shape ``(Varying, *s)`` → ``(padded, lengths)``.

    ``value``: a list of sequences (each an array-like ``(length_i, *s)``), a
    :class:`SequenceBatch`, or an array ``(batch, length, *s)`` of equal-length sequences.
    Integer ports (tokens, class indices) are padded with 0, others with 0.0.
    """
    inner = tuple(shape[1:]) if shape is not None else None
    target = torch.long if integer else dtype
    if isinstance(value, SequenceBatch):
        data, lengths = value.data, value.lengths
        if inner is not None and tuple(data.shape[2:]) != inner:
            raise ShapeError(f"expected {describe_shape(shape)}", where=where,
                             got=f"got a SequenceBatch whose elements have shape "
                                 f"{fmt_shape(tuple(data.shape[2:]))}")
        return _convert(data, target, device, where, integer), lengths.to(device)
    if isinstance(value, (torch.Tensor, np.ndarray)):
        data = torch.as_tensor(value)
        if data.dim() < 2 or (inner is not None and tuple(data.shape[2:]) != inner):
            raise ShapeError(f"expected a batch of {describe_shape(shape)[2:]}", where=where,
                             got=f"got an array of shape {fmt_shape(tuple(data.shape))}",
                             fix="give a list of sequences (each of shape (length, ...)), or a "
                                 "SequenceBatch(padded, lengths)")
        lengths = torch.full((data.shape[0],), data.shape[1], dtype=torch.long, device=device)
        return _convert(data, target, device, where, integer), lengths
    if not isinstance(value, (list, tuple)):
        raise NetTypeError("a batch of sequences is a list of arrays, a SequenceBatch or an "
                           "array (batch, length, ...)", where=where,
                           got=f"got {type(value).__name__}")
    seqs = [_as_array(v, integer, where, i) for i, v in enumerate(value)]
    for i, s in enumerate(seqs):
        if s.dim() == 0 or (inner is not None and tuple(s.shape[1:]) != inner):
            want = f"each sequence of shape (length, {', '.join(map(str, inner))})" if inner \
                else "each sequence a vector (length,)"
            raise ShapeError(f"expected {describe_shape(shape)}: {want}", where=where,
                             got=f"got sequence {i} of shape {fmt_shape(tuple(s.shape))}")
    if inner is None:
        shapes = {tuple(s.shape[1:]) for s in seqs}
        if len(shapes) > 1:
            raise ShapeError("every element of every sequence has the same shape", where=where,
                             got=f"got element shapes {sorted(shapes)[:3]}")
        inner = shapes.pop() if shapes else ()
    lengths = torch.tensor([s.shape[0] for s in seqs], dtype=torch.long)
    longest = int(lengths.max()) if len(seqs) else 0
    padded = torch.zeros((len(seqs), longest, *inner), dtype=target, device=device)
    for i, s in enumerate(seqs):
        padded[i, :s.shape[0]] = _convert(s, target, device, f"{where}, sequence {i}", integer)
    return padded, lengths.to(device)


def _convert(t: torch.Tensor, target: torch.dtype, device, where: str, integer: bool) -> torch.Tensor:
    if integer:
        if t.is_floating_point() and not torch.equal(t, t.round()):
            raise NetValueError("expected integers (tokens or class indices)", where=where,
                                got="got non-integer values")
        if t.dtype == torch.bool or t.is_complex():
            raise NetTypeError("expected integers (tokens or class indices)", where=where,
                               got=f"got {t.dtype}")
    elif t.is_complex():
        raise NetTypeError("expected real numbers", where=where, got=f"got {t.dtype}")
    return t.to(device=device, dtype=target)


def positions_mask(lengths: torch.Tensor, max_length: int) -> torch.Tensor:
    """``(batch, max_length)`` booleans: True at the valid positions of each sequence."""
    return torch.arange(max_length, device=lengths.device)[None, :] < lengths[:, None]


def mask_padding(values: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """A padded batch ``(batch, max_length, ...)`` with its padding set to 0 (gradient 0 there)."""
    from . import ops
    keep = positions_mask(lengths.to(values.device), values.shape[1])
    keep = keep.reshape(*keep.shape, *([1] * (values.dim() - 2)))
    if values.is_floating_point():
        return ops.where(keep, values, 0.0)
    return torch.where(keep, values, torch.zeros((), dtype=values.dtype, device=values.device))


def masked_mean(values: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """The mean of ``values`` ``(batch, max_length)`` over each sequence's valid positions
    (padding gets gradient exactly 0; an empty sequence gives 0)."""
    from . import ops
    keep = positions_mask(lengths.to(values.device), values.shape[1])
    total = ops.sum(ops.where(keep, values, 0.0), 1)
    return total / lengths.to(device=values.device, dtype=values.dtype).clamp_min(1)


def common_lengths(lengths: Mapping[str, torch.Tensor], where: str) -> torch.Tensor:
    """The one set of lengths of several sequence inputs that must align position by position
    (checked outside tracing; an error names the ports and the lengths)."""
    items = list(lengths.items())
    p0, first = items[0]
    if len(items) > 1 and not torch.compiler.is_compiling():
        for p, other in items[1:]:
            if other is not first and not torch.equal(other, first):
                raise ShapeError("sequences that are combined position by position must have "
                                 "the same lengths", where=where,
                                 got=f'got lengths {first.tolist()} at port "{p0}" and '
                                     f'{other.tolist()} at port "{p}"')
    return first


def split_sequences(t: torch.Tensor, lengths: torch.Tensor) -> Sequence[torch.Tensor]:
    """A padded batch → the list of its sequences without padding."""
    return [t[i, :int(n)] for i, n in enumerate(lengths.tolist())]
