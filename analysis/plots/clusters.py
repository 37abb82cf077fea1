"""Cluster figures: 2-D map, platform heatmap, clusters over time.

Functions take tidy DataFrames and return plotly figures; no computation here."""

from __future__ import annotations

import textwrap

import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative

from analysis.plots.common import PALETTE, apply_layout, plotly_text, plotly_texts

__all__ = ["visualize_cluster_map", "visualize_topics_over_time", "visualize_topics_per_class"]

_MISC_COLOUR = "#bdc3c7"


def _hover_safe(texts: pd.Series, width: int = 30) -> list[str]:
    """Masked, HTML-escaped and wrapped hover texts."""
    from analysis.privacy import mask_series

    masked = mask_series(texts.fillna("").astype(str))
    return ["<br>".join(plotly_text(line) for line in textwrap.wrap(t, width)) or "（无文本）" for t in masked]


_COLOURS = PALETTE + [c for c in qualitative.Dark24 if c not in PALETTE]


def _colour(i: int, cluster_id: int) -> str:
    return _MISC_COLOUR if cluster_id < 0 else _COLOURS[i % len(_COLOURS)]


def visualize_cluster_map(points: pd.DataFrame, *, title: str | None = None,
                          height: int = 520) -> go.Figure:
    """Scatter of complaints on the 2-D cluster map, one colour per cluster.

    Args:
        points: ``x``, ``y``, ``cluster_id``, ``label``, ``text`` (from
            :func:`analysis.cluster.map_points`); the text is masked again here.
        title: figure title.
        height: figure height in pixels.
    """
    fig = go.Figure()
    if points.empty:
        fig.add_annotation(text="没有可显示的投诉", showarrow=False, x=0.5, y=0.5,
                           xref="paper", yref="paper")
    order = (points.groupby(["cluster_id", "label"], sort=False).size().rename("n").reset_index()
             .assign(misc=lambda d: d["cluster_id"] < 0)
             .sort_values(["misc", "cluster_id"]))
    for i, (cid, label) in enumerate(zip(order["cluster_id"], order["label"])):
        part = points[points["cluster_id"] == cid]
        fig.add_trace(go.Scattergl(
            x=part["x"], y=part["y"], mode="markers", name=plotly_text(f"{label}（{len(part)}）"),
            marker={"size": 5, "opacity": 0.45 if cid < 0 else 0.75, "color": _colour(i, int(cid))},
            customdata=_hover_safe(part["text"]),
            hovertemplate=f"<b>{plotly_text(label)}</b><br>%{{customdata}}<extra></extra>",
        ))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig = apply_layout(fig, title=title, height=height)
    fig.update_layout(legend={"orientation": "v", "x": 1.01, "y": 1, "yanchor": "top"})
    return fig


def visualize_topics_per_class(df: pd.DataFrame, *, by: str = "platform_norm",
                               value: str = "count", top_n: int = 15,
                               title: str | None = None) -> go.Figure:
    """Heatmap of clusters × classes (e.g. platforms).

    Args:
        df: output of :func:`analysis.cluster.topics_per_class`.
        by: the class column.
        value: ``"count"``, ``"share_of_class"`` or ``"share_of_cluster"``.
        top_n: largest classes shown.
        title: figure title.
    """
    fig = go.Figure()
    if df.empty:
        return apply_layout(fig, title=title)
    totals = df.groupby(by)["count"].sum().sort_values(ascending=False)
    classes = totals.index[:top_n].tolist()
    part = df[df[by].isin(classes)]
    rows = (part.drop_duplicates("cluster_id").assign(misc=lambda d: d["cluster_id"] < 0)
            .sort_values(["misc", "cluster_id"]))
    grid = part.pivot_table(index="cluster_id", columns=by, values=value, aggfunc="sum",
                            fill_value=0).reindex(index=rows["cluster_id"], columns=classes,
                                                  fill_value=0)
    is_share = value != "count"
    text = grid.map(lambda v: f"{v:.0%}" if is_share else f"{int(v)}")
    fig.add_trace(go.Heatmap(
        z=grid.to_numpy(), x=plotly_texts(classes), y=plotly_texts(rows["label"]), text=text.to_numpy(),
        texttemplate="%{text}", colorscale="Reds", showscale=False,
        hovertemplate="%{y} · %{x}：%{text}<extra></extra>",
    ))
    fig.update_yaxes(autorange="reversed")
    return apply_layout(fig, title=title, height=max(260, 34 * len(rows) + 80))


def visualize_topics_over_time(df: pd.DataFrame, *, top_n: int = 8,
                               title: str | None = None) -> go.Figure:
    """Complaints per period for the largest clusters.

    Args:
        df: output of :func:`analysis.cluster.topics_over_time`.
        top_n: largest clusters shown (杂项 left out).
        title: figure title.
    """
    fig = go.Figure()
    if df.empty:
        return apply_layout(fig, title=title)
    sizes = (df[df["cluster_id"] >= 0].groupby(["cluster_id", "label"])["count"].sum()
             .sort_values(ascending=False).reset_index().head(top_n))
    for i, (cid, label) in enumerate(zip(sizes["cluster_id"], sizes["label"])):
        part = df[df["cluster_id"] == cid].sort_values("period")
        fig.add_trace(go.Scatter(
            x=part["period"], y=part["count"], mode="lines+markers", name=plotly_text(label),
            line={"color": _COLOURS[i % len(_COLOURS)], "width": 2},
            hovertemplate=f"{plotly_text(label)}<br>%{{x|%Y-%m-%d}}：%{{y}} 件<extra></extra>",
        ))
    fig.update_yaxes(title="投诉件数", rangemode="tozero")
    return apply_layout(fig, title=title)
