"""The demo behind ``python -m netgrad``: the seed net evaluated and differentiated.

Everything here runs on data embedded in this file.
"""

from __future__ import annotations

import numpy as np

from . import (AggregationLayer, All, ElementwiseLayer, LinearLayer, NetChain, NetGraph,
               NetInitialize, NetPortGradient, ThreadingLayer)

__all__ = ["run_demo", "seed_net", "workaround_graph"]

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
