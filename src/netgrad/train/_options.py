"""Parsing and checking NetTrain's options, before any work is done.

Every option is checked up front, so a mistake is reported before the net is copied, the data
converted or a process group joined, and a bad option never leaves anything half done.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Union

import torch

from .._errors import NetKeyError, NetTypeError, NetValueError

__all__ = ["Method", "Clipping", "Stopping", "CheckpointPlan", "parse_method", "parse_clipping",
           "parse_stopping", "parse_checkpoint", "parse_device", "parse_precision",
           "parse_positive_int", "parse_nonnegative", "WHERE"]

WHERE = "netgrad.train"

# method → (torch optimizer, default learning rate, {option name: torch keyword})
_METHODS: dict[str, tuple[type[torch.optim.Optimizer], float, dict[str, str]]] = {
    "ADAM": (torch.optim.Adam, 1e-3,
             {"beta1": "beta1", "beta2": "beta2", "epsilon": "eps", "eps": "eps",
              "amsgrad": "amsgrad"}),
    "SGD": (torch.optim.SGD, 1e-2,
            {"momentum": "momentum", "nesterov": "nesterov", "dampening": "dampening"}),
    "RMSPROP": (torch.optim.RMSprop, 1e-3,
                {"beta": "alpha", "alpha": "alpha", "epsilon": "eps", "eps": "eps",
                 "momentum": "momentum", "centered": "centered"}),
}
_METHOD_NAMES = {"ADAM": "ADAM", "SGD": "SGD", "RMSPROP": "RMSProp"}
_SGD_DEFAULT_MOMENTUM = 0.9


def _norm_key(key: Any) -> str:
    return str(key).replace("_", "").replace(" ", "").lower()


@dataclass
class Method:
    """A resolved optimization method: the torch class and its keyword arguments."""

    name: str
    cls: type[torch.optim.Optimizer]
    default_lr: float
    kwargs: dict[str, Any]

    def make(self, groups: list[dict[str, Any]], lr: float) -> torch.optim.Optimizer:
        return self.cls(groups, lr=lr, **self.kwargs)


def parse_method(method: Any) -> Method:
    """``"ADAM"``, ``"SGD"``, ``"RMSProp"``, or ``(name, {option: value})``.

    Options (case and underscores ignored): ADAM ``beta1``, ``beta2``, ``epsilon``, ``amsgrad``;
    SGD ``momentum`` (default 0.9), ``nesterov``, ``dampening``; RMSProp ``beta`` (torch's
    ``alpha``), ``epsilon``, ``momentum``, ``centered``.
    """
    options: Mapping[str, Any] = {}
    if isinstance(method, (tuple, list)) and len(method) == 2 and isinstance(method[1], Mapping):
        method, options = method
    if not isinstance(method, str) or method.upper() not in _METHODS:
        raise NetValueError(f"method is one of {list(_METHOD_NAMES.values())}, optionally with "
                            "options as (name, {option: value})", where=f"{WHERE}, method",
                            got=f"got {method!r}",
                            fix='e.g. method="ADAM" or method=("SGD", {"momentum": 0.9})')
    key = method.upper()
    cls, default_lr, known = _METHODS[key]
    kwargs: dict[str, Any] = {}
    if key == "SGD":
        kwargs["momentum"] = _SGD_DEFAULT_MOMENTUM
    betas = [0.9, 0.999]
    for name, value in options.items():
        k = _norm_key(name)
        if k not in known:
            raise NetKeyError(f"{_METHOD_NAMES[key]} has no option {name!r}",
                              where=f"{WHERE}, method", got=f"got options {list(options)}",
                              fix=f"its options are {sorted(set(known))}")
        torch_name = known[k]
        if torch_name in ("amsgrad", "nesterov", "centered"):
            if not isinstance(value, bool):
                raise NetTypeError(f"{_METHOD_NAMES[key]} option {name!r} is True or False",
                                   where=f"{WHERE}, method", got=f"got {value!r}")
            kwargs[torch_name] = value
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise NetTypeError(f"{_METHOD_NAMES[key]} option {name!r} is a finite number",
                               where=f"{WHERE}, method", got=f"got {value!r}")
        value = float(value)
        if torch_name in ("beta1", "beta2", "alpha", "momentum", "dampening"):
            upper_ok = value < 1.0 if torch_name != "dampening" else value <= 1.0
            if not (0.0 <= value and upper_ok):
                raise NetValueError(f"{_METHOD_NAMES[key]} option {name!r} lies in [0, 1)",
                                    where=f"{WHERE}, method", got=f"got {value!r}")
        elif value <= 0:
            raise NetValueError(f"{_METHOD_NAMES[key]} option {name!r} is positive",
                                where=f"{WHERE}, method", got=f"got {value!r}")
        if torch_name == "beta1":
            betas[0] = value
        elif torch_name == "beta2":
            betas[1] = value
        else:
            kwargs[torch_name] = value
    if key == "ADAM":
        kwargs["betas"] = tuple(betas)
    if kwargs.get("nesterov") and kwargs.get("momentum", 0) == 0:
        raise NetValueError("Nesterov momentum needs a positive momentum", where=f"{WHERE}, method",
                            got="got momentum 0", fix='e.g. ("SGD", {"momentum": 0.9, "nesterov": True})')
    return Method(_METHOD_NAMES[key], cls, default_lr, kwargs)


@dataclass
class Clipping:
    """Gradient clipping: elementwise to [-value, value] (Wolfram's GradientClipping), and/or
    the global L2 norm of all gradients to at most ``norm``."""

    value: float | None = None
    norm: float | None = None


def _positive(value: Any, what: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value <= 0:
        raise NetValueError(f"{what} is a positive finite number", where=where,
                            got=f"got {value!r}")
    return float(value)


def parse_clipping(spec: Any) -> Clipping:
    """``None``; a number c (clip each gradient element to [-c, c]); or a dict with ``"value"``
    and/or ``"norm"`` (clip the global L2 norm of all gradients)."""
    where = f"{WHERE}, gradient_clipping"
    if spec is None:
        return Clipping()
    if isinstance(spec, Mapping):
        out = Clipping()
        for k, v in spec.items():
            nk = _norm_key(k)
            if nk == "value":
                out.value = _positive(v, "the elementwise clipping bound", where)
            elif nk in ("norm", "globalnorm"):
                out.norm = _positive(v, "the global-norm clipping bound", where)
            else:
                raise NetKeyError("gradient_clipping takes the keys \"value\" and \"norm\"",
                                  where=where, got=f"got {k!r}",
                                  fix='e.g. gradient_clipping={"norm": 1.0}')
        return out
    return Clipping(value=_positive(spec, "gradient_clipping", where))


@dataclass
class Stopping:
    """When to stop early (see :func:`netgrad.train`)."""

    patience: int | None = None
    absolute_change: float = 0.0
    relative_change: float = 0.0
    criterion: str = "loss"
    nonfinite_patience: int = 10
    function: Callable[[Any], bool] | None = None


def parse_stopping(spec: Any) -> Stopping:
    """``None``; a function ``f(results) -> bool`` (True stops); or a dict with ``patience``
    (rounds without improvement), ``absolute_change`` / ``relative_change`` (the least change
    that counts as improvement), ``criterion`` (``"loss"``: the validation loss when there is a
    validation set, else the training loss of the round) and ``nonfinite_patience`` (how many
    consecutive non-finite steps are skipped before training stops; default 10)."""
    where = f"{WHERE}, training_stopping_criterion"
    if spec is None:
        return Stopping()
    if callable(spec) and not isinstance(spec, Mapping):
        return Stopping(function=spec)
    if not isinstance(spec, Mapping):
        raise NetTypeError("training_stopping_criterion is a dict or a function of the results",
                           where=where, got=f"got {type(spec).__name__} {spec!r}",
                           fix='e.g. {"patience": 3} or lambda r: r.round_losses[-1] < 0.01')
    out = Stopping()
    for k, v in spec.items():
        nk = _norm_key(k)
        if nk in ("patience", "nonfinitepatience"):
            if isinstance(v, bool) or not isinstance(v, int) or v < (1 if nk == "patience" else 0):
                raise NetValueError(f"{k} is a positive int" if nk == "patience"
                                    else f"{k} is an int ≥ 0", where=where, got=f"got {v!r}")
            if nk == "patience":
                out.patience = v
            else:
                out.nonfinite_patience = v
        elif nk in ("absolutechange", "mindelta", "relativechange"):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0:
                raise NetValueError(f"{k} is a number ≥ 0", where=where, got=f"got {v!r}")
            if nk == "relativechange":
                out.relative_change = float(v)
            else:
                out.absolute_change = float(v)
        elif nk == "criterion":
            if _norm_key(v) != "loss":
                raise NetValueError('the criterion is "loss"', where=where, got=f"got {v!r}")
        elif nk == "function":
            if not callable(v):
                raise NetTypeError("function is callable", where=where, got=f"got {v!r}")
            out.function = v
        else:
            raise NetKeyError(f"training_stopping_criterion has no key {k!r}", where=where,
                              got=f"got keys {list(spec)}",
                              fix="use patience, absolute_change, relative_change, criterion, "
                                  "nonfinite_patience or function")
    return out


@dataclass
class CheckpointPlan:
    directory: str | None = None
    every_rounds: int | None = 1
    every_seconds: float | None = None
    keep: int = 2
    extra: dict[str, Any] = field(default_factory=dict)


def parse_checkpoint(spec: Any) -> CheckpointPlan:
    """``None``; a directory; or ``{"dir": ..., "every_rounds": N, "every_seconds": S,
    "keep": K}`` (the K newest checkpoints are kept; default 2)."""
    import os
    where = f"{WHERE}, checkpoint"
    if spec is None:
        return CheckpointPlan()
    if isinstance(spec, (str, os.PathLike)):
        return CheckpointPlan(directory=os.fspath(spec))
    if not isinstance(spec, Mapping):
        raise NetTypeError("checkpoint is a directory or a dict", where=where,
                           got=f"got {type(spec).__name__}",
                           fix='e.g. checkpoint="ckpt" or {"dir": "ckpt", "every_seconds": 60}')
    plan = CheckpointPlan(every_rounds=None)
    for k, v in spec.items():
        nk = _norm_key(k)
        if nk in ("dir", "directory"):
            if not isinstance(v, (str, os.PathLike)):
                raise NetTypeError("the checkpoint directory is a path", where=where, got=f"got {v!r}")
            plan.directory = os.fspath(v)
        elif nk == "everyrounds":
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise NetValueError("every_rounds is a positive int", where=where, got=f"got {v!r}")
            plan.every_rounds = v
        elif nk == "everyseconds":
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0:
                raise NetValueError("every_seconds is a number ≥ 0", where=where, got=f"got {v!r}")
            plan.every_seconds = float(v)
        elif nk == "keep":
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise NetValueError("keep is a positive int", where=where, got=f"got {v!r}")
            plan.keep = v
        else:
            raise NetKeyError(f"checkpoint has no key {k!r}", where=where, got=f"got keys {list(spec)}",
                              fix="use dir, every_rounds, every_seconds, keep")
    if plan.directory is None:
        raise NetKeyError('checkpoint needs "dir"', where=where, got=f"got keys {list(spec)}",
                          fix='e.g. {"dir": "ckpt", "every_rounds": 1}')
    if plan.every_rounds is None and plan.every_seconds is None:
        plan.every_rounds = 1
    return plan


def parse_device(target_device: Any) -> str:
    """``"CPU"`` or ``"GPU"`` (CUDA). Raises when a GPU is asked for and there is none."""
    where = f"{WHERE}, target_device"
    if not isinstance(target_device, str) or target_device.upper() not in ("CPU", "GPU", "CUDA"):
        raise NetValueError('target_device is "CPU" or "GPU"', where=where,
                            got=f"got {target_device!r}")
    if target_device.upper() == "CPU":
        return "cpu"
    if not torch.cuda.is_available():
        raise NetValueError('target_device="GPU" needs a CUDA GPU', where=where,
                            got="got none: torch.cuda.is_available() is False "
                                f"(torch {torch.__version__})",
                            fix='use target_device="CPU", or install a CUDA build of torch '
                                "on a machine with an NVIDIA GPU")
    return "cuda"


_PRECISIONS = {"float32": torch.float32, "real32": torch.float32,
               "float64": torch.float64, "real64": torch.float64}


def parse_precision(precision: Any) -> torch.dtype:
    if isinstance(precision, torch.dtype) and precision in (torch.float32, torch.float64):
        return precision
    if isinstance(precision, str) and precision.lower() in _PRECISIONS:
        return _PRECISIONS[precision.lower()]
    raise NetValueError('precision is "float32" or "float64"', where=f"{WHERE}, precision",
                        got=f"got {precision!r}")


def parse_positive_int(value: Any, name: str) -> Union[int, None]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise NetValueError(f"{name} is a positive int", where=f"{WHERE}, {name}",
                            got=f"got {value!r}")
    return value


def parse_nonnegative(value: Any, name: str) -> Union[float, None]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value < 0:
        raise NetValueError(f"{name} is a finite number ≥ 0", where=f"{WHERE}, {name}",
                            got=f"got {value!r}")
    return float(value)
