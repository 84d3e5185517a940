"""Labels in and out: ``NetEncoder("Class", labels)`` and ``NetDecoder("Class", labels)``."""

from __future__ import annotations

import difflib
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._errors import NetKeyError, NetTypeError, NetValueError, ShapeError
from ._base import NetDecoder, NetEncoder, short_repr

__all__ = ["ClassEncoder", "ClassDecoder", "check_labels"]

_LABEL_TYPES = (str, int, float, bool)


def check_labels(labels: Any, where: str) -> list[Any]:
    """Labels are a non-empty sequence of distinct strings, numbers or booleans (saved as data)."""
    if isinstance(labels, (str, bytes)) or not isinstance(labels, Sequence) and \
            not isinstance(labels, np.ndarray):
        raise NetTypeError("labels are a list", where=where,
                           got=f"got {type(labels).__name__} {short_repr(labels)}",
                           fix='e.g. ["cat", "dog"] (or list(range(10)) for digits)')
    out = [v.item() if isinstance(v, np.generic) else v for v in labels]
    if not out:
        raise NetValueError("labels are a non-empty list", where=where, got="got []")
    for v in out:
        if not isinstance(v, _LABEL_TYPES) or isinstance(v, float) and not math.isfinite(v):
            raise NetTypeError("a label is a string, a number or a boolean", where=where,
                               got=f"got {type(v).__name__} {short_repr(v)}",
                               fix="use str(label) for other objects")
    seen: set[tuple[str, Any]] = set()
    for v in out:
        key = (type(v).__name__, v)
        if key in seen:
            raise NetValueError("labels are distinct", where=where, got=f"got {v!r} twice")
        seen.add(key)
    return out


class ClassEncoder(NetEncoder):
    """``NetEncoder("Class", labels, output="Index")``: a label → its 0-based index.

    Args:
        labels: the classes, in order (strings, numbers or booleans).
        output: ``"Index"`` (an int64 scalar, for CrossEntropyLossLayer("Index") and
            embeddings) or ``"UnitVector"`` (one-hot float32 vector of length len(labels)).

    A list (or 1-D array) of labels is a batch.
    """

    kind = "Class"

    def __init__(self, kind: str = "Class", labels: Any = None, *, output: str = "Index") -> None:
        self.labels = check_labels(labels, self.where)
        if output not in ("Index", "UnitVector"):
            raise NetValueError('output is "Index" or "UnitVector"', where=self.where,
                                got=f"got {short_repr(output)}")
        self.output = output
        self.integer = output == "Index"
        self.shape = () if self.integer else (len(self.labels),)
        self._index = {(type(v).__name__, v): i for i, v in enumerate(self.labels)}

    def get_config(self) -> dict[str, Any]:
        return {"labels": list(self.labels), "output": self.output}

    def is_batch(self, value: Any) -> bool:
        return isinstance(value, (list, tuple)) or isinstance(value, np.ndarray) and value.ndim >= 1

    def index(self, label: Any) -> int:
        """The 0-based index of ``label``."""
        if isinstance(label, np.generic):
            label = label.item()
        i = self._index.get((type(label).__name__, label))
        if i is None and isinstance(label, (int, float)) and not isinstance(label, bool):
            i = next((j for j, v in enumerate(self.labels) if type(v) in (int, float)
                      and not isinstance(v, bool) and v == label), None)
        if i is None:
            close = difflib.get_close_matches(str(label), [str(v) for v in self.labels], n=1)
            raise NetKeyError(f"a label is one of the {len(self.labels)} classes", where=self.where,
                              got=f"got {short_repr(label)}",
                              fix=f"did you mean {close[0]!r}?" if close
                              else f"classes are {short_repr(self.labels, 200)}")
        return i

    def encode_one(self, value: Any) -> np.ndarray:
        i = self.index(value)
        if self.integer:
            return np.asarray(i, dtype=np.int64)
        out = np.zeros(len(self.labels), dtype=np.float32)
        out[i] = 1.0
        return out


def _entropy(p: np.ndarray) -> float:
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


class ClassDecoder(NetDecoder):
    """``NetDecoder("Class", labels)``: a probability vector → a label, and its properties.

    Properties (``net(x, prop)`` or ``decoder(probabilities, prop)``):

    - ``"Decision"`` (default): the most probable label;
    - ``"Probabilities"``: a dict label → probability;
    - ``("TopProbabilities", k)`` (k defaults to 5): the k most probable (label, probability)
      pairs, most probable first; ``("TopDecisions", k)``: their labels;
    - ``("Probability", label)``: the probability of one label;
    - ``"Entropy"``: -Σ p log p, in nats (0 log 0 = 0).

    The port gives probabilities (end the net with a SoftmaxLayer); properties other than the
    decisions refuse vectors that are not probabilities.
    """

    kind = "Class"
    properties = ("Decision", "Probabilities", "TopProbabilities", "TopDecisions",
                  "Probability", "Entropy")
    properties_with_argument = ("TopProbabilities", "TopDecisions", "Probability")

    def __init__(self, kind: str = "Class", labels: Any = None) -> None:
        self.labels = check_labels(labels, self.where)
        self._encoder = ClassEncoder("Class", self.labels)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.labels),)

    def get_config(self) -> dict[str, Any]:
        return {"labels": list(self.labels)}

    def check_shape(self, shape: tuple[int, ...] | None, where: str) -> None:
        if shape is not None and shape != self.shape:
            raise ShapeError(f"a class decoder with {len(self.labels)} labels reads a vector of "
                             f"length {len(self.labels)}", where=where, got=f"got shape {shape}",
                             fix=f"end the net with LinearLayer({len(self.labels)}) and "
                                 "SoftmaxLayer(), or give as many labels as the net has outputs")

    def index(self, label: Any) -> int:
        """The 0-based index of a label (for targets given as labels)."""
        return self._encoder.index(label)

    def _probabilities(self, p: np.ndarray) -> np.ndarray:
        total = float(p.sum())
        if float(p.min()) < -1e-6 or abs(total - 1.0) > 1e-3:
            raise NetValueError("this property reads probabilities (non-negative, summing to 1)",
                                where=self.where,
                                got=f"got values from {float(p.min()):.4g} to {float(p.max()):.4g} "
                                    f"summing to {total:.4g}",
                                fix="end the net with SoftmaxLayer(), or ask for \"Decision\"")
        return np.clip(p.astype(np.float64), 0.0, None)

    def _k(self, arg: Any) -> int:
        k = 5 if arg is None else arg
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise NetValueError("the number of top classes is a positive int", where=self.where,
                                got=f"got {short_repr(arg)}", fix='("TopProbabilities", 3)')
        return min(k, len(self.labels))

    def decode_one(self, array: np.ndarray, prop: str, arg: Any) -> Any:
        self.check_shape(tuple(array.shape), self.where)
        p = np.asarray(array, dtype=np.float64)
        if prop == "Decision":
            return self.labels[int(np.argmax(p))]
        if prop == "TopDecisions":
            order = np.argsort(-p, kind="stable")[:self._k(arg)]
            return [self.labels[i] for i in order]
        p = self._probabilities(p)
        if prop == "Probabilities":
            return {label: float(v) for label, v in zip(self.labels, p)}
        if prop == "TopProbabilities":
            order = np.argsort(-p, kind="stable")[:self._k(arg)]
            return [(self.labels[i], float(p[i])) for i in order]
        if prop == "Probability":
            if arg is None:
                raise NetValueError('"Probability" names a label', where=self.where,
                                    got="got no label", fix=f'("Probability", {self.labels[0]!r})')
            return float(p[self.index(arg)])
        return _entropy(p)
