"""Diagnostics: where a non-finite value came from, and whether a gradient is right.

* Every evaluation and NetPortGradient checks its result for NaN and infinity (one fused
  reduction); when one is found, netgrad re-runs the net layer by layer to say where it came
  from and raises :class:`netgrad.NonFiniteError` (or warns, see :func:`set_nonfinite`).
* :func:`detailed`: per-layer checks as the net runs, and counts of where the strong-zero
  convention (0·∞ = 0) decided a gradient.
* :func:`locate_nonfinite`: the same localization, for training loops.
* :func:`check_gradients`: NetPortGradient against float64 finite differences.
* :func:`count_host_syncs`: how many values a block of code reads back to the host.
"""

from ..net._evaluate import register_nonfinite_checker
from . import _provenance
from ._check import GradientCheck, GradientCheckResult, check_gradients
from ._detailed import DetailedSession, StrongZeroCount, detailed
from ._finite import all_finite
from ._locate import locate_nonfinite
from ._report import NonFiniteReport
from ._settings import NonFiniteWarning, get_nonfinite, nonfinite, set_nonfinite
from ._syncs import HostSyncs, count_host_syncs

# Every evaluation checks its outputs and gradients with the provenance checker.
register_nonfinite_checker(_provenance)

__all__ = [
    "set_nonfinite", "get_nonfinite", "nonfinite", "NonFiniteWarning",
    "NonFiniteReport", "locate_nonfinite", "all_finite",
    "detailed", "DetailedSession", "StrongZeroCount",
    "check_gradients", "GradientCheck", "GradientCheckResult",
    "count_host_syncs", "HostSyncs",
]
