"""总览 (home): the period's KPIs against the previous period and last year, the trend,
top-10 changes, what changed in plain sentences, links that carry the filters, the report."""

import streamlit as st

from analysis import overview, plots, report
from analysis.errors import UserError
from analysis.privacy import escape_markdown
from ui import auth
from ui import models as models_ui
from ui import repeats as repeats_ui
from ui.state import filter_page_link, get_store, global_filters, open_page, store_key, undated_count

RECENT_DAYS = 7
BREAKDOWN_TABS = {"category": "类别", "platform_norm": "平台", "district": "所属区", "problem": "问题类型"}


@st.cache_data(show_spinner="正在汇总本期数据…")
def summary(key: str, filters):
    store = get_store()
    kpis = overview.kpi_frame(store, filters)
    alarms = overview.open_alarms(store, filters, recent_days=RECENT_DAYS)
    return {"kpis": kpis, "alarms": alarms, "pending": pending(key),
            "cards": overview.kpi_cards(kpis, alarms=alarms, recent_days=RECENT_DAYS),
            "sentences": overview.what_changed(store, filters, kpis=kpis)}


@st.cache_data(show_spinner=False)
def pending(key: str) -> int:  # depends on the store only, not on the filters
    return overview.pending_enrichment(get_store())


@st.cache_data(show_spinner=False)
def top(key: str, filters, by: str):
    return overview.top_changes(get_store(), filters, by=by, n=10)


@st.cache_data(show_spinner="正在绘制趋势…")
def trend(key: str, filters):
    return plots.overview_trend_figure(*overview.trend_series(get_store(), filters))


def percent_text(frame):
    """Relative changes as text; a change from 0 has no percentage and shows as —."""
    return frame.assign(**{c: [("—" if v != v else f"{v:+.1f}%") for v in frame[c]]
                           for c in ("change_pct", "yoy_pct")})


user = auth.require("overview")
store = open_page("总览")
filters = global_filters(store, default_preset="最近一个月")  # the latest complete month, with 环比 and 同比
key = store_key(store)
undated = undated_count(store)
st.caption(f"统计时段：{filters.start} 至 {filters.end}　{escape_markdown(report.describe_filters(filters))}　"
           "（在左侧“全局筛选”中调整；地址栏链接可直接分享当前视图）"
           + (f"　无日期 {undated:,} 件（不计入按时段的统计，可在「投诉明细」中查看）" if undated else ""))

try:
    data = summary(key, filters)
except UserError as exc:
    st.error(str(exc))
    st.stop()
kpis = data["kpis"]
if int(kpis.loc["current", "complaints"]) == 0:
    st.info(f"所选时间段（{filters.start} 至 {filters.end}）及筛选条件下没有投诉数据。"
            "请在左侧调整时间范围，或点击“重置筛选”查看全部数据。")
    st.stop()

# Per browser session: the import the user last saw (session state only, nothing written on read).
latest = overview.latest_import_id(store)
seen = st.session_state.setdefault("ov_seen_import", latest)
if latest > seen:
    new, in_period = overview.imports_since(store, seen, filters)
    note, ok = st.columns([5, 1])
    note.info(f"自上次查看以来：新导入 {new:,} 件，其中 {in_period:,} 件属于本期。"
              "本期以前已统计的投诉不会因导入而改变类别和计数（只有删除数据或启用新模型版本会改变）。")
    if ok.button("知道了", key="ov_seen_ok"):
        st.session_state["ov_seen_import"] = latest
        st.rerun()
if user.can("models"):
    stale = models_ui.staleness(key)
    if stale["out_of_date"]:
        st.warning("分类目录或词典已修改，当前分类模型（版本 "
                   f"{stale['active']}）已过时；已有投诉的类别不会自动改变。请到“模型管理”页训练新版本并预览变化后再启用。")
if data["pending"]:
    st.warning(f"有 {data['pending']:,} 件投诉尚未完成分类，其类别、问题类型和平台暂按“未分类”“其他平台”统计。"
               "请在命令行运行 `python -m analysis build` 补齐分词和分类（可中断后继续）。")
cards = {card.key: card for card in data["cards"]}
for row in (("complaints", "quality_share", "alarms"), ("top_category", "top_platform")):
    for column, name in zip(st.columns(len(row)), row):
        card = cards[name]
        # the 同比 half goes under the card: inside it, a narrow column cut it off (同比 -0…)
        versus, _, yoy = (card.delta_description or "").partition("；")
        column.metric(card.label, card.value, card.delta, card.delta_color, help=card.help,
                      delta_description=versus or None, delta_arrow=card.delta_arrow, border=True)
        if yoy:
            column.caption(yoy)
if int(kpis.loc["previous", "complaints"]) == 0:
    st.caption("上期没有数据，无法计算环比：可在左侧“快捷时段”选择“最近一个月”“最近一个季度”或“最近一年”。")

st.subheader("变化要点")
st.markdown("\n".join(f"- {escape_markdown(s)}" for s in data["sentences"]))
if not data["alarms"].empty:
    st.warning("激增预警：" + "；".join(
        f"{row.name}（最近 {row.alarm_days} 天报警，共 {int(row.count):,} 件，预期约 {row.expected:.0f} 件）"
        for row in data["alarms"].itertuples(index=False)))
repeats_ui.group_notice(store, key, filters)

st.subheader("投诉趋势")
st.plotly_chart(trend(key, filters), width="stretch", key="overview_trend")

st.subheader("本期前十及环比变化")
columns = {
    "name": st.column_config.TextColumn("名称"),
    "current": st.column_config.NumberColumn("本期", format="%d"),
    "share": st.column_config.NumberColumn("占比", format="%.1f%%"),
    "previous": st.column_config.NumberColumn("上期", format="%d"),
    "change": st.column_config.NumberColumn("环比变化", format="%+d"),
    "change_pct": st.column_config.TextColumn("环比"),
    "last_year": st.column_config.NumberColumn("去年同期", format="%d"),
    "yoy_change": st.column_config.NumberColumn("同比变化", format="%+d"),
    "yoy_pct": st.column_config.TextColumn("同比"),
}
for tab, (by, label) in zip(st.tabs(list(BREAKDOWN_TABS.values())), BREAKDOWN_TABS.items()):
    frame = top(key, filters, by)
    left, right = tab.columns([3, 2])
    left.caption(f"本期投诉最多的{label}：柱色红为较上期增加、蓝为减少，竖线为上期件数")
    left.plotly_chart(plots.top_changes_figure(frame), width="stretch", key=f"overview_top_{by}")
    right.dataframe(percent_text(frame), column_config=columns, hide_index=True, width="stretch")
with st.expander("按导出文件中的原始类别、问题统计"):
    raw_left, raw_right = st.columns(2)
    for column, by, label in ((raw_left, "category_raw", "原始类别"), (raw_right, "problem_raw", "原始问题")):
        raw = top(key, filters, by)
        column.markdown(f"**{label}**")
        column.dataframe(raw[["name", "current", "share", "previous", "change"]], column_config=columns,
                         hide_index=True, width="stretch")

st.subheader("深入分析")
links = st.columns(4)
with links[0]:
    filter_page_link("pages/trends.py", label="趋势与促销：事件研究与预警", icon=":material/trending_up:")
with links[1]:
    filter_page_link("pages/browse.py", label="投诉明细：逐件查看", icon=":material/search:")
with links[2]:
    filter_page_link("pages/clusters.py", label="聚类探索：投诉在说什么", icon=":material/hub:")
with links[3]:
    filter_page_link("pages/sampling.py", label="抽检清单：建议抽检的商品", icon=":material/checklist:")

st.subheader("专项行动报表")
st.caption("统计表按《2017年网络市场监管专项行动情况统计表》1、2 的分类统计本期投诉件数（分区、分平台）；"
           "简报为可直接打印的单个 HTML 文件。个人信息均已脱敏。")
stamp = f"{filters.start:%Y%m%d}-{filters.end:%Y%m%d}"
if not user.can("report"):
    st.info("您的角色不能下载专项行动报表。")
    st.stop()
scope = {"period": stamp, "filters": report.describe_filters(filters)}
dl_left, dl_right = st.columns(2)
dl_left.download_button(
    "下载统计表（Excel）", data=auth.audited(
        "report_download", lambda: report.stat_workbook_bytes(get_store(), filters, made_by=user.label),
        report="统计表", **scope),
    file_name=f"投诉统计表_{stamp}.xlsx", icon=":material/table_view:", key="overview_xlsx",
    mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", on_click="ignore")
dl_right.download_button(
    "下载领导简报（HTML）", data=auth.audited(
        "report_download", lambda: report.briefing_html(get_store(), filters, made_by=user.label).encode("utf-8"),
        report="简报", **scope),
    file_name=f"投诉情况简报_{stamp}.html", mime="text/html", icon=":material/print:", key="overview_html",
    on_click="ignore")
