"""A layer's learned arrays and its saved state: what every layer owns, in one place.

Each declared array (``array_names``) is in one of three states (:data:`ARRAY_STATES`):

* ``"absent"``: its shape depends on an input shape that is not known yet, so there is no tensor;
* ``"uninitialized"``: it has a shape and dtype but no values (Wolfram semantics: arrays start
  so; the tensor holds NaN until :func:`netgrad.NetInitialize`, :meth:`ArrayLayer.set_array`,
  ``load_state_dict``, :meth:`ArrayLayer.load_state` or training gives it values);
* ``"set"``: it has values.

:meth:`ArrayLayer.save_state` returns a :class:`LayerState` (every array with its state, and every
persistent buffer, including buffers a layer registers after construction), and
:meth:`ArrayLayer.load_state` puts one back after checking all of it, so a state that does not fit
changes nothing. ``netgrad.save``/``netgrad.load`` and trainer checkpoints go through these two
methods; a layer that holds arrays elsewhere (a wrapped torch module, arrays shared with another
layer) overrides both.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

from .._errors import NetKeyError, NetTypeError, NetValueError, ShapeError
from .._module import NetModule
from .._shapes import MaybeShape, fmt_shape
from ._shared import NetSharedArray
from .._stale import supersede

__all__ = ["ArrayLayer", "ArrayState", "LayerState", "ARRAY_STATES"]

#: The states of a declared array.
ARRAY_STATES = ("absent", "uninitialized", "set")


@dataclass(frozen=True)
class ArrayState:
    """One array of a :class:`LayerState`.

    Attributes:
        state: ``"absent"``, ``"uninitialized"`` or ``"set"`` (see the module doc).
        shape, dtype: for ``"uninitialized"`` and ``"set"``.
        requires_grad: whether the array is learned (for ``"uninitialized"`` and ``"set"``).
        values: the values, for ``"set"`` (a tensor of ``shape`` and ``dtype``).
    """

    state: str
    shape: tuple[int, ...] | None = None
    dtype: torch.dtype | None = None
    requires_grad: bool = True
    values: torch.Tensor | None = None
    #: the name of the NetSharedArray this array is (several layers hold the same tensor)
    shared: str | None = None


@dataclass(frozen=True)
class LayerState:
    """What :meth:`ArrayLayer.save_state` returns: ``arrays`` (name → :class:`ArrayState`, one
    per declared array) and ``buffers`` (name → tensor, every persistent buffer)."""

    arrays: dict[str, ArrayState]
    buffers: dict[str, torch.Tensor] = field(default_factory=dict)


class ArrayLayer(NetModule):
    """The array half of :class:`netgrad.layers.Layer`: declared arrays, their state, saving."""

    #: The declared arrays (a class attribute; an instance may drop one, e.g. biases=False).
    array_names: tuple[str, ...] = ()

    def __init__(self) -> None:
        super().__init__()
        self._uninitialized: set[str] = set()
        self._shared: dict[str, NetSharedArray] = {}
        for name in self.array_names:
            self.register_parameter(name, None)
            self._uninitialized.add(name)

    # ---- reading -------------------------------------------------------------------------
    def named_arrays(self) -> Iterator[tuple[tuple[str, ...], ArrayLayer, str]]:
        for name in self.array_names:
            yield (name,), self, name

    def array_state(self, name: str) -> str:
        """``"absent"``, ``"uninitialized"`` or ``"set"`` (see the module doc)."""
        self._check_name(name)
        if self._parameters.get(name) is None:
            return "absent"
        return "uninitialized" if name in self._uninitialized else "set"

    def array_shape(self, name: str) -> MaybeShape:
        """The shape of array ``name`` (None while absent)."""
        self._check_name(name)
        p = self._parameters.get(name)
        return tuple(p.shape) if p is not None else None

    def _check_name(self, name: str) -> None:
        if name not in self.array_names:
            raise NetKeyError(f"{type(self).__name__} has no array {name!r}",
                              where=type(self).__name__, got=f"got {name!r}",
                              fix=f"use one of {list(self.array_names)}" if self.array_names
                              else "this layer has no learned arrays")

    # ---- giving arrays values -----------------------------------------------------------------
    def set_array(self, name: str, value: Any) -> None:
        """Give the array ``name`` values (any array-like of the array's shape), or make it a
        :class:`~netgrad.NetSharedArray` shared with other layers."""
        self._check_name(name)
        if isinstance(value, NetSharedArray):
            self._shared[name] = value
            value.attach(self, name)
            return
        p = self._parameters.get(name)
        dtype = p.dtype if p is not None else (self._device_dtype()[1] or torch.get_default_dtype())
        if isinstance(value, torch.Tensor):
            tensor = value.detach()
        else:
            try:
                tensor = torch.as_tensor(value, dtype=dtype)
            except (TypeError, ValueError, RuntimeError) as e:
                raise NetTypeError(f'the values of array "{name}" are a rectangular array of '
                                   "real numbers", where=type(self).__name__,
                                   got=f"got {type(value).__name__} ({e})",
                                   fix="pass a NumPy array, a torch tensor or nested lists") from None
        if not (tensor.is_floating_point() or tensor.dtype in (torch.int64, torch.int32,
                                                               torch.int16, torch.int8,
                                                               torch.uint8, torch.bool)):
            raise NetTypeError(f'the values of array "{name}" are real numbers',
                               where=type(self).__name__, got=f"got {tensor.dtype}",
                               fix="pass real values")
        if p is None:
            self.register_parameter(name, torch.nn.Parameter(tensor.clone().to(dtype)))
        else:
            if tuple(tensor.shape) != tuple(p.shape):
                raise ShapeError(f'array "{name}" must have shape {fmt_shape(tuple(p.shape))}',
                                 where=f'{type(self).__name__}, array "{name}"',
                                 got=f"got values of shape {fmt_shape(tuple(tensor.shape))}",
                                 fix=f"pass an array of shape {fmt_shape(tuple(p.shape))}")
            with torch.no_grad():
                p.copy_(tensor)
        self._uninitialized.discard(name)
        if name in self._shared:
            self._shared[name].mark_set()

    def initialize_arrays(self, method: str, generator: torch.Generator,
                          reinitialize: bool = False) -> None:
        """Fill uninitialized arrays (all arrays with ``reinitialize``) by ``method``."""
        for name in self.array_names:
            p = self._parameters.get(name)
            if p is None:
                continue
            if reinitialize or name in self._uninitialized:
                with torch.no_grad():
                    self.init_array(name, p, method, generator)
                self._uninitialized.discard(name)
                if name in self._shared:
                    self._shared[name].mark_set()

    def init_array(self, name: str, tensor: torch.Tensor, method: str,
                   generator: torch.Generator) -> None:
        """Initialize one array in place. Biases start at 0; weights by ``method``."""
        if name.endswith("Biases") or tensor.dim() < 2:
            tensor.zero_()
            return
        fan_out = tensor.shape[0]
        fan_in = tensor[0].numel()
        if method == "Kaiming":
            tensor.normal_(0.0, math.sqrt(2.0 / fan_in), generator=generator)
        elif method == "Xavier":
            bound = math.sqrt(6.0 / (fan_in + fan_out))
            tensor.uniform_(-bound, bound, generator=generator)
        elif method == "Orthogonal":
            torch.nn.init.orthogonal_(tensor, generator=generator)
        elif method == "Random":
            tensor.normal_(0.0, 1.0, generator=generator)
        else:  # NetInitialize validates the name before it gets here
            raise NetValueError(f"unknown initialization method {method!r}")

    # ---- for subclasses ------------------------------------------------------------------
    def _create_array(self, name: str, shape: tuple[int, ...], value: Any = None) -> None:
        handle = self._shared.get(name)
        if handle is not None and handle.parameter is not None:  # the shared tensor, not a new one
            handle.attach(self, name)
            return
        self._new_array(name, shape, value)
        if handle is not None:
            handle.adopt(self._parameters[name], set_=name not in self._uninitialized)  # type: ignore[arg-type]

    def _new_array(self, name: str, shape: tuple[int, ...], value: Any = None) -> None:
        device, dtype = self._device_dtype()
        data = torch.full(shape, float("nan"), dtype=dtype or torch.get_default_dtype(), device=device)
        self.register_parameter(name, torch.nn.Parameter(data))
        self._uninitialized.add(name)
        if value is not None:
            self.set_array(name, value)

    def _drop_array(self, name: str) -> None:
        """Remove a declared array from this instance (e.g. ``biases=False``)."""
        self.array_names = tuple(n for n in self.array_names if n != name)
        del self._parameters[name]
        self._uninitialized.discard(name)

    def _weights_and_biases(self, weights: Any, biases: Any) -> torch.Tensor | None:
        """The ``weights=`` / ``biases=`` options of Linear and Convolution layers: initial
        values, or ``biases=False`` for no "Biases" array. Returns the weights, if given."""
        self.has_biases = biases is not False
        if not self.has_biases:
            self._drop_array("Biases")
        elif biases is not None:
            self.set_array("Biases", biases)
        if weights is None:
            return None
        self.set_array("Weights", weights)
        return self._parameters["Weights"]

    # ---- saved state -------------------------------------------------------------------------
    def save_state(self) -> LayerState:
        """Every declared array with its state, and every persistent buffer (tensors detached,
        not copied). Raises NetTypeError for state the base class cannot describe (parameters
        that are not declared arrays, torch submodules): such a layer overrides this method."""
        kind = type(self).__name__
        stray = [n for n, p in self._parameters.items() if n not in self.array_names and p is not None]
        if stray:
            raise NetTypeError("a layer's parameters are its declared arrays", where=kind,
                               got=f"got parameters {stray} not in array_names "
                                   f"{list(self.array_names)}",
                               fix=f"add them to {kind}.array_names, or register them as buffers")
        children = [n for n, _ in self.named_children()]
        if children:
            raise NetTypeError("a layer's state is its arrays and buffers (nets hold layers)",
                               where=kind, got=f"got torch submodules {children}",
                               fix=f"make {kind} a NetGraph of layers, or override save_state and "
                                   "load_state")
        arrays = {}
        for name in self.array_names:
            p = self._parameters.get(name)
            if p is None:
                arrays[name] = ArrayState("absent")
            elif name in self._uninitialized:
                arrays[name] = ArrayState("uninitialized", tuple(p.shape), p.dtype, p.requires_grad,
                                          shared=self._shared_name(name))
            else:
                arrays[name] = ArrayState("set", tuple(p.shape), p.dtype, p.requires_grad,
                                          p.detach(), shared=self._shared_name(name))
        buffers = {n: b.detach() for n, b in self._buffers.items()
                   if b is not None and n not in self._non_persistent_buffers_set}
        return LayerState(arrays, buffers)

    def _shared_already(self, name: str) -> bool:
        """Whether array ``name`` is a shared array that already has its tensor (creating it
        attaches that tensor: a subclass must not give it start values again)."""
        handle = self._shared.get(name)
        return handle is not None and handle.parameter is not None

    def _shared_name(self, name: str) -> str | None:
        handle = self._shared.get(name)
        return handle.name if handle is not None else None

    def load_state(self, state: LayerState) -> None:
        """Put back a :meth:`save_state` result. Everything is checked first (names, states,
        shapes against the shapes the layer already gives its arrays, dtypes), so a state that
        does not fit raises and leaves the layer as it was. Buffers the layer does not have yet
        (registered after construction) are registered."""
        device = self._device_dtype()[0]
        new_buffers = _check_state(self, state)
        supersede([p for n, p in self._parameters.items()
                   if p is not None and state.arrays[n].state != "absent"], "load_state")
        for name, a in state.arrays.items():
            if a.state == "absent":
                continue
            if a.state == "uninitialized":
                data = torch.full(a.shape or (), float("nan"), dtype=a.dtype, device=device)
                self._uninitialized.add(name)
            elif a.values is not None:  # _check_state made sure it is
                data = a.values.detach().to(device).clone()
                self._uninitialized.discard(name)
            self.register_parameter(name, torch.nn.Parameter(data, requires_grad=a.requires_grad))
        for name, value in state.buffers.items():
            value = value.detach().to(device).clone()
            if name in new_buffers:
                self.register_buffer(name, value)
            else:
                self._buffers[name] = value

    def _load_from_state_dict(self, state_dict: Any, prefix: str, local_metadata: Any,
                              strict: bool, missing_keys: list[str], unexpected_keys: list[str],
                              error_msgs: list[str]) -> None:
        for name in self.array_names:
            key = prefix + name
            value, p = state_dict.get(key), self._parameters.get(name)
            if isinstance(value, torch.Tensor) and p is not None and value.shape != p.shape:
                raise ShapeError(f'array "{name}" has shape {fmt_shape(tuple(p.shape))}',
                                 where=f'{type(self).__name__}, array "{name}"',
                                 got=f"got {fmt_shape(tuple(value.shape))} for {key!r} in the "
                                     "state dict",
                                 fix="load a state dict saved from a net with the same sizes "
                                     "(compare net.state_dict() shapes)")
            if key in state_dict and p is None:
                self.register_parameter(name, torch.nn.Parameter(
                    torch.empty_like(state_dict[key], dtype=torch.get_default_dtype())))
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict,
                                      missing_keys, unexpected_keys, error_msgs)
        for name in self.array_names:
            if prefix + name in state_dict:
                self._uninitialized.discard(name)


def _check_state(layer: ArrayLayer, state: Any) -> set[str]:
    """Check that ``state`` fits ``layer`` (raising a NetgradError when not); the names of the
    buffers it holds that ``layer`` does not have yet."""
    kind = type(layer).__name__
    if not isinstance(state, LayerState):
        raise NetTypeError("load_state takes a LayerState (from save_state)", where=kind,
                           got=f"got {type(state).__name__}", fix="pass layer.save_state()")
    names = list(layer.array_names)
    if set(state.arrays) != set(names):
        missing = sorted(set(names) - set(state.arrays))
        extra = sorted(set(state.arrays) - set(names))
        raise NetKeyError(f"the state has one entry per array of {kind}, {names}", where=kind,
                          got="; ".join(([f"got no entry for {missing}"] if missing else [])
                                        + ([f"got unknown arrays {extra}"] if extra else [])),
                          fix="load a state saved from the same layer type and configuration")
    for name in names:
        a = state.arrays[name]
        where = f'{kind}, array "{name}"'
        current = layer.array_shape(name)
        if not isinstance(a, ArrayState) or a.state not in ARRAY_STATES:
            raise NetValueError(f"an array's state is one of {list(ARRAY_STATES)}", where=where,
                                got=f"got {a!r}"[:200], fix="use ArrayState(...)")
        if a.state == "absent":
            if current is not None:
                raise ShapeError("an array saved without a shape has none after loading",
                                 where=where, got=f"got shape {fmt_shape(current)} here",
                                 fix="load a state saved from a layer with the same input shape")
            continue
        if a.shape is None or not isinstance(a.dtype, torch.dtype) or not a.dtype.is_floating_point:
            raise NetTypeError("an array has a shape and a floating-point dtype", where=where,
                               got=f"got shape {a.shape!r} and dtype {a.dtype!r}")
        if current is not None and current != tuple(a.shape):
            raise ShapeError(f"the array has the shape the layer gives it, {fmt_shape(current)}",
                             where=where, got=f"got {fmt_shape(tuple(a.shape))}",
                             fix="load a state saved from a layer with the same sizes")
        if a.state == "set":
            v = a.values
            if not isinstance(v, torch.Tensor) or tuple(v.shape) != tuple(a.shape) or \
                    v.dtype != a.dtype:
                raise ShapeError(f"the values of the array have shape {fmt_shape(tuple(a.shape))} "
                                 f"and dtype {a.dtype}", where=where,
                                 got="got " + (f"{fmt_shape(tuple(v.shape))} {v.dtype}"
                                               if isinstance(v, torch.Tensor)
                                               else type(v).__name__))
    persistent = {n for n, b in layer._buffers.items()
                  if b is not None and n not in layer._non_persistent_buffers_set}
    missing_buffers = sorted(persistent - set(state.buffers))
    if missing_buffers:
        raise NetKeyError("the state holds every buffer of the layer", where=kind,
                          got=f"got no values for buffers {missing_buffers}",
                          fix="load a state saved from the same layer type")
    new: set[str] = set()
    for name, value in state.buffers.items():
        where = f'{kind}, buffer "{name}"'
        if not isinstance(value, torch.Tensor):
            raise NetTypeError("a buffer is a tensor", where=where,
                               got=f"got {type(value).__name__}")
        if name in persistent:
            have = tuple(layer._buffers[name].shape)  # type: ignore[union-attr]
            if tuple(value.shape) != have:
                raise ShapeError(f"the buffer has shape {fmt_shape(have)}", where=where,
                                 got=f"got {fmt_shape(tuple(value.shape))}",
                                 fix="load a state saved from a layer with the same sizes")
        elif not name.isidentifier() or hasattr(layer, name):
            raise NetKeyError("a buffer the layer does not have yet gets a name no attribute of "
                              "the layer uses", where=where, got=f"got {name!r}",
                              fix="the state does not come from this layer type")
        else:
            new.add(name)
    return new
