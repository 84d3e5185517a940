"""Nets: NetGraph, NetChain, ports, shape inference, initialization and evaluation."""

from ._graph import NetChain, NetGraph, NetPort
from ._initialize import NetInitialize
from ._module import NetModule

__all__ = ["NetChain", "NetGraph", "NetPort", "NetInitialize", "NetModule"]
