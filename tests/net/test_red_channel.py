"""Wolfram's NetPortGradient example, as documented: "chain a PoolingLayer to a PartLayer that
extracts the red color channel, calculate the input gradient on a test image, visualize the
gradient". Only the red channel gets gradient, and it is never negative (a max pool passes each
window's output gradient, 1, to the window's maximum)."""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from netgrad import NetPortGradient
from netgrad.demo import red_channel_net, sample_image


def reference_gradient(red: np.ndarray, k: int = 3) -> np.ndarray:
    """Gradient of Σ maxpool(red) (kernel k, stride 1): each window gives 1 to its maxima,
    split evenly between ties (netgrad's convention for max)."""
    g = np.zeros_like(red, dtype=np.float64)
    windows = sliding_window_view(red, (k, k))
    for i in range(windows.shape[0]):
        for j in range(windows.shape[1]):
            w = windows[i, j]
            hits = w == w.max()
            g[i:i + k, j:j + k] += hits / hits.sum()
    return g


def test_only_the_red_channel_gets_gradient_and_it_is_the_max_pool_pattern():
    net = red_channel_net(32)
    img = sample_image(32)
    g = net(img, NetPortGradient("Input"))
    assert g.shape == (3, 32, 32)                            # shaped as the encoded image
    assert not g[1].any() and not g[2].any()                  # green and blue: exactly 0
    assert (g[0] >= 0).all() and g[0].max() > 1               # red: non-negative, peaks at maxima
    assert g[0].sum() == np.float32(30 * 30)                  # one unit per pooled output
    red = net.encoders()["Input"](img)[0]
    np.testing.assert_allclose(g[0], reference_gradient(red), atol=1e-6)
    value = net(img)
    assert value.shape == (30, 30)                            # the pooled red channel


def test_the_gradient_is_visualized(tmp_path):
    from netgrad import plot
    net, img = red_channel_net(32), sample_image(32)
    fig = plot.gradient_image(net, img)
    panels = [ax.images[0].get_array() for ax in fig.axes if ax.images]
    assert len(panels) == 4                                   # the image and three channels
    g = net(img, NetPortGradient("Input"))
    np.testing.assert_array_equal(np.asarray(panels[1]), g[0])
    assert not np.asarray(panels[2]).any() and not np.asarray(panels[3]).any()
    titles = [ax.get_title() for ax in fig.axes]
    assert "gradient, green (all 0)" in titles and "gradient, red" in titles
    fig.savefig(tmp_path / "g.png")
    assert (tmp_path / "g.png").stat().st_size > 5000
