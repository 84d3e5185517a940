"""ConvolutionLayer and DeconvolutionLayer over 1, 2 or 3 spatial dimensions."""

from __future__ import annotations

from typing import Any

import torch

from .. import ops
from .._errors import NetTypeError, NetValueError, ShapeError
from .._shapes import MaybeShape, ShapeLike, describe_shape
from ._base import Layer, register_layer
from ._same import SAME, pad_extra, same_output, same_padding

__all__ = ["ConvolutionLayer", "DeconvolutionLayer"]


class _ConvBase(Layer):
    array_names = ("Weights", "Biases")
    Weights: torch.Tensor | None
    Biases: torch.Tensor | None
    _transposed = False
    # set in __init__ by setattr (one int per spatial dimension)
    kernel_size: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[int, ...]
    dilation: tuple[int, ...]
    output_padding: tuple[int, ...]

    # each subclass's output size and weights layout
    @staticmethod
    def _out_size(size: int, k: int, s: int, p: int, d: int, op: int) -> int:
        raise NotImplementedError

    def _weights_shape(self, c: int, kernel: tuple[int, ...]) -> tuple[int, ...]:
        raise NotImplementedError

    def _weights_text(self) -> str:
        raise NotImplementedError

    def __init__(self, n: int, kernel_size, stride=1, padding=0, dilation=1, groups: int = 1,
                 *, output_padding=0, input: ShapeLike = None, weights: Any = None,
                 biases: Any = None) -> None:
        super().__init__()
        name = type(self).__name__
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise NetTypeError(f"{name}'s n (output channels) must be a positive int",
                               where=name, got=f"got {n!r}", fix=f"e.g. {name}(16, 3)")
        if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1 or n % groups:
            raise NetValueError("groups must be a positive int that divides n", where=name,
                                got=f"got groups={groups!r} for n={n}",
                                fix=f"use a divisor of {n}, e.g. groups=1" if isinstance(n, int)
                                else "e.g. groups=1")
        self.n = n
        self.groups = groups
        self.same = padding == SAME
        if self.same and self._transposed:
            raise NetValueError('padding="Same" is for ConvolutionLayer', where=name,
                                got='got padding="Same"', fix="give the padding as ints")
        opts = {"kernel_size": (kernel_size, 1), "stride": (stride, 1),
                "padding": (0 if self.same else padding, 0),
                "dilation": (dilation, 1), "output_padding": (output_padding, 0)}
        for key, (value, minimum) in opts.items():
            setattr(self, key, _ints(value, key, minimum, name))
        lengths = {len(getattr(self, k)) for k in opts if len(getattr(self, k)) > 1}
        if len(lengths) > 1:
            raise NetValueError("kernel_size, stride, padding and dilation must agree on the "
                                "number of spatial dimensions", where=name,
                                got=f"got kernel_size {kernel_size!r}, stride {stride!r}, "
                                f"padding {padding!r}, dilation {dilation!r}",
                                fix="give each option as one int (used in every dimension) or as "
                                    "tuples of the same length")
        self.spatial_dims = lengths.pop() if lengths else None
        w = self._weights_and_biases(weights, biases)
        if w is not None:
            if w.dim() < 3 or w.dim() > 5 or (self.spatial_dims and w.dim() != self.spatial_dims + 2):
                raise ShapeError(f"{name} needs weights of shape {self._weights_text()}",
                                 where=name, got=f"got weights of shape {tuple(w.shape)}",
                                 fix="pass weights with 1-3 kernel dimensions after the two channel "
                                     "dimensions (PyTorch's conv .weight layout)")
            self.spatial_dims = w.dim() - 2
        self._setup(Input=input)

    # ---- shapes --------------------------------------------------------------------------
    def _per_dim(self, key: str, d: int) -> tuple[int, ...]:
        v = getattr(self, key)
        return v * d if len(v) == 1 else v

    def infer_outputs(self, shapes: dict[str, MaybeShape]) -> dict[str, MaybeShape]:
        s = shapes["Input"]
        if s is None:
            return {"Output": None}
        name = type(self).__name__
        where = f'{name}, port "Input"'
        if not 2 <= len(s) <= 4 or (self.spatial_dims and len(s) != self.spatial_dims + 1):
            want = f"rank {self.spatial_dims + 1}" if self.spatial_dims else "rank 2, 3 or 4"
            raise ShapeError(f"expected an array of {want} (channels, then 1–3 spatial "
                             "dimensions)", where=where, got=f"got {describe_shape(s)}",
                             fix="the channel dimension comes first, e.g. (3, 32, 32)")
        c, spatial = s[0], s[1:]
        if c % self.groups:
            raise ShapeError(f"the input channels must be divisible by groups={self.groups}",
                             where=where, got=f"got {c} channels",
                             fix=f"use groups dividing both {c} and n={self.n}")
        d = len(spatial)
        k, st, pd, dl, op = (self._per_dim(key, d) for key in
                             ("kernel_size", "stride", "padding", "dilation", "output_padding"))
        if self.same:
            return {"Output": (self.n,) + tuple(same_output(size, si) for size, si in zip(spatial, st))}
        out = []
        for size, ki, si, pi, di, oi in zip(spatial, k, st, pd, dl, op):
            o = self._out_size(size, ki, si, pi, di, oi)
            if o < 1:
                raise ShapeError("each spatial dimension is too small for the kernel",
                                 where=where, got=f"got spatial size {spatial} for kernel {k}, "
                                 f"dilation {dl}, padding {pd}",
                                 fix="use a smaller kernel or more padding")
            out.append(o)
        return {"Output": (self.n,) + tuple(out)}

    def array_shapes_for(self, shapes: dict[str, MaybeShape]) -> dict[str, MaybeShape]:
        s = shapes["Input"]
        arrays: dict[str, MaybeShape] = {"Weights": None}
        if s is not None:
            d = len(s) - 1
            arrays["Weights"] = self._weights_shape(s[0], self._per_dim("kernel_size", d))
        if self.has_biases:
            arrays["Biases"] = (self.n,)
        return arrays

    def _options_text(self) -> str:
        """``, stride=2, padding='Same'``: the options that differ from their defaults."""
        cfg = self.get_config()
        defaults = {"stride": 1, "padding": 0, "dilation": 1, "groups": 1, "output_padding": 0}
        return "".join(f", {k}={cfg[k]!r}" for k, d in defaults.items()
                       if k in cfg and cfg[k] != d)

    def get_config(self) -> dict[str, Any]:
        cfg: dict[str, Any] = {"n": self.n}
        for key in ("kernel_size", "stride", "padding", "dilation"):
            v = getattr(self, key)
            cfg[key] = v[0] if len(v) == 1 else list(v)
        if self.same:
            cfg["padding"] = SAME
        cfg["groups"] = self.groups
        if self._transposed:
            v = self.output_padding
            cfg["output_padding"] = v[0] if len(v) == 1 else list(v)
        shape = self._shapes.get("Input")
        if shape is not None:
            cfg["input"] = list(shape)
        if not self.has_biases:
            cfg["biases"] = False
        return cfg

    def _missing_weights(self, x: torch.Tensor) -> NetValueError:
        name = type(self).__name__
        return NetValueError(f"{name}'s input channels are unknown, so it has no weights yet",
                             where=name, got=f"got input {describe_shape(tuple(x.shape[1:]))}",
                             fix=f"declare it: {name}(n, kernel_size, input=(C, ...))")


@register_layer
class ConvolutionLayer(_ConvBase):
    """A trainable convolution (cross-correlation), as Wolfram's ConvolutionLayer.

    Args:
        n: number of output channels.
        kernel_size: an int or a tuple of 1–3 ints.
        stride, padding, dilation: ints or tuples (zero padding on both sides); ``padding="Same"``
            gives ``ceil(size / stride)`` outputs per dimension (the extra element of an odd
            total padding goes after, as in TensorFlow and Wolfram).
        groups: split the channels into this many independent groups.
        input: shape of the input ``(C, *spatial)`` (optional).
        weights, biases: initial values; ``biases=False`` for none.

    Shape:
        - Input: ``(C, *spatial)``, 1–3 spatial dimensions.
        - Output: ``(n, *out)``, ``out = (s + 2·padding - dilation·(k - 1) - 1) // stride + 1``.
        - Weights: ``(n, C / groups, *kernel)``; Biases: ``(n,)``.
    """

    @staticmethod
    def _out_size(size, k, s, p, d, _op):
        return (size + 2 * p - d * (k - 1) - 1) // s + 1

    def _weights_shape(self, c: int, kernel: tuple[int, ...]) -> tuple[int, ...]:
        return (self.n, c // self.groups) + kernel

    def _weights_text(self) -> str:
        return "(n, C / groups, *kernel)"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.Weights is None:
            raise self._missing_weights(x)
        d = self.Weights.dim() - 2
        padding = self._per_dim("padding", d)
        if self.same:
            padding, extra = same_padding(x.shape[2:], self.Weights.shape[2:],
                                          self._per_dim("stride", d), self._per_dim("dilation", d))
            x = pad_extra(x, extra, 0.0)
        return ops.convolution(x, self.Weights, self.Biases if self.has_biases else None,
                               self._per_dim("stride", d), padding,
                               self._per_dim("dilation", d), self.groups)

    def config_text(self) -> str:
        k = self.kernel_size[0] if len(self.kernel_size) == 1 else self.kernel_size
        return f"ConvolutionLayer({self.n}, {k!r}{self._options_text()})"


@register_layer
class DeconvolutionLayer(_ConvBase):
    """A trainable transposed convolution, as Wolfram's DeconvolutionLayer.

    Args:
        n: number of output channels.
        kernel_size, stride, padding, dilation, groups: as in :class:`ConvolutionLayer`
            (padding removes that many elements from each side of the output).
        output_padding: extra elements added on one side of the output (less than stride).
        input, weights, biases: as in :class:`ConvolutionLayer`.

    Shape:
        - Input: ``(C, *spatial)``, 1–3 spatial dimensions.
        - Output: ``(n, *out)``,
          ``out = (s - 1)·stride - 2·padding + dilation·(k - 1) + output_padding + 1``.
        - Weights: ``(C, n / groups, *kernel)`` (PyTorch's layout); Biases: ``(n,)``.
    """

    _transposed = True

    @staticmethod
    def _out_size(size, k, s, p, d, op):
        return (size - 1) * s - 2 * p + d * (k - 1) + op + 1

    def _weights_shape(self, c: int, kernel: tuple[int, ...]) -> tuple[int, ...]:
        return (c, self.n // self.groups) + kernel

    def _weights_text(self) -> str:
        return "(C, n / groups, *kernel)"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.Weights is None:
            raise self._missing_weights(x)
        d = self.Weights.dim() - 2
        return ops.deconvolution(x, self.Weights, self.Biases if self.has_biases else None,
                                 self._per_dim("stride", d), self._per_dim("padding", d),
                                 self._per_dim("output_padding", d), self.groups,
                                 self._per_dim("dilation", d))

    def config_text(self) -> str:
        k = self.kernel_size[0] if len(self.kernel_size) == 1 else self.kernel_size
        return f"DeconvolutionLayer({self.n}, {k!r}{self._options_text()})"


def _ints(value, key: str, minimum: int, where: str) -> tuple[int, ...]:
    fix = f"e.g. {key}={max(minimum, 1)} or {key}=({max(minimum, 1)}, {max(minimum, 1)})"
    if isinstance(value, bool) or not isinstance(value, (int, tuple, list)) or (
            not isinstance(value, int) and not all(isinstance(v, int) and not isinstance(v, bool)
                                                   for v in value)):
        raise NetTypeError(f"{key} must be an int or a tuple of 1–3 ints", where=where,
                           got=f"got {type(value).__name__} {value!r}", fix=fix)
    out = (value,) if isinstance(value, int) else tuple(value)
    if not 1 <= len(out) <= 3 or any(v < minimum for v in out):
        raise NetValueError(f"{key} must be 1–3 ints, each at least {minimum}", where=where,
                            got=f"got {value!r}", fix=fix)
    return out
