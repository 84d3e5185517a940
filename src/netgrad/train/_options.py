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

from .._errors import NetgradError, NetKeyError, NetTypeError, NetValueError

__all__ = ["Method", "Clipping", "Stopping", "CheckpointPlan", "Precision", "parse_method",
           "parse_clipping", "parse_stopping", "parse_checkpoint", "parse_device",
           "parse_precision", "parse_positive_int", "parse_nonnegative", "parse_seconds",
           "check_unknown_options", "WHERE"]

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


def check_arity(fn: Callable[..., Any], n: int, where: str, call: str, example: str) -> None:
    """Refuse, before any training, a user function that cannot be called with ``n`` positional
    arguments (``call`` is how netgrad calls it, e.g. ``"f(round, batch)"``)."""
    import inspect
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):      # a builtin without a signature: try it when called
        return
    try:
        sig.bind(*([None] * n))
    except TypeError as e:
        raise NetTypeError(f"the function is called as {call}", where=where,
                           got=f"got {getattr(fn, '__name__', type(fn).__name__)}{sig} ({e})",
                           fix=f"give a function of {n} argument{'s' if n != 1 else ''}, "
                               f"e.g. {example}") from None


def call_user(fn: Callable[..., Any], args: tuple, where: str, call: str, when: str) -> Any:
    """Call a user function; an exception it raises becomes a netgrad error naming the option
    and the moment (the cause is kept), so the trainer's error path (which saves a checkpoint
    when there is one) runs instead of losing the run. netgrad errors pass through unchanged."""
    try:
        return fn(*args)
    except NetgradError:
        raise
    except Exception as e:  # noqa: BLE001 - say which function failed, keep the cause
        raise NetValueError(f"the function {call} raised", where=where,
                            got=f"got {type(e).__name__}: {e} ({when})",
                            fix="fix the function (the traceback above shows where it failed); "
                                "it is called with the arguments shown") from e


@dataclass
class Method:
    """A resolved optimization method: the torch class and its keyword arguments."""

    name: str
    cls: Callable[..., torch.optim.Optimizer]    # a torch.optim.Optimizer subclass
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
                               where=f"{WHERE}, method", got=f"got {value!r}",
                               fix=f"give {name!r} as a float, or leave it out for its default")
        value = float(value)
        if torch_name in ("beta1", "beta2", "alpha", "momentum", "dampening"):
            upper_ok = value < 1.0 if torch_name != "dampening" else value <= 1.0
            if not (0.0 <= value and upper_ok):
                raise NetValueError(f"{_METHOD_NAMES[key]} option {name!r} lies in [0, 1)",
                                    where=f"{WHERE}, method", got=f"got {value!r}",
                                    fix=f'e.g. ("{_METHOD_NAMES[key]}", {{"{name}": 0.9}})')
        elif value <= 0:
            raise NetValueError(f"{_METHOD_NAMES[key]} option {name!r} is positive",
                                where=f"{WHERE}, method", got=f"got {value!r}",
                                fix=f"give a number > 0, or leave {name!r} out for its default")
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
                            got=f"got {value!r}",
                            fix='e.g. gradient_clipping=1.0 (each element) or {"norm": 1.0}')
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
    """When to stop early, and which round's net is returned (see :func:`netgrad.train`)."""

    patience: int | None = None
    initial_patience: int = 0
    absolute_change: float = 0.0
    relative_change: float = 0.0
    criterion: str = "Loss"
    direction: str | None = None       # "Minimize" / "Maximize"; None: by the measurement
    nonfinite_patience: int = 10
    function: Callable[[Any], bool] | None = None


_STOPPING_KEYS = "criterion, patience, initial_patience, absolute_change, relative_change, " \
                 "nonfinite_patience, function"


def _criterion(v: Any, where: str) -> tuple[str, str | None]:
    """``"Accuracy"`` or ``("Accuracy", "Maximize")`` → (name, direction or None)."""
    direction = None
    if isinstance(v, (tuple, list)) and len(v) == 2:
        v, direction = v
        if not isinstance(direction, str) or direction.lower() not in ("minimize", "maximize"):
            raise NetValueError('the criterion direction is "Minimize" or "Maximize"', where=where,
                                got=f"got {direction!r}", fix='e.g. ("Accuracy", "Maximize")')
        direction = direction.capitalize()
    if not isinstance(v, str):
        raise NetTypeError("the criterion is a measurement name", where=where, got=f"got {v!r}",
                           fix='e.g. "Loss", "ErrorRate" or ("F1", "Maximize")')
    return v, direction


def parse_stopping(spec: Any) -> Stopping:
    """``None``; a measurement name (stop when it stops improving); a function
    ``f(results) -> bool`` (True stops); or a dict with ``criterion`` (a measurement name, or
    ``(name, "Minimize" | "Maximize")``; default ``"Loss"``, on the validation set when there is
    one), ``patience`` (rounds without improvement before stopping), ``initial_patience``
    (rounds before the first check), ``absolute_change`` / ``relative_change`` (the least
    change that counts as improvement), ``nonfinite_patience`` (consecutive non-finite steps
    skipped before training stops; default 10) and ``function``. The criterion also chooses the
    returned net: the best round by it."""
    where = f"{WHERE}, training_stopping_criterion"
    if spec is None:
        return Stopping()
    if isinstance(spec, (str, tuple)):
        name, direction = _criterion(spec, where)
        return Stopping(patience=1, criterion=name, direction=direction)
    if callable(spec) and not isinstance(spec, Mapping):
        check_arity(spec, 1, where, "f(results)", "lambda r: r.round_losses[-1] < 0.01")
        return Stopping(function=spec)
    if not isinstance(spec, Mapping):
        raise NetTypeError("training_stopping_criterion is a measurement name, a dict or a "
                           "function of the results", where=where,
                           got=f"got {type(spec).__name__} {spec!r}",
                           fix='e.g. {"criterion": "ErrorRate", "patience": 3} or '
                               'lambda r: r.round_losses[-1] < 0.01')
    out = Stopping()
    for k, v in spec.items():
        nk = _norm_key(k)
        if nk in ("patience", "nonfinitepatience", "initialpatience"):
            least = 1 if nk == "patience" else 0
            if isinstance(v, bool) or not isinstance(v, int) or v < least:
                raise NetValueError(f"{k} is an int ≥ {least}", where=where, got=f"got {v!r}",
                                    fix=f'e.g. {{"{k}": {max(least, 3)}}}')
            setattr(out, {"patience": "patience", "nonfinitepatience": "nonfinite_patience",
                          "initialpatience": "initial_patience"}[nk], v)
        elif nk in ("absolutechange", "mindelta", "relativechange"):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0 \
                    or not math.isfinite(v):
                raise NetValueError(f"{k} is a finite number ≥ 0", where=where, got=f"got {v!r}",
                                    fix=f'e.g. {{"{k}": 0.001}}')
            if nk == "relativechange":
                out.relative_change = float(v)
            else:
                out.absolute_change = float(v)
        elif nk == "criterion":
            out.criterion, out.direction = _criterion(v, where)
        elif nk == "function":
            if not callable(v):
                raise NetTypeError("function is callable", where=where, got=f"got {v!r}",
                                   fix="e.g. lambda r: r.round_losses[-1] < 0.01")
            check_arity(v, 1, where, "f(results)", "lambda r: r.round_losses[-1] < 0.01")
            out.function = v
        else:
            import difflib
            keys = [x.strip() for x in _STOPPING_KEYS.split(",")]
            close = difflib.get_close_matches(str(k), keys, n=1)
            raise NetKeyError(f"training_stopping_criterion has no key {k!r}", where=where,
                              got=f"got keys {list(spec)}",
                              fix=(f"did you mean {close[0]!r}? " if close else "")
                              + f"use {_STOPPING_KEYS}")
    return out


@dataclass
class CheckpointPlan:
    directory: str | None = None
    every_rounds: int | None = 1
    every_seconds: float | None = None
    keep: int = 2
    extra: dict[str, Any] = field(default_factory=dict)


def _check_folder(path: str, where: str) -> str:
    """The checkpoint folder exists as a folder or can be created (checked before training,
    so that a bad path never costs a run)."""
    import os
    if os.path.exists(path) and not os.path.isdir(path):
        raise NetValueError("the checkpoint folder is a folder", where=where,
                            got=f"got {path!r}, which is a file",
                            fix=f"pass a folder, e.g. {os.path.splitext(path)[0] + '_ckpt'!r}")
    if not os.path.isdir(path):
        try:
            os.makedirs(path, exist_ok=True)
        except OSError as e:
            raise NetValueError("the checkpoint folder can be created", where=where,
                                got=f"got {path!r}: {e.strerror or e}",
                                fix="pass a folder you can write to, e.g. one under "
                                    "tempfile.gettempdir() or your home folder") from None
    if not os.access(path, os.W_OK):
        raise NetValueError("the checkpoint folder is writable", where=where,
                            got=f"got {path!r}, which is read-only",
                            fix="pass a folder you can write to")
    return path


def parse_checkpoint(spec: Any) -> CheckpointPlan:
    """``None``; a directory; or ``{"dir": ..., "every_rounds": N, "every_seconds": S,
    "keep": K}`` (the K newest checkpoints are kept; default 2)."""
    import os
    where = f"{WHERE}, checkpoint"
    if spec is None:
        return CheckpointPlan()
    if isinstance(spec, (str, os.PathLike)):
        return CheckpointPlan(directory=_check_folder(os.fspath(spec), where))
    if not isinstance(spec, Mapping):
        raise NetTypeError("checkpoint is a directory or a dict", where=where,
                           got=f"got {type(spec).__name__}",
                           fix='e.g. checkpoint="ckpt" or {"dir": "ckpt", "every_seconds": 60}')
    plan = CheckpointPlan(every_rounds=None)
    for k, v in spec.items():
        nk = _norm_key(k)
        if nk in ("dir", "directory"):
            if not isinstance(v, (str, os.PathLike)):
                raise NetTypeError("the checkpoint directory is a path", where=where, got=f"got {v!r}",
                                   fix='e.g. {"dir": "runs/ckpt"}')
            plan.directory = _check_folder(os.fspath(v), where)
        elif nk == "everyrounds":
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise NetValueError("every_rounds is a positive int", where=where, got=f"got {v!r}",
                                    fix='e.g. {"dir": "ckpt", "every_rounds": 1}, or '
                                        '"every_seconds": 60 for a time interval')
            plan.every_rounds = v
        elif nk == "everyseconds":
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0:
                raise NetValueError("every_seconds is a number ≥ 0", where=where, got=f"got {v!r}",
                                    fix='e.g. {"dir": "ckpt", "every_seconds": 60}')
            plan.every_seconds = float(v)
        elif nk == "keep":
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise NetValueError("keep is a positive int (how many of the newest checkpoints "
                                    "stay on disk)", where=where, got=f"got {v!r}",
                                    fix='e.g. {"dir": "ckpt", "keep": 2}')
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
                            got=f"got {target_device!r}",
                            fix='pass target_device="CPU", or "GPU" on a machine with CUDA')
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
_HALF = {"float16": torch.float16, "half": torch.float16, "real16": torch.float16,
         "bfloat16": torch.bfloat16}
_PRECISION_FIX = ('"float32", "float64", or "Mixed" (autocast: bfloat16 on CPU, float16 with a '
                  'GradScaler on GPU; ("Mixed", "float16") or ("Mixed", "bfloat16") to choose)')


@dataclass
class Precision:
    """The arrays' dtype, and the autocast dtype of the forward pass in mixed precision."""

    dtype: torch.dtype = torch.float32
    mixed: bool = False
    half: torch.dtype | None = None     # None: chosen by device (bfloat16 on CPU, float16 on GPU)

    def resolve(self, device_type: str) -> "Precision":
        if self.mixed and self.half is None:
            return Precision(self.dtype, True, torch.float16 if device_type == "cuda" else torch.bfloat16)
        return self

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        return self.half

    def describe(self) -> str:
        if not self.mixed:
            return str(self.dtype).replace("torch.", "")
        return f"mixed ({str(self.half).replace('torch.', '')} forward, float32 arrays)"


def parse_precision(precision: Any) -> Precision:
    where = f"{WHERE}, precision"
    if isinstance(precision, torch.dtype) and precision in (torch.float32, torch.float64):
        return Precision(precision)
    if isinstance(precision, str) and precision.lower() in _PRECISIONS:
        return Precision(_PRECISIONS[precision.lower()])
    if isinstance(precision, str) and precision.lower() == "mixed":
        return Precision(torch.float32, True)
    if isinstance(precision, (tuple, list)) and len(precision) == 2 and \
            isinstance(precision[0], str) and precision[0].lower() == "mixed":
        half = precision[1]
        if isinstance(half, torch.dtype) and half in _HALF.values():
            return Precision(torch.float32, True, half)
        if isinstance(half, str) and half.lower() in _HALF:
            return Precision(torch.float32, True, _HALF[half.lower()])
        raise NetValueError("the mixed-precision dtype is float16 or bfloat16", where=where,
                            got=f"got {half!r}", fix='e.g. precision=("Mixed", "bfloat16")')
    if (isinstance(precision, str) and precision.lower() in _HALF) or precision in _HALF.values():
        raise NetValueError("the arrays train in float32 or float64; half precision is used "
                            "in the forward pass only (mixed precision)", where=where,
                            got=f"got {precision!r}",
                            fix=f'precision=("Mixed", {str(precision).replace("torch.", "")!r})')
    raise NetValueError(f"precision is {_PRECISION_FIX}", where=where, got=f"got {precision!r}",
                        fix='e.g. precision="Mixed"')


def parse_positive_int(value: Any, name: str, example: int = 10) -> Union[int, None]:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer() and value >= 1:
        fix = f"pass the int {name}={int(value)}"
    else:
        fix = f"e.g. {name}={example}, or leave it out for the default"
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise NetValueError(f"{name} is a positive int", where=f"{WHERE}, {name}",
                            got=f"got {value!r}", fix=fix)
    return value


def parse_seconds(value: Any, name: str) -> Union[float, None]:
    """A positive number of seconds (or a ``datetime.timedelta``)."""
    import datetime
    if value is None:
        return None
    if isinstance(value, datetime.timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value <= 0:
        raise NetValueError(f"{name} is a positive number of seconds", where=f"{WHERE}, {name}",
                            got=f"got {value!r}", fix=f"e.g. {name}=60 (one minute)")
    return float(value)


def parse_nonnegative(value: Any, name: str) -> Union[float, None]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value < 0:
        raise NetValueError(f"{name} is a finite number ≥ 0", where=f"{WHERE}, {name}",
                            got=f"got {value!r}", fix=f"e.g. {name}=0.001")
    return float(value)


# ---- keywords netgrad.train does not have ---------------------------------------------------

_ALIASES = {
    "epochs": "max_training_rounds", "num_epochs": "max_training_rounds",
    "max_epochs": "max_training_rounds", "n_epochs": "max_training_rounds",
    "rounds": "max_training_rounds", "max_rounds": "max_training_rounds",
    "steps": "max_batches", "max_steps": "max_batches", "max_iters": "max_batches",
    "iterations": "max_batches", "lr": "learning_rate", "optimizer": "method",
    "optim": "method", "bs": "batch_size", "validation_data": "validation_set",
    "val_data": "validation_set", "validation": "validation_set", "val_set": "validation_set",
    "validation_split": "validation_set", "callbacks": "progress", "callback": "progress",
    "verbose": "progress", "device": "target_device", "dtype": "precision", "amp": "precision",
    "mixed_precision": "precision", "weight_decay": "l2_regularization",
    "clip_grad_norm": "gradient_clipping", "max_grad_norm": "gradient_clipping",
    "grad_clip": "gradient_clipping", "scheduler": "learning_rate_schedule",
    "lr_scheduler": "learning_rate_schedule", "lr_schedule": "learning_rate_schedule",
    "schedule": "learning_rate_schedule", "metrics": "training_progress_measurements",
    "measurements": "training_progress_measurements", "time_limit": "time_goal",
    "max_time": "time_goal", "timeout": "time_goal", "early_stopping": "training_stopping_criterion",
    "patience": "training_stopping_criterion", "stopping": "training_stopping_criterion",
    "gradient_accumulation_steps": "accumulation_steps", "grad_accum": "accumulation_steps",
    "accumulate_grad_batches": "accumulation_steps", "checkpoint_dir": "checkpoint",
    "resume_from": "resume", "random_seed": "seed", "return_results": "results",
    "all_properties": "results",
}


def _snake(name: str) -> str:
    import re
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def check_unknown_options(unknown: Mapping[str, Any], known: list[str]) -> None:
    """Raise for keywords ``netgrad.train`` does not take, with the one that was meant."""
    if not unknown:
        return
    import difflib
    name = next(iter(unknown))
    target = _ALIASES.get(name) or _ALIASES.get(_snake(name))
    if target is None and _snake(name) in known:
        target = _snake(name)         # Wolfram's option names: MaxTrainingRounds
    if target is None:
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        target = close[0] if close else None
    value = unknown[name]
    hint = {"gradient_clipping": f'gradient_clipping={{"norm": {value!r}}}'
            if name in ("clip_grad_norm", "max_grad_norm") else None,
            "training_stopping_criterion": f'training_stopping_criterion={{"patience": {value!r}}}'
            if name == "patience" else None}.get(target or "")
    raise NetTypeError(f"netgrad.train has no option {name!r}", where=WHERE,
                       got=f"got {name}={value!r}" + (f" (and {len(unknown) - 1} more)"
                                                       if len(unknown) > 1 else ""),
                       fix=(f"did you mean {hint or f'{target}={value!r}'}? " if target else "")
                       + "the options are " + ", ".join(known))
