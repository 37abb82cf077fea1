"""Shared look of every figure: fonts, colours, Chinese number formats.

Functions take tidy DataFrames and return plotly figures; no computation here."""

from __future__ import annotations

import datetime as dt

import numpy as np
import plotly.graph_objects as go

__all__ = ["FONT_FAMILY", "PALETTE", "DATE_TICKS", "apply_layout", "plotly_text", "plotly_texts"]

FONT_FAMILY = '"Noto Sans CJK SC", "Microsoft YaHei", "PingFang SC", "SimHei", sans-serif'
PALETTE = [
    "#c0392b", "#2980b9", "#27ae60", "#8e44ad", "#d35400",
    "#16a085", "#f39c12", "#2c3e50", "#7f8c8d", "#e84393",
]


_DAY_MS = 86_400_000
#: Chinese date ticks at every zoom (plotly's own are English: "Jan 2016").
DATE_TICKS = [
    {"dtickrange": [None, _DAY_MS], "value": "%-m月%-d日 %H:%M"},
    {"dtickrange": [_DAY_MS, "M1"], "value": "%-m月%-d日"},
    {"dtickrange": ["M1", "M12"], "value": "%Y年%-m月"},
    {"dtickrange": ["M12", None], "value": "%Y年"},
]


def _is_dates(values) -> bool:
    if values is None or len(values) == 0:
        return False
    first = values[0]
    return isinstance(first, (dt.date, np.datetime64)) or (
        isinstance(first, str) and len(first) >= 7 and first[4] == "-" and first[:4].isdigit())


def _chinese_dates(fig: go.Figure) -> None:
    """Chinese tick labels and hover dates on the x axes that hold dates."""
    axes = {getattr(trace, "xaxis", None) or "x" for trace in fig.data if _is_dates(getattr(trace, "x", None))}
    for axis in axes:
        name = "xaxis" if axis == "x" else f"xaxis{axis[1:]}"
        fig.update_layout({name: {"tickformatstops": DATE_TICKS, "hoverformat": "%Y年%-m月%-d日"}})


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
    _chinese_dates(fig)
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
