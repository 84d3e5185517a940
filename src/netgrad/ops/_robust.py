"""robust(): run plain torch code on netgrad's robust operations."""

from __future__ import annotations

import contextlib

__all__ = ["robust"]


@contextlib.contextmanager
def robust():
    yield
