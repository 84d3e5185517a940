"""Misuses when evaluating a net: data, ports, precision, mode, and PyTorch-style calls."""

from __future__ import annotations

import numpy as np
import torch

import netgrad as ng
from netgrad import (CrossEntropyLossLayer, LinearLayer, MeanSquaredLossLayer, NetChain,
                     NetGraph, NetInitialize, SoftmaxLayer)

from _misuse import Misuse, params, check

V, T, K, S, U = ng.NetValueError, ng.NetTypeError, ng.NetKeyError, ng.ShapeError, ng.UninitializedError


def _net():
    return NetInitialize(NetChain({"lin": LinearLayer(2), "act": "Tanh"}, input=3), seed=0)


def _loss_net():
    return NetInitialize(NetGraph({"lin": LinearLayer(3), "loss": MeanSquaredLossLayer()},
                                  [("lin", "loss")], Input=2), seed=0)


def _ce():
    return NetInitialize(NetChain([LinearLayer(3), SoftmaxLayer(), CrossEntropyLossLayer()],
                                  input=2), seed=0)


X = [1.0, 2.0, 3.0]

ROWS = [
    Misuse("evaluate an uninitialized net", lambda: NetChain([LinearLayer(2)], input=3)(X), U,
           '"0" (LinearLayer)'),
    Misuse("forward on an uninitialized net",
           lambda: NetChain([LinearLayer(2)], input=3).forward(torch.zeros(4, 3)), U,
           '"0" (LinearLayer)'),
    Misuse("evaluate a net whose shapes are unknown", lambda: NetChain([LinearLayer(2)])(X), U,
           "LinearLayer"),
    Misuse("data of the wrong length", lambda: _net()([1.0, 2.0]), S, 'port "Input"'),
    Misuse("data of too high a rank", lambda: _net()(np.zeros((2, 2, 3))), S, 'port "Input"'),
    Misuse("data as a string", lambda: _net()("1 2 3"), T, 'port "Input"'),
    Misuse("data with a string in it", lambda: _net()([1.0, "a", 3.0]), T, 'port "Input"'),
    Misuse("ragged data", lambda: _net()([[1.0, 2.0, 3.0], [1.0, 2.0]]), T, 'port "Input"'),
    Misuse("complex data", lambda: _net()(np.array([1j, 2, 3])), T, 'port "Input"'),
    Misuse("data as a set", lambda: _net()({1.0, 2.0, 3.0}), T, 'port "Input"'),
    Misuse("dict with an unknown port", lambda: _net()({"input": X}), K, "NetChain"),
    Misuse("dict with a misspelt port", lambda: _net()({"Inptu": X}), K, "NetChain"),
    Misuse("dict without a needed port", lambda: _loss_net()({"Input": [1.0, 2.0]}), K,
           "NetGraph"),
    Misuse("plain data for a net with two inputs", lambda: _loss_net()([1.0, 2.0]), T, "NetGraph"),
    Misuse("batches of different sizes",
           lambda: _loss_net()({"Input": np.zeros((4, 2)), "Target": np.zeros((3, 3))}), S,
           "NetGraph"),
    Misuse("one example and a batch mixed",
           lambda: _loss_net()({"Input": [1.0, 2.0], "Target": np.zeros((3, 3))}), S, "NetGraph"),
    Misuse("precision float16", lambda: _net()(X, precision="float16"), V, "NetChain"),
    Misuse("precision double", lambda: _net()(X, precision="double"), V, "NetChain"),
    Misuse("precision in lower case", lambda: _net()(X, precision="real64"), V, "NetChain"),
    Misuse("mode in lower case", lambda: _net()(X, mode="train"), V, "NetChain"),
    Misuse("unknown output port asked for", lambda: _net()(X, "Out"), K, "NetChain"),
    Misuse("a number asked for", lambda: _net()(X, 3), T, "NetChain"),
    Misuse("a list with a bad item asked for", lambda: _net()(X, ["Output", 3]), T, "NetChain"),
    Misuse("class index target not an integer",
           lambda: _ce()({"Input": [1.0, 2.0], "Target": 0.5}), V, 'port "Target"'),
    Misuse("class index target out of range", lambda: _ce()({"Input": [1.0, 2.0], "Target": 3}),
           V, "CrossEntropyLossLayer"),
    Misuse("class index 1-based like Wolfram's",
           lambda: _ce()({"Input": np.zeros((3, 2)), "Target": [1, 2, 3]}), V,
           "CrossEntropyLossLayer"),
    Misuse("class index target as text", lambda: _ce()({"Input": [1.0, 2.0], "Target": "cat"}),
           T, 'port "Target"'),
    Misuse("forward on a 1-D tensor", lambda: _net().forward(torch.zeros(3)), S, 'port "Input"'),
    Misuse("forward with the wrong feature size", lambda: _net().forward(torch.zeros(4, 5)), S,
           'port "Input"'),
    Misuse("forward with too many tensors",
           lambda: _net().forward(torch.zeros(4, 3), torch.zeros(4, 3)), T, "NetChain"),
    Misuse("load_state_dict of another net's shapes",
           lambda: _net().load_state_dict(NetInitialize(NetChain({"lin": LinearLayer(4),
                                                                  "act": "Tanh"}, input=3),
                                                         seed=0).state_dict()), S, '"lin"'),
]


@params(ROWS)
def test_evaluation_misuse(row):
    check(row)
