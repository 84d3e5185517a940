"""PaddingLayer and ResizeLayer."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from .._errors import NetTypeError, NetValueError, ShapeError
from .._shapes import MaybeShape, ShapeLike, describe_shape
from ._base import Layer, register_layer
from ._checks import shape_arg

__all__ = ["PaddingLayer", "ResizeLayer"]

_MODES = ("Fixed", "Reflected", "Periodic")


def _pairs(padding: Any) -> tuple[tuple[int, int], ...]:
    """``[(before, after), ...]`` (or ``[n, ...]`` for n on both sides) → int pairs."""
    where = "PaddingLayer"
    try:
        items = list(padding)
    except TypeError:
        items = None
    if not items:
        raise NetTypeError("padding is a list with one (before, after) pair per dimension",
                           where=where, got=f"got {padding!r}",
                           fix="e.g. PaddingLayer([(0, 0), (1, 1), (2, 2)])")
    out = []
    for p in items:
        pair = (p, p) if isinstance(p, int) and not isinstance(p, bool) else p
        try:
            a, b = pair
        except (TypeError, ValueError):
            raise NetTypeError("each entry of padding is an int or a (before, after) pair",
                               where=where, got=f"got {p!r}") from None
        if any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in (a, b)):
            raise NetValueError("padding amounts are non-negative ints", where=where,
                                got=f"got {p!r}")
        out.append((a, b))
    return tuple(out)


def _indices(n: int, before: int, after: int, mode: str, device) -> torch.Tensor:
    """Source positions of a padded dimension of size ``n``: Reflected mirrors about the
    end elements (without repeating them, as ``numpy.pad(mode="reflect")``), Periodic wraps."""
    i = torch.arange(-before, n + after, device=device)
    if mode == "Periodic":
        return i.remainder(n)
    if n == 1:
        return torch.zeros_like(i)
    period = 2 * (n - 1)
    j = i.remainder(period)
    return torch.where(j < n, j, period - j)


@register_layer
class PaddingLayer(Layer):
    """Pads each example (Wolfram's PaddingLayer).

    Args:
        padding: one ``(before, after)`` pair per dimension of an example (an int pads both
            sides equally); dimensions not listed at the end are not padded.
        padding_mode: ``"Fixed"`` (a constant, ``value``), ``"Reflected"`` (mirrored about the
            border element, which is not repeated; reflected again where the padding is wider
            than the array), ``"Periodic"`` (wrapped around), or a number (``"Fixed"`` with
            that value).
        value: the constant of ``"Fixed"`` padding (default 0).
        input: the shape of the input (optional).

    The gradient of each input element sums the incoming gradients of every output position
    it fills (in Reflected and Periodic padding, border elements fill several).

    Shape:
        - Input: ``(*s)``; Output: ``s[i] + before_i + after_i`` in each padded dimension.
    """

    def __init__(self, padding: Any, padding_mode: Any = "Fixed", *, value: float = 0.0,
                 input: ShapeLike = None) -> None:
        super().__init__()
        self.padding = _pairs(padding)
        if isinstance(padding_mode, (int, float)) and not isinstance(padding_mode, bool):
            value, padding_mode = float(padding_mode), "Fixed"
        if padding_mode not in _MODES:
            raise NetValueError(f"padding_mode is one of {list(_MODES)} or a number",
                                where="PaddingLayer", got=f"got {padding_mode!r}",
                                fix='e.g. padding_mode="Reflected"')
        self.padding_mode = padding_mode
        self.value = float(value)
        self._setup(Input=input)

    def _check(self, s: tuple[int, ...]) -> None:
        where = 'PaddingLayer, port "Input"'
        if len(self.padding) > len(s):
            raise ShapeError(f"padding lists {len(self.padding)} dimensions, more than the "
                             "input has", where=where, got=f"got {describe_shape(s)}",
                             fix="give one (before, after) pair per dimension")
        if self.padding_mode != "Fixed":
            for d, (a, b) in zip(s, self.padding):
                if (a or b) and d == 0:
                    raise ShapeError(f"{self.padding_mode} padding needs elements to copy",
                                     where=where, got=f"got an empty dimension in "
                                                      f"{describe_shape(s)}")

    def infer_outputs(self, shapes: dict[str, MaybeShape]) -> dict[str, MaybeShape]:
        s = shapes["Input"]
        if s is None:
            return {"Output": None}
        self._check(s)
        pads = self.padding + ((0, 0),) * (len(s) - len(self.padding))
        return {"Output": tuple(d + a + b for d, (a, b) in zip(s, pads))}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check(tuple(x.shape[1:]))
        if self.padding_mode == "Fixed":
            flat = [v for a, b in reversed(self.padding) for v in (a, b)]
            tail = [0, 0] * (x.dim() - 1 - len(self.padding))
            return F.pad(x, tail + flat, value=self.value)
        fast = self._torch_pad(x)
        if fast is not None:
            return fast
        for d, (a, b) in enumerate(self.padding, start=1):
            if a or b:
                x = x.index_select(d, _indices(x.shape[d], a, b, self.padding_mode, x.device))
        return x

    def _torch_pad(self, x: torch.Tensor) -> torch.Tensor | None:
        """torch's reflect/circular kernels when they apply: padding only on the last 1–3
        dimensions of an example that has a dimension before them, within one period."""
        padded = [i for i, (a, b) in enumerate(self.padding) if a or b]
        if not padded:
            return x
        rank = x.dim() - 1
        first = min(padded)
        k = rank - first
        if k > 3:
            return None
        pads = list(self.padding) + [(0, 0)] * (rank - len(self.padding))
        limit = 1 if self.padding_mode == "Reflected" else 0
        for (a, b), n in zip(pads[first:], x.shape[first + 1:]):
            if max(a, b) > n - limit:
                return None
        flat = [v for a, b in reversed(pads[first:]) for v in (a, b)]
        mode = "reflect" if self.padding_mode == "Reflected" else "circular"
        out = F.pad(x.reshape(-1, *x.shape[first + 1:]), flat, mode=mode)
        return out.reshape(*x.shape[:first + 1], *out.shape[1:])

    def get_config(self) -> dict[str, Any]:
        cfg: dict[str, Any] = {"padding": [list(p) for p in self.padding],
                               "padding_mode": self.padding_mode}
        if self.value != 0:
            cfg["value"] = self.value
        return self._with_input(cfg)


_RESAMPLING = {"Linear": ("linear", "bilinear", "trilinear"), "Nearest": ("nearest",) * 3}


@register_layer
class ResizeLayer(Layer):
    """Resizes the spatial dimensions of a channel-first array (Wolfram's ResizeLayer).

    Args:
        shape: the new spatial dimensions (1–3 ints).
        resampling: ``"Linear"`` (linear, bilinear or trilinear, pixel centres aligned as
            ``F.interpolate(align_corners=False)``) or ``"Nearest"``.
        input: the shape ``(C, *spatial)`` of the input (optional).

    Shape:
        - Input: ``(C, *spatial)``; Output: ``(C, *shape)``.
    """

    def __init__(self, shape: ShapeLike, resampling: str = "Linear", *,
                 input: ShapeLike = None) -> None:
        super().__init__()
        self.shape = shape_arg(shape, "shape", "ResizeLayer")
        if not self.shape or len(self.shape) > 3 or 0 in self.shape:
            raise NetValueError("shape is 1–3 positive spatial sizes", where="ResizeLayer",
                                got=f"got {shape!r}", fix="e.g. ResizeLayer((32, 32))")
        if resampling not in _RESAMPLING:
            raise NetValueError(f"resampling is one of {list(_RESAMPLING)}", where="ResizeLayer",
                                got=f"got {resampling!r}", fix='e.g. resampling="Nearest"')
        self.resampling = resampling
        self._setup(Input=input)

    def infer_outputs(self, shapes: dict[str, MaybeShape]) -> dict[str, MaybeShape]:
        s = shapes["Input"]
        if s is None:
            return {"Output": None}
        if len(s) != len(self.shape) + 1:  # type: ignore[arg-type]
            raise ShapeError(f"expected channels and {len(self.shape)} spatial dimensions",  # type: ignore[arg-type]
                             where='ResizeLayer, port "Input"', got=f"got {describe_shape(s)}",
                             fix="the channel dimension comes first, e.g. (3, 32, 32)")
        return {"Output": (s[0],) + tuple(self.shape)}  # type: ignore[arg-type]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = len(self.shape)  # type: ignore[arg-type]
        mode = _RESAMPLING[self.resampling][d - 1]
        kw = {"align_corners": False} if mode != "nearest" else {}
        return F.interpolate(x, size=tuple(self.shape), mode=mode, **kw)  # type: ignore[arg-type]

    def get_config(self) -> dict[str, Any]:
        return self._with_input({"shape": list(self.shape), "resampling": self.resampling})  # type: ignore[arg-type]
