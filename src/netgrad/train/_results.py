"""What a training run reports: :class:`TrainingResults`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["TrainingResults", "SkippedStep", "NonFiniteStepWarning"]


class NonFiniteStepWarning(RuntimeWarning):
    """A training step whose loss or gradients were not finite was skipped (not applied)."""


@dataclass
class SkippedStep:
    """A step that was not applied: where, and what went bad."""

    round: int
    batch: int
    step: int
    loss: float
    bad_arrays: list[str]
    message: str


@dataclass
class TrainingResults:
    """The outcome of :func:`netgrad.train` with ``results=True``.

    Attributes:
        net: the trained net (the net with the lowest validation loss when a validation set was
            given, else the net after the last applied step).
        batch_losses: the mean loss of every applied step, in order.
        round_losses: the mean training loss of each completed round.
        validation_losses: the validation loss after each round (empty without a validation set).
        best_round: 1-based round with the lowest validation loss (training loss without one).
        final_learning_rate: the base learning rate at the end.
        examples_per_second: training examples processed per second (all processes together).
        stop_reason: why training stopped, in words.
        rounds_completed: rounds completed (including those before a resume).
        steps: optimizer steps applied; ``skipped_steps``: the steps that were not.
        start_round: the round training started from (0, or the resumed checkpoint's round).
        loss_description: which loss was minimized.
    """

    net: Any = None
    batch_losses: list[float] = field(default_factory=list)
    round_losses: list[float] = field(default_factory=list)
    validation_losses: list[float] = field(default_factory=list)
    best_round: int | None = None
    final_learning_rate: float | None = None
    examples_per_second: float = 0.0
    stop_reason: str = ""
    rounds_completed: int = 0
    steps: int = 0
    skipped_steps: list[SkippedStep] = field(default_factory=list)
    start_round: int = 0
    loss_description: str = ""

    def to_json(self) -> dict[str, Any]:
        """Everything but the net, as JSON data (stored in checkpoints)."""
        d = asdict(self)
        d.pop("net")
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "TrainingResults":
        d = dict(d)
        d["skipped_steps"] = [SkippedStep(**s) for s in d.get("skipped_steps", [])]
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})

    def plot(self, ax: Any = None) -> Any:
        """Plot the loss curves (batch losses, round losses, validation losses) with matplotlib
        (imported here, so matplotlib is needed only for plotting). Returns the axes."""
        import matplotlib.pyplot as plt
        if ax is None:
            _, ax = plt.subplots()
        n_batches = len(self.batch_losses)
        n_rounds = max(len(self.round_losses), 1)
        per_round = n_batches / n_rounds if n_batches else 1.0
        if n_batches:
            ax.plot([(i + 1) / per_round for i in range(n_batches)], self.batch_losses,
                    lw=0.6, alpha=0.5, label="batch loss")
        if self.round_losses:
            ax.plot(range(1, len(self.round_losses) + 1), self.round_losses, "o-",
                    label="round loss")
        if self.validation_losses:
            ax.plot(range(1, len(self.validation_losses) + 1), self.validation_losses, "s-",
                    label="validation loss")
        ax.set_xlabel("round")
        ax.set_ylabel("loss")
        if all(v > 0 for v in self.batch_losses + self.round_losses + self.validation_losses):
            ax.set_yscale("log")
        ax.legend()
        return ax

    def __repr__(self) -> str:
        last = f"{self.round_losses[-1]:.4g}" if self.round_losses else "n/a"
        return (f"TrainingResults(rounds={self.rounds_completed}, steps={self.steps}, "
                f"skipped={len(self.skipped_steps)}, final round loss={last}, "
                f"best_round={self.best_round}, stop_reason={self.stop_reason!r})")
