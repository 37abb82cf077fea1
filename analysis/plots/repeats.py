"""Figures of the 重复与集体投诉 page: complainants, a group complaint's days, handling figures.

Functions take tidy DataFrames and return plotly figures; no computation here."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from analysis.plots.common import PALETTE, apply_layout

__all__ = ["HANDLING_RATES", "complainant_scatter", "group_days_figure", "handling_rates_figure",
           "channel_mix_figure"]

#: Rate columns of :func:`analysis.handling.handling_figures` and their Chinese names.
HANDLING_RATES: dict[str, str] = {"closed_rate": "办结率", "on_time_rate": "按期办结率", "mediation_rate": "调解成功率"}
FLAG_COLOR = "#c0392b"
PLAIN_COLOR = "#7f8c8d"


def complainant_scatter(people: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """Complainants as dots: complaints (x, log scale) against distinct merchants (y).

    Args:
        people: :func:`analysis.repeats.complainants` (``key, phone_masked, complaints,
            merchants, districts, template_share, score, flag``).
        title: figure title.

    Returns:
        Red dots for the complainants flagged 需进一步核实, grey for the others; the dot
        size grows with the score; the hover names the masked key and phone only.
    """
    fig = go.Figure()
    for flagged, name, color in ((False, "其他", PLAIN_COLOR), (True, "需进一步核实", FLAG_COLOR)):
        rows = people[(people["flag"] != "") == flagged]
        if rows.empty:
            continue
        fig.add_scatter(
            x=rows["complaints"], y=rows["merchants"], mode="markers", name=name,
            marker={"color": color, "size": 6 + rows["score"].astype(float) / 5, "opacity": .75,
                    "line": {"width": 0}},
            customdata=list(zip(rows["key"], rows["phone_masked"].fillna("（无电话）"), rows["districts"],
                                rows["template_share"] * 100, rows["score"])),
            hovertemplate="%{customdata[0]} %{customdata[1]}<br>投诉 %{x} 件，店铺 %{y} 家，区 %{customdata[2]} 个"
                          "<br>模板化 %{customdata[3]:.0f}%，得分 %{customdata[4]:.1f}<extra></extra>",
        )
    fig.update_layout(xaxis={"title": "投诉件数", "type": "log"}, yaxis_title="涉及店铺数")
    return apply_layout(fig, title=title, height=340)


def group_days_figure(members: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """Complaints of one group complaint per day.

    Args:
        members: :func:`analysis.repeats.group_members` (``received_at`` per complaint).
        title: figure title.
    """
    days = pd.to_datetime(members["received_at"]).dt.normalize().value_counts().sort_index()
    fig = go.Figure()
    fig.add_bar(x=days.index, y=days.to_numpy(), marker_color=PALETTE[1],
                hovertemplate="%{x|%Y-%m-%d}<br>%{y} 件<extra></extra>")
    fig.update_layout(xaxis={"tickformat": "%m-%d"}, yaxis_title="投诉件数", showlegend=False)
    return apply_layout(fig, title=title, height=260)


def handling_rates_figure(figures: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """Grouped horizontal bars of the available handling rates per group (platform, merchant …).

    Args:
        figures: :func:`analysis.handling.handling_figures` with ``by`` set; rates that
            are absent (hidden) are not drawn.
        title: figure title.
    """
    rows = figures.iloc[::-1]
    fig = go.Figure()
    for i, (column, name) in enumerate(HANDLING_RATES.items()):
        if column not in rows:
            continue
        fig.add_bar(x=rows[column] * 100, y=rows["group"].astype(str), orientation="h", name=name,
                    marker_color=PALETTE[i + 1], hovertemplate=f"%{{y}}<br>{name} %{{x:.1f}}%<extra></extra>")
    fig.update_layout(barmode="group", xaxis={"title": "比率（%）", "range": [0, 100]}, yaxis={"automargin": True})
    return apply_layout(fig, title=title, height=max(260, 22 * len(rows) * max(len(fig.data), 1) + 90))


def channel_mix_figure(mix: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """Complaints per channel (bars, largest on top) with their share.

    Args:
        mix: :func:`analysis.handling.channel_mix` (``channel, n, share``).
        title: figure title.
    """
    rows = mix.iloc[::-1]
    fig = go.Figure()
    fig.add_bar(x=rows["n"], y=rows["channel"], orientation="h", marker_color=PALETTE[1],
                text=[f"{s:.0%}" for s in rows["share"]], textposition="outside", cliponaxis=False,
                hovertemplate="%{y}<br>%{x:,} 件<extra></extra>")
    fig.update_layout(xaxis_title="投诉件数", yaxis={"automargin": True}, showlegend=False)
    return apply_layout(fig, title=title, height=max(220, 28 * len(rows) + 80))
