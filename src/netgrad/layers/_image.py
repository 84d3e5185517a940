"""Image layers: ImageAugmentationLayer (random crops and flips in training) and
SpatialTransformationLayer (a learned affine resampling, the spatial transformer)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from .._errors import NetValueError, ShapeError
from .._shapes import MaybeShape, ShapeLike, describe_shape
from ._base import Layer, register_layer
from ._checks import real_number, shape_arg

__all__ = ["ImageAugmentationLayer", "SpatialTransformationLayer"]


def _image_shape(s: MaybeShape, where: str) -> None:
    if s is not None and len(s) != 3:
        raise ShapeError("expected an image: channels, height, width", where=where,
                         got=f"got {describe_shape(s)}", fix="e.g. input=(3, 32, 32)")


@register_layer
class ImageAugmentationLayer(Layer):
    """Random crops and reflections of images in Train mode (Wolfram's
    ImageAugmentationLayer); in Test mode (evaluation, NetPortGradient) the centre crop, so a
    trained net sees what it was trained on without randomness.

    Each example of a batch gets its own crop offset and its own reflections (from torch's
    global generator). The gradient of the input is the incoming gradient at the cropped
    (reflected) positions, 0 elsewhere.

    Args:
        crop_size: ``(height, width)`` of the output (an int for a square).
        reflection_probabilities: probabilities of a left-right and of an up-down reflection in
            Train mode (default ``(0.5, 0.0)``).
        input: the image shape ``(C, H, W)`` (optional).

    Shape:
        - Input: ``(C, H, W)``; Output: ``(C, height, width)``.
    """

    def __init__(self, crop_size: ShapeLike, *, reflection_probabilities: Any = (0.5, 0.0),
                 input: ShapeLike = None) -> None:
        super().__init__()
        where = "ImageAugmentationLayer"
        size = shape_arg(crop_size, "crop_size", where)
        if size is not None and len(size) == 1:
            size = size * 2
        if size is None or len(size) != 2 or 0 in size:
            raise NetValueError("crop_size is a positive (height, width)", where=where,
                                got=f"got {crop_size!r}", fix="e.g. crop_size=(28, 28)")
        self.crop_size = size
        try:
            ph, pv = reflection_probabilities
        except (TypeError, ValueError):
            raise NetValueError("reflection_probabilities is a pair (left-right, up-down)",
                                where=where, got=f"got {reflection_probabilities!r}",
                                fix="e.g. reflection_probabilities=(0.5, 0.0)") from None
        self.reflection_probabilities = (
            real_number(ph, "the left-right reflection probability", where, low=0.0, high=1.0),
            real_number(pv, "the up-down reflection probability", where, low=0.0, high=1.0))
        self._setup(Input=input)

    def infer_outputs(self, shapes: dict[str, MaybeShape]) -> dict[str, MaybeShape]:
        s = shapes["Input"]
        where = 'ImageAugmentationLayer, port "Input"'
        _image_shape(s, where)
        if s is None:
            return {"Output": None}
        h, w = self.crop_size
        if h > s[1] or w > s[2]:
            raise ShapeError(f"the crop ({h}, {w}) must fit in the image", where=where,
                             got=f"got {describe_shape(s)}", fix="crop to at most the image size")
        return {"Output": (s[0], h, w)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, height, width = x.shape
        h, w = self.crop_size
        if not self.training:
            top, left = (height - h) // 2, (width - w) // 2
            return x[:, :, top:top + h, left:left + w]
        dev = x.device
        rows = torch.randint(0, height - h + 1, (n, 1), device=dev) + torch.arange(h, device=dev)
        cols = torch.randint(0, width - w + 1, (n, 1), device=dev) + torch.arange(w, device=dev)
        ph, pv = self.reflection_probabilities
        flip_lr = torch.rand(n, 1, device=dev) < ph
        flip_ud = torch.rand(n, 1, device=dev) < pv
        cols = torch.where(flip_lr, cols.flip(-1), cols)
        rows = torch.where(flip_ud, rows.flip(-1), rows)
        batch = torch.arange(n, device=dev)[:, None, None]
        out = x[batch, :, rows[:, :, None], cols[:, None, :]]  # (n, h, w, C)
        return out.permute(0, 3, 1, 2)

    def get_config(self) -> dict[str, Any]:
        return self._with_input({"crop_size": list(self.crop_size),
                                 "reflection_probabilities": list(self.reflection_probabilities)})


@register_layer
class SpatialTransformationLayer(Layer):
    """Resamples an image through an affine map given by port "Parameters" (Wolfram's
    SpatialTransformationLayer; the spatial transformer of Jaderberg et al.): output pixel
    ``(u, v)`` in normalized coordinates ``[-1, 1]`` reads the input at
    ``A·(u, v, 1)``, ``A`` the 2×3 matrix of the six parameters (row-major; ``(1, 0, 0, 0, 1,
    0)`` is the identity), bilinearly, zero outside the image (``F.affine_grid`` and
    ``F.grid_sample`` with ``align_corners=False``).

    Args:
        shape: the output's ``(height, width)``.
        input: the image shape ``(C, H, W)`` (optional).

    Shape:
        - Input: ``(C, H, W)``; Parameters: ``(6,)``; Output: ``(C, height, width)``.
    """

    input_ports = ("Input", "Parameters")

    def __init__(self, shape: ShapeLike, *, input: ShapeLike = None) -> None:
        super().__init__()
        size = shape_arg(shape, "shape", "SpatialTransformationLayer")
        if size is None or len(size) != 2 or 0 in size:
            raise NetValueError("shape is a positive (height, width)",
                                where="SpatialTransformationLayer", got=f"got {shape!r}",
                                fix="e.g. SpatialTransformationLayer((28, 28))")
        self.shape = size
        self._setup(Input=input, Parameters=6)

    def infer_outputs(self, shapes: dict[str, MaybeShape]) -> dict[str, MaybeShape]:
        s = shapes["Input"]
        _image_shape(s, 'SpatialTransformationLayer, port "Input"')
        p = shapes["Parameters"]
        if p is not None and p != (6,):
            raise ShapeError("Parameters are the 6 entries of a 2×3 affine matrix",
                             where='SpatialTransformationLayer, port "Parameters"',
                             got=f"got {describe_shape(p)}",
                             fix="e.g. LinearLayer(6) before it; (1, 0, 0, 0, 1, 0) is the identity")
        return {"Output": None if s is None else (s[0],) + tuple(self.shape)}

    def forward(self, x: torch.Tensor, parameters: torch.Tensor) -> torch.Tensor:
        theta = parameters.reshape(-1, 2, 3).to(x.dtype)
        grid = F.affine_grid(theta, [x.shape[0], x.shape[1], *self.shape],
                             align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    def get_config(self) -> dict[str, Any]:
        return self._with_input({"shape": list(self.shape)})
