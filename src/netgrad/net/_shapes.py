"""Kept for code above ``netgrad.net`` that still imports shapes from here (``netgrad.train``);
shapes live in :mod:`netgrad._shapes`, below the layers. Import them from there."""

from .._shapes import (MaybeShape, Shape, ShapeLike, Varying, as_shape, describe_shape, fmt_shape,
                       has_varying, is_varying)

__all__ = ["Shape", "MaybeShape", "ShapeLike", "as_shape", "fmt_shape", "describe_shape",
           "Varying", "has_varying", "is_varying"]
