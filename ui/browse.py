"""Helpers of the 投诉明细 page: cached search, safe display.

Complaint text never becomes HTML: every piece shown with ``st.markdown`` goes through
:func:`analysis.privacy.escape_markdown` (which escapes Markdown and HTML characters),
and only the ``**`` around matched keywords is added by this module.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from analysis.classify import SOURCE_LABELS, evidence_terms
from analysis.privacy import escape_markdown, mask_series, mask_text
from analysis.search import highlight_spans, no_match_reason, search
from analysis.store import Filters, Store
from analysis.taxonomy import UNCLASSIFIED, load_taxonomy
from ui.state import get_tokenizer

SNIPPET_CHARS = 80


def table_columns() -> dict:
    """Column settings of the results table (the severity scale read from the taxonomy)."""
    return {
        "received_at": st.column_config.DatetimeColumn("登记时间", format="YYYY-MM-DD HH:mm"),
        "category": st.column_config.TextColumn("类别"),
        "problem": st.column_config.TextColumn("问题类型"),
        "severity": st.column_config.NumberColumn("严重度", help=load_taxonomy().severity_legend()),
        "platform_norm": st.column_config.TextColumn("平台"),
        "district": st.column_config.TextColumn("所属区"),
        "snippet": st.column_config.TextColumn("投诉内容（已脱敏）", width="large"),
        "source": st.column_config.TextColumn("类别来源"),
    }


@st.cache_data(show_spinner=False)
def problem_options(_store: Store, key: str) -> list[str]:
    """Problem types present in the store, in taxonomy order (未分类 last)."""
    present = set(_store.query("SELECT DISTINCT problem FROM complaints_enriched")["problem"])
    order = [*load_taxonomy().problem_names, UNCLASSIFIED]
    return [p for p in order if p in present]


@st.cache_data(show_spinner="正在查询…", max_entries=64)
def run_search(_store: Store, key: str, query: str, filters: Filters, problems: tuple[str, ...],
               page: int, page_size: int) -> dict:
    """One page of results, masked; ``{"total", "rows", "terms", "reason"}`` (``reason``: why nothing matched)."""
    result = search(_store, query, tokenizer=get_tokenizer(), filters=filters, problems=problems,
                    limit=page_size, offset=(page - 1) * page_size)
    reason = no_match_reason(_store, query, tokenizer=get_tokenizer()) if result.total == 0 else None
    rows = result.rows.copy()
    for column in ("text", "title", "product", "merchant"):
        rows[column] = mask_series(rows[column].astype(object))
    return {"total": result.total, "rows": rows, "terms": result.terms, "reason": reason}


def display_table(rows: pd.DataFrame) -> pd.DataFrame:
    """The result table: short masked snippets, Chinese source labels."""
    out = rows[["received_at", "category", "problem", "severity", "platform_norm", "district"]].copy()
    for column in ("category", "problem", "platform_norm", "district"):   # never a literal None
        out[column] = out[column].astype(object).where(out[column].notna(), "—")
    text = rows["text"].fillna("").astype(str).str.replace(r"\s+", " ", regex=True)
    out["snippet"] = text.where(text.str.len() <= SNIPPET_CHARS, text.str.slice(0, SNIPPET_CHARS) + "…")
    out["source"] = rows["category_source"].map(SOURCE_LABELS).fillna("—")
    return out


def choice_label(row: pd.Series) -> str:
    """Picker label of one complaint: time, category, problem and the start of the text."""
    when = row["received_at"].strftime("%Y-%m-%d") if pd.notna(row["received_at"]) else "—"
    text = str(row["text"] or "").replace("\n", " ")
    return f"{when} · {row['category']} · {row['problem']} · {text[:30]}"


def highlight_markdown(text: str | None, terms: list[str]) -> str:
    """Markdown of a (masked) text with the terms in bold; everything else escaped."""
    merged: list[list] = []
    for piece, hit in highlight_spans(text, terms):
        if merged and merged[-1][1] == hit:
            merged[-1][0] += piece  # adjacent matches become one bold run (no "****")
        else:
            merged.append([piece, hit])
    return "".join(f"**{escape_markdown(p)}**" if hit else escape_markdown(p) for p, hit in merged)


def explanation(row: pd.Series) -> list[str]:
    """Markdown lines saying why the complaint got its category and problem type (escaped)."""
    source = SOURCE_LABELS.get(row.get("category_source"), "—")
    cat_terms = "、".join(mask_text(t) for t in evidence_terms(row.get("category_evidence"))) or "无"
    prob_terms = "、".join(mask_text(t) for t in evidence_terms(row.get("problem_evidence"))) or "无"
    lines = [
        f"**类别：** {escape_markdown(row['category'])}（来源：{source}，置信度 "
        f"{_pct(row.get('category_confidence'))}）  \n依据：{escape_markdown(cat_terms)}",
        f"**问题类型：** {escape_markdown(row['problem'])}（严重度 {int(row['severity'])}，置信度 "
        f"{_pct(row.get('problem_confidence'))}）  \n依据：{escape_markdown(prob_terms)}",
        f"**平台：** {escape_markdown(row['platform_norm'])}　**商家：** "
        f"{escape_markdown(mask_text(row.get('merchant')) or '—')}　**商品：** "
        f"{escape_markdown(mask_text(row.get('product')) or '—')}",
    ]
    if str(row.get("category_evidence") or "").startswith("导出列:"):
        lines.append("类别取自导入文件中的类别列（已映射到分类体系）。")
    elif row.get("category_source") == "model":
        lines.append("类别由根据导入文件中已标注类别训练的模型判断，依据为权重最高的词语。")
    elif row["category"] == UNCLASSIFIED:
        lines.append("没有足够的关键词判断类别，标为未分类。")
    return lines


def highlight_terms(row: pd.Series, search_terms: list[str]) -> list[str]:
    """Search words plus the keywords behind the category and problem type."""
    terms = [*search_terms, *evidence_terms(row.get("category_evidence")),
             *evidence_terms(row.get("problem_evidence"))]
    return [t for t in dict.fromkeys(terms) if t and not t.startswith("导出列")]


def meta_line(row: pd.Series) -> str:
    """Escaped Markdown line with the complaint id, time, district and status."""
    parts = [f"投诉编号：{row['complaint_id']}"]
    if pd.notna(row.get("received_at")):
        parts.append(f"登记时间：{row['received_at']:%Y-%m-%d %H:%M}")
    if isinstance(row.get("district"), str) and row["district"]:
        parts.append(f"所属区：{row['district']}")
    return escape_markdown("　".join(parts))


def _pct(value) -> str:
    return "—" if value is None or pd.isna(value) else f"{float(value):.0%}"


@st.cache_data(show_spinner="正在生成投诉清单…", max_entries=4)
def complaint_list_file(_store: Store, key: str, filters: Filters, problems: tuple[str, ...], fmt: str) -> bytes:
    """The complaint list of the current filters as a formula-safe file (``xlsx`` or ``csv``)."""
    from analysis import complaint_list, export

    table = complaint_list.display_frame(complaint_list.complaint_list(_store, filters, problems=problems))
    return export.to_xlsx_bytes({"投诉明细": table}) if fmt == "xlsx" else export.to_csv_bytes(table)
