"""The special action's report: the 统计表 workbook and a printable HTML briefing.

The seed plan (沪工商网〔2017〕151号) closes with a 督查总结 stage: each district
reports a summary, the 统计表 and typical cases. This module produces, for the
chosen period and filters:

* :func:`stat_tables` / :func:`write_stat_workbook` — complaints counted by the
  violation classes of 统计表1 and the quality-problem classes of 统计表2, per
  district and per platform (the mapping from problem types to table rows is
  data: ``data/taxonomy/problems.csv``), plus a 说明 sheet;
* :func:`write_html_briefing` — one self-contained HTML file for leadership:
  key figures, what changed, the trend chart, promotion event studies, sampling
  targets and typical complaints (masked), laid out to print cleanly.

Every value taken from complaint data is masked (:mod:`analysis.privacy`) where it
may hold personal data and escaped with :func:`html.escape` in the HTML; workbook
cells are written as strings, never as formulas.
"""

from __future__ import annotations

import datetime as dt
import html
import io
import os
from pathlib import Path
from typing import BinaryIO

import pandas as pd

from analysis import overview, plots, sampling, trends
from analysis.export import Sheet, write_xlsx
from analysis.privacy import mask_text
from analysis.store import UNCLASSIFIED, Filters, Store
from analysis.taxonomy import load_taxonomy

__all__ = [
    "TABLE1",
    "briefing_html",
    "TABLE2",
    "UNMAPPED_ROW",
    "describe_filters",
    "method_note",
    "problem_mapping",
    "stat_tables",
    "stat_workbook_bytes",
    "typical_complaints",
    "write_html_briefing",
    "write_stat_workbook",
]

TABLE1, TABLE2 = "统计表1", "统计表2"
UNMAPPED_ROW = "未能归类的投诉（未分类）"
TOTAL = "合计"
ROW_HEADER = "项目（投诉件数）"
TITLES = {
    TABLE1: "网络交易投诉按主要违法问题分类统计（对应专项行动情况统计表1）",
    TABLE2: "网络交易商品质量投诉按违法问题分类统计（对应专项行动情况统计表2）",
}


def method_note() -> str:
    """How the 统计表 count (the quality/safety problem types named from the taxonomy)."""
    quality = "、".join(load_taxonomy().quality_safety_problems)
    return ("本表按投诉件数统计，不是立案查处的案件数：每件投诉按其问题类型归入统计表1的一类主要违法问题；"
            f"质量安全类问题（{quality}）另归入统计表2的一类。"
            "问题类型与统计表各行的对应见「问题类型对照」工作表，可在 data/taxonomy/problems.csv 中调整。")


def describe_filters(filters: Filters) -> str:
    """Chinese description of the non-period filters, e.g. ``类别：食品；平台：全部；所属区：全部``."""
    parts = []
    for label, values in (("类别", filters.categories), ("平台", filters.platforms),
                          ("所属区", filters.districts)):
        parts.append(f"{label}：{'、'.join(values) if values else '全部'}")
    return "；".join(parts)


def problem_mapping() -> pd.DataFrame:
    """Problem types and the 统计表 rows they count in.

    Returns:
        Columns ``problem, severity, quality_safety, table1_row, table2_row``
        (``table2_row`` empty for problems outside 统计表2), in taxonomy order,
        plus 未分类 counted in :data:`UNMAPPED_ROW` of 统计表1.
    """
    problems = load_taxonomy().problems
    rows = [{"problem": p.name, "severity": int(p.severity), "quality_safety": bool(p.quality_safety),
             "table1_row": p.table1_row or UNMAPPED_ROW,
             "table2_row": p.table2_row if isinstance(p.table2_row, str) else ""}
            for p in problems.itertuples(index=False)]
    rows.append({"problem": UNCLASSIFIED, "severity": 0, "quality_safety": False,
                 "table1_row": UNMAPPED_ROW, "table2_row": ""})
    return pd.DataFrame(rows)


def _table_rows(table: str) -> list[str]:
    return list(load_taxonomy().table_rows.get(table, ()))


def _counts(store: Store, filters: Filters) -> pd.DataFrame:
    """Complaints per problem × district × platform in the filtered period."""
    where, params = filters.where()
    return store.query(
        "SELECT problem, coalesce(district, ?) AS district, platform_norm AS platform, "
        f"count(*) AS n FROM complaints_enriched WHERE {where} GROUP BY ALL",
        [overview.MISSING_LABEL, *params],
    )


def _pivot(counts: pd.DataFrame, mapping: pd.DataFrame, *, table: str, by: str) -> pd.DataFrame:
    column = "table1_row" if table == TABLE1 else "table2_row"
    rows = _table_rows(table) + ([UNMAPPED_ROW] if table == TABLE1 else [])
    merged = counts.merge(mapping[["problem", column]], on="problem", how="left")
    merged[column] = merged[column].fillna(UNMAPPED_ROW if table == TABLE1 else "")
    merged = merged[merged[column] != ""]
    order = (counts.groupby(by)["n"].sum().sort_values(ascending=False, kind="stable"))
    columns = [c for c in order.index if c != overview.MISSING_LABEL]
    if overview.MISSING_LABEL in order.index:
        columns.append(overview.MISSING_LABEL)
    wide = (merged.pivot_table(index=column, columns=by, values="n", aggfunc="sum", fill_value=0)
            .reindex(index=rows, columns=columns, fill_value=0).fillna(0).astype("int64"))
    wide[TOTAL] = wide.sum(axis=1)
    wide.loc[TOTAL] = wide.sum(axis=0)
    wide.index.name = ROW_HEADER
    wide.columns.name = None
    return wide.reset_index()


def stat_tables(store: Store, filters: Filters) -> dict[str, pd.DataFrame]:
    """The 统计表 counts for the filtered period, per district and per platform.

    Args:
        store: the complaint store.
        filters: the global filters (open period ends take the data's first/last day).

    Returns:
        ``{"统计表1-按区", "统计表1-按平台", "统计表2-按区", "统计表2-按平台",
        "问题类型对照"}``: each 统计表 frame has the column ``项目（投诉件数）``
        with the table's rows in the seed's order (统计表1 also has
        :data:`UNMAPPED_ROW`) and a last row 合计, then one column per
        district or platform (most complaints first; （未填写） last) and 合计.
        Every complaint counts once in 统计表1; quality/safety complaints count
        once more in 统计表2. 问题类型对照 lists each problem type with its rows
        and its count.
    """
    filters = overview.resolve_period(store, filters)
    counts = _counts(store, filters)
    mapping = problem_mapping()
    tables = {f"{table}-按{noun}": _pivot(counts, mapping, table=table, by=by)
              for table in (TABLE1, TABLE2) for noun, by in (("区", "district"), ("平台", "platform"))}
    per_problem = counts.groupby("problem")["n"].sum()
    tables["问题类型对照"] = pd.DataFrame({
        "问题类型": mapping["problem"],
        "严重程度": mapping["severity"].astype("int64"),
        "质量安全类": mapping["quality_safety"].map({True: "是", False: "否"}),
        "统计表1 行": mapping["table1_row"],
        "统计表2 行": mapping["table2_row"].replace("", "—"),
        "本期投诉件数": mapping["problem"].map(per_problem).fillna(0).astype("int64"),
    })
    return tables


def _fingerprint(store: Store) -> str:
    return f"{store.contents_key()} / {store.checksum()}"


def _data_text(store: Store) -> str:
    """The data a briefing is made from, for a reader: complaints and import files (no hash)."""
    n_imports = int(store.count("imports"))
    return f"数据库 {Path(store.path).name}，共 {int(store.count('complaints')):,} 件投诉，来自 {n_imports} 次导入"


def _period_text(filters: Filters) -> str:
    if filters.start is None or filters.end is None:
        return "（无数据）"
    return f"{filters.start.isoformat()} 至 {filters.end.isoformat()}"


def _notes_frame(store: Store, filters: Filters, generated_at: dt.datetime, made_by: str | None = None
                 ) -> pd.DataFrame:
    where, params = filters.where()
    total = int(store.scalar(f"SELECT count(*) FROM complaints_enriched WHERE {where}", params))
    quality = overview.quality_safety_problems()
    in_quality = ", ".join("?" * len(quality))
    quality_n = int(store.scalar(
        f"SELECT count(*) FROM complaints_enriched WHERE {where} AND problem IN ({in_quality})",
        [*params, *quality]))
    return pd.DataFrame({"项目": [
        "报表名称", "统计时段", "筛选条件", "投诉总数（件）", "其中质量安全类（件）",
        "生成时间", "导出人", "数据库", "数据指纹", "统计口径",
    ], "内容": [
        "网络交易投诉分类统计（参照《2017年网络市场监管专项行动情况统计表》1、2）",
        _period_text(filters), describe_filters(filters), total, quality_n,
        generated_at.strftime("%Y-%m-%d %H:%M:%S"), made_by or "—", Path(store.path).name, _fingerprint(store),
        method_note(),
    ]})


def write_stat_workbook(path_or_buffer: str | os.PathLike | BinaryIO, store: Store, filters: Filters,
                        *, generated_at: dt.datetime | None = None, made_by: str | None = None) -> None:
    """Write the 统计表 workbook (xlsx): 说明, the four 统计表 sheets and 问题类型对照.

    Args:
        path_or_buffer: file path or binary buffer to write to.
        store: the complaint store.
        filters: the global filters.
        generated_at: time stamp for the 说明 sheet (default: now).
        made_by: who made it (the 说明 sheet's 导出人; :attr:`analysis.access.User.label`).
    """
    filters = overview.resolve_period(store, filters)
    generated_at = generated_at or dt.datetime.now().replace(microsecond=0)
    sheets = {"说明": _notes_frame(store, filters, generated_at, made_by), **stat_tables(store, filters)}
    target = os.fspath(path_or_buffer) if isinstance(path_or_buffer, (str, os.PathLike)) else path_or_buffer
    subtitle = f"统计时段：{_period_text(filters)}；{describe_filters(filters)}"
    specs = {}
    for name, frame in sheets.items():
        if name == "说明":
            specs[name] = Sheet(frame, widths=dict(zip(frame.columns, (22, 90))))
            continue
        specs[name] = Sheet(frame, title=TITLES.get(name.split("-")[0], name), subtitle=subtitle,
                            total_row=name.startswith("统计表"), freeze_columns=1,
                            widths={c: 44 if i == 0 else 11 for i, c in enumerate(frame.columns)})
    write_xlsx(target, specs)


def stat_workbook_bytes(store: Store, filters: Filters, *, generated_at: dt.datetime | None = None,
                        made_by: str | None = None) -> bytes:
    """The 统计表 workbook as bytes (for downloads); see :func:`write_stat_workbook`."""
    buffer = io.BytesIO()
    write_stat_workbook(buffer, store, filters, generated_at=generated_at, made_by=made_by)
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------
# HTML briefing
# ---------------------------------------------------------------------------------------------
_CSS = """
:root { --red: #c0392b; --blue: #2980b9; --grey: #6b6b6b; }
* { box-sizing: border-box; }
body { font-family: "Noto Sans CJK SC", "Microsoft YaHei", "PingFang SC", "SimHei", sans-serif;
       color: #222; max-width: 1040px; margin: 0 auto; padding: 24px 32px; line-height: 1.6; }
h1 { font-size: 24px; margin: 0 0 4px; color: var(--red); }
h2 { font-size: 18px; border-bottom: 2px solid var(--red); padding-bottom: 2px; margin: 28px 0 10px; }
.meta { color: var(--grey); font-size: 13px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; margin: 6px 0 12px; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f6eaea; }
td.num, th.num { text-align: right; white-space: nowrap; }
td.nowrap { white-space: nowrap; }
.up { color: var(--red); } .down { color: var(--blue); }
.grid { display: grid; grid-template-columns: 1fr 1fr; gap: 0 24px; }
.grid h3 { font-size: 15px; margin: 8px 0 2px; }
.complaint { border-left: 3px solid var(--red); padding: 4px 10px; margin: 8px 0; background: #fafafa;
             white-space: pre-wrap; word-break: break-all; }
.complaint .tags { color: var(--grey); font-size: 12px; }
.note { color: var(--grey); font-size: 12px; }
footer { margin-top: 32px; color: var(--grey); font-size: 12px; border-top: 1px solid #ddd; padding-top: 6px; }
@page { size: A4; margin: 16mm 14mm; }
@media print {
  body { max-width: none; padding: 0; font-size: 12px; }
  section { break-inside: avoid; page-break-inside: avoid; }
  section.long { break-inside: auto; page-break-inside: auto; }
  h2 { break-after: avoid; page-break-after: avoid; }
  .page-break { break-before: page; page-break-before: always; }
  tr, .complaint { break-inside: avoid; page-break-inside: avoid; }
  .chart { break-inside: avoid; page-break-inside: avoid; }
  .modebar-container { display: none !important; }
  a { color: inherit; text-decoration: none; }
}
"""


def _e(value: object) -> str:
    """Escape any value for HTML text or attributes (None and NaN become an em dash)."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "—"
    return html.escape(str(value), quote=True)


def _num(value: object, *, signed: bool = False, pct: bool = False) -> str:
    if value is None or pd.isna(value):
        return "—"
    if pct:
        return f"{value:+.1f}%" if signed else f"{value:.1f}%"
    return f"{int(value):+,d}" if signed else f"{int(value):,}"


def _change_cell(value: object, *, pct: bool = False) -> str:
    text = _num(value, signed=True, pct=pct)
    cls = "" if text == "—" or value == 0 else (" up" if value > 0 else " down")
    return f'<td class="num{cls}">{_e(text)}</td>'


def _table(frame: pd.DataFrame, *, numeric: set[str] = frozenset(), changes: dict[str, bool] | None = None,
           nowrap: set[str] = frozenset()) -> str:
    """An HTML table; every cell escaped. ``changes``: column → percent? (coloured signed numbers)."""
    changes = changes or {}
    head = "".join(f'<th class="num">{_e(c)}</th>' if c in numeric or c in changes else f"<th>{_e(c)}</th>"
                   for c in frame.columns)
    body = []
    for row in frame.itertuples(index=False):
        cells = []
        for column, value in zip(frame.columns, row):
            if column in changes:
                cells.append(_change_cell(value, pct=changes[column]))
            elif column in numeric:
                cells.append(f'<td class="num">{_e(value if isinstance(value, str) else _num(value))}</td>')
            else:
                cells.append(f'<td class="nowrap">{_e(value)}</td>' if column in nowrap
                             else f"<td>{_e(value)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def typical_complaints(store: Store, filters: Filters, *, n: int = 5) -> pd.DataFrame:
    """Typical complaints of the period, personal data masked.

    One complaint per category × problem type — the one classified with the
    highest confidence (latest first on ties) — taken by severity, then by how
    many complaints the pair has, then by date.

    Returns:
        Columns ``complaint_id, received_at, category, problem, platform, product,
        merchant, text, group_n`` with ``product``, ``merchant`` and ``text``
        masked (:func:`analysis.privacy.mask_text`).
    """
    where, params = filters.where()
    frame = store.query(
        "SELECT complaint_id, received_at, category, problem, platform, product, merchant, text, group_n "
        "FROM (SELECT complaint_id, received_at, category, problem, severity, platform_norm AS platform, "
        "product, merchant, text, "
        "row_number() OVER (PARTITION BY category, problem ORDER BY problem_confidence DESC NULLS LAST, "
        "received_at DESC, complaint_id) AS rk, count(*) OVER (PARTITION BY category, problem) AS group_n "
        f"FROM complaints_enriched WHERE {where}) "
        "WHERE rk = 1 ORDER BY severity DESC, group_n DESC, received_at DESC, complaint_id LIMIT ?",
        [*params, int(n)],
    )
    for column in ("product", "merchant", "text"):
        frame[column] = frame[column].map(mask_text)
    return frame


def _kpi_table(kpis: pd.DataFrame) -> pd.DataFrame:
    """The key figures; no 同比 when last year's window overlaps the period (longer than a year)."""
    cur, prev, ly = (kpis.loc[p] for p in overview.PERIODS)
    comparable = ly.end < cur.start

    def yoy(new, old):
        return overview.relative_change(new, old) if comparable else float("nan")

    rows = [
        ["投诉量（件）", _num(cur.complaints), _num(prev.complaints),
         overview.relative_change(cur.complaints, prev.complaints),
         _num(ly.complaints), yoy(cur.complaints, ly.complaints)],
        ["质量安全类投诉（件）", _num(cur.quality_safety), _num(prev.quality_safety),
         overview.relative_change(cur.quality_safety, prev.quality_safety), _num(ly.quality_safety),
         yoy(cur.quality_safety, ly.quality_safety)],
        ["质量安全类占比", _num(cur.quality_share, pct=True), _num(prev.quality_share, pct=True),
         float("nan"), _num(ly.quality_share, pct=True), float("nan")],
        ["投诉最多的类别", _leader(cur, "category"), _leader(prev, "category"), float("nan"),
         _leader(ly, "category"), float("nan")],
        ["投诉最多的平台", _leader(cur, "platform"), _leader(prev, "platform"), float("nan"),
         _leader(ly, "platform"), float("nan")],
    ]
    last_year = f"去年同期（{ly.start}—{ly.end}）" if comparable else "去年同期（与本期重叠，不作同比）"
    return pd.DataFrame(rows, columns=["指标", f"本期（{cur.start}—{cur.end}）", f"上期（{prev.start}—{prev.end}）",
                                       "环比", last_year, "同比"])


def _leader(row: pd.Series, key: str) -> str:
    name, count = row[f"top_{key}"], row[f"top_{key}_count"]
    if name is None or pd.isna(name) or pd.isna(count) or int(count) == 0:
        return "—"
    return f"{name}（{int(count):,} 件）"


def _top_section(store: Store, filters: Filters) -> str:
    blocks = []
    for by, title in (("category", "类别"), ("platform_norm", "平台"), ("district", "所属区"),
                      ("problem", "问题类型")):
        top = overview.top_changes(store, filters, by=by, n=10)
        frame = pd.DataFrame({title: top["name"], "本期": top["current"],
                              "占比": [f"{v:.1f}%" for v in top["share"]],
                              "上期": top["previous"], "环比变化": top["change"]})
        blocks.append(f"<div><h3>{_e(title)}前十</h3>"
                      f"{_table(frame, numeric={'本期', '占比', '上期'}, changes={'环比变化': False})}</div>")
    return '<div class="grid">' + "".join(blocks) + "</div>"


def _trend_section(store: Store, filters: Filters, *, include_plotlyjs: bool | str) -> str:
    series, promotions = overview.trend_series(store, filters)
    fig = plots.overview_trend_figure(series, promotions, height=360).update_layout(width=960)
    chart = fig.to_html(full_html=False, include_plotlyjs=include_plotlyjs,
                        config={"displayModeBar": False, "responsive": True})
    unit = {"D": "日", "W": "周", "M": "月"}[series.attrs["freq"]]
    return (f'<p class="note">按{unit}统计的投诉量；阴影为促销活动主窗口。</p>'
            f'<div class="chart">{chart}</div>')


def _event_sentences(store: Store, filters: Filters) -> list[str]:
    calendar = trends.load_promotions()
    promos = calendar.overlapping(filters.start, filters.end)
    promos = promos[(promos["main_start"] <= filters.end) & (promos["main_end"] >= filters.start)]
    sentences = []
    for row in promos.sort_values("main_start", ascending=False).head(4).itertuples(index=False):
        study = trends.event_study(store, filters, promotion=row.name, year=int(row.year),
                                   calendar=calendar)
        sentences.append(trends.describe_event(study))
    return sentences


def _targets_section(store: Store, filters: Filters, *, n: int) -> str:
    result = sampling.score_units(store, filters=filters, random_state=0)
    plan = sampling.select_targets(result, top=n)
    if plan.empty:
        return "<p>本期没有达到抽检建议条件的商品（重点类别中至少 3 件投诉且含质量安全类投诉）。</p>"
    frame = pd.DataFrame({
        "序号": plan["plan_rank"], "类别": plan["category"],
        "商品/品牌": plan["product"].map(mask_text), "平台": plan["platform"],
        "投诉量": plan["n"], "质量安全类": plan["n_qs"],
        "优先级得分": [f"{v:.1f}" for v in plan["score"]], "建议抽检理由": plan["reason"],
    })
    return (_table(frame, numeric={"序号", "投诉量", "质量安全类", "优先级得分"}, nowrap={"类别", "平台"}) +
            '<p class="note">排序依据：不成比例信号（EB05/PRR）、问题严重程度、投诉量和增长的加权得分，'
            "详见「抽检清单」页面。</p>")


def _typical_section(store: Store, filters: Filters, *, n: int) -> str:
    frame = typical_complaints(store, filters, n=n)
    if frame.empty:
        return "<p>本期没有投诉。</p>"
    items = []
    for row in frame.itertuples(index=False):
        received = pd.Timestamp(row.received_at).strftime("%Y-%m-%d") if pd.notna(row.received_at) else "—"
        tags = "　".join(f"{label}：{_e(value)}" for label, value in (
            ("登记日期", received), ("类别", row.category), ("问题", row.problem), ("平台", row.platform),
            ("商品", row.product), ("同类投诉", f"{int(row.group_n):,} 件")) if value is not None)
        items.append(f'<div class="complaint"><div class="tags">{tags}</div>{_e(row.text)}</div>')
    return ('<p class="note">每个“类别 × 问题类型”取一件分类把握最大的投诉，按严重程度排序；'
            "个人信息已脱敏。</p>" + "".join(items))


def briefing_html(store: Store, filters: Filters, *, generated_at: dt.datetime | None = None,
                  include_plotlyjs: bool | str = True, n_targets: int = 10, n_typical: int = 5,
                  made_by: str | None = None) -> str:
    """The HTML briefing as a string (see :func:`write_html_briefing`)."""
    filters = overview.resolve_period(store, filters)
    generated_at = generated_at or dt.datetime.now().replace(microsecond=0)
    title = "网络交易投诉情况简报"
    head = (f'<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_e(title)}（{_e(_period_text(filters))}）</title><style>{_CSS}</style></head><body>")
    meta = (f'<header><h1>{_e(title)}</h1><div class="meta">统计时段：{_e(_period_text(filters))}　'
            f"{_e(describe_filters(filters))}<br>生成时间：{_e(generated_at.strftime('%Y-%m-%d %H:%M'))}　"
            f"数据：{_e(_data_text(store))}"
            + (f"<br>导出人：{_e(made_by)}" if made_by else "") + "</div></header>")
    parts = [head, meta]
    kpis = overview.kpi_frame(store, filters)
    if kpis.empty or int(kpis.loc["current", "complaints"]) == 0:
        parts.append("<section><h2>一、主要数据</h2><p>所选时间段内没有投诉数据。</p></section>")
    else:
        changed = "".join(f"<li>{_e(s)}</li>" for s in overview.what_changed(store, filters, kpis=kpis))
        key_figures = _kpi_table(kpis)
        events = _event_sentences(store, filters)
        event_html = ("".join(f"<li>{_e(s)}</li>" for s in events) if events
                      else "<li>所选时间段内没有促销活动的主窗口。</li>")
        parts += [
            "<section><h2>一、主要数据</h2>",
            _table(key_figures, numeric=set(key_figures.columns[1:]) - {"环比", "同比"},
                   changes={"环比": True, "同比": True}),
            f"<h3>变化要点</h3><ul>{changed}</ul></section>",
            f"<section><h2>二、投诉趋势</h2>{_trend_section(store, filters, include_plotlyjs=include_plotlyjs)}"
            "</section>",
            f"<section><h2>三、促销期分析</h2><ul>{event_html}</ul></section>",
            f'<section class="long page-break"><h2>四、分类统计（本期前十及环比变化）</h2>'
            f"{_top_section(store, filters)}</section>",
            f'<section class="long"><h2>五、建议抽检对象</h2>{_targets_section(store, filters, n=n_targets)}'
            "</section>",
            f'<section class="long page-break"><h2>六、典型投诉</h2>'
            f"{_typical_section(store, filters, n=n_typical)}</section>",
        ]
    parts.append(f"<footer>{_e(method_note())} 由投诉雷达生成。</footer></body></html>")
    return "".join(parts)


def write_html_briefing(path_or_buffer: str | os.PathLike | BinaryIO, store: Store, filters: Filters,
                        *, generated_at: dt.datetime | None = None, include_plotlyjs: bool | str = True,
                        n_targets: int = 10, n_typical: int = 5, made_by: str | None = None) -> None:
    """Write the leadership briefing: one self-contained HTML file that prints cleanly.

    Sections: key figures against the previous period and last year, what
    changed, the trend with promotion bands, promotion event studies, top-10
    tables, sampling targets and typical complaints. Every value from
    complaint data is masked where it may hold personal data and HTML-escaped;
    the plotly chart (counts and promotion names only) embeds plotly.js
    inline, so the file needs no network.

    Args:
        path_or_buffer: file path or binary buffer.
        store: the complaint store.
        filters: the global filters.
        generated_at: time stamp shown in the header (default: now).
        include_plotlyjs: ``True`` embeds plotly.js (self-contained); ``"cdn"`` links it.
        n_targets: sampling targets listed.
        n_typical: typical complaints listed.
        made_by: who made it (shown in the header as 导出人).
    """
    text = briefing_html(store, filters, generated_at=generated_at, include_plotlyjs=include_plotlyjs,
                         n_targets=n_targets, n_typical=n_typical, made_by=made_by).encode("utf-8")
    if isinstance(path_or_buffer, (str, os.PathLike)):
        Path(path_or_buffer).write_bytes(text)
    else:
        path_or_buffer.write(text)
