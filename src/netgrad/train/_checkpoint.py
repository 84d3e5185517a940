"""Training checkpoints in the :mod:`netgrad.io` bundle format.

A checkpoint is one bundle file, ``<dir>/checkpoint-r<round>-b<batch>.netgrad``, written
atomically by :func:`netgrad.io.write_bundle` (temporary file, fsync, ``os.replace``): a crash or
``SIGKILL`` at any moment leaves the previous checkpoints intact and at most a hidden temporary
file, which is ignored and cleaned up. It holds:

* tensors ``state/<name>``: the training net's arrays (``state_dict`` names);
* tensors ``optimizer/<param index>/<key>``: the optimizer's state;
* tensors ``rng/torch`` (and ``rng/cuda``): the random state used by dropout;
* meta: ``round`` (rounds completed), ``batch`` (batches done in the current round), ``step``,
  ``seed``, the optimizer's hyperparameters, the results so far, and (when the io module can
  describe the net) the net itself under ``meta["net"]``, so ``netgrad.load`` opens it.
"""

from __future__ import annotations

import os
import re
from typing import Any

import torch

from .._errors import LoadError, NetValueError
from ._options import WHERE

__all__ = ["save_checkpoint", "latest_checkpoint", "load_checkpoint", "CHECKPOINT_FORMAT"]

CHECKPOINT_FORMAT = "netgrad.train.checkpoint"
CHECKPOINT_VERSION = 1
_NAME = re.compile(r"^checkpoint-r(\d+)-b(\d+)-s(\d+)\.netgrad$")


def _name(round_index: int, batch: int, step: int) -> str:
    return f"checkpoint-r{round_index:06d}-b{batch:07d}-s{step:09d}.netgrad"


def _list(directory: str) -> list[tuple[tuple[int, int, int], str]]:
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    found = []
    for n in names:
        m = _NAME.match(n)
        if m:
            found.append(((int(m[3]), int(m[1]), int(m[2])), os.path.join(directory, n)))
    return sorted(found)


def _optimizer_tensors(opt: torch.optim.Optimizer) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for idx, state in sd["state"].items():
        for k, v in state.items():
            if isinstance(v, torch.Tensor):
                tensors[f"optimizer/{idx}/{k}"] = v.detach()
            else:
                scalars.setdefault(str(idx), {})[k] = v
    groups = []
    for g in sd["param_groups"]:
        groups.append({k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()})
    return {"param_groups": groups, "scalars": scalars}, tensors


def _restore_optimizer(opt: torch.optim.Optimizer, meta: dict[str, Any],
                       tensors: dict[str, torch.Tensor]) -> None:
    state: dict[int, dict[str, Any]] = {}
    for key, t in tensors.items():
        if key.startswith("optimizer/"):
            _, idx, name = key.split("/", 2)
            state.setdefault(int(idx), {})[name] = t
    for idx, values in meta.get("scalars", {}).items():
        state.setdefault(int(idx), {}).update(values)
    groups = []
    for g in meta["param_groups"]:
        g = dict(g)
        if "betas" in g:
            g["betas"] = tuple(g["betas"])
        groups.append(g)
    opt.load_state_dict({"state": state, "param_groups": groups})


def save_checkpoint(directory: str, *, module: torch.nn.Module, net: torch.nn.Module,
                    optimizer: torch.optim.Optimizer, round_index: int, batch: int, step: int,
                    extra: dict[str, Any], keep: int,
                    more_tensors: dict[str, torch.Tensor] | None = None) -> str:
    """Write one checkpoint; keep the ``keep`` newest. Returns its path."""
    from ..io import write_bundle
    os.makedirs(directory, exist_ok=True)
    opt_meta, opt_tensors = _optimizer_tensors(optimizer)
    tensors: dict[str, torch.Tensor] = {f"state/{k}": v.detach()
                                        for k, v in module.state_dict().items()}
    tensors.update(opt_tensors)
    tensors.update(more_tensors or {})
    tensors["rng/torch"] = torch.get_rng_state()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        tensors["rng/cuda"] = torch.cuda.get_rng_state()
    meta: dict[str, Any] = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION,
                            "round": round_index, "batch": batch, "step": step,
                            "optimizer": opt_meta, **extra}
    try:  # the net itself, so that netgrad.load can open a checkpoint (when io provides it)
        from ..io import net_to_bundle  # type: ignore[attr-defined]
        net_meta, net_tensors = net_to_bundle(net, prefix="net/")
        meta["net"], meta["net_prefix"] = net_meta, "net/"
        tensors.update(net_tensors)
    except Exception:  # noqa: BLE001 - optional: nets with Python functions cannot be described
        pass
    path = os.path.join(directory, _name(round_index, batch, step))
    write_bundle(path, meta, tensors)
    for _, old in _list(directory)[:-keep]:
        try:
            os.unlink(old)
        except FileNotFoundError:
            pass
    return path


def latest_checkpoint(directory: str) -> str:
    """The newest complete checkpoint in ``directory`` (temporary files are ignored)."""
    found = _list(directory)
    if not found:
        exists = os.path.isdir(directory)
        raise NetValueError("resume names a folder with a training checkpoint",
                            where=f"{WHERE}, resume",
                            got=f"got {directory!r}, " + ("which has no checkpoint files" if exists
                                                          else "which does not exist"),
                            fix="pass the folder given as checkpoint= to the run to continue")
    return found[-1][1]


def cleanup_temporaries(directory: str) -> None:
    """Remove temporary files left by a writer that was killed mid-write."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return
    for n in names:
        if n.startswith(".checkpoint-") and n.endswith(".tmp"):
            try:
                os.unlink(os.path.join(directory, n))
            except FileNotFoundError:
                pass


def load_checkpoint(directory: str) -> tuple[str, dict[str, Any], dict[str, torch.Tensor]]:
    """``(path, meta, tensors)`` of the newest readable checkpoint; an unreadable newest file
    (which atomic writes make impossible, but disks fail) falls back to the one before."""
    from ..io import read_bundle
    latest_checkpoint(directory)  # raises a clear error when there is none
    errors = []
    for _, path in reversed(_list(directory)):
        try:
            meta, tensors = read_bundle(path)
        except LoadError as e:
            errors.append(f"{os.path.basename(path)}: {e}")
            continue
        if meta.get("format") != CHECKPOINT_FORMAT:
            errors.append(f"{os.path.basename(path)}: not a training checkpoint")
            continue
        return path, meta, tensors
    raise LoadError("resume needs a readable training checkpoint", where=f"{WHERE}, resume",
                    got="; ".join(errors), fix="resume from another folder, or start afresh")


def restore(path: str, meta: dict[str, Any], tensors: dict[str, torch.Tensor], *,
            module: torch.nn.Module, optimizer: torch.optim.Optimizer) -> None:
    """Put a checkpoint's arrays and optimizer state into ``module``/``optimizer``. Checks that
    they fit first, so a mismatched checkpoint changes nothing."""
    state = {k[len("state/"):]: t for k, t in tensors.items() if k.startswith("state/")}
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = [(k, tuple(own[k].shape), tuple(state[k].shape)) for k in own
             if k in state and own[k].shape != state[k].shape]
    if missing or unexpected or wrong:
        detail = (f"missing arrays {missing[:3]}" if missing else
                  f"unknown arrays {unexpected[:3]}" if unexpected else
                  f"array {wrong[0][0]} has shape {wrong[0][2]} but the net needs {wrong[0][1]}")
        raise LoadError("the checkpoint must come from training the same net",
                        where=f"{WHERE}, resume ({os.path.basename(path)})", got=f"got {detail}",
                        fix="pass the same net (and loss) that wrote the checkpoint")
    with torch.no_grad():
        for k, t in own.items():
            t.copy_(state[k].to(t.dtype))
    for _, layer, name in getattr(module, "named_arrays", lambda: [])():
        layer._uninitialized.discard(name)
    _restore_optimizer(optimizer, meta["optimizer"], tensors)
