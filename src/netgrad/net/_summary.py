"""``print(net)``: layers, ports with shapes, encoders and decoders, and arrays with shapes;
``summary_html(net)``: the same as an HTML table (Jupyter's ``_repr_html_``)."""

from __future__ import annotations

import html

from ._shapes import fmt_shape

__all__ = ["summary", "summary_html", "summary_rows"]


def _ports(module) -> str:
    ins = ", ".join(f"{p} {fmt_shape(module.port_shape(p))}" for p in module.input_names())
    outs = ", ".join(f"{p} {fmt_shape(module.port_shape(p))}" for p in module.output_names())
    return f"{ins} → {outs}"


def _arrays(layer) -> str:
    parts = []
    for name in layer.array_names:
        p = getattr(layer, name)
        state = "" if name not in layer._uninitialized else " uninitialized"
        parts.append(f"{name} {fmt_shape(tuple(p.shape)) if p is not None else '?'}{state}")
    return "; arrays: " + ", ".join(parts) if parts else ""


def _lines(module, indent: str) -> list[str]:
    from ..layers import Layer
    if isinstance(module, Layer):
        return [f"{indent}{module.config_text()}  {_ports(module)}{_arrays(module)}"]
    lines = [f"{indent}{type(module).__name__}  {_ports(module)}"]
    for port, coder in {**module.encoders(), **module.decoders()}.items():
        lines.append(f"{indent}  port {port}: {coder!r}")
    width = max(len(v) for v in module.vertex_names()) + 2
    for v in module.vertex_names():
        child = module.vertices[v]
        sub = _lines(child, "")
        label = f'"{v}"'.ljust(width)
        lines.append(f"{indent}  {label}  {sub[0]}")
        lines.extend(f"{indent}  {' ' * width}  {line}" for line in sub[1:])
    n = sum(p.numel() for p in module.parameters())
    lines.append(f"{indent}  ({len(module.vertex_names())} vertices, {n} learned numbers)")
    return lines


def summary(module) -> str:
    return "\n".join(_lines(module, ""))


def summary_rows(module, path: tuple[str, ...] = ()) -> list[dict[str, str]]:
    """One row per layer (nested nets flattened, paths joined by "/"): vertex, layer, inputs,
    outputs, arrays."""
    from ..layers import Layer
    if isinstance(module, Layer):
        arrays = _arrays(module)[len("; arrays: "):]
        return [{"vertex": "/".join(path) or "(layer)", "layer": module.config_text(),
                 "inputs": ", ".join(f"{p} {fmt_shape(module.port_shape(p))}"
                                     for p in module.input_names()),
                 "outputs": ", ".join(f"{p} {fmt_shape(module.port_shape(p))}"
                                      for p in module.output_names()),
                 "arrays": arrays}]
    rows = []
    for v in module.vertex_names():
        rows.extend(summary_rows(module.vertices[v], path + (v,)))
    return rows


def summary_html(module) -> str:
    """The summary as an HTML table: ports (with encoders and decoders), then one row per layer."""
    esc = html.escape
    n = sum(p.numel() for p in module.parameters())
    head = (f"<b>{esc(type(module).__name__)}</b> &nbsp; {esc(_ports(module))} &nbsp; "
            f"({n} learned numbers)")
    coders = {**module.encoders(), **module.decoders()}
    coder_rows = "".join(f"<tr><td>port {esc(p)}</td><td colspan='4'><code>{esc(repr(c))}</code>"
                         "</td></tr>" for p, c in coders.items())
    cols = ("vertex", "layer", "inputs", "outputs", "arrays")
    body = "".join("<tr>" + "".join(f"<td>{esc(r[c])}</td>" for c in cols) + "</tr>"
                   for r in summary_rows(module))
    header = "<tr>" + "".join(f"<th>{c}</th>" for c in cols) + "</tr>"
    return (f"<div class='netgrad-summary'><p>{head}</p><table>{header}{coder_rows}{body}"
            "</table></div>")
