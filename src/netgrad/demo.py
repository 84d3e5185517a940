"""The demo behind ``python -m netgrad``: the seed net evaluated and differentiated.

Everything here runs on data embedded in this file.
"""

from __future__ import annotations

import numpy as np

from . import (AggregationLayer, All, ElementwiseLayer, LinearLayer, NetChain, NetGraph,
               NetInitialize, NetPortGradient, ThreadingLayer)

__all__ = ["run_demo", "run_pictures", "seed_net", "workaround_graph", "sample_image",
           "red_channel_net", "classifier_graph", "write_figures"]

SEED_POINTS = ([4.0, 2.0], [4.0, -2.0], [-4.0, -2.0])


def seed_net(input=None) -> NetChain:
    """x·y when both are positive, else 0: ``NetChain[{ElementwiseLayer[Ramp], AggregationLayer[Times, 1]}]``."""
    return NetChain(["Ramp", AggregationLayer("Times", 1)], input=input)


def workaround_graph() -> NetGraph:
    """The workaround from the original report: (r₁+1)(r₂+1) − (r₁+r₂) − 1 = r₁·r₂."""
    return NetGraph(
        {"ramp": "Ramp", "plus1": ElementwiseLayer(lambda x: x + 1),
         "times": AggregationLayer("Times", 1), "sum": AggregationLayer("Total", 1),
         "sub": ThreadingLayer(lambda x, y: x - y - 1)},
        [("ramp", "plus1", "times"), ("ramp", "sum"), (["times", "sum"], "sub")])


def run_demo(print_fn=print) -> None:
    net = seed_net()
    print_fn("The seed net: NetChain([\"Ramp\", AggregationLayer(\"Times\", 1)])")
    print_fn(str(net))
    print_fn("")
    header = 'NetPortGradient("Input")'
    print_fn(f"{'input':>14}  {'value':>6}  {header:>26}")
    for x in SEED_POINTS:
        value = net(x)
        grad = net(x, NetPortGradient("Input"))
        print_fn(f"{str(x):>14}  {value:>6.1f}  {np.array2string(grad):>26}")
    print_fn("(MXNet's product gradient, output / input, is 0/0 = NaN at the last two points.)")

    print_fn("")
    print_fn("With input=2 declared, a (3, 2) array is a batch of three examples "
             "(input gradients are per example):")
    print_fn(np.array2string(seed_net(input=2)(np.array(SEED_POINTS), NetPortGradient("Input"))))

    g = workaround_graph()
    print_fn("")
    print_fn("The workaround graph from the same report, (r1+1)(r2+1) - (r1+r2) - 1:")
    for x in SEED_POINTS[:2]:
        print_fn(f"  {x} -> {g(x):.1f}, gradient {g(x, NetPortGradient('Input'))}")

    chain = NetInitialize(NetChain({"lin1": LinearLayer(3), "act": "Tanh", "lin2": LinearLayer(1)},
                                   input=2), seed=1)
    x = [0.5, -1.0]
    print_fn("")
    print_fn("A linear chain, every gradient in one call, NetPortGradient(All):")
    print_fn(str(chain))
    for spec, grad in chain(x, NetPortGradient(All)).items():
        print_fn(f"  {spec!r}: {np.array2string(np.asarray(grad), prefix='    ')}")
    imposed = chain({"Input": x, NetPortGradient("Output"): [2.0]}, NetPortGradient("Input"))
    print_fn(f"  with output gradient 2 imposed, NetPortGradient('Input') = {imposed}")


# ---- pictures: the red-channel gradient and a drawn net ---------------------------------------

def sample_image(size: int = 64):
    """A generated RGB test image (PIL), the same on every machine: a red bump with waves, green
    stripes and a blue ramp."""
    from PIL import Image
    y, x = np.mgrid[0:size, 0:size].astype(np.float64) / size
    bump = np.exp(-((x - 0.38) ** 2 + (y - 0.42) ** 2) / 0.02)
    red = 0.15 + 0.55 * bump + 0.25 * (0.5 + 0.5 * np.sin(17.0 * x) * np.cos(11.0 * y))
    green = 0.2 + 0.6 * (np.sin(9.0 * np.pi * y) > 0.3) * (x > 0.55)
    blue = 0.1 + 0.8 * (x + y) / 2
    rgb = np.stack([red, green, blue], axis=-1)
    return Image.fromarray(np.round(np.clip(rgb, 0, 1) * 255).astype(np.uint8))


def red_channel_net(size: int = 64) -> NetChain:
    """Wolfram's NetPortGradient example: a PoolingLayer chained to a PartLayer that extracts the
    red colour channel, on images encoded at ``size`` × ``size``."""
    from .encoders import NetEncoder
    from .layers import PartLayer, PoolingLayer
    return NetChain({"pool": PoolingLayer(3, 1), "red": PartLayer(0)},
                    input=NetEncoder("Image", size=(size, size)))


def classifier_graph() -> NetGraph:
    """A small image classifier with a nested feature chain and two branches, for drawing."""
    from .encoders import NetDecoder, NetEncoder
    from .layers import (CatenateLayer, ConvolutionLayer, FlattenLayer, PoolingLayer,
                         SoftmaxLayer)
    features = NetChain({"conv": ConvolutionLayer(6, 3), "ramp": "Ramp",
                         "pool": PoolingLayer(2, 2)})
    return NetGraph({"features": features,
                     "max": PoolingLayer(2, 2, "Max"), "mean": PoolingLayer(2, 2, "Mean"),
                     "join": CatenateLayer(), "flat": FlattenLayer(),
                     "classify": NetChain({"linear": LinearLayer(3), "softmax": SoftmaxLayer()})},
                    [("features", "max"), ("features", "mean"), (["max", "mean"], "join"),
                     ("join", "flat", "classify")],
                    Input=NetEncoder("Image", size=(16, 16), color_space="Grayscale"),
                    Output=NetDecoder("Class", ["circle", "square", "triangle"]))


def write_figures(folder) -> list[str]:
    """Write the README's pictures to ``folder`` (PNG): the red-channel gradient and a drawn
    NetGraph. Returns their paths."""
    import os
    from . import plot
    os.makedirs(folder, exist_ok=True)
    paths = []
    fig = plot.gradient_image(red_channel_net(), sample_image())
    paths.append(os.path.join(folder, "red_channel_gradient.png"))
    fig.savefig(paths[-1], dpi=100)
    fig = plot.net_graph(classifier_graph())
    paths.append(os.path.join(folder, "net_graph.png"))
    fig.savefig(paths[-1], dpi=100)
    return paths


def run_pictures(folder=None, print_fn=print) -> list[str]:
    """The demo's pictures: Wolfram's red-channel NetPortGradient example and a drawn NetGraph,
    written to ``folder`` (default: a new temporary folder); prints what it shows and the paths."""
    import importlib.util
    import tempfile
    print_fn("")
    net, img = red_channel_net(), sample_image()
    g = net(img, NetPortGradient("Input"))
    print_fn("Wolfram's NetPortGradient example: a PoolingLayer chained to a PartLayer that "
             "extracts the red channel,")
    print_fn(f"on a generated 64×64 image: the input gradient has shape {g.shape}; red "
             f"{'≥ 0' if (g[0] >= 0).all() else 'has negative values'} (sum {g[0].sum():.0f}, "
             f"one per pooled output), green and blue {'all 0' if not g[1:].any() else 'not 0'}.")
    if importlib.util.find_spec("matplotlib") is None:
        print_fn("(pip install matplotlib to draw the pictures)")
        return []
    paths = write_figures(folder or tempfile.mkdtemp(prefix="netgrad-figures-"))
    print_fn("Pictures (the gradient beside the image; a NetGraph drawn with its nested nets):")
    for p in paths:
        print_fn(f"  {p}")
    return paths
