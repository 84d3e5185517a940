"""Learning-rate schedules on :mod:`torch.optim.lr_scheduler` (Wolfram's LearningRateSchedule).

``learning_rate_schedule=`` one of

* a name: ``"Constant"``, ``"Cosine"`` (to 0 at the last batch), ``"Linear"`` (to 0),
  ``"Exponential"`` (to 1/100 of the learning rate), ``"Step"`` (×0.1 at 1/3 and 2/3 of the
  batches), ``"Polynomial"`` (power 2, to 0);
* ``(name, {option: value})`` with ``warmup`` (batches, or a fraction of all batches, of a
  linear warm-up from 0), ``final`` (the last factor, for Cosine/Linear/Exponential/Polynomial),
  ``power`` (Polynomial), ``gamma`` and ``step_batches`` (Step);
* a function ``f(round, batch)`` (1-based round, 1-based batch within the round) returning the
  factor that multiplies ``learning_rate`` for that batch (set before each step).

A named schedule is a torch scheduler (CosineAnnealingLR, LinearLR, ExponentialLR, StepLR,
PolynomialLR; SequentialLR after a LinearLR warm-up). It advances once per applied optimizer
step, over ``total`` steps (the batches of
``max_training_rounds`` rounds, or ``max_batches``); the factors multiply each array group's
learning rate (so learning-rate multipliers are kept).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.optim import lr_scheduler as S

from .._errors import NetKeyError, NetTypeError, NetValueError
from ._options import WHERE, _norm_key, call_user, check_arity

__all__ = ["Schedule", "parse_schedule", "SCHEDULE_NAMES"]

SCHEDULE_NAMES = ("Constant", "Cosine", "Linear", "Exponential", "Step", "Polynomial")
_EXAMPLE = {"warmup": 100, "step_batches": 100, "power": 2.0, "gamma": 0.5, "final": 0.01}
_OPTIONS = {"warmup": "warmup", "warmupbatches": "warmup", "final": "final",
            "finalfactor": "final", "power": "power", "gamma": "gamma",
            "stepbatches": "step_batches", "stepsize": "step_batches"}


@dataclass
class Schedule:
    name: str | None = None                       # None: no schedule
    function: Callable[[int, int], float] | None = None
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return self.name is not None or self.function is not None

    def describe(self) -> str:
        if self.function is not None:
            return "a function of (round, batch)"
        return self.name + (f" {self.options}" if self.options else "") if self.name else "none"

    def factor_at(self, round_: int, batch: int) -> float:
        """The function schedule's factor for 1-based ``(round, batch)``."""
        if self.function is None:
            return 1.0
        return _factor(self.function, round_, batch)

    def make(self, optimizer: torch.optim.Optimizer, total: int | None) -> S.LRScheduler | None:
        """The torch scheduler of a named schedule over ``total`` steps (None for a function,
        whose factor the loop sets before each step, or for no schedule)."""
        if not self.active:
            return None
        if self.function is not None:
            return None  # the loop sets the factor before each step: see factor_at
        if self.name == "Constant" and not self.options.get("warmup"):
            return None
        if total is None:
            raise NetValueError(f"the {self.name} schedule needs the number of batches",
                                where=f"{WHERE}, learning_rate_schedule",
                                got="got data whose length is unknown (a generator) and no "
                                    "max_training_rounds or max_batches",
                                fix="pass max_batches=N, or a function f(round, batch)")
        warm = self.options.get("warmup", 0)
        if isinstance(warm, float) and warm < 1:
            warm = int(round(warm * total))
        warm = min(int(warm), max(total - 1, 0))
        rest = max(total - warm, 1)
        main = self._main(optimizer, rest)
        if warm <= 0:
            return main
        # a linear warm-up from 1/(warm+1) to 1 over `warm` steps, then the main schedule
        up = S.LinearLR(optimizer, start_factor=1.0 / (warm + 1), end_factor=1.0, total_iters=warm)
        return S.SequentialLR(optimizer, [up, main], milestones=[warm])

    def _main(self, optimizer: torch.optim.Optimizer, rest: int) -> S.LRScheduler:
        o = self.options
        final = float(o.get("final", 0.01 if self.name == "Exponential" else 0.0))
        if self.name == "Constant":
            return S.ConstantLR(optimizer, factor=1.0, total_iters=0)
        if self.name == "Linear":
            return S.LinearLR(optimizer, start_factor=1.0, end_factor=final, total_iters=rest)
        if self.name == "Exponential":
            return S.ExponentialLR(optimizer, gamma=max(final, 1e-12) ** (1.0 / rest))
        if self.name == "Step":
            return S.StepLR(optimizer, step_size=int(o.get("step_batches", max(rest // 3, 1))),
                            gamma=float(o.get("gamma", 0.1)))
        if self.name == "Cosine" and final == 0.0:
            return S.CosineAnnealingLR(optimizer, T_max=rest, eta_min=0.0)
        if self.name == "Polynomial" and final == 0.0:
            return S.PolynomialLR(optimizer, total_iters=rest, power=float(o.get("power", 2.0)))
        # a final factor other than 0: the same curves as factors (eta_min of torch's
        # CosineAnnealingLR is absolute, which would undo per-array learning-rate multipliers)
        power = float(o.get("power", 2.0))
        if self.name == "Cosine":
            return S.LambdaLR(optimizer, lambda s: final + (1 - final) * 0.5 *
                              (1 + math.cos(math.pi * min(s, rest) / rest)))
        return S.LambdaLR(optimizer, lambda s: final + (1 - final) * (1 - min(s, rest) / rest) ** power)


def _factor(fn: Callable[[int, int], float], round_: int, batch: int) -> float:
    v = call_user(fn, (round_, batch), f"{WHERE}, learning_rate_schedule", "f(round, batch)",
                  f"at round {round_}, batch {batch}")
    if isinstance(v, torch.Tensor) and v.numel() == 1:
        v = float(v)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
        raise NetValueError("the learning_rate_schedule function returns a finite factor ≥ 0",
                            where=f"{WHERE}, learning_rate_schedule",
                            got=f"got {v!r} at round {round_}, batch {batch}",
                            fix="return the factor that multiplies learning_rate, e.g. "
                                "lambda round, batch: 0.9 ** (round - 1)")
    return float(v)


def parse_schedule(spec: Any) -> Schedule:
    where = f"{WHERE}, learning_rate_schedule"
    if spec is None:
        return Schedule()
    if callable(spec) and not isinstance(spec, (str, Mapping)):
        check_arity(spec, 2, where, "f(round, batch)", "lambda round, batch: 0.9 ** (round - 1)")
        return Schedule(function=spec)
    options: Mapping[str, Any] = {}
    if isinstance(spec, (tuple, list)) and len(spec) == 2 and isinstance(spec[1], Mapping):
        spec, options = spec
    names = {n.lower(): n for n in SCHEDULE_NAMES}
    if not isinstance(spec, str) or spec.lower() not in names:
        import difflib
        close = difflib.get_close_matches(str(spec).title(), SCHEDULE_NAMES, n=1, cutoff=0.5)
        raise NetValueError(f"learning_rate_schedule is one of {list(SCHEDULE_NAMES)} (optionally "
                            "with options), or a function f(round, batch) giving a factor",
                            where=where, got=f"got {spec!r}",
                            fix=(f"did you mean {close[0]!r}? " if close else "")
                            + 'e.g. ("Cosine", {"warmup": 100}) or lambda round, batch: 0.95 ** round')
    name = names[spec.lower()]
    parsed: dict[str, Any] = {}
    for k, v in options.items():
        key = _OPTIONS.get(_norm_key(k))
        if key is None:
            raise NetKeyError(f"the {name} schedule has no option {k!r}", where=where,
                              got=f"got options {list(options)}",
                              fix="its options are warmup, final, power, gamma, step_batches")
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise NetTypeError(f"schedule option {k!r} is a finite number ≥ 0", where=where,
                               got=f"got {v!r}",
                               fix=f'e.g. ("{name}", {{"{k}": {_EXAMPLE.get(key, 0.1)!r}}}), or leave '
                                   f"{k!r} out for its default")
        if key == "step_batches" and (not isinstance(v, int) or v < 1):
            raise NetValueError("step_batches is a positive int", where=where, got=f"got {v!r}",
                                fix=f'e.g. ("{name}", {{"step_batches": 100}})')
        if key == "warmup" and isinstance(v, float) and v >= 1 and v != int(v):
            raise NetValueError("warmup is a number of batches (an int) or a fraction below 1",
                                where=where, got=f"got {v!r}", fix="e.g. warmup=100 or warmup=0.1")
        parsed[key] = v
    return Schedule(name=name, options=parsed)
