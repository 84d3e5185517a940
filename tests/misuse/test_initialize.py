"""Misuses of NetInitialize."""

from __future__ import annotations

import torch

import netgrad as ng
from netgrad import LinearLayer, NetChain, NetInitialize

from _misuse import Misuse, check, params

V, T, S = ng.NetValueError, ng.NetTypeError, ng.ShapeError


def _net():
    return NetChain([LinearLayer(2)], input=3)


ROWS = [
    Misuse("initialize a torch module", lambda: NetInitialize(torch.nn.Linear(2, 2)), T,
           "NetInitialize"),
    Misuse("initialize by an unknown method", lambda: NetInitialize(_net(), method="He"), V,
           "NetInitialize"),
    Misuse("initialize by a lower-case method", lambda: NetInitialize(_net(), method="xavier"), V,
           "NetInitialize"),
    Misuse("initialize with a text seed", lambda: NetInitialize(_net(), seed="x"), T,
           "NetInitialize"),
    Misuse("initialize with a float seed", lambda: NetInitialize(_net(), seed=1.5), T,
           "NetInitialize"),
    Misuse("initialize with reinitialize as text",
           lambda: NetInitialize(_net(), reinitialize="yes"), T, "NetInitialize"),
    Misuse("initialize in place as a number", lambda: NetInitialize(_net(), in_place=1), T,
           "NetInitialize"),
    Misuse("initialize a net whose shapes are unknown",
           lambda: NetInitialize(NetChain([LinearLayer(2)])), S, "LinearLayer"),
]


@params(ROWS)
def test_initialize_misuse(row):
    check(row)
