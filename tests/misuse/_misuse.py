"""The misuse table's machinery: one row per way a user can get the API wrong.

A row is ``Misuse(name, call, error)``: ``call()`` must raise ``error`` (a netgrad error class,
which also derives from the matching built-in), and the error must say all four things, each a
field of :class:`netgrad.NetgradError` that is checked on its own: ``where`` (the place in the
net or the call, with the layer type when a layer is involved), ``rule``, ``got`` (what was
received) and ``fix``. :func:`classify` sorts an outcome into the census categories that
``python tests/misuse/census.py`` counts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

import netgrad as ng

BUILTINS = (ValueError, TypeError, KeyError, OSError, FloatingPointError)


@dataclass(frozen=True)
class Misuse:
    name: str
    call: Callable[[], Any]
    error: type[ng.NetgradError]
    where: str | None = None     # a text the where part must contain (e.g. the layer type)

    def __repr__(self) -> str:
        return self.name


def params(rows: list[Misuse]) -> Any:
    return pytest.mark.parametrize("row", rows, ids=[r.name for r in rows])


def check(row: Misuse) -> None:
    """Run the row and assert the error is the right class and says all four things."""
    with pytest.raises(row.error) as info:
        row.call()
    e = info.value
    assert isinstance(e, BUILTINS), f"{type(e).__name__} derives from no matching built-in"
    for part in ("where", "rule", "got", "fix"):
        value = getattr(e, part)
        assert isinstance(value, str) and value.strip(), f"{part} missing in: {e}"
    if row.where is not None:
        assert row.where in e.where, f"where {e.where!r} does not name {row.where!r}"


def classify(row: Misuse) -> str:
    """``"full"``, ``"no fix"``, ``"partial"`` (rule and one more part), ``"raw"`` (not a netgrad
    error), ``"silent"`` (nothing raised)."""
    try:
        row.call()
    except ng.NetgradError as e:
        parts = [bool(getattr(e, p, None)) for p in ("where", "rule", "got", "fix")]
        if all(parts):
            return "full"
        if parts[:3] == [True, True, True]:
            return "no fix"
        return "partial"
    except Exception:  # noqa: BLE001 - what the census counts
        return "raw"
    return "silent"
