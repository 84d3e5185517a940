"""Numbers, booleans and functions: the "Scalar", "Boolean" and "Function" encoders and the
"Scalar" and "Boolean" decoders."""

from __future__ import annotations

import numbers
from typing import Any, Callable

import numpy as np

from .._errors import NetTypeError, NetValueError, ShapeError
from .._shapes import as_shape, describe_shape
from ._base import NetDecoder, NetEncoder, short_repr

__all__ = ["ScalarEncoder", "BooleanEncoder", "FunctionEncoder", "ScalarDecoder",
           "BooleanDecoder"]


def _is_batch(value: Any) -> bool:
    return isinstance(value, (list, tuple)) or isinstance(value, np.ndarray) and value.ndim >= 1


class _OneValue(NetEncoder):
    """Encoders of one number per example: a float32 scalar; a list (or 1-D array) is a batch."""

    shape = ()

    def __init__(self, kind: str = "") -> None:
        pass

    def is_batch(self, value: Any) -> bool:
        return _is_batch(value)

    def encode_one(self, value: Any) -> np.ndarray:
        if isinstance(value, np.ndarray) and value.ndim == 0:
            value = value.item()
        return np.asarray(self.number(value), dtype=np.float32)

    def number(self, value: Any) -> float:
        raise NotImplementedError


class ScalarEncoder(_OneValue):
    """``NetEncoder("Scalar")``: a real number → a float32 scalar; a list of numbers is a batch."""

    kind = "Scalar"

    def number(self, value: Any) -> float:
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
            raise NetTypeError("a scalar is a real number", where=self.where,
                               got=f"got {type(value).__name__} {short_repr(value)}",
                               fix='for True/False use NetEncoder("Boolean")'
                               if isinstance(value, (bool, np.bool_)) else "pass a float")
        return float(value)


class BooleanEncoder(_OneValue):
    """``NetEncoder("Boolean")``: True → 1.0, False → 0.0 (float32 scalars); a list is a batch."""

    kind = "Boolean"

    def number(self, value: Any) -> float:
        if not isinstance(value, (bool, np.bool_)):
            raise NetTypeError("a boolean encoder takes True or False", where=self.where,
                               got=f"got {type(value).__name__} {short_repr(value)}",
                               fix="pass bool(x), or use NetEncoder(\"Scalar\") for numbers")
        return 1.0 if value else 0.0


class FunctionEncoder(NetEncoder):
    """``NetEncoder("Function", f, shape=None, integer=False)``: ``f(example)`` → an array.

    Args:
        function: any Python function of one example returning an array-like.
        shape: the per-example shape ``f`` returns (checked; None: taken as it comes).
        integer: ``f`` returns class indices (int64) rather than reals.

    A list is a batch (``f`` is applied to each element). A net holding a Function encoder cannot
    be saved (the function is code); save the net without it, and after loading wrap it:
    ``NetChain({"net": net}, input=NetEncoder("Function", f))``.
    """

    kind = "Function"

    def __init__(self, kind: str = "Function", function: Callable[[Any], Any] | None = None, *,
                 shape: Any = None, integer: bool = False) -> None:
        if not callable(function):
            raise NetTypeError("a function encoder takes a function of one example",
                               where=self.where, got=f"got {short_repr(function)}",
                               fix='NetEncoder("Function", lambda s: [len(s)], shape=1)')
        self.function = function
        self.shape = as_shape(shape, what="the shape of a function encoder")
        if not isinstance(integer, bool):
            raise NetTypeError("integer is True or False", where=self.where,
                               got=f"got {short_repr(integer)}")
        self.integer = integer

    def get_config(self) -> dict[str, Any]:
        return {"function": self.function, "shape": None if self.shape is None else list(self.shape),
                "integer": self.integer}

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.function is self.function and \
            (other.shape, other.integer) == (self.shape, self.integer)

    def __hash__(self) -> int:
        return hash(("Function", id(self.function)))

    def encode_one(self, value: Any) -> np.ndarray:
        result = self.function(value)
        try:
            a = np.asarray(result)
        except (TypeError, ValueError) as e:
            a = np.asarray(None)
            reason = str(e)
        else:
            reason = ""
        name = getattr(self.function, "__name__", "the function")
        if a.dtype.kind not in "biuf" or reason:
            raise NetTypeError("a function encoder's function returns numbers (an array)",
                               where=f"{self.where} ({name})",
                               got=f"got {type(result).__name__} {short_repr(result)} {reason}".rstrip(),
                               fix="return a number, a list of numbers or a NumPy array")
        if self.shape is not None and a.shape != self.shape:
            raise ShapeError(f"the function returns {describe_shape(self.shape)}",
                             where=f"{self.where} ({name})",
                             got=f"got {describe_shape(a.shape)} for {short_repr(value)}",
                             fix="fix the function, or the encoder's shape=")
        return a.astype(np.int64 if self.integer else np.float32)


def _scalar_of(array: np.ndarray, where: str) -> float:
    if array.shape not in ((), (1,)):
        raise ShapeError("this decoder reads a scalar (or a vector of length 1)", where=where,
                         got=f"got {describe_shape(tuple(array.shape))}",
                         fix="end the net with a layer of one output, e.g. LinearLayer(1)")
    return float(array.reshape(()))


class _OneNumber(NetDecoder):
    """Decoders of one number per example (a scalar or a vector of length 1)."""

    def check_shape(self, shape: tuple[int, ...] | None, where: str) -> None:
        if shape is not None and shape not in ((), (1,)):
            _scalar_of(np.zeros(shape), where)

    def decode(self, array: Any, prop: Any = None, *, batched: bool | None = None) -> Any:
        a = np.asarray(array) if not hasattr(array, "detach") else array.detach().cpu().numpy()
        if batched is None:
            batched = a.ndim == 2 or a.ndim == 1 and a.shape != (1,)
        return super().decode(a, prop, batched=batched)


class ScalarDecoder(_OneNumber):
    """``NetDecoder("Scalar")``: a scalar (or length-1 vector) output → a Python float."""

    kind = "Scalar"
    properties = ("Value",)

    def __init__(self, kind: str = "Scalar") -> None:
        pass

    def decode_one(self, array: np.ndarray, prop: str, arg: Any) -> Any:
        return _scalar_of(np.asarray(array), self.where)


class BooleanDecoder(_OneNumber):
    """``NetDecoder("Boolean")``: a probability (scalar or length-1 vector, e.g. after
    ``ElementwiseLayer("LogisticSigmoid")``) → ``True`` when it is above 0.5.

    Properties: ``"Decision"`` (default), ``"Probability"`` (of True), ``"Entropy"`` (nats).
    """

    kind = "Boolean"
    properties = ("Decision", "Probability", "Entropy")

    def __init__(self, kind: str = "Boolean") -> None:
        pass

    def decode_one(self, array: np.ndarray, prop: str, arg: Any) -> Any:
        p = _scalar_of(np.asarray(array), self.where)
        if prop == "Decision":
            return p > 0.5
        if not -1e-6 <= p <= 1 + 1e-6:
            raise NetValueError("a boolean decoder reads a probability in [0, 1]", where=self.where,
                                got=f"got {p:.4g}",
                                fix='end the net with ElementwiseLayer("LogisticSigmoid")')
        p = min(max(p, 0.0), 1.0)
        if prop == "Probability":
            return p
        return float(-sum(q * np.log(q) for q in (p, 1.0 - p) if q > 0))
