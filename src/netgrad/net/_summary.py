"""``print(net)``: a net's ports (with encoders and decoders) and its vertices, each with its
ports and arrays, nested nets indented."""

from __future__ import annotations

from .._module import NetModule

__all__ = ["graph_summary_lines"]


def graph_summary_lines(graph: NetModule) -> list[str]:
    """The lines of ``print(graph)``: a header, the coders of its ports, one line per vertex
    (nested nets indented) and a count of vertices and learned numbers."""
    lines = [f"{type(graph).__name__}  {graph.ports_text()}"]
    for port, coder in {**graph.encoders(), **graph.decoders()}.items():
        lines.append(f"  port {port}: {coder!r}")
    names = graph.vertex_names()
    width = max(len(v) for v in names) + 2
    for v in names:
        sub = graph.vertex(v).summary_lines()
        label = f'"{v}"'.ljust(width)
        lines.append(f"  {label}  {sub[0]}")
        lines.extend(f"  {' ' * width}  {line}" for line in sub[1:])
    n = sum(p.numel() for p in graph.parameters())
    lines.append(f"  ({len(names)} vertices, {n} learned numbers)")
    return lines
