"""What netgrad does when an evaluation or a gradient is non-finite: raise, warn or ignore.

``set_nonfinite("warn")`` changes the setting for the current thread (and the tasks it starts);
``with nonfinite("ignore"): ...`` changes it for a block.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

from .._errors import NetValueError, did_you_mean

__all__ = ["set_nonfinite", "get_nonfinite", "nonfinite", "NonFiniteWarning", "MODES"]

#: The possible settings.
MODES = ("raise", "warn", "ignore")

_mode: contextvars.ContextVar[str] = contextvars.ContextVar("netgrad_nonfinite", default="raise")


class NonFiniteWarning(RuntimeWarning):
    """Issued instead of :class:`netgrad.NonFiniteError` under ``set_nonfinite("warn")``.

    ``warning.report`` is the :class:`~netgrad.debug.NonFiniteReport`.
    """

    def __init__(self, message: str, report=None):
        super().__init__(message)
        self.report = report


def _checked(mode: str) -> str:
    if mode not in MODES:
        raise NetValueError('the non-finite setting is "raise", "warn" or "ignore"',
                            where="netgrad.debug.set_nonfinite", got=f"got {mode!r}",
                            fix=did_you_mean(mode, MODES, aliases={"error": "raise",
                                                                   "off": "ignore",
                                                                   "warning": "warn"}))
    return mode


def set_nonfinite(mode: str) -> None:
    """Set what a NaN or infinity in an evaluation or a NetPortGradient does.

    Args:
        mode: ``"raise"`` (default: :class:`netgrad.NonFiniteError`), ``"warn"``
            (:class:`NonFiniteWarning`, the result is returned) or ``"ignore"`` (no check at all,
            no cost).
    """
    _mode.set(_checked(mode))


def get_nonfinite() -> str:
    """The current setting: ``"raise"``, ``"warn"`` or ``"ignore"``."""
    return _mode.get()


@contextlib.contextmanager
def nonfinite(mode: str) -> Iterator[None]:
    """``with nonfinite("warn"): ...``: the setting of :func:`set_nonfinite`, for a block."""
    token = _mode.set(_checked(mode))
    try:
        yield
    finally:
        _mode.reset(token)
