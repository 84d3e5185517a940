"""Per-array settings by layer path: ``learning_rate_multipliers`` and ``l2_regularization``.

A path names a vertex, a nested vertex, or one array, by names or 0-based positions through
nested nets: ``"enc"``, ``("enc", 2)``, ``("enc", "lin", "Weights")``, ``0``. A rule for a path
applies to every array under it; a longer (more specific) path wins over a shorter one, and
among equally long paths the later rule wins. ``All`` (or ``"*"``) names every array.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Union

from .._errors import NetKeyError, NetTypeError, NetValueError
from ..gradient import All
from ..net._graph import NetGraph
from ._options import WHERE

__all__ = ["resolve_rules", "array_names"]

ArrayPath = tuple[str, ...]


def array_names(net) -> list[ArrayPath]:
    """Every learned array of ``net`` by its path of names (as ``named_arrays`` gives it)."""
    return [path for path, layer, name in net.named_arrays() if getattr(layer, name) is not None]


def _resolve_path(net, spec: Any, option: str) -> ArrayPath:
    """A user path → the prefix of array paths (names only) it designates."""
    parts = spec if isinstance(spec, tuple) else (spec,)
    where = f"{WHERE}, {option}"
    out: list[str] = []
    node = net
    for i, part in enumerate(parts):
        if isinstance(part, bool) or not isinstance(part, (str, int)):
            raise NetTypeError("a layer path is vertex names or positions, optionally ending "
                               "with an array name", where=where, got=f"got {spec!r}",
                               fix='e.g. "lin1", ("block", 0), ("lin1", "Weights")')
        if isinstance(node, NetGraph):
            names = node.vertex_names()
            if isinstance(part, int):
                if not -len(names) <= part < len(names):
                    raise NetKeyError(f"position {part} is out of range", where=where,
                                      got=f"got {spec!r}, and the net at "
                                          f"{tuple(out) or 'the top'} has {len(names)} vertices",
                                      fix=f"use 0 to {len(names) - 1} or one of {names}")
                part = names[part]
            if part not in names:
                close = [n for n in names if n.lower() == str(part).lower()]
                raise NetKeyError(f"no vertex {part!r}", where=where,
                                  got=f"got path {spec!r}; the net at "
                                      f"{tuple(out) or 'the top'} has vertices {names}",
                                  fix=f"did you mean {close[0]!r}?" if close else
                                  "name a vertex, a nested vertex, or end with an array name")
            out.append(part)
            node = node[part]
        else:
            arrays = list(getattr(node, "array_names", ()))
            if i != len(parts) - 1 or part not in arrays:
                raise NetKeyError(f"{type(node).__name__} at {tuple(out)} has no array {part!r}",
                                  where=where, got=f"got path {spec!r}",
                                  fix=f"its arrays are {arrays}" if arrays
                                  else "this layer has no learned arrays")
            out.append(str(part))
    return tuple(out)


def resolve_rules(net, rules: Any, option: str, *, allow_negative: bool = False
                  ) -> dict[ArrayPath, float]:
    """``rules`` (a number for every array, a dict, or a list of ``(path, value)`` pairs) →
    the value for each array that a rule names (arrays not named are absent)."""
    where = f"{WHERE}, {option}"
    paths = array_names(net)
    if rules is None:
        return {}
    if isinstance(rules, (int, float)) and not isinstance(rules, bool):
        items: list[tuple[Any, Any]] = [(All, rules)]
    elif isinstance(rules, Mapping):
        items = list(rules.items())
    elif isinstance(rules, (list, tuple)) and all(isinstance(r, tuple) and len(r) == 2 for r in rules):
        items = list(rules)
    else:
        raise NetTypeError(f"{option} is a number, a dict of layer paths to numbers, or a list "
                           "of (path, number) pairs", where=where,
                           got=f"got {type(rules).__name__} {rules!r}",
                           fix='e.g. {"lin1": 0} freezes the layer "lin1"')
    resolved: list[tuple[int, int, ArrayPath, float]] = []
    for order, (spec, value) in enumerate(items):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value \
                or value in (float("inf"), float("-inf")) or (value < 0 and not allow_negative):
            raise NetValueError(f"the values of {option} are finite numbers ≥ 0", where=where,
                                got=f"got {value!r} for {spec!r}",
                                fix=f"give {spec!r} a value ≥ 0 (0 leaves it out)")
        prefix: ArrayPath = () if spec is All or spec == "*" else _resolve_path(net, spec, option)
        resolved.append((len(prefix), order, prefix, float(value)))
    out: dict[ArrayPath, float] = {}
    for _, _, prefix, value in sorted(resolved, key=lambda r: (r[0], r[1])):
        for path in paths:
            if path[:len(prefix)] == prefix:
                out[path] = value
    return out


PathValue = Union[float, None]
