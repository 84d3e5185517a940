"""BatchNormalizationLayer, NormalizationLayer and LocalResponseNormalizationLayer.

Each is declared ports and arrays plus one call into the normalization operations of
:mod:`netgrad.ops` (``batch_norm``, ``layer_norm``, ``group_norm``, ``rms_norm``,
``local_response_norm``), whose conventions keep constant inputs and batches of one finite.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from .. import ops
from .._errors import NetValueError, ShapeError
from .._shapes import MaybeShape, ShapeLike, describe_shape
from ._aggregation import resolve_levels
from ._base import Layer, register_layer
from ._checks import positive_int, real_number

__all__ = ["BatchNormalizationLayer", "NormalizationLayer", "LocalResponseNormalizationLayer"]

_MOVING = ("MovingMean", "MovingVariance")
_START = {"Scaling": 1.0, "Biases": 0.0, "MovingMean": 0.0, "MovingVariance": 1.0}


class _NaturalStart(Layer):
    """Arrays with a natural first value (scalings 1, biases 0, moving statistics 0 and 1):
    set when the array is created, so no NetInitialize is needed; arrays in ``_fixed`` are not
    learned (``requires_grad`` False)."""

    _fixed: tuple[str, ...] = ()

    def init_array(self, name: str, tensor: torch.Tensor, method: str,
                   generator: torch.Generator) -> None:
        tensor.fill_(_START[name])

    def _create_array(self, name: str, shape: tuple[int, ...], value: Any = None) -> None:
        if self._shared_already(name):
            super()._create_array(name, shape, value)
            return
        super()._create_array(name, shape, value)
        p = getattr(self, name)
        if value is None:
            with torch.no_grad():
                p.fill_(_START[name])
            self._uninitialized.discard(name)
        if name in self._fixed:
            p.requires_grad_(False)

    def _given(self, values: dict[str, Any]) -> None:
        for name, value in values.items():
            if value is not None:
                self.set_array(name, value)
                if name in self._fixed:
                    getattr(self, name).requires_grad_(False)


@register_layer
class BatchNormalizationLayer(_NaturalStart):
    """Normalizes each channel by batch statistics in training, by moving statistics otherwise.

    Channel-first, as in Wolfram: axis 0 of an example is the channel. In Train mode (training,
    ``net(data, mode="Train")``, any ``net.train()``) each channel is standardized by the mean
    and variance over the batch and the spatial positions, and "MovingMean"/"MovingVariance"
    are updated, ``moving = momentum·moving + (1 - momentum)·batch`` (the unbiased variance; as
    a torch module in train mode does, also outside netgrad.train). In Test mode (the default
    of evaluation and NetPortGradient) the moving statistics are used. Then
    ``Scaling·x̂ + Biases``.

    Constant channels and batches of one give finite values and gradients (x̂ = 0 there; with
    one value per channel the moving variance is left unchanged). See
    :func:`netgrad.ops.batch_norm`.

    Args:
        momentum: Wolfram's momentum of the moving statistics (default 0.9, torch's
            ``momentum=0.1``).
        epsilon: added to the variance (default 0.001); 0 is allowed.
        input: shape ``(C, *spatial)`` (optional; a vector ``(C,)`` has no spatial part).
        channels: the number of channels C, when the rest of the input shape is left open
            (as ``torch.nn.BatchNorm2d(C)``); implied by ``input`` or by array values.
        scaling, biases, moving_mean, moving_variance: initial values, each ``(C,)``.

    Arrays start at Scaling 1, Biases 0, MovingMean 0, MovingVariance 1; the moving statistics
    are arrays that are not learned (``requires_grad`` False): netgrad.train and
    ``NetPortGradient(All)`` leave them out.

    Shape:
        - Input: ``(C, *spatial)``; Output: the same.
        - Scaling, Biases, MovingMean, MovingVariance: ``(C,)``.
    """

    array_names = ("Scaling", "Biases", "MovingMean", "MovingVariance")
    Scaling: torch.Tensor | None
    Biases: torch.Tensor | None
    MovingMean: torch.Tensor | None
    MovingVariance: torch.Tensor | None
    _fixed = _MOVING

    def __init__(self, momentum: float = 0.9, epsilon: float = 0.001, *,
                 input: ShapeLike = None, channels: int | None = None, scaling: Any = None,
                 biases: Any = None, moving_mean: Any = None,
                 moving_variance: Any = None) -> None:
        super().__init__()
        where = "BatchNormalizationLayer"
        self.momentum = real_number(momentum, "momentum", where, low=0.0, high=1.0)
        self.epsilon = real_number(epsilon, "epsilon", where, low=0.0)
        values = {"Scaling": scaling, "Biases": biases, "MovingMean": moving_mean,
                  "MovingVariance": moving_variance}
        if channels is None:
            given = [torch.as_tensor(v).shape for v in values.values() if v is not None]
            channels = given[0][0] if given and len(given[0]) == 1 else None
        self.channels = None if channels is None else positive_int(channels, "channels", where)
        self._setup(Input=input)
        self._given(values)

    def infer_outputs(self, shapes: dict[str, MaybeShape]) -> dict[str, MaybeShape]:
        s = shapes["Input"]
        where = 'BatchNormalizationLayer, port "Input"'
        if s is not None and len(s) == 0:
            raise ShapeError("expected an array with channels first (rank at least 1)",
                             where=where, got="got a scalar",
                             fix="reshape the input, e.g. ReshapeLayer((1,))")
        if s is not None and self.channels is not None and s[0] != self.channels:
            raise ShapeError(f"expected {self.channels} channels (the first dimension)",
                             where=where, got=f"got {describe_shape(s)}",
                             fix="the channel dimension comes first, e.g. (C, H, W)")
        return {"Output": s}

    def array_shapes_for(self, shapes: dict[str, MaybeShape]) -> dict[str, MaybeShape]:
        s = shapes["Input"]
        c = (s[0],) if s is not None else None if self.channels is None else (self.channels,)
        return dict.fromkeys(self.array_names, c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.Scaling is None:
            raise NetValueError("BatchNormalizationLayer's channel count is unknown, so it has "
                                "no arrays yet", where="BatchNormalizationLayer",
                                got=f"got input {describe_shape(tuple(x.shape[1:]))}",
                                fix="declare it: BatchNormalizationLayer(input=(C, ...))")
        return ops.batch_norm(x, self.MovingMean, self.MovingVariance, self.Scaling,
                              self.Biases, self.training, 1.0 - self.momentum, self.epsilon)

    def get_config(self) -> dict[str, Any]:
        cfg: dict[str, Any] = {"momentum": self.momentum, "epsilon": self.epsilon}
        if self.channels is not None and "Input" not in self._declared:
            cfg["channels"] = self.channels
        return self._with_input(cfg)

    def config_text(self) -> str:
        return f"BatchNormalizationLayer(momentum={self.momentum}, epsilon={self.epsilon})"


_METHODS = ("Standardize", "RMS")


def _levels_config(levels: Any) -> Any:
    return list(levels) if isinstance(levels, tuple) else levels


@register_layer
class NormalizationLayer(_NaturalStart):
    """Standardizes each example over some of its levels, then a learned scaling and bias.

    Wolfram's ``NormalizationLayer[aggregationlevels, scalinglevels]``: levels count the
    dimensions of one example from 1 (as in AggregationLayer). The default, aggregation over
    ``"2;;"`` with per-channel scaling, is instance normalization of a ``(C, *spatial)``
    array; ``aggregation_levels="1;;"`` (or ``1`` for a vector) is layer normalization, and with
    ``group_number`` on level 1 it is group normalization.

    Args:
        aggregation_levels: the levels the mean and variance are taken over: an int, a tuple,
            or a span ``"m;;n"`` / ``"m;;"`` (default ``"2;;"``).
        scaling_levels: the levels of "Scaling" and "Biases": ``"Complement"`` (every level not
            aggregated; the default), ``"Same"`` (the aggregated levels), or levels as above;
            with no level the arrays are scalars.
        epsilon: added to the variance (default 0.001); 0 is allowed (a constant slice then
            normalizes to 0 with gradient 0).
        group_number: ``None``, or one int per aggregation level: that level is split into so
            many groups, each normalized separately (its size must be a multiple).
        unbiased: divide the variance by n - 1 instead of n.
        method: ``"Standardize"`` ((x - μ)/√(σ² + ε)) or ``"RMS"`` (x/√(mean x² + ε)).
        scaling, biases: ``False`` for no such array, or initial values.
        input: the shape of the input (optional).

    Shape:
        - Input: ``(*s)``; Output: the same.
        - Scaling, Biases: the dimensions of ``s`` at the scaling levels, in order.
    """

    array_names = ("Scaling", "Biases")

    def __init__(self, aggregation_levels: Any = "2;;", scaling_levels: Any = "Complement", *,
                 epsilon: float = 0.001, group_number: Any = None, unbiased: bool = False,
                 method: str = "Standardize", scaling: Any = None, biases: Any = None,
                 input: ShapeLike = None) -> None:
        super().__init__()
        where = "NormalizationLayer"
        self.aggregation_levels = tuple(aggregation_levels) \
            if isinstance(aggregation_levels, list) else aggregation_levels
        self.scaling_levels = tuple(scaling_levels) \
            if isinstance(scaling_levels, list) else scaling_levels
        self.epsilon = real_number(epsilon, "epsilon", where, low=0.0)
        if method not in _METHODS:
            raise NetValueError(f"method is one of {list(_METHODS)}", where=where,
                                got=f"got {method!r}", fix='e.g. method="RMS"')
        self.method = method
        self.unbiased = bool(unbiased)
        if group_number is not None:
            groups = (group_number,) if isinstance(group_number, int) else tuple(group_number)
            group_number = tuple(positive_int(g, "group_number", where) for g in groups)
        self.group_number = group_number
        for name, flag in (("Scaling", scaling), ("Biases", biases)):
            if flag is False:
                self._drop_array(name)
        self._setup(Input=input)
        self._given({n: v for n, v in (("Scaling", scaling), ("Biases", biases))
                     if v is not False})

    # ---- levels --------------------------------------------------------------------------
    def _plan(self, s: tuple[int, ...], where: str):
        """(aggregated levels, scaling levels, groups per aggregated level), 1-based."""
        agg = resolve_levels(self.aggregation_levels, len(s), where)
        if self.scaling_levels == "Complement":
            scale = tuple(lv for lv in range(1, len(s) + 1) if lv not in agg)
        elif self.scaling_levels == "Same":
            scale = agg
        else:
            scale = resolve_levels(self.scaling_levels, len(s), where)
        groups = {}
        if self.group_number is not None:
            if len(self.group_number) != len(agg):
                raise ShapeError("group_number has one entry per aggregation level",
                                 where=where, got=f"got {list(self.group_number)} for levels "
                                 f"{list(agg)}", fix=f"give {len(agg)} group numbers")
            for lv, g in zip(agg, self.group_number):
                if s[lv - 1] % g:
                    raise ShapeError(f"level {lv} (size {s[lv - 1]}) must split into "
                                     f"{g} groups of equal size", where=where,
                                     got=f"got {describe_shape(s)}",
                                     fix="choose a group number that divides the size")
                groups[lv] = g
        count = math.prod(s[lv - 1] // groups.get(lv, 1) for lv in agg)
        if self.unbiased and count < 2:
            raise ShapeError("an unbiased variance needs at least 2 values per slice",
                             where=where, got=f"got {count}", fix="unbiased=False")
        return agg, scale, groups

    def infer_outputs(self, shapes: dict[str, MaybeShape]) -> dict[str, MaybeShape]:
        s = shapes["Input"]
        if s is not None:
            self._plan(s, 'NormalizationLayer, port "Input"')
        return {"Output": s}

    def array_shapes_for(self, shapes: dict[str, MaybeShape]) -> dict[str, MaybeShape]:
        s = shapes["Input"]
        if s is None:
            return dict.fromkeys(self.array_names)
        _, scale, _ = self._plan(s, "NormalizationLayer")
        return {n: tuple(s[lv - 1] for lv in scale) for n in self.array_names}

    # ---- evaluation ----------------------------------------------------------------------
    def _arrays(self):
        return (getattr(self, "Scaling", None) if "Scaling" in self.array_names else None,
                getattr(self, "Biases", None) if "Biases" in self.array_names else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = tuple(x.shape[1:])
        agg, scale, groups = self._plan(s, "NormalizationLayer")
        w, b = self._arrays()
        if any(a is None for a, n in zip((w, b), ("Scaling", "Biases")) if n in self.array_names):
            raise NetValueError("NormalizationLayer's input shape is unknown, so it has no "
                                "arrays yet", where="NormalizationLayer",
                                got=f"got input {describe_shape(s)}",
                                fix="declare it: NormalizationLayer(..., input=shape)")
        eps = self.epsilon
        fused = self._fused(x, agg, scale, groups, w, b)
        if fused is not None:
            return fused
        # general case: aggregated (within-group) dimensions last, one normalization over them
        split = [d for lv in range(1, len(s) + 1) for d in
                 ((groups[lv], s[lv - 1] // groups[lv]) if lv in groups else (s[lv - 1],))]
        pos, keep, red = 1, [0], []  # type: tuple[int, list[int], list[int]]
        for lv in range(1, len(s) + 1):
            if lv in groups:
                keep.append(pos)
                pos += 1
            (red if lv in agg else keep).append(pos)
            pos += 1
        xs = x.reshape(x.shape[0], *split).permute(*keep, *red)
        lead = xs.shape[:len(keep)]
        flat = xs.reshape(*lead, -1)
        n = flat.shape[-1]
        if self.unbiased:
            eps = eps * (n - 1) / n
        y = ops.rms_norm(flat, (n,), eps=eps) if self.method == "RMS" else \
            ops.layer_norm(flat, (n,), eps=eps)
        if self.unbiased:
            y = ops.mul(y, math.sqrt((n - 1) / n))
        inverse = [0] * len(split + [0])
        for i, d in enumerate(keep + red):
            inverse[d] = i
        y = y.reshape(xs.shape).permute(*inverse).reshape(x.shape)
        shape = [1] + [s[lv - 1] if lv in scale else 1 for lv in range(1, len(s) + 1)]
        if w is not None:
            y = ops.mul(y, w.reshape(shape))
        if b is not None:
            y = ops.add(y, b.reshape(shape))
        return y

    def _fused(self, x, agg, scale, groups, w, b):
        """The common layouts as one fused call: layer norm over trailing levels with
        elementwise arrays, group/instance/layer norm with per-channel arrays."""
        if self.method != "Standardize" or self.unbiased:
            return None
        rank = x.dim() - 1
        trailing = agg == tuple(range(agg[0], rank + 1))
        if trailing and not groups and scale in (agg, ()) and (scale or (w is None and b is None)):
            return ops.layer_norm(x, tuple(x.shape[agg[0]:]), w, b, self.epsilon)
        if rank >= 1 and scale == (1,) and set(groups) <= {1}:
            if agg == tuple(range(2, rank + 1)) and not groups and rank >= 2:
                return ops.group_norm(x, x.shape[1], w, b, self.epsilon)  # instance norm
            if agg == tuple(range(1, rank + 1)):
                return ops.group_norm(x, groups.get(1, 1), w, b, self.epsilon)
        return None

    # ---- config --------------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        cfg: dict[str, Any] = {"aggregation_levels": _levels_config(self.aggregation_levels),
                               "scaling_levels": _levels_config(self.scaling_levels),
                               "epsilon": self.epsilon, "unbiased": self.unbiased,
                               "method": self.method,
                               "group_number": None if self.group_number is None
                               else list(self.group_number)}
        for name, key in (("Scaling", "scaling"), ("Biases", "biases")):
            if name not in self.array_names:
                cfg[key] = False
        return self._with_input(cfg)

    def config_text(self) -> str:
        return (f"NormalizationLayer({self.aggregation_levels!r}, {self.scaling_levels!r}"
                + (f", method={self.method!r}" if self.method != "Standardize" else "") + ")")


@register_layer
class LocalResponseNormalizationLayer(Layer):
    """Normalizes each element by the squares of its neighbours across channels (Wolfram's
    layer; AlexNet's LRN): ``x / (bias + alpha/(2c+1)·Σ x²)^beta``, the sum over the ``2c + 1``
    channels centred on each channel (``c = channel_window_size``; missing channels at the
    ends count as 0). With ``bias=0`` an all-zero window gives 0 with gradient 0.

    Args:
        alpha, beta, bias: the scaling, power and bias parameters (Wolfram's defaults 1, 0.5,
            1; torch's ``nn.LocalResponseNorm(size, alpha, beta, k)`` has ``size = 2c + 1``
            and the same alpha).
        channel_window_size: ``c``, channels on each side (default 2).
        input: shape ``(C, *spatial)`` (optional).

    Shape:
        - Input: ``(C, *spatial)``, rank 1–4; Output: the same.
    """

    def __init__(self, alpha: float = 1.0, beta: float = 0.5, bias: float = 1.0,
                 channel_window_size: int = 2, *, input: ShapeLike = None) -> None:
        super().__init__()
        where = "LocalResponseNormalizationLayer"
        self.alpha = real_number(alpha, "alpha", where)
        self.beta = real_number(beta, "beta", where)
        self.bias = real_number(bias, "bias", where, low=0.0)
        self.channel_window_size = positive_int(channel_window_size, "channel_window_size",
                                                where, minimum=0)
        self._setup(Input=input)

    def infer_outputs(self, shapes: dict[str, MaybeShape]) -> dict[str, MaybeShape]:
        s = shapes["Input"]
        if s is not None and not 1 <= len(s) <= 4:
            raise ShapeError("expected channels first, then 0–3 spatial dimensions",
                             where='LocalResponseNormalizationLayer, port "Input"',
                             got=f"got {describe_shape(s)}", fix="e.g. input=(C, H, W)")
        return {"Output": s}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x.unsqueeze(-1) if x.dim() == 2 else x
        out = ops.local_response_norm(y, 2 * self.channel_window_size + 1, self.alpha,
                                      self.beta, self.bias)
        return out.squeeze(-1) if x.dim() == 2 else out

    def get_config(self) -> dict[str, Any]:
        return self._with_input({"alpha": self.alpha, "beta": self.beta, "bias": self.bias,
                                 "channel_window_size": self.channel_window_size})
