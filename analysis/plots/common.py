"""Shared look of every figure: fonts, colours, Chinese number formats.

Functions take tidy DataFrames and return plotly figures; no computation here."""

from __future__ import annotations

import plotly.graph_objects as go

__all__ = ["FONT_FAMILY", "PALETTE", "apply_layout", "plotly_text", "plotly_texts"]

FONT_FAMILY = '"Noto Sans CJK SC", "Microsoft YaHei", "PingFang SC", "SimHei", sans-serif'
PALETTE = [
    "#c0392b", "#2980b9", "#27ae60", "#8e44ad", "#d35400",
    "#16a085", "#f39c12", "#2c3e50", "#7f8c8d", "#e84393",
]


def apply_layout(fig: go.Figure, *, title: str | None = None, height: int = 380) -> go.Figure:
    """Apply the house style (font, margins, legend) to a figure and return it."""
    fig.update_layout(
        title=title,
        height=height,
        font={"family": FONT_FAMILY, "size": 13},
        colorway=PALETTE,
        margin={"l": 40, "r": 20, "t": 50 if title else 20, "b": 40},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
        hoverlabel={"font_family": FONT_FAMILY},
        template="plotly_white",
    )
    return fig


# Plotly draws a subset of HTML in every text it shows (<a href>, <span style>, <b>, <br> …) and
# fills %{…} in hover templates; it decodes entities, so these show as the characters themselves.
_PLOTLY_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "{": "&#123;", "}": "&#125;"})


def plotly_text(value: object) -> str:
    """A data string made safe for plotly labels, legends, hover texts and titles: shown literally.

    ``<a href="http://x">点我</a>`` shows as that text, not as a link; ``%{x}`` is not filled in.
    Mask personal data first (:mod:`analysis.privacy`); this only escapes.
    """
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return str(value).translate(_PLOTLY_ESCAPES)


def plotly_texts(values) -> list[str]:
    """:func:`plotly_text` of every value."""
    return [plotly_text(v) for v in values]
