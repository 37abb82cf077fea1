"""重复与集体投诉: repeat complainants (masked), template complaints, group complaints, handling figures."""

import streamlit as st

from analysis import plots
from analysis.errors import UserError
from ui import repeats as ui
from ui.state import global_filters, open_page, store_key

store = open_page("重复与集体投诉")
filters = global_filters(store)
key = store_key(store)
st.caption(f"统计时段：{filters.start} 至 {filters.end}。{ui.EXPLAIN}")
try:
    data = ui.summary(store, key, filters)
except UserError as exc:
    st.error(str(exc))
    st.stop()
people, groups, templates, discounted = data["people"], data["groups"], data["templates"], data["discounted"]

flagged = int((people["flag"] != "").sum()) if len(people) else 0
cards = st.columns(4)
cards[0].metric("多次投诉的投诉人", f"{len(people):,}", help="本期投诉 2 件及以上", border=True)
cards[1].metric("需进一步核实", f"{flagged:,}", help="投诉 ≥ 5 件且得分 ≥ 50", border=True)
cards[2].metric("集体投诉", f"{len(groups):,}", help="同一商家 14 天内 ≥ 10 名不同投诉人、文本相近", border=True)
cards[3].metric("合并计数少计", f"{int(discounted['discounted'].sum()):,} 件",
                help="抽检优先级和突增预警中，同一投诉人就同一商品的模板化投诉只计一次", border=True)

tab_people, tab_groups, tab_templates, tab_handling = st.tabs(["重复投诉人", "集体投诉", "模板化投诉", "办理情况"])

with tab_people:
    if people.empty:
        st.info("本期没有投诉 2 件及以上的投诉人（或导出数据中没有投诉人电话、证件号）。")
    else:
        st.plotly_chart(plots.complainant_scatter(people), width="stretch", key="rp_scatter")
        event = st.dataframe(ui.people_table(people), column_config=ui.PEOPLE_CONFIG, hide_index=True,
                             width="stretch", on_select="rerun", selection_mode="single-row", key="rp_people")
        picked = list(getattr(getattr(event, "selection", None), "rows", []) or [])
        wanted = st.query_params.get(ui.Q_PERSON)
        linked = people.index[people["key"] == wanted]
        row = picked[0] if picked else (int(linked[0]) if len(linked) else 0)
        person = people.iloc[row]
        st.markdown(f"**{person['key']}（{person['phone_masked'] or '无电话'}）的投诉**"
                    + (f" — {person['flag']}" if person["flag"] else ""))
        st.caption("点击上表的一行查看该投诉人的投诉；地址栏加 ?complainant=投诉人编号 可直接打开（编号为加盐哈希，不含个人信息）。"
                   "「计入统计」为“合并”的投诉在抽检优先级和突增预警中不重复计数。")
        st.dataframe(ui.complaint_table(ui.person_complaints(store, key, filters, person["key"])),
                     hide_index=True, width="stretch", key="rp_person_complaints")

with tab_groups:
    if groups.empty:
        st.info("本期没有集体投诉。")
    else:
        event = st.dataframe(ui.group_table(groups), hide_index=True, width="stretch", on_select="rerun",
                             selection_mode="single-row", key="rp_groups")
        picked = list(getattr(getattr(event, "selection", None), "rows", []) or [])
        group = groups.iloc[picked[0] if picked else 0]
        found = ui.members(store, key, tuple(group["complaint_ids"]))
        left, right = st.columns([2, 3])
        left.plotly_chart(plots.group_days_figure(found, title="每日投诉"), width="stretch", key="rp_group_days")
        with right:
            st.markdown("**代表性投诉（已脱敏）**")
            st.text(group["text"])
        st.dataframe(ui.complaint_table(found), hide_index=True, width="stretch", key="rp_group_complaints")

with tab_templates:
    st.caption("模板化投诉：去掉个人信息、数字、日期、金额和订单号后，字符片段的 Jaccard 相似度 ≥ 0.7 的投诉归为同一模板。")
    if templates.empty:
        st.info("本期没有模板化投诉。")
    else:
        st.dataframe(ui.template_table(templates), hide_index=True, width="stretch", key="rp_templates")
    if not discounted.empty:
        st.markdown("**合并计数的商品（抽检优先级与突增预警中少计的件数）**")
        st.dataframe(discounted.rename(columns={"category": "类别", "product": "商品/品牌", "platform": "平台",
                                                "complainants": "投诉人数", "discounted": "少计件数"}),
                     hide_index=True, width="stretch", key="rp_discounted")

with tab_handling:
    overall = ui.handling_figures(store, key, filters, None)
    note = ui.missing_note(overall)
    if note:
        st.caption(note)
    metrics = ui.handling_metrics(overall)
    for column, (label, value, help_text) in zip(st.columns(max(len(metrics), 1)), metrics):
        column.metric(label, value, help=help_text, border=True)
    if overall.attrs["unmapped"]:
        st.caption("未识别的处理状态（不计入比率，可在 data/schema/status_values.csv 中补充）："
                   + "、".join(f"{v}（{n}）" for v, n in overall.attrs["unmapped"].items()))
    if metrics:
        by = st.radio("分组", list(ui.BY_LABELS), format_func=ui.BY_LABELS.get, horizontal=True, key="rp_by")
        per = ui.handling_figures(store, key, filters, by)
        st.plotly_chart(plots.handling_rates_figure(per), width="stretch", key="rp_handling")
        st.dataframe(ui.handling_table(per, by), hide_index=True, width="stretch", key="rp_handling_table")
    mix = ui.channels(store, key, filters)
    if not mix.empty:
        st.markdown("**投诉渠道构成**")
        st.plotly_chart(plots.channel_mix_figure(mix), width="stretch", key="rp_channels")
