"""Stopping and the choice of the returned net, as plugins of the training loop.

* :class:`Goals`: ``max_batches`` and ``time_goal`` (checked after every batch: a clean stop,
  with the reason, and the round counts as done only if it was finished);
* :class:`BestNet`: after every round, the criterion (a measurement, on the validation set when
  there is one) decides whether the round improved; the best round's arrays are kept and
  returned, and ``patience`` rounds without improvement stop training;
* :class:`UserStop`: ``training_stopping_criterion=f`` (``f(results)`` True stops).
"""

from __future__ import annotations

import math
import time

from .._errors import NetValueError
from ._measure import direction_of
from ._options import WHERE, call_user
from ._state import Plugin, TrainState

__all__ = ["Goals", "BestNet", "UserStop"]


class Goals(Plugin):
    def __init__(self, max_batches: int | None, time_goal: float | None) -> None:
        self.max_batches, self.time_goal = max_batches, time_goal
        self._t0 = 0.0

    def start(self, state: TrainState) -> None:
        self._t0 = time.perf_counter()

    def after_batch(self, state: TrainState) -> None:
        if self.max_batches is not None and state.total_batches >= self.max_batches:
            state.stop(f"max_batches={self.max_batches} reached")
        elif self.time_goal is not None and time.perf_counter() - self._t0 >= self.time_goal:
            state.stop(f"time_goal={self.time_goal:g} s reached (after {state.total_batches} "
                       f"batches)")


class BestNet(Plugin):
    """The criterion after each round: improvement, the best net, and patience."""

    def __init__(self, stopping, validation: bool, measurement_names: list[str]) -> None:
        self.s = stopping
        name = stopping.criterion
        known = ["Loss"] + measurement_names
        if name not in known:
            import difflib
            close = difflib.get_close_matches(name, known, n=1)
            raise NetValueError("the criterion is the loss or a measurement that is made",
                                where=f"{WHERE}, training_stopping_criterion",
                                got=f"got {name!r}; measured: {known}",
                                fix=(f"did you mean {close[0]!r}? " if close else "")
                                + f"or add it: training_progress_measurements=[{name!r}]")
        self.name = name
        self.maximize = (stopping.direction or direction_of(name)) == "Maximize"
        self.validation = validation
        self.rounds_since_best = 0

    def _value(self, state: TrainState) -> float:
        r = state.results
        if self.name == "Loss":
            lst = r.validation_losses if self.validation else r.round_losses
            return lst[-1] if lst else math.nan
        rows = r.validation_measurements_lists if self.validation else r.round_measurements_lists
        return rows[-1].get(self.name, math.nan) if rows else math.nan

    def start(self, state: TrainState) -> None:
        # a resumed run: the best value so far, from the history the checkpoint kept
        if math.isfinite(state.best_value):
            return
        r = state.results
        if self.name == "Loss":
            series = r.validation_losses if self.validation else r.round_losses
        else:
            rows = r.validation_measurements_lists if self.validation else r.round_measurements_lists
            series = [row.get(self.name, math.nan) for row in rows]
        finite = [v for v in series if math.isfinite(v)]
        state.best_value = (max(finite) if self.maximize else min(finite)) if finite else math.nan

    def after_round(self, state: TrainState) -> None:
        v = self._value(state)
        if not math.isfinite(v):
            self.rounds_since_best += 1
        else:
            sign = -1.0 if self.maximize else 1.0
            best = state.best_value
            if not math.isfinite(best):
                improved, better = True, True
            else:
                margin = max(self.s.absolute_change, self.s.relative_change * abs(best))
                improved = sign * v < sign * best - margin
                better = sign * v < sign * best
            if better:
                state.best_value = v
                state.results.best_round = state.round
                if self.validation or self.name != "Loss":
                    state.best_state = {k: t.detach().clone() for k, t in state.work.state_dict().items()}
            self.rounds_since_best = 0 if improved else self.rounds_since_best + 1
        p = self.s.patience
        if p is not None and state.round > self.s.initial_patience and self.rounds_since_best >= p:
            what = "validation " if self.validation else ""
            state.stop(f"no improvement of the {what}{self.name} for {p} round"
                       f"{'s' if p > 1 else ''} (patience={p})")


class UserStop(Plugin):
    def __init__(self, function) -> None:
        self.function = function

    def after_round(self, state: TrainState) -> None:
        if call_user(self.function, (state.results,), f"{WHERE}, training_stopping_criterion",
                     "f(results)", f"after round {state.round}"):
            state.stop("the training_stopping_criterion function returned True")
