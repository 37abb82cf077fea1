"""Trend figures: promotion bands, alarms, year-over-year overlay, small multiples, lift bars.

Functions take tidy DataFrames (from :mod:`analysis.trends`) and return plotly
figures; no computation here beyond laying the data out."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from analysis.plots.common import FONT_FAMILY, PALETTE, apply_layout, plotly_text

__all__ = ["lift_bars", "png_config", "small_multiples", "trend_figure", "yoy_figure"]

_OTHER_COLOUR = "#95a5a6"
_BAND_COLOUR = "rgba(243, 156, 18, 0.16)"
_ALARM_COLOUR = "#e74c3c"
_HOVER_DATE = {"D": "%Y-%m-%d", "W": "%Y-%m-%d 起一周", "M": "%Y年%m月"}
_X_TITLE = {"D": "日期", "W": "周（周一起）", "M": "月份"}


def png_config(filename: str, *, scale: int = 2) -> dict:
    """Plotly ``config`` whose camera button downloads the chart as ``filename.png`` (no kaleido)."""
    return {
        "displaylogo": False,
        "toImageButtonOptions": {"format": "png", "filename": filename, "scale": scale},
        "modeBarButtonsToRemove": ["lasso2d", "select2d"],
    }


def _safe(text: object) -> str:
    return plotly_text(text)


def _colours(values: list[str]) -> dict[str, str]:
    out, i = {}, 0
    for v in values:
        if v in ("其他", "未归类", "杂项"):
            out[v] = _OTHER_COLOUR
        else:
            out[v] = PALETTE[i % len(PALETTE)]
            i += 1
    return out


def _add_series(fig: go.Figure, part: pd.DataFrame, *, name: str, colour: str, freq: str,
                showlegend: bool = True, row: int | None = None, col: int | None = None) -> None:
    """One series: solid over complete periods, dashed with open markers to partial ones."""
    part = part.sort_values("period")
    partial = part["is_partial"].to_numpy(bool) if "is_partial" in part else np.zeros(len(part), bool)
    y = part["count"].to_numpy(float)
    solid = np.where(partial, np.nan, y)
    before = np.concatenate([partial[1:], [False]])      # a complete period just before a partial one
    after = np.concatenate([[False], partial[:-1]])      # … or just after it
    dashed = np.where(partial | before | after, y, np.nan)
    hover = f"{_safe(name)}<br>%{{x|{_HOVER_DATE[freq]}}}：%{{y:,}} 件<extra></extra>"
    where = {"row": row, "col": col} if row is not None else {}
    mode = "lines+markers" if len(part) <= 60 else "lines"
    fig.add_trace(go.Scatter(x=part["period"], y=solid, name=_safe(name), mode=mode, legendgroup=name,
                             showlegend=showlegend, line={"color": colour, "width": 2},
                             marker={"size": 5}, hovertemplate=hover), **where)
    if partial.any():
        fig.add_trace(go.Scatter(
            x=part["period"], y=dashed, name=f"{_safe(name)}（不完整周期）", mode="lines+markers",
            legendgroup=name, showlegend=False, line={"color": colour, "width": 2, "dash": "dot"},
            marker={"size": np.where(partial, 9, 0.1), "symbol": "circle-open", "color": colour},
            hovertemplate=f"{_safe(name)}<br>%{{x|{_HOVER_DATE[freq]}}}：%{{y:,}} 件（周期未结束，不完整）"
                          "<extra></extra>"), **where)


def _add_bands(fig: go.Figure, promotions: pd.DataFrame | None, lo: pd.Timestamp, hi: pd.Timestamp) -> None:
    """Shade the promotions' main windows; label them in two rows, skipping labels that would overlap."""
    if promotions is None or not len(promotions):
        return
    gap = (hi - lo) * 0.07                       # about one label's width
    last_label = [lo - gap - pd.Timedelta(days=1)] * 2
    for p in promotions.sort_values("main_start").itertuples(index=False):
        start, end = pd.Timestamp(p.main_start), pd.Timestamp(p.main_end) + pd.Timedelta(days=1)
        if end < lo or start > hi:
            continue
        x0 = max(start, lo)
        fig.add_vrect(x0=x0, x1=min(end, hi), fillcolor=_BAND_COLOUR, line_width=0, layer="below")
        row = next((r for r in (0, 1) if x0 - last_label[r] >= gap), None)
        if row is not None:
            last_label[row] = x0
            fig.add_annotation(x=x0, y=1.0 - 0.06 * row, xref="x", yref="paper", xanchor="left", yanchor="top",
                               text=_safe(p.name), showarrow=False, font={"size": 11, "color": "#a0522d"})


def trend_figure(series: pd.DataFrame, *, promotions: pd.DataFrame | None = None,
                 alarms: pd.DataFrame | None = None, title: str | None = None,
                 height: int = 420) -> go.Figure:
    """Complaint counts over time, one line per lens value.

    Args:
        series: :func:`analysis.trends.count_series` output.
        promotions: calendar rows (``name, main_start, main_end`` …) drawn as shaded bands.
        alarms: :func:`analysis.trends.detect_surges` output, drawn as red triangles.
        title: optional title.
        height: pixels.

    Returns:
        The figure; partial periods are dotted with open markers, never drawn as a drop.
    """
    freq = series.attrs.get("freq", "D")
    fig = go.Figure()
    values = list(dict.fromkeys(series["lens_value"]))
    colours = _colours(values)
    for value in values:
        _add_series(fig, series[series["lens_value"] == value], name=value, colour=colours[value], freq=freq,
                    showlegend=len(values) > 1)
    if len(series):
        lo, hi = series["period"].min(), series["period"].max()
        span = {"M": pd.offsets.MonthBegin(1), "W": pd.Timedelta(days=7)}.get(freq, pd.Timedelta(days=1))
        _add_bands(fig, promotions, lo, hi + span)
    if alarms is not None and len(alarms):
        text = [f"{_safe(v)}：{c:,} 件（预期 {e:,.1f}）" for v, c, e in
                zip(alarms["lens_value"], alarms["count"], alarms["expected"])]
        fig.add_trace(go.Scatter(
            x=alarms["period"], y=alarms["count"], mode="markers", name="突增预警",
            marker={"symbol": "triangle-up", "size": 12, "color": _ALARM_COLOUR,
                    "line": {"color": "white", "width": 1}},
            text=text, hovertemplate=f"预警 %{{x|{_HOVER_DATE[freq]}}}<br>%{{text}}<extra></extra>"))
    apply_layout(fig, title=title, height=height)
    fig.update_xaxes(title_text=_X_TITLE.get(freq, "日期"))
    fig.update_yaxes(title_text="投诉量（件）", rangemode="tozero")
    return fig


def yoy_figure(overlay: pd.DataFrame, *, promotion: str = "促销", title: str | None = None,
               height: int = 380) -> go.Figure:
    """Daily counts of several years aligned on the promotion day (D−n … D+n).

    Args:
        overlay: :func:`analysis.trends.yoy_overlay` output (``year, offset, date, count``).
        promotion: the promotion's name for the day-0 marker.
        title: optional title.
        height: pixels.
    """
    fig = go.Figure()
    years = sorted(overlay["year"].unique())
    for i, year in enumerate(years):
        part = overlay[overlay["year"] == year].sort_values("offset")
        latest = i == len(years) - 1
        fig.add_trace(go.Scatter(
            x=part["offset"], y=part["count"], name=f"{year}年", mode="lines",
            line={"width": 3 if latest else 1.5, "color": PALETTE[(len(years) - 1 - i) % len(PALETTE)]},
            customdata=part["date"].dt.strftime("%Y-%m-%d"),
            hovertemplate=f"{year}年 D%{{x:+d}}（%{{customdata}}）：%{{y:,}} 件<extra></extra>"))
    window = int(overlay["offset"].abs().max()) if len(overlay) else 20
    step = 5 if window >= 10 else 1
    ticks = [t for t in range(-window, window + 1) if t % step == 0]
    fig.add_vline(x=0, line_dash="dash", line_color="#7f8c8d",
                  annotation_text=f"{_safe(promotion)}（D）", annotation_position="top")
    apply_layout(fig, title=title, height=height)
    fig.update_xaxes(title_text="距促销日天数", tickvals=ticks,
                     ticktext=["D" if t == 0 else f"D{t:+d}".replace("-", "−") for t in ticks])
    fig.update_yaxes(title_text="投诉量（件/日）", rangemode="tozero")
    return fig


def small_multiples(series: pd.DataFrame, *, promotions: pd.DataFrame | None = None, cols: int = 3,
                    row_height: int = 190) -> go.Figure:
    """One small chart per lens value (shared time axis), for comparing shapes.

    Args:
        series: :func:`analysis.trends.count_series` output with a lens.
        promotions: calendar rows drawn as bands in every panel.
        cols: panels per row.
        row_height: pixels per row of panels.
    """
    freq = series.attrs.get("freq", "D")
    values = list(dict.fromkeys(series["lens_value"]))
    rows = max(1, math.ceil(len(values) / cols))
    fig = make_subplots(rows=rows, cols=cols, shared_xaxes=True, vertical_spacing=min(0.12, 0.3 / rows),
                        subplot_titles=[_safe(v) for v in values])
    colours = _colours(values)
    for i, value in enumerate(values):
        _add_series(fig, series[series["lens_value"] == value], name=value, colour=colours[value], freq=freq,
                    showlegend=False, row=i // cols + 1, col=i % cols + 1)
    if len(series) and promotions is not None and len(promotions):
        lo, hi = series["period"].min(), series["period"].max()
        for p in promotions.itertuples(index=False):
            start, end = pd.Timestamp(p.main_start), pd.Timestamp(p.main_end) + pd.Timedelta(days=1)
            if end >= lo and start <= hi:
                fig.add_vrect(x0=max(start, lo), x1=min(end, hi), fillcolor=_BAND_COLOUR, line_width=0,
                              layer="below", row="all", col="all")
    apply_layout(fig, height=max(row_height * rows + 60, 260))
    fig.update_annotations(font={"family": FONT_FAMILY, "size": 12})
    fig.update_yaxes(rangemode="tozero")
    fig.update_yaxes(title_text="投诉量", col=1)
    return fig


def lift_bars(frame: pd.DataFrame, *, title: str | None = None, height: int | None = None) -> go.Figure:
    """Change against the baseline with 95 % intervals, one bar per row.

    Args:
        frame: ``label, lift, ci_low, ci_high`` (and optionally ``count, expected``),
            e.g. :func:`analysis.trends.lift_frame`; the first row is drawn on top.
        title: optional title.
        height: pixels (default grows with the rows).

    Returns:
        Horizontal bars of ``(lift − 1) × 100 %``: red when the interval lies above
        0, blue below, grey when it includes 0.
    """
    frame = frame.reset_index(drop=True)
    change = (frame["lift"].astype(float) - 1) * 100
    low = (frame["ci_low"].astype(float) - 1) * 100
    high = (frame["ci_high"].astype(float).replace(np.inf, np.nan) - 1) * 100
    colour = np.where(low > 0, PALETTE[0], np.where(high < 0, PALETTE[1], _OTHER_COLOUR))
    counts = frame["count"] if "count" in frame else pd.Series([np.nan] * len(frame))
    expected = frame["expected"] if "expected" in frame else pd.Series([np.nan] * len(frame))
    custom = np.column_stack([low.round(0), high.round(0), counts, expected.astype(float).round(1)])
    fig = go.Figure(go.Bar(
        x=change, y=[_safe(v) for v in frame["label"]], orientation="h", marker_color=colour,
        error_x={"type": "data", "symmetric": False, "array": (high - change).fillna(0),
                 "arrayminus": (change - low).fillna(0), "color": "#34495e", "thickness": 1.2},
        customdata=custom,
        hovertemplate="%{y}：%{x:+.0f}%（95%置信区间 %{customdata[0]:+.0f}%—%{customdata[1]:+.0f}%）"
                      "<br>实际 %{customdata[2]:,} 件，基线预期 %{customdata[3]:,} 件<extra></extra>"))
    fig.add_vline(x=0, line_color="#7f8c8d", line_width=1)
    apply_layout(fig, title=title, height=height or max(160, 48 * len(frame) + 90))
    fig.update_yaxes(autorange="reversed", title_text=None)
    # Keep the bars readable: a very wide interval runs off the axis instead of squeezing the bars.
    span = max(float(change.abs().max()) if len(change) else 0.0, 50.0)
    left = max(float(low.min()) if low.notna().any() else -span, -100.0, -3 * span)
    right = min(float(high.max()) if high.notna().any() else span, 3 * span)
    pad = 0.08 * (max(right, 0) - min(left, 0) or 1)
    fig.update_xaxes(title_text="较基线变化（%）", ticksuffix="%", zeroline=False,
                     range=[min(left, 0) - pad, max(right, 0) + pad])
    fig.update_layout(showlegend=False)
    return fig
