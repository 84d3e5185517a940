"""Argument and data checks shared by the layer families.

Argument checks run once, at construction. Data checks (an out-of-range class index) run in
eager evaluation only: they read values on the host, so they are skipped while tracing
(``torch.compile``), inside ``torch.func`` transforms, on meta tensors and on non-CPU devices,
where a host read would cost a synchronization (there the kernel itself refuses bad indices).
"""

from __future__ import annotations

from typing import Any

import torch

from .._errors import NetTypeError, NetValueError
from .._precision import evaluation_dtype
from .._shapes import MaybeShape, as_shape

__all__ = ["data_checks_apply", "check_indices", "positive_int", "real_number", "shape_arg",
           "add_dtype_buffer", "float_dtype"]


def data_checks_apply(x: torch.Tensor) -> bool:
    """Whether a layer may read ``x``'s values on the host to validate them."""
    if torch.compiler.is_compiling() or x.device.type != "cpu" or x.is_meta:
        return False
    return not torch._C._functorch.is_functorch_wrapped_tensor(x)


def check_indices(x: torch.Tensor, n: int, where: str, fix: str) -> None:
    """Refuse class indices outside ``0 .. n-1`` (when data checks apply); one reduction."""
    if x.numel() == 0 or not data_checks_apply(x):
        return
    lo, hi = torch.stack(torch.aminmax(x)).tolist()
    if lo < 0 or hi >= n:
        bad = lo if lo < 0 else hi
        at = tuple(int(i) for i in (x == bad).nonzero()[0].tolist())
        raise NetValueError(f"indices are 0-based integers from 0 to {n - 1}", where=where,
                            got=f"got {bad} at index {at} of the batch", fix=fix)


def positive_int(value: Any, name: str, where: str, *, minimum: int = 1) -> int:
    """An int option ``>= minimum`` (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise NetTypeError(f"{name} must be an int", where=where,
                           got=f"got {type(value).__name__} {value!r}",
                           fix=f"e.g. {name}={max(minimum, 1)}")
    if value < minimum:
        raise NetValueError(f"{name} must be at least {minimum}", where=where,
                            got=f"got {value!r}", fix=f"e.g. {name}={max(minimum, 1)}")
    return value


def real_number(value: Any, name: str, where: str, *, low: float | None = None,
                high: float | None = None, open_low: bool = False,
                open_high: bool = False) -> float:
    """A finite real option, optionally within ``[low, high]`` (ends open on request)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise NetTypeError(f"{name} must be a real number", where=where,
                           got=f"got {type(value).__name__} {value!r}")
    v = float(value)
    bad = v != v or v in (float("inf"), float("-inf"))
    if low is not None:
        bad = bad or v < low or (open_low and v == low)
    if high is not None:
        bad = bad or v > high or (open_high and v == high)
    if bad:
        lo = "" if low is None else f"{'>' if open_low else '≥'} {low}"
        hi = "" if high is None else f"{'<' if open_high else '≤'} {high}"
        rule = " and ".join(p for p in (lo, hi) if p) or "finite"
        raise NetValueError(f"{name} must be a finite number {rule}".rstrip(), where=where,
                            got=f"got {value!r}")
    return v


def shape_arg(value: Any, name: str, where: str) -> MaybeShape:
    """A shape option (int or tuple of ints), with the error located at the layer."""
    try:
        return as_shape(value, what=name)
    except NetTypeError as e:
        raise NetTypeError(e.rule, where=where, got=e.got, fix=e.fix) from None


def add_dtype_buffer(layer: torch.nn.Module) -> None:
    """Give a layer that makes floats from integers or from nothing a ``dtype`` buffer (an
    empty tensor, not saved) that ``module.to(dtype)`` converts: see :func:`float_dtype`."""
    layer.register_buffer("dtype_of_output", torch.empty(0), persistent=False)


def float_dtype(layer: torch.nn.Module) -> torch.dtype:
    """The dtype such a layer produces: the running evaluation's precision, else its buffer's."""
    buffer = layer._buffers.get("dtype_of_output")
    return evaluation_dtype() or (buffer.dtype if buffer is not None else torch.get_default_dtype())
