"""Kept for code above ``netgrad.net`` that still imports NetModule from here
(``netgrad.train``); NetModule lives in :mod:`netgrad._module`, below the layers. Import it from
there."""

from .._module import NetModule

__all__ = ["NetModule"]
