"""PoolingLayer: Max, Mean, Total, LP or PowerMean pooling over 1, 2 or 3 spatial dimensions."""

from __future__ import annotations

import math
from typing import Any

import torch

from .. import ops
from .._errors import NetTypeError, NetValueError, ShapeError
from .._shapes import MaybeShape, ShapeLike, describe_shape
from ..ops._pool_windows import _Windows
from ._base import Layer, register_layer
from ._same import SAME, pad_extra, same_output, same_padding

__all__ = ["PoolingLayer"]

_FUNCTIONS = ("Max", "Mean", "Total", "LP", "PowerMean")
_OPS = {"Max": "max_pool", "Mean": "mean_pool", "Total": "total_pool", "LP": "lp_pool",
        "PowerMean": "power_mean_pool"}
_DEFAULT_POWER = 3.0  # the usual GeM start


@register_layer
class PoolingLayer(Layer):
    """Pools each channel over windows of its spatial dimensions (channel-first, as in Wolfram).

    Args:
        kernel_size: window size: an int (the same in every spatial dimension) or a tuple of
            1–3 ints (which also fixes the number of spatial dimensions).
        stride: step between windows, an int or a tuple; default 1 (Wolfram's default, not
            PyTorch's ``kernel_size``).
        function: ``"Max"``, ``"Mean"``, ``"Total"``, ``"LP"`` (``(Σ|x|^p)^(1/p)``) or
            ``"PowerMean"`` (``(mean |x|^p)^(1/p)``, GeM; ``p → 0`` is the geometric mean).
        padding: added on both sides of each spatial dimension, an int or a tuple (at most half
            the kernel). Padding is never the maximum, adds zeros to totals and LP norms, and is
            not counted in means. ``"Same"``: ``ceil(size / stride)`` outputs per dimension
            (the extra element of an odd total padding goes after).
        power: the initial ``p`` of "LP"/"PowerMean" (default 3).
        learn_power: train ``p`` (default True) or keep it fixed.
        power_per_channel: one ``p`` per channel (shape ``(C,)``) instead of one for the layer.
        power_floor: keep ``p`` above this floor smoothly: ``p = power_floor + softplus(raw)``,
            and the array "Power" holds ``raw``. Default 1 (between the mean and the max: the
            pooled value stays a norm/mean of the window). ``None`` for no constraint: "Power"
            holds ``p`` itself (then it must stay > 0 for "LP", ≥ 0 for "PowerMean").
        input: shape of the input ``(C, *spatial)`` (optional).

    Shape:
        - Input: ``(C, *spatial)`` per example, 1–3 spatial dimensions.
        - Output: ``(C, *out)``, ``out = (s + 2·padding - kernel) // stride + 1``.
        - Power ("LP"/"PowerMean" only): ``()`` or ``(C,)``.
    """

    array_names: tuple[str, ...] = ("Power",)
    Power: torch.Tensor | None

    def __init__(self, kernel_size, stride=1, function: str = "Max", padding=0, *,
                 power: float = _DEFAULT_POWER, learn_power: bool = True,
                 power_per_channel: bool = False, power_floor: float | None = 1.0,
                 input: ShapeLike = None) -> None:
        super().__init__()
        if function not in _FUNCTIONS:
            raise NetValueError(f"function must be one of {list(_FUNCTIONS)}",
                                where="PoolingLayer", got=f"got {function!r}",
                                fix=_did_you_mean(function))
        self.function = function
        self.kernel_size = _ints(kernel_size, "kernel_size", 1)
        self.stride = _ints(stride, "stride", 1)
        self.same = padding == SAME
        self.padding = _ints(0 if self.same else padding, "padding", 0)
        lengths = {len(v) for v in (self.kernel_size, self.stride, self.padding) if len(v) > 1}
        if len(lengths) > 1 or any(n > 3 for n in lengths):
            raise NetValueError("kernel_size, stride and padding must agree on 1, 2 or 3 "
                                "spatial dimensions", where="PoolingLayer",
                                got=f"got kernel_size {kernel_size!r}, stride {stride!r}, "
                                f"padding {padding!r}",
                                fix="give each option as one int or as tuples of the same length")
        self.spatial_dims = lengths.pop() if lengths else None
        self.power = float(power)
        self.learn_power = bool(learn_power)
        self.power_per_channel = bool(power_per_channel)
        self.power_floor = None if power_floor is None else float(power_floor)
        self.uses_power = function in ("LP", "PowerMean")
        if self.uses_power:
            lowest = 0.0 if function == "PowerMean" else 2.0 ** -100
            low = self.power_floor if self.power_floor is not None else lowest
            if not math.isfinite(self.power) or self.power < lowest or \
                    (self.power_floor is not None and self.power <= self.power_floor) or \
                    low < lowest:
                raise NetValueError(
                    f'"{function}" needs a finite power above the floor (and '
                    f'{"≥ 0" if function == "PowerMean" else "> 0"})', where="PoolingLayer",
                    got=f"got power={power!r}, power_floor={power_floor!r}",
                    fix="e.g. power=3, power_floor=1")
        else:
            self.array_names = ()
            del self._parameters["Power"]
            self._uninitialized.discard("Power")
        self._setup(Input=input)

    # ---- shapes --------------------------------------------------------------------------
    def _dims(self, s: MaybeShape) -> int | None:
        if s is None:
            return self.spatial_dims
        return len(s) - 1

    def infer_outputs(self, shapes: dict[str, MaybeShape]) -> dict[str, MaybeShape]:
        s = shapes["Input"]
        if s is None:
            return {"Output": None}
        where = 'PoolingLayer, port "Input"'
        if not 2 <= len(s) <= 4 or (self.spatial_dims and len(s) != self.spatial_dims + 1):
            want = f"rank {self.spatial_dims + 1}" if self.spatial_dims else "rank 2, 3 or 4"
            raise ShapeError(f"expected an array of {want} (channels, then 1–3 spatial "
                             f"dimensions)", where=where, got=f"got {describe_shape(s)}",
                             fix="the channel dimension comes first, e.g. (3, 32, 32)")
        d = len(s) - 1
        if self.same:
            k, st = _per_dim(self.kernel_size, d), _per_dim(self.stride, d)
            _, extra = same_padding(s[1:], k, st, (1,) * d)
            if self.function == "PowerMean" and any(extra):
                raise ShapeError('padding="Same" needs an even total padding for "PowerMean" '
                                 "(its extra element would be counted in the mean)",
                                 where=where, got=f"got {describe_shape(s)} with kernel {k}, "
                                                  f"stride {st}", fix="use an odd kernel with "
                                                                      "stride 1, or explicit padding")
            return {"Output": (s[0],) + tuple(same_output(n, si) for n, si in zip(s[1:], st))}
        try:
            win = _Windows(s[1:], _per_dim(self.kernel_size, d), _per_dim(self.stride, d),
                           _per_dim(self.padding, d), False, where)
        except NetValueError as e:
            raise ShapeError(e.rule, where=where, got=e.got, fix=e.fix) from None
        return {"Output": (s[0],) + win.out}

    def array_shapes_for(self, shapes: dict[str, MaybeShape]) -> dict[str, MaybeShape]:
        if not self.uses_power:
            return {}
        if not self.power_per_channel:
            return {"Power": ()}
        s = shapes["Input"]
        return {"Power": None if s is None else (s[0],)}

    # ---- the power p ---------------------------------------------------------------------
    def _raw_init(self) -> float:
        if self.power_floor is None:
            return self.power
        v = self.power - self.power_floor  # softplus^-1(v) = log(expm1(v))
        return v + math.log(-math.expm1(-v)) if v > 20 else math.log(math.expm1(v))

    def init_array(self, name: str, tensor: torch.Tensor, method: str,
                   generator: torch.Generator) -> None:
        if name == "Power":
            tensor.fill_(self._raw_init())
        else:
            super().init_array(name, tensor, method, generator)

    def _create_array(self, name: str, shape: tuple[int, ...], value: Any = None) -> None:
        super()._create_array(name, shape, value)
        if name == "Power" and value is None:  # p has a natural start: no NetInitialize needed
            with torch.no_grad():
                self.init_array(name, getattr(self, name), "", torch.Generator())
            self._uninitialized.discard(name)

    def effective_power(self) -> torch.Tensor:
        """``p`` as used by the pooling: ``()`` or ``(C,)`` (with the floor applied)."""
        if self.Power is None:
            raise NetValueError("PoolingLayer's channel count is unknown, so it has no "
                                "per-channel Power yet", where="PoolingLayer",
                                got="got no Power array", fix="declare it: PoolingLayer(..., "
                                                              "input=(C, ...))")
        raw = self.Power if self.learn_power else self.Power.detach()
        if self.power_floor is None:
            return raw
        return self.power_floor + ops.softplus(raw)

    # ---- evaluation ----------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = x.dim() - 2
        if not 1 <= d <= 3 or (self.spatial_dims and d != self.spatial_dims):
            raise ShapeError("expected a batch of (channels, 1–3 spatial dimensions)",
                             where='PoolingLayer, port "Input"',
                             got=f"got a batch of {describe_shape(tuple(x.shape[1:]))}")
        fn = getattr(ops, f"{_OPS[self.function]}{d}d")
        k, s, pd = (_per_dim(v, d) for v in (self.kernel_size, self.stride, self.padding))
        if self.same:
            pd, extra = same_padding(x.shape[2:], k, s, (1,) * d)
            if any(extra) and self.function == "Mean":  # the extra element is not counted
                total = getattr(ops, f"total_pool{d}d")
                ones = pad_extra(torch.ones_like(x[:1, :1]), extra, 0.0)
                count = total(ones, k, s, pd)
                return ops.div(total(pad_extra(x, extra, 0.0), k, s, pd), count)
            x = pad_extra(x, extra, -math.inf if self.function == "Max" else 0.0)
        if self.uses_power:
            if self.Power is None:
                raise NetValueError("PoolingLayer's channel count is unknown, so it has no "
                                    "per-channel Power yet", where="PoolingLayer",
                                    got=f"got input {describe_shape(tuple(x.shape[1:]))}",
                                    fix="declare it: PoolingLayer(..., input=(C, ...))")
            p = self.effective_power()
            return fn(x, p.to(x.dtype), k, s, padding=pd)
        return fn(x, k, s, pd)

    # ---- config --------------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        cfg: dict[str, Any] = {"kernel_size": _plain(self.kernel_size),
                               "stride": _plain(self.stride), "function": self.function,
                               "padding": SAME if self.same else _plain(self.padding)}
        if self.uses_power:
            cfg.update(power=self.power, learn_power=self.learn_power,
                       power_per_channel=self.power_per_channel, power_floor=self.power_floor)
        shape = self._shapes.get("Input")
        if shape is not None:
            cfg["input"] = list(shape)
        return cfg

    def config_text(self) -> str:
        return (f"PoolingLayer({_plain(self.kernel_size)!r}, stride={_plain(self.stride)!r}, "
                f"function={self.function!r}"
                + (f", padding={self.get_config()['padding']!r})" if self.same or any(self.padding)
                   else ")"))


def _ints(value, name: str, minimum: int) -> tuple[int, ...]:
    fix = f"e.g. {name}={max(minimum, 1)} or {name}=({max(minimum, 1)}, {max(minimum, 1)})"
    if isinstance(value, bool) or not isinstance(value, (int, tuple, list)) or (
            not isinstance(value, int) and not all(isinstance(v, int) and not isinstance(v, bool)
                                                   for v in value)):
        raise NetTypeError(f"{name} must be an int or a tuple of 1–3 ints", where="PoolingLayer",
                           got=f"got {type(value).__name__} {value!r}", fix=fix)
    out = (value,) if isinstance(value, int) else tuple(value)
    if not 1 <= len(out) <= 3 or any(v < minimum for v in out):
        raise NetValueError(f"{name} must be 1–3 ints, each at least {minimum}",
                            where="PoolingLayer", got=f"got {value!r}", fix=fix)
    return out


def _per_dim(v: tuple[int, ...], d: int) -> tuple[int, ...]:
    return v * d if len(v) == 1 else v


def _plain(v: tuple[int, ...]):
    return v[0] if len(v) == 1 else list(v)


def _did_you_mean(name: Any) -> str:
    if isinstance(name, str):
        for f in _FUNCTIONS:
            if f.lower() == name.lower() or (name.lower() in ("avg", "average") and f == "Mean") \
                    or (name.lower() in ("sum", "add") and f == "Total") \
                    or (name.lower() in ("gem", "generalizedmean") and f == "PowerMean"):
                return f"did you mean {f!r}?"
    return f"use one of {list(_FUNCTIONS)}"
