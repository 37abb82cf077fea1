"""Helpers of the 抽检清单 page: cached scoring, evidence and exports, display tables.

Scoring (the DuckDB aggregation and the empirical-Bayes fit) is cached with
``st.cache_data`` keyed on :func:`ui.state.store_key`, the global filters and the
grain; the weights, quotas and exclusions only re-rank the cached units, so moving
a slider never refits the prior.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from analysis import export, sampling
from analysis.errors import UserError
from analysis.privacy import mask_series
from analysis.store import Filters, Store

WEIGHT_LABELS = sampling.WEIGHT_LABELS
GRAIN_LABELS = {"product": "商品 × 平台", "merchant": "商品 × 平台 × 店铺"}


@st.cache_data(show_spinner="正在计算抽检优先级（含经验贝叶斯拟合）…", max_entries=8)
def scored(_store: Store, key: str, filters: Filters, grain: str, discount: bool = True) -> sampling.SamplingResult:
    """All units of the period, scored with the default weights (``discount``: merge repeat templates)."""
    return sampling.score_units(_store, filters=filters, grain=grain, discount_repeats=discount)


@st.cache_data(show_spinner=False, max_entries=4)
def category_options(_store: Store, key: str, focus: tuple[str, ...]) -> list[str]:
    """Categories to choose from: the focus goods first, then the others in the store."""
    present = _store.query("SELECT DISTINCT category FROM complaints_enriched")["category"].astype(str)
    return sorted(set(focus) | set(present), key=lambda c: (c not in focus, c))


@st.cache_data(show_spinner=False, max_entries=4)
def candidates(_store: Store, key: str) -> pd.DataFrame:
    """Products sent from the cluster page."""
    return sampling.load_candidates(_store)


@st.cache_data(show_spinner=False, max_entries=16)
def details(_store: Store, key: str, filters: Filters, grain: str, uids: tuple[int, ...],
            discount: bool = True) -> pd.DataFrame:
    """Representative complaint ids, main problems and merchants of the targets."""
    result = scored(_store, key, filters, grain, discount)
    targets = result.units[result.units["uid"].isin(uids)]
    return sampling.target_details(_store, result, targets)


@st.cache_data(show_spinner="正在读取证据…", max_entries=32)
def evidence(_store: Store, key: str, filters: Filters, grain: str, uid: int,
             discount: bool = True) -> sampling.Evidence:
    """The evidence panel of one target (masked)."""
    return sampling.target_evidence(_store, scored(_store, key, filters, grain, discount), uid)


def masked_names(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy with the product and merchant names masked for display (they are free text)."""
    out = frame.copy()
    for column in ("product", "merchant"):
        if column in out:
            out[column] = mask_series(out[column].astype(object))
    return out


def candidate_table(cands: pd.DataFrame, apart: pd.DataFrame) -> pd.DataFrame:
    """The cluster page's candidates in Chinese columns with their 状态 (已纳入, or 未纳入 when in ``apart``)."""
    left_out = set(map(tuple, apart.astype(str).to_numpy()))
    status = ["未纳入" if row in left_out else "已纳入" for row in map(tuple, cands.astype(str).to_numpy())]
    return masked_names(cands).assign(status=status).rename(columns={"category": "类别", "product": "商品", "platform": "平台", "merchant": "店铺",
                                 "source": "来源", "added_at": "加入时间", "status": "状态"})


def candidate_notes(plan: pd.DataFrame, apart: pd.DataFrame) -> dict[str, str]:
    """The 说明 lines about the cluster page's candidates: those in the plan and those left out."""
    placed = plan.loc[plan["source"].str.contains("聚类", na=False), "product"].astype(str).tolist()
    return {"聚类页推荐（已纳入，计入上限）": "、".join(placed) or "无",
            "聚类页推荐（未纳入：超出上限或本期无投诉）": "、".join(apart["product"].astype(str)) or "无"}


def read_upload(uploaded) -> tuple[pd.DataFrame | None, str | None]:
    """Parse the exclusion upload: ``(rules, None)`` or ``(None, Chinese error)``."""
    if uploaded is None:
        return None, None
    try:
        return sampling.read_exclusions(uploaded.getvalue(), file_name=uploaded.name), None
    except UserError as exc:
        return None, str(exc)


def _growth_text(growth: float, n_prev: int, s_growth: float) -> str:
    if pd.notna(growth):
        return f"{growth:+.0%}"
    return "新出现" if n_prev == 0 and s_growth > 0 else "—"


def _numbers(values: pd.Series, fmt: str) -> list[str]:
    """Numbers as text, a missing or infinite one as — (a table never shows None or nan)."""
    return ["—" if v is None or pd.isna(v) else ("∞" if v == float("inf") else fmt.format(v)) for v in values]


def problem_table(problems: pd.DataFrame) -> pd.DataFrame:
    """The evidence's per-problem statistics with missing values as —."""
    out = problems.copy()
    for column, fmt in (("E", "{:.2f}"), ("PRR", "{:.2f}"), ("chi2", "{:.1f}"), ("EBGM", "{:.2f}"),
                        ("EB05", "{:.2f}"), ("EB95", "{:.2f}")):
        if column in out:
            out[column] = _numbers(out[column], fmt)
    return out


def display_table(plan: pd.DataFrame) -> pd.DataFrame:
    """The ranked targets as shown on the page (Chinese headers, masked names).

    The 店铺 column is left out when the units are not split by merchant.
    """
    table = pd.DataFrame({
        "序号": plan["plan_rank"],
        "类别": plan["category"],
        "商品/品牌": mask_series(plan["product"].astype(str)),
        "平台": plan["platform"],
        "店铺": mask_series(plan["merchant"].fillna("").astype(str)),
        "投诉量": plan["n"],
        "质量安全类占比": plan["qs_share"] * 100,
        "环比增长": [_growth_text(g, p, s) for g, p, s in zip(plan["growth"], plan["n_prev"], plan["s_growth"],
                                                          strict=True)],
        "主要信号问题": plan["top_problem"],
        "EB05": _numbers(plan["EB05"], "{:.2f}"),
        "PRR": _numbers(plan["PRR"], "{:.1f}"),
        "χ²": _numbers(plan["chi2"], "{:.1f}"),
        "信号": plan["signal"].map({True: "是", False: ""}),
        "得分": plan["score"],
        "来源": plan["source"],
    })
    return table if plan["merchant"].notna().any() else table.drop(columns=["店铺"])


COLUMN_CONFIG = {
    "序号": st.column_config.NumberColumn("序号", format="%d", width="small"),
    "投诉量": st.column_config.NumberColumn("投诉量", format="%d"),
    "质量安全类占比": st.column_config.ProgressColumn("质量安全类占比", format="%.0f%%", min_value=0, max_value=100),
    "环比增长": st.column_config.TextColumn("环比增长", help="与上一等长周期相比；新出现 = 上期无投诉；— = 无上期数据"),
    "EB05": st.column_config.TextColumn("EB05", help="EBGM 的 5% 下限；≥ 2 视为信号；— = 无法计算"),
    "PRR": st.column_config.TextColumn("PRR", help="比例报告比；— = 无法计算"),
    "χ²": st.column_config.TextColumn("χ²", help="Yates 校正卡方；— = 无法计算"),
    "得分": st.column_config.ProgressColumn("优先级得分", format="%.1f", min_value=0, max_value=100),
}

PROBLEM_CONFIG = {
    "problem": st.column_config.TextColumn("问题类型"),
    "n": st.column_config.NumberColumn("件数", format="%d"),
    "E": st.column_config.TextColumn("期望件数"),
    "PRR": st.column_config.TextColumn("PRR"),
    "chi2": st.column_config.TextColumn("χ²"),
    "EBGM": st.column_config.TextColumn("EBGM"),
    "EB05": st.column_config.TextColumn("EB05"),
    "EB95": st.column_config.TextColumn("EB95"),
}


def export_files(store: Store, key: str, filters: Filters, grain: str, plan: pd.DataFrame,
                 extra: dict, discount: bool = True, made_by: str | None = None) -> tuple[bytes, bytes]:
    """The plan as (xlsx bytes, csv bytes), with the 说明 sheet naming who exported it (``made_by``)."""
    result = scored(store, key, filters, grain, discount)
    det = details(store, key, filters, grain, tuple(int(u) for u in plan["uid"]), discount)
    table = export.plan_table(plan, det)
    notes = export.plan_notes(store, result, extra=extra, made_by=made_by)
    xlsx = export.to_xlsx_bytes({"抽检清单": table, "说明": notes}, percent_columns=("质量安全类投诉占比", "环比增长"))
    return xlsx, export.to_csv_bytes(table)


def stamp(filters: Filters, result: sampling.SamplingResult) -> str:
    """File-name stamp of the period, e.g. ``20171101-20171130``."""
    start, end = result.period
    return f"{start:%Y%m%d}-{end:%Y%m%d}" if isinstance(start, dt.date) else "全部"
