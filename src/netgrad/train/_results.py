"""What a training run reports: :class:`TrainingResults` (Wolfram's NetTrainResultsObject).

Every property has a Python name (``r.round_losses``) and, where Wolfram has one, its Wolfram
name (``r["RoundLossList"]``); ``r.properties()`` lists both. The per-round measurements are
lists of dicts, one per round: ``r.round_measurements_lists[-1]["Accuracy"]``.
"""

from __future__ import annotations

import html
import math
from dataclasses import asdict, dataclass, field
from typing import Any

from .._errors import NetKeyError

__all__ = ["TrainingResults", "SkippedStep", "NonFiniteStepWarning", "ResumeWarning",
           "WOLFRAM_NAMES"]


class NonFiniteStepWarning(RuntimeWarning):
    """A training step whose loss or gradients were not finite was skipped (not applied)."""


class ResumeWarning(UserWarning):
    """``resume=`` continues a run whose data size or options differ from this call's."""


@dataclass
class SkippedStep:
    """A step that was not applied (``kind="nonfinite"``), or a float16 step whose loss scale
    overflowed and was recomputed in float32 (``kind="loss scale"``, applied)."""

    round: int
    batch: int
    step: int
    loss: float
    bad_arrays: list[str]
    message: str
    kind: str = "nonfinite"


@dataclass
class TrainingResults:
    """The outcome of :func:`netgrad.train` with ``results=True``.

    Attributes (Wolfram's name in brackets, usable as ``r["Name"]``):
        net: the trained net ["TrainedNet"]: the net of the best round by the criterion (the
            validation loss when a validation set was given) or the net after the last step.
        final_net: the net after the last applied step ["FinalNet"].
        batch_losses: the mean loss of every applied step ["BatchLossList"].
        round_losses: the mean training loss of each completed round ["RoundLossList"].
        validation_losses: the validation loss after each round ["ValidationLossList"].
        round_measurements_lists: per round, ``{measurement: value}`` on the training batches
            ["RoundMeasurementsLists"]; ``validation_measurements_lists`` the same on the
            validation set ["ValidationMeasurementsLists"].
        best_round: 1-based round of the returned net ["BestValidationRound"].
        initial_learning_rate / final_learning_rate: the base learning rate at the start / end
            (after the schedule) ["InitialLearningRate"] / ["FinalLearningRate"].
        learning_rates: the base learning rate of every applied step.
        total_training_time: seconds ["TotalTrainingTime"]; mean_batches_per_second,
            examples_per_second ["MeanBatchesPerSecond"], ["MeanExamplesPerSecond"].
        batch_size ["BatchSize"], batches_per_round ["BatchesPerRound"],
            examples_processed ["ExamplesProcessed"], total_batches ["TotalBatches"],
            rounds_completed ["TotalRounds"], training_examples ["TrainingExamples"],
            validation_examples ["ValidationExamples"].
        checkpointing_files: the checkpoint files written ["CheckpointingFiles"].
        skipped_steps: the steps not applied (and float16 loss-scale overflows)
            ["SkippedBatches"].
        replayed_steps: steps whose first pass was not finite, re-run on the careful path (in
            float32 under mixed precision) and applied.
        stop_reason: why training stopped ["ReasonTrainingStopped"].
        method ["OptimizationMethod"], target_device ["TargetDevice"], precision, criterion.
        steps: optimizer steps applied; start_round: 0, or the resumed checkpoint's round.
        loss_description: which loss was minimized.
    """

    net: Any = None
    final_net: Any = None
    batch_losses: list[float] = field(default_factory=list)
    round_losses: list[float] = field(default_factory=list)
    validation_losses: list[float] = field(default_factory=list)
    round_measurements_lists: list[dict[str, float]] = field(default_factory=list)
    validation_measurements_lists: list[dict[str, float]] = field(default_factory=list)
    round_positions: list[int] = field(default_factory=list)
    best_round: int | None = None
    initial_learning_rate: float | None = None
    final_learning_rate: float | None = None
    learning_rates: list[float] = field(default_factory=list)
    total_training_time: float = 0.0
    mean_batches_per_second: float = 0.0
    examples_per_second: float = 0.0
    batch_size: int = 0
    batches_per_round: int | None = None
    examples_processed: int = 0
    total_batches: int = 0
    training_examples: int | None = None
    validation_examples: int | None = None
    checkpointing_files: list[str] = field(default_factory=list)
    stop_reason: str = ""
    rounds_completed: int = 0
    steps: int = 0
    skipped_steps: list[SkippedStep] = field(default_factory=list)
    replayed_steps: list[SkippedStep] = field(default_factory=list)
    start_round: int = 0
    loss_description: str = ""
    method: str = ""
    target_device: str = "CPU"
    precision: str = "float32"
    criterion: str = "Loss"

    # ---- Wolfram's names --------------------------------------------------------------------

    def __getitem__(self, name: str) -> Any:
        """A property by Wolfram name (``r["TrainedNet"]``) or Python name (``r["net"]``)."""
        key = WOLFRAM_NAMES.get(name, name) if isinstance(name, str) else None
        if callable(key):
            return key(self)
        if isinstance(key, str) and key in self.__dataclass_fields__:
            return getattr(self, key)
        import difflib
        names = sorted(WOLFRAM_NAMES) + sorted(self.__dataclass_fields__)
        close = difflib.get_close_matches(str(name), names, n=1)
        raise NetKeyError("TrainingResults has no property by that name",
                          where="TrainingResults[...]", got=f"got {name!r}",
                          fix=(f"did you mean {close[0]!r}? " if close else "")
                          + "r.properties() lists them all")

    def properties(self) -> dict[str, str]:
        """``{Wolfram name: Python name}`` for every property reachable by ``r[name]``."""
        return {w: (p if isinstance(p, str) else p.__doc__ or w) for w, p in WOLFRAM_NAMES.items()}

    # ---- derived ----------------------------------------------------------------------------

    def measurement_names(self) -> list[str]:
        """The measurements recorded per round (training or validation)."""
        seen: dict[str, None] = {}
        for row in self.round_measurements_lists + self.validation_measurements_lists:
            seen.update(dict.fromkeys(row))
        return list(seen)

    def series(self, name: str, on: str = "training") -> list[float]:
        """One measurement's value per round, on ``"training"`` batches or ``"validation"``."""
        rows = self.round_measurements_lists if on == "training" else self.validation_measurements_lists
        if name == "Loss":
            return list(self.round_losses if on == "training" else self.validation_losses)
        if not any(name in r for r in rows):
            raise NetKeyError(f"no {on} measurement {name!r} was recorded",
                              where="TrainingResults.series", got=f"got {name!r}",
                              fix=f"recorded: {['Loss'] + self.measurement_names()}; pass "
                                  f"training_progress_measurements=[{name!r}] to netgrad.train")
        return [r.get(name, math.nan) for r in rows]

    # ---- storage (checkpoints) ----------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """Everything but the nets, as JSON data (stored in checkpoints)."""
        d = asdict(self)
        d.pop("net")
        d.pop("final_net")
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "TrainingResults":
        d = dict(d)
        d["skipped_steps"] = [SkippedStep(**s) for s in d.get("skipped_steps", [])]
        d["replayed_steps"] = [SkippedStep(**s) for s in d.get("replayed_steps", [])]
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})

    # ---- display ------------------------------------------------------------------------------

    def plot(self, *measurements: str, ax: Any = None, log: bool | None = None) -> Any:
        """Plot measurements per round (default: the loss) with matplotlib; returns the axes.

        ``r.plot()`` draws the batch losses, the round losses and the validation losses;
        ``r.plot("Accuracy")`` the training and validation accuracy per round; several names
        give several curves on the same axes. See :func:`netgrad.plot.training_curves`.
        """
        from ..plot._training import training_curves
        return training_curves(self, *measurements, ax=ax, log=log)

    def _summary_rows(self) -> list[tuple[str, str]]:
        def fmt(v: Any) -> str:
            return f"{v:.4g}" if isinstance(v, float) else str(v)
        rows = [("rounds", f"{self.rounds_completed} ({self.steps} steps, "
                           f"{len(self.skipped_steps)} skipped)"),
                ("stopped because", self.stop_reason),
                ("loss", self.loss_description),
                ("method", f"{self.method}, batch size {self.batch_size}, {self.precision}")]
        if self.round_losses:
            rows.append(("final round loss", fmt(self.round_losses[-1])))
        if self.validation_losses:
            rows.append(("final validation loss", fmt(self.validation_losses[-1])))
        for on, lists in (("training", self.round_measurements_lists),
                          ("validation", self.validation_measurements_lists)):
            if lists:
                rows.append((f"{on} measurements",
                             ", ".join(f"{k} {fmt(v)}" for k, v in lists[-1].items())))
        rows += [("best round", fmt(self.best_round)),
                 ("learning rate", f"{fmt(self.initial_learning_rate)} → "
                                   f"{fmt(self.final_learning_rate)}"),
                 ("time", f"{self.total_training_time:.3g} s, "
                          f"{self.mean_batches_per_second:.4g} batches/s")]
        return rows

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><th style='text-align:left'>{html.escape(k)}</th>"
                       f"<td style='text-align:left'>{html.escape(v)}</td></tr>"
                       for k, v in self._summary_rows())
        return (f"<div><b>TrainingResults</b>{_sparkline(self.round_losses, self.validation_losses)}"
                f"<table>{rows}</table></div>")

    def __repr__(self) -> str:
        last = f"{self.round_losses[-1]:.4g}" if self.round_losses else "n/a"
        return (f"TrainingResults(rounds={self.rounds_completed}, steps={self.steps}, "
                f"skipped={len(self.skipped_steps)}, final round loss={last}, "
                f"best_round={self.best_round}, stop_reason={self.stop_reason!r})")


def _sparkline(*series: list[float], width: int = 240, height: int = 60) -> str:
    """An inline SVG of the loss curves (no matplotlib needed), for notebooks."""
    values = [v for s in series for v in s if math.isfinite(v)]
    if not values or max(len(s) for s in series) < 2:
        return ""
    lo, hi = min(values), max(values)
    span = (hi - lo) or 1.0
    lines = []
    for s, color in zip(series, ("#1f77b4", "#ff7f0e")):
        if len(s) < 2:
            continue
        pts = " ".join(f"{i * (width - 4) / (len(s) - 1) + 2:.1f},"
                       f"{height - 2 - (v - lo) / span * (height - 4):.1f}"
                       for i, v in enumerate(s) if math.isfinite(v))
        lines.append(f"<polyline fill='none' stroke='{color}' stroke-width='1.5' points='{pts}'/>")
    return (f"<br><svg width='{width}' height='{height}' xmlns='http://www.w3.org/2000/svg'>"
            + "".join(lines) + "</svg>")


def _last(attr: str):
    def get(r: TrainingResults) -> Any:
        v = getattr(r, attr)
        return v[-1] if v else None
    get.__doc__ = f"{attr}[-1]"
    return get


def _plot(r: TrainingResults) -> Any:
    """plot()"""
    return r.plot()


WOLFRAM_NAMES: dict[str, Any] = {
    "TrainedNet": "net", "FinalNet": "final_net",
    "BatchLossList": "batch_losses", "RoundLossList": "round_losses",
    "ValidationLossList": "validation_losses",
    "RoundLoss": _last("round_losses"), "ValidationLoss": _last("validation_losses"),
    "RoundMeasurementsLists": "round_measurements_lists",
    "ValidationMeasurementsLists": "validation_measurements_lists",
    "RoundMeasurements": _last("round_measurements_lists"),
    "ValidationMeasurements": _last("validation_measurements_lists"),
    "RoundPositions": "round_positions",
    "BestValidationRound": "best_round",
    "InitialLearningRate": "initial_learning_rate", "FinalLearningRate": "final_learning_rate",
    "TotalTrainingTime": "total_training_time",
    "MeanBatchesPerSecond": "mean_batches_per_second",
    "MeanExamplesPerSecond": "examples_per_second", "MeanInputsPerSecond": "examples_per_second",
    "BatchSize": "batch_size", "BatchesPerRound": "batches_per_round",
    "ExamplesProcessed": "examples_processed", "TotalBatches": "total_batches",
    "TotalRounds": "rounds_completed",
    "TrainingExamples": "training_examples", "ValidationExamples": "validation_examples",
    "CheckpointingFiles": "checkpointing_files",
    "SkippedBatches": "skipped_steps", "SkippedTrainingData": "skipped_steps",
    "ReasonTrainingStopped": "stop_reason",
    "OptimizationMethod": "method", "TargetDevice": "target_device",
    "LossPlot": _plot,
}

