"""Counting the reads of tensor values back to the host (device syncs).

On a GPU every ``.item()``, ``bool(tensor)``, ``float(tensor)`` or data-dependent shape waits
for the device to finish its queue. All of them reach the dispatcher as
``aten._local_scalar_dense`` (or, for ``nonzero``-like ops, an op whose output size depends on
data), so a :class:`~torch.utils._python_dispatch.TorchDispatchMode` sees each one, on any
device, the CPU included::

    with netgrad.debug.count_host_syncs() as syncs:
        loss = net.forward(x).sum(); loss.backward()
    print(syncs.count, syncs.ops)

netgrad's operations make none on their sync-free path (traced code, ``torch.func``, non-CPU
devices, :func:`netgrad.ops.sync_free`); ``netgrad.train`` makes one per step (its guard).
"""

from __future__ import annotations

import collections
import contextlib
from typing import Iterator

import torch
from torch.utils._python_dispatch import TorchDispatchMode

__all__ = ["HostSyncs", "count_host_syncs"]

_aten = torch.ops.aten
#: Operations whose result needs a value (or a size) read back from the device.
SYNC_OPS = frozenset({_aten._local_scalar_dense.default, _aten.nonzero.default,
                      _aten.masked_select.default, _aten.unique_dim.default,
                      _aten._unique2.default, _aten.repeat_interleave.Tensor})


class HostSyncs(TorchDispatchMode):
    """A dispatch mode that counts host syncs: ``count`` in all, ``ops`` by operation name."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0
        self.ops: collections.Counter[str] = collections.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func in SYNC_OPS:
            self.count += 1
            self.ops[str(func.overloadpacket.__name__)] += 1
        return func(*args, **(kwargs or {}))


@contextlib.contextmanager
def count_host_syncs() -> Iterator[HostSyncs]:
    """Count the host syncs of the code in the block (forward and backward passes alike)."""
    mode = HostSyncs()
    with mode:
        yield mode
