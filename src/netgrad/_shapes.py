"""Per-example shapes of ports and arrays.

A shape is a tuple of ints, the dimensions of **one example** (the batch dimension is never
part of it), or ``None`` when it is not known yet. ``()`` is a scalar.
"""

from __future__ import annotations

from typing import Optional, Union

from ._errors import NetTypeError

Shape = tuple[int, ...]
MaybeShape = Optional[Shape]
ShapeLike = Union[int, tuple, list, None, str]

_NAMED = {"Real": (), "Scalar": ()}


def as_shape(value: ShapeLike, *, what: str = "a shape") -> MaybeShape:
    """Normalize a user's shape: ``3`` → ``(3,)``, ``(2, 3)`` → ``(2, 3)``, ``"Real"`` → ``()``.

    ``None`` stays ``None`` (unknown).
    """
    if value is None:
        return None
    if isinstance(value, str):
        if value in _NAMED:
            return _NAMED[value]
        raise NetTypeError(f"{what} must be an int, a tuple of ints, \"Real\" or None",
                           got=f"got the string {value!r}")
    if isinstance(value, bool):
        raise NetTypeError(f"{what} must be an int or a tuple of ints", got=f"got {value!r}")
    if isinstance(value, int):
        value = (value,)
    try:
        dims = tuple(value)
    except TypeError:
        raise NetTypeError(f"{what} must be an int or a tuple of ints",
                           got=f"got {type(value).__name__} {value!r}") from None
    for d in dims:
        if isinstance(d, bool) or not isinstance(d, int) or d < 0:
            raise NetTypeError(f"{what} must contain non-negative ints",
                               got=f"got {value!r}")
    return tuple(int(d) for d in dims)


def fmt_shape(shape: MaybeShape) -> str:
    """``(2, 3)`` → ``"(2, 3)"``, ``()`` → ``"scalar"``, ``None`` → ``"?"``."""
    if shape is None:
        return "?"
    if shape == ():
        return "scalar"
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def describe_shape(shape: MaybeShape) -> str:
    """Words for a shape, for error messages: "a vector of length 3", "an array of shape (2, 5)"."""
    if shape is None:
        return "an array of unknown shape"
    if shape == ():
        return "a scalar"
    if len(shape) == 1:
        return f"a vector of length {shape[0]}"
    return f"an array of shape {fmt_shape(shape)}"
