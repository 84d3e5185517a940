"""``netgrad.train``: Wolfram's NetTrain on PyTorch, on one process or many."""

from __future__ import annotations

import copy
import math
import os
import random
import time
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from .._errors import NetgradError, NetTypeError, NetValueError
from ..net._initialize import NetInitialize
from ..net._module import NetModule
from . import _checkpoint as ckpt_io
from ._data import InMemory, Stream, _check_shapes, _Converter, make_source, split_example_data
from ._distributed import setup_distributed
from ._guard import all_finite, confirm, describe_bad, fused_check, locate
from ._loss import attach_loss
from ._options import (WHERE, parse_checkpoint, parse_clipping, parse_device, parse_method,
                       parse_nonnegative, parse_positive_int, parse_precision, parse_stopping)
from ._paths import resolve_rules
from ._progress import Progress
from ._results import NonFiniteStepWarning, SkippedStep, TrainingResults

__all__ = ["train"]

DEFAULT_BATCH_SIZE = 64
MIN_ROUNDS, MIN_STEPS = 10, 1000


def _shape_of(value: Any) -> tuple[int, ...] | None:
    try:
        shape = tuple(value.shape) if hasattr(value, "shape") else np.shape(value)
    except ValueError:
        return None
    return tuple(int(d) for d in shape[1:]) if len(shape) >= 1 else None


def _planned_target_ports(net: NetModule, loss: Any) -> tuple[bool, list[str]]:
    """Whether the net computes its own loss, and the names of the target ports."""
    outputs = list(net.output_names())
    if isinstance(loss, str) or (isinstance(loss, (list, tuple)) and loss
                                 and all(isinstance(x, str) for x in loss)):
        return True, []
    if loss is None and "Loss" in outputs:
        return True, []
    if isinstance(loss, Mapping):
        keys = list(loss)
        return False, ["Target"] if len(keys) == 1 else [f"{k}Target" for k in keys]
    if loss is None:
        return False, ["Target"] if len(outputs) == 1 else [f"{p}Target" for p in outputs]
    return False, ["Target"]


def _per_example_sum(t: torch.Tensor) -> torch.Tensor:
    if t.dim() > 1:
        t = t.flatten(1).mean(1)
    return t.sum()


def train(net: NetModule, data: Any, *, loss: Any = None, batch_size: int | None = None,
          max_training_rounds: int | None = None, method: Any = "ADAM",
          learning_rate: float | None = None, gradient_clipping: Any = None,
          l2_regularization: Any = None, learning_rate_multipliers: Any = None,
          validation_set: Any = None, training_stopping_criterion: Any = None,
          checkpoint: Any = None, target_device: str = "CPU", precision: Any = "float32",
          seed: int | None = None, progress: bool = True, results: bool = False,
          resume: Any = None) -> Any:
    """Train ``net`` on ``data`` and return the trained net (a new net; ``net`` is unchanged).

    Args:
        net: a layer or net. Uninitialized arrays are initialized (``NetInitialize``, seeded).
        data: ``(inputs, targets)``; a list of ``(input, target)`` pairs; a dict of port names
            to arrays (first dimension counts examples); a torch ``Dataset`` or ``DataLoader``;
            a generator of batches; or a function ``f({"round", "batch_size"})`` returning the
            batches of one round. See :mod:`netgrad.train._data`.
        loss: ``None`` (automatic: the net's ``"Loss"`` output if it has one, else
            cross-entropy after a SoftmaxLayer and mean squared error otherwise), a loss layer,
            ``{output port: loss layer}``, or the name(s) of output port(s) of a net that
            computes its own loss. The minimized quantity is the mean over examples.
        batch_size: examples per (global) batch; default 64.
        max_training_rounds: rounds (passes over the data); default: at least 10 rounds and
            at least 1000 batches.
        method: ``"ADAM"``, ``"SGD"`` (momentum 0.9), ``"RMSProp"``, or ``(name, {option:
            value})``, e.g. ``("ADAM", {"beta1": 0.8})``, ``("SGD", {"momentum": 0.5})``.
        learning_rate: default 1e-3 (ADAM, RMSProp) or 1e-2 (SGD).
        gradient_clipping: ``c``: each gradient element is clipped to [-c, c] (Wolfram);
            ``{"norm": n}``: the global L2 norm of all gradients is clipped to n; both may be
            given as ``{"value": c, "norm": n}``.
        l2_regularization: ``λ`` (adds λ/2·Σw² over every array to the loss, torch's
            ``weight_decay``), or per layer path like ``learning_rate_multipliers``.
        learning_rate_multipliers: ``{path: m}`` or ``[(path, m), ...]``; a path is a vertex
            name or position, a tuple through nested nets, optionally ending with an array
            name: ``{"enc": 0}`` freezes "enc"; the longest matching path wins.
        validation_set: data in any in-memory form or a Dataset, or a fraction in (0, 1) of the
            in-memory training data to hold out. The loss on it is measured after every round
            and the net of the round with the lowest validation loss is returned.
        training_stopping_criterion: ``{"patience": n, "absolute_change": a,
            "relative_change": r, "nonfinite_patience": k}`` or a function ``f(results) ->
            bool``. ``nonfinite_patience`` (default 10) is how many consecutive non-finite steps
            are skipped before training stops and returns the last good net.
        checkpoint: a folder, or ``{"dir": ..., "every_rounds": N, "every_seconds": S,
            "keep": K}``: atomic checkpoints (io bundle format), the K newest kept.
        target_device: ``"CPU"`` or ``"GPU"``. Under ``torchrun --nproc_per_node N`` the same
            call trains one model on N processes (see :mod:`netgrad.train._distributed`).
        precision: ``"float32"`` or ``"float64"`` for training (the returned net keeps the
            dtype and device of ``net``).
        seed: makes initialization, shuffling and dropout reproducible.
        progress: a tqdm bar (loss, rate) when stderr is a terminal.
        results: return a :class:`TrainingResults` (with ``.net``) instead of the net.
        resume: a checkpoint folder: continue the run that wrote it (same net and loss).

    A step whose loss or gradients are not finite is not applied; a
    :class:`NonFiniteStepWarning` says which arrays (and, with the diagnostics, which layer)
    went bad. The returned net never contains NaN or infinities.
    """
    # ---- options: all checked before anything is done -------------------------------------
    if not isinstance(net, NetModule):
        raise NetTypeError("netgrad.train trains a netgrad layer or net", where=WHERE,
                           got=f"got {type(net).__name__}",
                           fix="build it with NetChain/NetGraph and netgrad layers")
    opt_method = parse_method(method)
    lr = parse_nonnegative(learning_rate, "learning_rate")
    if lr is None:
        lr = opt_method.default_lr
    clipping = parse_clipping(gradient_clipping)
    stopping = parse_stopping(training_stopping_criterion)
    plan = parse_checkpoint(checkpoint)
    device_type = parse_device(target_device)
    dtype = parse_precision(precision)
    batch_size = parse_positive_int(batch_size, "batch_size")
    max_rounds = parse_positive_int(max_training_rounds, "max_training_rounds")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise NetTypeError("seed is an int or None", where=f"{WHERE}, seed", got=f"got {seed!r}")
    if resume is not None and not isinstance(resume, (str, os.PathLike)):
        raise NetTypeError("resume is a checkpoint folder", where=f"{WHERE}, resume",
                           got=f"got {type(resume).__name__}")
    holdout = None
    if isinstance(validation_set, float):
        if not 0.0 < validation_set < 1.0:
            raise NetValueError("a validation fraction lies strictly between 0 and 1",
                                where=f"{WHERE}, validation_set", got=f"got {validation_set!r}")
        holdout = validation_set
    resume_state = None
    if resume is not None:
        resume_state = ckpt_io.load_checkpoint(os.fspath(resume))
        # the run being resumed is dead: a file it was writing when it died is garbage
        ckpt_io.cleanup_temporaries(os.fspath(resume))

    dist_ = setup_distributed(device_type)
    try:
        return _run(net, data, loss=loss, batch_size=batch_size, max_rounds=max_rounds,
                    opt_method=opt_method, lr=lr, clipping=clipping, l2=l2_regularization,
                    multipliers=learning_rate_multipliers, validation_set=validation_set,
                    holdout=holdout, stopping=stopping, plan=plan, dtype=dtype, dist_=dist_,
                    seed=seed, progress=progress, want_results=results,
                    resume_state=resume_state)
    finally:
        dist_.close()


def _run(net, data, *, loss, batch_size, max_rounds, opt_method, lr, clipping, l2, multipliers,
         validation_set, holdout, stopping, plan, dtype, dist_, seed, progress, want_results,
         resume_state):
    rank, world, device = dist_.rank, dist_.world, dist_.device
    if resume_state is not None:
        seed = int(resume_state[1]["seed"])
    if seed is None:
        seed = random.SystemRandom().randrange(2 ** 31)
    seed = dist_.broadcast_int(seed)

    # ---- the net and its data -----------------------------------------------------------
    orig_device, orig_dtype = net._device_dtype()
    work = copy.deepcopy(net)  # the argument is never touched
    own_loss, target_ports = _planned_target_ports(work, loss)
    input_ports = list(work.input_names())
    kind, raw = make_source(data, input_ports=input_ports, target_ports=target_ports,
                            own_loss=own_loss)
    split = lambda b: split_example_data(b, input_ports, target_ports, own_loss, "data")  # noqa: E731
    stream: Stream | None = None
    if kind == "memory":
        sample = raw
    else:
        stream = Stream(kind, raw, None, split, batch_size or DEFAULT_BATCH_SIZE, seed, rank,
                        world, {})
        sample = split(stream.peek())
    # Shapes the data implies for the net's inputs; then initialize what has no values.
    given = {p: _shape_of(sample[p]) for p in input_ports if p in sample}
    unknown = {p: s for p, s in given.items() if work.port_shape(p) is None and s is not None}
    if unknown:
        try:
            work.bind(unknown)
        except NetgradError as e:
            raise e.located(f"{WHERE}, data") from None
    if work.uninitialized_arrays():
        work = NetInitialize(work, seed=seed)
    target_sample = sample.get(target_ports[0]) if len(target_ports) == 1 else None
    training = attach_loss(work, loss, target_sample)
    module = training.module
    ports = list(module.input_names())
    convert = _Converter(ports, module.integer_ports(), dtype, "data",
                         "" if own_loss else " (the net's inputs and the targets)")
    expected = {p: module.port_shape(p) for p in ports}
    bs = batch_size or DEFAULT_BATCH_SIZE
    val_source = None
    if kind == "memory":
        tensors = convert(raw)
        _check_shapes(tensors, expected, "data")
        n = next(iter(tensors.values())).shape[0]
        if holdout is not None:
            g = torch.Generator().manual_seed(seed + 1)
            perm = torch.randperm(n, generator=g)
            n_val = max(1, int(round(holdout * n)))
            if n_val >= n:
                raise NetValueError("the validation fraction leaves no training data",
                                    where=f"{WHERE}, validation_set", got=f"got {holdout} of {n} examples")
            val_t = {p: t[perm[:n_val]] for p, t in tensors.items()}
            tensors = {p: t[perm[n_val:]] for p, t in tensors.items()}
            n -= n_val
            val_source = InMemory(val_t, bs, seed, 0, 1, shuffle=False)
        if n < world:
            raise NetValueError(f"data-parallel training on {world} processes needs at least "
                                f"{world} examples", where=f"{WHERE}, data", got=f"got {n}")
        bs = min(bs, n)
        source: Any = InMemory(tensors, bs, seed, rank, world)
    else:
        if holdout is not None:
            raise NetTypeError("a validation fraction needs in-memory data", where=f"{WHERE}, validation_set",
                               got=f"got {kind} data", fix="pass the validation data itself")
        stream.convert, stream.expected, stream.batch_size = convert, expected, bs
        stream.split = split
        source = stream
    if validation_set is not None and holdout is None:
        vkind, vraw = make_source(validation_set, input_ports=input_ports,
                                  target_ports=target_ports, own_loss=own_loss, what="validation_set")
        if vkind == "memory":
            vconv = _Converter(ports, module.integer_ports(), dtype, "validation_set", "")
            vt = vconv(vraw)
            _check_shapes(vt, expected, "validation_set")
            val_source = InMemory(vt, bs, seed, 0, 1, shuffle=False)
        elif vkind == "dataset":
            val_source = Stream("dataset", vraw, convert, split, bs, seed, 0, 1, expected)
        else:
            raise NetTypeError("validation_set is in-memory data, a Dataset or a fraction",
                               where=f"{WHERE}, validation_set", got=f"got {vkind} data")
    per_round = source.batches_per_round()
    if max_rounds is None:
        max_rounds = max(MIN_ROUNDS, math.ceil(MIN_STEPS / per_round)) if per_round else MIN_ROUNDS

    # ---- arrays, optimizer ----------------------------------------------------------------
    module.to(device=device, dtype=dtype)
    mults = resolve_rules(work, multipliers, "learning_rate_multipliers")
    decays = resolve_rules(work, l2, "l2_regularization")
    by_id: dict[int, tuple[str, torch.nn.Parameter]] = {}
    for path, layer, name in work.named_arrays():
        p = getattr(layer, name)
        if p is not None and id(p) not in by_id:
            by_id[id(p)] = ("/".join(path), p)
    names, params, groups = [], [], {}
    frozen = []
    for qual, p in module.named_parameters():
        label, m, wd = qual, 1.0, 0.0
        if id(p) in by_id:
            label = by_id[id(p)][0]
            m = mults.get(tuple(label.split("/")), 1.0)
            wd = decays.get(tuple(label.split("/")), 0.0)
        if m == 0.0 or not p.requires_grad:
            frozen.append((p, p.requires_grad))
            p.requires_grad_(False)
            continue
        names.append(label)
        params.append(p)
        groups.setdefault((m, wd), []).append(p)
    if not params:
        raise NetValueError("training needs at least one array to change", where=WHERE,
                            got="got a net whose arrays are all frozen (or that has none)",
                            fix="remove the 0 learning-rate multipliers, or add a layer with arrays")
    param_groups = [{"params": ps, "lr": lr * m, "weight_decay": wd, "lr_multiplier": m}
                    for (m, wd), ps in groups.items()]
    optimizer = opt_method.make(param_groups, lr)

    res = TrainingResults(loss_description=training.description)
    start_round, skip, step = 0, 0, 0
    if resume_state is not None:
        path, meta, tens = resume_state
        ckpt_io.restore(path, meta, tens, module=module, optimizer=optimizer)
        res = TrainingResults.from_json(meta.get("results", {}))
        start_round, skip, step = int(meta["round"]), int(meta["batch"]), int(meta["step"])
        if not source.resumable_within_round:
            skip = 0
        res.start_round = start_round
    dist_.broadcast_module(module)

    best_state = None
    if resume_state is not None and "best" in resume_state[1]:
        best_state = {k[len("best/"):]: t for k, t in resume_state[2].items() if k.startswith("best/")}
    good = [p.detach().clone() for p in params]

    def checkpoint_now(round_index: int, batch: int) -> None:
        if plan.directory is None or not dist_.main:
            return
        extra = {"seed": seed, "results": res.to_json(), "world": world}
        if best_state is not None:
            extra["best"] = True
        ckpt_io.save_checkpoint(plan.directory, module=module, net=work, optimizer=optimizer,
                                round_index=round_index, batch=batch, step=step, extra=extra,
                                keep=plan.keep, more_tensors={f"best/{k}": v for k, v in
                                                              (best_state or {}).items()})

    if plan.directory is not None and dist_.main:
        ckpt_io.cleanup_temporaries(plan.directory)

    bar = Progress(progress and dist_.main,
                   per_round * max_rounds if per_round else None,
                   initial=(start_round * per_round + skip) if per_round else 0)
    consecutive_bad = 0
    examples = 0
    t_start = time.perf_counter()
    last_ckpt = time.monotonic()
    stop_reason = ""
    best_value = min(res.validation_losses or res.round_losses or [math.inf])
    rounds_since_best = 0
    cuda_devices = [device] if device.type == "cuda" else []
    rng_seeded = resume_state is not None

    with torch.random.fork_rng(devices=cuda_devices):
        if not rng_seeded:
            torch.manual_seed(seed + 7 * rank)
        if resume_state is not None:
            torch.set_rng_state(resume_state[2]["rng/torch"])
        module.train()
        r = start_round
        try:
            while r < max_rounds and not stop_reason:
                round_sum, round_n = 0.0, 0
                b = skip
                for gn, batch in source.batches(r, skip):
                    if device.type != "cpu":
                        batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
                    out = module.run_ports(batch)
                    loss_sum = sum(_per_example_sum(out[p]) for p in training.loss_ports)
                    (loss_sum * (world / gn)).backward()
                    grads = []
                    for p in params:
                        if p.grad is None:
                            p.grad = torch.zeros_like(p)
                        grads.append(p.grad)
                    total = loss_sum.detach()
                    if world > 1:
                        flat = torch.cat([g.reshape(-1) for g in grads] + [total.reshape(1).to(grads[0].dtype)])
                        dist_.all_reduce_(flat)
                        total = flat[-1]
                        flat = flat[:-1] / world
                        offset = 0
                        for g in grads:
                            g.copy_(flat[offset:offset + g.numel()].view_as(g))
                            offset += g.numel()
                    vals = fused_check(total / gn, grads, params)
                    if not all_finite(vals):  # rare: find out which, exactly
                        vals = confirm(vals, list(grads) + [p.detach() for p in params], 1)
                    mean_loss, gvals, pvals = vals[0], vals[1:1 + len(grads)], vals[1 + len(grads):]
                    if all_finite(vals):
                        if clipping.value is not None:
                            for g in grads:
                                g.clamp_(-clipping.value, clipping.value)
                        if clipping.norm is not None:
                            torch.nn.utils.clip_grad_norm_(params, clipping.norm, foreach=True)
                        torch._foreach_copy_(good, [p.detach() for p in params])
                        optimizer.step()
                        step += 1
                        consecutive_bad = 0
                        res.batch_losses.append(mean_loss)
                        round_sum += mean_loss * gn
                        round_n += gn
                    else:
                        consecutive_bad += 1
                        _skip(res, r, b, step, mean_loss, names, gvals, pvals, params, good,
                              optimizer, module, batch, bar)
                        if consecutive_bad > stopping.nonfinite_patience:
                            stop_reason = (f"{consecutive_bad} consecutive steps were not finite "
                                           f"(nonfinite_patience={stopping.nonfinite_patience}); "
                                           f"the last good net is returned. Last: "
                                           f"{res.skipped_steps[-1].message}")
                    for p in params:
                        p.grad = None
                    examples += gn
                    b += 1
                    bar.update(r, res.batch_losses[-1] if res.batch_losses else None)
                    if stop_reason:
                        break
                    if plan.every_seconds is not None and source.resumable_within_round and \
                            time.monotonic() - last_ckpt >= plan.every_seconds:
                        checkpoint_now(r, b)
                        last_ckpt = time.monotonic()
                skip = 0
                if stop_reason:
                    break
                if isinstance(source, Stream) and source.exhausted and round_n == 0 and b == 0:
                    stop_reason = "the data generator is exhausted"
                    break
                # ---- end of a round ----
                r += 1
                res.rounds_completed = r
                res.round_losses.append(round_sum / round_n if round_n else math.nan)
                value = res.round_losses[-1]
                if val_source is not None:
                    v = _validation_loss(module, val_source, training.loss_ports, device)
                    res.validation_losses.append(v)
                    value = v
                    if v < best_value:
                        best_state = {k: t.detach().clone() for k, t in work.state_dict().items()}
                threshold = best_value - max(stopping.absolute_change,
                                             stopping.relative_change * abs(best_value)
                                             if math.isfinite(best_value) else 0.0)
                if value < threshold or not math.isfinite(best_value):
                    rounds_since_best = 0
                else:
                    rounds_since_best += 1
                if value < best_value:
                    best_value = value
                    res.best_round = r
                elapsed = time.perf_counter() - t_start
                res.examples_per_second = examples / elapsed if elapsed > 0 else 0.0
                res.steps = step
                if stopping.patience is not None and rounds_since_best >= stopping.patience:
                    stop_reason = (f"no improvement of the loss for {stopping.patience} rounds "
                                   f"(patience={stopping.patience})")
                elif stopping.function is not None and stopping.function(res):
                    stop_reason = "the training_stopping_criterion function returned True"
                elif isinstance(source, Stream) and source.kind == "iterator" and source.exhausted:
                    stop_reason = "the data generator is exhausted"
                if plan.every_rounds is not None and (r % plan.every_rounds == 0 or r == max_rounds
                                                      or stop_reason):
                    checkpoint_now(r, 0)
                    last_ckpt = time.monotonic()
            if not stop_reason:
                stop_reason = f"max_training_rounds={max_rounds} reached"
        except NetgradError as e:
            # Bad data mid-run: nothing half-applied; save what was learned, then say so.
            if plan.directory is not None and dist_.main:
                checkpoint_now(r, 0 if not source.resumable_within_round else b)
                e.fix = ((e.fix + "; " if e.fix else "") + "training state up to this batch was "
                         f"saved: fix the data and pass resume={plan.directory!r}")
                e.args = (e._message(),)
            raise
        finally:
            bar.close()
            module.train(False)

    # ---- the result -------------------------------------------------------------------------
    final = confirm(fused_check(torch.zeros(()), [], params), [p.detach() for p in params], 1)
    if not all_finite(final):  # the very last step broke the arrays: take them back
        with torch.no_grad():
            torch._foreach_copy_(params, good)
    if best_state is not None and val_source is not None:
        work.load_state_dict(best_state)
    for p, flag in frozen:
        p.requires_grad_(flag)
    elapsed = time.perf_counter() - t_start
    res.examples_per_second = examples / elapsed if elapsed > 0 else 0.0
    res.steps = step
    res.stop_reason = stop_reason
    res.final_learning_rate = lr
    if res.best_round is None and res.round_losses:
        res.best_round = int(np.nanargmin(res.round_losses)) + 1 if not all(
            math.isnan(v) for v in res.round_losses) else None
    work.train(net.training)
    work.to(device=orig_device, dtype=orig_dtype or torch.get_default_dtype())
    res.net = work
    return res if want_results else work


def _skip(res, r, b, step, loss_value, names, gvals, pvals, params, good, optimizer, module,
          batch, bar) -> None:
    bad = describe_bad(names, gvals, "gradient has")
    broken = describe_bad(names, pvals, "array has")
    parts = []
    if broken:
        with torch.no_grad():
            torch._foreach_copy_(params, good)
        optimizer.state.clear()
        parts.append("the arrays became non-finite in the previous step ("
                     + ", ".join(broken[:4]) + "); they were restored and the optimizer state reset")
    if not math.isfinite(loss_value):
        parts.append(f"the loss is {loss_value}")
    if bad:
        parts.append("non-finite gradients of " + ", ".join(bad[:6])
                     + (f" and {len(bad) - 6} more" if len(bad) > 6 else ""))
    where = locate(module, batch) if not broken else None
    if where:
        parts.append(f"diagnostics: {where}")
    nonfinite_inputs = [p for p, t in batch.items() if t.is_floating_point()
                        and not bool(torch.isfinite(t).all())]
    if nonfinite_inputs:
        parts.append(f"the batch has non-finite values at ports {nonfinite_inputs}")
    msg = (f"round {r + 1}, batch {b + 1}: step skipped (not applied): " + "; ".join(parts))
    res.skipped_steps.append(SkippedStep(r + 1, b + 1, step, loss_value,
                                         [x.split(" (")[0] for x in bad], msg))
    bar.write(f"netgrad.train: {msg}")
    warnings.warn(msg, NonFiniteStepWarning, stacklevel=4)


@torch.no_grad()
def _validation_loss(module, source, loss_ports, device) -> float:
    was = module.training
    module.train(False)
    total, n = 0.0, 0
    try:
        for gn, batch in source.batches(0, 0):
            if device.type != "cpu":
                batch = {k: v.to(device) for k, v in batch.items()}
            out = module.run_ports(batch)
            total += float(sum(_per_example_sum(out[p]) for p in loss_ports))
            n += gn
    finally:
        module.train(was)
    return total / n if n else math.nan
