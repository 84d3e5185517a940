"""Net surgery: NetTake, NetDrop, NetExtract, NetReplacePart, NetFlatten, NetJoin, NetAppend,
NetPrepend, NetInsert, NetDelete.

Every function returns a new net and leaves its argument unchanged. **Arrays are copied** by
default: the result shares no tensor with the argument (training one does not change the
other), while arrays shared *inside* the result (NetSharedArray, a layer used twice) stay
shared, because all copied layers are copied together. Pass ``copy=False`` to build the result
from the very same layer objects instead, so that it shares every array with the argument (to
fine-tune a part of a trained net in place, or to look at its arrays without a copy).

Vertices are named by their names or by 0-based positions, as everywhere in netgrad; ranges
(NetTake) include both ends. Chains stay chains (positional names ``"0"``, ``"1"``, ... are
renumbered); graphs stay graphs, rewired: an input port left without its source becomes an
input port of the new graph (named by the port), an output whose vertex is gone is dropped.
"""

from __future__ import annotations

import copy as _copy
from collections.abc import Mapping, Sequence
from typing import Any, Union

from .._errors import NetKeyError, NetTypeError, NetValueError
from .._module import NetModule
from ..layers import Layer
from ._graph import NetChain, NetGraph, NetPort, as_layer

__all__ = ["NetTake", "NetDrop", "NetExtract", "NetReplacePart", "NetFlatten", "NetJoin",
           "NetAppend", "NetPrepend", "NetInsert", "NetDelete"]

Ref = Union[str, int]


def _graph(net: Any, fn: str) -> NetGraph:
    if not isinstance(net, NetGraph):
        raise NetTypeError(f"{fn} takes a NetChain or a NetGraph", where=fn,
                           got=f"got {type(net).__name__}",
                           fix="wrap a layer in a chain first: NetChain([layer])")
    return net


def _chain(net: Any, fn: str) -> NetChain:
    if not isinstance(net, NetChain):
        raise NetTypeError(f"{fn} takes a NetChain", where=fn, got=f"got {type(net).__name__}",
                           fix="for a NetGraph use NetTake/NetDelete with vertex names")
    return net


def _name(net: NetGraph, ref: Ref, fn: str) -> str:
    try:
        return net.vertex_name(ref)
    except NetKeyError as e:
        raise NetKeyError(e.rule, where=fn, got=e.got, fix=e.fix) from None


def _copies(layers: Sequence[NetModule], copy: bool) -> list[NetModule]:
    """The layers, copied together (arrays shared among them stay shared) or as they are."""
    return list(_copy.deepcopy(list(layers))) if copy else list(layers)


def _positional(names: Sequence[str]) -> bool:
    return list(names) == [str(i) for i in range(len(names))]


def _new_chain(old: NetChain | None, names: Sequence[str], layers: Sequence[NetModule],
               keep_input: bool) -> NetChain:
    if not layers:
        raise NetValueError("the result would have no vertex", where="net surgery",
                            got="got an empty selection", fix="keep at least one layer")
    if _positional(names) or (old is not None and _positional(old.vertex_names())):
        spec: Any = list(layers)
    else:
        if len(set(names)) != len(names):
            dup = next(n for n in names if list(names).count(n) > 1)
            raise NetValueError("vertex names are unique", where="net surgery",
                                got=f"got {dup!r} twice", fix="rename one of the layers")
        spec = dict(zip(names, layers))
    declared = old.declared_port_shapes().get("Input") if old is not None and keep_input else None
    return NetChain(spec, input=declared)


def _rebuild(net: NetGraph, keep: Sequence[str], layers: Mapping[str, NetModule]) -> NetGraph:
    """``net`` with only the vertices ``keep`` (given as ``layers``), rewired."""
    kept = set(keep)
    edges = []
    for (sv, sp), (dv, dp) in net.edges():
        if dv is not None and dv not in kept:
            continue
        if sv is not None and sv not in kept:  # a vertex's port becomes a graph input
            if dv is not None:
                edges.append((NetPort(dp), NetPort(dv, dp)))
            continue
        src = NetPort(sp) if sv is None else NetPort(sv, sp)
        edges.append((src, NetPort(dp) if dv is None else NetPort(dv, dp)))
    ports = {p: s for p, s in net.declared_port_shapes().items()
             if p in net.input_names() or p in net.output_names()}
    graph = NetGraph({v: layers[v] for v in keep}, edges)
    shapes = {p: s for p, s in ports.items() if p in graph.input_names()}
    if shapes:
        graph.declare_port_shapes(shapes)
    return graph


# ---- taking parts --------------------------------------------------------------------------------

def NetTake(net: NetGraph, start: Ref, end: Ref | None = None, *, copy: bool = True) -> NetGraph:
    """The part of ``net`` from vertex ``start`` to vertex ``end``, both included.

    ``NetTake(net, end)`` starts at the first vertex. For a chain, the layers in between; for
    a graph, every vertex on a path from ``start`` to ``end``.
    """
    net = _graph(net, "NetTake")
    if end is None:
        start, end = net.vertex_names()[0], start
    a, b = _name(net, start, "NetTake"), _name(net, end, "NetTake")
    names = net.vertex_names()
    if isinstance(net, NetChain):
        i, j = names.index(a), names.index(b)
        if i > j:
            raise NetValueError("start comes before end in the chain", where="NetTake",
                                got=f"got {a!r} (position {i}) after {b!r} (position {j})",
                                fix="swap them")
        sel = names[i:j + 1]
        return _new_chain(net, sel, _copies([net.vertex(v) for v in sel], copy), i == 0)
    succ, pred = _adjacency(net)
    between = _reach(a, succ) & _reach(b, pred)
    if not between:
        raise NetValueError(f"no path leads from {a!r} to {b!r}", where="NetTake",
                            got=f"got start {a!r} and end {b!r}",
                            fix="choose an end that depends on the start")
    sel = [v for v in names if v in between]
    return _rebuild(net, sel, dict(zip(sel, _copies([net.vertex(v) for v in sel], copy))))


def _adjacency(net: NetGraph) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    succ: dict[str, set[str]] = {v: set() for v in net.vertex_names()}
    pred: dict[str, set[str]] = {v: set() for v in net.vertex_names()}
    for (sv, _), (dv, _) in net.edges():
        if sv is not None and dv is not None:
            succ[sv].add(dv)
            pred[dv].add(sv)
    return succ, pred


def _reach(v: str, step: Mapping[str, set[str]]) -> set[str]:
    seen, todo = {v}, [v]
    while todo:
        for w in step[todo.pop()]:
            if w not in seen:
                seen.add(w)
                todo.append(w)
    return seen


def NetDrop(net: NetChain, n: int, *, copy: bool = True) -> NetChain:
    """A chain without its first ``n`` layers (``n > 0``) or its last ``-n`` (``n < 0``)."""
    net = _chain(net, "NetDrop")
    if isinstance(n, bool) or not isinstance(n, int) or n == 0 or abs(n) >= len(net):
        raise NetValueError(f"NetDrop drops 1 to {len(net) - 1} layers from the front (n > 0) or "
                            "the back (n < 0)", where="NetDrop", got=f"got n={n!r}",
                            fix="e.g. NetDrop(chain, -1) drops the last layer")
    names = net.vertex_names()
    sel = names[n:] if n > 0 else names[:n]
    return _new_chain(net, sel, _copies([net.vertex(v) for v in sel], copy), n < 0)


def NetExtract(net: NetModule, path: Any, *, copy: bool = True) -> Any:
    """The vertex, nested net or array at ``path``: a vertex name or position, or a tuple of
    them through nested nets, optionally ending with an array name. A net or layer is returned
    as a copy (``copy=False``: the object itself); an array as a NumPy array (a copy)."""
    parts = path if isinstance(path, tuple) else (path,)
    if not parts:
        raise NetValueError("a path names at least one vertex", where="NetExtract", got="got ()")
    node: Any = net
    for i, part in enumerate(parts):
        if isinstance(node, Layer):
            if i == len(parts) - 1 and part in node.array_names:
                value = getattr(node, part)
                if value is None:
                    raise NetValueError(f'array "{part}" has no shape yet', where="NetExtract",
                                        got=f"got path {path!r}",
                                        fix="declare the input shapes of the net")
                return value.detach().cpu().numpy().copy()
            raise NetKeyError(f"{type(node).__name__} has no array {part!r}", where="NetExtract",
                              got=f"got path {path!r}",
                              fix=f"its arrays are {list(node.array_names)}")
        if not isinstance(node, NetGraph):
            raise NetTypeError("a path goes through nets", where="NetExtract",
                               got=f"got {type(node).__name__} at step {i}")
        node = node.vertex(_name(node, part, "NetExtract"))
    return _copy.deepcopy(node) if copy else node


def NetReplacePart(net: NetGraph, replacements: Mapping[Any, Any], *,
                   copy: bool = True) -> NetGraph:
    """``net`` with vertices replaced (``{path: layer}``; a path is a vertex name or position,
    or a tuple of them through nested nets) or arrays given values (``{(vertex, ...,
    array name): values}``). The new layers must fit the shapes around them: the net is rewired
    and its shapes are inferred again."""
    net = _graph(net, "NetReplacePart")
    if not isinstance(replacements, Mapping) or not replacements:
        raise NetTypeError("NetReplacePart takes a dict of paths to layers or array values",
                           where="NetReplacePart", got=f"got {type(replacements).__name__}",
                           fix='e.g. NetReplacePart(net, {"act": "ReLU"})')
    work = _copy.deepcopy(net) if copy else net
    reps = {(k if isinstance(k, tuple) else (k,)): v for k, v in replacements.items()}
    if any(not k for k in reps):
        raise NetValueError("a path names at least one vertex", where="NetReplacePart",
                            got="got ()")
    return _replaced(work, reps)


def _replaced(g: NetGraph, reps: Mapping[tuple, Any]) -> NetGraph:
    names = g.vertex_names()
    by_vertex: dict[str, dict[tuple, Any]] = {}
    for path, value in reps.items():
        by_vertex.setdefault(_name(g, path[0], "NetReplacePart"), {})[path[1:]] = value
    layers = {}
    for v in names:
        sub, child = by_vertex.get(v), g.vertex(v)
        if not sub:
            layers[v] = child
        elif () in sub:
            layers[v] = as_layer(sub[()], f'NetReplacePart › "{v}"')
        elif isinstance(child, NetGraph):
            layers[v] = _replaced(child, sub)
        else:
            for path, value in sub.items():
                if len(path) != 1 or path[0] not in getattr(child, "array_names", ()):
                    raise NetKeyError(f'{type(child).__name__} "{v}" has no array '
                                      f"{path[-1]!r}", where="NetReplacePart",
                                      got=f"got path {(v,) + path!r}",
                                      fix=f"its arrays are {list(getattr(child, 'array_names', ()))}")
                layer: Any = child
                layer.set_array(path[0], value)
            layers[v] = child
    return _like(g, names, layers)


def _like(g: NetGraph, names: Sequence[str], layers: Mapping[str, NetModule]) -> NetGraph:
    """A new graph like ``g`` (a chain stays a chain) with these vertices, rewired; its input
    ports keep the shapes ``g`` knew for them (a replacement must fit what was around it)."""
    if isinstance(g, NetChain):
        new: NetGraph = _new_chain(g, names, [layers[v] for v in names], True)
    else:
        new = _rebuild(g, names, layers)
    known = {p: g.port_shape(p) for p in new.input_names()
             if p in g.input_names() and g.port_shape(p) is not None}
    if known and any(new.port_shape(p) is None for p in known):
        new.declare_port_shapes(known)
    return new


# ---- building chains ------------------------------------------------------------------------------

def _items(layers: Any, where: str) -> list[tuple[str | None, NetModule]]:
    if isinstance(layers, Mapping):
        return [(str(k), as_layer(v, f'{where} › "{k}"')) for k, v in layers.items()]
    if isinstance(layers, (list, tuple)):
        return [(None, as_layer(v, where)) for v in layers]
    return [(None, as_layer(layers, where))]


def _assemble(parts: list[tuple[str | None, NetModule]], old: NetChain,
              keep_input: bool) -> NetChain:
    """A chain of ``parts`` (name or None, layer): positional names when no part is named,
    else the given names (unnamed parts by position), made unique with a suffix."""
    declared = old.declared_port_shapes().get("Input") if keep_input else None
    if all(n is None for n, _ in parts):
        return NetChain([m for _, m in parts], input=declared)
    names = _unique([n if n is not None else str(i) for i, (n, _) in enumerate(parts)])
    return NetChain(dict(zip(names, (m for _, m in parts))), input=declared)


def _unique(names: list[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for n in names:
        candidate, k = n, 1
        while candidate in seen:
            k += 1
            candidate = f"{n}_{k}"
        seen.add(candidate)
        out.append(candidate)
    return out


def _chain_parts(net: NetChain, copy: bool) -> list[tuple[str | None, NetModule]]:
    names = net.vertex_names()
    layers = _copies([net.vertex(v) for v in names], copy)
    keep = None if _positional(names) else names
    return [(keep[i] if keep else None, m) for i, m in enumerate(layers)]


def NetJoin(*nets: NetChain, copy: bool = True) -> NetChain:
    """One chain of the layers of several chains, in order (Wolfram's NetJoin)."""
    if len(nets) < 2:
        raise NetValueError("NetJoin joins at least two chains", where="NetJoin",
                            got=f"got {len(nets)}")
    parts: list[tuple[str | None, NetModule]] = []
    for n in nets:
        parts += _chain_parts(_chain(n, "NetJoin"), copy)
    return _assemble(parts, nets[0], True)


def NetAppend(net: NetChain, layers: Any, *, copy: bool = True) -> NetChain:
    """A chain with ``layers`` (one layer, a list, or a dict of names to layers) after its own."""
    net = _chain(net, "NetAppend")
    return _assemble(_chain_parts(net, copy) + _items(layers, "NetAppend"), net, True)


def NetPrepend(net: NetChain, layers: Any, *, copy: bool = True) -> NetChain:
    """A chain with ``layers`` before its own (the chain's declared input no longer applies)."""
    net = _chain(net, "NetPrepend")
    return _assemble(_items(layers, "NetPrepend") + _chain_parts(net, copy), net, False)


def NetInsert(net: NetChain, layers: Any, before: Ref, *, copy: bool = True) -> NetChain:
    """A chain with ``layers`` inserted before the vertex ``before`` (a name or position;
    ``len(net)`` appends)."""
    net = _chain(net, "NetInsert")
    parts = _chain_parts(net, copy)
    if isinstance(before, int) and not isinstance(before, bool) and before == len(net):
        i = len(net)
    else:
        i = net.vertex_names().index(_name(net, before, "NetInsert"))
    return _assemble(parts[:i] + _items(layers, "NetInsert") + parts[i:], net, i > 0)


def NetDelete(net: NetGraph, vertices: Any, *, copy: bool = True) -> NetGraph:
    """``net`` without the given vertices (a name, a position or a list of them); in a graph
    their edges go too (ports left without a source become inputs of the new graph)."""
    net = _graph(net, "NetDelete")
    refs = vertices if isinstance(vertices, (list, tuple, set)) else [vertices]
    gone = {_name(net, r, "NetDelete") for r in refs}
    keep = [v for v in net.vertex_names() if v not in gone]
    layers = _copies([net.vertex(v) for v in keep], copy)
    if isinstance(net, NetChain):
        first_kept = not net.vertex_names() or net.vertex_names()[0] not in gone
        return _new_chain(net, keep, layers, first_kept)
    if not keep:
        raise NetValueError("the result would have no vertex", where="NetDelete",
                            got=f"got all of {sorted(gone)}", fix="keep at least one vertex")
    return _rebuild(net, keep, dict(zip(keep, layers)))


def NetFlatten(net: NetGraph, *, copy: bool = True) -> NetGraph:
    """``net`` with its nested nets inlined: one level of vertices named ``"outer/inner"``
    (a chain of chains and layers stays a chain)."""
    net = _graph(net, "NetFlatten")
    work = _copy.deepcopy(net) if copy else net
    if isinstance(work, NetChain) and all(isinstance(v, (NetChain, Layer)) for v in work):
        names, layers = _flat_chain(work, "")
        return NetChain(dict(zip(names, layers)),
                        input=work.declared_port_shapes().get("Input"))
    vertices, inputs, edges, outputs = _inline(work, "")
    wires = edges + [(NetPort(p), d) for p, ds in inputs.items() for d in ds]
    wires += [(src, NetPort(p)) for p, src in outputs.items()]
    graph = NetGraph(vertices, wires)
    shapes = {p: s for p, s in work.declared_port_shapes().items() if p in graph.input_names()}
    if shapes:
        graph.declare_port_shapes(shapes)
    return graph


def _flat_chain(chain: NetChain, prefix: str) -> tuple[list[str], list[NetModule]]:
    names: list[str] = []
    layers: list[NetModule] = []
    for v in chain.vertex_names():
        m = chain.vertex(v)
        if isinstance(m, NetChain):
            n2, l2 = _flat_chain(m, f"{prefix}{v}/")
            names += n2
            layers += l2
        else:
            names.append(f"{prefix}{v}")
            layers.append(m)
    return names, layers


def _inline(g: NetGraph, prefix: str):
    """``g``'s layers at one level: (vertices, its input ports → the flat ports they feed,
    flat edges, its output ports → their flat sources)."""
    vertices: dict[str, NetModule] = {}
    inputs: dict[str, list[NetPort]] = {}
    edges: list[tuple[NetPort, NetPort]] = []
    nested_in: dict[str, dict[str, list[NetPort]]] = {}
    nested_out: dict[str, dict[str, NetPort]] = {}
    for v in g.vertex_names():
        m = g.vertex(v)
        if isinstance(m, NetGraph):
            sub_v, sub_in, sub_e, sub_out = _inline(m, f"{prefix}{v}/")
            vertices.update(sub_v)
            edges += sub_e
            nested_in[v], nested_out[v] = sub_in, sub_out
        else:
            vertices[f"{prefix}{v}"] = m

    def connect(src: NetPort, dst: NetPort) -> None:
        if src.vertex is None:
            inputs.setdefault(src.port, []).append(dst)
        else:
            edges.append((src, dst))

    outputs: dict[str, NetPort] = {}
    for (sv, sp), (dv, dp) in g.edges():
        if sv is None:
            src = NetPort(sp)
        elif sv in nested_out:
            src = nested_out[sv][sp]
        else:
            src = NetPort(f"{prefix}{sv}", sp)
        if dv is None:
            outputs[dp] = src
        elif dv in nested_in:
            for d in nested_in[dv].get(dp, []):
                connect(src, d)
        else:
            connect(src, NetPort(f"{prefix}{dv}", dp))
    return vertices, inputs, edges, outputs
