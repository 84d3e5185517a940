"""``net_graph(net)``: a net drawn as boxes and arrows.

Layers are boxes (name, type, port shapes), the net's input and output ports rounded grey boxes
(with their encoders and decoders), connections arrows, and nested nets dashed groups around
their layers. Nodes are placed in layers by longest path from the inputs, top to bottom.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .._errors import NetTypeError
from .._shapes import fmt_shape
from ._figure import new_figure

__all__ = ["net_graph", "GraphLayout", "layout_graph"]

_FONT = 8.0
_CHAR = 0.0062 * _FONT         # inches per character (DejaVu Sans, average)
_LINE = 0.0185 * _FONT         # inches per text line
_GAP_X, _GAP_Y = 0.35, 0.45    # inches between boxes
_GROUP_PAD = 0.16


@dataclass
class Node:
    key: str
    kind: str                  # "layer", "input", "output"
    lines: list[str]
    group: tuple[str, ...] = ()
    level: int = 0
    x: float = 0.0
    y: float = 0.0
    w: float = 0.0
    h: float = 0.0


@dataclass
class GraphLayout:
    """Nodes (boxes), edges (node key pairs) and groups (nested nets) of a drawn net."""

    nodes: dict[str, Node] = field(default_factory=dict)
    edges: list[tuple[str, str]] = field(default_factory=list)
    groups: dict[tuple[str, ...], str] = field(default_factory=dict)
    width: float = 0.0
    height: float = 0.0


def _shapes(module: Any, ports: tuple[str, ...]) -> str:
    return ", ".join(fmt_shape(module.port_shape(p)) if len(ports) == 1
                     else f"{p} {fmt_shape(module.port_shape(p))}" for p in ports)


def _expand(net: Any, path: tuple[str, ...], out: GraphLayout):
    """Add ``net``'s layers to ``out``; return (consumers of each input port, producer of each
    output port) as node keys."""
    from ..layers import Layer
    from ..net._graph import NetGraph
    if isinstance(net, Layer):
        key = "/".join(path) or type(net).__name__
        ins, outs = net.input_names(), net.output_names()
        lines = [path[-1] if path else key, type(net).__name__,
                 f"{_shapes(net, ins)} → {_shapes(net, outs)}"]
        out.nodes[key] = Node(key, "layer", lines, group=path[:-1])
        return {p: [key] for p in ins}, dict.fromkeys(outs, key)
    if not isinstance(net, NetGraph):
        raise NetTypeError("net_graph draws netgrad layers and nets", where="netgrad.plot.net_graph",
                           got=f"got {type(net).__name__}")
    if path:
        out.groups[path] = f'"{path[-1]}" ({type(net).__name__})'
    subs = {v: _expand(net.vertices[v], path + (v,), out) for v in net.vertex_names()}
    consumers: dict[str, list[str]] = {p: [] for p in net.input_names()}
    producers: dict[str, str] = {}
    for (sv, sp), (dv, dp) in net.edges():
        if dv is None:
            if sv is None:
                continue
            producers[dp] = subs[sv][1][sp]
            continue
        targets = subs[dv][0].get(dp, [])
        if sv is None:
            consumers.setdefault(sp, []).extend(targets)
        else:
            src = subs[sv][1][sp]
            out.edges.extend((src, t) for t in targets)
    return consumers, producers


def layout_graph(net: Any) -> GraphLayout:
    """The boxes, arrows and groups of ``net``, placed (inches, y downwards)."""
    out = GraphLayout()
    consumers, producers = _expand(net, (), out)
    encoders, decoders = net.encoders(), net.decoders()
    for p in net.input_names():
        lines = [p, fmt_shape(net.port_shape(p))]
        if p in encoders:
            lines.append(f'NetEncoder("{encoders[p].kind}")')
        out.nodes[f"in:{p}"] = Node(f"in:{p}", "input", lines)
        out.edges.extend((f"in:{p}", t) for t in consumers.get(p, []))
    for p in net.output_names():
        lines = [p, fmt_shape(net.port_shape(p))]
        if p in decoders:
            lines.append(f'NetDecoder("{decoders[p].kind}")')
        out.nodes[f"out:{p}"] = Node(f"out:{p}", "output", lines)
        if p in producers:
            out.edges.append((producers[p], f"out:{p}"))
    _place(out)
    return out


def _place(out: GraphLayout) -> None:
    """Levels, order within a level, and positions (inches) of ``out``'s nodes."""
    nodes = out.nodes
    preds: dict[str, list[str]] = {k: [] for k in nodes}
    succs: dict[str, list[str]] = {k: [] for k in nodes}
    for a, b in out.edges:
        preds[b].append(a)
        succs[a].append(b)
    # levels: longest path from a source (the edge list is in evaluation order, so repeat)
    changed = True
    while changed:
        changed = False
        for a, b in out.edges:
            if nodes[b].level < nodes[a].level + 1:
                nodes[b].level = nodes[a].level + 1
                changed = True
    last = max(n.level for n in nodes.values())
    for n in nodes.values():
        if n.kind == "output":
            n.level = last
        elif not preds[n.key] and succs[n.key]:   # a source sits just above its first use
            n.level = min(nodes[b].level for b in succs[n.key]) - 1
        n.w = max(len(line) for line in n.lines) * _CHAR + 0.3
        n.h = len(n.lines) * _LINE + 0.18
    rows: dict[int, list[Node]] = {}
    for n in nodes.values():
        rows.setdefault(n.level, []).append(n)
    depth = max((len(g) for g in out.groups), default=0)
    margin = 0.25 + depth * _GROUP_PAD
    widths = {lv: sum(n.w for n in ns) + _GAP_X * (len(ns) - 1) for lv, ns in rows.items()}
    total_w = max(widths.values()) + 2 * margin
    y = margin + 0.1 + depth * 0.2
    for lv in sorted(rows):
        ns = rows[lv]
        # order by the mean centre of the predecessors (fewer crossings); sources go last
        centre = {n.key: (sum(nodes[a].x + nodes[a].w / 2 for a in preds[n.key])
                          / len(preds[n.key]) if preds[n.key] and nodes[preds[n.key][0]].y
                          < y else float("inf")) for n in ns}
        ns.sort(key=lambda n: centre[n.key])
        x = (total_w - widths[lv]) / 2
        for n in ns:
            n.x, n.y = x, y
            x += n.w + _GAP_X
        y += max(n.h for n in ns) + _GAP_Y + depth * 0.05
    _clear_groups(out, rows)
    out.width = max(total_w, max(n.x + n.w for n in nodes.values()) + margin)
    out.height = max(n.y + n.h for n in nodes.values()) + margin


def _clear_groups(out: GraphLayout, rows: dict[int, list[Node]]) -> None:
    """Move nodes that are not in a group out of its rectangle (to its right), with the nodes
    after them in their row."""
    for path in sorted(out.groups, key=len):
        members = [n for n in out.nodes.values() if n.group[:len(path)] == path]
        if not members:
            continue
        pad = _GROUP_PAD * (max(len(g) for g in out.groups) - len(path) + 1)
        x1 = max(n.x + n.w for n in members) + pad
        y0 = min(n.y for n in members) - pad - 0.16
        y1 = max(n.y + n.h for n in members) + pad
        for ns in rows.values():
            for i, n in enumerate(ns):
                if n in members or n.y + n.h < y0 or n.y > y1 or n.x > x1 or \
                        n.x + n.w < min(m.x for m in members) - pad:
                    continue
                shift = x1 + _GAP_X - n.x
                for m in ns[i:]:
                    m.x += shift
                break


def net_graph(net: Any, *, title: str | None = None) -> Any:
    """Draw a net: layers as boxes with their names, types and port shapes; connections as
    arrows; the net's ports (with encoders and decoders) as grey boxes; nested nets as dashed
    groups.

    Args:
        net: a layer, NetChain or NetGraph.
        title: a title above the drawing (default: the net's type and ports).

    Returns:
        a matplotlib Figure (``fig.savefig("net.png")`` or ``"net.svg"``). Its artists carry
        gids: ``"layer:<path>"``, ``"port:<name>"``, ``"edge:<i>"``, ``"group:<path>"``.
    """
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
    lay = layout_graph(net)
    head = title if title is not None else type(net).__name__
    fig = new_figure(max(lay.width, 2.5), lay.height)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, max(lay.width, 2.5))
    ax.set_ylim(lay.height, 0)
    ax.axis("off")
    ax.text(0.12, 0.12, head, fontsize=_FONT + 2, fontweight="bold", va="top", ha="left")
    # groups first (behind), outermost first
    for path in sorted(lay.groups, key=len):
        members = [n for n in lay.nodes.values() if n.group[:len(path)] == path]
        if not members:
            continue
        pad = _GROUP_PAD * (max(len(g) for g in lay.groups) - len(path) + 1)
        x0 = min(n.x for n in members) - pad
        x1 = max(n.x + n.w for n in members) + pad
        y0 = min(n.y for n in members) - pad - 0.16
        y1 = max(n.y + n.h for n in members) + pad
        ax.add_patch(FancyBboxPatch((x0, y0), x1 - x0, y1 - y0,
                                    boxstyle="round,pad=0,rounding_size=0.08", fill=True,
                                    facecolor="#f3f6fb", edgecolor="#7f8ea3", linestyle="--",
                                    linewidth=0.9, gid="group:" + "/".join(path), zorder=0))
        ax.text(x0 + 0.06, y0 + 0.03, lay.groups[path], fontsize=_FONT - 1, color="#4a5a70",
                va="top", ha="left", zorder=1)
    styles = {"layer": ("#ffffff", "#2b4c7e"), "input": ("#e9e9e9", "#6b6b6b"),
              "output": ("#e9e9e9", "#6b6b6b")}
    for n in lay.nodes.values():
        face, edge = styles[n.kind]
        gid = f"layer:{n.key}" if n.kind == "layer" else f"port:{n.lines[0]}"
        style = "round,pad=0,rounding_size=0.12" if n.kind != "layer" else \
            "round,pad=0,rounding_size=0.03"
        ax.add_patch(FancyBboxPatch((n.x, n.y), n.w, n.h, boxstyle=style, facecolor=face,
                                    edgecolor=edge, linewidth=1.1, gid=gid, zorder=2))
        top = n.y + 0.09
        for i, line in enumerate(n.lines):
            weight = "bold" if i == 0 else "normal"
            color = "#1a1a1a" if i < 2 else "#3d3d3d"
            ax.text(n.x + n.w / 2, top + (i + 0.5) * _LINE, line, fontsize=_FONT,
                    fontweight=weight, color=color, ha="center", va="center", zorder=3)
    for i, (a, b) in enumerate(lay.edges):
        na, nb = lay.nodes[a], lay.nodes[b]
        start = (na.x + na.w / 2, na.y + na.h)
        end = (nb.x + nb.w / 2, nb.y)
        skips = nb.level - na.level > 1 and abs(start[0] - end[0]) < 0.05
        ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=10,
                                     linewidth=1.0, color="#444444", shrinkA=1, shrinkB=1,
                                     connectionstyle="arc3,rad=0.45" if skips else "arc3,rad=0",
                                     gid=f"edge:{i}", zorder=1.5))
    return fig
