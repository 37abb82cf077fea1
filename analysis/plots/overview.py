"""Figures of the 总览 page: the trend with promotion bands, top-N bars with their change.

Functions take tidy DataFrames and return plotly figures; no computation here."""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go

from analysis.plots.common import apply_layout, plotly_text
from analysis.privacy import mask_text
from analysis.plots.trends import trend_figure

__all__ = ["RISE_COLOR", "FALL_COLOR", "overview_trend_figure", "top_changes_figure"]

RISE_COLOR = "#c0392b"   # more complaints than the previous period
FALL_COLOR = "#2980b9"   # fewer
FLAT_COLOR = "#95a5a6"   # unchanged
PREVIOUS_COLOR = "#2c3e50"


def _change_label(change: int, pct: float) -> str:
    if math.isnan(pct):
        return f"{change:+,d}（上期 0）" if change else "持平"
    return f"{change:+,d}（{pct:+.0f}%）" if change else "持平"


def top_changes_figure(frame: pd.DataFrame, *, title: str | None = None,
                       height: int | None = None) -> go.Figure:
    """Horizontal bars of the current period's counts, coloured by their change.

    Args:
        frame: the output of :func:`analysis.overview.top_changes` (columns
            ``name, current, previous, change, change_pct, share``).
        title: figure title (Chinese).
        height: pixel height; by default grows with the number of bars.

    Returns:
        Bars largest on top (red: rose against the previous period, blue:
        fell, grey: unchanged), a marker at the previous period's count, the
        change as text right of the bar or the marker, whichever ends further right.
    """
    rows = frame.iloc[::-1]
    colors = [RISE_COLOR if c > 0 else FALL_COLOR if c < 0 else FLAT_COLOR for c in rows["change"]]
    labels = [_change_label(int(c), float(p)) for c, p in zip(rows["change"], rows["change_pct"])]
    names = [plotly_text(mask_text(str(n))) for n in rows["name"]]  # raw export values are free text
    fig = go.Figure()
    fig.add_bar(
        x=rows["current"], y=names, orientation="h", name="本期", marker_color=colors, showlegend=False,
        customdata=list(zip(rows["previous"], rows["share"])),
        hovertemplate="%{y}<br>本期 %{x:,} 件（占 %{customdata[1]:.1f}%）"
                      "<br>上期 %{customdata[0]:,} 件<extra></extra>",
    )
    fig.add_scatter(
        x=rows["previous"], y=names, mode="markers", name="上期",
        marker={"symbol": "line-ns-open", "size": 18, "line": {"width": 3},
                "color": PREVIOUS_COLOR},
        hovertemplate="%{y}<br>上期 %{x:,} 件<extra></extra>",
    )
    # the change beside the longer of bar and previous-period tick, so the two never overlap
    fig.add_scatter(
        x=[max(c, p) for c, p in zip(rows["current"], rows["previous"])], y=names, mode="text", text=labels,
        textposition="middle right", showlegend=False, hoverinfo="skip", cliponaxis=False, name="变化",
    )
    peak = max([0, *rows["current"].tolist(), *rows["previous"].tolist()])
    fig.update_xaxes(title_text="投诉件数", range=[0, peak * 1.3 + 1], tickformat=",d")
    fig.update_yaxes(automargin=True)
    fig.update_layout(bargap=0.35)
    return apply_layout(fig, title=title, height=height or 120 + 32 * max(len(rows), 1))


def overview_trend_figure(series: pd.DataFrame, promotions: pd.DataFrame, *, height: int = 380) -> go.Figure:
    """The period's trend with promotion bands, dates labelled the Chinese way.

    Args:
        series: the first item of :func:`analysis.overview.trend_series`.
        promotions: the second item (calendar rows drawn as bands).
        height: pixels.
    """
    fig = trend_figure(series, promotions=promotions, height=height)
    monthly = series.attrs.get("freq") == "M"
    return fig.update_xaxes(tickformat="%Y年%m月" if monthly else "%Y-%m-%d")
