"""The "SummaryGraphic" of NetInformation: the net drawn by :func:`net_graph`, with a table of
its facts (ports, arrays, layer types) beside it."""

from __future__ import annotations

from typing import Any

from .._shapes import fmt_shape
from ._graph import net_graph

__all__ = ["summary_graphic"]

_TABLE_WIDTH = 3.6


def summary_graphic(net: Any, facts: dict[str, Any]) -> Any:
    """A matplotlib Figure: the drawing on the left, the facts on the right. The table's text
    carries gid ``"summary:table"``."""
    fig = net_graph(net)
    width, height = fig.get_size_inches()
    height = max(height, 2.8)
    fig.set_size_inches(width + _TABLE_WIDTH, height)
    for ax in fig.axes:
        ax.set_position((0, 0, width / (width + _TABLE_WIDTH), 1))
    table = fig.add_axes((width / (width + _TABLE_WIDTH), 0, _TABLE_WIDTH / (width + _TABLE_WIDTH), 1))
    table.axis("off")
    lines = ["Inputs"] + [f"  {p}  {fmt_shape(s)}" for p, s in facts["InputPorts"].items()]
    lines += ["Outputs"] + [f"  {p}  {fmt_shape(s)}" for p, s in facts["OutputPorts"].items()]
    lines += ["", f"Layers  {facts['LayersCount']}"]
    lines += [f"  {k}  ×{v}" for k, v in facts["LayerTypeCounts"].items()]
    lines += ["", f"Arrays  {facts['ArraysCount']}",
              f"  {facts['ArraysTotalElementCount']:,} numbers"]
    table.text(0.04, 0.97, "\n".join(lines), va="top", ha="left", family="monospace",
               fontsize=8, transform=table.transAxes, gid="summary:table")
    return fig
