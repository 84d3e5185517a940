"""User functions saved as data: a traced graph of allow-listed operations, stored as JSON.

Saving traces a Python function of tensors with :mod:`torch.fx` (symbolic tracing: the function
runs once on proxy tensors and every operation it applies is recorded). Every recorded operation
must be on the allow-list below; anything else (a torch function not listed, ``math.sqrt``, a
captured ``nn.Module``, Python control flow on tensor values) is refused at save time with the
operation named. Calls to :mod:`netgrad.ops` are recorded as such (not traced into).

Loading rebuilds a :class:`TracedFunction` that interprets the graph, looking every operation up
in the same allow-list by name. It calls exactly the callables the original function called, and
the layer runs it under :func:`netgrad.ops.robust` as it ran the original, so values and
gradients are identical.

The JSON form::

    {"name": "<lambda>", "arity": 2,
     "nodes": [{"op": "input"}, {"op": "input"},
               {"op": "operator.sub", "args": [{"node": 0}, {"node": 1}], "kwargs": {}},
               {"op": "constant", "value": {"tensor": [1.0, 2.0], "dtype": "float32"}}],
     "output": {"node": 2}}

Arguments are JSON numbers, booleans, null, strings, lists, ``{"node": i}`` (the value of an
earlier node), ``{"tuple": [...]}``, ``{"slice": [start, stop, step]}``, ``{"ellipsis": true}``
and ``{"dtype": "float32"}``.
"""

from __future__ import annotations

import functools
import inspect
import math
import operator
from collections.abc import Callable
from typing import Any

import torch
import torch.fx as fx

from .. import ops
from .._errors import LoadError, NetgradError, NetValueError
from ._bundle import DTYPES

__all__ = ["ALLOWED_OPERATIONS", "TracedFunction", "trace_function", "graph_to_data",
           "function_from_data"]

MAX_NODES = 4096
MAX_CONSTANT_ELEMENTS = 2**16
MAX_ARITY = 64

_OPERATOR_NAMES = ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "neg", "pos", "abs",
                   "gt", "ge", "lt", "le", "eq", "ne", "and_", "or_", "xor", "invert", "getitem")
_ELEMENTWISE = ("abs", "sqrt", "rsqrt", "exp", "exp2", "log", "log1p", "expm1", "log2", "log10",
                "tanh", "sigmoid", "sin", "cos", "tan", "atan", "asin", "acos", "sinh", "cosh",
                "asinh", "atanh", "erf", "erfc", "reciprocal", "square", "neg", "sign", "relu",
                "floor", "ceil", "round", "trunc", "frac", "sinc", "isnan", "isinf", "isfinite",
                "logical_not", "logical_and", "logical_or", "logical_xor")
_BINARY = ("add", "sub", "mul", "div", "true_divide", "pow", "atan2", "hypot", "maximum",
           "minimum", "fmax", "fmin", "xlogy", "where", "clamp", "clip", "clamp_min",
           "clamp_max", "remainder", "fmod", "copysign", "lerp")
_REDUCTIONS = ("sum", "mean", "prod", "amax", "amin", "logsumexp", "softmax", "log_softmax",
               "cumsum", "cumprod", "norm", "var", "std")
_LIKE = ("zeros_like", "ones_like")
_FUNCTIONAL = ("relu", "softplus", "softmax", "log_softmax", "gelu", "silu", "elu", "selu",
               "leaky_relu", "hardtanh", "relu6", "logsigmoid", "softsign", "tanhshrink",
               "mish", "celu")


def _build_table() -> tuple[dict[str, Callable[..., Any]], frozenset[str]]:
    table: dict[str, Callable[..., Any]] = {}
    for n in _OPERATOR_NAMES:
        table[f"operator.{n}"] = getattr(operator, n)
    for n in _ELEMENTWISE + _BINARY + _REDUCTIONS + _LIKE:
        if hasattr(torch, n):
            table[f"torch.{n}"] = getattr(torch, n)
    for n in _FUNCTIONAL:
        if hasattr(torch.nn.functional, n):
            table[f"torch.nn.functional.{n}"] = getattr(torch.nn.functional, n)
    methods = frozenset(n for n in _ELEMENTWISE + _BINARY + _REDUCTIONS
                        if callable(getattr(torch.Tensor, n, None)))
    return table, methods


_FUNCTIONS, _METHODS = _build_table()


def _ops_functions() -> dict[str, Callable[..., Any]]:
    """The public robust operations (looked up each time: more land as the library grows)."""
    return {f"netgrad.ops.{n}": getattr(ops, n) for n in ops.__all__
            if n != "robust" and callable(getattr(ops, n, None))}


def allowed_operations() -> dict[str, Callable[..., Any]]:
    """Name → callable of every operation a saved function may use (methods as ``Tensor.<name>``)."""
    out = dict(_FUNCTIONS)
    out.update(_ops_functions())
    out.update({f"Tensor.{n}": getattr(torch.Tensor, n) for n in sorted(_METHODS)})
    return out


#: The names of the allow-listed operations at import time (see :func:`allowed_operations`).
ALLOWED_OPERATIONS: frozenset[str] = frozenset(allowed_operations())


# ---- tracing ------------------------------------------------------------------------------------

def _fixed_arity(fn: Callable[..., Any], n: int) -> Callable[..., Any]:
    """A plain function of exactly ``n`` positional tensors calling ``fn`` (so fx sees n inputs)."""
    # fx makes one placeholder per argument of the root's code object, so the root must
    # have exactly n named arguments (a *args root gives a single tuple placeholder).
    wrappers: dict[int, Callable[..., Any]] = {
        1: lambda x1: fn(x1),
        2: lambda x1, x2: fn(x1, x2),
        3: lambda x1, x2, x3: fn(x1, x2, x3),
        4: lambda x1, x2, x3, x4: fn(x1, x2, x3, x4),
        5: lambda x1, x2, x3, x4, x5: fn(x1, x2, x3, x4, x5),
        6: lambda x1, x2, x3, x4, x5, x6: fn(x1, x2, x3, x4, x5, x6),
        7: lambda x1, x2, x3, x4, x5, x6, x7: fn(x1, x2, x3, x4, x5, x6, x7),
        8: lambda x1, x2, x3, x4, x5, x6, x7, x8: fn(x1, x2, x3, x4, x5, x6, x7, x8),
    }
    if n not in wrappers:
        raise NetValueError(f"functions of at most {len(wrappers)} inputs can be saved",
                            got=f"got a function of {n} inputs",
                            fix="combine the inputs with a CatenateLayer first")
    return wrappers[n]


def _find_proxy(args: Any, kwargs: Any) -> fx.Proxy | None:
    found: list[fx.Proxy] = []

    def visit(a: Any) -> Any:
        if isinstance(a, fx.Proxy) and not found:
            found.append(a)
        return a

    fx.node.map_aggregate(args, visit)
    fx.node.map_aggregate(kwargs, visit)
    return found[0] if found else None


def _as_leaf(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` recorded as one call (not traced into) when it receives a proxy."""

    @functools.wraps(fn)
    def leaf(*args: Any, **kwargs: Any) -> Any:
        proxy = _find_proxy(args, kwargs)
        if proxy is not None:
            return proxy.tracer.create_proxy("call_function", fn, args, kwargs)
        return fn(*args, **kwargs)

    return leaf


class _Patched:
    """Within the block, the robust ops are fx leaves: in ``netgrad.ops`` and in ``globals``."""

    def __init__(self, namespaces: list[dict[str, Any]]) -> None:
        self.namespaces = namespaces
        self.saved: list[tuple[dict[str, Any], str, Any]] = []

    def __enter__(self) -> None:
        by_id = {id(f): f for f in _ops_functions().values()}
        for ns in self.namespaces:
            for name, value in list(ns.items()):
                if id(value) in by_id and by_id[id(value)] is value:
                    self.saved.append((ns, name, value))
                    ns[name] = _as_leaf(value)

    def __exit__(self, *exc: Any) -> None:
        for ns, name, value in reversed(self.saved):
            ns[name] = value


def _op_name(node: fx.Node, by_id: dict[int, str]) -> str:
    if node.op == "call_function":
        name = by_id.get(id(node.target))
        if name is not None:
            return name
        raise _refuse(_describe_target(node.target))
    if node.op == "call_method":
        if node.target in _METHODS:
            return f"Tensor.{node.target}"
        raise _refuse(f"the tensor method .{node.target}()")
    raise _refuse(f"an fx node of kind {node.op!r}")


def _describe_target(target: Any) -> str:
    module = getattr(target, "__module__", None) or ""
    name = str(getattr(target, "__qualname__", None) or getattr(target, "__name__", None)
               or repr(target))
    if module in ("torch._VariableFunctions", "torch._C._VariableFunctions") or \
            name.startswith("_VariableFunctionsClass."):
        return f"torch.{name.split('.')[-1]}"
    if module == "_operator":
        module = "operator"
    return f"{module}.{name}" if module else name


class _Tracer(fx.Tracer):
    """fx's tracer, refusing calls of torch modules (a function is saved as operations only)."""

    def call_module(self, m: torch.nn.Module, forward: Any, args: Any, kwargs: Any) -> Any:
        raise _refuse(f"the torch module {type(m).__name__} (captured nn.Modules cannot be saved; "
                      "call the matching function, e.g. torch.relu)")


class _Refused(Exception):
    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


def _refuse(what: str) -> _Refused:
    return _Refused(what)


def _encode_arg(a: Any, index: dict[fx.Node, int]) -> Any:
    if isinstance(a, fx.Node):
        return {"node": index[a]}
    if a is None or isinstance(a, (bool, int, float, str)):
        return a
    if isinstance(a, tuple):
        return {"tuple": [_encode_arg(x, index) for x in a]}
    if isinstance(a, list):
        return [_encode_arg(x, index) for x in a]
    if isinstance(a, slice):
        return {"slice": [_encode_arg(a.start, index), _encode_arg(a.stop, index),
                          _encode_arg(a.step, index)]}
    if a is Ellipsis:
        return {"ellipsis": True}
    if isinstance(a, torch.dtype) and a in _DTYPE_NAMES:
        return {"dtype": _DTYPE_NAMES[a]}
    raise _refuse(f"a constant of type {type(a).__name__} ({a!r:.60})")


_DTYPE_NAMES = {v: k for k, v in DTYPES.items()}


def _encode_tensor(t: torch.Tensor) -> dict[str, Any]:
    if t.dtype not in _DTYPE_NAMES:
        raise _refuse(f"a captured tensor of dtype {t.dtype}")
    if t.numel() > MAX_CONSTANT_ELEMENTS:
        raise _refuse(f"a captured tensor of {t.numel()} elements (at most "
                      f"{MAX_CONSTANT_ELEMENTS} can be saved in a function)")
    t = t.detach().to("cpu")
    values = t.to(torch.float64).tolist() if t.is_floating_point() else t.tolist()
    return {"tensor": values, "dtype": _DTYPE_NAMES[t.dtype], "shape": list(t.shape)}


def trace_function(fn: Callable[..., Any], arity: int, where: str) -> dict[str, Any]:
    """Trace ``fn`` (a function of ``arity`` tensors) into JSON data, or raise NetValueError.

    Args:
        fn: the user's function; a :class:`TracedFunction` gives back its own data.
        arity: number of tensor inputs.
        where: location for error messages (e.g. ``'"f" (ElementwiseLayer)'``).
    """
    if isinstance(fn, TracedFunction):
        return fn.data
    name = str(getattr(fn, "__name__", type(fn).__name__))[:200]
    namespaces = [vars(ops)]
    fn_globals = getattr(inspect.unwrap(fn), "__globals__", None) if callable(fn) else None
    if isinstance(fn_globals, dict) and fn_globals is not vars(ops):
        namespaces.append(fn_globals)
    try:
        root = _fixed_arity(fn, arity)
        with _Patched(namespaces):
            tracer = _Tracer()
            graph = tracer.trace(root)
    except _Refused as e:
        raise _refused_error(e, name, where) from None
    except NetValueError:
        raise
    except Exception as e:  # noqa: BLE001 - fx TraceError, NameError, TypeError from user code
        raise NetValueError("a saved function must be traceable: a fixed sequence of tensor "
                            "operations (no Python control flow on tensor values)", where=where,
                            got=f"tracing function {name} failed: {type(e).__name__}: {e}",
                            fix="use torch.where / netgrad.ops.where instead of if/else on values"
                            ) from None
    return _encode_graph(graph, tracer.root, name, arity, where)


def graph_to_data(module: fx.GraphModule, arity: int, where: str) -> dict[str, Any]:
    """A torch.fx graph (a CompiledLayer's) as the same JSON data, without tracing it again."""
    placeholders = [n for n in module.graph.nodes if n.op == "placeholder"]
    if len(placeholders) != arity:
        raise NetValueError(f"the graph has {arity} inputs (placeholders)", where=where,
                            got=f"got {len(placeholders)}")
    return _encode_graph(module.graph, module, "graph", arity, where)


def _refused_error(e: _Refused, name: str, where: str) -> NetValueError:
    return NetValueError("a saved function may only use the operations netgrad can rebuild "
                         "(netgrad.ops, listed torch functions, operators)", where=where,
                         got=f"function {name} uses {e.what}",
                         fix="write it with netgrad.ops or torch operations from "
                             "netgrad.io.ALLOWED_OPERATIONS")


def _encode_graph(graph: fx.Graph, root: Any, name: str, arity: int,
                  where: str) -> dict[str, Any]:
    try:
        by_id = {id(f): n for n, f in allowed_operations().items() if not n.startswith("Tensor.")}
        index: dict[fx.Node, int] = {}
        nodes: list[dict[str, Any]] = []
        output: Any = None
        for node in graph.nodes:
            if node.op == "placeholder":
                entry: dict[str, Any] = {"op": "input"}
            elif node.op == "get_attr":
                value = getattr(root, node.target)
                if not isinstance(value, torch.Tensor):
                    raise _refuse(f"a captured {type(value).__name__}")
                entry = {"op": "constant", "value": _encode_tensor(value)}
            elif node.op == "output":
                output = _encode_arg(node.args[0], index)
                continue
            else:
                entry = {"op": _op_name(node, by_id),
                         "args": [_encode_arg(a, index) for a in node.args],
                         "kwargs": {k: _encode_arg(v, index) for k, v in node.kwargs.items()}}
            index[node] = len(nodes)
            nodes.append(entry)
    except _Refused as e:
        raise _refused_error(e, name, where) from None
    if len(nodes) > MAX_NODES:
        raise NetValueError(f"a saved function has at most {MAX_NODES} operations", where=where,
                            got=f"got {len(nodes)}")
    return {"name": name, "arity": arity, "nodes": nodes, "output": output}


# ---- rebuilding ---------------------------------------------------------------------------------

class _Ref:
    __slots__ = ("i",)

    def __init__(self, i: int) -> None:
        self.i = i


def _materialize(a: Any, env: list[Any]) -> Any:
    if isinstance(a, _Ref):
        return env[a.i]
    if isinstance(a, tuple):
        return tuple(_materialize(x, env) for x in a)
    if isinstance(a, list):
        return [_materialize(x, env) for x in a]
    if isinstance(a, slice):
        return slice(_materialize(a.start, env), _materialize(a.stop, env),
                     _materialize(a.step, env))
    if isinstance(a, dict):
        return {k: _materialize(v, env) for k, v in a.items()}
    return a


class TracedFunction:
    """A function rebuilt from saved data; calling it runs the recorded operations in order.

    It behaves as the original: ElementwiseLayer and ThreadingLayer run it under
    :func:`netgrad.ops.robust`, as they ran the original.
    """

    def __init__(self, data: dict[str, Any], steps: list[tuple[Any, ...]], output: Any) -> None:
        self.data = data
        self.__name__ = data["name"]
        self.__qualname__ = data["name"]
        self._steps = steps
        self._output = output
        self.__signature__ = inspect.Signature(
            [inspect.Parameter(f"x{i + 1}", inspect.Parameter.POSITIONAL_ONLY)
             for i in range(data["arity"])])

    def __call__(self, *xs: Any) -> Any:
        if len(xs) != self.data["arity"]:
            raise NetValueError(f"function {self.__name__} takes {self.data['arity']} inputs",
                                got=f"got {len(xs)}")
        env: list[Any] = []
        inputs = iter(xs)
        for i, (kind, fn, args, kwargs) in enumerate(self._steps):
            if kind == "input":
                env.append(next(inputs))
            elif kind == "constant":
                env.append(fn)
            else:
                try:
                    env.append(fn(*_materialize(args, env), **_materialize(kwargs, env)))
                except NetgradError:
                    raise
                except (TypeError, ValueError, RuntimeError, IndexError) as e:
                    op = self.data["nodes"][i]["op"]
                    raise NetValueError(f"operation {i} ({op}) of the saved function failed",
                                        where=f"function {self.__name__}",
                                        got=f"got {type(e).__name__}: {e}",
                                        fix="check the inputs' shapes; if they fit, the file "
                                            "that held this function is damaged") from None
        return _materialize(self._output, env)

    def __repr__(self) -> str:
        return f"TracedFunction({self.__name__}, {len(self._steps)} steps)"


def _bad(where: str, rule: str, got: Any) -> LoadError:
    text = repr(got)
    return LoadError(rule, where=where, got=f"got {text if len(text) < 80 else text[:77] + '...'}")


def _decode_arg(a: Any, n_done: int, where: str) -> tuple[Any, bool]:
    """JSON argument → Python value (``_Ref`` for node values); second: whether it uses a node."""
    if a is None or isinstance(a, (bool, str)):
        return a, False
    if isinstance(a, int):
        if not -2**63 <= a < 2**63:
            raise _bad(where, "integer constants fit in 64 bits", a)
        return a, False
    if isinstance(a, float):
        return a, False
    if isinstance(a, list):
        items = [_decode_arg(x, n_done, where) for x in a]
        return [v for v, _ in items], any(u for _, u in items)
    if isinstance(a, dict) and len(a) == 1:
        (key, value), = a.items()
        if key == "node":
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < n_done:
                raise _bad(where, f"a node reference names an earlier node (0 to {n_done - 1})",
                           value)
            return _Ref(value), True
        if key == "tuple" and isinstance(value, list):
            items = [_decode_arg(x, n_done, where) for x in value]
            return tuple(v for v, _ in items), any(u for _, u in items)
        if key == "slice" and isinstance(value, list) and len(value) == 3:
            items = [_decode_arg(x, n_done, where) for x in value]
            if any(not (v is None or isinstance(v, (int, _Ref))) or isinstance(v, bool)
                   for v, _ in items):
                raise _bad(where, "slice bounds are ints or null", value)
            return slice(*(v for v, _ in items)), any(u for _, u in items)
        if key == "ellipsis" and value is True:
            return Ellipsis, False
        if key == "dtype" and value in DTYPES:
            return DTYPES[value], False
    raise _bad(where, "a function argument is a number, boolean, null, string, list, or one "
               'of {"node"}, {"tuple"}, {"slice"}, {"ellipsis"}, {"dtype"}', a)


def _decode_constant(value: Any, where: str) -> torch.Tensor:
    if not isinstance(value, dict) or set(value) != {"tensor", "dtype", "shape"} or \
            value["dtype"] not in DTYPES or not isinstance(value["shape"], list):
        raise _bad(where, 'a constant is {"tensor", "dtype", "shape"}', value)
    shape = value["shape"]
    if len(shape) > 16 or not all(isinstance(d, int) and not isinstance(d, bool) and
                                  0 <= d <= MAX_CONSTANT_ELEMENTS for d in shape) or \
            math.prod(shape) > MAX_CONSTANT_ELEMENTS:
        raise _bad(where, f"a constant has at most {MAX_CONSTANT_ELEMENTS} elements", shape)
    try:
        t = torch.tensor(value["tensor"], dtype=torch.float64 if DTYPES[value["dtype"]]
                         .is_floating_point else DTYPES[value["dtype"]])
    except (TypeError, ValueError, RuntimeError, OverflowError) as e:
        raise _bad(where, "a constant's values are a nested list of numbers", str(e)) from None
    if list(t.shape) != shape:
        raise _bad(where, f"a constant's values have its shape {shape}", list(t.shape))
    return t.to(DTYPES[value["dtype"]])


def function_from_data(data: Any, arity: int, where: str) -> TracedFunction:
    """Rebuild a saved function, validating every node; :class:`LoadError` on anything unknown."""
    if not isinstance(data, dict) or set(data) != {"name", "arity", "nodes", "output"}:
        raise _bad(where, 'a saved function is {"name", "arity", "nodes", "output"}',
                   sorted(data) if isinstance(data, dict) else data)
    name, nodes = data["name"], data["nodes"]
    if not isinstance(name, str) or len(name) > 200:
        raise _bad(where, "a function name is a string of at most 200 characters", name)
    if data["arity"] != arity or isinstance(data["arity"], bool):
        raise _bad(where, f"the function takes {arity} inputs, as the layer does", data["arity"])
    if not isinstance(nodes, list) or len(nodes) > MAX_NODES:
        raise _bad(where, f"a function's nodes are a list of at most {MAX_NODES}",
                   type(nodes).__name__ if not isinstance(nodes, list) else len(nodes))
    table = allowed_operations()
    steps: list[tuple[Any, ...]] = []
    inputs = 0
    for i, node in enumerate(nodes):
        at = f"{where}, function {name}, node {i}"
        if not isinstance(node, dict) or not isinstance(node.get("op"), str):
            raise _bad(at, 'a node is an object with an "op"', node)
        op = node["op"]
        if op == "input":
            if set(node) != {"op"} or i != inputs:
                raise _bad(at, "inputs come first and have no arguments", node)
            inputs += 1
            steps.append(("input", None, None, None))
            continue
        if op == "constant":
            if set(node) != {"op", "value"}:
                raise _bad(at, 'a constant node is {"op", "value"}', sorted(node))
            steps.append(("constant", _decode_constant(node["value"], at), None, None))
            continue
        if op not in table:
            close = sorted(n for n in table if n.rsplit(".", 1)[-1] == op.rsplit(".", 1)[-1])
            raise LoadError("a saved function may only use allow-listed operations", where=at,
                            got=f"got the operation {op[:100]!r}",
                            fix=f"did you mean {close[0]!r}?" if close else
                            "the file was not written by netgrad, or by a newer netgrad")
        if set(node) != {"op", "args", "kwargs"} or not isinstance(node["args"], list) or \
                not isinstance(node["kwargs"], dict):
            raise _bad(at, 'an operation node is {"op", "args", "kwargs"}', sorted(node))
        args, used = _decode_arg(node["args"], i, at)
        kwargs = {}
        for k, v in node["kwargs"].items():
            kwargs[k], u = _decode_arg(v, i, at)
            used = used or u
        if not used:
            raise _bad(at, "every operation uses the value of an earlier node", node)
        steps.append(("call", table[op], tuple(args), kwargs))
    if inputs != arity:
        raise _bad(where, f"a function of {arity} inputs has {arity} input nodes", inputs)
    output, _ = _decode_arg(data["output"], len(nodes), f"{where}, function {name}, output")
    return TracedFunction(data, steps, output)
