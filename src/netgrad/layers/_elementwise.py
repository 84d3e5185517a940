"""ElementwiseLayer and ThreadingLayer: a function applied element by element.

Named functions map to robust operations in :mod:`netgrad.ops`. A Python function is run under
:func:`netgrad.ops.robust`, so plain torch code inside it (``torch.where``, ``torch.sqrt``,
operators) keeps the gradient contract.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, Union

import torch

from .. import ops
from ..ops import _limits
from .._errors import NetTypeError, NetValueError, ShapeError, did_you_mean
from .._shapes import MaybeShape, ShapeLike, broadcast_shapes, describe_shape
from ._activations import ACTIVATIONS
from ._base import Layer, register_layer

__all__ = ["ElementwiseLayer", "ThreadingLayer", "UNARY_FUNCTIONS", "THREADING_FUNCTIONS"]

#: Wolfram names of ElementwiseLayer functions → name of the robust op in :mod:`netgrad.ops`.
UNARY_FUNCTIONS: dict[str, str] = {
    "Ramp": "ramp", "Tanh": "tanh", "LogisticSigmoid": "logistic_sigmoid", "Exp": "exp",
    "Log": "log", "Sqrt": "sqrt", "Abs": "abs", "Sin": "sin", "Cos": "cos",
    "Softplus": "softplus", "Sign": "sign", "Log1p": "log1p", "Expm1": "expm1",
}

#: Wolfram names of ThreadingLayer functions → name of the robust op in :mod:`netgrad.ops`.
THREADING_FUNCTIONS: dict[str, str] = {
    "Plus": "add", "Times": "mul", "Subtract": "sub", "Divide": "div", "Power": "pow",
    "Max": "maximum", "Min": "minimum", "ArcTan": "atan2", "Hypot": "hypot",
}

Function = Union[str, Callable[..., torch.Tensor]]

# Other libraries' names for the same functions (for "did you mean").
_ALIASES = {"relu": "Ramp", "sigmoid": "LogisticSigmoid", "add": "Plus", "sum": "Plus",
            "mul": "Times", "multiply": "Times", "sub": "Subtract", "div": "Divide",
            "pow": "Power", "maximum": "Max", "minimum": "Min", "atan2": "ArcTan"}


def _resolve(function: Function, table: dict[str, str], layer: str) -> Callable[..., torch.Tensor]:
    if isinstance(function, str):
        if table is UNARY_FUNCTIONS and function in ACTIVATIONS:
            return ACTIVATIONS[function]
        if function not in table:
            known = sorted(table) + (sorted(ACTIVATIONS) if table is UNARY_FUNCTIONS else [])
            fix = did_you_mean(function, known, aliases=_ALIASES)
            raise NetValueError(f"{layer} knows the functions {known}",
                                where=layer, got=f"got {function!r}",
                                fix=fix if fix.startswith("did") else
                                "use one of those names, or pass any Python function of torch "
                                "tensors")
        return getattr(ops, table[function])
    if not callable(function):
        raise NetTypeError(f"{layer} takes a function name or a Python function",
                           where=layer, got=f"got {type(function).__name__} {function!r}",
                           fix=f'e.g. {layer}("{next(iter(table))}") or '
                               f"{layer}(lambda x{', y' if layer == 'ThreadingLayer' else ''}: ...)")
    return function


def _call_robustly(fn: Callable[..., torch.Tensor], *xs: torch.Tensor) -> torch.Tensor:
    """``fn(*xs)`` under robust(), removable singularities resolved by series (the entry point
    for every layer that runs a user's function)."""
    with ops.robust():
        y = _limits.call(fn, *xs)
    if not isinstance(y, (torch.Tensor, tuple, list, dict)):  # (several outputs: FunctionLayer)
        y = torch.as_tensor(y, dtype=xs[0].dtype, device=xs[0].device)
    return y


@register_layer
class ElementwiseLayer(Layer):
    """Applies a function to every element.

    Args:
        function: a name (``"Ramp"``, ``"Tanh"``, ``"LogisticSigmoid"``, ``"Exp"``, ``"Log"``,
            ``"Sqrt"``, ``"Abs"``, ``"Sin"``, ``"Cos"``, ``"Softplus"``, ...; see
            :data:`UNARY_FUNCTIONS`) or a Python function of one tensor, which runs under
            :func:`netgrad.ops.robust`.
        input: shape of the input (optional).

    Shape:
        - Input: any shape ``(*s)``, also a sequence ``(Varying, *s)``; Output: the same shape.
    """

    sequence_support = "positions"

    def __init__(self, function: Function, *, input: ShapeLike = None) -> None:
        super().__init__()
        self.function = function
        self._fn = _resolve(function, UNARY_FUNCTIONS, "ElementwiseLayer")
        self._setup(Input=input)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if isinstance(self.function, str):
            return self._fn(x)
        y = _call_robustly(self._fn, x)
        if y.shape != x.shape:
            if y.dim() != 0:
                raise ShapeError("an ElementwiseLayer function must return an array of its "
                                 "input's shape", where="ElementwiseLayer",
                                 got=f"got {tuple(y.shape)} from input {tuple(x.shape)}",
                                 fix="use a ThreadingLayer or a NetGraph for other shapes")
            y = y.expand_as(x)
        return y

    def get_config(self) -> dict[str, Any]:
        return self._with_input({"function": self.function})

    def config_text(self) -> str:
        f = self.function if isinstance(self.function, str) else \
            getattr(self.function, "__name__", "function")
        return f"ElementwiseLayer({f})"


def _arity(fn: Callable[..., Any]) -> int:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 2
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                  and p.default is p.empty]
    return max(len(positional), 1)


@register_layer
class ThreadingLayer(Layer):
    """Applies a function of several arrays element by element, broadcasting.

    Args:
        function: a name (``"Plus"``, ``"Times"``, ``"Subtract"``, ``"Divide"``, ``"Power"``,
            ``"Max"``, ``"Min"``; see :data:`THREADING_FUNCTIONS`) or a Python function of
            ``n`` tensors, which runs under :func:`netgrad.ops.robust`.
        n: number of inputs (default: 2 for names, the function's arity otherwise; in a
            NetGraph, the number of sources connected).

    Shape:
        - Input1 … Inputn: shapes that broadcast NumPy-style (aligned at the last dimension).
        - Output: the broadcast shape.
    """

    variadic = True
    sequence_support = "positions"  # sequences of equal lengths, or a sequence and fixed arrays

    def __init__(self, function: Function, n: int | None = None) -> None:
        super().__init__()
        self.function = function
        self._fn = _resolve(function, THREADING_FUNCTIONS, "ThreadingLayer")
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
            raise NetValueError("ThreadingLayer takes at least 1 input", where="ThreadingLayer",
                                got=f"got n={n!r}", fix="e.g. ThreadingLayer(\"Plus\", n=3)")
        self._arity = n if n is not None else (2 if isinstance(function, str) else _arity(function))
        self._setup()

    def infer_outputs(self, shapes: dict[str, MaybeShape]) -> dict[str, MaybeShape]:
        known = [s for s in shapes.values() if s is not None]
        if len(known) < len(shapes):
            return {"Output": None}
        try:
            out = broadcast_shapes(*known)
        except RuntimeError:
            raise ShapeError("inputs must broadcast against each other (aligned at the last "
                             "dimension)", where="ThreadingLayer",
                             got="got " + ", ".join(f"{k} {describe_shape(v)}"
                                                    for k, v in shapes.items()),
                             fix="make each dimension equal or 1, e.g. a ReshapeLayer before "
                                 "one input") from None
        return {"Output": out}

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        rank = max(x.dim() for x in xs)
        xs = tuple(x if x.dim() == rank else
                   x.reshape(x.shape[0], *([1] * (rank - x.dim())), *x.shape[1:]) for x in xs)
        if isinstance(self.function, str):
            return self._fn(*xs)
        y = _call_robustly(self._fn, *xs)
        want = torch.broadcast_shapes(*(x.shape for x in xs))
        if y.shape != want:
            if y.dim() != 0:
                raise ShapeError("a ThreadingLayer function must return an array of its inputs' "
                                 "broadcast shape", where="ThreadingLayer",
                                 got=f"got {tuple(y.shape)} from inputs "
                                     f"{', '.join(str(tuple(x.shape)) for x in xs)}",
                                 fix="keep the function element by element (no sums or "
                                     "reshapes); use AggregationLayer or a NetGraph for those")
            y = y.expand(want)
        return y

    def get_config(self) -> dict[str, Any]:
        return {"function": self.function, "n": self._arity}

    def config_text(self) -> str:
        f = self.function if isinstance(self.function, str) else \
            getattr(self.function, "__name__", "function")
        return f"ThreadingLayer({f}, n={self._arity})"
