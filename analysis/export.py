"""Formula-safe, personal-data-free exports: the sampling plan as Excel and CSV.

Every exported cell goes through :func:`formula_safe`: a text starting with
``= + - @``, a tab, CR, LF or a full-width ``＝ ＋ － ＠`` gets a leading apostrophe,
so no spreadsheet (Excel, WPS, LibreOffice) can run it as a formula or DDE call.
Excel files are also written with xlsxwriter's ``strings_to_formulas`` and
``strings_to_numbers`` off. Text fields are masked with :mod:`analysis.privacy`
(phones, ID and bank-card numbers, e-mails, names, addresses). Other exports (the
report, the quarantine download) reuse :func:`formula_safe_frame` and
:func:`write_xlsx` / :func:`to_csv_bytes`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import math
import os
import re
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from analysis.store import Store

__all__ = [
    "FORMULA_PREFIXES",
    "PLAN_COLUMNS",
    "Sheet",
    "formula_safe",
    "formula_safe_frame",
    "mask_series",
    "plan_table",
    "plan_notes",
    "write_xlsx",
    "to_xlsx_bytes",
    "to_csv_bytes",
    "write_plan",
]

#: First characters that make a spreadsheet cell a formula (ASCII and full width).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\n", "＝", "＋", "－", "＠")

#: Headers of the sampling plan, in order.
PLAN_COLUMNS = [
    "序号", "商品类别", "商品名称/品牌", "平台", "店铺/商家", "投诉量", "质量安全类投诉占比", "环比增长",
    "主要问题", "信号强度(EB05)", "优先级得分", "建议抽检理由", "代表性投诉编号",
]
_PERCENT_COLUMNS = ("质量安全类投诉占比", "环比增长")


def formula_safe(value):
    """Neutralise a cell that a spreadsheet would run as a formula.

    Strings starting with ``= + - @``, tab, CR, LF or full-width ``＝ ＋ － ＠`` get a
    leading ``'``; every other value is returned unchanged.
    """
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def formula_safe_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` with :func:`formula_safe` applied to every text cell and header."""
    out = df.copy()
    out.columns = [formula_safe(c) if isinstance(c, str) else c for c in out.columns]
    for col in out.columns:
        series = out[col]
        if series.dtype == object or pd.api.types.is_string_dtype(series.dtype):
            out[col] = series.map(formula_safe).astype(object)
    return out


def mask_series(series: pd.Series) -> pd.Series:
    """Mask personal data in a text column with :func:`analysis.privacy.mask_series`."""
    from analysis import privacy  # noqa: PLC0415 (lazy: keeps import order free of cycles)

    return privacy.mask_series(series)


# ---------------------------------------------------------------------------
# Writers
# ---------------------------------------------------------------------------
def _cell(value):
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        v = float(value)
        return None if math.isnan(v) else v
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if value is pd.NA or value is pd.NaT:
        return None
    return value


def _sheet_name(name: str) -> str:
    """A valid sheet name: no []:*?/\\, no leading/trailing apostrophe, at most 31 characters."""
    clean = re.sub(r"[\[\]:*?/\\]", "_", str(name)).strip("'")[:31]
    return clean or "Sheet"


@dataclasses.dataclass(frozen=True)
class Sheet:
    """A frame with the layout of its worksheet (for :func:`write_xlsx`).

    Attributes:
        frame: the table, written with its headers.
        title: a bold line above the table (the table then starts on the fourth row).
        subtitle: an italic line under the title.
        total_row: the last row is a total (bold).
        freeze_columns: columns kept in view when scrolling right (the header row always is).
        widths: column widths by header (others: sized to the content, ≤ 60).
    """

    frame: pd.DataFrame
    title: str | None = None
    subtitle: str | None = None
    total_row: bool = False
    freeze_columns: int = 0
    widths: Mapping[str, int] | None = None


def write_xlsx(
    target,
    sheets: Mapping[str, pd.DataFrame | Sheet],
    *,
    percent_columns: Sequence[str] = (),
    widths: Mapping[str, int] | None = None,
) -> None:
    """Write frames as sheets of one workbook, formula-safe.

    The one xlsx writer of the project (the sampling plan, the 统计表 workbook, downloads).

    Args:
        target: a path or a binary buffer.
        sheets: sheet name → frame, or → :class:`Sheet` for a title, a total row, frozen
            columns (each written with its headers, the header row frozen).
        percent_columns: numeric columns shown as percentages.
        widths: column widths by header for every sheet (a :class:`Sheet`'s own win;
            others: sized to the content, ≤ 60).
    """
    import xlsxwriter  # noqa: PLC0415

    options = {"strings_to_formulas": False, "strings_to_numbers": False, "strings_to_urls": False,
               "nan_inf_to_errors": True, "in_memory": True}
    book = xlsxwriter.Workbook(target, options)
    try:
        head = book.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True,
                                "valign": "vcenter"})
        pct = book.add_format({"num_format": "0.0%"})
        num = book.add_format({"num_format": "0.00"})
        wrap = book.add_format({"text_wrap": True, "valign": "top"})
        when = book.add_format({"num_format": "yyyy-mm-dd hh:mm"})
        bold = book.add_format({"bold": True})
        title_fmt = book.add_format({"bold": True, "font_size": 14})
        subtitle_fmt = book.add_format({"italic": True, "font_color": "#555555"})
        for name, spec in sheets.items():
            if not isinstance(spec, Sheet):
                spec = Sheet(spec)
            frame = spec.frame
            sheet = book.add_worksheet(_sheet_name(name))
            top = 0
            if spec.title is not None or spec.subtitle is not None:
                sheet.write_string(0, 0, str(formula_safe(spec.title or "")), title_fmt)
                if spec.subtitle:
                    sheet.write_string(1, 0, str(formula_safe(spec.subtitle)), subtitle_fmt)
                top = 3
            safe = formula_safe_frame(frame)
            last = len(safe) if spec.total_row else -1
            for j, col in enumerate(safe.columns):
                sheet.write_string(top, j, str(col), head)
                values = safe.iloc[:, j].tolist()
                is_pct = frame.columns[j] in percent_columns
                is_float = pd.api.types.is_float_dtype(frame.iloc[:, j].dtype)
                longest = max([len(str(col))] + [len(str(v)) for v in values[:500] if v is not None])
                width = {**(widths or {}), **(spec.widths or {})}.get(frame.columns[j],
                                                                        min(max(8, int(longest * 1.6)), 60))
                sheet.set_column(j, j, width, pct if is_pct else (num if is_float else None))
                for i, raw in enumerate(values, start=1):
                    row = top + i
                    v = _cell(raw)
                    if v is None:
                        sheet.write_blank(row, j, None)
                    elif isinstance(v, bool):
                        sheet.write_boolean(row, j, v)
                    elif isinstance(v, (int, float)):
                        if isinstance(v, float) and not math.isfinite(v):
                            sheet.write_string(row, j, "∞" if v > 0 else "-∞" if v < 0 else "")
                        else:
                            sheet.write_number(row, j, v, bold if i == last else
                                               pct if is_pct else (num if isinstance(v, float) else None))
                    elif isinstance(v, (dt.datetime, dt.date)):
                        sheet.write_datetime(row, j, v, when)
                    else:
                        text = str(v)
                        sheet.write_string(row, j, text, bold if i == last else wrap if len(text) > 30 else None)
            sheet.freeze_panes(top + 1, spec.freeze_columns)
    finally:
        book.close()


def to_xlsx_bytes(sheets: Mapping[str, pd.DataFrame], **kwargs) -> bytes:
    """:func:`write_xlsx` into memory; returns the file's bytes."""
    buf = io.BytesIO()
    write_xlsx(buf, sheets, **kwargs)
    return buf.getvalue()


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    """Formula-safe CSV in UTF-8 with BOM (so Excel and WPS show Chinese), CRLF line ends."""
    safe = formula_safe_frame(frame)
    text = safe.to_csv(index=False, lineterminator="\r\n", float_format=None)
    return ("\ufeff" + text).encode("utf-8")


# ---------------------------------------------------------------------------
# The sampling plan
# ---------------------------------------------------------------------------
def plan_table(plan: pd.DataFrame, details: pd.DataFrame | None = None, *, mask=None) -> pd.DataFrame:
    """The sampling plan with the Chinese headers of :data:`PLAN_COLUMNS`, masked.

    Args:
        plan: from :func:`analysis.sampling.select_targets`.
        details: from :func:`analysis.sampling.target_details` (merchants, problems, complaint ids).
        mask: text masker (default :func:`mask_series`).

    Returns:
        One row per target; shares and growth as fractions (formatted as % in Excel).
    """
    mask = mask or mask_series
    if plan.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in PLAN_COLUMNS})
    det = (details.set_index("uid") if details is not None and not details.empty
           else pd.DataFrame(index=plan["uid"], columns=["example_ids", "main_problems", "merchants"]))
    det = det.reindex(plan["uid"])
    merchant = plan["merchant"].where(plan["merchant"].notna(), det["merchants"].to_numpy())
    main = det["main_problems"].fillna(plan["top_problem"]).to_numpy()
    ids = ["、".join(map(str, v)) if isinstance(v, (list, tuple, np.ndarray)) else "" for v in det["example_ids"]]
    eb05 = plan["EB05"].astype(float).round(2)
    table = pd.DataFrame({
        "序号": plan["plan_rank"].astype("int64").to_numpy(),
        "商品类别": plan["category"].astype(str).to_numpy(),
        "商品名称/品牌": plan["product"].astype(str).to_numpy(),
        "平台": plan["platform"].astype(str).to_numpy(),
        "店铺/商家": pd.Series(merchant).fillna("").astype(str).to_numpy(),
        "投诉量": plan["n"].astype("int64").to_numpy(),
        "质量安全类投诉占比": plan["qs_share"].astype(float).round(4).to_numpy(),
        "环比增长": plan["growth"].astype(float).round(4).to_numpy(),
        "主要问题": pd.Series(main).fillna("").astype(str).to_numpy(),
        "信号强度(EB05)": eb05.to_numpy(),
        "优先级得分": plan["score"].astype(float).round(1).to_numpy(),
        "建议抽检理由": plan["reason"].astype(str).to_numpy(),
        "代表性投诉编号": ids,
    })
    for col in ("商品名称/品牌", "店铺/商家", "主要问题", "建议抽检理由"):
        table[col] = mask(table[col].astype(str)).astype(object).to_numpy()
    return table


def human_value(value: object, *, digits: int = 2) -> str:
    """A parameter as a reader writes it: 0.40, 是/否, 甲、乙 (lists), 信号强度 0.40、… (mappings; weight
    names in Chinese), — for nothing. Never JSON, never 0.4000000000000001."""
    from analysis.sampling import WEIGHT_LABELS  # noqa: PLC0415 (sampling imports this module)

    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    if isinstance(value, Mapping):
        return "、".join(f"{WEIGHT_LABELS.get(str(k), k)} {human_value(v, digits=digits)}"
                        for k, v in value.items()) or "—"
    if isinstance(value, (list, tuple, set, frozenset)):
        return "、".join(human_value(v, digits=digits) for v in value) or "全部"
    return str(value)


_PARAM_NAMES = {"weights": "权重", "signal_cap": "信号上限（EB05）", "growth_cap": "增长上限（倍）",
                "max_severity": "最高严重程度", "discount_repeats": "重复投诉合并计数"}


def _params_text(params: Mapping[str, object]) -> str:
    """The scoring parameters in Chinese (the period, filters and grain have their own rows)."""
    parts = [f"{name}：{human_value(params[key])}" for key, name in _PARAM_NAMES.items() if key in params]
    rules = params.get("thresholds") or {}
    if rules:
        parts.append(f"信号阈值：PRR ≥ {human_value(rules.get('prr'))}、χ² ≥ {human_value(rules.get('chi2'))}、"
                     f"件数 ≥ {human_value(rules.get('min_n'))}、EB05 ≥ {human_value(rules.get('eb05'))}")
    filters = params.get("filters") or {}
    for key, name in (("categories", "类别"), ("platforms", "平台"), ("districts", "所属区")):
        if filters.get(key):
            parts.append(f"{name}：{human_value(filters[key])}")
    return "；".join(parts)


def plan_notes(store: Store, result, *, extra: Mapping[str, object] | None = None,
               now: dt.datetime | None = None, made_by: str | None = None) -> pd.DataFrame:
    """The 说明 sheet: who made it, data fingerprint (rows, import hashes), method, parameters, time.

    Args:
        store: the complaint store.
        result: the :class:`analysis.sampling.SamplingResult` the plan comes from.
        extra: further parameters (planner controls) to list.
        now: the generation time (default: now).
        made_by: who exported it (:attr:`analysis.access.User.label`, or the command-line user);
            listed as 导出人, unmasked.

    Returns:
        Two columns ``项目, 内容``.
    """
    from analysis.sampling import GRAINS  # noqa: PLC0415 (sampling imports this module)

    rows: list[tuple[str, object]] = [
        ("生成时间", (now or dt.datetime.now()).strftime("%Y-%m-%d %H:%M:%S")),
        ("数据库", os.path.basename(store.path)),
        ("投诉总条数（数据库）", int(store.count("complaints"))),
        ("数据校验值", store.checksum()),
        ("评估期", f"{result.period[0]} 至 {result.period[1]}"),
        ("上一周期（环比基准）", f"{result.previous[0]} 至 {result.previous[1]}"),
        ("评估期内投诉条数（筛选后）", int(result.n_total)),
        ("汇总粒度", GRAINS.get(result.params.get("grain"), result.params.get("grain"))),
        ("商品名称来源", {"product": "商品名称（缺失时用品牌）", "brand": "品牌", "merchant": "店铺/商家",
                     "none": "无（按类别 × 平台）"}.get(result.label_source, result.label_source)),
    ]
    if result.fit is not None:
        rows.append(("信号强度方法", result.fit.label))
        rows.append(("先验超参数", human_value(result.fit.prior.as_dict(), digits=4)))
    rows += [
        ("优先级得分公式", "得分 = 100 × Σ 权重ᵢ × 分量ᵢ / Σ 权重；信号 = clip(log2(EB05)/log2(信号上限),0,1)；"
                    f"严重程度 = 平均严重程度/{result.params.get('max_severity', '最高严重程度')}；"
                    "投诉量 = ln(1+n)/ln(1+最大n)；"
                    "增长 = clip(log2((n+1)/(上期n+1))/log2(增长上限),0,1)"),
        ("信号判定规则", "PRR ≥ 阈值 且 Yates χ² ≥ 阈值 且 件数 ≥ 阈值；或 EB05 ≥ 阈值（仅质量安全类问题）"),
        ("参数", _params_text(result.params)),
    ]
    for key, value in (extra or {}).items():
        if value is None:
            value = "—"
        elif not isinstance(value, (int, str)) or isinstance(value, bool):
            value = human_value(value)
        rows.append((str(key), value))
    for note in result.notes:
        rows.append(("提示", note))
    imports = store.query("SELECT import_id, file_name, sha256, imported_at, imported FROM imports ORDER BY import_id")
    for rec in imports.itertuples(index=False):
        rows.append((f"导入 #{rec.import_id}", f"{rec.file_name}；SHA-256 {rec.sha256}；"
                                             f"{pd.Timestamp(rec.imported_at):%Y-%m-%d %H:%M}；{rec.imported} 条"))
    rows.append(("个人信息", "导出内容已对电话、身份证号、银行卡号、邮箱、姓名、地址做脱敏处理"))
    notes = pd.DataFrame(rows, columns=["项目", "内容"])
    notes["内容"] = notes["内容"].map(lambda v: v if isinstance(v, (int, float)) else str(v)).astype(object)
    notes["内容"] = mask_series(notes["内容"].astype(str)).astype(object).where(
        notes["内容"].map(lambda v: isinstance(v, str)), notes["内容"])
    if made_by:  # after masking: the exporter's login (an e-mail) is who made it, not personal data
        notes = pd.concat([notes.iloc[:1], pd.DataFrame({"项目": ["导出人"], "内容": [made_by]}, dtype=object),
                           notes.iloc[1:]], ignore_index=True)
    return notes


def write_plan(table: pd.DataFrame, notes: pd.DataFrame, *, xlsx=None, csv=None) -> None:
    """Write the plan as Excel (sheets 抽检清单 and 说明) and/or CSV (UTF-8 with BOM).

    Args:
        table: from :func:`plan_table`.
        notes: from :func:`plan_notes`.
        xlsx: path or binary buffer for the workbook.
        csv: path or binary buffer for the CSV.
    """
    if xlsx is not None:
        write_xlsx(xlsx, {"抽检清单": table, "说明": notes}, percent_columns=_PERCENT_COLUMNS,
                   widths={"建议抽检理由": 60, "主要问题": 36, "代表性投诉编号": 30, "内容": 100, "项目": 24})
    if csv is not None:
        data = to_csv_bytes(table)
        if hasattr(csv, "write"):
            csv.write(data)
        else:
            with open(csv, "wb") as fh:
                fh.write(data)
