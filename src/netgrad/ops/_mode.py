"""Which of the two exact paths an operation takes: check-and-branch, or branch-free.

Every robust operation keeps the gradient contract on two paths:

* **eager on the CPU** (the default there): the backward computes the plain product first and
  reads one value back (``has_nan``, ``all_finite``) to decide whether strong zeros must be
  imposed; that read is a few nanoseconds on the CPU and the common case does no extra work;
* **sync-free**: no ``.item()``, ``bool()`` or other read of a tensor value on the host. Strong
  zeros are imposed by branch-free masks (``where(a == 0 | b == 0, 0, a·b)``), which inductor fuses
  into the kernel that forms the product. This path is taken while ``torch.compile`` traces, under
  ``torch.func`` transforms, on every non-CPU device (a host read stalls a GPU), and everywhere
  while :func:`sync_free` is active or the environment variable ``NETGRAD_SYNC_FREE=1`` is set
  (so CI exercises it without a GPU).

A few operations whose exact careful path is a recomputation (matmul and linear, prod, cumprod,
pooling, cross-entropy) are *optimistic* on the sync-free path: they return the plain result,
which can hold a NaN only where a 0·inf met inside a sum. Under :func:`careful` they take the
exact path on any device (reading values back). ``netgrad.train`` does this for you: its one guard
sync per step sees any NaN in the loss or the gradients and re-runs that step under
:func:`careful` before calling it bad.
"""

from __future__ import annotations

import contextlib
import os
from typing import Iterator

import torch

__all__ = ["sync_free", "careful", "sync_free_active", "careful_active"]

_forced = os.environ.get("NETGRAD_SYNC_FREE", "") not in ("", "0")
_careful = False
_functorch_active = torch._C._are_functorch_transforms_active
_is_compiling = torch.compiler.is_compiling


@contextlib.contextmanager
def sync_free(enabled: bool = True) -> Iterator[None]:
    """Force (or, with ``enabled=False``, stop forcing) the sync-free path on every device.

    Re-entrant; restores the previous setting on exit. Thread-global, like ``torch.no_grad``'s
    module-level switches: do not toggle it from several threads at once."""
    global _forced
    was = _forced
    _forced = bool(enabled)
    try:
        yield
    finally:
        _forced = was


@contextlib.contextmanager
def careful(enabled: bool = True) -> Iterator[None]:
    """Make the optimistic operations take their exact careful path, on every device (they may
    then read values back to the host; do not use it inside ``torch.compile``)."""
    global _careful
    was = _careful
    _careful = bool(enabled)
    try:
        yield
    finally:
        _careful = was


def sync_free_active(t: torch.Tensor | None = None) -> bool:
    """Whether the sync-free path applies to an operation on ``t`` (see the module docstring)."""
    if _forced or _is_compiling() or _functorch_active():
        return True
    return t is not None and t.device.type != "cpu"


def careful_active() -> bool:
    """Whether :func:`careful` is active."""
    return _careful
