"""The one object a training run works on, and the small pieces that plug into its loop.

:func:`netgrad.train` is four phases over a :class:`TrainState`: *prepare* (options, data,
net, optimizer: :mod:`._prepare`), *step* (one global batch: :mod:`._step`), *end of round*
(measurements, best net) and *finish* (the returned net and results: :mod:`._train`). Stopping
criteria, checkpoints and reporting are :class:`Plugin` objects called at fixed points:

    start(state)        once, before the first batch
    after_batch(state)  after every global batch (applied or skipped)
    after_round(state)  after every completed round, once the measurements are in
    finish(state)       once, after the last batch (also when training stops early)

A plugin stops training by calling ``state.stop(reason)``. Plugins must not read tensors in
``after_batch`` (that would add a host synchronization per step); the guard's values
(``state.last_loss``) are already on the host.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import torch

__all__ = ["TrainState", "Plugin"]


class Plugin:
    """A piece of the training loop; override the hooks it needs."""

    def start(self, state: "TrainState") -> None:
        pass

    def after_batch(self, state: "TrainState") -> None:
        pass

    def after_round(self, state: "TrainState") -> None:
        pass

    def finish(self, state: "TrainState") -> None:
        pass


@dataclass
class TrainState:
    """Everything a training run knows, in one place (read by plugins, written by the loop)."""

    # what is trained
    module: Any = None                  # the training net (the net copy, with its loss)
    work: Any = None                    # the net copy that is returned
    training: Any = None                # TrainingNet: loss ports, target ports
    params: list[torch.nn.Parameter] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    optimizer: Any = None
    scheduler: Any = None
    scaler: Any = None                  # torch.amp.GradScaler for float16
    options: Any = None                 # the parsed options (TrainOptions)
    dist: Any = None                    # Distributed
    device: torch.device = torch.device("cpu")
    source: Any = None
    val_source: Any = None
    meter: Any = None                   # training measurements of the round
    val_meter: Any = None
    results: Any = None                 # TrainingResults, filled in as training goes
    seed: int = 0
    # where training is
    round: int = 0                      # 0-based index of the current round
    batch: int = 0                      # batches done in the current round
    step: int = 0                       # optimizer steps applied (all rounds)
    total_batches: int = 0              # global batches seen (all rounds, this call)
    batches_per_round: int | None = None
    max_rounds: int = 1
    examples: int = 0
    round_loss_sum: float = 0.0
    round_examples: int = 0
    last_loss: float | None = None
    consecutive_bad: int = 0
    good: list[torch.Tensor] = field(default_factory=list)   # arrays before the last step
    best_state: dict[str, torch.Tensor] | None = None
    best_value: float = float("nan")
    stop_reason: str = ""
    t_start: float = field(default_factory=time.perf_counter)
    plugins: list[Plugin] = field(default_factory=list)
    frozen: list[tuple[torch.nn.Parameter, bool]] = field(default_factory=list)  # restored at the end

    def stop(self, reason: str) -> None:
        """Ask the loop to stop after the current batch (the first reason wins)."""
        if not self.stop_reason:
            self.stop_reason = reason

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.t_start

    def learning_rate(self) -> float:
        """The base learning rate now (the first array group's, divided by its multiplier)."""
        g = self.optimizer.param_groups[0]
        m = g.get("lr_multiplier", 1.0) or 1.0
        return float(g["lr"]) / m

    def info(self) -> dict[str, Any]:
        """The current state as the dict a progress function receives (Wolfram's keys)."""
        r = self.results
        rate = self.total_batches / self.elapsed if self.elapsed > 0 else 0.0
        total = self.batches_per_round * self.max_rounds if self.batches_per_round else None
        return {
            "Round": self.round + 1 if self.batch else self.round,
            "Batch": self.batch, "AbsoluteBatch": self.total_batches,
            "BatchesPerRound": self.batches_per_round, "TotalRounds": self.max_rounds,
            "BatchLoss": self.last_loss, "RoundLoss": r.round_losses[-1] if r.round_losses else None,
            "ValidationLoss": r.validation_losses[-1] if r.validation_losses else None,
            "RoundMeasurements": r.round_measurements_lists[-1] if r.round_measurements_lists else {},
            "ValidationMeasurements": (r.validation_measurements_lists[-1]
                                       if r.validation_measurements_lists else {}),
            "LearningRate": self.learning_rate(), "ExamplesProcessed": self.examples,
            "BatchesPerSecond": rate, "TimeElapsed": self.elapsed,
            "ProgressFraction": (self.round * (self.batches_per_round or 0) + self.batch) / total
            if total else None,
            "SkippedBatches": len(r.skipped_steps), "Net": self.work,
        }
