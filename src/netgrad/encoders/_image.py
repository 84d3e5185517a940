"""Images in and out: ``NetEncoder("Image", ...)`` and ``NetDecoder("Image", ...)`` (Pillow).

An encoded image is a channel-first float32 array ``(C, height, width)`` with values in [0, 1]
(then ``(x - mean) / sqrt(variance)`` per channel when those are given), as Wolfram's image
encoder produces. Decoding undoes the normalization and gives a PIL image.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._errors import NetTypeError, NetValueError, ShapeError
from ._base import NetDecoder, NetEncoder, short_repr, show_option

__all__ = ["ImageEncoder", "ImageDecoder", "COLOR_SPACES", "RESAMPLING"]

#: color space → number of channels
COLOR_SPACES = {"RGB": 3, "Grayscale": 1}
#: resampling filter names (Pillow's filters); bilinear is antialiased when shrinking
RESAMPLING = ("bilinear", "nearest", "bicubic", "lanczos", "box")
# PIL modes Pillow converts faithfully to "RGB" and "L" (8 bits per channel)
_EIGHT_BIT_MODES = frozenset({"1", "L", "LA", "La", "P", "PA", "RGB", "RGBA", "RGBa", "RGBX",
                              "CMYK", "YCbCr", "LAB", "HSV"})
_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})
# ITU-R 601-2 luma, the weights Pillow's convert("L") uses
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float64)

_ACCEPTED = ("a PIL image, an image file path, or a NumPy array (height, width) or "
             "(height, width, channels) with 1, 3 or 4 channels")


def _size(value: Any) -> tuple[int, int]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value, value)
    if not (isinstance(value, (tuple, list)) and len(value) == 2 and all(
            isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in value)):
        raise NetTypeError('an image size is (width, height), two positive ints',
                           where='NetEncoder("Image")', got=f"got size={short_repr(value)}",
                           fix="e.g. NetEncoder(\"Image\", size=(32, 32))")
    return int(value[0]), int(value[1])


def _per_channel(value: Any, channels: int, name: str, where: str, positive: bool) -> list[float] | None:
    if value is None:
        return None
    items = [value] if isinstance(value, (int, float)) and not isinstance(value, bool) else value
    try:
        numbers = [float(v) for v in items]
    except (TypeError, ValueError):
        numbers = []
    ok = len(numbers) in (1, channels) and all(np.isfinite(numbers)) and \
        (not positive or all(v > 0 for v in numbers))
    if not ok:
        rule = "a positive number" if positive else "a number"
        raise NetValueError(f"{name} is {rule} or one per channel ({channels})", where=where,
                            got=f"got {name}={short_repr(value)}",
                            fix=f"e.g. {name}=0.5 or {name}={[0.5] * channels}")
    return numbers * channels if len(numbers) == 1 else numbers


def _color_space(value: Any, where: str) -> str:
    if value in COLOR_SPACES:
        return value
    close = [c for c in COLOR_SPACES if isinstance(value, str) and c.lower() == value.lower()]
    raise NetValueError(f"color_space is one of {list(COLOR_SPACES)}", where=where,
                        got=f"got {short_repr(value)}",
                        fix=f"did you mean {close[0]!r}?" if close else 'use "RGB" or "Grayscale"')


class ImageEncoder(NetEncoder):
    """``NetEncoder("Image", size=(width, height), color_space="RGB", mean=None, variance=None)``.

    Args:
        size: (width, height) of the encoded image (an int for a square); images of another
            size are resized with ``resampling`` (Pillow's filters; bilinear shrinks with
            antialiasing).
        color_space: ``"RGB"`` (3 channels) or ``"Grayscale"`` (1); images are converted
            (RGB → gray by ITU-R 601-2 luma, as Pillow does; gray → RGB by copying; alpha is
            dropped).
        mean, variance: per-channel (or one for all) normalization: ``(x - mean) / sqrt(variance)``.
        resize: ``False`` refuses images of another size instead of resizing them.
        resampling: ``"bilinear"`` (default), ``"nearest"``, ``"bicubic"``, ``"lanczos"``, ``"box"``.

    Accepts one image (a PIL image; a file path; a NumPy array ``(h, w)`` or ``(h, w, c)``:
    ``uint8`` in 0…255, ``uint16`` in 0…65535, floats in [0, 1], bool) or a batch (a list of
    images, or an array ``(n, h, w, c)``).

    Shape:
        - Output: ``(channels, height, width)`` float32; a batch ``(n, channels, height, width)``.
    """

    kind = "Image"

    def __init__(self, kind: str = "Image", size: Any = None, color_space: str = "RGB",
                 mean: Any = None, variance: Any = None, *, resize: bool = True,
                 resampling: str = "bilinear") -> None:
        where = self.where
        if size is None:
            raise NetTypeError("an image encoder needs the size of its images", where=where,
                               got="got no size", fix='NetEncoder("Image", size=(32, 32))')
        self.size = _size(size)
        self.color_space = _color_space(color_space, where)
        self.channels = COLOR_SPACES[self.color_space]
        self.mean = _per_channel(mean, self.channels, "mean", where, positive=False)
        self.variance = _per_channel(variance, self.channels, "variance", where, positive=True)
        if not isinstance(resize, bool):
            raise NetTypeError("resize is True or False", where=where, got=f"got {short_repr(resize)}")
        if resampling not in RESAMPLING:
            raise NetValueError(f"resampling is one of {list(RESAMPLING)}", where=where,
                                got=f"got {short_repr(resampling)}")
        self.resize = resize
        self.resampling = resampling
        w, h = self.size
        self.shape = (self.channels, h, w)

    def get_config(self) -> dict[str, Any]:
        return {"size": list(self.size), "color_space": self.color_space, "mean": self.mean,
                "variance": self.variance, "resize": self.resize, "resampling": self.resampling}

    def __repr__(self) -> str:
        parts = [f"size={self.size}", f"color_space={show_option(self.color_space)}"]
        if self.mean is not None:
            parts.append(f"mean={_compact(self.mean)}")
        if self.variance is not None:
            parts.append(f"variance={_compact(self.variance)}")
        if not self.resize:
            parts.append("resize=False")
        if self.resampling != "bilinear":
            parts.append(f"resampling={show_option(self.resampling)}")
        return f'NetEncoder("Image", {", ".join(parts)})'

    # ---- batches --------------------------------------------------------------------------------
    def is_batch(self, value: Any) -> bool:
        if isinstance(value, (list, tuple)):
            return True
        return isinstance(value, np.ndarray) and value.ndim == 4

    # ---- one image ------------------------------------------------------------------------------
    def encode_one(self, value: Any) -> np.ndarray:
        from PIL import Image
        if isinstance(value, (str, os.PathLike)):
            value = self._open(value)
        if isinstance(value, Image.Image):
            pixels = self._pil_pixels(value)
        elif isinstance(value, np.ndarray):
            pixels = self._array_pixels(value)
        else:
            raise NetTypeError(f"an image is {_ACCEPTED}", where=self.where,
                               got=f"got {type(value).__name__} {short_repr(value)}",
                               fix="open it with PIL.Image.open, or pass the file's path")
        return self._normalize(self._resized(self._converted(pixels)))

    def _open(self, path: Any):
        from PIL import Image, UnidentifiedImageError
        shown = os.fspath(path)
        if not os.path.isfile(shown):
            raise NetValueError("an image path names an existing file", where=self.where,
                                got=f"got {shown!r}, which does not exist",
                                fix="check the path (relative paths start at "
                                    f"{os.getcwd()!r})")
        try:
            with Image.open(shown) as img:
                img.load()
                return img.copy()
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError,
                Image.DecompressionBombError) as e:
            raise NetValueError("an image file is a readable image (PNG, JPEG, GIF, BMP, TIFF, "
                                "WebP, ...)", where=self.where,
                                got=f"got {os.path.basename(shown)!r}: {type(e).__name__}: {e}",
                                fix="the file is corrupted, truncated or not an image; open it "
                                    "in an image program and save it again") from None

    def _pil_pixels(self, img) -> np.ndarray:
        """(h, w, c) float64 in [0, 1] with c = 1 (gray) or 3 (RGB)."""
        mode = img.mode
        if mode in _EIGHT_BIT_MODES:
            target = "L" if mode in ("1", "L", "LA", "La") else "RGB"
            a = np.asarray(img.convert(target), dtype=np.float64) / 255.0
        elif mode in _SIXTEEN_BIT_MODES:
            a = np.asarray(img, dtype=np.float64) / 65535.0
        elif mode == "F":
            a = np.asarray(img, dtype=np.float64)
        else:
            raise NetValueError("an image has a mode with a known value range: "
                                f"{sorted(_EIGHT_BIT_MODES | _SIXTEEN_BIT_MODES | {'F'})}",
                                where=self.where, got=f"got a PIL image of mode {mode!r}",
                                fix="convert it first, e.g. img.convert(\"RGB\"), or pass "
                                    "np.asarray(img) / its maximum as floats in [0, 1]")
        return self._checked(a if a.ndim == 3 else a[:, :, None], f"mode {mode!r}")

    def _array_pixels(self, a: np.ndarray) -> np.ndarray:
        if a.ndim == 2:
            a = a[:, :, None]
        if a.ndim != 3 or a.shape[2] not in (1, 3, 4):
            raise NetValueError("an image array is (height, width) or (height, width, channels) "
                                "with 1 (gray), 3 (RGB) or 4 (RGBA) channels", where=self.where,
                                got=f"got an array of shape {a.shape}",
                                fix="for a channel-first (c, h, w) array pass a.transpose(1, 2, 0); "
                                    "a batch is a list of images or an (n, h, w, c) array")
        kind = a.dtype.kind
        if kind == "b":
            f = a.astype(np.float64)
        elif a.dtype == np.uint8:
            f = a.astype(np.float64) / 255.0
        elif a.dtype == np.uint16:
            f = a.astype(np.float64) / 65535.0
        elif kind in "iu":
            lo, hi = (int(a.min()), int(a.max())) if a.size else (0, 0)
            if lo < 0 or hi > 255:
                raise NetValueError("an integer image array holds 0…255 (or is uint16)",
                                    where=self.where,
                                    got=f"got {a.dtype} values from {lo} to {hi}",
                                    fix="pass floats in [0, 1], e.g. a / a.max()")
            f = a.astype(np.float64) / 255.0
        elif kind == "f":
            f = a.astype(np.float64)
        else:
            raise NetTypeError("an image array holds real numbers", where=self.where,
                               got=f"got dtype {a.dtype}", fix="pass uint8 (0…255) or floats in [0, 1]")
        if f.shape[2] == 4:
            f = f[:, :, :3]  # alpha is dropped, as Pillow's convert("RGB") does
        return self._checked(f, f"an array of shape {a.shape}")

    def _checked(self, a: np.ndarray, what: str) -> np.ndarray:
        if a.shape[0] == 0 or a.shape[1] == 0:
            raise NetValueError("an image has at least one pixel", where=self.where,
                                got=f"got {what} of {a.shape[1]}×{a.shape[0]} pixels")
        if not np.isfinite(a).all():
            raise NetValueError("image values are finite", where=self.where,
                                got=f"got {int((~np.isfinite(a)).sum())} NaN or infinite values "
                                    f"in {what}", fix="replace them (np.nan_to_num)")
        if not self.resize and (a.shape[1], a.shape[0]) != self.size:
            raise ShapeError(f"an image is {self.size[0]}×{self.size[1]} (width × height): this "
                             "encoder has resize=False", where=self.where,
                             got=f"got {a.shape[1]}×{a.shape[0]}",
                             fix=f"resize it first (img.resize({self.size})) or use "
                                 "resize=True (the default)")
        return a

    def _converted(self, a: np.ndarray) -> np.ndarray:
        if a.shape[2] == self.channels:
            return a
        if self.channels == 1:
            return (a @ _LUMA)[:, :, None]
        return np.repeat(a, 3, axis=2)

    def _resized(self, a: np.ndarray) -> np.ndarray:
        """(h, w, c) → (c, H, W) float32, each channel resampled in 32-bit float."""
        from PIL import Image
        w, h = self.size
        if (a.shape[1], a.shape[0]) == (w, h):
            return np.ascontiguousarray(a.transpose(2, 0, 1), dtype=np.float32)
        flt = getattr(Image.Resampling, self.resampling.upper())
        out = np.empty((a.shape[2], h, w), dtype=np.float32)
        for c in range(a.shape[2]):
            channel = Image.fromarray(np.ascontiguousarray(a[:, :, c], dtype=np.float32))
            out[c] = np.asarray(channel.resize((w, h), flt), dtype=np.float32)
        return out

    def _normalize(self, a: np.ndarray) -> np.ndarray:
        if self.mean is not None:
            a = a - np.asarray(self.mean, dtype=np.float32)[:, None, None]
        if self.variance is not None:
            a = a / np.sqrt(np.asarray(self.variance, dtype=np.float32))[:, None, None]
        return a.astype(np.float32, copy=False)

    def denormalize(self, array: Any) -> np.ndarray:
        """Undo mean and variance: an encoded ``(c, h, w)`` array back to [0, 1] intensities."""
        return _denormalize(np.asarray(array, dtype=np.float64), self.mean, self.variance)


def _denormalize(a: np.ndarray, mean: Sequence[float] | None,
                 variance: Sequence[float] | None) -> np.ndarray:
    if variance is not None:
        a = a * np.sqrt(np.asarray(variance))[:, None, None]
    if mean is not None:
        a = a + np.asarray(mean)[:, None, None]
    return a


def _compact(values: list[float]) -> Any:
    return values[0] if len(set(values)) == 1 else values


class ImageDecoder(NetDecoder):
    """``NetDecoder("Image", color_space=None, mean=None, variance=None)``: an output array
    ``(c, h, w)`` (c = 1 or 3) → a PIL image (mode "L" or "RGB").

    ``mean`` and ``variance`` are undone (as the image encoder with the same options applied
    them); values are then clipped to [0, 1]. ``color_space`` (when given) fixes the channels.
    """

    kind = "Image"
    properties = ("Image", "Array")

    def __init__(self, kind: str = "Image", color_space: str | None = None, mean: Any = None,
                 variance: Any = None) -> None:
        where = self.where
        self.color_space = None if color_space is None else _color_space(color_space, where)
        n = COLOR_SPACES.get(self.color_space or "", 3)
        self.mean = _per_channel(mean, n, "mean", where, positive=False)
        self.variance = _per_channel(variance, n, "variance", where, positive=True)
        if self.color_space is None and (self.mean or self.variance) and \
                len(set((self.mean or []) + (self.variance or []))) > 1:
            raise NetValueError("per-channel mean or variance needs a color_space", where=where,
                                got=f"got mean={self.mean}, variance={self.variance}",
                                fix='add color_space="RGB" (or "Grayscale")')

    def get_config(self) -> dict[str, Any]:
        return {"color_space": self.color_space, "mean": self.mean, "variance": self.variance}

    def check_shape(self, shape: tuple[int, ...] | None, where: str) -> None:
        want = COLOR_SPACES.get(self.color_space or "")
        if shape is None:
            return
        if len(shape) != 3 or shape[0] not in ((want,) if want else (1, 3)):
            channels = f"{want}" if want else "1 or 3"
            raise ShapeError(f"an image decoder reads an array (channels, height, width) with "
                             f"{channels} channels", where=where, got=f"got shape {shape}",
                             fix="check the net's last layers (e.g. a ConvolutionLayer with "
                                 f"{want or 3} output channels)")

    def decode(self, array: Any, prop: Any = None, *, batched: bool | None = None) -> Any:
        a = np.asarray(array) if not hasattr(array, "detach") else array.detach().cpu().numpy()
        if batched is None:
            batched = a.ndim == 4
        return super().decode(a, prop, batched=batched)

    def decode_one(self, array: np.ndarray, prop: str, arg: Any) -> Any:
        from PIL import Image
        self.check_shape(tuple(array.shape), self.where)
        n = array.shape[0]
        mean = None if self.mean is None else (self.mean * n)[:n]
        var = None if self.variance is None else (self.variance * n)[:n]
        a = _denormalize(np.asarray(array, dtype=np.float64), mean, var)
        if prop == "Array":
            return a.astype(np.float32)
        pixels = np.round(np.clip(np.nan_to_num(a), 0.0, 1.0) * 255.0).astype(np.uint8)
        if n == 1:
            return Image.fromarray(pixels[0])
        return Image.fromarray(np.ascontiguousarray(pixels.transpose(1, 2, 0)))
