"""``netgrad.train``: Wolfram's NetTrain on PyTorch, on one process or many.

The loop is four phases over one :class:`~._state.TrainState`: :func:`~._prepare.prepare`,
the step (:class:`~._step.Stepper`), :func:`end_of_round` and :func:`finish`; stopping,
checkpoints and reporting are plugins (:mod:`._stopping`, :mod:`._checkpoint`,
:mod:`._progress`) called after every batch and every round.
"""

from __future__ import annotations

import inspect
import math
import time
from typing import Any

import numpy as np
import torch

from .._errors import NetgradError, NetTypeError
from .._module import NetModule
from . import _checkpoint as ckpt_io
from ._distributed import setup_distributed
from ._gan import GANStepper, gan_data, is_gan
from ._options import WHERE, check_unknown_options
from ._prepare import parse_options, prepare
from ._progress import make_reporter
from ._sequences import split_lengths
from ._state import TrainState
from ._step import Stepper, finite_check
from ._stopping import BestNet, Goals, UserStop

__all__ = ["train"]


def train(net: NetModule, data: Any, *, loss: Any = None, batch_size: int | None = None,
          max_training_rounds: int | None = None, max_batches: int | None = None,
          time_goal: float | None = None, method: Any = "ADAM",
          learning_rate: float | None = None, learning_rate_schedule: Any = None,
          gradient_clipping: Any = None, l2_regularization: Any = None,
          learning_rate_multipliers: Any = None, accumulation_steps: int = 1,
          validation_set: Any = None, training_progress_measurements: Any = None,
          training_stopping_criterion: Any = None, checkpoint: Any = None,
          target_device: str = "CPU", precision: Any = "float32", seed: int | None = None,
          progress: Any = True, results: bool = False, resume: Any = None,
          plugins: Any = None, **unknown: Any) -> Any:
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
        batch_size: examples per (global) batch, the batch the optimizer sees; default 64.
        max_training_rounds: rounds (passes over the data); default: at least 10 rounds and
            at least 1000 batches (without ``max_batches`` or ``time_goal``).
        max_batches: stop after this many batches (Wolfram's MaxTrainingRounds in batches).
        time_goal: stop cleanly after this many seconds (or a ``datetime.timedelta``).
        method: ``"ADAM"``, ``"SGD"`` (momentum 0.9), ``"RMSProp"``, or ``(name, {option:
            value})``, e.g. ``("ADAM", {"beta1": 0.8})``, ``("SGD", {"momentum": 0.5})``.
        learning_rate: default 1e-3 (ADAM, RMSProp) or 1e-2 (SGD).
        learning_rate_schedule: ``"Cosine"``, ``"Linear"``, ``"Exponential"``, ``"Step"``,
            ``"Polynomial"``, ``"Constant"``, optionally ``(name, {"warmup": batches, ...})``,
            or ``f(round, batch)`` giving the factor of ``learning_rate`` (see
            :mod:`netgrad.train._schedule`). ``results.final_learning_rate`` is where it ended.
        gradient_clipping: ``c``: each gradient element is clipped to [-c, c] (Wolfram);
            ``{"norm": n}``: the global L2 norm of all gradients is clipped to n; both may be
            given as ``{"value": c, "norm": n}``.
        l2_regularization: ``λ`` (adds λ/2·Σw² over every array to the loss, torch's
            ``weight_decay``), or per layer path like ``learning_rate_multipliers``.
        learning_rate_multipliers: ``{path: m}`` or ``[(path, m), ...]``; a path is a vertex
            name or position, a tuple through nested nets, optionally ending with an array
            name: ``{"enc": 0}`` freezes "enc"; the longest matching path wins.
        accumulation_steps: split each batch into this many micro-batches whose gradients are
            accumulated: the same step as the whole batch (its mean loss), in less memory.
        validation_set: data in any in-memory form or a Dataset, or a fraction in (0, 1) of the
            in-memory training data to hold out. The loss and measurements on it are taken
            after every round, and the net of the best round is returned.
        training_progress_measurements: ``["Accuracy", "ErrorRate", "Precision", "Recall",
            "F1"]`` for a classifier, ``["MeanAbsoluteError", "MeanSquaredError",
            "RootMeanSquaredError", "RSquared"]`` for a regression, or functions
            ``f(output, target)``: measured per round on the training batches and on the
            validation set (see :mod:`netgrad.train._measure`).
        training_stopping_criterion: a measurement name, or ``{"criterion": name or (name,
            "Minimize" | "Maximize"), "patience": n, "initial_patience": n,
            "absolute_change": a, "relative_change": r, "nonfinite_patience": k}``, or a
            function ``f(results) -> bool``. The criterion (default: the loss) also chooses the
            returned net. ``nonfinite_patience`` (default 10) is how many consecutive
            non-finite steps are skipped before training stops and returns the last good net.
        checkpoint: a folder, or ``{"dir": ..., "every_rounds": N, "every_seconds": S,
            "keep": K}``: atomic checkpoints (io bundle format), the K newest kept.
        target_device: ``"CPU"`` or ``"GPU"``. Under ``torchrun`` the same call trains one
            model on every process (see :mod:`netgrad.train._distributed`).
        precision: ``"float32"``, ``"float64"``, or ``"Mixed"``: autocast (bfloat16 on CPU,
            float16 with a GradScaler on GPU; ``("Mixed", "float16")`` to choose) with float32
            arrays. The returned net keeps the dtype and device of ``net``.
        seed: makes initialization, shuffling and dropout reproducible.
        progress: ``True`` (a tqdm bar in a terminal or notebook), ``"ProgressIndicator"``,
            ``"Print"``, a function of a dict of the current state, or ``None`` (see
            :mod:`netgrad.train._progress`).
        results: return a :class:`TrainingResults` (``r.net``, ``r["TrainedNet"]``, ...).
        resume: a checkpoint folder: continue the run that wrote it (same net, loss and batch
            size; a different data size or other options are warned about).
        plugins: extra :class:`netgrad.train.Plugin` objects, called after the built-in ones
            at every batch and round with the :class:`netgrad.train.TrainState`.

    A step whose loss or gradients are not finite is re-run once on the careful path; if it is
    still not finite it is not applied, and a :class:`NonFiniteStepWarning` says which arrays
    (and, with the diagnostics, which layer) went bad. The returned net never contains NaN.
    """
    check_unknown_options(unknown, _OPTION_NAMES)
    if not isinstance(net, NetModule):
        raise NetTypeError("netgrad.train trains a netgrad layer or net", where=WHERE,
                           got=f"got {type(net).__name__}",
                           fix="build it with NetChain/NetGraph and netgrad layers")
    o = parse_options(loss=loss, batch_size=batch_size, max_training_rounds=max_training_rounds,
                      max_batches=max_batches, time_goal=time_goal, method=method,
                      learning_rate=learning_rate, learning_rate_schedule=learning_rate_schedule,
                      gradient_clipping=gradient_clipping, l2_regularization=l2_regularization,
                      learning_rate_multipliers=learning_rate_multipliers,
                      accumulation_steps=accumulation_steps, validation_set=validation_set,
                      training_progress_measurements=training_progress_measurements,
                      training_stopping_criterion=training_stopping_criterion,
                      checkpoint=checkpoint, target_device=target_device, precision=precision,
                      seed=seed, progress=progress, results=results, resume=resume,
                      plugins=plugins)
    resume_state = None
    if o.resume is not None:
        resume_state = ckpt_io.load_checkpoint(o.resume)
        # the run being resumed is dead: a file it was writing when it died is garbage
        ckpt_io.cleanup_temporaries(o.resume)

    dist_ = setup_distributed(o.device_type)
    try:
        cuda = [dist_.device] if dist_.device.type == "cuda" else []
        with torch.random.fork_rng(devices=cuda):
            if is_gan(net):
                data = gan_data(net, data)
            st = prepare(net, data, o, dist_, resume_state)
            run(st)
            return finish(st, net)
    finally:
        dist_.close()


_OPTION_NAMES = [p for p in inspect.signature(train).parameters
                 if p not in ("net", "data", "unknown")]


def plugins_for(st: TrainState) -> list:
    o = st.options
    out: list = [Goals(o.max_batches, o.time_goal),
                 BestNet(o.stopping, st.val_source is not None, [m.name for m in o.measurements])]
    if o.stopping.function is not None:
        out.append(UserStop(o.stopping.function))
    if o.checkpoint.directory is not None:
        out.append(ckpt_io.Checkpointer(o.checkpoint))
    reporter = make_reporter(o.progress, st.dist.main)
    if reporter is not None:
        out.append(reporter)
    return out + list(o.plugins)


def run(st: TrainState) -> None:
    """Rounds of steps until a goal, a criterion or the data ends training."""
    st.plugins = plugins_for(st)
    step = GANStepper(st) if is_gan(st.work) else Stepper(st)
    source = st.source
    for p in st.plugins:
        p.start(st)
    st.module.train()
    st.t_start = time.perf_counter()
    try:
        while st.round < st.max_rounds and not st.stop_reason:
            skip = st.batch
            for gn, batch in source.batches(st.round, skip):
                step(batch, gn)
                st.examples += gn
                st.batch += 1
                st.total_batches += 1
                for p in st.plugins:
                    p.after_batch(st)
                if st.stop_reason:
                    break
            if st.stop_reason:
                break
            if getattr(source, "exhausted", False) and st.batch == 0:
                st.stop("the data generator is exhausted")
                break
            end_of_round(st)
            if getattr(source, "kind", "") == "iterator" and source.exhausted:
                st.stop("the data generator is exhausted")
            for p in st.plugins:
                p.after_round(st)
        if not st.stop_reason:
            st.stop(f"max_training_rounds={st.max_rounds} reached")
    except NetgradError as e:
        # Bad data mid-run: nothing half-applied; save what was learned, then say so.
        saver = next((p for p in st.plugins if isinstance(p, ckpt_io.Checkpointer)), None)
        if saver is not None and st.dist.main:
            saver.save(st, st.batch if source.resumable_within_round else 0)
            e.fix = ((e.fix + "; " if e.fix else "") + "training state up to this batch was "
                     f"saved: fix the data and pass resume={st.options.checkpoint.directory!r}")
            e.args = (e._message(),)
        raise
    finally:
        st.module.train(False)
        for p in st.plugins:
            p.finish(st)


def end_of_round(st: TrainState) -> None:
    """Round loss, training and validation measurements; the round counter moves on."""
    r = st.results
    st.round += 1
    st.batch = 0
    r.rounds_completed = st.round
    r.round_positions.append(st.step)
    r.round_losses.append(st.round_loss_sum / st.round_examples if st.round_examples else math.nan)
    st.round_loss_sum, st.round_examples = 0.0, 0
    if st.meter is not None:
        r.round_measurements_lists.append(st.meter.values())
        st.meter.reset()
    if st.val_source is not None:
        loss, values = validate(st)
        r.validation_losses.append(loss)
        if st.val_meter is not None:
            r.validation_measurements_lists.append(values)
    _timing(st)


def _timing(st: TrainState) -> None:
    r = st.results
    elapsed = st.elapsed
    r.total_training_time = elapsed
    r.examples_processed = st.examples
    r.total_batches = st.total_batches
    r.examples_per_second = st.examples / elapsed if elapsed > 0 else 0.0
    r.mean_batches_per_second = st.total_batches / elapsed if elapsed > 0 else 0.0
    r.steps = st.step


@torch.no_grad()
def validate(st: TrainState) -> tuple[float, dict[str, float]]:
    """The loss and measurements on the validation set (evaluation mode, no gradients)."""
    module, meter = st.module, st.val_meter
    was = module.training
    module.train(False)
    total: torch.Tensor | None = None
    n = 0
    o = st.options
    try:
        if meter is not None:
            meter.reset()
        for gn, batch in st.val_source.batches(0, 0):
            if st.device.type != "cpu":
                batch = {k: v.to(st.device) for k, v in batch.items()}
            if o.precision.mixed:
                with torch.autocast(st.device.type, dtype=o.precision.half):
                    out = module.run_ports(*split_lengths(batch))
            else:
                out = module.run_ports(*split_lengths(batch))
            s = torch.stack([_per_example_sum(out[p]).double() for p in st.training.loss_ports]).sum()
            total = s if total is None else total + s
            n += gn
            if meter is not None:
                meter.update(out, batch, gn)
    finally:
        module.train(was)
    values = meter.values() if meter is not None else {}
    return (float(total) / n if total is not None and n else math.nan), values


def _per_example_sum(t: torch.Tensor) -> torch.Tensor:
    return t.sum() if t.dim() <= 1 else t.flatten(1).mean(1).sum()


def finish(st: TrainState, net: NetModule) -> Any:
    """The returned net (the best round's, arrays restored if the last step broke them) and
    the results."""
    r, work = st.results, st.work
    check = finite_check(torch.zeros((), device=st.device), [p.detach() for p in st.params])
    if not math.isfinite(check) and not all(bool(torch.isfinite(p).all()) for p in st.params):
        with torch.no_grad():  # the very last step broke the arrays: take them back
            torch._foreach_copy_([p.detach() for p in st.params], st.good)
    for p, flag in st.frozen:
        p.requires_grad_(flag)
    _timing(st)
    r.stop_reason = st.stop_reason
    r.final_learning_rate = st.learning_rate()
    if r.best_round is None and r.round_losses and not all(math.isnan(v) for v in r.round_losses):
        r.best_round = int(np.nanargmin(r.round_losses)) + 1
    orig_device, orig_dtype = net._device_dtype()
    final = None
    if st.best_state is not None:
        import copy
        final = copy.deepcopy(work)
        work.load_state_dict(st.best_state)
    for w in (work, final):
        if w is not None:
            w.train(net.training)
            w.to(device=orig_device, dtype=orig_dtype or torch.get_default_dtype())
    r.net = work
    r.final_net = final if final is not None else work
    return r if st.options.want_results else work

