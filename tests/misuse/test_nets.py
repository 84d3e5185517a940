"""Misuses when building nets: vertices, edges, ports and their shapes."""

from __future__ import annotations

import torch

import netgrad as ng
from netgrad import ElementwiseLayer, LinearLayer, NetChain, NetGraph, NetPort, ThreadingLayer

from _misuse import Misuse, check, params

V, T, K, S = ng.NetValueError, ng.NetTypeError, ng.NetKeyError, ng.ShapeError


def _graph(edges, **ports):
    return NetGraph({"a": LinearLayer(2), "b": ElementwiseLayer("Tanh")}, edges, **ports)


ROWS = [
    Misuse("chain of a string", lambda: NetChain("Ramp"), T, "NetChain"),
    Misuse("chain of nothing", lambda: NetChain([]), V, "NetChain"),
    Misuse("chain of an unknown object", lambda: NetChain([object()]), T, '"0"'),
    Misuse("chain of a torch module class", lambda: NetChain([torch.nn.Linear]), T, '"0"'),
    Misuse("chain of an unknown function name", lambda: NetChain(["Relu"]), V, "ElementwiseLayer"),
    Misuse("chain whose layers disagree",
           lambda: NetChain([LinearLayer(3, input=2), LinearLayer(2, input=4)]), S,
           '"1" (LinearLayer)'),
    Misuse("chain input shape as a word", lambda: NetChain([LinearLayer(2)], input="x"), T,
           "NetChain"),
    Misuse("chain negative input size", lambda: NetChain([LinearLayer(2)], input=-1), V,
           "NetChain"),
    Misuse("chain output that does not fit", lambda: NetChain([LinearLayer(2)], input=3,
                                                               output=5), S, "NetChain"),
    Misuse("chain input that does not fit the first layer",
           lambda: NetChain([LinearLayer(2, input=3)], input=4), S, "NetChain"),
    Misuse("graph vertices as a string", lambda: NetGraph("ab", []), T, "NetGraph"),
    Misuse("graph with no vertex", lambda: NetGraph({}, []), V, "NetGraph"),
    Misuse("graph vertex name with a dot", lambda: NetGraph({"a.b": LinearLayer(2)}, []), V,
           "NetGraph"),
    Misuse("graph edge to a missing vertex", lambda: _graph([("a", "c")]), K, "NetGraph"),
    Misuse("graph edge to a misspelt vertex", lambda: NetGraph({"enc": LinearLayer(2)},
                                                               [("enk", NetPort("Output"))]), K,
           "NetGraph"),
    Misuse("graph edge that is not a pair", lambda: _graph([5]), T, "NetGraph"),
    Misuse("graph edge to an unknown port", lambda: _graph([("a", NetPort("b", "Inputs"))]), K,
           "NetGraph"),
    Misuse("graph edge from an unknown output", lambda: _graph([(NetPort("a", "Out"), "b")]), K,
           "NetGraph"),
    Misuse("graph port connected twice",
           lambda: _graph([("a", "b"), (NetPort("Input"), NetPort("b", "Input"))]), V, "NetGraph"),
    Misuse("graph output connected twice",
           lambda: _graph([("a", NetPort("Out")), ("b", NetPort("Out"))]), V, "NetGraph"),
    Misuse("graph output named like an input",
           lambda: _graph([("a", "b"), ("b", NetPort("Input"))]), V, "NetGraph"),
    Misuse("graph with a cycle", lambda: _graph([("a", "b"), ("b", "a")]), V, "NetGraph"),
    Misuse("graph output with two sources", lambda: _graph([(["a", "b"], NetPort("Out"))]), V,
           "NetGraph"),
    Misuse("graph too many sources for a vertex", lambda: _graph([(["a", "a"], "b")]), V,
           "NetGraph"),
    Misuse("graph source to a single port with two sources",
           lambda: NetGraph({"a": LinearLayer(2), "b": LinearLayer(2), "t": ThreadingLayer("Plus")},
                            [(["a", "b"], NetPort("t", "Input1"))]), V, "NetGraph"),
    Misuse("graph port shape that conflicts with a layer",
           lambda: NetGraph({"a": LinearLayer(2, input=3)}, [], Input=4), S, "NetGraph"),
    Misuse("net vertex by an unknown name", lambda: NetChain([LinearLayer(2)])["lin"], K,
           "NetChain"),
    Misuse("net vertex position out of range", lambda: NetChain([LinearLayer(2)])[3], K,
           "NetChain"),
    Misuse("NetPort of three parts", lambda: NetPort("a", "b", "c"), T, "NetPort"),
    Misuse("NetPort of a number", lambda: NetPort(3), T, "NetPort"),
    Misuse("declare a port the net does not have",
           lambda: NetChain([LinearLayer(2)]).declare_port_shapes({"Inputs": 3}), K, "NetChain"),
    Misuse("set_arity of a layer with fixed inputs", lambda: LinearLayer(2).set_arity(3), V,
           "LinearLayer"),
]


@params(ROWS)
def test_net_misuse(row):
    check(row)
