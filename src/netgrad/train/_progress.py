"""Reporting (Wolfram's TrainingProgressReporting): ``progress=`` of :func:`netgrad.train`.

* ``True`` (default): a ``tqdm.auto`` bar where someone can see it (a terminal, or a Jupyter
  notebook, where tqdm.auto draws a widget); nothing when stderr is a file or a pipe.
* ``"ProgressIndicator"``: the bar, always (also into a log file).
* ``"Print"``: a line per round (round, loss, measurements, rate); ``("Print", {"every_seconds":
  s})`` a line every s seconds instead.
* a function ``f(info)``: called after every round with a dict of the current state
  (Wolfram's keys: ``"Round"``, ``"Batch"``, ``"BatchLoss"``, ``"RoundLoss"``,
  ``"ValidationLoss"``, ``"RoundMeasurements"``, ``"LearningRate"``, ``"TimeElapsed"``, ...);
  ``(f, {"every_batches": n})`` or ``(f, {"every_rounds": n})`` to choose how often.
* ``None`` or ``False``: nothing.

The bar shows the round, the batch in the round, the loss and tqdm's rate, and is correct at
the end (its last refresh comes after the last batch).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .._errors import NetKeyError, NetValueError
from ._options import WHERE, _norm_key, call_user, check_arity
from ._state import Plugin, TrainState

__all__ = ["ProgressSpec", "parse_progress", "make_reporter", "ProgressBar", "PrintReporter",
           "FunctionReporter"]


@dataclass
class ProgressSpec:
    kind: str                               # "auto", "bar", "print", "function", "none"
    every_seconds: float | None = None
    every_batches: int | None = None
    every_rounds: int = 1
    function: Callable[[dict], Any] | None = None


_ACCEPTED = ('True (a bar where it can be seen), "ProgressIndicator", "Print", '
             '("Print", {"every_seconds": s}), a function f(info), (f, {"every_batches": n}) or '
             '(f, {"every_rounds": n}), None')


def parse_progress(spec: Any) -> ProgressSpec:
    where = f"{WHERE}, progress"
    if spec is None or spec is False:
        return ProgressSpec("none")
    if spec is True:
        return ProgressSpec("auto")
    options: Mapping[str, Any] = {}
    if isinstance(spec, (tuple, list)) and len(spec) == 2 and isinstance(spec[1], Mapping):
        spec, options = spec
    if isinstance(spec, str) and _norm_key(spec) in ("progressindicator", "bar", "tqdm", "print",
                                                   "none"):
        kind = {"progressindicator": "bar", "bar": "bar", "tqdm": "bar", "print": "print",
                "none": "none"}[_norm_key(spec)]
        out = ProgressSpec(kind)
    elif callable(spec) and not isinstance(spec, str):
        check_arity(spec, 1, where, "f(info)", 'lambda info: print(info["Round"], info["RoundLoss"])')
        out = ProgressSpec("function", function=spec)
    else:
        raise NetValueError("progress is one of the reporting forms", where=where,
                            got=f"got {spec!r}", fix=f"use {_ACCEPTED}")
    for k, v in options.items():
        nk = _norm_key(k)
        allowed = {"print": ("everyseconds",), "function": ("everybatches", "everyrounds")}.get(out.kind, ())
        if nk not in allowed:
            raise NetKeyError(f"progress={spec!r} has no option {k!r}", where=where,
                              got=f"got options {list(options)}",
                              fix=f"its options are {list(allowed) or 'none'}; use {_ACCEPTED}")
        if nk == "everyseconds":
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0 or not math.isfinite(v):
                raise NetValueError("every_seconds is a positive number", where=where, got=f"got {v!r}",
                                    fix='e.g. ("Print", {"every_seconds": 10})')
            out.every_seconds = float(v)
        else:
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise NetValueError(f"{k} is a positive int", where=where, got=f"got {v!r}",
                                    fix='e.g. (f, {"every_batches": 10})')
            if nk == "everybatches":
                out.every_batches = v
            else:
                out.every_rounds = v
    return out


def _in_notebook() -> bool:
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    try:
        ip = shell.get_ipython()
    except Exception:  # noqa: BLE001
        return False
    return ip is not None and "IPKernelApp" in getattr(ip, "config", {})


def make_reporter(spec: ProgressSpec, main: bool) -> Plugin | None:
    """The plugin for ``spec`` (only the main process of a data-parallel run reports)."""
    if not main or spec.kind == "none":
        return None
    if spec.kind == "auto":
        stream = sys.stderr
        visible = _in_notebook() or (hasattr(stream, "isatty") and stream.isatty())
        return ProgressBar() if visible else None
    if spec.kind == "bar":
        return ProgressBar()
    if spec.kind == "print":
        return PrintReporter(spec.every_seconds)
    if spec.function is None:
        return None
    return FunctionReporter(spec.function, spec.every_batches, spec.every_rounds)


def _say(text: str) -> None:
    """A line on stdout (the Print reporter's output)."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


class ProgressBar(Plugin):
    """A tqdm.auto bar over all batches (or open-ended for data of unknown length)."""

    def __init__(self) -> None:
        self.bar: Any = None
        self._last = 0.0

    def start(self, state: TrainState) -> None:
        from tqdm.auto import tqdm
        per = state.batches_per_round
        total = per * state.max_rounds if per else None
        done = state.round * per + state.batch if per else 0
        if state.options.max_batches is not None:
            cap = done + state.options.max_batches
            total = min(total, cap) if total else cap
        self.bar = tqdm(total=total, initial=done, unit="batch", dynamic_ncols=True, leave=True,
                        file=sys.stderr, desc=self._desc(state, state.round + 1))

    def _desc(self, state: TrainState, round_1: int) -> str:
        return f"round {round_1}/{state.max_rounds}"

    def _postfix(self, state: TrainState) -> str:
        per = state.batches_per_round
        b = state.batch if state.batch or not state.round else (per or state.batch)
        parts = [f"batch {b}/{per}" if per else f"batch {b}"]
        if state.last_loss is not None:
            parts.append(f"loss {state.last_loss:.4g}")
        r = state.results
        if r.validation_losses:
            parts.append(f"validation loss {r.validation_losses[-1]:.4g}")
        if r.skipped_steps:
            parts.append(f"skipped {len(r.skipped_steps)}")
        return ", ".join(parts)

    def after_batch(self, state: TrainState) -> None:
        self.bar.update(1)
        now = time.monotonic()
        if now - self._last > 0.25:
            self._last = now
            self.bar.set_description_str(self._desc(state, state.round + 1), refresh=False)
            self.bar.set_postfix_str(self._postfix(state), refresh=False)

    def after_round(self, state: TrainState) -> None:
        self.bar.set_description_str(self._desc(state, state.round), refresh=False)
        self.bar.set_postfix_str(self._postfix(state), refresh=False)

    def write(self, text: str) -> None:
        self.bar.write(text, file=sys.stderr)

    def finish(self, state: TrainState) -> None:
        if self.bar is None:
            return
        # the last state, drawn after the last batch (round r/R, not the round of 0.25 s ago)
        shown = state.round + 1 if state.batch else state.round
        self.bar.set_description_str(self._desc(state, max(shown, 1)), refresh=False)
        self.bar.set_postfix_str(self._postfix(state), refresh=False)
        self.bar.refresh()
        self.bar.close()


class PrintReporter(Plugin):
    """A line per round on stdout, or every ``every_seconds``."""

    def __init__(self, every_seconds: float | None) -> None:
        self.every = every_seconds
        self._last = time.monotonic()

    def line(self, state: TrainState, what: str) -> str:
        r = state.results
        parts = [what]
        if r.round_losses and what.startswith("round") and not state.batch:
            parts.append(f"loss {r.round_losses[-1]:.4g}")
        elif state.last_loss is not None:
            parts.append(f"batch loss {state.last_loss:.4g}")
        for k, v in (r.round_measurements_lists[-1].items() if r.round_measurements_lists
                     and not state.batch else []):
            parts.append(f"{k} {_fmt(v)}")
        if r.validation_losses and not state.batch:
            parts.append(f"validation loss {r.validation_losses[-1]:.4g}")
            for k, v in (r.validation_measurements_lists[-1].items()
                         if r.validation_measurements_lists else []):
                parts.append(f"validation {k} {_fmt(v)}")
        parts.append(f"{state.total_batches / max(state.elapsed, 1e-9):.4g} batches/s")
        return "netgrad.train: " + ", ".join(parts)

    def write(self, text: str) -> None:
        _say(text)

    def after_batch(self, state: TrainState) -> None:
        if self.every is not None and time.monotonic() - self._last >= self.every:
            self._last = time.monotonic()
            _say(self.line(state, f"round {state.round + 1}/{state.max_rounds}, batch {state.batch}"))

    def after_round(self, state: TrainState) -> None:
        if self.every is None:
            _say(self.line(state, f"round {state.round}/{state.max_rounds}"))

    def finish(self, state: TrainState) -> None:
        _say(f"netgrad.train: stopped: {state.stop_reason}")


class FunctionReporter(Plugin):
    """Calls ``function(state.info())`` every N batches or every N rounds."""

    def __init__(self, function: Callable[[dict], Any], every_batches: int | None,
                 every_rounds: int) -> None:
        self.function, self.every_batches, self.every_rounds = function, every_batches, every_rounds

    def after_batch(self, state: TrainState) -> None:
        if self.every_batches is not None and state.total_batches % self.every_batches == 0:
            self._call(state, f"after batch {state.batch} of round {state.round + 1}")

    def after_round(self, state: TrainState) -> None:
        if self.every_batches is None and state.round % self.every_rounds == 0:
            self._call(state, f"after round {state.round}")

    def _call(self, state: TrainState, when: str) -> None:
        call_user(self.function, (state.info(),), f"{WHERE}, progress", "f(info)", when)

    def write(self, text: str) -> None:
        pass
