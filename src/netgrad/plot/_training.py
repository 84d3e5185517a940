"""Training curves: the loss and the measurements of a :class:`netgrad.train.TrainingResults`."""

from __future__ import annotations

import math
from typing import Any

__all__ = ["training_curves"]


def _positive_wide(values: list[float]) -> bool:
    finite = [v for v in values if math.isfinite(v)]
    return bool(finite) and min(finite) > 0 and max(finite) / min(finite) > 10


def training_curves(results: Any, *measurements: str, ax: Any = None,
                    log: bool | None = None) -> Any:
    """Plot a training run's measurements per round; returns the matplotlib Figure.

    Args:
        results: a :class:`netgrad.train.TrainingResults` (``netgrad.train(..., results=True)``).
        measurements: names of measurements (``"Loss"``, ``"Accuracy"``, ``"ErrorRate"``, any
            that were recorded, see ``results.measurement_names()``); default ``"Loss"``. One
            panel per measurement, each with the training curve (per round) and, when there is
            a validation set, the validation curve. The loss panel also shows every batch's loss.
        ax: a matplotlib Axes to draw into (one measurement only).
        log: a logarithmic y axis; default: for the loss when its values are positive and
            span more than a factor of 10.
    """
    import matplotlib.pyplot as plt

    names = list(measurements) or ["Loss"]
    for n in names:                       # raise before drawing anything: a helpful KeyError
        results.series(n, "training")
    if ax is not None and len(names) != 1:
        from .._errors import NetValueError
        raise NetValueError("ax= draws one measurement", where="netgrad.plot.training_curves",
                            got=f"got {len(names)} measurements {names}",
                            fix="leave ax out (one panel per measurement), or name one")
    panels: list[Any]
    if ax is None:
        fig, grid = plt.subplots(1, len(names), figsize=(4.8 * len(names), 3.6), squeeze=False)
        panels = list(grid[0])
    else:
        fig, panels = ax.figure, [ax]
    for a, name in zip(panels, names):
        train: list[float] = list(results.series(name, "training"))
        val: list[float] = list(results.validation_losses if name == "Loss" else
                                [row.get(name, math.nan) for row in results.validation_measurements_lists])
        shown = list(train) + list(val)
        if name == "Loss" and results.batch_losses:
            n_batches = len(results.batch_losses)
            per_round = n_batches / max(len(results.round_losses), 1)
            a.plot([(i + 1) / per_round for i in range(n_batches)], results.batch_losses,
                   lw=0.6, alpha=0.45, color="C0", label="batch")
            shown += list(results.batch_losses)
        if train:
            a.plot(range(1, len(train) + 1), train, "o-", color="C0", ms=3.5, label="training")
        if val:
            a.plot(range(1, len(val) + 1), val, "s-", color="C1", ms=3.5, label="validation")
        if results.best_round and (val or name == "Loss"):
            a.axvline(results.best_round, color="0.6", lw=0.8, ls="--", label="returned net")
        a.set_xlabel("round")
        a.set_ylabel(name)
        a.set_title(name if name != "Loss" else f"Loss ({results.loss_description})",
                    fontsize=9)
        use_log = log if log is not None else (name == "Loss" and _positive_wide(shown))
        if use_log and all(v > 0 for v in shown if math.isfinite(v)):
            a.set_yscale("log")
        a.grid(alpha=0.25)
        a.legend(fontsize=8)
    fig.tight_layout()
    return fig
