"""趋势与促销: complaint trends with promotion bands and surge alarms; promotion event studies."""

import streamlit as st

from analysis import plots, trends
from analysis.errors import UserError
from analysis.privacy import escape_markdown
from ui import auth
from ui import repeats as repeats_ui
from ui import trends as ui
from ui.state import global_filters, open_page, store_key

auth.require("trends")
store = open_page("趋势与促销")
filters = global_filters(store)
key = store_key(store)
try:
    calendar = ui.calendar()
except UserError as exc:
    st.error(str(exc))
    st.stop()
first, last = store.date_range()
if first is None:
    st.info("数据库中的投诉都没有登记时间，无法统计趋势。请检查导入时「登记时间」列的对应关系。")
    st.stop()
run = ui.latest_cluster_run(store, key)
lens_codes = [c for c in ui.LENSES if c != "cluster" or run]
promo_default = calendar.names[0]  # the first promotion of data/promotions.csv
cal_years = calendar.years()
state, rejected = ui.sync_choices({
    "t_preset": (list(ui.PRESETS), "sidebar"), "t_int": (list(ui.INTERVALS), "W"),
    "t_lens": (lens_codes, "none"), "t_alarm": (list(ui.METHODS), "ewma"),
    "t_promo": (calendar.names, promo_default),
    "t_year": (cal_years, ui.default_year(calendar, promo_default, first, last)),
})
ui.write_url(state)
if rejected:
    st.warning(f"链接中的参数 {escape_markdown('、'.join(rejected))} 无效（例如促销日历只覆盖 {cal_years[0]}—{cal_years[-1]} 年），"
               "已改用默认值。")

c1, c2, c3, c4 = st.columns([1.4, 1.2, 1.4, 1.6])
c1.selectbox("时间范围", list(ui.PRESETS), format_func=ui.PRESETS.get, key="w_t_preset",
             on_change=ui.remember, args=("t_preset",), help="近N个月从数据的最后一天往前数；「侧栏时间范围」沿用左侧筛选")
c2.radio("时间粒度", list(ui.INTERVALS), format_func=ui.INTERVALS.get, key="w_t_int", horizontal=True,
         on_change=ui.remember, args=("t_int",))
c3.selectbox("分组维度", lens_codes, format_func=ui.LENSES.get, key="w_t_lens", on_change=ui.remember,
             args=("t_lens",), help="按维度拆分时保留投诉最多的 8 项，其余合并为「其他」")
c4.selectbox("突增预警方法", list(ui.METHODS), format_func=ui.METHODS.get, key="w_t_alarm",
             on_change=ui.remember, args=("t_alarm",), help=ui.METHOD_HELP)

start, end = ui.preset_period(state["t_preset"], filters, first, last)
view = filters.replace(start=start, end=end)
freq, lens = state["t_int"], None if state["t_lens"] == "none" else state["t_lens"]
run_id, labels = (run["run_id"], run["labels"]) if lens == "cluster" and run else (None, ())
try:
    series = ui.series(store, key, view, freq, lens, run_id, labels)
except UserError as exc:
    st.error(str(exc))
    st.stop()
st.caption(f"时间范围：{start} 至 {end}（{ui.PRESETS[state['t_preset']]}；数据截至 {last}）"
           + (f"；聚类取最近一次聚类结果（{run['scope']}）" if run_id else ""))
total = int(series["count"].sum()) if len(series) else 0
if total == 0:
    st.info("所选时间范围和筛选条件下没有投诉数据。请放宽左侧筛选，或换一个时间范围。")
elif series.attrs["start"] == series.attrs["end"]:
    st.info(f"所选范围只有一天（{series.attrs['start']}）的数据，共 {total:,} 件，画不出趋势。请选择更长的时间范围。")
else:
    found = ui.alarms(store, key, view, freq, lens, state["t_alarm"], run_id, labels) if freq != "M" else None
    bands = calendar.overlapping(series.attrs["start"], series.attrs["end"])
    st.plotly_chart(plots.trend_figure(series, promotions=bands, alarms=found), width="stretch", key="tr_trend",
                    config=plots.png_config(ui.file_stem("投诉趋势", start, end, ui.INTERVALS[freq])))
    notes = ["橙色底纹为促销主窗口", "红色三角为突增预警"]
    if series["is_partial"].any():
        notes.append("虚线空心点为只覆盖部分天数的周期（如尚未结束的本周/本月），不代表投诉下降")
    if not (cal_years[0] <= series.attrs["start"].year and series.attrs["end"].year <= cal_years[-1]):
        notes.append(f"促销日历只覆盖 {cal_years[0]}—{cal_years[-1]} 年，其余年份没有促销底纹")
    st.caption("；".join(notes) + "。点击图右上角的相机按钮可下载 PNG。")
    if lens:
        with st.expander("分组小图（便于比较形状）", expanded=False):
            st.plotly_chart(plots.small_multiples(series, promotions=bands), width="stretch", key="tr_multiples",
                            config=plots.png_config(ui.file_stem("分组趋势", ui.LENSES[lens], start, end)))
    st.markdown(f"#### 突增预警（{ui.METHODS[state['t_alarm']]}）")
    if found is None:
        st.info("按月的序列不做突增预警；请把时间粒度切换为「日」或「周」。")
    elif found.empty:
        st.success("所选范围内没有触发突增预警。")
    else:
        st.dataframe(ui.alarm_table(found, freq), hide_index=True, width="stretch", key="tr_alarms")
    repeats_ui.group_notice(store, key, view)
    st.caption(ui.METHOD_HELP)

st.subheader("促销期事件研究")
p1, p2 = st.columns(2)
p1.selectbox("促销", calendar.names, key="w_t_promo", on_change=ui.remember, args=("t_promo",))
p2.selectbox("年份", cal_years, key="w_t_year", on_change=ui.remember, args=("t_year",),
             help=f"促销日历覆盖 {cal_years[0]}—{cal_years[-1]} 年，可在 data/promotions.csv 中补充")
promo, year = state["t_promo"], state["t_year"]
dims = filters.replace(start=None, end=None)
try:
    study = ui.study(store, key, calendar, ui.calendar_key(calendar), dims, promo, year)
except UserError as exc:
    st.error(str(exc))
    st.stop()
st.markdown(ui.sentence(trends.describe_event(study)))
st.caption("事件研究使用促销日历中的主窗口，不受时间范围影响；类别、平台、区筛选仍然适用。"
           + (f"方法：{study.method}" if study.method else ""))
if study.lift is not None:
    bars = trends.lift_frame(study, dimension="category")
    left, right = st.columns([1, 1])
    left.plotly_chart(plots.lift_bars(bars, title="较基线变化（全部与主要增长类别）"), width="stretch",
                      key="tr_lift", config=plots.png_config(ui.file_stem(year, promo, "增幅")))
    right.dataframe(ui.driver_table(study.drivers, with_baseline=True), hide_index=True, width="stretch",
                    key="tr_drivers", column_config={"占总增量": st.column_config.NumberColumn(format="%d%%")})
elif study.count:
    st.dataframe(ui.driver_table(study.drivers, with_baseline=False), hide_index=True, width="stretch",
                 key="tr_drivers")

years = tuple(y for y in (year - 2, year - 1, year) if y in calendar.years(promo))
overlay = ui.overlay(store, key, calendar, ui.calendar_key(calendar), dims, promo, years)
if overlay["count"].notna().any():
    st.markdown(f"#### 历年{promo}前后对比（促销日前后 20 天）")
    st.plotly_chart(plots.yoy_figure(overlay, promotion=promo), width="stretch", key="tr_yoy",
                    config=plots.png_config(ui.file_stem(promo, "历年对比", *overlay["year"].unique())))
    st.caption("各年按促销日对齐（D 为促销日）；没有数据的日子不画线。")
