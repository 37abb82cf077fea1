"""Figures of the 数据导入 page: where the rows of an import went, and why rows were quarantined.

Functions take tidy DataFrames and return plotly figures; no computation here."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from analysis.plots.common import apply_layout, plotly_texts

__all__ = ["import_outcome_figure", "quarantine_reasons_figure"]

OUTCOME_COLORS = {"导入": "#27ae60", "隔离": "#c0392b", "重复": "#7f8c8d", "冲突": "#d35400"}


def import_outcome_figure(outcomes: pd.DataFrame, *, title: str | None = "本次导入的行去向") -> go.Figure:
    """One stacked horizontal bar: rows imported, quarantined, duplicate and conflicting.

    Args:
        outcomes: columns ``outcome`` (导入/隔离/重复/冲突) and ``rows``.
        title: figure title.
    """
    fig = go.Figure()
    total = int(outcomes["rows"].sum()) or 1
    for outcome, rows in zip(outcomes["outcome"], outcomes["rows"]):
        if not rows:
            continue
        fig.add_trace(go.Bar(
            x=[rows], y=["读取的行"], orientation="h", name=outcome,
            marker_color=OUTCOME_COLORS.get(outcome), text=[f"{outcome} {rows:,}"], textposition="inside",
            hovertemplate=f"{outcome}：%{{x:,}} 行（{rows / total:.1%}）<extra></extra>",
        ))
    fig.update_layout(barmode="stack", showlegend=True)
    fig.update_xaxes(title_text="行数", tickformat=",d")
    fig.update_yaxes(showticklabels=False)
    return apply_layout(fig, title=title, height=180 if title else 140)


def quarantine_reasons_figure(reasons: pd.DataFrame, *, title: str | None = "隔离原因") -> go.Figure:
    """Horizontal bars: quarantined rows per reason, largest on top.

    Args:
        reasons: columns ``reason`` and ``rows``.
        title: figure title.
    """
    df = reasons.sort_values("rows", ascending=True)
    fig = go.Figure(go.Bar(
        x=df["rows"], y=plotly_texts(df["reason"]), orientation="h", marker_color=OUTCOME_COLORS["隔离"],
        text=df["rows"], textposition="outside", hovertemplate="%{y}<br>%{x:,} 行<extra></extra>",
    ))
    fig.update_xaxes(title_text="行数", tickformat=",d", rangemode="tozero",
                     dtick=1 if len(df) and df["rows"].max() <= 10 else None)
    fig.update_yaxes(automargin=True)
    return apply_layout(fig, title=title, height=max(160, 60 + 36 * len(df)))
