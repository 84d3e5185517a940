"""Kept for code above ``netgrad.net`` that still imports shapes from here (``netgrad.train``);
shapes live in :mod:`netgrad._shapes`, below the layers. Import them from there."""

from .._shapes import MaybeShape, Shape, ShapeLike, as_shape, describe_shape, fmt_shape

__all__ = ["Shape", "MaybeShape", "ShapeLike", "as_shape", "fmt_shape", "describe_shape"]
