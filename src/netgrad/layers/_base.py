"""The base class of every layer: declared ports, declared arrays, one call into ``netgrad.ops``.

A layer subclass declares

* ``input_ports`` / ``output_ports``: port names (``variadic = True`` for ``Input1 … Inputn``);
* ``array_names``: its learned arrays (``"Weights"``, ``"Biases"``, ...), registered as
  :class:`torch.nn.Parameter` attributes of the same name;
* ``infer_outputs(shapes)``: per-example output shapes from input shapes (pure);
* ``array_shapes_for(shapes)``: the arrays' shapes once the input shapes are known;
* ``forward(*inputs)``: batched tensors in, one call into :mod:`netgrad.ops`;
* ``get_config()``: the constructor arguments, so ``type(layer).from_config(layer.get_config())``
  rebuilds the layer (without array values).

Arrays start **uninitialized** (Wolfram semantics) unless values are given to the constructor;
:func:`netgrad.NetInitialize` fills them, and so do ``load_state_dict`` and :meth:`set_array`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import torch

from .._errors import NetKeyError, NetValueError, ShapeError
from ..net._module import NetModule
from ..net._shapes import MaybeShape, as_shape, describe_shape, fmt_shape

__all__ = ["Layer", "LAYER_TYPES", "register_layer"]

#: Every layer class by name (used by the summary and by ``netgrad.load``).
LAYER_TYPES: dict[str, type["Layer"]] = {}


def register_layer(cls: type["Layer"]) -> type["Layer"]:
    """Class decorator: make a layer type known by name (to saving and loading)."""
    LAYER_TYPES[cls.__name__] = cls
    return cls


class Layer(NetModule):
    """A layer: ports with per-example shapes, learned arrays, and a ``forward`` into ops."""

    input_ports: ClassVar[tuple[str, ...]] = ("Input",)
    output_ports: ClassVar[tuple[str, ...]] = ("Output",)
    array_names: ClassVar[tuple[str, ...]] = ()
    variadic: ClassVar[bool] = False
    integer_input_ports: ClassVar[frozenset[str]] = frozenset()

    def __init__(self) -> None:
        super().__init__()
        self._declared: dict[str, MaybeShape] = {}
        self._shapes: dict[str, MaybeShape] = {}
        self._uninitialized: set[str] = set()
        self._arity = 2 if self.variadic else None
        for name in self.array_names:
            self.register_parameter(name, None)
            self._uninitialized.add(name)

    def _setup(self, **declared: Any) -> None:
        """Finish construction: record declared port shapes and infer what can be inferred."""
        for port, shape in declared.items():
            if shape is not None:
                self._declared[port] = as_shape(shape, what=f'the shape of port "{port}"')
        self.bind({})

    # ---- ports ---------------------------------------------------------------------------
    def input_names(self) -> tuple[str, ...]:
        if self.variadic:
            return tuple(f"Input{i + 1}" for i in range(self._arity))
        return self.input_ports

    def output_names(self) -> tuple[str, ...]:
        return self.output_ports

    def integer_ports(self) -> frozenset[str]:
        return self.integer_input_ports

    def port_shape(self, port: str) -> MaybeShape:
        return self._shapes.get(port)

    def set_arity(self, n: int) -> None:
        """For variadic layers: the number of inputs (``Input1 … Inputn``)."""
        if not self.variadic:
            raise NetValueError(f"{type(self).__name__} takes a fixed set of inputs "
                                f"{list(self.input_ports)}", got=f"got {n} inputs")
        if n != self._arity:
            self._arity = n
            self._shapes = {}

    def infer_outputs(self, shapes: dict[str, MaybeShape]) -> dict[str, MaybeShape]:
        """Per-example output shapes for these input shapes (override; pure)."""
        (name,) = self.output_names()
        (inp,) = self.input_names()
        return {name: shapes[inp]}

    def array_shapes_for(self, shapes: dict[str, MaybeShape]) -> dict[str, MaybeShape]:
        """Shapes of the learned arrays for these input shapes (override for layers with arrays)."""
        return {}

    def _merged_inputs(self, shapes: Mapping[str, MaybeShape]) -> dict[str, MaybeShape]:
        full = {}
        for p in self.input_names():
            known = [s for s in (self._declared.get(p), shapes.get(p)) if s is not None]
            if len(known) == 2 and known[0] != known[1]:
                raise ShapeError(f"expected {describe_shape(known[0])}",
                                 where=f'{type(self).__name__}, port "{p}"',
                                 got=f"got {describe_shape(known[1])}")
            full[p] = known[0] if known else None
        return full

    def infer(self, shapes: Mapping[str, MaybeShape]) -> dict[str, MaybeShape]:
        full = self.complete_inputs(self._merged_inputs(shapes))
        out = self.infer_outputs(full)
        # Arrays already present fix some shapes: check them against what the inputs imply.
        for name, shape in self.array_shapes_for(full).items():
            p = getattr(self, name)
            if p is not None and shape is not None and tuple(p.shape) != shape:
                raise ShapeError(
                    f'array "{name}" has shape {fmt_shape(tuple(p.shape))}, so the inputs must fit it',
                    where=type(self).__name__,
                    got=f"got inputs {', '.join(f'{k} {fmt_shape(v)}' for k, v in full.items())}, "
                        f"which need {fmt_shape(shape)}")
        return out

    def bind(self, shapes: Mapping[str, MaybeShape]) -> dict[str, MaybeShape]:
        merged = {p: s if s is not None else self._shapes.get(p) for p, s in shapes.items()}
        for p in self.input_names():
            merged.setdefault(p, self._shapes.get(p))
        out = self.infer(merged)
        full = self.complete_inputs(self._merged_inputs(merged))
        self._shapes = {**full, **out}
        for name, shape in self.array_shapes_for(full).items():
            if shape is not None and getattr(self, name) is None:
                self._create_array(name, shape)
        return out

    def declared_port_shapes(self) -> dict[str, MaybeShape]:
        """The input shapes given to the constructor (``input=``), not the inferred ones."""
        return {p: s for p, s in self._declared.items() if s is not None}

    def declared_shape(self, port: str) -> MaybeShape:
        """The shape this layer itself requires of an input port (from its options or arrays)."""
        shape = self._shapes.get(port)
        return shape if shape is not None else self._declared.get(port)

    # ---- arrays --------------------------------------------------------------------------
    def named_arrays(self) -> Iterator[tuple[tuple[str, ...], "Layer", str]]:
        for name in self.array_names:
            yield (name,), self, name

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
        return self.Weights

    def _drop_array(self, name: str) -> None:
        """Remove a declared array from this instance (e.g. ``biases=False``)."""
        self.array_names = tuple(n for n in self.array_names if n != name)
        del self._parameters[name]
        self._uninitialized.discard(name)

    def array_shape(self, name: str) -> MaybeShape:
        p = getattr(self, name)
        return tuple(p.shape) if p is not None else None

    def _create_array(self, name: str, shape: tuple[int, ...], value: Any = None) -> None:
        device, dtype = self._device_dtype()
        data = torch.full(shape, float("nan"), dtype=dtype or torch.get_default_dtype(), device=device)
        self.register_parameter(name, torch.nn.Parameter(data))
        self._uninitialized.add(name)
        if value is not None:
            self.set_array(name, value)

    def set_array(self, name: str, value: Any) -> None:
        """Give the array ``name`` values (any array-like of the array's shape)."""
        if name not in self.array_names:
            raise NetKeyError(f"{type(self).__name__} has no array {name!r}",
                              got=f"got {name!r}", fix=f"use one of {list(self.array_names)}")
        tensor = torch.as_tensor(value, dtype=torch.get_default_dtype()) \
            if not isinstance(value, torch.Tensor) else value.detach()
        p = getattr(self, name)
        if p is None:
            self.register_parameter(name, torch.nn.Parameter(tensor.clone().float()))
        else:
            if tuple(tensor.shape) != tuple(p.shape):
                raise ShapeError(f'array "{name}" must have shape {fmt_shape(tuple(p.shape))}',
                                 where=type(self).__name__,
                                 got=f"got values of shape {fmt_shape(tuple(tensor.shape))}")
            with torch.no_grad():
                p.copy_(tensor)
        self._uninitialized.discard(name)

    def initialize_arrays(self, method: str, generator: torch.Generator,
                          reinitialize: bool = False) -> None:
        """Fill uninitialized arrays (all arrays with ``reinitialize``) by ``method``."""
        for name in self.array_names:
            p = getattr(self, name)
            if p is None:
                continue
            if reinitialize or name in self._uninitialized:
                with torch.no_grad():
                    self.init_array(name, p, method, generator)
                self._uninitialized.discard(name)

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

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict,
                              missing_keys, unexpected_keys, error_msgs):
        for name in self.array_names:
            key = prefix + name
            if key in state_dict and getattr(self, name) is None:
                self.register_parameter(name, torch.nn.Parameter(
                    torch.empty_like(state_dict[key], dtype=torch.get_default_dtype())))
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict,
                                      missing_keys, unexpected_keys, error_msgs)
        for name in self.array_names:
            if prefix + name in state_dict:
                self._uninitialized.discard(name)

    # ---- config --------------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        """Constructor arguments that rebuild this layer (array values are not included)."""
        return {}

    def _with_input(self, config: dict[str, Any]) -> dict[str, Any]:
        """``config`` plus the declared ``input=`` shape, for layers that take one."""
        declared = self._declared.get("Input")
        if declared is not None:
            config["input"] = list(declared)
        return config

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "Layer":
        return cls(**config)

    def config_text(self) -> str:
        """``LinearLayer(3, input=(2,))``-style text for summaries."""
        cfg = self.get_config()
        args = ", ".join(f"{k}={_short(v)}" for k, v in cfg.items() if v is not None)
        return f"{type(self).__name__}({args})"


def _short(value: Any) -> str:
    if callable(value):
        return getattr(value, "__name__", "function")
    return repr(value)
