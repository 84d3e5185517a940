"""Misuses of NetPortGradient: what is asked for, and the gradients imposed at outputs."""

from __future__ import annotations

import numpy as np
import torch

import netgrad as ng
from netgrad import (CrossEntropyLossLayer, LinearLayer, NetChain, NetInitialize, NetPortGradient,
                     SoftmaxLayer)

from _misuse import Misuse, check, params

V, T, K, S = ng.NetValueError, ng.NetTypeError, ng.NetKeyError, ng.ShapeError


def _net():
    return NetInitialize(NetChain({"lin": LinearLayer(2), "act": "Tanh"}, input=3), seed=0)


def _ce():
    return NetInitialize(NetChain([LinearLayer(3), SoftmaxLayer(), CrossEntropyLossLayer()],
                                  input=2), seed=0)


def _fixed():
    net = _net()
    net["lin"].Weights.requires_grad_(False)
    return net


X = [1.0, 2.0, 3.0]
G = NetPortGradient

ROWS = [
    Misuse("NetPortGradient of a number", lambda: G(5), T, "NetPortGradient"),
    Misuse("NetPortGradient of an empty path", lambda: G(()), T, "NetPortGradient"),
    Misuse("NetPortGradient path ending in a position", lambda: G(("lin", 0)), T,
           "NetPortGradient"),
    Misuse("gradient at an unknown port", lambda: _net()(X, G("Inputs")), K, "NetChain"),
    Misuse("gradient of an array by its bare name in a net", lambda: _net()(X, G("Weights")), K,
           "NetChain"),
    Misuse("gradient at an output port", lambda: _net()(X, G("Output")), V, "NetChain"),
    Misuse("gradient at a class-index port",
           lambda: _ce()({"Input": [1.0, 2.0], "Target": 1}, G("Target")), V, 'port "Target"'),
    Misuse("gradient of an unknown vertex", lambda: _net()(X, G(("lni", "Weights"))), K,
           "NetChain"),
    Misuse("gradient of an unknown array", lambda: _net()(X, G(("lin", "Weight"))), K,
           "NetChain"),
    Misuse("gradient of an array of a layer without arrays",
           lambda: _net()(X, G(("act", "Weights"))), K, "NetChain"),
    Misuse("gradient path through a layer", lambda: _net()(X, G(("lin", "x", "Weights"))), K,
           "NetChain"),
    Misuse("gradient path ending at a net",
           lambda: NetInitialize(NetChain({"b": NetChain({"l": LinearLayer(2)})}, input=3),
                                 seed=0)(X, G(("b", "Weights"))), K, "NetChain"),
    Misuse("gradient position out of range", lambda: _net()(X, G((5, "Weights"))), K, "NetChain"),
    Misuse("gradient of a fixed array", lambda: _fixed()(X, G(("lin", "Weights"))), V,
           "NetChain"),
    Misuse("imposed gradient of the wrong shape",
           lambda: _net()({"Input": X, G("Output"): [1.0, 2.0, 3.0]}, G("Input")), S,
           'NetPortGradient("Output")'),
    Misuse("imposed gradient at an unknown port",
           lambda: _net()({"Input": X, G("Out"): [1.0, 2.0]}, G("Input")), K, "NetChain"),
    Misuse("imposed gradient at an input port",
           lambda: _net()({"Input": X, G("Input"): X}, G("Input")), K, "NetChain"),
    Misuse("imposed gradient as text",
           lambda: _net()({"Input": X, G("Output"): "up"}, G("Input")), T, "imposed gradient"),
    Misuse("imposed gradient of a batch of the wrong size",
           lambda: _net()({"Input": np.zeros((4, 3)), G("Output"): np.ones((3, 2))}, G("Input")),
           S, 'NetPortGradient("Output")'),
    Misuse("gradient in an unknown precision", lambda: _net()(X, G("Input"), precision="half"), V,
           "NetChain"),
    Misuse("gradient of torch data in a bad mode",
           lambda: _net()(torch.ones(3), G("Input"), mode="Training"), V, "NetChain"),
    Misuse("create_graph that is not a bool",
           lambda: _net()(X, G("Input"), create_graph="yes"), T, "NetChain"),
    Misuse("NetPortGradientLayer of an unknown input port",
           lambda: ng.NetPortGradientLayer(_net(), "Inputs"), K, "NetPortGradientLayer"),
    Misuse("NetPortGradientLayer of a class-index port",
           lambda: ng.NetPortGradientLayer(_ce(), "Target"), V, "NetPortGradientLayer"),
    Misuse("NetPortGradientLayer of an unknown output port",
           lambda: ng.NetPortGradientLayer(_net(), "Input", output="Out"), K,
           "NetPortGradientLayer"),
    Misuse("NetPortGradientLayer port name taken by the net",
           lambda: ng.NetPortGradientLayer(_net(), "Input", name="Output"), V,
           "NetPortGradientLayer"),
]


@params(ROWS)
def test_gradient_misuse(row):
    check(row)
