"""Misuses of the diagnostics: the non-finite setting, check_gradients, locate_nonfinite."""

from __future__ import annotations

import torch

import netgrad as ng
from netgrad import LinearLayer, NetChain, NetInitialize, debug

from _misuse import Misuse, check, params

V, T, K, S, U = ng.NetValueError, ng.NetTypeError, ng.NetKeyError, ng.ShapeError, ng.UninitializedError


def _net():
    return NetInitialize(NetChain({"lin": LinearLayer(2), "act": "Tanh"}, input=3), seed=0)


X = [0.1, 0.2, 0.3]

ROWS = [
    Misuse("set_nonfinite to an unknown setting", lambda: debug.set_nonfinite("loud"), V,
           "set_nonfinite"),
    Misuse("nonfinite block with an unknown setting", lambda: debug.nonfinite("Raise").__enter__(),
           V, "set_nonfinite"),
    Misuse("check_gradients of a number spec", lambda: ng.check_gradients(_net(), X, 5), T,
           "check_gradients"),
    Misuse("check_gradients of an unknown port", lambda: ng.check_gradients(_net(), X, "Inputs"),
           K, "NetChain"),
    Misuse("check_gradients of an uninitialized net",
           lambda: ng.check_gradients(NetChain([LinearLayer(2)], input=3), X), U, "LinearLayer"),
    Misuse("check_gradients in a bad mode", lambda: ng.check_gradients(_net(), X, mode="train"), V,
           "NetChain"),
    Misuse("check_gradients of data of the wrong shape",
           lambda: ng.check_gradients(_net(), [1.0, 2.0]), S, 'port "Input"'),
    Misuse("locate_nonfinite with an unknown port",
           lambda: debug.locate_nonfinite(_net(), {"Inputs": torch.zeros(1, 3)}), K, "NetChain"),
    Misuse("locate_nonfinite with data that is not a dict",
           lambda: debug.locate_nonfinite(_net(), torch.zeros(1, 3)), T, "locate_nonfinite"),
    Misuse("locate_nonfinite in an unknown precision",
           lambda: debug.locate_nonfinite(_net(), {"Input": torch.zeros(1, 3)}, precision="half"),
           V, "locate_nonfinite"),
    Misuse("locate_nonfinite of an unknown array",
           lambda: debug.locate_nonfinite(_net(), {"Input": torch.zeros(1, 3)},
                                          wrt=[("lin", "Weight")]), K, "NetChain"),
]


@params(ROWS)
def test_debug_misuse(row):
    check(row)
