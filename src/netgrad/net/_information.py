"""NetInformation: facts about a net (Wolfram's ``Information[net, prop]``).

Properties: ``"ArraysCount"`` (learned and fixed arrays, a shared array counted once),
``"ArraysTotalElementCount"``, ``"ArraysElementCounts"`` (path → count), ``"LayerTypeCounts"``
(layer type → how many layers; a layer used twice counts once), ``"Layers"`` (path → layer,
paths as tuples of vertex names like NetPortGradient's), ``"LayersCount"``, ``"InputPorts"``
and ``"OutputPorts"`` (port → per-example shape), and ``"SummaryGraphic"`` (a matplotlib figure:
the net drawn by ``netgrad.plot.net_graph`` beside a table of these facts).
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from .._errors import NetKeyError, NetTypeError, did_you_mean
from .._module import NetModule

__all__ = ["NetInformation", "NetInfo", "PROPERTIES", "register_summary_graphic"]

PROPERTIES = ("ArraysCount", "ArraysTotalElementCount", "ArraysElementCounts", "LayerTypeCounts",
              "Layers", "LayersCount", "InputPorts", "OutputPorts", "SummaryGraphic")

_drawer: Callable[[NetModule, dict[str, Any]], Any] | None = None


def register_summary_graphic(draw: Callable[[NetModule, dict[str, Any]], Any]) -> None:
    """``netgrad.plot`` registers the function that draws "SummaryGraphic" (nets sit below
    plotting, so they call it through this hook)."""
    global _drawer
    _drawer = draw


def _layers(net: NetModule, path: tuple[str, ...] = ()) -> dict[tuple[str, ...], NetModule]:
    names = net.vertex_names()
    if not names:
        return {path: net}
    out: dict[tuple[str, ...], NetModule] = {}
    for v in names:
        out.update(_layers(net.vertex(v), path + (v,)))
    return out


def _facts(net: NetModule) -> dict[str, Any]:
    layers = _layers(net)
    distinct: dict[int, NetModule] = {}
    for layer in layers.values():
        distinct.setdefault(id(layer), layer)
    counts: dict[str, int] = {}
    for layer in distinct.values():
        counts[type(layer).__name__] = counts.get(type(layer).__name__, 0) + 1
    arrays: dict[tuple[str, ...], int] = {}
    seen: set[int] = set()
    total = 0
    for path, layer, name in net.named_arrays():
        t = getattr(layer, name)
        n = 0 if t is None else t.numel()
        arrays[path] = n
        if t is not None and id(t) not in seen:
            seen.add(id(t))
            total += n
    n_arrays = len({id(getattr(layer, name)) if getattr(layer, name) is not None else (id(layer), name)
                    for _, layer, name in net.named_arrays()})
    return {"ArraysCount": n_arrays, "ArraysTotalElementCount": total,
            "ArraysElementCounts": arrays, "LayerTypeCounts": dict(sorted(counts.items())),
            "Layers": layers, "LayersCount": len(distinct),
            "InputPorts": {p: net.port_shape(p) for p in net.input_names()},
            "OutputPorts": {p: net.port_shape(p) for p in net.output_names()}}


class NetInfo(dict):
    """Every fact of :func:`NetInformation` (a plain dict of property -> value) that Jupyter
    shows as a table (``_repr_html_``)."""

    def _repr_html_(self) -> str:
        esc = html.escape

        def cell(value: Any) -> str:
            if isinstance(value, dict):
                items = (f"{esc(_key(k))}: {esc(_value(v))}" for k, v in value.items())
                return "<br>".join(items) or "&mdash;"
            return esc(_value(value))

        rows = "".join(f"<tr><th style='text-align:left'>{esc(k)}</th><td>{cell(v)}</td></tr>"
                       for k, v in self.items())
        return f"<div class='netgrad-information'><table>{rows}</table></div>"


def _key(k: Any) -> str:
    return "/".join(map(str, k)) or "(net)" if isinstance(k, tuple) else str(k)


def _value(v: Any) -> str:
    return type(v).__name__ if isinstance(v, NetModule) else str(v)


def NetInformation(net: NetModule, prop: str | None = None) -> Any:
    """A fact about ``net`` (see the module docstring); with no ``prop``, every fact but the
    picture, as a dict (a :class:`NetInfo`, shown as a table in Jupyter)."""
    if not isinstance(net, NetModule):
        raise NetTypeError("NetInformation takes a netgrad layer or net", where="NetInformation",
                           got=f"got {type(net).__name__}", fix="e.g. NetInformation(net, \"Layers\")")
    if prop is not None and prop not in PROPERTIES:
        raise NetKeyError(f"NetInformation knows the properties {list(PROPERTIES)}",
                          where="NetInformation", got=f"got {prop!r}",
                          fix=did_you_mean(prop, list(PROPERTIES)) if isinstance(prop, str)
                          else "pass a property name")
    facts = _facts(net)
    if prop is None:
        return NetInfo(facts)
    if prop == "SummaryGraphic":
        if _drawer is None:  # pragma: no cover - importing netgrad registers it
            raise NetTypeError("the summary graphic needs netgrad.plot", where="NetInformation",
                               got="got no drawer registered", fix="import netgrad")
        return _drawer(net, facts)
    return facts[prop]
