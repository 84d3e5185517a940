"""NetSharedArray: one learned array used by several layers (Siamese nets, tied embeddings).

Give the same ``NetSharedArray("name")`` as an array of several layers (``LinearLayer(8,
weights=w)``, ``layer.set_array("Weights", w)``): they hold one and the same
:class:`torch.nn.Parameter`. Its shape comes from the first layer that knows it (every other
use must agree); NetInitialize, ``set_array`` or training give it values once for all uses; its
gradient is the sum of the gradients of every use (autograd accumulates them into the one
tensor); ``netgrad.save`` stores it once, and ``netgrad.load`` ties the uses again.

Surgery on nets (NetTake, NetExtract, ...) copies a net with its sharing intact: uses inside the
copy share one copied array; see :mod:`netgrad.net._surgery`.
"""

from __future__ import annotations

from typing import Any

import torch

from .._errors import NetTypeError, ShapeError
from .._shapes import fmt_shape

__all__ = ["NetSharedArray"]


class NetSharedArray:
    """A named array shared by the layers it is given to (see the module docstring).

    Args:
        name: its name (used in summaries and saved files; one net's shared arrays have
            distinct names).
        values: initial values (optional; a layer given the array takes them).
    """

    def __init__(self, name: str, values: Any = None) -> None:
        if not isinstance(name, str) or not name:
            raise NetTypeError("a shared array has a non-empty name", where="NetSharedArray",
                               got=f"got {name!r}", fix='e.g. NetSharedArray("embedding")')
        self.name = name
        self.parameter: torch.nn.Parameter | None = None
        self.values = None if values is None else torch.as_tensor(values)
        self.is_set = False
        self.users: list[tuple[Any, str]] = []

    def __repr__(self) -> str:
        shape = fmt_shape(tuple(self.parameter.shape)) if self.parameter is not None else "?"
        return f"NetSharedArray({self.name!r}, {shape}, {len(self.users)} uses)"

    # ---- what ArrayLayer calls ----------------------------------------------------------------
    def attach(self, layer: Any, name: str) -> None:
        """Make ``layer``'s array ``name`` this shared array."""
        if not any(u is layer and n == name for u, n in self.users):
            self.users.append((layer, name))
        own = layer._parameters.get(name)
        if self.parameter is None:
            if own is not None:  # the layer knows the shape: its tensor becomes the shared one
                self.adopt(own, set_=name not in layer._uninitialized)
            return
        self._check_shape(layer, name, tuple(self.parameter.shape))
        layer.register_parameter(name, self.parameter)
        self.sync()

    def adopt(self, parameter: torch.nn.Parameter, *, set_: bool) -> None:
        """The first tensor with a shape becomes the shared one (taking ``values`` if given)."""
        self.parameter = parameter
        if self.values is not None:
            if tuple(self.values.shape) != tuple(parameter.shape):
                raise ShapeError(f'shared array "{self.name}" must have shape '
                                 f"{fmt_shape(tuple(parameter.shape))} where it is used",
                                 where=f'NetSharedArray "{self.name}"',
                                 got=f"got values of shape {fmt_shape(tuple(self.values.shape))}")
            with torch.no_grad():
                parameter.copy_(self.values)
            set_ = True
        self.is_set = self.is_set or set_
        for layer, name in self.users:
            if layer._parameters.get(name) is not parameter:
                self._check_shape(layer, name, tuple(parameter.shape))
                layer.register_parameter(name, parameter)
        self.sync()

    def _check_shape(self, layer: Any, name: str, shape: tuple[int, ...]) -> None:
        own = layer._parameters.get(name)
        want = layer.array_shapes_for({p: layer.port_shape(p) for p in layer.input_names()}) \
            .get(name) if hasattr(layer, "array_shapes_for") else None
        have = tuple(own.shape) if own is not None else want
        if have is not None and tuple(have) != shape:
            raise ShapeError(f'shared array "{self.name}" has shape {fmt_shape(shape)}, so every '
                             "use must have that shape",
                             where=f'{type(layer).__name__}, array "{name}"',
                             got=f"got a use of shape {fmt_shape(tuple(have))}",
                             fix="share arrays only between layers of the same sizes")

    def mark_set(self) -> None:
        self.is_set = True
        self.sync()

    def sync(self) -> None:
        """Every use has the shared array's state (values given once are given everywhere)."""
        for layer, name in self.users:
            if self.is_set:
                layer._uninitialized.discard(name)
            else:
                layer._uninitialized.add(name)
