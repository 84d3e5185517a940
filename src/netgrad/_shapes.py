"""Per-example shapes of ports and arrays.

A shape is a tuple of ints, the dimensions of **one example** (the batch dimension is never
part of it), or ``None`` when it is not known yet. ``()`` is a scalar.

A sequence port has a **varying** first dimension: :data:`Varying` in place of an int
(``("Varying", 8)`` is a sequence of 8-vectors whose length differs between examples,
``("Varying",)`` a sequence of numbers or tokens). ``Varying`` is the string ``"Varying"``
(so shapes stay JSON data and compare equal to what users write).
"""

from __future__ import annotations

from typing import Optional, Union, cast

from ._errors import NetgradError, NetTypeError, NetValueError

Shape = tuple[int, ...]
MaybeShape = Optional[Shape]
ShapeLike = Union[int, tuple, list, None, str]

_NAMED = {"Real": (), "Scalar": ()}


class _VaryingDim(str):
    """The varying (sequence-length) dimension of a shape: its size differs between examples."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "'Varying'"


#: The varying first dimension of a sequence port's shape (see the module docstring). It stands
#: in a shape's first int slot, so the type checker is told it is one: ``Shape`` stays
#: ``tuple[int, ...]`` everywhere, and ``is_varying`` is the one test for it.
Varying: int = cast(int, _VaryingDim("Varying"))


def is_varying(dim) -> bool:
    """Whether a dimension of a shape is the varying one."""
    return isinstance(dim, str) and dim == "Varying"


def has_varying(shape: MaybeShape) -> bool:
    """Whether a shape has a varying (sequence-length) first dimension."""
    return shape is not None and len(shape) > 0 and is_varying(shape[0])


def as_shape(value: ShapeLike, *, what: str = "a shape", where: str | None = None) -> MaybeShape:
    """Normalize a user's shape: ``3`` → ``(3,)``, ``(2, 3)`` → ``(2, 3)``, ``"Real"`` → ``()``.

    ``None`` stays ``None`` (unknown). ``where`` locates the error (default: ``what``).
    """
    try:
        return _as_shape(value, what)
    except NetgradError as e:
        e.where = e.where or where or what
        e.fix = e.fix or ("an int for a vector (3), a tuple for an array ((2, 3)), () or "
                          '"Real" for a scalar')
        e.args = (str(e),)
        raise


def _as_shape(value: ShapeLike, what: str) -> MaybeShape:
    if value is None:
        return None
    if isinstance(value, str):
        if value in _NAMED:
            return _NAMED[value]
        if value == "Varying":
            return (Varying,)
        raise NetTypeError(f"{what} must be an int, a tuple of ints, \"Real\", \"Varying\" "
                           "or None", got=f"got the string {value!r}")
    if isinstance(value, bool):
        raise NetTypeError(f"{what} must be an int or a tuple of ints", got=f"got {value!r}")
    if isinstance(value, int):
        value = (value,)
    try:
        dims = tuple(value)
    except TypeError:
        raise NetTypeError(f"{what} must be an int or a tuple of ints",
                           got=f"got {type(value).__name__} {value!r}") from None
    for i, d in enumerate(dims):
        if is_varying(d):
            if i != 0:
                raise NetTypeError(f'{what}: only the first dimension may be "Varying" (the '
                                   "sequence length)", got=f"got {value!r}",
                                   fix='write ("Varying", 8) for a sequence of 8-vectors')
            continue
        if isinstance(d, bool) or not isinstance(d, int):
            raise NetTypeError(f"{what} must contain non-negative ints (or \"Varying\" first)",
                               got=f"got {value!r}")
        if d < 0:
            raise NetValueError(f"{what} must contain non-negative ints (or \"Varying\" first)",
                                got=f"got {value!r}")
    return tuple(Varying if is_varying(d) else int(d) for d in dims)


def fmt_shape(shape: MaybeShape) -> str:
    """``(2, 3)`` → ``"(2, 3)"``, ``()`` → ``"scalar"``, ``None`` → ``"?"``."""
    if shape is None:
        return "?"
    if shape == ():
        return "scalar"
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def broadcast_shapes(*shapes: Shape) -> Shape:
    """NumPy-style broadcasting (aligned at the last dimension) of per-example shapes, where a
    varying dimension broadcasts only against itself (or a missing dimension): ``(Varying, 3)``
    with ``(3,)`` is ``(Varying, 3)``. Raises RuntimeError when the shapes do not broadcast."""
    import torch
    mark = 2 ** 62 + 1  # a size no real dimension has
    out = torch.broadcast_shapes(*(tuple(mark if is_varying(d) else d for d in s) for s in shapes))
    if any(d == mark for s in shapes for d in s) and out and out[0] != mark:
        raise RuntimeError("a varying dimension must stay first")
    return tuple(Varying if d == mark else int(d) for d in out)


def element_shape(shape: MaybeShape) -> MaybeShape:
    """The shape of one element of a sequence port: ``(Varying, 8)`` → ``(8,)``."""
    return None if shape is None else tuple(shape[1:])


def describe_shape(shape: MaybeShape) -> str:
    """Words for a shape, for error messages: "a vector of length 3", "an array of shape (2, 5)"."""
    if shape is None:
        return "an array of unknown shape"
    if has_varying(shape):
        inner = shape[1:]
        if not inner:
            return "a sequence of numbers (of varying length)"
        if len(inner) == 1:
            return f"a sequence (of varying length) of vectors of length {inner[0]}"
        return f"a sequence (of varying length) of arrays of shape {fmt_shape(inner)}"
    if shape == ():
        return "a scalar"
    if len(shape) == 1:
        return f"a vector of length {shape[0]}"
    return f"an array of shape {fmt_shape(shape)}"
