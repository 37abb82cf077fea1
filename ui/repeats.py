"""Helpers of the 重复与集体投诉 page and the group-complaint notice of 总览 and 趋势与促销.

Analyses (:mod:`analysis.repeats`, :mod:`analysis.handling`) are cached with
``st.cache_data`` keyed on :func:`ui.state.store_key` and the filters. Everything
shown is masked: complainants appear as their salted key and masked phone,
complaint texts and merchants through :mod:`analysis.privacy`.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from analysis import handling, repeats
from analysis.privacy import escape_markdown, mask_series, mask_text
from analysis.store import Filters, Store
from ui.state import filter_page_link

PAGE = "pages/repeats.py"
#: Query parameter that opens the page on one complainant (the salted key, not personal data).
Q_PERSON = "complainant"
BY_LABELS = {"platform_norm": "按平台", "merchant": "按店铺/商家", "district": "按所属区"}
EXPLAIN = ("投诉人按手机号、证件号或「姓名 + 座机」识别，只以加盐哈希比较，显示为投诉人编号和脱敏号码。"
           "「需进一步核实」只提示值得人工查看，不是对投诉人的定性；集体投诉（多名不同投诉人、同一商家、"
           "短时间内、文本相近）全部计入统计。")


@st.cache_data(show_spinner="正在识别重复投诉人与模板化投诉…", max_entries=8)
def summary(_store: Store, key: str, filters: Filters) -> dict:
    """Complainants, group complaints, template groups and the discounted count of the period."""
    people = repeats.complainants(_store, filters)
    return {"people": people, "groups": repeats.group_complaints(_store, filters),
            "templates": repeats.template_groups(_store, filters),
            "discounted": repeats.discounted(_store, filters)}


@st.cache_data(show_spinner=False, max_entries=32)
def person_complaints(_store: Store, key: str, filters: Filters, person: str) -> pd.DataFrame:
    """One complainant's complaints in the period (masked)."""
    return repeats.complainant_complaints(_store, person, filters)


@st.cache_data(show_spinner=False, max_entries=32)
def members(_store: Store, key: str, complaint_ids: tuple[str, ...]) -> pd.DataFrame:
    """The complaints of one group complaint (masked)."""
    return repeats.group_members(_store, complaint_ids)


@st.cache_data(show_spinner="正在统计办理情况…", max_entries=16)
def handling_figures(_store: Store, key: str, filters: Filters, by: str | None) -> pd.DataFrame:
    """Handling figures of the period, overall or per group (top 20)."""
    return handling.handling_figures(_store, filters, by=by, top=20 if by else None)


@st.cache_data(show_spinner=False, max_entries=16)
def channels(_store: Store, key: str, filters: Filters) -> pd.DataFrame:
    """The channel mix of the period."""
    return handling.channel_mix(_store, filters)


def people_table(people: pd.DataFrame) -> pd.DataFrame:
    """Complainants as shown (Chinese headers; key and phone masked)."""
    return pd.DataFrame({
        "投诉人编号": people["key"], "联系电话（脱敏）": people["phone_masked"].fillna("（无电话）"),
        "投诉量": people["complaints"], "近7天": people["last_7"], "近30天": people["last_30"],
        "近90天": people["last_90"], "店铺数": people["merchants"], "区数": people["districts"],
        "平台数": people["platforms"], "模板化占比": people["template_share"] * 100,
        "典型诉求": people["claims"], "主要商品": mask_series(people["top_product"].astype(object)),
        "得分": people["score"], "提示": people["flag"],
    })


PEOPLE_CONFIG = {
    "模板化占比": st.column_config.ProgressColumn("模板化占比", format="%.0f%%", min_value=0, max_value=100),
    "得分": st.column_config.ProgressColumn("得分", format="%.1f", min_value=0, max_value=100,
                                          help="投诉量 35%、涉及店铺数 25%、模板化占比 25%、典型诉求占比 15%"),
}


def group_table(groups: pd.DataFrame) -> pd.DataFrame:
    """Group complaints as shown."""
    return pd.DataFrame({
        "被投诉方": mask_series(groups["merchant"].astype(object)), "商品/服务": groups["product"],
        "投诉人数": groups["complainants"], "投诉件数": groups["complaints"],
        "开始": groups["start"].astype(str), "结束": groups["end"].astype(str), "类别": groups["category"],
        "平台": groups["platform"],
    })


def template_table(templates: pd.DataFrame) -> pd.DataFrame:
    """Template groups as shown."""
    return pd.DataFrame({
        "模板": templates["template_id"].map(lambda t: f"T{int(t)}"), "投诉件数": templates["complaints"],
        "投诉人数": templates["complainants"], "店铺数": templates["merchants"], "合并少计": templates["discounted"],
        "首次": templates["first"].dt.date.astype(str), "最近": templates["last"].dt.date.astype(str),
        "示例（已脱敏）": templates["text"],
    })


def complaint_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Complaints of a complainant or a group as shown (texts masked already)."""
    table = pd.DataFrame({
        "投诉编号": frame["complaint_id"], "登记时间": frame["received_at"], "类别": frame["category"],
        "问题类型": frame["problem"], "平台": frame["platform"], "店铺": frame["merchant"], "所属区": frame["district"],
        "模板": frame["template_id"].map(lambda t: "" if pd.isna(t) else f"T{int(t)}"),
        "计入统计": frame["counted"].map({True: "是", False: "合并"}), "投诉内容": frame["text"],
    })
    if "complainant" in frame:
        table.insert(1, "联系电话（脱敏）", frame["complainant"].fillna(""))
    return table


HANDLING_HEADERS = {
    "complaints": "投诉量", "with_status": "有处理状态", "closed": "已办结", "closed_rate": "办结率",
    "timely_known": "已知是否按期", "on_time": "按期办结", "on_time_rate": "按期办结率", "mediated": "调解件数",
    "mediation_success": "调解成功", "mediation_rate": "调解成功率", "recovered_cases": "注明挽回金额",
    "recovered": "挽回经济损失（元）",
}


def handling_table(figures: pd.DataFrame, by: str) -> pd.DataFrame:
    """Handling figures per group as shown: Chinese headers, rates in percent, merchants masked."""
    table = figures.copy()
    for column in ("closed_rate", "on_time_rate", "mediation_rate"):
        if column in table:
            table[column] = (table[column] * 100).round(1)
    if by == "merchant":
        table["group"] = mask_series(table["group"].astype(object))
    return table.rename(columns={"group": BY_LABELS[by].removeprefix("按"), **HANDLING_HEADERS})


def handling_metrics(figures: pd.DataFrame) -> list[tuple[str, str, str]]:
    """(label, value, help) of the overall figures that the columns support."""
    row = figures.iloc[0]
    out = []
    if "closed_rate" in figures:
        out.append(("办结率", _pct(row["closed_rate"]), f"已办结 {int(row['closed']):,} / 有处理状态 {int(row['with_status']):,} 件"))
    if "on_time_rate" in figures:
        out.append(("按期办结率", _pct(row["on_time_rate"]),
                    f"按期 {int(row['on_time']):,} / 已知是否按期的办结 {int(row['timely_known']):,} 件；"
                    f"无「是否按期」列时按 {figures.attrs['time_limit_workdays']} 个工作日计"))
    if "mediation_rate" in figures:
        out.append(("调解成功率", _pct(row["mediation_rate"]),
                    f"调解成功 {int(row['mediation_success']):,} / 调解 {int(row['mediated']):,} 件（成功、不成、终止）"))
    if "recovered" in figures:
        out.append(("挽回经济损失", f"{row['recovered']:,.0f} 元", f"{int(row['recovered_cases']):,} 件投诉注明了挽回金额"))
    return out


def missing_note(figures: pd.DataFrame) -> str:
    """Which figures are hidden and why (empty when all are shown)."""
    labels = {"closed_rate": "办结率、调解成功率（缺「处理状态」）", "on_time_rate": "按期办结率（缺「是否按期办结」或「办结时间」）",
              "recovered": "挽回经济损失（缺「挽回经济损失」）", "channel": "渠道构成（缺「投诉渠道」）"}
    missing = [text for name, text in labels.items() if not figures.attrs["available"][name]]
    return ("导出数据中没有相应的列，以下指标不显示（不是 0）：" + "；".join(missing) + "。") if missing else ""


def _pct(value) -> str:
    return "—" if pd.isna(value) else f"{value:.1%}"


@st.cache_data(show_spinner=False, max_entries=16)
def _notice(_store: Store, key: str, filters: Filters) -> tuple[pd.DataFrame, int]:
    groups = repeats.group_complaints(_store, filters)
    return groups, int(repeats.discounted(_store, filters)["discounted"].sum())


def group_notice(store: Store, key: str, filters: Filters) -> None:
    """Beside the surge alarms: the period's group complaints and how many repeats were merged."""
    groups, discounted = _notice(store, key, filters)
    if len(groups):
        items = [f"{escape_markdown(mask_text(g.merchant or g.product or '（未注明）'))}"
                 f"（{escape_markdown(g.product or '')}）{g.complainants} 人 {g.complaints} 件，"
                 f"{g.start.month}月{g.start.day}日—{g.end.month}月{g.end.day}日"
                 for g in groups.head(3).itertuples(index=False)]
        st.warning("集体投诉：" + "；".join(items) + (f" 等 {len(groups)} 起" if len(groups) > 3 else ""),
                   icon=":material/groups:")
    if discounted:
        st.caption(f"突增预警已把同一投诉人就同一商品的模板化重复投诉合并计数（本期少计 {discounted:,} 件；集体投诉全部计入）。")
    if len(groups) or discounted:
        filter_page_link(PAGE, label="重复与集体投诉：查看详情", icon=":material/group_work:")
