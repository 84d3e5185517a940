"""Prepare a training run: every option checked, the net copied and initialized, the loss
attached, the data turned into batch sources, the optimizer, schedule and scaler built, and a
resumed run's state restored, all into one :class:`~._state.TrainState`.

Nothing here changes the caller's net, and every option is checked before the net is copied,
the data converted or a process group joined.
"""

from __future__ import annotations

import copy
import math
import os
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import torch

from .._errors import NetgradError, NetTypeError, NetValueError
from ..net._initialize import NetInitialize
from .._module import NetModule
from ..encoders._attach import training_coders
from . import _checkpoint as ckpt_io
from ._data import (InMemory, Stream, _check_shapes, _Converter, check_labels, check_not_empty,
                    make_source, split_example_data)
from ._sequences import shape_of_ragged
from ._loss import attach_loss
from ._measure import MeasurementSpec, Meter, parse_measurements
from ._options import (WHERE, Clipping, Method, Precision, Stopping, CheckpointPlan,
                       parse_checkpoint, parse_clipping, parse_device, parse_method,
                       parse_nonnegative, parse_positive_int, parse_precision, parse_seconds,
                       parse_stopping)
from ._paths import resolve_rules
from ._progress import ProgressSpec, parse_progress
from ._results import TrainingResults
from ._schedule import Schedule, parse_schedule
from ._state import TrainState

__all__ = ["TrainOptions", "parse_options", "prepare", "DEFAULT_BATCH_SIZE"]

DEFAULT_BATCH_SIZE = 64
MIN_ROUNDS, MIN_STEPS = 10, 1000


@dataclass
class TrainOptions:
    """Every option of :func:`netgrad.train`, parsed and checked."""

    loss: Any
    batch_size: int | None
    max_rounds: int | None
    max_batches: int | None
    time_goal: float | None
    method: Method
    learning_rate: float
    schedule: Schedule
    clipping: Clipping
    l2: Any
    multipliers: Any
    accumulation_steps: int
    validation_set: Any
    holdout: float | None
    measurements: list[MeasurementSpec]
    stopping: Stopping
    checkpoint: CheckpointPlan
    device_type: str
    precision: Precision
    seed: int | None
    progress: ProgressSpec
    want_results: bool
    resume: str | None
    plugins: list = field(default_factory=list)
    replay_random: bool = True


def parse_options(*, loss, batch_size, max_training_rounds, max_batches, time_goal, method,
                  learning_rate, learning_rate_schedule, gradient_clipping, l2_regularization,
                  learning_rate_multipliers, accumulation_steps, validation_set,
                  training_progress_measurements, training_stopping_criterion, checkpoint,
                  target_device, precision, seed, progress, results, resume,
                  plugins=None) -> TrainOptions:
    opt_method = parse_method(method)
    lr = parse_nonnegative(learning_rate, "learning_rate")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise NetTypeError("seed is an int or None", where=f"{WHERE}, seed", got=f"got {seed!r}",
                           fix="e.g. seed=0")
    if resume is not None and not isinstance(resume, (str, os.PathLike)):
        raise NetTypeError("resume is a checkpoint folder", where=f"{WHERE}, resume",
                           got=f"got {type(resume).__name__}",
                           fix="pass the folder given as checkpoint= to the run to continue")
    holdout = None
    if isinstance(validation_set, float):
        if not 0.0 < validation_set < 1.0:
            raise NetValueError("a validation fraction lies strictly between 0 and 1",
                                where=f"{WHERE}, validation_set", got=f"got {validation_set!r}",
                                fix="e.g. validation_set=0.2 (hold out a fifth of the data)")
        holdout = validation_set
    if not isinstance(results, bool):
        raise NetTypeError("results is True or False", where=f"{WHERE}, results",
                           got=f"got {results!r}", fix="results=True returns a TrainingResults")
    device_type = parse_device(target_device)
    from ._state import Plugin
    extra = [] if plugins is None else list(plugins) if isinstance(plugins, (list, tuple)) else [plugins]
    for p in extra:
        if not isinstance(p, Plugin):
            raise NetTypeError("plugins are netgrad.train.Plugin objects", where=f"{WHERE}, plugins",
                               got=f"got {type(p).__name__}",
                               fix="subclass netgrad.train.Plugin and override start, "
                                   "after_batch, after_round or finish")
    return TrainOptions(
        loss=loss, batch_size=parse_positive_int(batch_size, "batch_size", 64),
        max_rounds=parse_positive_int(max_training_rounds, "max_training_rounds"),
        max_batches=parse_positive_int(max_batches, "max_batches", 1000),
        time_goal=parse_seconds(time_goal, "time_goal"), method=opt_method,
        learning_rate=lr if lr is not None else opt_method.default_lr,
        schedule=parse_schedule(learning_rate_schedule),
        clipping=parse_clipping(gradient_clipping), l2=l2_regularization,
        multipliers=learning_rate_multipliers,
        accumulation_steps=parse_positive_int(accumulation_steps, "accumulation_steps", 4) or 1,
        validation_set=validation_set, holdout=holdout,
        measurements=parse_measurements(training_progress_measurements),
        stopping=parse_stopping(training_stopping_criterion),
        checkpoint=parse_checkpoint(checkpoint), device_type=device_type,
        precision=parse_precision(precision).resolve(device_type), seed=seed,
        progress=parse_progress(progress), want_results=results,
        resume=os.fspath(resume) if resume is not None else None, plugins=extra)


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


def prepare(net: NetModule, data: Any, o: TrainOptions, dist_, resume_state) -> TrainState:
    rank, world, device = dist_.rank, dist_.world, dist_.device
    seed = o.seed
    if resume_state is not None:
        seed = int(resume_state[1]["seed"])
    if seed is None:
        seed = random.SystemRandom().randrange(2 ** 31)
    seed = dist_.broadcast_int(seed)
    dtype = o.precision.dtype

    # ---- the net and its data -----------------------------------------------------------
    work = copy.deepcopy(net)  # the argument is never touched
    own_loss, target_ports = _planned_target_ports(work, o.loss)
    input_ports = list(work.input_names())
    # data in the encoders' forms (images, labels) becomes arrays before anything else sees it
    outputs = list(work.output_names())
    coders = training_coders(work, {t: outputs[0] if t == "Target" else t[:-len("Target")]
                                    for t in target_ports})
    kind, raw = make_source(data, input_ports=input_ports, target_ports=target_ports,
                            own_loss=own_loss, coders=coders)
    split = lambda b: split_example_data(b, input_ports, target_ports, own_loss,  # noqa: E731
                                         "data", coders)
    stream: Stream | None = None
    if kind == "memory":
        sample = raw
    else:
        # the converter is set below, once the loss (and so the target ports' dtypes) is known
        stream = Stream(kind, raw, None, split,  # type: ignore[arg-type]
                        o.batch_size or DEFAULT_BATCH_SIZE, seed, rank, world, {})
        sample = split(stream.peek())
    given = {p: _shape_of(sample[p]) or shape_of_ragged(sample[p])
             for p in input_ports if p in sample}
    unknown = {p: s for p, s in given.items() if work.port_shape(p) is None and s is not None}
    if unknown:
        try:
            work.bind(unknown)
        except NetgradError as e:
            raise e.located(f"{WHERE}, data") from None
    if work.uninitialized_arrays():
        work = NetInitialize(work, seed=seed)
    target_sample = sample.get(target_ports[0]) if len(target_ports) == 1 else None
    training = attach_loss(work, o.loss, target_sample, expose_outputs=bool(o.measurements))
    if o.measurements and not training.measured:
        raise NetValueError("measurements compare the net's outputs with targets, and a net "
                            "that computes its own loss has none", where=f"{WHERE}, "
                            "training_progress_measurements",
                            got=f"got {[m.name for m in o.measurements]} for "
                                f"{training.description}",
                            fix="attach a loss layer to the output instead (loss=...), or "
                                "measure only the loss")
    module = training.module
    ports = list(module.input_names())
    expected = {p: module.port_shape(p) for p in ports}
    convert = _Converter(ports, module.integer_ports(), dtype, "data",
                         "" if own_loss else " (the net's inputs and the targets)", expected)
    labels = {t: c for _, (_, t, k, c) in training.measured.items() if k == "index" and c}
    bs = o.batch_size or DEFAULT_BATCH_SIZE
    val_source: Any = None
    if kind == "memory":
        tensors = convert(raw)
        _check_shapes(tensors, expected, "data")
        n = next(iter(tensors.values())).shape[0]
        check_not_empty(n, "data")
        check_labels(tensors, labels, "data")
        if o.holdout is not None:
            g = torch.Generator().manual_seed(seed + 1)
            perm = torch.randperm(n, generator=g)
            n_val = max(1, int(round(o.holdout * n)))
            if n_val >= n:
                raise NetValueError("the validation fraction leaves no training data",
                                    where=f"{WHERE}, validation_set",
                                    got=f"got {o.holdout} of {n} examples",
                                    fix="use a smaller fraction, or pass more data")
            val_t = {p: t[perm[:n_val]] for p, t in tensors.items()}
            tensors = {p: t[perm[n_val:]] for p, t in tensors.items()}
            n -= n_val
            val_source = InMemory(val_t, bs, seed, 0, 1, shuffle=False)
        if n < world:
            raise NetValueError(f"data-parallel training on {world} processes needs at least "
                                f"{world} examples", where=f"{WHERE}, data", got=f"got {n}",
                                fix=f"pass at least {world} examples, or run on fewer processes")
        bs = min(bs, n)
        source: Any = InMemory(tensors, bs, seed, rank, world)
    else:
        stream = cast(Stream, stream)  # made above for every kind but "memory"
        if o.holdout is not None:
            raise NetTypeError("a validation fraction needs in-memory data",
                               where=f"{WHERE}, validation_set", got=f"got {kind} data",
                               fix="pass the validation data itself")
        stream.convert, stream.expected, stream.batch_size = convert, expected, bs
        stream.split, stream.labels = split, labels
        source = stream
    if o.validation_set is not None and o.holdout is None:
        vkind, vraw = make_source(o.validation_set, input_ports=input_ports,
                                  target_ports=target_ports, own_loss=own_loss,
                                  what="validation_set", coders=coders)
        if vkind == "memory":
            vconv = _Converter(ports, module.integer_ports(), dtype, "validation_set", "",
                               expected)
            vt = vconv(vraw)
            _check_shapes(vt, expected, "validation_set")
            check_not_empty(next(iter(vt.values())).shape[0], "validation_set")
            check_labels(vt, labels, "validation_set")
            val_source = InMemory(vt, bs, seed, 0, 1, shuffle=False)
        elif vkind == "dataset":
            val_source = Stream("dataset", vraw, convert, split, bs, seed, 0, 1, expected)
            val_source.labels, val_source.what = labels, "validation_set"
        else:
            raise NetTypeError("validation_set is in-memory data, a Dataset or a fraction",
                               where=f"{WHERE}, validation_set", got=f"got {vkind} data",
                               fix="pass (inputs, targets) or a torch Dataset")
    o.batch_size = bs
    per_round = source.batches_per_round()
    max_rounds = o.max_rounds
    if max_rounds is None:
        if o.max_batches is not None or o.time_goal is not None:
            max_rounds = 2 ** 31 - 1 if per_round is None else max(
                1, math.ceil((o.max_batches or 2 ** 31 - 1) / per_round))
        else:
            max_rounds = max(MIN_ROUNDS, math.ceil(MIN_STEPS / per_round)) if per_round else MIN_ROUNDS
    if o.accumulation_steps > bs:
        raise NetValueError("accumulation_steps splits each batch into that many parts, so it "
                            "is at most the batch size", where=f"{WHERE}, accumulation_steps",
                            got=f"got accumulation_steps={o.accumulation_steps} for batches of {bs}",
                            fix=f"use accumulation_steps ≤ {bs}, or a larger batch_size")

    # ---- arrays, optimizer, schedule, scaler -------------------------------------------------
    module.to(device=device, dtype=dtype)
    mults = resolve_rules(work, o.multipliers, "learning_rate_multipliers")
    decays = resolve_rules(work, o.l2, "l2_regularization")
    by_id: dict[int, tuple[str, torch.nn.Parameter]] = {}
    for path, layer, name in work.named_arrays():
        p = getattr(layer, name)
        if p is not None and id(p) not in by_id:
            by_id[id(p)] = ("/".join(path), p)
    names: list[str] = []
    params: list[torch.nn.Parameter] = []
    groups: dict[tuple[float, float], list[torch.nn.Parameter]] = {}
    frozen: list[tuple[torch.nn.Parameter, bool]] = []
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
    lr = o.learning_rate
    param_groups = [{"params": ps, "lr": lr * m, "weight_decay": wd, "lr_multiplier": m,
                     "initial_lr": lr * m} for (m, wd), ps in groups.items()]
    optimizer = o.method.make(param_groups, lr)
    total = None
    if per_round is not None and o.max_rounds is not None:
        total = per_round * max_rounds
    if o.max_batches is not None:
        total = min(total, o.max_batches) if total else o.max_batches
    if total is None and per_round is not None and o.time_goal is None:
        total = per_round * max_rounds
    scheduler = o.schedule.make(optimizer, total)
    scaler = None
    if o.precision.mixed and o.precision.half == torch.float16:
        scaler = torch.amp.GradScaler(device.type)

    st = TrainState(module=module, work=work, training=training, params=params, names=names,
                    optimizer=optimizer, scheduler=scheduler, scaler=scaler, options=o,
                    dist=dist_, device=device, source=source, val_source=val_source, seed=seed,
                    batches_per_round=per_round, max_rounds=max_rounds)
    st.frozen = frozen
    targets = {exposed: (t, "regression" if k == "binary" else k, c)
               for _, (exposed, t, k, c) in training.measured.items()}
    by_port = {port: exposed for port, (exposed, _, _, _) in training.measured.items()}
    specs = [MeasurementSpec(m.name, m.kind, by_port.get(m.port, m.port) if m.port else None,
                             m.function) for m in o.measurements]
    st.meter = Meter(specs, targets, device) if specs else None
    st.val_meter = Meter(specs, targets, device, "validation") if specs and val_source else None
    res = TrainingResults(loss_description=training.description)
    if resume_state is not None:
        path, meta, tens = resume_state
        ckpt_io.check_resume(meta, st, path)
        ckpt_io.restore(path, meta, tens, module=module, optimizer=optimizer)
        ckpt_io.restore_schedule(meta, scheduler, scaler)
        res = TrainingResults.from_json(meta.get("results", {}))
        st.round, st.batch, st.step = int(meta["round"]), int(meta["batch"]), int(meta["step"])
        if not source.resumable_within_round:
            st.batch = 0
        res.start_round = st.round
        if "best" in meta:
            st.best_state = {k[len("best/"):]: t for k, t in tens.items() if k.startswith("best/")}
            st.best_value = float(meta.get("best_value", math.nan))
        torch.set_rng_state(tens["rng/torch"])
    else:
        torch.manual_seed(seed + 7 * rank)
    res.loss_description = training.description
    res.batch_size = bs
    res.batches_per_round = per_round
    res.training_examples = source.num_examples
    res.validation_examples = getattr(val_source, "num_examples", None) if val_source else None
    res.method = o.method.name
    res.target_device = "GPU" if device.type == "cuda" else "CPU"
    res.precision = o.precision.describe()
    res.criterion = o.stopping.criterion
    if res.initial_learning_rate is None:
        res.initial_learning_rate = lr
    st.results = res
    dist_.broadcast_module(module)
    return st
