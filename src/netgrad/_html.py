"""Jupyter's view of a net or layer: the summary as an HTML table (``_repr_html_``)."""

from __future__ import annotations

import html
from typing import Any

__all__ = ["summary_html"]

COLUMNS = ("vertex", "layer", "inputs", "outputs", "arrays")


def summary_html(module: Any) -> str:
    """Ports (with encoders and decoders), then one row per layer (``module.summary_rows()``)."""
    esc = html.escape
    n = sum(p.numel() for p in module.parameters())
    head = (f"<b>{esc(type(module).__name__)}</b> &nbsp; {esc(module.ports_text())} &nbsp; "
            f"({n} learned numbers)")
    coders = {**module.encoders(), **module.decoders()}
    coder_rows = "".join(f"<tr><td>port {esc(p)}</td><td colspan='4'><code>{esc(repr(c))}</code>"
                         "</td></tr>" for p, c in coders.items())
    body = "".join("<tr>" + "".join(f"<td>{esc(r[c])}</td>" for c in COLUMNS) + "</tr>"
                   for r in module.summary_rows())
    header = "<tr>" + "".join(f"<th>{c}</th>" for c in COLUMNS) + "</tr>"
    return (f"<div class='netgrad-summary'><p>{head}</p><table>{header}{coder_rows}{body}"
            "</table></div>")
