"""Net operators: nets built from nets that run them over sequences, repeatedly or in pairs.

* :class:`NetMapOperator` applies a net to each element of a sequence;
  :class:`NetMapThreadOperator` to the elements of several sequences in step (and to inputs
  that are not sequences, the same for every element).
* :class:`NetFoldOperator` folds a net over a sequence, carrying a state (a recurrence).
* :class:`NetNestOperator` applies a net ``n`` times.
* :class:`NetBidirectionalOperator` runs one net forward and another backward over a sequence.
* :class:`NetPairEmbeddingOperator` embeds two inputs with one net and returns their distance.
* :class:`NetGANOperator` pairs a generator with a discriminator (``netgrad.train`` alternates
  their losses).

Each is a :class:`~netgrad.NetModule` whose vertices are the nets it holds (``op["Net"]``,
paths such as ``("map", "Net", "Weights")`` for NetPortGradient), and each honours sequence
lengths: a map runs its net on the valid elements only, a fold stops updating each sequence's
state at its end, a bidirectional operator reverses each sequence within its own length.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar, cast

import torch

from .. import ops
from .._errors import NetKeyError, NetValueError, ShapeError
from .._module import NetModule
from .._sequences import common_lengths, positions_mask
from .._shapes import MaybeShape, ShapeLike, Varying, as_shape, describe_shape
from ..layers import _attention
from ..layers._sequence import reverse_sequences
from ._graph import as_layer
from ._summary import graph_summary_lines

__all__ = ["NetMapOperator", "NetMapThreadOperator", "NetFoldOperator", "NetNestOperator",
           "NetBidirectionalOperator", "NetPairEmbeddingOperator", "NetGANOperator",
           "AttentionNetOperator", "OPERATOR_TYPES"]

#: Every operator class by name (for saving and loading).
OPERATOR_TYPES: dict[str, type["Operator"]] = {}


def _register(cls):
    OPERATOR_TYPES[cls.__name__] = cls
    return cls


class Operator(NetModule):
    """The shared part of the operators: named vertices (the nets held), arrays by path,
    summaries, shapes recorded by :meth:`bind`."""

    #: the vertices' names, in the order the constructor takes the nets
    roles: ClassVar[tuple[str, ...]] = ("Net",)

    @classmethod
    def from_vertices(cls, nets: Mapping[str, NetModule], config: Mapping[str, Any]) -> "Operator":
        """Rebuild from the nets held (by role) and :meth:`get_config` (used by ``load``)."""
        return cls(*[nets[r] for r in cls.roles], **config)  # type: ignore[arg-type]

    def __init__(self, nets: Mapping[str, Any]) -> None:
        super().__init__()
        kind = type(self).__name__
        self.vertices = torch.nn.ModuleDict()
        for name, spec in nets.items():
            self.vertices[name] = as_layer(spec, f'{kind} › "{name}"')
        self._names = list(nets)
        self._declared: dict[str, MaybeShape] = {}
        self._shapes: dict[str, MaybeShape] = {}

    # ---- structure -------------------------------------------------------------------------
    def vertex_names(self) -> list[str]:
        return list(self._names)

    def vertex_name(self, ref: Any) -> str:
        if isinstance(ref, int) and not isinstance(ref, bool) and 0 <= ref < len(self._names):
            return self._names[ref]
        if isinstance(ref, str) and ref in self.vertices:
            return ref
        raise NetKeyError(f"{type(self).__name__} has no vertex {ref!r}",
                          where=type(self).__name__, got=f"got {ref!r}",
                          fix=f"its vertices are {self._names} (or positions 0 to "
                              f"{len(self._names) - 1})")

    def _net(self, name: str) -> NetModule:
        return cast(NetModule, self.vertices[name])

    def vertex(self, ref: Any) -> NetModule:
        return self._net(self.vertex_name(ref))

    def __getitem__(self, ref: Any) -> NetModule:
        return self.vertex(ref)

    def named_arrays(self) -> Iterator[tuple[tuple[str, ...], Any, str]]:
        for v in self._names:
            for path, layer, name in self._net(v).named_arrays():
                yield (v,) + path, layer, name

    def summary_lines(self) -> list[str]:
        return graph_summary_lines(self)

    # ---- shapes ----------------------------------------------------------------------------
    def port_shape(self, port: str) -> MaybeShape:
        return self._shapes.get(port)

    def declared_shape(self, port: str) -> MaybeShape:
        s = self._shapes.get(port)
        return s if s is not None else self._declared.get(port)

    def declared_port_shapes(self) -> dict[str, MaybeShape]:
        return {p: s for p, s in self._declared.items() if s is not None}

    def _merged(self, shapes: Mapping[str, MaybeShape]) -> dict[str, MaybeShape]:
        kind = type(self).__name__
        out = {}
        for p in self.input_names() + self.optional_inputs():
            known = [s for s in (self._declared.get(p), shapes.get(p)) if s is not None]
            if len(known) == 2 and known[0] != known[1]:
                raise ShapeError(f"expected {describe_shape(known[0])}",
                                 where=f'{kind}, port "{p}"', got=f"got {describe_shape(known[1])}")
            if known or p in self.input_names():
                out[p] = known[0] if known else None
        return out

    def infer(self, shapes: Mapping[str, MaybeShape]) -> dict[str, MaybeShape]:
        return self._infer(self.complete_inputs(self._merged(shapes)), commit=False)

    def bind(self, shapes: Mapping[str, MaybeShape]) -> dict[str, MaybeShape]:
        merged = self.complete_inputs(self._merged(
            {p: s if s is not None else self._shapes.get(p)
             for p, s in {**self._shapes, **shapes}.items()
             if p in self.input_names() + self.optional_inputs()}))
        out = self._infer(merged, commit=True)
        self._shapes = {**merged, **out}
        return out

    def _infer(self, shapes: dict[str, MaybeShape], commit: bool) -> dict[str, MaybeShape]:
        raise NotImplementedError

    def _inner(self, name: str, shapes: Mapping[str, MaybeShape], commit: bool
               ) -> dict[str, MaybeShape]:
        """Infer (or bind) the vertex ``name`` on these input shapes, errors located in it."""
        net = self._net(name)
        try:
            return net.bind(shapes) if commit else net.infer(shapes)
        except Exception as e:  # noqa: BLE001 (NetgradErrors are located, others re-raised)
            if hasattr(e, "located"):
                raise e.located(f'{type(self).__name__} › "{name}" ({type(net).__name__})') \
                    from None
            raise

    def complete_inputs(self, shapes):
        return dict(shapes)

    def _setup(self, **declared: ShapeLike) -> None:
        for p, s in declared.items():
            if s is not None:
                self._declared[p] = as_shape(s, what=f'the shape of port "{p}"')
        self.bind({})

    # ---- running ---------------------------------------------------------------------------
    def run_ports(self, inputs, lengths=None):
        if lengths:
            return self.run_sequences(inputs, lengths)[0]
        self.check_initialized()
        return self._by_port(torch.nn.Module.__call__(self, **dict(inputs)))

    def run_sequences(self, inputs, lengths):
        self.check_initialized()
        out = torch.nn.Module.__call__(self, **dict(inputs), lengths=dict(lengths))
        return self._by_port(out), self.output_lengths(dict(lengths))

    def _by_port(self, out: Any) -> dict[str, torch.Tensor]:
        return dict(out) if isinstance(out, Mapping) else {self.output_names()[0]: out}

    def output_lengths(self, lengths: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {}

    def get_config(self) -> dict[str, Any]:
        return {}


def _sequence_of(shape: MaybeShape, length: Any = Varying) -> MaybeShape:
    return None if shape is None else (length,) + tuple(shape)


def _element(shape: MaybeShape, port: str, kind: str) -> MaybeShape:
    if shape is None:
        return None
    if len(shape) == 0:
        raise ShapeError("expected a sequence (an array whose first dimension is mapped over)",
                         where=f'{kind}, port "{port}"', got="got a scalar",
                         fix='declare a sequence, e.g. ("Varying", 3)')
    return tuple(shape[1:])


# ----------------------------------------------------------------------------- maps
@_register
class NetMapThreadOperator(Operator):
    """Applies ``net`` to the elements of its sequence inputs in step (element i of every
    mapped input together), giving a sequence of outputs of the same length.

    Args:
        net: a layer or net.
        levels: ``{port: 0}`` for inputs that are not sequences: the same value goes to every
            element (Wolfram's NetMapThreadOperator[net, <|port -> 0|>]); other ports are mapped
            over their first dimension (level 1).
        **ports: declared shapes of the operator's ports, e.g. ``Input=("Varying", 3)``.

    Shape:
        - a mapped port: ``(Varying, *s)`` (or ``(n, *s)``) where the net's port is ``s``; all
          mapped inputs of one example have the same length.
        - each output: ``(Varying, *o)`` where the net's output is ``o``.

    With lengths, only the valid elements are computed (the net never sees padding, so
    statistics-based layers inside it are right), and padding gets exactly 0.
    """

    sequence_support = "lengths"

    def __init__(self, net: Any, levels: Mapping[str, int] | None = None, **ports: ShapeLike) -> None:
        super().__init__({"Net": net})
        kind = type(self).__name__
        inner = self._net("Net")
        levels = dict(levels or {})
        for p, lv in levels.items():
            if p not in inner.input_names():
                raise NetKeyError(f"the net has no input port {p!r}", where=kind,
                                  got=f"got levels {levels}",
                                  fix=f"its input ports are {list(inner.input_names())}")
            if lv not in (0, 1):
                raise NetValueError("a level is 1 (mapped over) or 0 (the same for every "
                                    "element)", where=kind, got=f"got {p}: {lv!r}")
        self.levels = {p: levels.get(p, 1) for p in inner.input_names()}
        self._ports_arg = dict(ports)
        if not any(self.levels.values()):
            raise NetValueError("at least one input must be mapped over (level 1)", where=kind,
                                got=f"got levels {levels}")
        self._setup(**ports)

    def input_names(self):
        return self._net("Net").input_names()

    def output_names(self):
        return self._net("Net").output_names()

    def integer_ports(self):
        return self._net("Net").integer_ports()

    def _mapped(self) -> list[str]:
        return [p for p, lv in self.levels.items() if lv == 1]

    def complete_inputs(self, shapes):
        """A port not declared takes the net's shape (a sequence of it, if mapped)."""
        inner = self._net("Net")
        out = dict(shapes)
        for p in self.input_names():
            if out.get(p) is None:
                s = inner.declared_shape(p)
                out[p] = _sequence_of(s) if self.levels[p] else s
        return out

    def _infer(self, shapes, commit):
        kind = type(self).__name__
        inner = {p: (_element(s, p, kind) if self.levels[p] else s) for p, s in shapes.items()}
        lengths = {shapes[p][0] for p in self._mapped() if shapes.get(p) is not None}
        if len(lengths) > 1:
            raise ShapeError("the mapped inputs must be sequences of the same length",
                             where=kind, got="got " + ", ".join(
                                 f"{p} {describe_shape(shapes[p])}" for p in self._mapped()))
        length = lengths.pop() if lengths else Varying
        outs = self._inner("Net", inner, commit)
        return {p: _sequence_of(s, length) for p, s in outs.items()}

    def output_lengths(self, lengths):
        mapped = {p: n for p, n in lengths.items() if self.levels.get(p)}
        return dict.fromkeys(self.output_names(), common_lengths(mapped, type(self).__name__)) \
            if mapped else {}

    def forward(self, *args: torch.Tensor, lengths: Mapping[str, torch.Tensor] | None = None,
                **kwargs: torch.Tensor):
        """Batched tensors by port (``(B, T, *s)`` for mapped ports), ``lengths``
        ``{port: (B,)}`` → outputs ``(B, T, *o)`` (a tensor, or a dict for several ports)."""
        inputs = dict(zip(self.input_names(), args), **kwargs)
        mapped = self._mapped()
        b, t = inputs[mapped[0]].shape[:2]
        n = None
        if lengths:
            n = common_lengths({p: lengths[p] for p in mapped if p in lengths},
                               type(self).__name__) if any(p in lengths for p in mapped) else None
        index = None
        if n is not None and not torch.compiler.is_compiling():
            # only the valid elements: the net never sees padding
            index = positions_mask(n.to(inputs[mapped[0]].device), t).flatten().nonzero().flatten()
        flat = {}
        for p, x in inputs.items():
            if self.levels[p]:
                x = x.flatten(0, 1)
            else:
                x = x.unsqueeze(1).expand(b, t, *x.shape[1:]).flatten(0, 1)
            flat[p] = x.index_select(0, index) if index is not None else x
        outs = self._net("Net").run_ports(flat)
        result = {}
        for p, y in outs.items():
            if index is not None:
                full = y.new_zeros((b * t,) + tuple(y.shape[1:]))
                y = full.index_add(0, index, y) if y.is_floating_point() else \
                    full.index_copy(0, index, y)
            result[p] = y.reshape(b, t, *y.shape[1:])
        return next(iter(result.values())) if len(result) == 1 else result

    def get_config(self) -> dict[str, Any]:
        cfg: dict[str, Any] = {}
        fixed = {p: 0 for p, lv in self.levels.items() if lv == 0}
        if fixed:
            cfg["levels"] = fixed
        cfg.update({p: list(s) for p, s in self._declared.items() if s is not None})
        return cfg


@_register
class NetMapOperator(NetMapThreadOperator):
    """Applies ``net`` to each element of a sequence: input ``(Varying, *s)`` → output
    ``(Varying, *o)`` where the net maps ``s`` to ``o`` (``NetMapOperator(LinearLayer(3))``
    is a LinearLayer on every element).

    Args:
        net: a layer or net with one input port.
        input: the operator's input shape, e.g. ``("Varying", 8)`` or ``(10, 8)``.
    """

    def __init__(self, net: Any, *, input: ShapeLike = None) -> None:
        inner = as_layer(net, "NetMapOperator")
        if len(inner.input_names()) != 1:
            raise NetValueError("NetMapOperator maps a net with one input port",
                                where="NetMapOperator",
                                got=f"got a net with inputs {list(inner.input_names())}",
                                fix="use NetMapThreadOperator for several inputs")
        ports: dict[str, Any] = {inner.input_names()[0]: input} if input is not None else {}
        super().__init__(inner, None, **ports)

    def get_config(self) -> dict[str, Any]:
        (port,) = self.input_names()
        s = self._declared.get(port)
        return {"input": list(s)} if s is not None else {}


# ----------------------------------------------------------------------------- fold
@_register
class NetFoldOperator(Operator):
    """Folds ``net`` over a sequence: ``state = net(element, state)`` for each element in turn.

    Args:
        net: a net with inputs "Input" (one element) and "State", and an output that is the new
            state (``state_output``, default "Output"); other inputs of the net become inputs
            of the operator, the same for every step.
        state_output: the net's output port that becomes the next state.
        input: the operator's input shape, ``("Varying", *s)``.

    Ports:
        - "Input" ``(Varying, *s)``; optional "State": the initial state (default 0).
        - "Output" ``(Varying, *state)``: the state after each element; optional "State": the
          final state, at each sequence's own end (no update past it).
    """

    sequence_support = "lengths"
    optional_input_ports: ClassVar[tuple[str, ...]] = ("State",)
    optional_output_ports: ClassVar[tuple[str, ...]] = ("State",)

    def __init__(self, net: Any, state_output: str = "Output", *, input: ShapeLike = None) -> None:
        super().__init__({"Net": net})
        inner = self._net("Net")
        kind = type(self).__name__
        missing = [p for p in ("Input", "State") if p not in inner.input_names()]
        if missing:
            raise NetValueError('NetFoldOperator folds a net with inputs "Input" and "State"',
                                where=kind, got=f"got a net with inputs {list(inner.input_names())}",
                                fix='name the ports, e.g. NetGraph(..., Input=..., State=...)')
        if state_output not in inner.output_names():
            raise NetKeyError(f"the net has no output {state_output!r} to carry as the state",
                              where=kind, got=f"got outputs {list(inner.output_names())}",
                              fix=f"state_output is one of {list(inner.output_names())}")
        self.state_output = state_output
        self._setup(Input=input)

    def input_names(self):
        return ("Input",) + tuple(p for p in self._net("Net").input_names()
                                  if p not in ("Input", "State"))

    def output_names(self):
        return ("Output",)

    def optional_inputs(self):
        return self.optional_input_ports

    def optional_outputs(self):
        return self.optional_output_ports

    def _infer(self, shapes, commit):
        kind = type(self).__name__
        inner = self._net("Net")
        x = shapes.get("Input")
        element = _element(x, "Input", kind)
        state = shapes.get("State") or inner.declared_shape("State")
        args = {p: s for p, s in shapes.items() if p not in ("Input", "State")}
        outs = self._inner("Net", {"Input": element, "State": state, **args}, commit)
        new = outs[self.state_output]
        if state is not None and new is not None and new != state:
            raise ShapeError(f'the net\'s output "{self.state_output}" becomes the next state, so '
                             f"it must have the state's shape {describe_shape(state)}",
                             where=f'{kind} › "Net"', got=f"got {describe_shape(new)}")
        length = x[0] if x is not None else Varying
        return {"Output": _sequence_of(new, length), "State": new}

    def output_lengths(self, lengths):
        return {"Output": lengths["Input"]} if "Input" in lengths else {}

    def forward(self, Input: torch.Tensor, State: torch.Tensor | None = None, *,
                lengths: Mapping[str, torch.Tensor] | None = None, **others: torch.Tensor):
        """``Input`` ``(B, T, *s)``, optional initial ``State`` (default 0), ``lengths`` →
        ``{"Output": (B, T, *state), "State": (B, *state)}``."""
        inner = self._net("Net")
        b, t = Input.shape[:2]
        if State is None:
            shape = self.port_shape("State")
            if shape is None:
                raise NetValueError("the state's shape is unknown", where=type(self).__name__,
                                    fix='declare it on the net: NetGraph(..., State=n)')
            State = Input.new_zeros((b,) + tuple(shape))
        n = (lengths or {}).get("Input")
        active = None if n is None else positions_mask(n.to(Input.device), t)
        state, outs = State, []
        for i in range(t):
            new = inner.run_ports({"Input": Input[:, i], "State": state, **others})[self.state_output]
            if active is None:
                state = new
                outs.append(new)
            else:
                a = active[:, i].reshape(b, *([1] * (new.dim() - 1)))
                state = ops.where(a, new, state)
                outs.append(ops.where(a, new, 0.0))
        seq = torch.stack(outs, 1) if outs else State.new_zeros((b, 0) + tuple(State.shape[1:]))
        return {"Output": seq, "State": state}

    def get_config(self) -> dict[str, Any]:
        cfg: dict[str, Any] = {}
        if self.state_output != "Output":
            cfg["state_output"] = self.state_output
        s = self._declared.get("Input")
        if s is not None:
            cfg["input"] = list(s)
        return cfg


# ----------------------------------------------------------------------------- nest
@_register
class NetNestOperator(Operator):
    """Applies ``net`` ``n`` times: ``net(net(…net(x)))`` (the same arrays each time).

    Args:
        net: a net with one input and one output of the same shape.
        n: how many times (0 is the identity).
        input: the input shape.
    """

    def __init__(self, net: Any, n: int, *, input: ShapeLike = None) -> None:
        super().__init__({"Net": net})
        inner = self._net("Net")
        kind = type(self).__name__
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise NetValueError("NetNestOperator's n is a non-negative int", where=kind,
                                got=f"got {n!r}")
        if len(inner.input_names()) != 1 or len(inner.output_names()) != 1:
            raise NetValueError("NetNestOperator nests a net with one input and one output",
                                where=kind, got=f"got inputs {list(inner.input_names())} and "
                                                f"outputs {list(inner.output_names())}")
        self.n = n
        self.sequence_support = "lengths"
        self._setup(**({inner.input_names()[0]: input} if input is not None else {}))

    def input_names(self):
        return self._net("Net").input_names()

    def output_names(self):
        return self._net("Net").output_names()

    def integer_ports(self):
        return self._net("Net").integer_ports()

    def _infer(self, shapes, commit):
        (p,) = self.input_names()
        (o,) = self.output_names()
        s = shapes.get(p)
        out = self._inner("Net", {p: s}, commit)[o]
        if s is not None and out is not None and out != s:
            raise ShapeError(f"a nested net's output feeds its input, so it must have the input's "
                             f"shape {describe_shape(s)}", where=f'{type(self).__name__} › "Net"',
                             got=f"got {describe_shape(out)}")
        return {o: s if s is not None else out}

    def output_lengths(self, lengths):
        (p,) = self.input_names()
        (o,) = self.output_names()
        return {o: lengths[p]} if p in lengths else {}

    def forward(self, *args: torch.Tensor, lengths: Mapping[str, torch.Tensor] | None = None,
                **kwargs: torch.Tensor) -> torch.Tensor:
        (p,) = self.input_names()
        (o,) = self.output_names()
        x = args[0] if args else kwargs[p]
        n = (lengths or {}).get(p)
        inner = self._net("Net")
        for _ in range(self.n):
            if n is not None:
                outs, out_lengths = inner.run_sequences({p: x}, {p: n})
                n = out_lengths.get(o, n)
                x = outs[o]
            else:
                x = inner.run_ports({p: x})[o]
        return x

    def get_config(self) -> dict[str, Any]:
        cfg: dict[str, Any] = {"n": self.n}
        (p,) = self.input_names()
        s = self._declared.get(p)
        if s is not None:
            cfg["input"] = list(s)
        return cfg


# ----------------------------------------------------------------------------- bidirectional
_AGGREGATIONS = ("Catenate", "Total", "Mean", None)


@_register
class NetBidirectionalOperator(Operator):
    """Runs ``forward`` over a sequence and ``backward`` over the same sequence reversed (each
    within its own length), reverses the backward outputs back and combines the two at each
    position.

    Args:
        forward: a net from a sequence ``(Varying, k)`` to a sequence ``(Varying, n)`` (e.g. an
            LSTM).
        backward: the net for the reversed sequence; default an independent copy of
            ``forward`` (its own arrays).
        aggregation: ``"Catenate"`` (``(Varying, n1 + n2)``), ``"Total"`` or ``"Mean"`` (equal
            sizes), or None: two outputs "ForwardOutput" and "BackwardOutput".
        input: the input shape.
    """

    sequence_support = "lengths"
    roles = ("Forward", "Backward")

    def __init__(self, forward: Any, backward: Any = None, aggregation: str | None = "Catenate",
                 *, input: ShapeLike = None) -> None:
        fwd = as_layer(forward, "NetBidirectionalOperator")
        bwd = copy.deepcopy(fwd) if backward is None else backward
        super().__init__({"Forward": fwd, "Backward": bwd})
        kind = type(self).__name__
        if aggregation not in _AGGREGATIONS:
            raise NetValueError(f"the aggregation is one of {list(_AGGREGATIONS)}", where=kind,
                                got=f"got {aggregation!r}")
        for name in self._names:
            net = self._net(name)
            if len(net.input_names()) != 1 or len(net.output_names()) != 1:
                raise NetValueError("each direction is a net with one input and one output",
                                    where=f'{kind} › "{name}"',
                                    got=f"got inputs {list(net.input_names())} and outputs "
                                        f"{list(net.output_names())}")
        self.aggregation = aggregation
        self._copied = backward is None
        self._setup(Input=input)

    def input_names(self):
        return ("Input",)

    def output_names(self):
        return ("Output",) if self.aggregation is not None else ("ForwardOutput", "BackwardOutput")

    def _infer(self, shapes, commit):
        kind = type(self).__name__
        s = shapes.get("Input")
        outs = []
        for name in self._names:
            net = self._net(name)
            (p,) = net.input_names()
            (o,) = net.output_names()
            y = self._inner(name, {p: s}, commit)[o]
            if y is not None and (len(y) < 2 or (s is not None and y[0] != s[0])):
                raise ShapeError("each direction maps a sequence to a sequence of the same length "
                                 "(of vectors)", where=f'{kind} › "{name}"',
                                 got=f"got {describe_shape(y)} for {describe_shape(s)}")
            outs.append(y)
        f, b = outs
        if self.aggregation is None:
            return {"ForwardOutput": f, "BackwardOutput": b}
        if f is None or b is None:
            return {"Output": None}
        if self.aggregation == "Catenate":
            if f[:-1] != b[:-1]:
                raise ShapeError("the two directions' outputs must agree except in their last "
                                 "dimension", where=kind,
                                 got=f"got {describe_shape(f)} and {describe_shape(b)}")
            return {"Output": tuple(f[:-1]) + (f[-1] + b[-1],)}
        if f != b:
            raise ShapeError(f'"{self.aggregation}" adds the two directions, so their outputs must '
                             "have one shape", where=kind,
                             got=f"got {describe_shape(f)} and {describe_shape(b)}",
                             fix='use aggregation="Catenate"')
        return {"Output": f}

    def output_lengths(self, lengths):
        return dict.fromkeys(self.output_names(), lengths["Input"]) if "Input" in lengths else {}

    def _direction(self, name: str, x: torch.Tensor, n: torch.Tensor | None) -> torch.Tensor:
        net = self._net(name)
        (p,) = net.input_names()
        (o,) = net.output_names()
        if n is None:
            return net.run_ports({p: x})[o]
        return net.run_sequences({p: x}, {p: n})[0][o]

    def forward(self, Input: torch.Tensor, *, lengths: Mapping[str, torch.Tensor] | None = None):
        """``Input`` ``(B, T, k)``, ``lengths`` → ``(B, T, ·)`` (or the two outputs)."""
        n = (lengths or {}).get("Input")
        f = self._direction("Forward", Input, n)
        b = reverse_sequences(self._direction("Backward", reverse_sequences(Input, n), n), n)
        if self.aggregation is None:
            return {"ForwardOutput": f, "BackwardOutput": b}
        if self.aggregation == "Catenate":
            return torch.cat([f, b], -1)
        total = ops.add(f, b)
        return total if self.aggregation == "Total" else ops.mul(total, 0.5)

    def get_config(self) -> dict[str, Any]:
        cfg: dict[str, Any] = {}
        if self.aggregation != "Catenate":
            cfg["aggregation"] = self.aggregation
        s = self._declared.get("Input")
        if s is not None:
            cfg["input"] = list(s)
        return cfg


# ----------------------------------------------------------------------------- pair embedding
_DISTANCES = ("EuclideanDistance", "CosineDistance")


@_register
class NetPairEmbeddingOperator(Operator):
    """Embeds two inputs with one net (the same arrays) and returns the distance between the
    embeddings (a Siamese net).

    Args:
        net: the embedding net, one input and one output.
        distance: ``"EuclideanDistance"`` (‖e1 - e2‖; at e1 = e2 the gradient is 0, not NaN)
            or ``"CosineDistance"`` (1 - cos(e1, e2); a zero embedding gives distance 1 with
            gradient 0).
        input: the shape of each input.

    Ports: "Input1", "Input2" (the net's input shape) → "Output" (a scalar).
    """

    def __init__(self, net: Any, distance: str = "EuclideanDistance", *,
                 input: ShapeLike = None) -> None:
        super().__init__({"Net": net})
        inner = self._net("Net")
        kind = type(self).__name__
        if distance not in _DISTANCES:
            raise NetValueError(f"the distance is one of {list(_DISTANCES)}", where=kind,
                                got=f"got {distance!r}")
        if len(inner.input_names()) != 1 or len(inner.output_names()) != 1:
            raise NetValueError("the embedding net has one input and one output", where=kind,
                                got=f"got inputs {list(inner.input_names())} and outputs "
                                    f"{list(inner.output_names())}")
        self.distance = distance
        self._setup(Input1=input, Input2=input)

    def input_names(self):
        return ("Input1", "Input2")

    def output_names(self):
        return ("Output",)

    def integer_ports(self):
        return frozenset({"Input1", "Input2"}) if self._net("Net").integer_ports() else frozenset()

    def complete_inputs(self, shapes):
        a, b = shapes.get("Input1"), shapes.get("Input2")
        return {"Input1": a if a is not None else b, "Input2": b if b is not None else a}

    def _infer(self, shapes, commit):
        shapes = self.complete_inputs(shapes)
        a, b = shapes["Input1"], shapes["Input2"]
        if a is not None and b is not None and a != b:
            raise ShapeError(f"both inputs are embedded by one net, so they have one shape, "
                             f"{describe_shape(a)}", where=f'{type(self).__name__}, port "Input2"',
                             got=f"got {describe_shape(b)}")
        (p,) = self._net("Net").input_names()
        self._inner("Net", {p: a}, commit)
        return {"Output": ()}

    def run_sequences(self, inputs, lengths):
        self.check_initialized()
        out = torch.nn.Module.__call__(self, inputs["Input1"], inputs["Input2"],
                                       lengths=dict(lengths))
        return {"Output": out}, {}

    def forward(self, Input1: torch.Tensor, Input2: torch.Tensor, *,
                lengths: Mapping[str, torch.Tensor] | None = None) -> torch.Tensor:
        """Two batches of inputs (``lengths`` for sequences) → ``(B,)`` distances."""
        net = self._net("Net")
        (p,) = net.input_names()
        (o,) = net.output_names()
        b = Input1.shape[0]
        if lengths:
            t = max(Input1.shape[1], Input2.shape[1])
            both = torch.cat([_pad_to(Input1, t), _pad_to(Input2, t)])
            n = torch.cat([lengths["Input1"], lengths["Input2"]])
            e = net.run_sequences({p: both}, {p: n})[0][o]
        else:
            e = net.run_ports({p: torch.cat([Input1, Input2])})[o]
        e1, e2 = e[:b].flatten(1), e[b:].flatten(1)
        if self.distance == "EuclideanDistance":
            return ops.norm(ops.sub(e1, e2), dim=-1)
        return ops.sub(1.0, ops.cosine_similarity(e1, e2, dim=-1))

    def get_config(self) -> dict[str, Any]:
        cfg: dict[str, Any] = {}
        if self.distance != "EuclideanDistance":
            cfg["distance"] = self.distance
        s = self._declared.get("Input1")
        if s is not None:
            cfg["input"] = list(s)
        return cfg


def _pad_to(x: torch.Tensor, t: int) -> torch.Tensor:
    if x.shape[1] == t:
        return x
    return torch.cat([x, x.new_zeros((x.shape[0], t - x.shape[1]) + tuple(x.shape[2:]))], 1)


# ----------------------------------------------------------------------------- GAN
@_register
class NetGANOperator(Operator):
    """A generative adversarial pair: ``generator`` maps a latent vector to a sample,
    ``discriminator`` maps a sample to the probability that it is real.

    Ports:
        - "Latent" (the generator's input), "Sample" (real samples, the discriminator's input);
        - "Loss": the discriminator's loss per example, ``-log D(sample) - log(1 - D(G(latent)))``;
        - "GeneratorLoss": ``-log D(G(latent))`` (the non-saturating generator loss);
        - "Generated": ``G(latent)``.

    ``netgrad.train(gan, {"Sample": data})`` alternates a step of the discriminator on "Loss"
    and a step of the generator on "GeneratorLoss" (latent vectors are drawn from a standard
    normal unless "Latent" data is given); see :mod:`netgrad.train._gan`.
    """

    roles = ("Generator", "Discriminator")

    def __init__(self, generator: Any, discriminator: Any, *, latent: ShapeLike = None) -> None:
        super().__init__({"Generator": generator, "Discriminator": discriminator})
        kind = type(self).__name__
        for name in self._names:
            net = self._net(name)
            if len(net.input_names()) != 1 or len(net.output_names()) != 1:
                raise NetValueError("the generator and the discriminator each have one input and "
                                    "one output", where=f'{kind} › "{name}"',
                                    got=f"got inputs {list(net.input_names())} and outputs "
                                        f"{list(net.output_names())}")
        self._setup(Latent=latent)

    def input_names(self):
        return ("Latent", "Sample")

    def output_names(self):
        return ("Loss", "GeneratorLoss", "Generated")

    def complete_inputs(self, shapes):
        shapes = dict(shapes)
        gen = self._net("Generator")
        gi, go = self._ports("Generator")
        if shapes.get("Latent") is None:
            shapes["Latent"] = gen.declared_shape(gi)
        if shapes.get("Sample") is None:
            shapes["Sample"] = gen.port_shape(go)
        return shapes

    def _ports(self, name: str) -> tuple[str, str]:
        net = self._net(name)
        return net.input_names()[0], net.output_names()[0]

    def _infer(self, shapes, commit):
        kind = type(self).__name__
        gi, go = self._ports("Generator")
        di, do = self._ports("Discriminator")
        z = shapes.get("Latent") or self._net("Generator").declared_shape(gi)
        sample = self._inner("Generator", {gi: z}, commit)[go]
        real = shapes.get("Sample")
        if real is not None and sample is not None and real != sample:
            raise ShapeError(f"real samples must have the generator's output shape "
                             f"{describe_shape(sample)}", where=f'{kind}, port "Sample"',
                             got=f"got {describe_shape(real)}")
        s = sample if sample is not None else real
        p = self._inner("Discriminator", {di: s}, commit)[do]
        if p is not None and p not in ((), (1,)):
            raise ShapeError("the discriminator gives one probability per sample",
                             where=f'{kind} › "Discriminator"', got=f"got {describe_shape(p)}",
                             fix="end it with LinearLayer(1) and ElementwiseLayer(\"LogisticSigmoid\")")
        return {"Loss": (), "GeneratorLoss": (), "Generated": s}

    def discriminate(self, x: torch.Tensor) -> torch.Tensor:
        """D(x): ``(B,)`` probabilities."""
        di, do = self._ports("Discriminator")
        return self._net("Discriminator").run_ports({di: x})[do].reshape(x.shape[0])

    def generate(self, z: torch.Tensor) -> torch.Tensor:
        """G(z): a batch of samples."""
        gi, go = self._ports("Generator")
        return self._net("Generator").run_ports({gi: z})[go]

    def losses(self, latent: torch.Tensor, sample: torch.Tensor, *,
               detach_generated: bool = False) -> dict[str, torch.Tensor]:
        fake = self.generate(latent)
        d_fake = self.discriminate(fake.detach() if detach_generated else fake)
        d_real = self.discriminate(sample)
        one = torch.ones_like(d_real)
        loss = ops.add(ops.binary_cross_entropy(d_real, one, reduction="none"),
                       ops.binary_cross_entropy(d_fake, torch.zeros_like(d_fake), reduction="none"))
        gen = ops.binary_cross_entropy(d_fake, one, reduction="none")
        return {"Loss": loss, "GeneratorLoss": gen, "Generated": fake}

    def forward(self, Latent: torch.Tensor, Sample: torch.Tensor, *, lengths=None):
        return self.losses(Latent, Sample)

    def get_config(self) -> dict[str, Any]:
        s = self._declared.get("Latent")
        return {"latent": list(s)} if s is not None else {}


# ----------------------------------------------------------------------------- attention
@_register
class AttentionNetOperator(Operator):
    """Attention whose scores come from a net: what ``AttentionLayer(net, ...)`` builds
    (Wolfram's ``AttentionLayer[net]``). For each query q and key k_j the score is
    ``s_j = net({"Input": k_j, "Query": q})`` (a scalar), and ``Output = Σ_j softmax(s)_j v_j``
    over the keys the query may see.

    Args:
        net: the scoring net, inputs "Input" (one key vector) and "Query" (one query vector),
            one scalar output (shape ``()`` or ``(1,)``); e.g. additive attention
            ``v·tanh(W [k; q])``. Its arrays are this layer's: path ``("ScoringNet", ...)``.
        heads, mask, dropout, mask_port, key, value, query: as :class:`AttentionLayer` (with
            heads, the net scores each head's parts of the vectors).
        score_rescaling: ``None`` (default, Wolfram's: the net learns its scale) or
            ``"DimensionSqrt"`` (scores times 1/√(key size per head)).

    A query whose keys are all masked gets output 0 and gradient 0 (the net's arrays get
    nothing from it), as with :class:`AttentionLayer`.
    """

    roles = ("ScoringNet",)
    sequence_support = "lengths"

    def __init__(self, net: Any, *, heads: int = 1, mask: Any = None,
                 score_rescaling: str | None = None, dropout: float = 0.0,
                 mask_port: bool = False, key: ShapeLike = None, value: ShapeLike = None,
                 query: ShapeLike = None) -> None:
        super().__init__({"ScoringNet": net})
        inner = self._net("ScoringNet")
        kind = "AttentionLayer"
        if set(inner.input_names()) != {"Input", "Query"} or len(inner.output_names()) != 1:
            raise NetValueError('a scoring net has the inputs "Input" (a key vector) and "Query" '
                                "(a query vector) and one output (the score)", where=kind,
                                got=f"got inputs {list(inner.input_names())} and outputs "
                                    f"{list(inner.output_names())}",
                                fix='name its ports, e.g. NetGraph(..., Input=k, Query=q)')
        probe = _attention.AttentionLayer(heads=heads, mask=mask, score_rescaling=score_rescaling,
                                          dropout=dropout)      # the options, checked once
        self.heads, self.mask, self.window = probe.heads, probe.mask, probe.window
        self.score_rescaling, self.dropout = probe.score_rescaling, probe.dropout
        self.mask_port = bool(mask_port)
        self._setup(Key=key, Value=value, Query=query)

    def input_names(self):
        return ("Key", "Value", "Query") + (("Mask",) if self.mask_port else ())

    def output_names(self):
        return ("Output",)

    def complete_inputs(self, shapes):
        shapes = dict(shapes)
        if self.mask_port and shapes.get("Mask") is None:
            q, k = shapes.get("Query"), shapes.get("Key")
            if q is not None and k is not None:
                shapes["Mask"] = (q[0] if len(q) == 2 else 1, k[0])
        return shapes

    def _infer(self, shapes, commit):
        shapes = self.complete_inputs(shapes)
        # the layer's own checks of ranks, heads, lengths and the mask ("Dot" would also ask
        # for equal key and query sizes, so "Bilinear" stands in: no arrays are made)
        check = _attention.AttentionLayer("Bilinear", heads=self.heads,
                                          mask=self.mask if self.window is None
                                          else (self.mask, self.window),
                                          mask_port=self.mask_port)
        check.infer_outputs(shapes)
        k, v, q = shapes.get("Key"), shapes.get("Value"), shapes.get("Query")
        inner = {"Input": None if k is None else (k[-1] // self.heads,),
                 "Query": None if q is None else (q[-1] // self.heads,)}
        out = self._inner("ScoringNet", inner, commit)
        (o,) = self._net("ScoringNet").output_names()
        score_shape = out.get(o)
        if score_shape is not None and tuple(score_shape) not in {(), (1,)}:
            raise ShapeError("a scoring net gives one score per key and query, a scalar",
                             where='AttentionLayer › "ScoringNet"',
                             got=f"got an output of shape {describe_shape(score_shape)}",
                             fix="end the net with LinearLayer(1) (or LinearLayer([]))")
        if v is None or q is None:
            return {"Output": None}
        return {"Output": (q[0], v[-1]) if len(q) == 2 else (v[-1],)}

    def output_lengths(self, lengths):
        return {"Output": lengths["Query"]} if "Query" in lengths else {}

    def forward(self, Key: torch.Tensor, Value: torch.Tensor, Query: torch.Tensor,
                Mask: torch.Tensor | None = None, *,
                lengths: Mapping[str, torch.Tensor] | None = None) -> torch.Tensor:
        """key ``(B, Lk, dk)``, value ``(B, Lk, dv)``, query ``(B, Lq, dq)`` or ``(B, dq)``,
        mask ``(B, Lq, Lk)``, ``lengths`` by port → ``(B, Lq, dv)`` or ``(B, dv)``."""
        lengths = dict(lengths or {})
        single = Query.dim() == 2
        query = Query.unsqueeze(1) if single else Query
        b, lq, lk, h = query.shape[0], query.shape[1], Key.shape[1], self.heads
        q = query.reshape(b, lq, h, -1).transpose(1, 2)          # (B, h, Lq, dq/h)
        k = Key.reshape(b, lk, h, -1).transpose(1, 2)
        v = Value.reshape(b, lk, h, -1).transpose(1, 2)
        net = self._net("ScoringNet")
        (o,) = net.output_names()
        pairs = {"Input": k[:, :, None].expand(b, h, lq, lk, k.shape[-1]).reshape(-1, k.shape[-1]),
                 "Query": q[:, :, :, None].expand(b, h, lq, lk, q.shape[-1]).reshape(-1, q.shape[-1])}
        scores = net.run_ports(pairs)[o].reshape(b, h, lq, lk)
        if self.score_rescaling == "DimensionSqrt":
            scores = ops.mul(scores, 1.0 / float(k.shape[-1]) ** 0.5)
        key_lengths: dict[str, torch.Tensor] = {p: lengths[p] for p in ("Key", "Value")
                                                if p in lengths}
        kl = common_lengths(key_lengths, "AttentionLayer") if key_lengths else None
        allowed, causal = _attention.attention_mask(lq, lk, Key.device, kl, Mask, self.mask, self.window)
        if causal:
            allowed = torch.ones(lq, lk, dtype=torch.bool, device=Key.device).tril()
        if allowed is not None:
            scores = ops.where(allowed, scores, float("-inf"))
        # softmax(scores) V as attention with zero queries and keys and the scores as an additive
        # mask: one rule, so a fully masked query is 0 with gradient 0 on every path
        zq, zk = scores.new_zeros(b, h, lq, 1), scores.new_zeros(b, h, lk, 1)
        p = self.dropout if self.training else 0.0
        out = ops.scaled_dot_product_attention(zq, zk, v, attn_mask=scores, dropout_p=p, scale=1.0)
        out = out.transpose(1, 2).reshape(b, lq, -1)
        return out[:, 0] if single else out

    def get_config(self) -> dict[str, Any]:
        return _attention.attention_config(self, None)


def _register_scored_attention() -> None:
    if AttentionNetOperator not in _attention.SCORED_ATTENTION:
        _attention.SCORED_ATTENTION.append(AttentionNetOperator)


_register_scored_attention()
