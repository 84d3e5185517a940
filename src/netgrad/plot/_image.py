"""Arrays as pictures: ``image`` (an encoded image or a gradient, channel-first) and
``gradient_image`` (a net's input gradient on an image, beside the image)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._errors import NetTypeError, NetValueError, ShapeError
from ._figure import new_figure

__all__ = ["image", "gradient_image", "DIVERGING"]

#: the colour map of signed values: blue < 0, white = 0, red > 0
DIVERGING = "RdBu_r"
_CHANNELS = {1: ("gray",), 3: ("red", "green", "blue")}


def _channel_first(array: Any, what: str) -> np.ndarray:
    if hasattr(array, "detach"):
        array = array.detach().cpu().numpy()
    a = np.asarray(array, dtype=np.float64)
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3 or a.shape[0] not in (1, 3):
        raise ShapeError(f"{what} is channel-first, (channels, height, width) with 1 or 3 "
                         "channels, or (height, width)", where="netgrad.plot",
                         got=f"got an array of shape {a.shape}",
                         fix="for a batch pass one example, e.g. array[0]; for (h, w, c) pass "
                             "array.transpose(2, 0, 1)")
    if not np.isfinite(a).all():
        raise NetValueError(f"{what} holds finite values", where="netgrad.plot",
                            got=f"got {int((~np.isfinite(a)).sum())} NaN or infinite values")
    return a


def _show_picture(ax: Any, a: np.ndarray, title: str) -> None:
    """a: (c, h, w) intensities in [0, 1] (clipped)."""
    pixels = np.clip(a, 0.0, 1.0)
    if pixels.shape[0] == 1:
        ax.imshow(pixels[0], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    else:
        ax.imshow(pixels.transpose(1, 2, 0), interpolation="nearest")
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])


def _panel_axes(fig: Any, n: int, picture: bool) -> tuple[Any, list[Any], Any]:
    """(picture axes or None, n panel axes, colour-bar axes) in one row of equal squares."""
    k = n + picture
    grid = fig.add_gridspec(1, k + 1, width_ratios=[1.0] * k + [0.06], wspace=0.12,
                            left=0.02, right=0.93, top=0.84, bottom=0.04)
    axes = [fig.add_subplot(grid[0, i]) for i in range(k)]
    bar_ax = fig.add_subplot(grid[0, k])
    return (axes[0] if picture else None), axes[picture:], bar_ax


def _signed_panels(bar_ax: Any, axes: list[Any], g: np.ndarray, label: str) -> Any:
    """One panel per channel of the signed array g, one symmetric colour scale for all."""
    m = float(np.abs(g).max())
    limit = m if m > 0 else 1.0
    names = _CHANNELS[g.shape[0]]
    shown = None
    for ax, channel, name in zip(axes, g, names):
        shown = ax.imshow(channel, cmap=DIVERGING, vmin=-limit, vmax=limit,
                          interpolation="nearest")
        nonzero = int(np.count_nonzero(channel))
        ax.set_title(f"{label}, {name}" + ("" if nonzero else " (all 0)"), fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    bar = bar_ax.figure.colorbar(shown, cax=bar_ax)
    bar.ax.tick_params(labelsize=8)
    bar.set_label(f"{label} (max |value| {m:.3g})", fontsize=9)
    return bar


def image(array: Any, encoder: Any = None, *, signed: bool | None = None,
          title: str | None = None) -> Any:
    """An array in a port's layout, as a picture.

    Args:
        array: ``(channels, height, width)`` (1 or 3 channels) or ``(height, width)``: an encoded
            image, a gradient with respect to one (``net(img, NetPortGradient("Input"))``), or any
            channel-first array.
        encoder: the port's image encoder; its mean and variance are undone first, so an
            encoded image looks like the original.
        signed: draw each channel in a diverging colour map (blue < 0, white 0, red > 0) with one
            symmetric scale, as gradients are; default: when the array has negative values and
            no encoder is given.
        title: the figure's title.

    Returns:
        a matplotlib Figure (``fig.savefig("x.png")`` or ``"x.svg"``; Jupyter shows it).
    """
    a = _channel_first(array, "the array")
    if encoder is not None:
        if not hasattr(encoder, "denormalize"):
            raise NetTypeError("encoder is an image encoder", where="netgrad.plot.image",
                               got=f"got {encoder!r}", fix='NetEncoder("Image", size=...)')
        a = encoder.denormalize(a)
    if signed is None:
        signed = encoder is None and float(a.min()) < 0
    if signed:
        n = a.shape[0]
        fig = new_figure(0.5 + 2.6 * n, 3.0)
        _, axes, bar_ax = _panel_axes(fig, n, picture=False)
        _signed_panels(bar_ax, axes, a, "value")
    else:
        fig = new_figure(3.6, 3.8)
        ax = fig.add_axes((0.04, 0.03, 0.92, 0.84))
        peak = float(a.max())
        _show_picture(ax, a / peak if peak > 1 else a, f"{a.shape[2]}×{a.shape[1]} image")
    if title:
        fig.suptitle(title, fontsize=11)
    return fig


def gradient_image(net: Any, image: Any, port: str = "Input", *, data: Any = None,
                   title: str | None = None) -> Any:
    """A net's gradient with respect to an image input, beside the image.

    The gradient (``net(image, NetPortGradient(port))``, of the sum of the outputs) is drawn per
    channel in a diverging colour map (blue < 0, white = 0, red > 0) with one symmetric scale,
    so a channel that gets no gradient is plainly white.

    Args:
        net: a net whose input ``port`` takes images (with an image encoder, or channel-first
            arrays).
        image: what the port takes: a PIL image, path or array for an encoder; else a
            ``(channels, height, width)`` array.
        port: the input port.
        data: the other input ports' data, for a net with several inputs.
        title: the figure's title (default: which gradient is drawn).

    Returns:
        a matplotlib Figure: the image (as the net sees it), then one panel per channel.
    """
    from ..gradient import NetPortGradient
    encoder = net.encoders().get(port)
    encoded = encoder(image) if encoder is not None else np.asarray(image, dtype=np.float64)
    picture = encoder.denormalize(encoded) if hasattr(encoder, "denormalize") else encoded
    picture = _channel_first(picture, "the image")
    if data is not None or len(net.input_names()) > 1:
        inputs = dict(data or {})
        inputs[port] = image
        grad = net(inputs, NetPortGradient(port))
    else:
        grad = net(image, NetPortGradient(port))
    g = _channel_first(grad, "the gradient")
    n = g.shape[0]
    fig = new_figure(0.5 + 2.6 * (n + 1), 3.0)
    picture_ax, axes, bar_ax = _panel_axes(fig, n, picture=True)
    _show_picture(picture_ax, picture, "image")
    _signed_panels(bar_ax, axes, g, "gradient")
    fig.suptitle(title or f'NetPortGradient("{port}") of the sum of the outputs', fontsize=11)
    return fig
