"""netgrad.plot: figures checked for content (artists, pixels), saved as PNG and SVG."""

import io

import numpy as np
import pytest
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
from PIL import Image

from netgrad import LinearLayer, NetChain, NetgradError, plot
from netgrad.demo import classifier_graph, red_channel_net, sample_image
from netgrad.encoders import NetEncoder


def gids(fig, prefix, kind):
    return [p.get_gid() for p in fig.axes[0].patches
            if isinstance(p, kind) and (p.get_gid() or "").startswith(prefix)]


def rendered(fig) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(fig._repr_png_())).convert("RGB"), dtype=float)


def test_net_graph_draws_every_layer_port_edge_and_group():
    net = classifier_graph()
    fig = plot.net_graph(net)
    layers = gids(fig, "layer:", FancyBboxPatch)
    assert sorted(layers) == sorted(f"layer:{p}" for p in [
        "features/conv", "features/ramp", "features/pool", "max", "mean", "join", "flat",
        "classify/linear", "classify/softmax"])
    assert sorted(gids(fig, "port:", FancyBboxPatch)) == ["port:Input", "port:Output"]
    assert sorted(gids(fig, "group:", FancyBboxPatch)) == ["group:classify", "group:features"]
    # Input→conv→ramp→pool, pool→max, pool→mean, max→join, mean→join, join→flat→linear→softmax→Output
    assert len(gids(fig, "edge:", FancyArrowPatch)) == 11
    texts = [t.get_text() for t in fig.axes[0].texts]
    for expected in ["conv", "ConvolutionLayer", "(1, 16, 16) → (6, 14, 14)", 'NetEncoder("Image")',
                     'NetDecoder("Class")', '"features" (NetChain)']:
        assert expected in texts


def test_net_graph_boxes_do_not_overlap_and_text_is_inside_the_figure():
    fig = plot.net_graph(classifier_graph())
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [p for p in fig.axes[0].patches if isinstance(p, FancyBboxPatch)
             and not p.get_gid().startswith("group:")]
    extents = [b.get_window_extent(renderer) for b in boxes]
    for i, a in enumerate(extents):
        for b in extents[i + 1:]:
            assert not a.overlaps(b)
    frame = fig.bbox
    for t in fig.axes[0].texts:
        e = t.get_window_extent(renderer)
        assert frame.x0 <= e.x0 and e.x1 <= frame.x1 and frame.y0 <= e.y0 and e.y1 <= frame.y1, t
    for e in extents:                         # each box's lines fit inside it
        inside = [t for t in fig.axes[0].texts
                  if e.contains(*t.get_window_extent(renderer).get_points().mean(0))]
        for t in inside:
            te = t.get_window_extent(renderer)
            assert e.x0 <= te.x0 and te.x1 <= e.x1, t.get_text()


def test_figures_are_not_blank_and_save_as_png_and_svg(tmp_path):
    fig = plot.net_graph(NetChain([LinearLayer(3), "Tanh"], input=2))
    pixels = rendered(fig)
    assert pixels.std() > 10 and (pixels < 100).mean() > 0.002   # dark ink on white
    fig.savefig(tmp_path / "n.svg")
    assert (tmp_path / "n.svg").read_text().lstrip().startswith("<?xml")
    assert fig._repr_png_()[:8] == b"\x89PNG\r\n\x1a\n"
    g = plot.gradient_image(red_channel_net(16), sample_image(16))
    pixels = rendered(g)
    red_ink = (pixels[:, :, 0] > 150) & (pixels[:, :, 2] < 120)
    assert red_ink.sum() > 50                                      # positive gradients are red


def test_image_turns_an_encoded_array_back_into_a_picture():
    enc = NetEncoder("Image", size=8, mean=0.5, variance=0.04)
    encoded = enc(sample_image(8))
    fig = plot.image(encoded, enc)
    shown = np.asarray(fig.axes[0].images[0].get_array())
    np.testing.assert_allclose(shown, np.asarray(sample_image(8)) / 255, atol=1e-6)
    signed = plot.image(-encoded)                                   # negative values: signed
    assert len([ax for ax in signed.axes if ax.images]) == 3
    assert signed.axes[0].images[0].get_cmap().name == plot.DIVERGING
    with pytest.raises(NetgradError, match="channel-first") as e:
        plot.image(np.zeros((2, 4, 4)))
    assert e.value.fix


def _deep_graph():
    from netgrad import MeanSquaredLossLayer, NetGraph
    inner = NetChain({"a": LinearLayer(4), "b": "Tanh"})
    mid = NetChain({"inner": inner, "c": LinearLayer(2)})
    return NetGraph({"mid": mid, "loss": MeanSquaredLossLayer()}, [("mid", "loss")], Input=3)


@pytest.mark.parametrize("make", [classifier_graph, _deep_graph])
def test_arrows_pass_through_no_other_box_and_outsiders_stay_out_of_groups(make):
    from netgrad.plot._graph import layout_graph
    lay = layout_graph(make())
    boxes = list(lay.nodes.values())
    for a, b in lay.edges:
        na, nb = lay.nodes[a], lay.nodes[b]
        x0, y0 = na.x + na.w / 2, na.y + na.h
        x1, y1 = nb.x + nb.w / 2, nb.y
        for t in np.linspace(0.02, 0.98, 60):
            px, py = x0 + t * (x1 - x0), y0 + t * (y1 - y0)
            for n in boxes:
                if n.key not in (a, b):
                    assert not (n.x < px < n.x + n.w and n.y < py < n.y + n.h), (a, b, n.key)
    for path in lay.groups:           # a node outside a group is not drawn inside its rectangle
        members = [n for n in boxes if n.group[:len(path)] == path]
        left, right = min(n.x for n in members), max(n.x + n.w for n in members)
        top, bottom = min(n.y for n in members), max(n.y + n.h for n in members)
        for n in boxes:
            if n not in members:
                assert n.x >= right or n.x + n.w <= left or n.y >= bottom or n.y + n.h <= top, n.key
