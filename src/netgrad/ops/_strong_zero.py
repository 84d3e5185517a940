"""The counter the robust operations report strong-zero resolutions to (detailed mode only).

Contract rule 3 resolves ``0·∞`` and ``0·NaN`` to 0. In :func:`netgrad.debug.detailed` mode,
netgrad counts, per layer, how often that convention decided a value. The operations report each
resolution with one call, made only when :data:`enabled` is true, so that normal runs pay one
attribute read::

    from netgrad.ops import _strong_zero
    ...
    fill = nan & kill                 # the NaN products that the convention sets to 0
    if _strong_zero.enabled:
        _strong_zero.record(fill, g, d)
    r.masked_fill_(fill, 0)

It lives in ops and imports nothing from netgrad, so the operations never import debug;
the detailed-mode session in ``netgrad.debug`` installs the sink.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import torch

__all__ = ["enabled", "record"]

#: True while a detailed-mode block is active; the operations test it before calling :func:`record`.
enabled: bool = False

# Set by the detailed-mode session: sink(n_zero_inf, n_zero_nan, op_name_or_None).
_sink: Callable[[int, int, str | None], None] | None = None


def _isnan(x: Any) -> Any:
    if isinstance(x, torch.Tensor):
        return torch.isnan(x)
    return isinstance(x, float) and math.isnan(x)


def record(mask: torch.Tensor, a: Any, b: Any = None) -> None:
    """Report that the product ``a * b`` was set to 0 where ``mask`` is true.

    Args:
        mask: bool tensor, true where the indeterminate product was resolved to 0 (the shape of
            the product).
        a, b: the two factors (tensors broadcastable to ``mask``, Python numbers, or ``b=None``
            when only one factor is known). Where a factor is NaN the resolution counts as
            ``0·NaN``, otherwise as ``0·∞``.
    """
    sink = _sink
    if sink is None or not enabled:
        return
    n = int(mask.sum())
    if n == 0:
        return
    nan_factor = _isnan(a)
    if b is not None:
        nb = _isnan(b)
        nan_factor = nan_factor | nb if isinstance(nan_factor, torch.Tensor) or \
            isinstance(nb, torch.Tensor) else (nan_factor or nb)
    if isinstance(nan_factor, torch.Tensor):
        n_nan = int((mask & nan_factor).sum())
    else:
        n_nan = n if nan_factor else 0
    node = torch._C._current_autograd_node()
    sink(n - n_nan, n_nan, node.name() if node is not None else None)
