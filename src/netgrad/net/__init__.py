"""Nets: NetGraph, NetChain, ports, shape inference, initialization and evaluation."""

from .._module import NetModule
from . import _evaluate  # noqa: F401  (registers Wolfram-style evaluation with NetModule)
from ._graph import NetChain, NetGraph, NetPort
from .._stale import StaleArraysWarning
from ._initialize import NetInitialize
from ._operators import (AttentionNetOperator, NetBidirectionalOperator, NetFoldOperator, NetGANOperator,
                         NetMapOperator, NetMapThreadOperator, NetNestOperator,
                         NetPairEmbeddingOperator)
from ._gradient_operator import NetPortGradientLayer

__all__ = ["NetChain", "NetGraph", "NetPort", "NetInitialize", "NetModule", "StaleArraysWarning",
           "NetMapOperator", "NetMapThreadOperator", "NetFoldOperator", "NetNestOperator",
           "NetBidirectionalOperator", "NetPairEmbeddingOperator", "NetGANOperator",
           "NetPortGradientLayer", "AttentionNetOperator"]

from ._surgery import (NetAppend, NetDelete, NetDrop, NetExtract, NetFlatten, NetInsert,  # noqa: E402
                       NetJoin, NetPrepend, NetReplacePart, NetTake)
from ._information import NetInformation  # noqa: E402

__all__ += ["NetTake", "NetDrop", "NetExtract", "NetReplacePart", "NetFlatten", "NetJoin",
            "NetAppend", "NetPrepend", "NetInsert", "NetDelete", "NetInformation"]
