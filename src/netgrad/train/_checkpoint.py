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
import time
from typing import Any

import torch

from .._errors import LoadError, NetValueError
from .._module import NetModule
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
    except (FileNotFoundError, NotADirectoryError):
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


def save_checkpoint(directory: str, *, module: torch.nn.Module, net: NetModule,
                    optimizer: torch.optim.Optimizer, round_index: int, batch: int, step: int,
                    extra: dict[str, Any], keep: int,
                    more_tensors: dict[str, torch.Tensor] | None = None,
                    scheduler: Any = None, scaler: Any = None) -> str:
    """Write one checkpoint; keep the ``keep`` newest. Returns its path."""
    from ..io import write_bundle
    os.makedirs(directory, exist_ok=True)
    opt_meta, opt_tensors = _optimizer_tensors(optimizer)
    if scheduler is not None:
        extra = dict(extra, scheduler=_jsonable(scheduler.state_dict()))
    if scaler is not None:
        extra = dict(extra, scaler=_jsonable(scaler.state_dict()))
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
        from ..io import net_to_bundle
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


def _jsonable(d: Any) -> Any:
    """A scheduler's or scaler's state dict as JSON data (numbers, lists, dicts)."""
    if isinstance(d, dict):
        return {str(k): _jsonable(v) for k, v in d.items() if not callable(v)}
    if isinstance(d, (list, tuple)):
        return [_jsonable(v) for v in d]
    if isinstance(d, torch.Tensor):
        return d.tolist()
    return d


def restore_schedule(meta: dict[str, Any], scheduler: Any, scaler: Any) -> None:
    """Put a checkpoint's scheduler and GradScaler state back (when both sides have them)."""
    if scheduler is not None and "scheduler" in meta:
        sd = dict(meta["scheduler"])
        if "_schedulers" in sd:          # SequentialLR keeps its schedulers' states as a list
            sd["_schedulers"] = list(sd["_schedulers"])
        scheduler.load_state_dict(sd)
    if scaler is not None and "scaler" in meta:
        scaler.load_state_dict(meta["scaler"])


def latest_checkpoint(directory: str) -> str:
    """The newest complete checkpoint in ``directory`` (temporary files are ignored)."""
    found = _list(directory)
    if not found:
        what = ("which has no checkpoint files" if os.path.isdir(directory) else
                "which is a file, not a folder" if os.path.exists(directory) else
                "which does not exist")
        raise NetValueError("resume names a folder with a training checkpoint",
                            where=f"{WHERE}, resume", got=f"got {directory!r}, {what}",
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
    # load_state_dict copies in place (the optimizer keeps its arrays) and marks them set
    module.load_state_dict({k: state[k].to(own[k].dtype) for k in own})
    _restore_optimizer(optimizer, meta["optimizer"], tensors)


# ---- the checkpoint plugin, and what a resumed run must share with the one it continues -----

from ._state import Plugin, TrainState  # noqa: E402


class Checkpointer(Plugin):
    """Writes checkpoints every N rounds and/or every S seconds (the main process only)."""

    def __init__(self, plan) -> None:
        self.plan = plan
        self.last = time.monotonic()

    def save(self, state: TrainState, batch: int) -> None:
        if not state.dist.main:
            return
        extra = {"seed": state.seed, "results": state.results.to_json(),
                 "world": state.dist.world, "run": run_fingerprint(state)}
        if state.best_state is not None:
            extra["best"] = True
            extra["best_value"] = state.best_value
        path = save_checkpoint(self.plan.directory, module=state.module, net=state.work,
                               optimizer=state.optimizer, scheduler=state.scheduler,
                               scaler=state.scaler, round_index=state.round, batch=batch,
                               step=state.step, extra=extra, keep=self.plan.keep,
                               more_tensors={f"best/{k}": v for k, v in
                                             (state.best_state or {}).items()})
        files = state.results.checkpointing_files
        files.append(path)
        existing = {p for _, p in _list(self.plan.directory)}
        files[:] = [f for f in files if f in existing]
        self.last = time.monotonic()

    def start(self, state: TrainState) -> None:
        if state.dist.main:
            cleanup_temporaries(self.plan.directory)
        self.last = time.monotonic()

    def after_batch(self, state: TrainState) -> None:
        if self.plan.every_seconds is not None and state.source.resumable_within_round and \
                time.monotonic() - self.last >= self.plan.every_seconds and not state.stop_reason:
            self.save(state, state.batch)

    def after_round(self, state: TrainState) -> None:
        every = self.plan.every_rounds
        if every is not None and (state.round % every == 0 or state.round >= state.max_rounds
                                  or state.stop_reason):
            self.save(state, 0)

    def finish(self, state: TrainState) -> None:
        # stopped mid-round (time_goal, max_batches): keep the position, when it can be resumed
        if state.batch and state.source.resumable_within_round:
            self.save(state, state.batch)


def _structure(module: torch.nn.Module) -> list[list[Any]]:
    return [[k, list(v.shape)] for k, v in module.state_dict().items()]


def run_fingerprint(state: TrainState) -> dict[str, Any]:
    """What a resumed run must share with the run that wrote the checkpoint."""
    o = state.options
    return {"examples": state.source.num_examples, "batch_size": o.batch_size,
            "accumulation_steps": o.accumulation_steps, "world": state.dist.world,
            "structure": _structure(state.module),
            "options": {"method": o.method.name,
                        "method_options": {k: list(v) if isinstance(v, tuple) else v
                                           for k, v in o.method.kwargs.items()},
                        "learning_rate": o.learning_rate,
                        "learning_rate_schedule": o.schedule.describe(),
                        "precision": o.precision.describe(),
                        "gradient_clipping": [o.clipping.value, o.clipping.norm],
                        "loss": state.training.description}}


def check_resume(meta: dict[str, Any], state: TrainState, path: str) -> None:
    """Refuse (net structure, batch size, accumulation, process count) or warn (data size,
    options) when this call differs from the run that wrote the checkpoint, naming the
    difference. Checkpoints written before this check existed have no record: accepted."""
    import warnings

    from ._results import ResumeWarning
    old = meta.get("run")
    if not old:
        return
    new = run_fingerprint(state)
    where = f"{WHERE}, resume ({os.path.basename(path)})"
    if old["structure"] != new["structure"]:
        a = dict(old["structure"])
        b = dict(new["structure"])
        diff = next(([k, a.get(k), b.get(k)] for k in list(a) + list(b) if a.get(k) != b.get(k)), None)
        raise LoadError("the checkpoint must come from training the same net",
                        where=where, got=f"got array {diff[0]} of shape {diff[2]} here and "
                                         f"{diff[1]} in the checkpoint" if diff else "got another net",
                        fix="pass the same net (and loss) that wrote the checkpoint")
    for key, fix in (("batch_size", "batch_size={old}"), ("accumulation_steps", "accumulation_steps={old}")):
        if old.get(key) != new.get(key):
            raise NetValueError(f"a resumed run keeps the {key} of the run it continues (the "
                                "position in the round is counted in its batches)", where=where,
                                got=f"got {key}={new.get(key)} here and {old.get(key)} in the checkpoint",
                                fix=f"pass {fix.format(old=old.get(key))}, or start afresh without resume")
    if old.get("world") != new.get("world") and meta.get("batch", 0):
        raise NetValueError("a run checkpointed mid-round resumes on the same number of processes",
                            where=where, got=f"got {new.get('world')} processes here and "
                                             f"{old.get('world')} in the checkpoint",
                            fix="resume with the same torchrun --nproc_per_node, or from a "
                                "checkpoint written at the end of a round")
    changes = []
    if old.get("examples") != new.get("examples"):
        changes.append(f"the data has {new.get('examples')} examples here and "
                       f"{old.get('examples')} in the checkpoint's run (the shuffling differs)")
    for k, v in new["options"].items():
        if old["options"].get(k) != v:
            changes.append(f"{k} is {v!r} here and {old['options'].get(k)!r} in the checkpoint's run")
    if changes:
        warnings.warn(f"{where}: resuming a run that differs from this call: " + "; ".join(changes)
                      + ". The new values are used; pass the old ones for an exact continuation.",
                      ResumeWarning, stacklevel=4)
