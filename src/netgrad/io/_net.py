"""Nets to bundles and back: ``save``, ``load``, ``net_to_bundle``, ``net_from_bundle``.

The structure of a net is a flat list of nodes, children before their parents, the root last::

    {"format": "netgrad.net", "version": 1, "root": 3, "input_shapes": {"Input": [2]},
     "nodes": [
       {"kind": "layer", "type": "LinearLayer", "config": {"n": 3}, "ports": {"Input": [2]},
        "training": true,
        "arrays": {"Weights": {"state": "set", "key": "lin.Weights", "requires_grad": true},
                   "Biases": {"state": "uninitialized", "shape": [3], "dtype": "float32",
                              "requires_grad": true}}},
       ...,
       {"kind": "NetChain", "vertices": [["lin", 0], ["act", 1]], "ports": {"Input": [2]},
        "edges": [[[null, "Input"], ["lin", "Input"]], ...], "inputs": ["Input"],
        "outputs": ["Output"], "training": true,
        "encoders": {"Input": {"kind": "Scalar", "config": {}}}}]}

so the JSON's nesting does not grow with the net's (nets nest to any depth; the loader builds
them without recursion). A node used twice (a shared layer) is stored once. An array is
``"absent"`` (its shape is not known yet), ``"uninitialized"`` (shape and dtype known, no
values), or ``"set"`` (its values are the bundle tensor ``key``). A graph's encoders and
decoders (optional ``"encoders"`` / ``"decoders"``: port → ``{"kind", "config"}``) are data
too, rebuilt by :func:`netgrad.encoders._data.coder_from_data` (registered kinds, their own
options only).

Loading looks layer types up in :data:`netgrad.layers.LAYER_TYPES` (never imports a name from
the file), builds each layer with ``from_config`` under an allocation guard (a torch function
mode that refuses to allocate more than ``Limits.max_elements`` before any memory is taken),
rebuilds the graphs from their saved edges, checks that they rewire exactly as saved, and sets
the arrays after checking their shapes and dtypes.
"""

from __future__ import annotations

import difflib
import math
import os
from collections.abc import Mapping
from typing import Any

import torch
import torch.fx as fx
from torch.overrides import TorchFunctionMode

from .._errors import LoadError, NetgradError, NetTypeError
from .._module import NetModule
from ..layers import LAYER_TYPES, ElementwiseLayer, Layer, ThreadingLayer
from ..layers._arrays import ARRAY_STATES, ArrayState, LayerState
from ..layers._shared import NetSharedArray
from ..net import NetChain, NetGraph, NetPort
from ..net._operators import OPERATOR_TYPES, Operator
from .._shapes import Varying
from ._bundle import (DEFAULT_LIMITS, DTYPES, Limits, PathLike, _short_repr, checked_path, read_bundle,
                      write_bundle)
from ._function import MAX_ARITY, function_from_data, graph_to_data, trace_function
from ..encoders._data import coder_from_data, coder_to_data

__all__ = ["save", "load", "net_to_bundle", "net_from_bundle"]

#: The fix of a file whose content netgrad cannot accept.
CORRUPTED = ("the file is corrupted or was not written by netgrad: load an intact copy, or save "
             "the net again with netgrad.save")

NET_FORMAT = "netgrad.net"
NET_VERSION = 1
MAX_NESTING = 256
_FLOAT_DTYPES = ("float64", "float32", "float16", "bfloat16")
_DTYPE_NAMES = {v: k for k, v in DTYPES.items()}
_GRAPH_KINDS: dict[str, type[NetGraph]] = {"NetGraph": NetGraph, "NetChain": NetChain}


def _function_arity(layer: Layer) -> int | None:
    """Inputs of the user function a layer holds (None: the layer holds no user function)."""
    if isinstance(layer, ElementwiseLayer) and not isinstance(layer.function, str):
        return 1
    if isinstance(layer, ThreadingLayer) and not isinstance(layer.function, str):
        return layer._arity
    return None


# ---- saving -------------------------------------------------------------------------------------

def _config_to_json(value: Any, where: str, key: str) -> Any:
    """A layer's config as JSON data; a bug in the layer's get_config if it is not JSON data."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value
    if isinstance(value, (list, tuple)):
        return [_config_to_json(v, where, f"{key}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise NetTypeError("a layer's get_config() must be JSON data (string keys)",
                                   where=where, got=f"got key {k!r} in config{key}")
            out[k] = _config_to_json(v, where, f"{key}[{k!r}]")
        return out
    raise NetTypeError("a layer's get_config() must be JSON data (dicts, lists, strings, "
                       "numbers, booleans, None)", where=where,
                       got=f"got {type(value).__name__} at config{key}",
                       fix="this is a bug in the layer's get_config; please report it")


class _Saver:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.nodes: list[dict[str, Any]] = []
        self.tensors: dict[str, torch.Tensor] = {}
        self.memo: dict[int, int] = {}
        self.shared_keys: dict[str, str] = {}

    def where(self, path: tuple[str, ...], module: NetModule) -> str:
        inner = " › ".join(f'"{p}"' for p in path) if path else "net"
        return f"{inner} ({type(module).__name__})"

    def add(self, module: NetModule, path: tuple[str, ...]) -> int:
        if id(module) in self.memo:
            return self.memo[id(module)]
        if isinstance(module, Layer):
            node = self.layer(module, path)
        elif isinstance(module, NetGraph) and type(module) in (NetGraph, NetChain):
            node = self.graph(module, path)
        elif isinstance(module, Operator) and OPERATOR_TYPES.get(type(module).__name__) is type(module):
            node = self.operator(module, path)
        else:
            raise NetTypeError("netgrad can save layers, NetGraph, NetChain and the net operators",
                               where=self.where(path, module),
                               got=f"got {type(module).__name__}",
                               fix="build the net from netgrad layers and nets")
        self.memo[id(module)] = len(self.nodes)
        self.nodes.append(node)
        return len(self.nodes) - 1

    def graph(self, g: NetGraph, path: tuple[str, ...]) -> dict[str, Any]:
        vertices = [[name, self.add(g.vertices[name], path + (name,))]
                    for name in g.vertex_names()]
        edges = [[[sv, sp], [dv, dp]] for (sv, sp), (dv, dp) in g.edges()]
        node = {"kind": type(g).__name__, "vertices": vertices, "edges": edges,
                "ports": {p: list(s) for p, s in g.declared_port_shapes().items() if s is not None},
                "inputs": list(g.input_names()), "outputs": list(g.output_names()),
                "training": g.training}
        where = self.where(path, g)
        for key, coders in (("encoders", g.encoders()), ("decoders", g.decoders())):
            if coders:
                node[key] = {p: coder_to_data(c, f'{where}, port "{p}"') for p, c in coders.items()}
        return node

    def operator(self, op: Operator, path: tuple[str, ...]) -> dict[str, Any]:
        vertices = [[name, self.add(op.vertex(name), path + (name,))]
                    for name in op.vertex_names()]
        config = _config_to_json(dict(op.get_config()), self.where(path, op), "")
        return {"kind": "operator", "type": type(op).__name__, "vertices": vertices,
                "config": config, "training": op.training}

    def layer(self, layer: Layer, path: tuple[str, ...]) -> dict[str, Any]:
        kind = type(layer).__name__
        where = self.where(path, layer)
        if LAYER_TYPES.get(kind) is not type(layer):
            raise NetTypeError("a layer type must be registered to be saved", where=where,
                               got=f"{kind} is not in netgrad.layers.LAYER_TYPES",
                               fix="decorate the class with @netgrad.layers.register_layer")
        try:
            state = layer.save_state()
        except NetgradError as e:
            raise e.located(where) from None
        try:
            config = dict(layer.get_config())
        except NetgradError as e:  # e.g. a ModuleLayer's module that cannot be saved
            raise e.located(where) from None
        arity = _function_arity(layer)
        if arity is not None:
            function: Any = layer.function  # the layer's own function (an attribute)
            config["function"] = trace_function(function, arity, where)
        to_save: Any = getattr(layer, "function_to_save", None)
        if to_save is not None:  # FunctionLayer, CompiledLayer
            key, fn, n = to_save()
            config[key] = graph_to_data(fn, n, where) if isinstance(fn, fx.GraphModule) \
                else trace_function(fn, n, where)
        config = _config_to_json(config, where, "")
        arrays: dict[str, Any] = {}
        for n, a in state.arrays.items():
            if a.state == "absent":
                arrays[n] = {"state": "absent"}
            elif a.state == "uninitialized":
                arrays[n] = {"state": "uninitialized", "shape": list(a.shape or ()),
                             "dtype": (_DTYPE_NAMES.get(a.dtype) if a.dtype is not None else None)
                             or str(a.dtype),
                             "requires_grad": a.requires_grad}
            else:  # a shared array's values are stored once, under its first use's key
                key = self.shared_keys.get(a.shared) if a.shared is not None else None
                if key is None:
                    key = self.prefix + ".".join(path + (n,))
                    assert a.values is not None, "a set array has values"
                    self.tensors[key] = a.values
                    if a.shared is not None:
                        self.shared_keys[a.shared] = key
                arrays[n] = {"state": "set", "key": key, "requires_grad": a.requires_grad}
            if a.shared is not None and a.state != "absent":
                arrays[n]["shared"] = a.shared
        node: dict[str, Any] = {"kind": "layer", "type": kind, "config": config,
                                "ports": {p: list(s) for p, s in
                                          layer.declared_port_shapes().items() if s is not None},
                                "arrays": arrays, "training": layer.training}
        if state.buffers:
            node["buffers"] = {}
            for n, b in state.buffers.items():
                key = self.prefix + ".".join(path + (n,))
                self.tensors[key] = b
                node["buffers"][n] = key
        return node


def net_to_bundle(net: NetModule, *, prefix: str = "") -> tuple[dict[str, Any],
                                                                 dict[str, torch.Tensor]]:
    """A net as ``(meta, tensors)`` for :func:`write_bundle` (e.g. inside a checkpoint).

    Args:
        net: a layer, NetGraph or NetChain (nested to any depth).
        prefix: prepended to every tensor key (``"net/"`` keeps a checkpoint's net arrays apart
            from its optimizer state).

    Returns:
        ``meta``: JSON data describing the net; ``tensors``: array path (``"enc.lin.Weights"``,
        with ``prefix``) → the array's values (detached, not copied).

    Raises:
        NetValueError / NetTypeError: a user function that cannot be saved as data (the error
        names the operation), or a module netgrad cannot save.
    """
    if not isinstance(prefix, str):
        raise NetTypeError("prefix is a string", where="net_to_bundle",
                           got=f"got {type(prefix).__name__}")
    if not isinstance(net, NetModule):
        raise NetTypeError("net_to_bundle saves a netgrad layer or net", where="net_to_bundle",
                           got=f"got {type(net).__name__}")
    saver = _Saver(prefix)
    root = saver.add(net, ())
    shapes = {p: (list(s) if s is not None else None)
              for p, s in ((p, net.port_shape(p)) for p in net.input_names())}
    meta = {"format": NET_FORMAT, "version": NET_VERSION, "root": root, "nodes": saver.nodes,
            "input_shapes": shapes}
    return meta, saver.tensors


def save(net: NetModule, path: PathLike) -> None:
    """Save a net (structure, arrays, user functions as data) to one file, atomically.

    Args:
        net: a layer, NetGraph or NetChain.
        path: the file to write, conventionally ``*.netgrad``.

    The file is a safetensors file; see :mod:`netgrad.io`. Raises NetValueError when a user
    function in an ElementwiseLayer or ThreadingLayer cannot be saved as data (naming the
    operation).
    """
    if not isinstance(net, NetModule):
        raise NetTypeError("netgrad.save saves a netgrad layer or net", where="save",
                           got=f"got {type(net).__name__}",
                           fix="netgrad.save(net, path) with the net first; torch modules save "
                               "with torch.save(module.state_dict(), path)")
    path = checked_path(path, "save", write=True)
    meta, tensors = net_to_bundle(net)
    write_bundle(path, {"net": meta}, tensors)


# ---- loading ------------------------------------------------------------------------------------

class _AllocationGuard(TorchFunctionMode):
    """Refuses, before allocating, tensors beyond a budget of elements (meta tensors are free)."""

    def __init__(self, budget: int, where: str) -> None:
        super().__init__()
        self.budget = budget
        self.where = where
        self.used = 0

    _FACTORIES = frozenset({torch.full, torch.empty, torch.zeros, torch.ones, torch.rand,
                            torch.randn, torch.empty_strided})
    _METHODS = frozenset({torch.Tensor.new_full, torch.Tensor.new_empty, torch.Tensor.new_zeros,
                          torch.Tensor.new_ones})

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in self._FACTORIES or func in self._METHODS:
            size_args = args[1:] if func in self._METHODS else args
            self.charge(self._numel(size_args, kwargs), kwargs.get("device"))
        return func(*args, **kwargs)

    @staticmethod
    def _numel(args: tuple, kwargs: dict) -> int:
        size = kwargs.get("size")
        if size is None and args:
            size = args[0] if isinstance(args[0], (tuple, list, torch.Size)) else \
                [a for a in args if isinstance(a, int)]
        try:
            return math.prod(int(d) for d in size) if size is not None else 0
        except (TypeError, ValueError):
            return 0

    def charge(self, n: int, device: Any = None) -> None:
        if device is not None and torch.device(device).type == "meta":
            return
        self.used += n
        if self.used > self.budget:
            raise LoadError(f"a loaded net may allocate at most {self.budget} array elements",
                            where=self.where, got=f"got a request for {n} elements "
                                                  f"({self.used} in all)",
                            fix="if the file is trusted, raise netgrad.io.Limits(max_elements=...)")


def _shape(value: Any, where: str, what: str) -> tuple[int, ...]:
    if not isinstance(value, list) or len(value) > 64 or not all(
            isinstance(d, int) and not isinstance(d, bool) and 0 <= d < 2**63 for d in value):
        raise LoadError(f"{what} is a list of at most 64 non-negative ints", where=where,
                        got=f"got {_short(value)}")
    return tuple(value)


def _port_shape(value: Any, where: str, what: str) -> tuple:
    """A port's shape: like an array's, but the first dimension may be "Varying" (a sequence)."""
    if isinstance(value, list) and value and value[0] == "Varying":
        return (Varying,) + _shape(value[1:], where, what)
    return _shape(value, where, what)


def _short(value: Any) -> str:
    return _short_repr(value, 80)


def _keys(node: dict[str, Any], required: set[str], optional: set[str], where: str) -> None:
    missing = required - set(node)
    extra = set(node) - required - optional
    if missing or extra:
        raise LoadError(f"a node has the keys {sorted(required)}"
                        + (f" (and optionally {sorted(optional)})" if optional else ""),
                        where=where, got=f"got {sorted(node)[:12]}")


class _Loader:
    def __init__(self, meta: Any, tensors: Mapping[str, torch.Tensor], prefix: str,
                 limits: Limits) -> None:
        self.meta = meta
        self.tensors = tensors
        self.prefix = prefix
        self.limits = limits
        self.used_keys: set[str] = set()
        self.shared_keys: dict[str, str] = {}
        self.shared: dict[str, NetSharedArray] = {}

    def fail(self, rule: str, where: str = "the saved net", got: str | None = None,
             fix: str | None = None) -> LoadError:
        return LoadError(rule, where=where, got=got, fix=fix or CORRUPTED)

    def run(self) -> NetModule:
        meta = self.meta
        if not isinstance(meta, dict):
            raise self.fail("a saved net is a JSON object", got=f"got {type(meta).__name__}")
        _keys(meta, {"format", "version", "root", "nodes", "input_shapes"}, set(), "the saved net")
        if meta["format"] != NET_FORMAT or meta["version"] != NET_VERSION or \
                isinstance(meta["version"], bool):
            raise self.fail(f"this netgrad reads {NET_FORMAT} version {NET_VERSION}",
                            got=f"got {_short(meta['format'])} version {_short(meta['version'])}")
        nodes = meta["nodes"]
        if not isinstance(nodes, list) or not nodes:
            raise self.fail("nodes is a non-empty list", got=f"got {_short(nodes)}")
        if meta["root"] != len(nodes) - 1 or isinstance(meta["root"], bool):
            raise self.fail("the root is the last node", got=f"got root {_short(meta['root'])} "
                                                            f"of {len(nodes)} nodes")
        self.check_references(nodes)
        self.check_budget(nodes)
        guard = _AllocationGuard(self.limits.max_elements, "the saved net")
        built: list[NetModule] = []
        try:
            with guard:
                for i, node in enumerate(nodes):
                    built.append(self.build(i, node, built))
        except LoadError:
            raise
        except NetgradError as e:
            raise self.fail("the saved net could not be rebuilt",
                            where=f"the saved net, node {len(built)}",
                            got=f"got {type(e).__name__}: {e.where + ': ' if e.where else ''}"
                                f"{e.rule}{'; ' + e.got if e.got else ''}",
                            fix="the file is corrupted or was not written by netgrad") from None
        except (TypeError, ValueError, KeyError, IndexError, RuntimeError, RecursionError,
                OverflowError) as e:
            raise self.fail("the saved net could not be rebuilt",
                            where=f"the saved net, node {len(built)}",
                            got=f"got {type(e).__name__}: {e}",
                            fix="the file is corrupted or was not written by netgrad") from None
        for i, node in enumerate(nodes):
            if node["kind"] == "layer":
                layer = built[i]
                assert isinstance(layer, Layer), "a layer node builds a layer"
                self.restore_arrays(layer, node, f"the saved net, node {i} ({node['type']})",
                                    guard)
        unused = sorted(k for k in self.tensors if k.startswith(self.prefix)
                        and k not in self.used_keys)
        if unused:
            raise self.fail("every stored array belongs to a layer",
                            got=f"got {len(unused)} extra arrays, e.g. {unused[0][:80]!r}",
                            fix="the file is corrupted or was not written by netgrad")
        root = built[-1]
        for i, node in enumerate(nodes):
            built[i].training = node["training"]
        shapes = meta["input_shapes"]
        if not isinstance(shapes, dict) or set(shapes) != set(root.input_names()):
            raise self.fail("input_shapes names the net's input ports",
                            got=f"got {_short(shapes)} for ports {list(root.input_names())}")
        given = {p: _port_shape(s, "the saved net", f'the shape of input "{p}"')
                 for p, s in shapes.items() if s is not None}
        try:
            root.bind(given)
        except NetgradError as e:
            raise self.fail("the saved input shapes fit the net", got=str(e)) from None
        return root

    def check_references(self, nodes: list[Any]) -> None:
        """Children come before parents; every node but the root is used; nesting is bounded."""
        used = [0] * len(nodes)
        depth = [1] * len(nodes)
        for i, node in enumerate(nodes):
            where = f"the saved net, node {i}"
            if not isinstance(node, dict) or not isinstance(node.get("kind"), str):
                raise self.fail('a node is an object with a "kind"', where=where,
                                got=f"got {_short(node)}")
            if not isinstance(node.get("training"), bool):
                raise self.fail('a node has "training": true or false', where=where,
                                got=f"got {_short(node.get('training'))}")
            if node["kind"] == "layer":
                continue
            if node["kind"] not in _GRAPH_KINDS and node["kind"] != "operator":
                raise self.fail('a node\'s kind is "layer", "operator", "NetGraph" or "NetChain"',
                                where=where, got=f"got {_short(node['kind'])}")
            vertices = node.get("vertices")
            if not isinstance(vertices, list) or not vertices:
                raise self.fail("a graph's vertices are a non-empty list", where=where,
                                got=f"got {_short(vertices)}")
            for v in vertices:
                if not (isinstance(v, list) and len(v) == 2 and isinstance(v[0], str)
                        and isinstance(v[1], int) and not isinstance(v[1], bool)
                        and 0 <= v[1] < i):
                    raise self.fail(f"a vertex is [name, index of an earlier node (0 to {i - 1})]",
                                    where=where, got=f"got {_short(v)}")
                used[v[1]] += 1
                depth[i] = max(depth[i], depth[v[1]] + 1)
            if depth[i] > MAX_NESTING:
                raise self.fail(f"nets nest at most {MAX_NESTING} levels deep", where=where,
                                got=f"got {depth[i]} levels")
        orphans = [i for i, n in enumerate(used[:-1]) if n == 0]
        if orphans:
            raise self.fail("every node but the root is a vertex of a graph",
                            got=f"got unused nodes {orphans[:10]}")

    def check_budget(self, nodes: list[Any]) -> None:
        """Refuse, before building anything, nets that declare more elements than allowed."""
        total = 0
        for i, node in enumerate(nodes):
            if node["kind"] != "layer":
                continue
            arrays = node.get("arrays")
            if not isinstance(arrays, dict):
                raise self.fail("a layer's arrays are an object", where=f"the saved net, node {i}",
                                got=f"got {_short(arrays)}")
            for name, rec in arrays.items():
                if isinstance(rec, dict) and rec.get("state") == "uninitialized":
                    total += math.prod(_shape(rec.get("shape"), f"the saved net, node {i}",
                                              f'the shape of array "{name}"'))
        total += sum(t.numel() for k, t in self.tensors.items() if k.startswith(self.prefix))
        if total > self.limits.max_elements:
            raise self.fail(f"a loaded net has at most {self.limits.max_elements} array elements",
                            got=f"got {total} declared",
                            fix="if the file is trusted, raise netgrad.io.Limits(max_elements=...)")

    def ports(self, value: Any, where: str) -> dict[str, tuple[int, ...]]:
        if not isinstance(value, dict):
            raise self.fail("declared ports are an object of port names to shapes", where=where,
                            got=f"got {_short(value)}")
        return {p: _port_shape(s, where, f'the shape of port "{p}"') for p, s in value.items()}

    def build(self, i: int, node: dict[str, Any], built: list[NetModule]) -> NetModule:
        if node["kind"] == "layer":
            return self.build_layer(i, node)
        if node["kind"] == "operator":
            return self.build_operator(i, node, built)
        where = f"the saved net, node {i} ({node['kind']})"
        _keys(node, {"kind", "vertices", "edges", "ports", "inputs", "outputs", "training"},
              {"encoders", "decoders"}, where)
        names = [name for name, _ in node["vertices"]]
        if len(set(names)) != len(names):
            raise self.fail("vertex names are unique", where=where, got=f"got {_short(names)}")
        children = {name: built[j] for name, j in node["vertices"]}
        ports = self.ports(node["ports"], where)
        edges = node["edges"]
        if not isinstance(edges, list) or not all(_is_edge(e) for e in edges):
            raise self.fail("edges are [[source vertex or null, port], [vertex or null, port]]",
                            where=where, got=f"got {_short(edges)}")
        saved_edges = [((e[0][0], e[0][1]), (e[1][0], e[1][1])) for e in edges]
        if node["kind"] == "NetChain":
            net: NetGraph = NetChain(children)
            if ports:
                net.declare_port_shapes(ports)
        else:
            if {"vertices", "edges"} & set(ports):
                raise self.fail("port names differ from NetGraph's arguments", where=where,
                                got=f"got {sorted(ports)}")
            wires = [(NetPort(sp) if sv is None else NetPort(sv, sp),
                      NetPort(dp) if dv is None else NetPort(dv, dp))
                     for (sv, sp), (dv, dp) in saved_edges]
            net = NetGraph(children, wires, **ports)
        if net.edges() != saved_edges or list(net.input_names()) != node["inputs"] or \
                list(net.output_names()) != node["outputs"]:
            raise self.fail("the graph rewires exactly as saved", where=where,
                            got=f"got inputs {list(net.input_names())}, outputs "
                                f"{list(net.output_names())} and {len(net.edges())} edges for "
                                f"saved {_short(node['inputs'])}, {_short(node['outputs'])} and "
                                f"{len(saved_edges)} edges",
                            fix="the file is corrupted or was not written by netgrad")
        encoders = self.coders(node.get("encoders", {}), "encoder", where)
        decoders = self.coders(node.get("decoders", {}), "decoder", where)
        if encoders or decoders:
            net._attach_coders(encoders, decoders)
        return net

    def coders(self, value: Any, family: str, where: str) -> dict[str, Any]:
        """A graph node's saved encoders or decoders: port name → coder (data only)."""
        if not isinstance(value, dict) or not all(isinstance(p, str) for p in value):
            raise self.fail(f"a graph's {family}s are an object of port names to {family}s",
                            where=where, got=f"got {_short(value)}")
        return {p: coder_from_data(d, family, f'{where}, port "{p}"') for p, d in value.items()}

    def build_operator(self, i: int, node: dict[str, Any], built: list[NetModule]) -> NetModule:
        kind = node.get("type")
        where = f"the saved net, node {i} ({_short(kind)})"
        _keys(node, {"kind", "type", "vertices", "config", "training"}, set(), where)
        cls = OPERATOR_TYPES.get(kind) if isinstance(kind, str) else None
        if cls is None:
            raise self.fail("an operator node names a net operator", where=where,
                            got=f"got {_short(kind)}", fix=f"known: {sorted(OPERATOR_TYPES)}")
        children = {name: built[j] for name, j in node["vertices"]}
        if list(children) != list(cls.roles):
            raise self.fail(f"{kind}'s vertices are {list(cls.roles)}", where=where,
                            got=f"got {list(children)}")
        if not isinstance(node["config"], dict):
            raise self.fail("an operator's config is an object", where=where,
                            got=f"got {_short(node['config'])}")
        return cls.from_vertices(children, node["config"])

    def build_layer(self, i: int, node: dict[str, Any]) -> Layer:
        where = f"the saved net, node {i}"
        _keys(node, {"kind", "type", "config", "ports", "arrays", "training"}, {"buffers"}, where)
        kind = node["type"]
        cls = LAYER_TYPES.get(kind) if isinstance(kind, str) else None
        if cls is None:
            known = sorted(LAYER_TYPES)
            close = difflib.get_close_matches(kind[:200], known, n=1) \
                if isinstance(kind, str) else []
            raise self.fail("the layer type is one of netgrad's registered layers", where=where,
                            got=f"got {_short(kind)}",
                            fix=f"did you mean {close[0]!r}?" if close else
                            f"known layer types: {known}")
        where = f"the saved net, node {i} ({kind})"
        config = node["config"]
        if not isinstance(config, dict):
            raise self.fail("a layer's config is an object", where=where, got=f"got {_short(config)}")
        config = dict(config)
        if cls.variadic:
            n = config.get("n")
            if n is not None and (not isinstance(n, int) or isinstance(n, bool)
                                  or not 1 <= n <= MAX_ARITY):
                raise self.fail(f"a layer takes 1 to {MAX_ARITY} inputs", where=where,
                                got=f"got n={_short(n)}")
        if issubclass(cls, (ElementwiseLayer, ThreadingLayer)) and \
                isinstance(config.get("function"), dict):
            arity = 1 if issubclass(cls, ElementwiseLayer) else config.get("n")
            if not isinstance(arity, int):
                raise self.fail("a ThreadingLayer with a saved function has its n", where=where,
                                got=f"got config keys {sorted(config)}")
            config["function"] = function_from_data(config["function"], arity, where)
        key = getattr(cls, "function_key", None)
        if key is not None and isinstance(config.get(key), dict):
            arity_of: Any = cls
            arity = arity_of.function_arity_from_config(config)
            if not isinstance(arity, int) or not 1 <= arity <= MAX_ARITY:
                raise self.fail(f"a layer with a saved function names 1 to {MAX_ARITY} inputs",
                                where=where, got=f"got inputs {_short(config.get('inputs'))}")
            config[key] = function_from_data(config[key], arity, where)
        layer = cls.from_config(config)
        declared = self.ports(node["ports"], where)
        unknown = set(declared) - set(layer.input_names())
        if unknown:
            raise self.fail(f"declared ports are input ports {list(layer.input_names())}",
                            where=where, got=f"got {sorted(unknown)}")
        if layer.declared_port_shapes() != declared:
            layer.declare_port_shapes(declared)
        return layer

    def tensor(self, key: Any, where: str, what: str) -> torch.Tensor:
        if not isinstance(key, str) or not key.startswith(self.prefix) or key not in self.tensors:
            raise self.fail(f"{what} is stored in the file", where=where,
                            got=f"got a missing array {_short(key)}",
                            fix="the file is corrupted or truncated")
        if key in self.used_keys:
            raise self.fail(f"{what} has its own stored tensor", where=where,
                            got=f"got {key[:80]!r} used twice")
        self.used_keys.add(key)
        return self.tensors[key]

    def restore_arrays(self, layer: Layer, node: dict[str, Any], where: str,
                       guard: _AllocationGuard) -> None:
        """Read the node's array and buffer records into a LayerState and load it."""
        records = node["arrays"]
        names = list(layer.array_names)
        if set(records) != set(names):
            missing = sorted(set(names) - set(records))
            extra = sorted(set(records) - set(names))
            raise self.fail(f"the layer's arrays are {names}", where=where,
                            got=(f"got missing arrays {missing}" if missing else "")
                            + ("; " if missing and extra else "")
                            + (f"got extra arrays {extra}" if extra else ""))
        arrays = {}
        for name in names:
            at = f'{where}, array "{name}"'
            rec = records[name]
            if not isinstance(rec, dict) or rec.get("state") not in ARRAY_STATES:
                raise self.fail('an array record has "state": "absent", "uninitialized" or "set"',
                                where=at, got=f"got {_short(rec)}")
            state = rec["state"]
            if state == "absent":
                _keys(rec, {"state"}, set(), at)
                arrays[name] = ArrayState("absent")
                continue
            shared = rec.get("shared")
            if shared is not None and (not isinstance(shared, str) or not shared):
                raise self.fail("a shared array's name is a non-empty string", where=at,
                                got=f"got {_short(shared)}")
            if state == "uninitialized":
                _keys(rec, {"state", "shape", "dtype", "requires_grad"}, {"shared"}, at)
                shape = _shape(rec["shape"], at, "the shape")
                dtype = self.float_dtype(rec["dtype"], at)
                value = None
                guard.charge(math.prod(shape))
            else:
                _keys(rec, {"state", "key", "requires_grad"}, {"shared"}, at)
                if shared is not None and self.shared_keys.get(shared) == rec["key"]:
                    value = self.tensors[rec["key"]]  # a later use of a shared array
                else:
                    value = self.tensor(rec["key"], at, f'array "{name}"')
                    if shared is not None:
                        self.shared_keys[shared] = rec["key"]
                shape = tuple(value.shape)
                dtype = self.float_dtype(_DTYPE_NAMES[value.dtype], at)
            if not isinstance(rec["requires_grad"], bool):
                raise self.fail('"requires_grad" is true or false', where=at,
                                got=f"got {_short(rec['requires_grad'])}")
            arrays[name] = ArrayState(state, shape, dtype, rec["requires_grad"], value)
        buffers = node.get("buffers", {})
        if not isinstance(buffers, dict):
            raise self.fail("a layer's buffers are an object of names to stored tensors",
                            where=where, got=f"got {_short(buffers)}")
        values = {name: self.tensor(key, f'{where}, buffer "{_short(name)}"',
                                    f'buffer "{_short(name)}"') for name, key in buffers.items()}
        try:
            layer.load_state(LayerState(arrays, values))
            for name in names:  # tie the uses of shared arrays again
                shared = records[name].get("shared")
                if shared is not None:
                    handle = self.shared.setdefault(shared, NetSharedArray(shared))
                    layer.set_array(name, handle)
        except NetgradError as e:
            raise self.fail(e.rule, where=f"{where}: {e.where}" if e.where else where, got=e.got,
                            fix="the file is corrupted or was not written by netgrad") from None

    def float_dtype(self, name: Any, where: str) -> torch.dtype:
        if name not in _FLOAT_DTYPES:
            raise self.fail(f"arrays are floating point, one of {list(_FLOAT_DTYPES)}",
                            where=where, got=f"got {_short(name)}")
        return DTYPES[name]


def _is_edge(e: Any) -> bool:
    return (isinstance(e, list) and len(e) == 2 and all(
        isinstance(end, list) and len(end) == 2 and (end[0] is None or isinstance(end[0], str))
        and isinstance(end[1], str) for end in e))


def net_from_bundle(meta: Any, tensors: Mapping[str, torch.Tensor], *, prefix: str = "",
                    limits: Limits = DEFAULT_LIMITS) -> NetModule:
    """Rebuild a net from :func:`net_to_bundle`'s ``(meta, tensors)``.

    Args:
        meta: the net's JSON data (e.g. ``read_bundle(path)[0]["net"]``).
        tensors: the bundle's tensors; every tensor whose key starts with ``prefix`` must
            belong to the net (others are ignored).
        prefix: the prefix given to :func:`net_to_bundle`.
        limits: see :class:`netgrad.io.Limits` (``max_elements`` bounds the arrays built).

    Raises:
        LoadError: anything unexpected (unknown layer type or operation, wrong or missing or
            extra arrays, wrong dtypes, shapes that do not fit, too many elements, ...).
    """
    if not isinstance(prefix, str):
        raise NetTypeError("prefix is a string", where="net_from_bundle",
                           got=f"got {type(prefix).__name__}")
    return _Loader(meta, tensors, prefix, limits).run()


def load(path: PathLike, *, limits: Limits = DEFAULT_LIMITS) -> NetModule:
    """Load a net saved by :func:`save` (or from a checkpoint that holds one).

    Nothing in the file is executed. Raises :class:`netgrad.LoadError` on any problem with the
    file (and :class:`FileNotFoundError` when there is none).
    """
    path = checked_path(path, "load", write=False)
    meta, tensors = read_bundle(path, limits=limits)
    shown = os.path.basename(os.fspath(path))
    if "net" not in meta:
        raise LoadError("the file holds a net (a \"net\" entry in its metadata)",
                        where=f"netgrad file {shown!r}", got=f"got entries {sorted(meta)[:10]}",
                        fix="read it with netgrad.io.read_bundle")
    prefix = meta.get("net_prefix", "")
    if not isinstance(prefix, str):
        raise LoadError("net_prefix is a string", where=f"netgrad file {shown!r}",
                        got=f"got {_short(prefix)}")
    try:
        return net_from_bundle(meta["net"], tensors, prefix=prefix, limits=limits)
    except LoadError as e:
        raise e.located(f"netgrad file {shown!r}") from None
