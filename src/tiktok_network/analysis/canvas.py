"""Figures for the report, drawn without pyplot."""

from __future__ import annotations

from typing import Any


def new_figure(size: tuple[float, float], rows: int = 1) -> tuple[Any, Any]:
    """A figure drawn by the Agg canvas directly: no pyplot, so no backend is chosen for the
    whole process (a notebook calling the analysis keeps its own), and no figure registry to
    leak into."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=110)
    FigureCanvasAgg(fig)
    if rows == 1:
        return fig, fig.add_subplot()
    return fig, tuple(fig.add_subplot(rows, 1, i + 1) for i in range(rows))
