"""Layers defined by code: FunctionLayer (a Python function of named ports), CompiledLayer (a
function given as a torch.fx graph) and PlaceholderLayer (ports without an operation yet).

FunctionLayer and CompiledLayer run their function under :func:`netgrad.ops.robust`, so plain
torch code keeps the gradient contract, and are saved as data (the graph of allow-listed
operations, never code), as ElementwiseLayer's functions are. Output shapes are found by running
the function once on meta tensors (no memory, no values); a function that cannot run on meta
tensors runs once on a small batch of zeros instead.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
import torch.fx as fx

from .._errors import NetKeyError, NetTypeError, NetValueError, ShapeError
from .._shapes import MaybeShape, ShapeLike, as_shape, describe_shape
from ._base import Layer, register_layer
from ._elementwise import _call_robustly

__all__ = ["FunctionLayer", "CompiledLayer", "PlaceholderLayer", "infer_by_running"]

_ZEROS_LIMIT = 1 << 16  # elements of the zeros a function may be run on to find its shapes


def infer_by_running(fn: Callable[..., Any], shapes: Sequence[MaybeShape],
                     dtypes: Sequence[torch.dtype], where: str) -> Any:
    """Run ``fn`` on a batch of one example of each shape: meta tensors first, small zeros if
    the function reads values. Returns what ``fn`` returns (tensors with a batch dimension of
    1), or None when a shape is unknown or the zeros would be too big."""
    known = [tuple(s) for s in shapes if s is not None]
    if len(known) < len(shapes):
        return None
    try:
        with torch.no_grad():
            return fn(*(torch.empty((1, *s), dtype=d, device="meta")
                        for s, d in zip(known, dtypes)))
    except Exception:  # noqa: BLE001 - a data-dependent function: fall back to values
        pass
    if sum(math.prod(s) for s in known) > _ZEROS_LIMIT:
        return None
    try:
        with torch.no_grad():
            return fn(*(torch.zeros((1, *s), dtype=d) for s, d in zip(known, dtypes)))
    except Exception as e:  # noqa: BLE001 - the user's code: report it as a shape problem
        raise ShapeError("the function must run on inputs of the ports' shapes", where=where,
                         got=f"got {type(e).__name__}: {e}"[:300],
                         fix="check the function against the declared input shapes") from None


def _port_names(fn: Callable[..., Any], where: str) -> tuple[str, ...]:
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        raise NetTypeError("the function's parameters name its input ports", where=where,
                           got="got a function without a signature",
                           fix="pass inputs=[...] to name the ports") from None
    names = []
    for p in params:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise NetTypeError("the function's parameters name its input ports", where=where,
                               got=f"got *{p.name}", fix="pass inputs=[...] to name the ports")
        if p.default is p.empty:
            names.append(p.name)
    if not names:
        raise NetValueError("the function takes at least one input", where=where,
                            got="got a function of no required arguments",
                            fix="use a ConstantArrayLayer for a constant")
    return tuple("Input" if len(names) == 1 and n in ("x", "input", "Input") else n
                 for n in names)


class _CodeLayer(Layer):
    """Ports named by the user, a function run under robust(), shapes found by running it."""

    function: Any

    def _init_ports(self, inputs: Sequence[str], outputs: Sequence[str] | None,
                    shapes: Mapping[str, ShapeLike]) -> None:
        kind = type(self).__name__
        self.input_ports = tuple(inputs)  # type: ignore[misc]
        self.output_ports = tuple(outputs) if outputs is not None else ("Output",)  # type: ignore[misc]
        self.multiple = outputs is not None
        for ports, what in ((self.input_ports, "input"), (self.output_ports, "output")):
            if len(set(ports)) != len(ports) or not all(isinstance(p, str) and p for p in ports):
                raise NetValueError(f"{what} port names are distinct non-empty strings",
                                    where=kind, got=f"got {list(ports)}")
        if "input" in shapes and "input" not in self.input_ports and "Input" in self.input_ports:
            shapes = {("Input" if p == "input" else p): s for p, s in shapes.items()}
        unknown = [p for p in shapes if p not in self.input_ports]
        if unknown:
            raise NetKeyError(f"{kind} has no input port {unknown[0]!r}", where=kind,
                              got=f"got a shape for {unknown[0]!r}",
                              fix=f"its input ports are {list(self.input_ports)}")
        self._setup(**shapes)

    def _results(self, out: Any, where: str) -> dict[str, torch.Tensor]:
        if isinstance(out, Mapping):
            if set(out) != set(self.output_ports):
                raise NetValueError(f"the function returns the output ports "
                                    f"{list(self.output_ports)}", where=where,
                                    got=f"got {sorted(out)}",
                                    fix="return a dict with exactly these keys, or declare "
                                        "outputs=[...]")
            return {p: out[p] for p in self.output_ports}
        if isinstance(out, (tuple, list)):
            if len(out) != len(self.output_ports):
                raise NetValueError(f"the function returns {len(self.output_ports)} outputs",
                                    where=where, got=f"got {len(out)}",
                                    fix="declare outputs=[...] with one name per result")
            return dict(zip(self.output_ports, out))
        if self.multiple and len(self.output_ports) > 1:
            raise NetValueError(f"the function returns the output ports "
                                f"{list(self.output_ports)}", where=where,
                                got="got one tensor", fix="return a dict of tensors")
        return {self.output_ports[0]: out}

    def _dtypes(self) -> list[torch.dtype]:
        return [torch.long if p in self.integer_input_ports else torch.get_default_dtype()
                for p in self.input_ports]

    def infer_outputs(self, shapes: dict[str, MaybeShape]) -> dict[str, MaybeShape]:
        kind = type(self).__name__
        out = infer_by_running(lambda *xs: self._run(*xs), [shapes[p] for p in self.input_ports],
                               self._dtypes(), kind)
        if out is None:
            return dict.fromkeys(self.output_ports)
        res = self._results(out, kind)
        for p, t in res.items():
            if not isinstance(t, torch.Tensor) or t.dim() == 0 or t.shape[0] != 1:
                what = describe_shape(tuple(t.shape)) if isinstance(t, torch.Tensor) \
                    else type(t).__name__
                raise ShapeError("the function keeps the batch dimension: one result per "
                                 "example", where=f'{kind}, port "{p}"',
                                 got=f"got {what} for a batch of one",
                                 fix="reduce over the example's dimensions (dim=-1, or "
                                     "dim=tuple(range(1, x.dim()))), not over the batch")
        return {p: tuple(t.shape[1:]) for p, t in res.items()}

    def _run(self, *xs: torch.Tensor) -> Any:
        return _call_robustly(self.function, *xs)

    def forward(self, *xs: torch.Tensor) -> Any:
        res = self._results(self._run(*xs), type(self).__name__)
        return res[self.output_ports[0]] if len(res) == 1 else res

    def _port_config(self, cfg: dict[str, Any]) -> dict[str, Any]:
        cfg["inputs"] = list(self.input_ports)
        if self.multiple:
            cfg["outputs"] = list(self.output_ports)
        shapes = {p: list(s) for p, s in self._declared.items() if s is not None}
        if shapes:
            cfg["shapes"] = shapes
        return cfg

    #: the config key that holds the function (saved as data by netgrad.save)
    function_key = "function"

    def function_to_save(self) -> tuple[str, Any, int]:
        """``(config key, function, number of inputs)`` for ``netgrad.save``: the function
        returns its outputs as a tuple in port order (a dict would not survive as data)."""
        user = self.function
        ports = self.output_ports
        if not self.multiple or getattr(user, "data", None) is not None:
            return self.function_key, user, len(self.input_ports)

        @functools.wraps(user)
        def as_tuple(*xs: Any) -> Any:
            out = user(*xs)
            return tuple(out[p] for p in ports) if isinstance(out, Mapping) else tuple(out)
        return self.function_key, as_tuple, len(self.input_ports)

    @classmethod
    def function_arity_from_config(cls, config: Mapping[str, Any]) -> int | None:
        """The number of inputs of a saved function, read from a config (for loading)."""
        inputs = config.get("inputs")
        return len(inputs) if isinstance(inputs, list) else None

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Layer:
        cfg = dict(config)
        shapes = cfg.pop("shapes", {}) or {}
        return cls(**cfg, **shapes)


@register_layer
class FunctionLayer(_CodeLayer):
    """A layer from a Python function of named ports (Wolfram's FunctionLayer).

    The function's parameters name the input ports (``FunctionLayer(lambda a, b: a * b)`` has
    ports "a" and "b"; one parameter named ``x``/``input`` is port "Input"); it gets batched
    tensors and runs under :func:`netgrad.ops.robust` (so ``torch.sqrt``, ``torch.where``,
    ``torch.linalg.vector_norm``... keep the gradient contract). It returns a tensor (port
    "Output"), or a dict or tuple of tensors for the ports named by ``outputs``.

    Args:
        function: the function of batched tensors (keep the batch dimension 0).
        inputs: port names instead of the parameters' names (in order).
        outputs: output port names, for a function returning several tensors.
        **shapes: per-example shapes of input ports, e.g. ``a=3, b=(2, 3)``.

    Saved as data: the function must be a fixed sequence of allow-listed operations (see
    :data:`netgrad.io.ALLOWED_OPERATIONS`); one that is not is refused by ``netgrad.save``,
    naming the operation.

    Shape:
        - Inputs: as declared or inferred; Outputs: found by running the function on meta
          tensors.
    """

    def __init__(self, function: Callable[..., Any], *, inputs: Sequence[str] | None = None,
                 outputs: Sequence[str] | None = None, **shapes: ShapeLike) -> None:
        super().__init__()
        if not callable(function):
            raise NetTypeError("FunctionLayer takes a Python function of tensors",
                               where="FunctionLayer", got=f"got {type(function).__name__}",
                               fix="e.g. FunctionLayer(lambda a, b: torch.sqrt(a * a + b * b))")
        self.function = function
        names = tuple(inputs) if inputs is not None else _port_names(function, "FunctionLayer")
        self._init_ports(names, outputs, shapes)

    def get_config(self) -> dict[str, Any]:
        return self._port_config({"function": self.function})

    def config_text(self) -> str:
        name = getattr(self.function, "__name__", "function")
        return f"FunctionLayer({name}, inputs={list(self.input_ports)})"


@register_layer
class CompiledLayer(_CodeLayer):
    """A layer from a function given as a torch.fx graph (``torch.fx.symbolic_trace(f)`` or a
    graph built by hand): the placeholders name the input ports, in order. It runs under
    :func:`netgrad.ops.robust` and is saved as data straight from the graph (no retracing), so
    the graph may use only allow-listed operations.

    Args:
        graph: a ``torch.fx.GraphModule`` (or a ``torch.fx.Graph``, wrapped in one).
        outputs: output port names, for a graph returning several tensors (a tuple or dict).
        **shapes: per-example shapes of input ports.

    Shape:
        - as FunctionLayer.
    """

    def __init__(self, graph: Any, *, inputs: Sequence[str] | None = None,
                 outputs: Sequence[str] | None = None, **shapes: ShapeLike) -> None:
        super().__init__()
        if isinstance(graph, fx.Graph):
            graph = fx.GraphModule(torch.nn.Module(), graph)
        if isinstance(graph, fx.GraphModule):
            names: Sequence[Any] = [n.target for n in graph.graph.nodes if n.op == "placeholder"]
            self.function = _GraphFunction(graph)
        elif callable(graph) and getattr(graph, "data", None) is not None:  # rebuilt from a file
            names = list(inputs or [])
            self.function = graph
        else:
            raise NetTypeError("CompiledLayer takes a torch.fx graph", where="CompiledLayer",
                               got=f"got {type(graph).__name__}",
                               fix="CompiledLayer(torch.fx.symbolic_trace(f)), or "
                                   "FunctionLayer(f) for a Python function")
        names = tuple(inputs) if inputs is not None else tuple(names)
        if not names:
            raise NetValueError("the graph has at least one placeholder (input)",
                                where="CompiledLayer", got="got none")
        self._init_ports(names, outputs, shapes)

    function_key = "graph"

    def function_to_save(self) -> tuple[str, Any, int]:
        return "graph", self.graph_module or self.function, len(self.input_ports)

    @property
    def graph_module(self) -> fx.GraphModule | None:
        """The fx graph this layer runs (None for a layer rebuilt from a file)."""
        return getattr(self.function, "module", None)

    def get_config(self) -> dict[str, Any]:
        return self._port_config({"graph": self.function})

    def config_text(self) -> str:
        return f"CompiledLayer(inputs={list(self.input_ports)})"


class _GraphFunction:
    """Calls a GraphModule's code (not its module call, which fx would record as a module)."""

    def __init__(self, module: fx.GraphModule) -> None:
        self.module = module
        self.__name__ = "graph"
        self.__wrapped__ = module.forward

    def __call__(self, *xs: torch.Tensor) -> Any:
        return self.module.forward(*xs)


@register_layer
class PlaceholderLayer(Layer):
    """Ports without an operation (Wolfram's PlaceholderLayer): a vertex to be replaced later
    (``NetReplacePart``), e.g. while a net is designed or after importing an operation netgrad
    does not have. Shapes flow through it as declared; running it is an error naming it.

    Args:
        name: a name for what is missing (shown in summaries and errors).
        inputs, outputs: port names (default ``["Input"]``, ``["Output"]``).
        output_shapes: per-example shapes of the outputs, ``{port: shape}``.
        **shapes: per-example shapes of the inputs.
    """

    def __init__(self, name: str = "", *, inputs: Sequence[str] = ("Input",),
                 outputs: Sequence[str] = ("Output",),
                 output_shapes: Mapping[str, ShapeLike] | None = None,
                 **shapes: ShapeLike) -> None:
        super().__init__()
        self.name = str(name)
        self.input_ports = tuple(inputs)  # type: ignore[misc]
        self.output_ports = tuple(outputs)  # type: ignore[misc]
        self.output_shapes = {p: as_shape(s) for p, s in (output_shapes or {}).items()}
        unknown = [p for p in self.output_shapes if p not in self.output_ports]
        if unknown:
            raise NetValueError("output_shapes names output ports", where="PlaceholderLayer",
                                got=f"got {unknown[0]!r}", fix=f"use {list(self.output_ports)}")
        self._setup(**shapes)

    def infer_outputs(self, shapes: dict[str, MaybeShape]) -> dict[str, MaybeShape]:
        return {p: self.output_shapes.get(p) for p in self.output_ports}

    def forward(self, *xs: torch.Tensor) -> Any:
        raise NetValueError("a PlaceholderLayer has no operation to run",
                            where=f"PlaceholderLayer {self.name!r}".strip(),
                            got="got a request to evaluate it",
                            fix="replace it first: NetReplacePart(net, {path: layer})")

    def get_config(self) -> dict[str, Any]:
        cfg: dict[str, Any] = {"name": self.name, "inputs": list(self.input_ports),
                               "outputs": list(self.output_ports)}
        if self.output_shapes:
            cfg["output_shapes"] = {p: list(s) for p, s in self.output_shapes.items()
                                    if s is not None}
        cfg.update({p: list(s) for p, s in self._declared.items() if s is not None})
        return cfg

    def config_text(self) -> str:
        return f"PlaceholderLayer({self.name!r})"

