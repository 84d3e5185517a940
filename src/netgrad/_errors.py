"""The exceptions netgrad raises.

Every error a user can cause says four things: **where** (the path in the net and the layer
type), **the rule** that was broken, **what was received**, and **a fix** when one is known.
Every exception derives from :class:`NetgradError` and from the matching built-in exception, so
ordinary ``except ValueError`` clauses work.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "NetgradError",
    "NetValueError",
    "NetTypeError",
    "NetKeyError",
    "ShapeError",
    "UninitializedError",
    "NonFiniteError",
    "LoadError",
    "describe_location",
    "did_you_mean",
    "FileError",
    "MissingFileError",
]


class NetgradError(Exception):
    """Base class of every error netgrad raises on purpose.

    Args:
        rule: what was expected, e.g. ``"expected a vector of length 3"``.
        where: where in the net, e.g. ``'NetGraph › "enc" (LinearLayer), port "Input"'``.
        got: what was received, e.g. ``"got an array of shape (2, 5)"``.
        fix: how to fix it, when known.
    """

    def __init__(self, rule: str, *, where: str | None = None, got: str | None = None,
                 fix: str | None = None):
        self.rule = rule
        self.where = where
        self.got = got
        self.fix = fix
        super().__init__(self._message())

    def _message(self) -> str:
        parts = []
        if self.where:
            parts.append(f"{self.where}: ")
        parts.append(self.rule)
        if self.got:
            parts.append(f"; {self.got}")
        if self.fix:
            parts.append(f". Fix: {self.fix}")
        return "".join(parts)

    def located(self, prefix: str) -> "NetgradError":
        """Prefix the location (used by a net when an error comes up from one of its layers).

        ``'NetGraph › "j" (CatenateLayer)'`` before ``'CatenateLayer, port "Input"'`` gives
        ``'NetGraph › "j" (CatenateLayer), port "Input"'`` (the layer is named once)."""
        kind = prefix[prefix.rfind("(") + 1:-1] if prefix.endswith(")") and "(" in prefix else ""
        w = self.where
        if w and kind and (w == kind or w.startswith((kind + ",", kind + " ›", kind + ":"))):
            self.where = prefix + w[len(kind):]
        else:
            self.where = f"{prefix} › {w}" if w else prefix
        self.args = (self._message(),)
        return self

    def __str__(self) -> str:  # KeyError would otherwise print the repr of its argument
        return self._message()


class NetValueError(NetgradError, ValueError):
    """A value (data, option, spec) that netgrad cannot accept."""


class NetTypeError(NetgradError, TypeError):
    """An argument of the wrong kind."""


class NetKeyError(NetgradError, KeyError):
    """An unknown port, array, layer or option name."""


class ShapeError(NetValueError):
    """Shapes that do not fit: at construction (both ends of an edge) or at evaluation."""


class UninitializedError(NetValueError):
    """A net with learned arrays that have no values yet."""


class NonFiniteError(NetgradError, FloatingPointError):
    """A NaN or infinity appeared where the mathematics is finite; ``report`` holds the facts
    (a :class:`netgrad.debug.NonFiniteReport`)."""

    def __init__(self, rule: str, *, where: str | None = None, got: str | None = None,
                 fix: str | None = None, report: Any = None):
        self.report = report
        super().__init__(rule, where=where, got=got, fix=fix)


class LoadError(NetValueError):
    """A saved net that cannot be loaded safely."""


class FileError(NetgradError, OSError):
    """A path that cannot be read or written (a folder where a file should be, no folder)."""


class MissingFileError(FileError, FileNotFoundError):
    """A file to load that does not exist."""


def did_you_mean(given: object, choices: "list[str] | tuple[str, ...]", *, cutoff: float = 0.6,
                 aliases: "dict[str, str] | None" = None) -> str:
    """A fix naming the nearest valid choice (``did you mean "Total"?``), else all of them.

    ``aliases`` maps other libraries' names to ours (``{"sum": "Total"}``), matched without case.
    """
    import difflib
    if isinstance(given, str):
        low = given.lower()
        for alias, name in (aliases or {}).items():
            if alias.lower() == low:
                return f"did you mean {name!r}?"
        for c in choices:
            if c.lower() == low:
                return f"did you mean {c!r}?"
        close = difflib.get_close_matches(given, list(choices), n=1, cutoff=cutoff)
        if close:
            return f"did you mean {close[0]!r}?"
    return f"use one of {list(choices)}"


def describe_location(path: tuple[str, ...], layer_type: str | None = None,
                      port: str | None = None, array: str | None = None) -> str:
    """Render a location in a net, e.g. ``NetGraph › "enc" (LinearLayer), port "Input"``."""
    text = " › ".join(f'"{p}"' for p in path) if path else "net"
    if layer_type:
        text += f" ({layer_type})"
    if port:
        text += f', port "{port}"'
    if array:
        text += f', array "{array}"'
    return text
