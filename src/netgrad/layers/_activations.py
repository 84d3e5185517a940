"""Wolfram's named activation functions for ElementwiseLayer, and ParametricRampLayer.

Each named function is a composition of robust operations of :mod:`netgrad.ops`, so it keeps
the gradient contract through the operations' own rules: products are strong-zero products
(Swish and Mish at -inf are 0 with gradient 0), the unused branch of a ``where`` gets an exact
zero (ELU, SELU), ``clip`` has gradient 0 at its bounds (HardTanh, HardSigmoid, HardSwish),
and infinite inputs are routed around ``x·Φ(x)`` and ``x/(1 + |x|)`` by a double ``where``
(GELU, Swish, Mish, HardSwish are Ramp at ±inf, SoftSign(±inf) = ±1, Sinc(±inf) = 0, with
gradient 0). ``Erf`` uses ``torch.erf`` (bounded
derivative ``2/√π·exp(-x²)``; netgrad has no robust erf yet).
"""

from __future__ import annotations

import math
from typing import Any, Callable

import torch

from .. import ops
from .._errors import NetValueError
from .._shapes import MaybeShape, ShapeLike, describe_shape
from ._aggregation import Levels, resolve_levels
from ._base import Layer, register_layer
from ._checks import real_number

__all__ = ["ACTIVATIONS", "ParametricRampLayer"]

_SELU_SCALE = 1.0507009873554804934193349852946
_SELU_ALPHA = 1.6732632423543772848170429916717


def _finite_part(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(inf mask, x with its infinities replaced by 0)``: the inner ``where`` of a double
    ``where``, so the finite formula never sees an infinity (and gets no gradient there)."""
    inf = x.abs() == math.inf
    return inf, ops.where(inf, 0.0, x)


def _elu(x: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    return ops.where(x > 0, x, ops.mul(ops.expm1(x), alpha))


def _selu(x: torch.Tensor) -> torch.Tensor:
    return ops.mul(_elu(x, _SELU_ALPHA), _SELU_SCALE)


def _erf(x: torch.Tensor) -> torch.Tensor:
    return torch.erf(x)


def _gelu(x: torch.Tensor) -> torch.Tensor:
    inf, xs = _finite_part(x)
    phi = ops.mul(torch.erf(ops.mul(xs, 1 / math.sqrt(2.0))) + 1.0, 0.5)
    return ops.where(inf, ops.ramp(x), ops.mul(xs, phi))


def _ramp_at_infinity(f: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[torch.Tensor], torch.Tensor]:
    """``x·s(x)`` gates are Ramp at ±inf (the limits 0 and inf; ``-inf·0`` would be NaN)."""
    def gated(x: torch.Tensor) -> torch.Tensor:
        inf, xs = _finite_part(x)
        return ops.where(inf, ops.ramp(x), f(xs))
    gated.__name__ = f.__name__
    return gated


@_ramp_at_infinity
def _swish(x: torch.Tensor) -> torch.Tensor:
    return ops.mul(x, ops.logistic_sigmoid(x))


@_ramp_at_infinity
def _hard_swish(x: torch.Tensor) -> torch.Tensor:
    return ops.mul(x, ops.clip(ops.mul(x + 3.0, 1 / 6), 0.0, 1.0))


@_ramp_at_infinity
def _mish(x: torch.Tensor) -> torch.Tensor:
    return ops.mul(x, ops.tanh(ops.softplus(x)))


def _soft_sign(x: torch.Tensor) -> torch.Tensor:
    inf, xs = _finite_part(x)
    return ops.where(inf, ops.sign(x), ops.div(xs, ops.abs(xs) + 1.0))


def _hard_tanh(x: torch.Tensor) -> torch.Tensor:
    return ops.clip(x, -1.0, 1.0)


def _hard_sigmoid(x: torch.Tensor) -> torch.Tensor:
    return ops.clip(ops.mul(x + 1.0, 0.5), 0.0, 1.0)


def _gudermannian(x: torch.Tensor) -> torch.Tensor:
    return ops.mul(ops.atan2(ops.tanh(ops.mul(x, 0.5)), torch.ones_like(x)), 2.0)


def _sinc(x: torch.Tensor) -> torch.Tensor:
    # Wolfram's Sinc, sin(x)/x (torch's is sin(πx)/(πx)); 0 at ±inf, the limit
    inf, xs = _finite_part(x)
    return ops.where(inf, 0.0, ops.sinc(ops.mul(xs, 1 / math.pi)))


#: Wolfram's names (ElementwiseLayer["..."]) → the function of one tensor.
ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "ReLU": ops.ramp, "RectifiedLinearUnit": ops.ramp,
    "ELU": _elu, "ExponentialLinearUnit": _elu,
    "SELU": _selu, "ScaledExponentialLinearUnit": _selu,
    "GELU": _gelu, "GaussianErrorLinearUnit": _gelu,
    "Swish": _swish, "HardSwish": _hard_swish, "Mish": _mish, "SoftSign": _soft_sign,
    "SoftPlus": ops.softplus, "HardTanh": _hard_tanh, "HardSigmoid": _hard_sigmoid,
    "Sigmoid": ops.logistic_sigmoid, "Erf": _erf, "Gudermannian": _gudermannian, "Sinc": _sinc,
}


@register_layer
class ParametricRampLayer(Layer):
    """A leaky ramp with learned slopes: ``x`` where ``x > 0``, ``Slope·x`` elsewhere.

    Wolfram's ``ParametricRampLayer[levels]``: one slope per element of the given levels of an
    example (levels count from 1; default level 1, e.g. one slope per channel), broadcast over
    the others; ``levels=()`` is one slope for everything. At 0 the gradient of x is the slope
    (the minimum-norm subgradient for slopes in [0, 1]).

    Args:
        levels: an int, a tuple of ints, a span ``"m;;n"``, or ``()`` (default 1).
        slope: the initial slope (default 0.1, Wolfram's), a number or an array of the Slope's
            shape.
        learn_slope: False for a leaky ramp with a fixed slope (the array is not learned).
        input: the shape of the input (optional).

    Shape:
        - Input: ``(*s)``; Output: the same.
        - Slope: the dimensions of ``s`` at ``levels``.
    """

    array_names = ("Slope",)
    Slope: torch.Tensor | None
    sequence_support = None

    def __init__(self, levels: Levels = 1, *, slope: Any = 0.1, learn_slope: bool = True,
                 input: ShapeLike = None) -> None:
        super().__init__()
        self.levels = tuple(levels) if isinstance(levels, list) else levels
        self.learn_slope = bool(learn_slope)
        self._slope_value = None
        if isinstance(slope, (int, float)) and not isinstance(slope, bool):
            self.slope = real_number(slope, "slope", "ParametricRampLayer")
        else:
            self.slope = 0.1
            self._slope_value = torch.as_tensor(slope, dtype=torch.get_default_dtype())
            if input is None and self._slope_value.dim() > 0:
                raise NetValueError("an array of slopes needs the input shape (the slopes' "
                                    "shape depends on it)", where="ParametricRampLayer",
                                    got=f"got slopes of shape {tuple(self._slope_value.shape)} "
                                        "and no input=",
                                    fix="ParametricRampLayer(levels, slope=..., input=shape)")
        self._setup(Input=input)
        if self._slope_value is not None:
            self.set_array("Slope", self._slope_value)
            self.Slope.requires_grad_(self.learn_slope)  # type: ignore[union-attr]

    def _levels(self, s: tuple[int, ...], where: str) -> tuple[int, ...]:
        if self.levels == ():
            return ()
        return resolve_levels(self.levels, len(s), where)

    def infer_outputs(self, shapes: dict[str, MaybeShape]) -> dict[str, MaybeShape]:
        s = shapes["Input"]
        if s is not None:
            self._levels(s, 'ParametricRampLayer, port "Input"')
        return {"Output": s}

    def array_shapes_for(self, shapes: dict[str, MaybeShape]) -> dict[str, MaybeShape]:
        s = shapes["Input"]
        if self.levels == ():
            return {"Slope": ()}
        if s is None:
            return {"Slope": None}
        return {"Slope": tuple(s[lv - 1] for lv in self._levels(s, "ParametricRampLayer"))}

    def _create_array(self, name: str, shape: tuple[int, ...], value: Any = None) -> None:
        if self._shared_already(name):
            super()._create_array(name, shape, value)
            return
        super()._create_array(name, shape, value)
        p = getattr(self, name)
        if value is None:  # the slope has a natural start: no NetInitialize needed
            with torch.no_grad():
                p.fill_(self.slope)
            self._uninitialized.discard(name)
        p.requires_grad_(self.learn_slope)

    def init_array(self, name: str, tensor: torch.Tensor, method: str,
                   generator: torch.Generator) -> None:
        tensor.fill_(self.slope)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        slope = self.Slope
        if slope is None:
            raise NetValueError("ParametricRampLayer's input shape is unknown, so it has no "
                                "Slope yet", where="ParametricRampLayer",
                                got=f"got input {describe_shape(tuple(x.shape[1:]))}",
                                fix="declare it: ParametricRampLayer(input=shape)")
        s = tuple(x.shape[1:])
        lv = self._levels(s, "ParametricRampLayer")
        shape = [1] + [s[i - 1] if i in lv else 1 for i in range(1, len(s) + 1)]
        return ops.where(x > 0, x, ops.mul(x, slope.reshape(shape)))

    def get_config(self) -> dict[str, Any]:
        cfg: dict[str, Any] = {"levels": list(self.levels) if isinstance(self.levels, tuple)
                               else self.levels, "slope": self.slope}
        if not self.learn_slope:
            cfg["learn_slope"] = False
        return self._with_input(cfg)

    def config_text(self) -> str:
        return f"ParametricRampLayer({self.levels!r})"
