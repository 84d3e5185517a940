"""Training data: every accepted form, turned into batches of tensors by port name.

Forms (``N`` examples):

* ``(inputs, targets)``: two array-likes of N examples each (``inputs`` may be a dict of input
  ports to arrays for a net with several inputs, ``targets`` a dict of output ports to targets
  for a net with several outputs);
* ``[(input, target), ...]``: a list of examples (or a list of dicts of port → one example);
* ``{port: array, ...}``: arrays of N examples by port name (the net's inputs and
  ``"Target"``, or for a net that computes its own loss just its inputs);
* an array-like alone: the inputs of a net that computes its own loss (one input port);
* a :class:`torch.utils.data.Dataset` whose items are ``(input, target)`` pairs or dicts;
* a :class:`torch.utils.data.DataLoader` (or any re-iterable of batches): its batches, each
  round, in its own order;
* a generator (any one-shot iterator) of batches: training ends when it is exhausted;
* a function ``f(info)`` returning an iterable of batches for one round, where ``info`` is
  ``{"round": r, "batch_size": b}`` (Wolfram's generator functions).

In-memory data and Datasets are shuffled each round by a generator seeded with
``(seed, round)``, so a resumed run sees exactly the batches an uninterrupted run would.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from .._errors import NetKeyError, NetTypeError, NetValueError, ShapeError
from ..encoders._attach import encode_ports
from ..net._data import to_tensor as _to_tensor
from .._shapes import describe_shape, fmt_shape, has_varying
from ._options import WHERE, call_user, check_arity
from ._sequences import lengths_key, ragged, to_sequence_tensors

__all__ = ["split_example_data", "Source", "InMemory", "Stream", "make_source", "round_seed",
           "check_labels", "check_not_empty"]

TARGET = "Target"


def round_seed(seed: int, round_index: int) -> int:
    """The shuffle seed of one round (also used on resume)."""
    return (seed * 1_000_003 + round_index * 7919 + 12345) % (2 ** 63 - 1)


def _is_array_like(x: Any) -> bool:
    return isinstance(x, (torch.Tensor, np.ndarray, list, tuple, int, float))


def split_example_data(data: Any, input_ports: Sequence[str], target_ports: Sequence[str],
                       own_loss: bool, what: str, coders: Mapping[str, Any] | None = None,
                       per_row: bool = False) -> dict[str, Any]:
    """One batch (or the whole in-memory data set) in any of the pair/dict/array forms →
    ``{port: array}`` with the net's inputs and the target ports; ports with ``coders``
    (:func:`netgrad.encoders._attach.training_coders`) are encoded (images → arrays, labels →
    class indices), one example each when ``per_row``."""
    out = _split_example_data(data, input_ports, target_ports, own_loss, what)
    if coders:
        out = encode_ports(coders, out, batch=not per_row, where=f"{WHERE}, {what}")
    return out


def _split_example_data(data: Any, input_ports: Sequence[str], target_ports: Sequence[str],
                        own_loss: bool, what: str) -> dict[str, Any]:
    where = f"{WHERE}, {what}"
    inputs = list(input_ports)
    if isinstance(data, list) and len(data) == 2 and all(isinstance(v, torch.Tensor) for v in data):
        data = tuple(data)  # a DataLoader collates (input, target) pairs into a list
    if isinstance(data, Mapping):
        return dict(data)
    if isinstance(data, tuple) and len(data) == 2 and not own_loss:
        x, y = data
        out: dict[str, Any] = {}
        if isinstance(x, Mapping):
            out.update(x)
        elif len(inputs) == 1:
            out[inputs[0]] = x
        else:
            raise NetTypeError(f"the net has {len(inputs)} input ports, so the inputs must be a "
                               "dict of port names to arrays", where=where,
                               got=f"got {type(x).__name__}",
                               fix="({" + ", ".join(f'"{p}": ...' for p in inputs) + "}, targets)")
        if isinstance(y, Mapping):
            for k, v in y.items():
                key = k if k in target_ports else f"{k}Target"
                out[key] = v
        elif len(target_ports) == 1:
            out[target_ports[0]] = y
        else:
            raise NetTypeError(f"the net has {len(target_ports)} outputs with losses, so the "
                               "targets must be a dict of output ports to arrays", where=where,
                               got=f"got {type(y).__name__}",
                               fix="(inputs, {" + ", ".join(f'"{p[:-6]}": ...'
                                                           for p in target_ports) + "})")
        return out
    if isinstance(data, tuple) and len(data) == 2 and own_loss and len(inputs) == 2:
        return {inputs[0]: data[0], inputs[1]: data[1]}
    if own_loss and len(inputs) == 1 and _is_array_like(data):
        return {inputs[0]: data}
    if isinstance(data, tuple):
        raise NetValueError("data as a tuple is (inputs, targets)", where=where,
                            got=f"got a tuple of length {len(data)}",
                            fix="pass (inputs, targets), a list of (input, target) pairs, or a dict "
                                "of port names to arrays")
    raise NetTypeError("data is (inputs, targets), a list of (input, target) pairs, a dict of "
                       "port names to arrays, a torch Dataset or DataLoader, or a generator",
                       where=where, got=f"got {type(data).__name__}",
                       fix="e.g. train(net, (x, y)) with x and y arrays whose first dimension "
                           "counts the examples")


def _stack_examples(examples: list[Any], input_ports, target_ports, own_loss, what,
                    coders=None) -> dict[str, Any]:
    rows = [split_example_data(e if not isinstance(e, list) else tuple(e), input_ports,
                               target_ports, own_loss, what, coders, per_row=True)
            for e in examples]
    keys = list(rows[0])
    for i, r in enumerate(rows):
        if list(r) != keys:
            raise NetValueError("every example has the same ports", where=f"{WHERE}, {what}",
                                got=f"got ports {list(r)} in example {i} and {keys} in example 0",
                                fix=f"give every example the ports {keys}")
    out: dict[str, Any] = {}
    for k in keys:
        vals = [r[k] for r in rows]
        if all(isinstance(v, torch.Tensor) for v in vals):
            try:
                out[k] = torch.stack(vals)
            except RuntimeError:
                shapes = sorted({tuple(v.shape) for v in vals})
                raise ShapeError("every example of a port has the same shape",
                                 where=f'{WHERE}, {what}, port "{k}"',
                                 got=f"got shapes {shapes[:3]}") from None
            continue
        if ragged(vals):  # sequences of different lengths stay a list (the converter pads
            out[k] = vals  # them for a sequence port, and refuses them for any other)
            continue
        out[k] = np.asarray(vals)
    return out


class Source:
    """Batches for training: ``batches(round, skip)`` yields ``(global_count, {port: tensor})``
    with this process's shard of each global batch."""

    num_examples: int | None = None
    resumable_within_round = False

    def sample_targets(self) -> Any:
        return None

    def shapes(self) -> dict[str, tuple[int, ...]]:
        raise NotImplementedError

    def batches(self, round_index: int, skip: int) -> Iterator[tuple[int, dict[str, torch.Tensor]]]:
        raise NotImplementedError

    def batches_per_round(self) -> int | None:
        return None


class _Converter:
    """Checks ports and converts arrays to tensors of the training dtype."""

    def __init__(self, ports: Sequence[str], integer_ports: frozenset[str], dtype: torch.dtype,
                 what: str, fix_ports: str, shapes: Mapping[str, Any] | None = None):
        self.ports = list(ports)
        self.integer = integer_ports
        self.dtype = dtype
        self.what = what
        self.fix_ports = fix_ports
        self.shapes = dict(shapes or {})  # sequence ports are padded (train/_sequences.py)

    def __call__(self, arrays: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        where = f"{WHERE}, {self.what}"
        unknown = [k for k in arrays if k not in self.ports]
        if unknown:
            close = [p for p in self.ports if p.lower() == str(unknown[0]).lower()]
            raise NetKeyError(f"the training net has no port {unknown[0]!r}", where=where,
                              got=f"got ports {list(arrays)}",
                              fix=f"did you mean {close[0]!r}?" if close
                              else f"its ports are {self.ports}{self.fix_ports}")
        missing = [p for p in self.ports if p not in arrays]
        if missing:
            raise NetKeyError(f"data for port {missing[0]!r} is missing", where=where,
                              got=f"got ports {list(arrays)}",
                              fix=f"give all of {self.ports}{self.fix_ports}")
        out = {}
        for p in self.ports:
            seq = to_sequence_tensors(arrays[p], self.shapes.get(p), self.dtype,
                                      f'{where}, port "{p}"', p in self.integer)
            if seq is not None:
                out[p], out[lengths_key(p)] = seq["data"], seq["lengths"]
                continue
            if isinstance(arrays[p], list) and ragged(arrays[p]):
                raise ShapeError("every example of a port has the same shape",
                                 where=f'{where}, port "{p}"',
                                 got="got examples of different shapes (a ragged list)",
                                 fix='pad the examples to one shape, or declare a sequence port '
                                     '(e.g. input=("Varying", 8)) for sequences of different '
                                     "lengths")
            t = _to_tensor(arrays[p], self.dtype, torch.device("cpu"), f'{where}, port "{p}"',
                           p in self.integer)
            if t.dim() == 0:
                raise ShapeError("data is a batch of examples (its first dimension counts them)",
                                 where=f'{where}, port "{p}"', got="got a single number",
                                 fix="wrap it in a list: [x]")
            out[p] = t
        counts = {p: t.shape[0] for p, t in out.items()}
        if len(set(counts.values())) > 1:
            raise ShapeError("every port has the same number of examples", where=where,
                             got=f"got {counts}",
                             fix="give each port one entry per example (the same first dimension)")
        return out


def _check_shapes(tensors: Mapping[str, torch.Tensor], expected: Mapping[str, Any], what: str) -> None:
    for p, t in tensors.items():
        want = expected.get(p)
        if want is not None and has_varying(want):  # padded: the elements' shape must fit
            want, t = tuple(want[1:]), t.flatten(0, 1) if t.dim() >= 2 else t
        if want is not None and tuple(t.shape[1:]) != tuple(want):
            raise ShapeError(f"expected examples that are {describe_shape(tuple(want))}",
                             where=f'{WHERE}, {what}, port "{p}"',
                             got=f"got {t.shape[0]} examples of shape {fmt_shape(tuple(t.shape[1:]))}",
                             fix="the first dimension counts examples; check that inputs and "
                                 "targets match the net's ports")


class InMemory(Source):
    """All examples as tensors; shuffled each round; resumable within a round."""

    resumable_within_round = True
    num_examples: int

    def __init__(self, tensors: dict[str, torch.Tensor], batch_size: int, seed: int, rank: int,
                 world: int, shuffle: bool = True):
        self.tensors = tensors
        self.num_examples = next(iter(tensors.values())).shape[0]
        self.batch_size = batch_size
        self.seed, self.rank, self.world, self.shuffle = seed, rank, world, shuffle

    def shapes(self):
        return {p: tuple(t.shape[1:]) for p, t in self.tensors.items()}

    def batches_per_round(self) -> int:
        return -(-self.num_examples // self.batch_size)

    def order(self, round_index: int) -> torch.Tensor:
        if not self.shuffle:
            return torch.arange(self.num_examples)
        g = torch.Generator().manual_seed(round_seed(self.seed, round_index))
        return torch.randperm(self.num_examples, generator=g)

    def batches(self, round_index, skip):
        perm = self.order(round_index)
        contiguous = not self.shuffle
        for start in range(skip * self.batch_size, self.num_examples, self.batch_size):
            idx = perm[start:start + self.batch_size]
            local = torch.tensor_split(idx, self.world)[self.rank] if self.world > 1 else idx
            if contiguous and self.world == 1:
                yield len(idx), {p: t[start:start + len(idx)] for p, t in self.tensors.items()}
            else:
                yield len(idx), {p: t.index_select(0, local) for p, t in self.tensors.items()}


def _shard(batch: dict[str, torch.Tensor], rank: int, world: int) -> tuple[int, dict[str, torch.Tensor]]:
    n = next(iter(batch.values())).shape[0]
    if world == 1:
        return n, batch
    return n, {p: torch.tensor_split(t, world)[rank] for p, t in batch.items()}


class Stream(Source):
    """Batches from a DataLoader, a Dataset, an iterator or a generator function."""

    def __init__(self, kind: str, data: Any, convert: _Converter, split: Callable[[Any], dict],
                 batch_size: int, seed: int, rank: int, world: int, expected: dict):
        self.kind, self.data, self.convert, self.split = kind, data, convert, split
        self.batch_size, self.seed, self.rank, self.world = batch_size, seed, rank, world
        self.expected = expected
        self.labels: dict[str, int] = {}
        self._first: Any = None
        self.resumable_within_round = kind == "dataset"
        if kind == "dataset":
            self.num_examples = len(data)
        if kind == "iterator":
            self._iter = iter(data)
        self.exhausted = False
        self.what = "data"

    def peek(self) -> Any:
        """A first batch (for shapes and the automatic loss), without losing it."""
        if self._first is None:
            if self.kind == "dataset":
                if len(self.data) == 0:
                    raise NetValueError("the data set is empty", where=f"{WHERE}, data", got="got 0 examples")
                self._first = self._collate([self.data[i] for i in range(min(2, len(self.data)))])
            elif self.kind == "loader":
                self._first = next(iter(self.data), None)
            elif self.kind == "iterator":
                self._first = next(self._iter, None)
                if self._first is not None:
                    self._iter = itertools.chain([self._first], self._iter)
            else:
                self._first = next(iter(self._call(0)), None)
            if self._first is None:
                raise NetValueError("the data yields no batches", where=f"{WHERE}, data",
                                    got=f"got an empty {type(self.data).__name__}")
        return self._first

    def _collate(self, items: list[Any]) -> Any:
        from torch.utils.data import default_collate
        return default_collate(items)

    def raw_split(self, batch: Any) -> dict[str, Any]:
        return self.split(batch)

    def batches_per_round(self):
        if self.kind == "dataset":
            return -(-len(self.data) // self.batch_size)
        if self.kind == "loader":
            try:
                return len(self.data)
            except TypeError:
                return None
        return None

    def _call(self, round_index: int) -> Any:
        return call_user(self.data, ({"round": round_index, "batch_size": self.batch_size},),
                         f"{WHERE}, data", 'f({"round": r, "batch_size": b})',
                         f"for round {round_index + 1}")

    def _tensors(self, batch: Any) -> tuple[int, dict[str, torch.Tensor]]:
        if isinstance(batch, list) and len(batch) == 2:  # DataLoader collates pairs to lists
            batch = tuple(batch)
        t = self.convert(self.split(batch))
        _check_shapes(t, self.expected, self.what)
        if self.labels:
            check_labels(t, self.labels, self.what)
        return _shard(t, self.rank, self.world)

    def batches(self, round_index, skip):
        if self.kind == "dataset":
            from torch.utils.data import DataLoader
            g = torch.Generator().manual_seed(round_seed(self.seed, round_index))
            perm = torch.randperm(len(self.data), generator=g).tolist()
            loader = DataLoader(self.data, batch_size=self.batch_size,
                                sampler=perm[skip * self.batch_size:],
                                collate_fn=self._collate)
            for b in loader:
                yield self._tensors(b)
            return
        if self.kind == "loader":
            source: Iterable = self.data
        elif self.kind == "iterator":
            source = self._iter
        else:
            source = self._call(round_index)
        any_batch = False
        for b in source:
            any_batch = True
            yield self._tensors(b)
        if self.kind == "iterator":
            self.exhausted = True
        elif not any_batch:
            self.exhausted = True


def make_source(data: Any, *, input_ports: Sequence[str], target_ports: Sequence[str],
                own_loss: bool, what: str = "data",
                coders: Mapping[str, Any] | None = None) -> tuple[str, Any]:
    """Classify ``data``: ``("memory", {port: array})`` or ``(kind, data)`` for a stream."""
    from torch.utils.data import DataLoader, Dataset, IterableDataset
    if isinstance(data, DataLoader):
        return "loader", data
    if isinstance(data, IterableDataset):
        return "loader", data
    if isinstance(data, Dataset):
        return "dataset", data
    if isinstance(data, Iterator):
        return "iterator", data
    if callable(data) and not isinstance(data, (Mapping, torch.Tensor, np.ndarray)):
        check_arity(data, 1, f"{WHERE}, {what}", 'f({"round": r, "batch_size": b})',
                    'lambda info: [(x[i:i + info["batch_size"]], y[i:i + info["batch_size"]]) '
                    'for i in range(0, len(x), info["batch_size"])]')
        return "function", data
    if isinstance(data, list):
        if not data:
            raise NetValueError("data must contain examples", where=f"{WHERE}, {what}",
                                got="got an empty list",
                                fix="pass at least one (input, target) pair")
        if isinstance(data[0], (tuple, Mapping)) or (own_loss and len(input_ports) == 1):
            if own_loss and len(input_ports) == 1 and not isinstance(data[0], (tuple, Mapping)):
                return "memory", split_example_data({input_ports[0]: data}, input_ports,
                                                    target_ports, own_loss, what, coders)
            return "memory", _stack_examples(data, input_ports, target_ports, own_loss, what,
                                             coders)
        raise NetTypeError("a list as data is a list of (input, target) pairs", where=f"{WHERE}, {what}",
                           got=f"got a list of {type(data[0]).__name__}",
                           fix="pass (inputs, targets) for arrays of inputs and targets")
    return "memory", split_example_data(data, input_ports, target_ports, own_loss, what, coders)


def check_labels(tensors: Mapping[str, torch.Tensor], classes: Mapping[str, int], what: str) -> None:
    """Class indices lie in 0..C-1 (checked once for in-memory data, per batch on the host for
    streams, never inside a step). Wolfram's 1-based labels 1..C are recognized and named."""
    for port, k in classes.items():
        t = tensors.get(port)
        if t is None or t.numel() == 0 or t.is_floating_point():
            continue
        lo, hi = (int(v) for v in torch.aminmax(t))
        if lo >= 0 and hi < k:
            continue
        where = f'{WHERE}, {what}, port "{port}"'
        if lo >= 1 and hi == k:
            raise NetValueError(f"class indices are 0-based: 0 to {k - 1} for {k} classes",
                                where=where, got=f"got labels from {lo} to {hi}, which look "
                                                 "1-based (as in Wolfram Language)",
                                fix="subtract 1 from the labels, e.g. (x, labels - 1)")
        flat = t.reshape(-1)
        i = int(((flat < 0) | (flat >= k)).nonzero()[0, 0])
        example = i // max(flat.numel() // max(t.shape[0], 1), 1) if t.dim() else 0
        raise NetValueError(f"class indices lie in 0 to {k - 1} (the net's output has {k} "
                            "classes)", where=where,
                            got=f"got labels from {lo} to {hi}; the first out of range is "
                                f"{int(flat[i])}, in example {example}",
                            fix=f"give the output layer as many classes as there are labels "
                                f"(e.g. LinearLayer({hi + 1}) before the SoftmaxLayer), or map "
                                f"the labels to 0..{k - 1}")


def check_not_empty(n: int, what: str) -> None:
    if n == 0:
        raise NetValueError(f"{'training' if what == 'data' else 'validation'} data has at least "
                            "one example", where=f"{WHERE}, {what}", got="got 0 examples",
                            fix="pass arrays whose first dimension (the examples) is not 0")
