"""The figures netgrad.plot returns: matplotlib figures that show themselves in Jupyter.

matplotlib is imported on first use; figures are made without pyplot (no global state, no
window, any backend), so ``fig.savefig("x.png")`` and ``fig.savefig("x.svg")`` work anywhere.
"""

from __future__ import annotations

import io
from typing import Any

__all__ = ["new_figure"]

_FIGURE_CLASS: Any = None


def _figure_class() -> Any:
    global _FIGURE_CLASS
    if _FIGURE_CLASS is None:
        try:
            from matplotlib.figure import Figure
        except ImportError as e:  # pragma: no cover - matplotlib is a test dependency
            from .._errors import NetgradError

            class PlotImportError(NetgradError, ImportError):
                pass
            raise PlotImportError("netgrad.plot draws with matplotlib", where="netgrad.plot",
                                  got=f"got {e}", fix='pip install "netgrad[plot]" (or matplotlib)') from None

        class NetFigure(Figure):
            """A matplotlib Figure with ``_repr_png_`` (Jupyter shows it) and ``to_png()``."""

            def to_png(self, dpi: int = 100) -> bytes:
                buf = io.BytesIO()
                self.savefig(buf, format="png", dpi=dpi)
                return buf.getvalue()

            def _repr_png_(self) -> bytes:
                return self.to_png()

        _FIGURE_CLASS = NetFigure
    return _FIGURE_CLASS


def new_figure(width: float, height: float) -> Any:
    """A figure of ``width`` × ``height`` inches with an Agg canvas (no pyplot)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    fig = _figure_class()(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig
