"""What every encoder and decoder has in common: a kind, options that are data, a port shape.

``NetEncoder("Image", size=(32, 32))`` builds the encoder registered under ``"Image"``;
``NetDecoder("Class", ["cat", "dog"])`` the decoder registered under ``"Class"``. An encoder turns
the data a person has (images, labels, strings, numbers) into the arrays a port takes; a decoder
turns the arrays a port gives into what a person wants (labels, probabilities, images).

Subclasses declare ``kind``, implement ``get_config()`` (JSON data that rebuilds them with
``NetEncoder(kind, **config)``, so saved nets hold no code) and

* encoders: ``shape`` (per-example port shape, or None when it varies), ``integer`` (the port
  takes class indices), ``encode_one(value)`` and ``is_batch(value)``;
* decoders: ``check_shape(shape)``, ``decode_one(array, prop)`` and ``properties``.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from .._errors import NetgradError, NetKeyError, NetTypeError, NetValueError

__all__ = ["NetEncoder", "NetDecoder", "ENCODER_TYPES", "DECODER_TYPES", "short_repr", "show_option",
           "at_example"]


#: Encoder classes by kind ("Image", "Class", ...); used by NetEncoder(kind) and by loading.
ENCODER_TYPES: dict[str, type["NetEncoder"]] = {}
#: Decoder classes by kind.
DECODER_TYPES: dict[str, type["NetDecoder"]] = {}


def short_repr(value: Any, limit: int = 60) -> str:
    """``repr`` cut to ``limit`` characters, for error messages."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _lookup(table: dict[str, type], kind: Any, what: str) -> type:
    if not isinstance(kind, str):
        raise NetTypeError(f"{what} takes a kind name first", where=what,
                           got=f"got {type(kind).__name__} {short_repr(kind)}",
                           fix=f"e.g. {what}({sorted(table)[0]!r}, ...); kinds: {sorted(table)}")
    if kind not in table:
        close = difflib.get_close_matches(kind, list(table), n=1) or \
            [k for k in table if k.lower() == kind.lower()]
        raise NetKeyError(f"{what} has no kind {kind!r}", where=what, got=f"got {kind!r}",
                          fix=f"did you mean {close[0]!r}?" if close else f"kinds are {sorted(table)}")
    return table[kind]


class _Coder:
    """Shared by encoders and decoders: kind, config, equality, repr."""

    kind: ClassVar[str] = ""
    _family: ClassVar[str] = ""
    _table: ClassVar[dict[str, type]] = {}

    def __new__(cls, kind: Any = None, *args: Any, **kwargs: Any):
        if not cls.kind:  # NetEncoder("Image", ...): the class registered under the kind
            cls = _lookup(cls._table, kind, cls._family)
        return super().__new__(cls)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.kind:
            cls._table[cls.kind] = cls

    def get_config(self) -> dict[str, Any]:
        """Options that rebuild this object with ``NetEncoder(kind, **config)`` (JSON data)."""
        return {}

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.get_config() == self.get_config()

    def __hash__(self) -> int:
        return hash((self._family, self.kind, repr(sorted(self.get_config().items()))))

    def __repr__(self) -> str:
        args = [f'"{self.kind}"'] + [f"{k}={_show(v)}" for k, v in self.get_config().items()
                                    if v is not None]
        return f"{self._family}({', '.join(args)})"

    @property
    def where(self) -> str:
        return f'{self._family}("{self.kind}")'


def _show(value: Any) -> str:
    """Option values as Python source with double-quoted strings (long lists shortened)."""
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if callable(value):
        return getattr(value, "__name__", "function")
    if isinstance(value, (list, tuple)):
        if len(value) <= 3 and value and all(isinstance(v, int) and not isinstance(v, bool)
                                             for v in value):
            return "(" + ", ".join(map(str, value)) + ("," if len(value) == 1 else "") + ")"
        shown = [_show(v) for v in value[:6]]
        more = f", ... ({len(value)} in all)" if len(value) > 8 else \
            "".join(", " + _show(v) for v in value[6:])
        return "[" + ", ".join(shown) + more + "]"
    return repr(value)


show_option = _show


class NetEncoder(_Coder):
    """Turns a person's data into the array a net's input port takes.

    ``NetEncoder(kind, ...)``: ``"Image"``, ``"Scalar"``, ``"Boolean"``, ``"Class"``,
    ``"Characters"``, ``"Tokens"`` or ``"Function"`` (see each kind's docstring, e.g.
    ``help(netgrad.encoders.ImageEncoder)``). Attach one to a port with ``NetChain(...,
    input=NetEncoder(...))`` or ``NetGraph(..., Input=NetEncoder(...))``; then ``net(data)``
    encodes the data first. ``encoder(data)`` encodes directly: one example gives an array of
    :attr:`shape`, a list of examples an array with a leading batch dimension.
    """

    _family = "NetEncoder"
    _table = ENCODER_TYPES
    #: the per-example shape of the arrays produced (None: varies from example to example)
    shape: tuple[int, ...] | None = None
    #: whether the arrays hold class indices (int64) rather than real numbers
    integer: bool = False

    # ---- what subclasses implement ------------------------------------------------------------
    def is_batch(self, value: Any) -> bool:
        """Whether ``value`` is a batch (a list of examples) rather than one example."""
        return isinstance(value, (list, tuple))

    def encode_one(self, value: Any) -> np.ndarray:
        """One example → an array of :attr:`shape`."""
        raise NotImplementedError

    # ---- using it -----------------------------------------------------------------------------
    def encode(self, value: Any) -> tuple[np.ndarray, bool]:
        """``(array, batched)``: one example → ``(array of shape, False)``; a batch → ``(array of
        (n, *shape), True)``."""
        if self.is_batch(value):
            return self.encode_batch(value), True
        return self.encode_one(value), False

    def encode_each(self, values: Sequence[Any]) -> list[np.ndarray]:
        """Each example of a batch encoded (an error says which example)."""
        if isinstance(values, np.ndarray) and values.dtype != object:
            values = list(values)
        if not isinstance(values, Sequence) or isinstance(values, (str, bytes)):
            raise NetTypeError("a batch is a list of examples", where=self.where,
                               got=f"got {type(values).__name__}", fix="pass [example, ...]")
        arrays = []
        for i, v in enumerate(values):
            try:
                arrays.append(self.encode_one(v))
            except NetgradError as e:
                raise at_example(e, self.where, i) from None
        return arrays

    def encode_batch(self, values: Sequence[Any]) -> np.ndarray:
        """A sequence of examples → one array with a leading batch dimension."""
        arrays = self.encode_each(values)
        if not arrays:
            dtype = np.int64 if self.integer else np.float32
            return np.zeros((0,) + (self.shape or ()), dtype=dtype)
        shapes = {a.shape for a in arrays}
        if len(shapes) > 1:
            raise NetValueError("the examples of one batch encode to arrays of one shape",
                                where=self.where, got=f"got shapes {sorted(shapes)[:3]}",
                                fix="give a fixed length (e.g. length=...) or evaluate the "
                                    "examples one at a time")
        return np.stack(arrays)

    def __call__(self, value: Any) -> np.ndarray:
        return self.encode(value)[0]


def at_example(e: NetgradError, where: str, i: int) -> NetgradError:
    """Say which example of a batch an encoding error is about."""
    e.where = f"{e.where or where}, example {i}"
    e.args = (e._message(),)
    return e


class NetDecoder(_Coder):
    """Turns the array a net's output port gives into what a person wants.

    ``NetDecoder(kind, ...)``: ``"Class"`` (labels, probabilities, entropy), ``"Image"``,
    ``"Scalar"`` or ``"Boolean"``. Attach one with ``NetChain(..., output=NetDecoder(...))``;
    then ``net(data)`` returns decoded values and ``net(data, "Probabilities")`` (any of the
    decoder's :attr:`properties`) the property. ``decoder(array, prop)`` decodes directly.
    """

    _family = "NetDecoder"
    _table = DECODER_TYPES
    #: property names ``decode`` accepts; the first is the default
    properties: ClassVar[tuple[str, ...]] = ("Decision",)
    #: properties that take an argument, e.g. ``("TopProbabilities", 3)``
    properties_with_argument: ClassVar[tuple[str, ...]] = ()

    # ---- what subclasses implement ------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...] | None:
        """The per-example shape the output port must have (None: checked by check_shape)."""
        return None

    def check_shape(self, shape: tuple[int, ...] | None, where: str) -> None:
        """Raise ShapeError when an output of ``shape`` cannot be decoded."""

    def decode_one(self, array: np.ndarray, prop: str, arg: Any) -> Any:
        raise NotImplementedError

    # ---- using it -----------------------------------------------------------------------------
    def parse_property(self, prop: Any) -> tuple[str, Any]:
        """``None`` → the default; ``"Probabilities"``; ``("TopProbabilities", 3)``."""
        if prop is None:
            return self.properties[0], None
        arg = None
        if isinstance(prop, tuple) and len(prop) == 2 and isinstance(prop[0], str):
            prop, arg = prop
            if prop not in self.properties_with_argument:
                raise NetValueError(f"property {prop!r} takes no argument", where=self.where,
                                    got=f"got ({prop!r}, {short_repr(arg)})",
                                    fix=f"properties with an argument: "
                                        f"{list(self.properties_with_argument)}")
        if not isinstance(prop, str) or prop not in self.properties:
            close = difflib.get_close_matches(str(prop), list(self.properties), n=1)
            raise NetKeyError(f"{self.where} has no property {short_repr(prop)}",
                              where=self.where, got=f"got {short_repr(prop)}",
                              fix=f"did you mean {close[0]!r}?" if close
                              else f"properties are {list(self.properties)}")
        return prop, arg

    def decode(self, array: Any, prop: Any = None, *, batched: bool | None = None) -> Any:
        """Decode one example's array (or a batch's: a list of decoded values)."""
        name, arg = self.parse_property(prop)
        a = _as_array(array)
        if batched is None:
            batched = self.shape is not None and a.ndim == len(self.shape) + 1
        if batched:
            return [self.decode_one(row, name, arg) for row in a]
        return self.decode_one(a, name, arg)

    def __call__(self, array: Any, prop: Any = None) -> Any:
        return self.decode(array, prop)


def _as_array(value: Any) -> np.ndarray:
    import torch
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)
