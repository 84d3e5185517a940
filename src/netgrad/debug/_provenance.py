"""Non-finite provenance (issue 6). Placeholder hooks called by evaluation; the diagnostics
work fills them in."""

from __future__ import annotations

__all__ = ["check_forward", "check_backward"]


def check_forward(net, inputs, outputs) -> None:
    """Called after a Wolfram-style forward pass with batched ``inputs``/``outputs`` dicts."""


def check_backward(net, inputs, grads) -> None:
    """Called after NetPortGradient with ``grads``: dict of NetPortGradient → tensor."""
