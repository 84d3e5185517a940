"""The base class of every layer: declared ports, declared arrays, one call into ``netgrad.ops``.

A layer subclass declares

* ``input_ports`` / ``output_ports``: port names (``variadic = True`` for ``Input1 … Inputn``);
* ``array_names``: its learned arrays (``"Weights"``, ``"Biases"``, ...), registered as
  :class:`torch.nn.Parameter` attributes of the same name;
* ``infer_outputs(shapes)``: per-example output shapes from input shapes (pure);
* ``array_shapes_for(shapes)``: the arrays' shapes once the input shapes are known;
* ``forward(*inputs)``: batched tensors in, one call into :mod:`netgrad.ops`;
* ``get_config()``: the constructor arguments, so ``type(layer).from_config(layer.get_config())``
  rebuilds the layer (without array values);
* ``sequence_support``: how it treats sequence inputs (a ``Varying`` first dimension), see
  :attr:`Layer.sequence_support`; ``optional_input_ports`` / ``optional_output_ports``: ports
  that exist only when a NetGraph connects them (a recurrent layer's initial and final
  ``"State"``).

Arrays start **uninitialized** (Wolfram semantics) unless values are given to the constructor;
:func:`netgrad.NetInitialize` fills them, and so do ``load_state_dict`` and :meth:`set_array`.
The arrays, their state (``array_state(name)``) and the layer's saved state (``save_state()`` /
``load_state(state)``) are :class:`~netgrad.layers._arrays.ArrayLayer`'s part of a layer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch

from .._errors import NetgradError, NetKeyError, NetTypeError, NetValueError, ShapeError
from .._module import uninitialized_error
from .._sequences import common_lengths, masked_mean
from .._shapes import MaybeShape, ShapeLike, as_shape, describe_shape, fmt_shape, has_varying
from ._arrays import ArrayLayer

__all__ = ["Layer", "LAYER_TYPES", "MODULE_TYPES", "register_layer", "module_type_name"]

#: Every layer class by name (used by the summary and by ``netgrad.load``).
LAYER_TYPES: dict[str, type["Layer"]] = {}
#: Every torch module class a ModuleLayer may hold in a saved net, by qualified name
#: (``"torch.nn.modules.linear.Linear"``); every ``torch.nn`` module class is registered.
MODULE_TYPES: dict[str, type[torch.nn.Module]] = {}


def module_type_name(cls: type) -> str:
    """The name a torch module class is saved under: ``module.qualname``."""
    return f"{cls.__module__}.{cls.__qualname__}"


def register_layer(cls: Any) -> Any:
    """Make a class loadable by name: a :class:`Layer` subclass (also usable as a decorator),
    or a ``torch.nn.Module`` subclass held by a ModuleLayer (a plain module in a net).

    ``netgrad.load`` builds only registered classes: a layer from its ``get_config()``, a torch
    module from its saved attributes, without running code from the file. Register the same
    class before loading that was registered before saving.
    """
    if isinstance(cls, type) and issubclass(cls, Layer):
        LAYER_TYPES[cls.__name__] = cls
        return cls
    if isinstance(cls, type) and issubclass(cls, torch.nn.Module):
        MODULE_TYPES[module_type_name(cls)] = cls
        return cls
    raise NetTypeError("register_layer takes a netgrad Layer subclass or a torch.nn.Module "
                       "subclass", where="register_layer",
                       got=f"got {type(cls).__name__} {cls!r:.60}",
                       fix="pass the class itself, e.g. netgrad.register_layer(MyLayer)")


def _register_torch_modules() -> None:
    for value in vars(torch.nn).values():
        if isinstance(value, type) and issubclass(value, torch.nn.Module):
            MODULE_TYPES.setdefault(module_type_name(value), value)


class Layer(ArrayLayer):
    """A layer: ports with per-example shapes, learned arrays, and a ``forward`` into ops."""

    input_ports: ClassVar[tuple[str, ...]] = ("Input",)
    output_ports: ClassVar[tuple[str, ...]] = ("Output",)
    variadic: ClassVar[bool] = False
    integer_input_ports: frozenset[str] = frozenset()  # a layer may set its own
    #: How the layer treats sequence inputs (shape ``(Varying, ...)``; the batch is padded to
    #: ``(batch, max_length, ...)`` and each sequence's length travels with it):
    #:
    #: * ``None``: it takes none; a varying input is a ShapeError naming the layer;
    #: * ``"positions"``: it acts on each position on its own (elementwise, dropout, an
    #:   embedding), so the padded batch goes through ``forward`` unchanged and its varying
    #:   outputs keep the lengths;
    #: * ``"mean"``: a loss whose value is a mean over the elements of an example: it runs on
    #:   every position, and each sequence's loss is the mean over its own positions;
    #: * ``"lengths"``: it mixes positions and implements :meth:`run_sequences` itself.
    sequence_support: ClassVar[str | None] = None
    #: Input ports that exist only when a NetGraph connects them (forward gets None otherwise).
    optional_input_ports: ClassVar[tuple[str, ...]] = ()
    #: Output ports that exist only when a NetGraph connects them.
    optional_output_ports: ClassVar[tuple[str, ...]] = ()

    def __init__(self) -> None:
        super().__init__()
        self._declared: dict[str, MaybeShape] = {}
        self._shapes: dict[str, MaybeShape] = {}
        self._arity = 2 if self.variadic else None

    def _setup(self, **declared: Any) -> None:
        """Finish construction: record declared port shapes and infer what can be inferred."""
        for port, shape in declared.items():
            if shape is not None:
                self._declared[port] = as_shape(shape, what=f'the shape of port "{port}"',
                                                where=f'{type(self).__name__}, port "{port}"')
        self.bind({})

    # ---- ports ---------------------------------------------------------------------------
    def input_names(self) -> tuple[str, ...]:
        if self.variadic:
            return tuple(f"Input{i + 1}" for i in range(self._arity or 0))
        return self.input_ports

    def output_names(self) -> tuple[str, ...]:
        return self.output_ports

    def integer_ports(self) -> frozenset[str]:
        return self.integer_input_ports

    def optional_inputs(self) -> tuple[str, ...]:
        return self.optional_input_ports

    def optional_outputs(self) -> tuple[str, ...]:
        return self.optional_output_ports

    def port_shape(self, port: str) -> MaybeShape:
        return self._shapes.get(port)

    def set_arity(self, n: int) -> None:
        """For variadic layers: the number of inputs (``Input1 … Inputn``)."""
        if not self.variadic:
            raise NetValueError(f"{type(self).__name__} takes a fixed set of inputs "
                                f"{list(self.input_ports)}", where=type(self).__name__,
                                got=f"got {n} inputs", fix="connect one source to each input port")
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise NetValueError(f"{type(self).__name__} takes at least 1 input",
                                where=type(self).__name__, got=f"got n={n!r}",
                                fix="e.g. n=2, or connect the sources in a NetGraph")
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
                                 got=f"got {describe_shape(known[1])}",
                                 fix=f"give data of shape {fmt_shape(known[0])} per example, or "
                                     "declare the port with the shape you have")
            full[p] = known[0] if known else None
        for p in self.optional_inputs():
            if shapes.get(p) is not None:
                full[p] = shapes[p]
        return full

    # ---- sequences -----------------------------------------------------------------------
    def sequence_mode(self, shapes: Mapping[str, MaybeShape]) -> str | None:
        """How this layer takes sequence inputs of these shapes (see :attr:`sequence_support`)."""
        return self.sequence_support

    def sequence_fix(self) -> str:
        """The fix an error suggests when this layer gets a sequence it does not take."""
        return (f"apply it to each element of the sequence: NetMapOperator({self.config_text()}), "
                "or reduce the sequence first (SequenceLastLayer(), AggregationLayer)")

    def _check_sequences(self, full: Mapping[str, MaybeShape]) -> None:
        varying = [p for p, s in full.items() if has_varying(s)]
        if varying and self.sequence_mode(full) is None:
            p = varying[0]
            raise ShapeError(f"{type(self).__name__} does not take a sequence of varying length",
                             where=f'{type(self).__name__}, port "{p}"',
                             got=f"got {describe_shape(full[p])}", fix=self.sequence_fix())

    def run_sequences(self, inputs: Mapping[str, torch.Tensor],
                      lengths: Mapping[str, torch.Tensor]
                      ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """Padded batches in by port, with ``lengths`` ``(batch,)`` of the varying ports;
        outputs by port, and the lengths of the varying outputs."""
        shapes = {p: self.port_shape(p) for p in inputs}
        mode = self.sequence_mode(shapes)
        lens = common_lengths(lengths, type(self).__name__)
        if mode == "mean":
            b, t = inputs[next(iter(lengths))].shape[:2]
            flat = {p: x.flatten(0, 1) if p in lengths else x for p, x in inputs.items()}
            out = self.run_ports(flat)
            return {p: masked_mean(y.reshape(b, t), lens) for p, y in out.items()}, {}
        # "positions": every output is a sequence of the inputs' lengths
        out = self.run_ports(inputs)
        return out, dict.fromkeys(out, lens)

    def infer(self, shapes: Mapping[str, MaybeShape]) -> dict[str, MaybeShape]:
        full = self.complete_inputs(self._merged_inputs(shapes))
        self._check_sequences(full)
        out = self.infer_outputs(full)
        # Arrays already present fix some shapes: check them against what the inputs imply.
        for name, shape in self.array_shapes_for(full).items():
            p = getattr(self, name)
            if p is not None and shape is not None and tuple(p.shape) != shape:
                raise ShapeError(
                    f'array "{name}" has shape {fmt_shape(tuple(p.shape))}, so the inputs must fit it',
                    where=type(self).__name__,
                    got=f"got inputs {', '.join(f'{k} {fmt_shape(v)}' for k, v in full.items())}, "
                        f"which need {fmt_shape(shape)}",
                    fix=f'give "{name}" values of shape {fmt_shape(shape)}, or inputs that fit '
                        f"{fmt_shape(tuple(p.shape))}")
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

    def declare_port_shapes(self, shapes: Mapping[str, ShapeLike]) -> None:
        """Declare per-example shapes of input ports (as ``input=`` does) and infer from them;
        when they do not fit, raise and leave the layer as it was."""
        kind = type(self).__name__
        unknown = [p for p in shapes if p not in self.input_names()]
        if unknown:
            raise NetKeyError(f"{kind} has no input port {unknown[0]!r}", where=kind,
                              got=f"got ports {list(shapes)}",
                              fix=f"its input ports are {list(self.input_names())}")
        old = dict(self._declared)
        self._declared.update({p: as_shape(s, what=f'the shape of port "{p}"')
                               for p, s in shapes.items()})
        try:
            self.infer({})
        except NetgradError:
            self._declared = old
            raise
        self.bind({})

    # ---- running -------------------------------------------------------------------------
    def require_arrays(self) -> None:
        """Raise if an array has no values (running would give NaN: say so instead)."""
        if self._uninitialized:
            raise uninitialized_error([((name,), type(self).__name__)
                                       for name in self.array_names if name in self._uninitialized])

    def run_ports(self, inputs: Mapping[str, torch.Tensor],
                  lengths: Mapping[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        self.require_arrays()
        return super().run_ports(inputs, lengths)

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

    def arrays_text(self) -> str:
        """``Weights (2, 3), Biases (2,) uninitialized``: the arrays with shapes and states."""
        arrays = []
        for name in self.array_names:
            state = self.array_state(name)
            shape = fmt_shape(self.array_shape(name)) if state != "absent" else "?"
            arrays.append(f"{name} {shape}" + (" uninitialized" if state != "set" else ""))
        return ", ".join(arrays)

    def summary_lines(self) -> list[str]:
        arrays = self.arrays_text()
        return [f"{self.config_text()}  {self.ports_text()}" + (f"; arrays: {arrays}" if arrays else "")]

    def summary_rows(self, path: tuple[str, ...] = ()) -> list[dict[str, str]]:
        def ports(names: tuple[str, ...]) -> str:
            return ", ".join(f"{p} {fmt_shape(self.port_shape(p))}" for p in names)
        return [{"vertex": "/".join(path) or "(layer)", "layer": self.config_text(),
                 "inputs": ports(self.input_names()), "outputs": ports(self.output_names()),
                 "arrays": self.arrays_text()}]


def _short(value: Any) -> str:
    if callable(value):
        return getattr(value, "__name__", "function")
    return repr(value)


_register_torch_modules()
