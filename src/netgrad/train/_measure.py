"""Training progress measurements (Wolfram's TrainingProgressMeasurements), per round.

Built in, for a classifier (cross-entropy on probabilities): ``"Accuracy"``, ``"ErrorRate"``,
``"Precision"``, ``"Recall"``, ``"F1"`` (macro averages over the classes, from one confusion
matrix per round); for a regression (any other loss): ``"MeanAbsoluteError"``,
``"MeanSquaredError"``, ``"RootMeanSquaredError"``, ``"RSquared"``; and ``"Loss"`` always. A
function ``f(output, target) -> number`` (tensors of one batch; dicts by port for a net with
several outputs) is averaged over the examples of a round. ``{"measurement": ..., "name": ...,
"port": ...}`` names a measurement or picks the output port.

Why no metrics library: the formulas are a confusion matrix and four sums, a few lines each, and
they must run inside the training step without a host synchronization. torchmetrics (the
well-kept choice) would add a dependency of its own plus lightning-utilities for those few
lines, and its per-update Python overhead (state bookkeeping, validation) is of the order of a
whole small training step. The accumulators here are tensors on the training device, added to
once per applied step and read once per round.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from .._errors import NetKeyError, NetTypeError, NetValueError
from ._options import WHERE, _norm_key, check_arity

__all__ = ["MeasurementSpec", "parse_measurements", "Meter", "CLASSIFICATION", "REGRESSION",
           "direction_of"]

CLASSIFICATION = ("Accuracy", "ErrorRate", "Precision", "Recall", "F1")
REGRESSION = ("MeanAbsoluteError", "MeanSquaredError", "RootMeanSquaredError", "RSquared")
_ALIASES = {"accuracy": "Accuracy", "errorrate": "ErrorRate", "error": "ErrorRate",
            "precision": "Precision", "recall": "Recall", "f1": "F1", "f1score": "F1",
            "meanabsoluteerror": "MeanAbsoluteError", "mae": "MeanAbsoluteError",
            "meansquarederror": "MeanSquaredError", "mse": "MeanSquaredError",
            "rootmeansquarederror": "RootMeanSquaredError", "rmse": "RootMeanSquaredError",
            "rsquared": "RSquared", "r2": "RSquared", "loss": "Loss"}
_MAXIMIZE = {"Accuracy", "Precision", "Recall", "F1", "RSquared"}


def direction_of(name: str) -> str:
    """``"Maximize"`` for measurements where larger is better, else ``"Minimize"``."""
    return "Maximize" if name in _MAXIMIZE else "Minimize"


@dataclass
class MeasurementSpec:
    name: str                       # the key in the results
    kind: str                       # a built-in name, or "function"
    port: str | None = None         # the net's output port (None: the only one with a target)
    function: Callable[..., Any] | None = None


def parse_measurements(spec: Any) -> list[MeasurementSpec]:
    """``None``, a name, a function, a dict, or a list of those → the measurements."""
    where = f"{WHERE}, training_progress_measurements"
    if spec is None:
        return []
    items = list(spec) if isinstance(spec, (list, tuple)) else [spec]
    out: list[MeasurementSpec] = []
    for item in items:
        port = name = None
        if isinstance(item, Mapping):
            unknown = [k for k in item if _norm_key(k) not in ("measurement", "name", "port")]
            if unknown or not any(_norm_key(k) == "measurement" for k in item):
                raise NetKeyError("a measurement dict has the keys measurement, name and port",
                                  where=where, got=f"got keys {list(item)}",
                                  fix='e.g. {"measurement": "Accuracy", "port": "Output"}')
            opts = {_norm_key(k): v for k, v in item.items()}
            item, name, port = opts["measurement"], opts.get("name"), opts.get("port")
        if callable(item):
            check_arity(item, 2, where, "f(output, target)",
                        "lambda out, target: (out.argmax(-1) == target).float().mean()")
            label = name or getattr(item, "__name__", "function")
            if label == "<lambda>":
                label = f"function {len(out) + 1}"
            out.append(MeasurementSpec(str(label), "function", port, item))
            continue
        if not isinstance(item, str) or _norm_key(item) not in _ALIASES:
            import difflib
            known = list(CLASSIFICATION + REGRESSION) + ["Loss"]
            close = difflib.get_close_matches(str(item), known, n=1, cutoff=0.5)
            raise NetValueError("a measurement is a built-in name or a function f(output, "
                                "target)", where=where, got=f"got {item!r}",
                                fix=(f"did you mean {close[0]!r}? " if close else "")
                                + f"the names are {known}")
        canonical = _ALIASES[_norm_key(item)]
        if canonical == "Loss":
            continue  # always measured
        out.append(MeasurementSpec(str(name or canonical), canonical, port))
    names = [m.name for m in out]
    if len(set(names)) != len(names):
        raise NetValueError("measurement names are unique", where=where, got=f"got {names}",
                            fix='give one a "name": {"measurement": f, "name": "mine"}')
    return out


class Meter:
    """The accumulators of one round's measurements, as tensors on the training device.

    ``update(outputs, batch)`` is called once per applied step (no host read); ``values()``
    reads them once, at the end of the round, and ``reset()`` starts the next round.
    """

    def __init__(self, specs: Sequence[MeasurementSpec], targets: Mapping[str, tuple[str, str, int | None]],
                 device: torch.device, what: str = "training") -> None:
        # targets: output port → (target port, "index" | "probabilities" | "regression", classes)
        self.specs = list(specs)
        self.targets = dict(targets)
        self.device = device
        self.what = what
        for s in self.specs:
            if s.kind == "function":
                continue
            port = self._port(s)
            kind = self.targets[port][1]
            if s.kind in CLASSIFICATION and kind == "regression":
                raise NetValueError(f"{s.kind} measures a classifier (cross-entropy after a "
                                    "softmax)", where=f"{WHERE}, training_progress_measurements",
                                    got=f"got a net whose output {port!r} has a regression loss",
                                    fix=f"use one of {list(REGRESSION)}")
            if s.kind in REGRESSION and kind != "regression":
                raise NetValueError(f"{s.kind} measures a regression",
                                    where=f"{WHERE}, training_progress_measurements",
                                    got=f"got a classifier output {port!r}",
                                    fix=f"use one of {list(CLASSIFICATION)}")
        self.reset()

    def _port(self, s: MeasurementSpec) -> str:
        if s.port is not None:
            if s.port not in self.targets:
                raise NetKeyError(f"the measurement {s.name!r} names an output port with a target",
                                  where=f"{WHERE}, training_progress_measurements",
                                  got=f"got port {s.port!r}", fix=f"use one of {list(self.targets)}")
            return s.port
        if len(self.targets) != 1:
            raise NetValueError(f"the net has several outputs with losses, so the measurement "
                                f"{s.name!r} names its port",
                                where=f"{WHERE}, training_progress_measurements",
                                got=f"got outputs {list(self.targets)}",
                                fix=f'e.g. {{"measurement": {s.kind if s.kind != "function" else "f"!r}, '
                                    f'"port": {next(iter(self.targets))!r}}}')
        return next(iter(self.targets))

    @property
    def active(self) -> bool:
        return bool(self.specs)

    def reset(self) -> None:
        self.n = 0
        self.sums: dict[str, Any] = {}

    def _add(self, key: str, value: Any) -> None:
        old = self.sums.get(key)
        self.sums[key] = value if old is None else old + value

    def update(self, outputs: Mapping[str, torch.Tensor], batch: Mapping[str, torch.Tensor],
               count: int) -> None:
        """Add one (micro-)batch of ``count`` examples; tensors stay on the device. Sums that
        several measurements share (a confusion matrix, squared errors) are added once."""
        self.n += count
        done: set[str] = set()
        with torch.no_grad():
            for s in self.specs:
                if s.kind == "function":
                    self._add(s.name, self._call(s, outputs, batch) * count)
                    continue
                port = self._port(s)
                tport, kind, classes = self.targets[port]
                y, t = outputs[port].detach(), batch[tport]
                if kind == "regression":
                    key = {"RSquared": "r2", "MeanAbsoluteError": "sae"}.get(s.kind, "sse_mean")
                    if f"{port}/{key}" in done:
                        continue
                    done.add(f"{port}/{key}")
                    if key == "r2":
                        t = t.to(y.dtype)
                        self._add(f"{port}/sse", ((y - t) ** 2).sum(0, dtype=torch.float64))
                        self._add(f"{port}/st", t.sum(0, dtype=torch.float64))
                        self._add(f"{port}/st2", (t.double() ** 2).sum(0))
                    elif key == "sae":
                        self._add(f"{port}/sae", (y - t).abs().flatten(1).mean(1).sum(dtype=torch.float64))
                    else:
                        se = ((y - t) ** 2).flatten(1).mean(1)
                        self._add(f"{port}/sse_mean", se.sum(dtype=torch.float64))
                    continue
                if f"{port}/confusion" in done:
                    continue  # one confusion matrix serves all classification measurements
                done.add(f"{port}/confusion")
                pred = y.argmax(-1).reshape(-1)
                truth = (t.argmax(-1) if kind == "probabilities" else t).reshape(-1).long()
                k = classes or y.shape[-1]
                cm = torch.bincount(truth * k + pred, minlength=k * k).reshape(k, k)
                self._add(f"{port}/confusion", cm)

    def _call(self, s: MeasurementSpec, outputs, batch) -> Any:
        if len(self.targets) == 1 and s.port is None:
            port = next(iter(self.targets))
            args = (outputs[port].detach(), batch[self.targets[port][0]])
        elif s.port is not None:
            args = (outputs[s.port].detach(), batch[self.targets[s.port][0]])
        else:
            args = ({p: outputs[p].detach() for p in self.targets},
                    {p: batch[tp] for p, (tp, _, _) in self.targets.items()})
        if s.function is None:
            raise NetValueError(f"the measurement {s.name!r} has no function",
                                where=f"{WHERE}, training_progress_measurements", got="got None",
                                fix="pass a function f(output, target)")
        try:
            v = s.function(*args)
        except Exception as e:  # noqa: BLE001 - say which measurement failed, keep the cause
            raise NetValueError(f"the measurement function {s.name!r} failed",
                                where=f"{WHERE}, training_progress_measurements",
                                got=f"got {type(e).__name__}: {e}",
                                fix="it is called as f(output, target) with one batch's tensors "
                                    "and returns a number") from e
        if isinstance(v, torch.Tensor):
            if v.numel() != 1:
                raise NetValueError(f"the measurement function {s.name!r} returns one number",
                                    where=f"{WHERE}, training_progress_measurements",
                                    got=f"got a tensor of shape {tuple(v.shape)}",
                                    fix="reduce it, e.g. .mean()")
            return v.detach().reshape(()).double()
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise NetTypeError(f"the measurement function {s.name!r} returns a number",
                               where=f"{WHERE}, training_progress_measurements",
                               got=f"got {type(v).__name__}", fix="return a float or a 0-dim tensor")
        return float(v)

    def values(self) -> dict[str, float]:
        """The round's measurements (one host read of all accumulators)."""
        if not self.specs or self.n == 0:
            return {s.name: math.nan for s in self.specs}
        host = {k: (v.detach().cpu().double() if isinstance(v, torch.Tensor)
                    else torch.tensor(float(v), dtype=torch.float64)) for k, v in self.sums.items()}
        out: dict[str, float] = {}
        for s in self.specs:
            if s.kind == "function":
                out[s.name] = float(host[s.name]) / self.n
                continue
            port = self._port(s)
            if s.kind in CLASSIFICATION:
                out[s.name] = _classification(s.kind, host[f"{port}/confusion"])
            elif s.kind == "MeanAbsoluteError":
                out[s.name] = float(host[f"{port}/sae"]) / self.n
            elif s.kind in ("MeanSquaredError", "RootMeanSquaredError"):
                mse = float(host[f"{port}/sse_mean"]) / self.n
                out[s.name] = mse if s.kind == "MeanSquaredError" else math.sqrt(mse)
            else:
                sse, st, st2 = host[f"{port}/sse"], host[f"{port}/st"], host[f"{port}/st2"]
                sst = float((st2 - st ** 2 / self.n).sum())
                out[s.name] = 1.0 - float(sse.sum()) / sst if sst > 0 else math.nan
        return out


def _classification(kind: str, cm: torch.Tensor) -> float:
    total = float(cm.sum())
    correct = float(cm.diagonal().sum())
    if kind == "Accuracy":
        return correct / total
    if kind == "ErrorRate":
        return 1.0 - correct / total
    tp = cm.diagonal()
    predicted, actual = cm.sum(0), cm.sum(1)
    present = (actual + predicted) > 0              # classes that occur at all this round
    prec = torch.where(predicted > 0, tp / predicted.clamp(min=1), torch.zeros_like(tp))
    rec = torch.where(actual > 0, tp / actual.clamp(min=1), torch.zeros_like(tp))
    if kind == "Precision":
        return float(prec[present].mean())
    if kind == "Recall":
        return float(rec[present].mean())
    denom = prec + rec
    f1 = torch.where(denom > 0, 2 * prec * rec / denom.clamp(min=1e-300), torch.zeros_like(tp))
    return float(f1[present].mean())
