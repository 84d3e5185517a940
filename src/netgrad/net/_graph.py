"""NetGraph and NetChain: layers and nets wired by named ports.

A net's evaluation is a straight sequence of calls, fixed at construction: the vertices in
topological order, each reading the tensors its input ports are connected to.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Union

import torch

from .._errors import NetgradError, NetKeyError, NetTypeError, NetValueError, ShapeError
from .._module import NetModule
from .._shapes import MaybeShape, ShapeLike, as_shape, describe_shape, has_varying
from ..layers import ElementwiseLayer, LinearLayer, ModuleLayer
from ._summary import graph_summary_lines

__all__ = ["NetGraph", "NetChain", "NetPort", "as_layer"]

# A source of a tensor inside a graph: (None, graph input port) or (vertex, output port).
Source = tuple[Union[str, None], str]


class NetPort:
    """Names a port: ``NetPort("Input")`` is a port of the graph itself; ``NetPort("lin",
    "Output")`` (or ``NetPort(2, "Output")``, by position) is a port of one of its vertices."""

    __slots__ = ("vertex", "port")
    vertex: Union[str, int, None]
    port: str

    def __init__(self, *parts: Union[str, int]) -> None:
        if len(parts) == 1 and isinstance(parts[0], str):
            self.vertex, self.port = None, parts[0]
        elif len(parts) == 2 and isinstance(parts[1], str) and isinstance(parts[0], (str, int)):
            self.vertex, self.port = parts[0], str(parts[1])
        else:
            raise NetTypeError('NetPort takes a port name, or a vertex and a port name',
                               got=f"got NetPort{parts!r}",
                               fix='NetPort("Input") or NetPort("lin", "Output")', where='NetPort')

    def __repr__(self) -> str:
        return f"NetPort({self.port!r})" if self.vertex is None else \
            f"NetPort({self.vertex!r}, {self.port!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NetPort) and (self.vertex, self.port) == (other.vertex, other.port)

    def __hash__(self) -> int:
        return hash(("NetPort", self.vertex, self.port))


def as_layer(spec: Any, where: str) -> NetModule:
    """Layer shorthand: ``"Ramp"`` → ``ElementwiseLayer("Ramp")``, ``3`` → ``LinearLayer(3)``,
    a ``torch.nn.Module`` → ``ModuleLayer(module)``."""
    if isinstance(spec, NetModule):
        return spec
    if isinstance(spec, str):
        return ElementwiseLayer(spec)
    if isinstance(spec, int) and not isinstance(spec, bool):
        return LinearLayer(spec)
    if isinstance(spec, torch.nn.Module):  # any torch module: a ModuleLayer
        return ModuleLayer(spec)
    raise NetTypeError("a vertex is a layer, a net, a function name (\"Ramp\") or an int "
                       "(a LinearLayer's size)", where=where,
                       got=f"got {type(spec).__name__} {spec!r}",
                       fix='e.g. LinearLayer(3), "Ramp", 3, or a NetChain')


def _first_known(*shapes: MaybeShape) -> MaybeShape:
    return next((s for s in shapes if s is not None), None)



class _Vertices(torch.nn.ModuleDict):
    """A graph's vertices by name: a ModuleDict (the same state_dict keys) whose items the type
    checker knows to be netgrad layers or nets."""

    def __getitem__(self, key: str) -> NetModule:
        return super().__getitem__(key)  # type: ignore[return-value]

class NetGraph(NetModule):
    """A net of layers and nets connected by named ports.

    Args:
        vertices: a dict of names to layers/nets, or a list (names ``"0"``, ``"1"``, ...).
            A string is an ElementwiseLayer (``"Ramp"``), an int a LinearLayer.
        edges: ``(source, destination)`` pairs (longer tuples chain: ``("a", "b", "c")``).
            A source is a vertex name or position, ``NetPort("Input")`` (a graph input),
            ``NetPort("v", "Output")``, or a list of sources for a vertex with several inputs
            (``Input1 … Inputn`` of a ThreadingLayer or CatenateLayer, or its ports in order).
            A destination is a vertex (its ``"Input"`` port), ``NetPort("v", "Target")``, or
            ``NetPort("Output")`` (a graph output).
        **ports: declared per-example shapes of graph ports, e.g. ``Input=3``, or encoders
            and decoders: ``Input=NetEncoder("Image", size=(32, 32))``,
            ``Output=NetDecoder("Class", labels)``.

    Unconnected vertex inputs become graph inputs of the same name (shared when names repeat);
    unconnected vertex outputs become graph outputs (numbered when names repeat).
    """

    def __init__(self, vertices: Union[Mapping[str, Any], Sequence[Any]],
                 edges: Sequence[Any] = (), **ports: ShapeLike) -> None:
        super().__init__()
        kind = type(self).__name__
        if isinstance(vertices, Mapping):
            items = list(vertices.items())
        elif isinstance(vertices, Sequence) and not isinstance(vertices, str):
            items = [(str(i), v) for i, v in enumerate(vertices)]
        else:
            raise NetTypeError(f"{kind} takes a dict or a list of vertices",
                               got=f"got {type(vertices).__name__}", where=kind,
                               fix='e.g. NetGraph({"lin": LinearLayer(3), "act": "Tanh"}, [("lin", "act")])')
        if not items:
            raise NetValueError(f"{kind} needs at least one vertex", got="got none", where=kind,
                                fix='give at least one layer, e.g. NetChain([LinearLayer(3)])')
        self.vertices = _Vertices()
        for name, spec in items:
            if not isinstance(name, str) or not name or "." in name:
                raise NetValueError("vertex names are non-empty strings without '.'",
                                    where=kind, got=f"got {name!r}",
                                    fix='use names such as "enc" or "block_1" (a dot separates the parts '
                                        'of a path)')
            self.vertices[name] = as_layer(spec, f'{kind} › "{name}"')
        self._names = [n for n, _ in items]
        from ..encoders._attach import check_placement, split_port_specs
        ports, encoders, decoders = split_port_specs(ports)
        self._declared = {p: as_shape(s, what=f'the shape of port "{p}"',
                                      where=f'{kind}, port "{p}"') for p, s in ports.items()}
        self._wire(list(edges))
        check_placement(self, encoders, decoders)
        self._shapes: dict[str, MaybeShape] = {}
        self._encoders: dict[str, Any] = {}
        self._decoders: dict[str, Any] = {}
        self.bind({})
        self._attach_coders(encoders, decoders)

    # ---- wiring ----------------------------------------------------------------------------
    def vertex_name(self, ref: Any) -> str:
        """The name of vertex ``ref``: a name, or a 0-based position."""
        if isinstance(ref, int) and not isinstance(ref, bool):
            if not 0 <= ref < len(self._names):
                raise NetKeyError(f"vertex position {ref} is out of range",
                                  where=type(self).__name__,
                                  got=f"got {ref} with {len(self._names)} vertices",
                                  fix=f"use 0 to {len(self._names) - 1} or a name")
            return self._names[ref]
        if isinstance(ref, str) and ref in self.vertices:
            return ref
        close = difflib.get_close_matches(ref, self._names, n=1) if isinstance(ref, str) else []
        raise NetKeyError(f"{type(self).__name__} has no vertex {ref!r}",
                          where=type(self).__name__, got=f"got {ref!r}",
                          fix=f"did you mean {close[0]!r}?" if close
                          else f"vertices are {self._names} (or positions 0 to "
                               f"{len(self._names) - 1})")

    def _source(self, ref: Any) -> Source:
        if isinstance(ref, NetPort):
            if ref.vertex is None:
                return (None, ref.port)
            v = self.vertex_name(ref.vertex)
            outs = self.vertices[v].output_names() + self.vertices[v].optional_outputs()
            if ref.port not in outs:
                raise NetKeyError(f'vertex "{v}" has no output port {ref.port!r}',
                                  where=type(self).__name__, got=f"got {ref!r}",
                                  fix=f"its output ports are {list(outs)}")
            return (v, ref.port)
        v = self.vertex_name(ref)
        outs = self.vertices[v].output_names()
        if len(outs) != 1:
            raise NetValueError(f'vertex "{v}" has several output ports, so an edge must name one',
                                where=type(self).__name__, got=f"got {ref!r}",
                                fix=f'use NetPort("{v}", "{outs[0]}"); its outputs are {list(outs)}')
        return (v, outs[0])

    def _wire(self, edges: list[Any]) -> None:
        kind = type(self).__name__
        pairs: list[tuple[Any, Any]] = []
        for e in edges:
            if isinstance(e, Mapping):
                pairs.extend(e.items())
            elif isinstance(e, tuple) and len(e) >= 2:
                pairs.extend(zip(e[:-1], e[1:]))
            else:
                raise NetTypeError("an edge is a (source, destination) pair", where=kind,
                                   got=f"got {e!r}", fix='write ("a", "b") or (NetPort("Input"), "a")')
        in_edges: dict[str, dict[str, Source]] = {n: {} for n in self._names}
        variadic_sources: dict[str, list[Source]] = {}
        outputs: dict[str, Source] = {}

        def connect(v: str, port: str, src: Source) -> None:
            if port in in_edges[v]:
                raise NetValueError(f'port "{port}" of vertex "{v}" is connected twice',
                                    where=kind, got=f"got sources {in_edges[v][port]} and {src}",
                                    fix="connect each input port once")
            in_edges[v][port] = src

        for src_ref, dst_ref in pairs:
            srcs = [self._source(s) for s in src_ref] if isinstance(src_ref, list) \
                else [self._source(src_ref)]
            if isinstance(dst_ref, NetPort) and dst_ref.vertex is None:
                if len(srcs) != 1:
                    raise NetValueError("a graph output takes one source", where=kind,
                                        got=f"got {src_ref!r} → {dst_ref!r}",
                                        fix="connect a single vertex to each graph output")
                if dst_ref.port in outputs:
                    raise NetValueError(f'graph output "{dst_ref.port}" is connected twice',
                                        where=kind, got=f"got {src_ref!r}",
                                        fix='give the second output another name, e.g. NetPort("Output2")')
                outputs[dst_ref.port] = srcs[0]
                continue
            if isinstance(dst_ref, NetPort):
                v = self.vertex_name(dst_ref.vertex)
                if len(srcs) != 1:
                    raise NetValueError("a single port takes one source", where=kind,
                                        got=f"got {src_ref!r} → {dst_ref!r}",
                                        fix="connect one source to each port (a list of sources "
                                            "goes to a vertex with several inputs)")
                layer = self.vertices[v]
                if getattr(layer, "variadic", False) and dst_ref.port.startswith("Input"):
                    variadic_sources.setdefault(v, []).append(srcs[0])
                    continue
                ports = layer.input_names() + layer.optional_inputs()
                if dst_ref.port not in ports:
                    raise NetKeyError(f'vertex "{v}" has no input port {dst_ref.port!r}',
                                      where=kind, got=f"got {dst_ref!r}",
                                      fix=f"its input ports are {list(ports)}")
                connect(v, dst_ref.port, srcs[0])
                continue
            v = self.vertex_name(dst_ref)
            layer = self.vertices[v]
            if getattr(layer, "variadic", False):
                variadic_sources.setdefault(v, []).extend(srcs)
                continue
            names = layer.input_names()
            if len(srcs) > len(names):
                raise NetValueError(f'vertex "{v}" has {len(names)} input ports {list(names)}',
                                    where=kind, got=f"got {len(srcs)} sources {src_ref!r}",
                                    fix=f'connect at most {len(names)} sources')
            for port, src in zip(names, srcs):
                connect(v, port, src)
        for v, srcs in variadic_sources.items():
            self.vertices[v].set_arity(len(srcs))
            for i, src in enumerate(srcs):
                connect(v, f"Input{i + 1}", src)

        # Unconnected inputs become graph inputs of the same name.
        inputs: list[str] = []
        for v in self._names:
            for port in self.vertices[v].input_names():
                if port not in in_edges[v]:
                    in_edges[v][port] = (None, port)
        for v in self._names:
            for sv, sp in in_edges[v].values():
                if sv is None and sp not in inputs:
                    inputs.append(sp)
        inputs.sort(key=lambda p: (p != "Input", 0))
        for p in outputs:
            if p in inputs:
                raise NetValueError(f'"{p}" is both an input and an output of the graph',
                                    where=kind, fix="give the output another name",
                                    got=f'got {p!r} as an output while an unconnected input port is also '
                                        f'called {p!r}')
        # Unconnected outputs become graph outputs.
        used = {src for ports in in_edges.values() for src in ports.values()} | set(outputs.values())
        dangling = [(v, p) for v in self._names for p in self.vertices[v].output_names()
                    if (v, p) not in used]
        counts: dict[str, int] = {}
        for _, p in dangling:
            counts[p] = counts.get(p, 0) + 1
        seen: dict[str, int] = {}
        for v, p in dangling:
            name = p
            if counts[p] > 1 or p in outputs:
                seen[p] = seen.get(p, 0) + 1
                name = f"{p}{seen[p]}"
            outputs[name] = (v, p)
        self._in_edges = in_edges
        self._order = self._toposort()
        if not outputs:
            raise NetValueError("the graph has no output", where=kind,
                                fix='connect a vertex to NetPort("Output")')
        self._inputs = tuple(inputs)
        self._outputs = outputs
        self._plan = [(v, self.vertices[v], tuple(in_edges[v].items())) for v in self._order]

    def _toposort(self) -> list[str]:
        deps = {v: {s for s, _ in ports.values() if s is not None}
                for v, ports in self._in_edges.items()}
        order: list[str] = []
        done: set[str] = set()
        while len(order) < len(self._names):
            ready = [v for v in self._names if v not in done and deps[v] <= done]
            if not ready:
                cycle = [v for v in self._names if v not in done]
                raise NetValueError("the graph has a cycle", where=type(self).__name__,
                                    got=f"got a cycle among vertices {cycle}",
                                    fix="remove an edge so that data flows one way")
            order.extend(ready)
            done.update(ready)
        return order

    def _attach_coders(self, encoders: Mapping[str, Any], decoders: Mapping[str, Any]) -> None:
        """Encoders and decoders on the graph's ports: the given ones, else those of the vertex
        ports the graph's ports connect to directly."""
        from ..encoders._attach import check_coders, inherited_coders
        inherited_enc, inherited_dec = inherited_coders(self)
        check_coders(self, encoders, decoders)
        self._encoders = {**inherited_enc, **encoders}
        self._decoders = {**inherited_dec, **decoders}

    def encoders(self) -> dict[str, Any]:
        return dict(self._encoders)

    def decoders(self) -> dict[str, Any]:
        return dict(self._decoders)

    # ---- ports and shapes ------------------------------------------------------------------
    def input_names(self) -> tuple[str, ...]:
        return self._inputs

    def output_names(self) -> tuple[str, ...]:
        return tuple(self._outputs)

    def port_shape(self, port: str) -> MaybeShape:
        return self._shapes.get(port)

    def integer_ports(self) -> frozenset[str]:
        out: set[str] = set()
        for v, ports in self._in_edges.items():
            ints = self.vertices[v].integer_ports()
            out.update(sp for p, (sv, sp) in ports.items() if sv is None and p in ints)
        return frozenset(out)

    def declared_shape(self, port: str) -> MaybeShape:
        return _first_known(self._shapes.get(port), self._declared.get(port))

    def _input_shapes(self, given: Mapping[str, MaybeShape]) -> dict[str, MaybeShape]:
        kind = type(self).__name__
        shapes: dict[str, MaybeShape] = {}
        for port in self._inputs:
            candidates = [(f'{kind}, port "{port}"', self._declared.get(port)),
                          ("the data", given.get(port))]
            for v, ports in self._in_edges.items():
                for p, src in ports.items():
                    if src == (None, port):
                        layer = self.vertices[v]
                        candidates.append((f'"{v}" ({type(layer).__name__}), port "{p}"',
                                           layer.declared_shape(p)))
            known = [(w, s) for w, s in candidates if s is not None]
            for (w1, s1), (w2, s2) in zip(known, known[1:]):
                if s1 != s2:
                    raise ShapeError(f"{w1} expects {describe_shape(s1)}",
                                     where=f'{kind}, input port "{port}"',
                                     got=f"but {w2} expects {describe_shape(s2)}",
                                     fix='declare the graph port with the shape the layers need, or change '
                                         'the layers so they agree')
            shapes[port] = known[0][1] if known else None
        return shapes

    def _propagate(self, given: Mapping[str, MaybeShape], commit: bool) -> dict[str, MaybeShape]:
        kind = type(self).__name__
        env: dict[Source, MaybeShape] = {(None, p): s for p, s in self._input_shapes(given).items()}
        for v, layer, ports in self._plan:
            ins = layer.complete_inputs({p: env[src] for p, src in ports})
            for p, src in ports:  # shapes a layer implies for graph inputs (e.g. a Target)
                if src[0] is None and env[src] is None and ins[p] is not None:
                    env[src] = ins[p]
            for p, src in ports:
                want = layer.declared_shape(p)
                if want is not None and ins[p] is not None and want != ins[p]:
                    sv, sp = src
                    source = f'graph input "{sp}"' if sv is None else \
                        f'"{sv}" ({type(self.vertices[sv]).__name__}) port "{sp}"'
                    raise ShapeError(f"expected {describe_shape(want)}",
                                     where=f'{kind} › "{v}" ({type(layer).__name__}), port "{p}"',
                                     got=f"got {describe_shape(ins[p])} from {source}",
                                     fix="make the two ends agree (check the sizes of the layers "
                                         "on both sides of this edge)")
            try:
                outs = layer.bind(ins) if commit else layer.infer(ins)
            except NetgradError as e:
                raise e.located(f'{kind} › "{v}" ({type(layer).__name__})') from None
            for p, s in outs.items():
                env[(v, p)] = s
        shapes = {p: env[(None, p)] for p in self._inputs}
        for p, src in self._outputs.items():
            s = env[src]
            want = self._declared.get(p)
            if want is not None and s is not None and want != s:
                raise ShapeError(f"expected {describe_shape(want)}",
                                 where=f'{kind}, output port "{p}"',
                                 got=f"got {describe_shape(s)} from vertex \"{src[0]}\"",
                                 fix='declare the output shape the layers produce, or leave it out to '
                                     'infer it')
            shapes[p] = s if s is not None else want
        return shapes

    def infer(self, shapes: Mapping[str, MaybeShape]) -> dict[str, MaybeShape]:
        full = self._propagate(shapes, commit=False)
        return {p: full[p] for p in self._outputs}

    def bind(self, shapes: Mapping[str, MaybeShape]) -> dict[str, MaybeShape]:
        merged = {p: _first_known(shapes.get(p), self._shapes.get(p)) for p in self._inputs}
        self._shapes = self._propagate(merged, commit=True)
        return {p: self._shapes[p] for p in self._outputs}

    # ---- arrays ----------------------------------------------------------------------------
    def named_arrays(self) -> Iterator[tuple[tuple[str, ...], NetModule, str]]:
        for v in self._names:
            for path, layer, name in self.vertices[v].named_arrays():
                yield (v,) + path, layer, name

    def vertex(self, ref: Union[str, int]) -> NetModule:
        """A vertex by name or position (also ``net["lin1"]``, ``net[0]``)."""
        return self.vertices[self.vertex_name(ref)]

    def __getitem__(self, ref: Union[str, int]) -> NetModule:
        """A vertex by name or position: ``net["lin1"]``, ``net[0]``."""
        return self.vertex(ref)

    def __len__(self) -> int:
        return len(self._names)

    def __iter__(self) -> Iterator[NetModule]:
        return (self.vertices[v] for v in self._names)

    def vertex_names(self) -> list[str]:
        return list(self._names)

    def output_source(self, port: str) -> Source | None:
        """``(vertex, vertex port)`` that graph output ``port`` reads, or None if no such port."""
        return self._outputs.get(port)

    def plan(self) -> list[tuple[str, NetModule, tuple[tuple[str, Source], ...]]]:
        """The evaluation plan: ``(vertex, layer, ((input port, source), ...))`` in order."""
        return list(self._plan)

    def declared_port_shapes(self) -> dict[str, MaybeShape]:
        """The port shapes given to the constructor (not the inferred ones)."""
        return {p: s for p, s in self._declared.items() if s is not None}

    def declare_port_shapes(self, shapes: Mapping[str, ShapeLike]) -> None:
        """Declare per-example shapes of graph ports (as ``**ports`` of the constructor do) and
        infer through the net; when they do not fit, raise and leave the net as it was."""
        kind = type(self).__name__
        ports = set(self._inputs) | set(self._outputs)
        unknown = [p for p in shapes if p not in ports]
        if unknown:
            raise NetKeyError(f"{kind} has no port {unknown[0]!r}", where=kind,
                              got=f"got ports {list(shapes)}", fix=f"its ports are {sorted(ports)}")
        old = dict(self._declared)
        self._declared.update({p: as_shape(s, what=f'the shape of port "{p}"', where=f'{kind}, port "{p}"')
                               for p, s in shapes.items()})
        try:
            self._propagate({}, commit=False)
        except NetgradError:
            self._declared = old
            raise
        self.bind({})

    def edges(self) -> list[tuple[Source, tuple[str | None, str]]]:
        """Every connection as ``(source, (vertex, port))``; graph outputs as ``(source, (None, port))``."""
        out: list[tuple[Source, tuple[str | None, str]]] = [
            (src, (v, p)) for v in self._names for p, src in self._in_edges[v].items()]
        out += [(src, (None, p)) for p, src in self._outputs.items()]
        return out

    # ---- running ---------------------------------------------------------------------------
    def forward(self, *args: torch.Tensor, lengths: Mapping[str, torch.Tensor] | None = None,
                batch: int = 1) -> Union[torch.Tensor, dict[str, torch.Tensor]]:
        """Batched tensors in port order; ``lengths={port: (batch,) int64}`` for sequence
        ports given as padded tensors (see :meth:`run_sequences`). A graph without inputs
        makes ``batch`` examples; vertices without inputs (ConstantArrayLayer, NetArrayLayer,
        RandomArrayLayer) make as many examples as the graph's inputs have."""
        if lengths:
            outs, _ = self.run_sequences(dict(zip(self._inputs, args)), lengths)
            return next(iter(outs.values())) if len(outs) == 1 else outs
        self._check_batch(args)
        env: dict[Source, torch.Tensor] = {(None, p): t for p, t in zip(self._inputs, args)}
        n = args[0].shape[0] if args else batch
        for v, layer, ports in self._plan:
            try:
                outs = _run_vertex(layer, {p: env[src] for p, src in ports}, n)
            except NetgradError as e:  # say where in the net it happened
                raise e.located(f'{type(self).__name__} › "{v}" ({type(layer).__name__})') from None
            for p, t in outs.items():
                env[(v, p)] = t
        if len(self._outputs) == 1:
            (src,) = self._outputs.values()
            return env[src]
        return {p: env[src] for p, src in self._outputs.items()}

    def _check_batch(self, args: tuple[torch.Tensor, ...]) -> None:
        """PyTorch-style calls take one batched tensor per input port: check the count and the
        per-example shapes (static facts, so tracing is unaffected; skipped inside torch.func
        transforms, whose tensors hide the batch dimension)."""
        kind = type(self).__name__
        if len(args) != len(self._inputs):
            raise NetTypeError(f"{kind}.forward takes one batched tensor per input port, in the "
                               f"order {list(self._inputs)}", where=kind,
                               got=f"got {len(args)} tensors",
                               fix="net.forward(" + ", ".join(self._inputs) + ")")
        for p, t in zip(self._inputs, args):
            want = self._shapes.get(p)
            if want is None or not isinstance(t, torch.Tensor) or has_varying(want) or \
                    torch._C._functorch.is_functorch_wrapped_tensor(t):
                continue
            if t.dim() != len(want) + 1 or tuple(t.shape[1:]) != want:
                one = tuple(t.shape) == want
                raise ShapeError(f"forward takes a batch of {describe_shape(want)} (the batch "
                                 "dimension first)", where=f'{kind}, port "{p}"',
                                 got=f"got a tensor of shape {tuple(t.shape)}",
                                 fix="net.forward(x.unsqueeze(0)) or net(x) for one example"
                                 if one else f"give a tensor of shape (batch, "
                                             f"{', '.join(map(str, want))})")

    def run_sequences(self, inputs: Mapping[str, torch.Tensor],
                      lengths: Mapping[str, torch.Tensor]
                      ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        env: dict[Source, torch.Tensor] = {(None, p): inputs[p] for p in self._inputs}
        lens: dict[Source, torch.Tensor] = {(None, p): n for p, n in lengths.items()}
        for v, layer, ports in self._plan:
            ins = {p: env[src] for p, src in ports}
            in_lens = {p: lens[src] for p, src in ports if src in lens}
            if in_lens:
                outs, out_lens = layer.run_sequences(ins, in_lens)
            else:
                batch = next(iter(inputs.values())).shape[0] if inputs else 1
                outs, out_lens = _run_vertex(layer, ins, batch), {}
            for p, t in outs.items():
                env[(v, p)] = t
            for p, n in out_lens.items():
                lens[(v, p)] = n
        return ({p: env[src] for p, src in self._outputs.items()},
                {p: lens[src] for p, src in self._outputs.items() if src in lens})

    def run_batch(self, n: int) -> dict[str, torch.Tensor]:
        """A graph without inputs: the outputs for a batch of ``n`` examples."""
        out = self.forward(batch=n)
        return dict(out) if isinstance(out, Mapping) else {next(iter(self._outputs)): out}

    def get_config(self) -> dict[str, Any]:
        return {"ports": {p: list(s) for p, s in self._declared.items() if s is not None}}

    def summary_lines(self) -> list[str]:
        return graph_summary_lines(self)


def _run_vertex(layer: NetModule, ins: dict[str, torch.Tensor], n: int) -> dict[str, torch.Tensor]:
    """Run one vertex; one without inputs is asked for ``n`` examples (the graph's batch)."""
    run_batch = getattr(layer, "run_batch", None)
    if not ins and not layer.input_names() and run_batch is not None:
        return run_batch(n)
    return layer.run_ports(ins)


class NetChain(NetGraph):
    """Layers applied one after another.

    Args:
        layers: a list (names ``"0"``, ``"1"``, ... as in :class:`torch.nn.Sequential`) or a
            dict of names to layers. ``"Ramp"`` is an ElementwiseLayer, ``3`` a LinearLayer(3).
        input: shape of the "Input" port (an int for a vector, a tuple for an array), or a
            :class:`~netgrad.encoders.NetEncoder` (which gives the shape).
        output: shape of the output port, checked against what the layers produce, or a
            :class:`~netgrad.encoders.NetDecoder`.

    The chain's ports are the first layer's inputs, any unconnected inputs of later layers
    (such as a loss layer's "Target"), and the last layer's outputs.
    """

    def __init__(self, layers: Union[Sequence[Any], Mapping[str, Any]], input: ShapeLike = None,
                 output: ShapeLike = None) -> None:
        if isinstance(layers, Mapping):
            names = list(layers)
        elif isinstance(layers, Sequence) and not isinstance(layers, str):
            names = [str(i) for i in range(len(layers))]
        else:
            raise NetTypeError("NetChain takes a list or a dict of layers",
                               got=f"got {type(layers).__name__}", where='NetChain',
                               fix='e.g. NetChain([LinearLayer(3), "Ramp"]) or NetChain({"lin": '
                                   'LinearLayer(3)})')
        edges = [tuple(names)] if len(names) > 1 else []
        ports: dict[str, ShapeLike] = {}
        if input is not None:
            ports["Input"] = input
        vertices = layers if isinstance(layers, Mapping) else list(layers)
        super().__init__(vertices, edges, **ports)
        if output is not None:
            from ..encoders import NetDecoder
            (name,) = self.output_names() if len(self.output_names()) == 1 else ("Output",)
            decoder = output if isinstance(output, NetDecoder) else None
            if decoder is None:
                self._declared[name] = as_shape(output, what="the output shape",
                                                where=f'NetChain, port "{name}"')
                self.bind({})
            if decoder is not None:
                self._attach_coders(self._encoders, {**self._decoders, name: decoder})
