"""Sampling figures: score breakdown, evidence sparkline.

Functions take tidy DataFrames and return plotly figures; no computation here."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from analysis.plots.common import apply_layout, plotly_text
from analysis.privacy import mask_text

__all__ = ["SCORE_COMPONENTS", "score_breakdown_figure", "evidence_monthly_figure"]

#: Score component columns, their Chinese names and colours (stack order).
SCORE_COMPONENTS: dict[str, tuple[str, str]] = {
    "score_signal": ("信号强度", "#c0392b"),
    "score_severity": ("问题严重程度", "#d35400"),
    "score_volume": ("投诉量", "#2980b9"),
    "score_growth": ("环比增长", "#27ae60"),
}


def score_breakdown_figure(targets: pd.DataFrame, *, highlight: int | None = None,
                           title: str | None = None, max_bars: int = 30) -> go.Figure:
    """Stacked horizontal bars: each target's priority score split into its components.

    Args:
        targets: ranked targets with ``plan_rank, product, platform`` and the
            ``score_*`` columns of :func:`analysis.sampling.apply_weights`.
        highlight: ``plan_rank`` of the selected target (drawn with an outline).
        title: figure title.
        max_bars: show at most this many targets (the best ranked).

    Returns:
        Rank 1 on top; the hover shows every component and the total. Product names
        are masked (:func:`analysis.privacy.mask_text`) and shown literally.
    """
    rows = targets.head(max_bars).iloc[::-1]
    # Product names are free text typed by complainants: masked, and never plotly markup.
    labels = [plotly_text(f"{int(r)}. {mask_text(str(p))} @ {pl}")
              for r, p, pl in zip(rows["plan_rank"], rows["product"], rows["platform"], strict=True)]
    fig = go.Figure()
    for col, (name, color) in SCORE_COMPONENTS.items():
        line_width = [2.5 if highlight is not None and int(r) == highlight else 0 for r in rows["plan_rank"]]
        fig.add_bar(
            x=rows[col], y=labels, orientation="h", name=name, marker_color=color,
            marker_line_color="#111111", marker_line_width=line_width,
            customdata=rows["score"], hovertemplate=f"%{{y}}<br>{name} %{{x:.1f}} 分"
                                                    "<br>总分 %{customdata:.1f}<extra></extra>",
        )
    fig.update_layout(barmode="stack", xaxis_title="优先级得分（0–100）", yaxis={"automargin": True})
    return apply_layout(fig, title=title, height=max(260, 28 * len(rows) + 90))


def evidence_monthly_figure(monthly: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """Monthly complaints of one target, with the quality/safety part.

    Args:
        monthly: ``month, n, n_qs`` (:attr:`analysis.sampling.Evidence.monthly`).
        title: figure title.
    """
    fig = go.Figure()
    fig.add_bar(x=monthly["month"], y=monthly["n"] - monthly["n_qs"], name="其他问题", marker_color="#95a5a6",
                hovertemplate="%{x|%Y-%m}<br>其他问题 %{y} 件<extra></extra>")
    fig.add_bar(x=monthly["month"], y=monthly["n_qs"], name="质量安全类", marker_color="#c0392b",
                hovertemplate="%{x|%Y-%m}<br>质量安全类 %{y} 件<extra></extra>")
    fig.update_layout(barmode="stack", xaxis={"tickformat": "%Y-%m"}, yaxis_title="投诉量")
    return apply_layout(fig, title=title, height=260)
