"""Data parallelism on :mod:`torch.distributed`.

Under ``torchrun --nproc_per_node N`` (or any launcher that sets ``RANK``, ``WORLD_SIZE``,
``MASTER_ADDR`` and ``MASTER_PORT``), or in a process group the caller already initialized,
:func:`netgrad.train` trains one model on N processes: the same arrays everywhere at the start
(broadcast from rank 0), each process taking its shard of every global batch, and after the
backward pass **one** all-reduce of a single flat buffer holding every gradient, the loss sum and
the example count. That is what :class:`torch.nn.parallel.DistributedDataParallel` does with its
gradient buckets, with two differences that the divergence guard needs: the loss travels in the
same collective (so all processes agree, with one synchronization, on whether a step is
finite and what the global mean loss is), and shards of unequal size are weighted exactly.

The backend is gloo on CPU and NCCL on GPU. A group this module created is destroyed at the end
(after a barrier, so that no process leaves while a peer still talks to it), and nothing keeps
it alive after that: see :func:`_import_before_the_group`.

Several machines: ``torchrun --nnodes M --node_rank i --nproc_per_node N --master_addr HOST
--master_port PORT script.py`` on each machine i = 0..M-1 (the same call; ranks are global and
each process takes its 1/(M·N) shard of every batch). Tested as 2 nodes × 1 process on
localhost.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

__all__ = ["Distributed", "setup_distributed"]


@dataclass
class Distributed:
    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")
    owns_group: bool = False

    @property
    def active(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def broadcast_module(self, module: torch.nn.Module) -> None:
        if not self.active:
            return
        with torch.no_grad():
            for t in list(module.parameters()) + list(module.buffers()):
                dist.broadcast(t.data, src=0)

    def broadcast_int(self, value: int) -> int:
        if not self.active:
            return value
        t = torch.tensor([value], dtype=torch.int64, device=self.device)
        dist.broadcast(t, src=0)
        return int(t.item())

    def all_reduce_(self, flat: torch.Tensor) -> None:
        if self.active:
            dist.all_reduce(flat, op=dist.ReduceOp.SUM)

    def all_reduce_gradients(self, grads: list[torch.Tensor], loss_sum: torch.Tensor) -> torch.Tensor:
        """Sum every gradient and the loss sum over the processes in **one** collective (one
        flat buffer); the gradients become the mean over processes, in place. Returns the
        global loss sum. Every process then sees the same values, so the guard's decision
        (apply, replay or skip) is the same everywhere without another collective."""
        flat = torch.cat([g.reshape(-1) for g in grads]
                         + [loss_sum.detach().reshape(1).to(grads[0].dtype)])
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        views = flat[:-1].div_(self.world).split([g.numel() for g in grads])
        torch._foreach_copy_(grads, [v.view_as(g) for v, g in zip(views, grads)])
        return flat[-1]

    def agree(self, flag: bool) -> bool:
        """True when every process says True."""
        if not self.active:
            return flag
        t = torch.tensor([0 if flag else 1], dtype=torch.int64, device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return int(t.item()) == 0

    def barrier(self) -> None:
        if self.active:
            dist.barrier()

    def close(self) -> None:
        if self.owns_group and dist.is_initialized():
            try:
                dist.barrier()  # tear down together: a peer leaving early can abort gloo
            finally:
                dist.destroy_process_group()


def _import_before_the_group() -> None:
    """Import torch._dynamo before a process group exists.

    Building a torch optimizer imports torch._dynamo (its methods are wrapped by
    ``torch._disable_dynamo``), and that import pulls in ``torch.distributed._shard``, which
    keeps a reference to a process group that exists at that moment. That group then outlives
    ``destroy_process_group()``: its gloo threads (``pt_gloo_runloop``, ``gloo_tcp_loop``) are
    still running when the interpreter exits, and on a busy machine the exit races with them
    and the process aborts with "terminate called without an active exception". Imported
    first, nothing captures the group, and ``close()`` really ends it (tested by
    ``tests/train/test_distributed.py``: no gloo thread survives ``netgrad.train``).
    """
    importlib.import_module("torch._dynamo")


def setup_distributed(device_type: str) -> Distributed:
    """Join (or create, from the launcher's environment) the process group, if there is one."""
    if not dist.is_available():
        return Distributed(device=torch.device(device_type))
    owns = False
    if not dist.is_initialized():
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return Distributed(device=torch.device(device_type))
        backend = "nccl" if device_type == "cuda" else "gloo"
        _import_before_the_group()
        dist.init_process_group(backend=backend)
        owns = True
    rank, world = dist.get_rank(), dist.get_world_size()
    if device_type == "cuda":
        local = int(os.environ.get("LOCAL_RANK", rank % max(torch.cuda.device_count(), 1)))
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    else:
        device = torch.device("cpu")
    return Distributed(rank=rank, world=world, device=device, owns_group=owns)
