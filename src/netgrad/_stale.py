"""Arrays that were replaced while an optimizer may still hold them: warn at its next step.

``NetInitialize(net)`` returns a copy, so an optimizer built on ``net.parameters()`` before
would train arrays the returned net does not use; :meth:`Layer.load_state` replaces parameter
tensors the same way. Those tensors are recorded here (weakly: a replaced array nobody holds
costs nothing); a global optimizer step pre-hook, registered once the first one is recorded,
warns with :class:`StaleArraysWarning` when an optimizer steps them.
"""

from __future__ import annotations

import warnings
import weakref
from collections.abc import Iterable
from typing import Any

import torch
from torch.optim.optimizer import register_optimizer_step_pre_hook

__all__ = ["StaleArraysWarning", "supersede"]


class StaleArraysWarning(UserWarning):
    """An optimizer steps arrays that a net no longer uses (they were replaced)."""


_replaced: weakref.WeakValueDictionary[int, torch.Tensor] = weakref.WeakValueDictionary()
_warned: weakref.WeakSet[Any] = weakref.WeakSet()
_hooked = False


def supersede(tensors: Iterable[torch.Tensor], how: str) -> None:
    """Record that ``tensors`` were replaced by new arrays (``how`` says by what)."""
    global _hooked
    for t in tensors:
        _replaced[id(t)] = t
        _why[id(t)] = how
    if not _hooked and len(_replaced):
        register_optimizer_step_pre_hook(_check)
        _hooked = True


_why: dict[int, str] = {}


def _check(optimizer: Any, args: Any, kwargs: Any) -> None:
    if not len(_replaced) or optimizer in _warned:
        return
    for group in optimizer.param_groups:
        for p in group["params"]:
            if _replaced.get(id(p)) is p:
                _warned.add(optimizer)
                how = _why.get(id(p), "a replacement")
                warnings.warn(StaleArraysWarning(
                    f"this optimizer steps arrays that the net no longer uses (they were replaced "
                    f"by {how}), so training does not change the net. Fix: build the optimizer "
                    "after NetInitialize (opt = Adam(net.parameters())), or initialize in place: "
                    "NetInitialize(net, in_place=True)"), stacklevel=3)
                return
