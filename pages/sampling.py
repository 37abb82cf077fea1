"""抽检清单: products ranked for quality sampling, with score breakdown, evidence and export."""

import streamlit as st

from analysis import plots, sampling
from analysis.errors import UserError
from ui import auth
from ui import sampling as ui
from ui.state import global_filters, open_page, store_key

user = auth.require("sampling")
store = open_page("抽检清单")
filters = global_filters(store)
key = store_key(store)
_, _, focus = sampling.domain()

with st.expander("抽检计划参数", expanded=True):
    c1, c2, c3, c4 = st.columns([1.2, 3, 1, 1])
    grain = c1.radio("汇总粒度", list(ui.GRAIN_LABELS), format_func=ui.GRAIN_LABELS.get, key="smp_grain")
    options = ui.category_options(store, key, tuple(focus))
    categories = c2.multiselect("商品类别（默认：方案重点商品）", options, default=list(focus), key="smp_categories",
                                placeholder="全部类别", select_all=False)
    top = c3.number_input("抽检对象数", 1, 500, 30, key="smp_top")
    min_count = c4.number_input("最少投诉量", 1, 1000, 3, key="smp_min_count")
    c5, c6, c7, c8 = st.columns([1, 1, 1, 3])
    min_quality = c5.number_input("最少质量安全类投诉", 0, 1000, 1, key="smp_min_quality")
    platform_quota = c6.number_input("每平台上限（0=不限）", 0, 500, 0, key="smp_platform_quota")
    category_quota = c7.number_input("每类别上限（0=不限）", 0, 500, 0, key="smp_category_quota")
    uploaded = c8.file_uploader("已抽检商品（排除）：CSV/Excel，须含「商品名称/品牌」列，可含「平台」「店铺/商家」",
                                help="把文件拖到框内，或点框内的按钮选择文件（按钮文字为浏览器组件自带）。",
                                type=["csv", "xlsx", "xls"], key="smp_exclude")
    discount = st.toggle("重复投诉合并计数", value=True, key="smp_discount",
                         help="同一投诉人就同一商品的模板化投诉只计一次（集体投诉全部计入）；见「重复与集体投诉」页")
    st.caption("优先级得分权重（自动归一化）：得分 = 100 × Σ 权重 × 分量 / Σ 权重")
    weight_cols = st.columns(4)
    defaults = sampling.Weights()
    weights = sampling.Weights(**{
        name: col.slider(label, 0.0, 1.0, getattr(defaults, name), 0.05, key=f"smp_w_{name}")
        for col, (name, label) in zip(weight_cols, ui.WEIGHT_LABELS.items())})

exclusions, upload_error = ui.read_upload(uploaded)
if upload_error:
    st.error(upload_error)
try:
    result = ui.scored(store, key, filters, grain, discount)
    cands = ui.candidates(store, key)
    plan = sampling.select_targets(
        result, categories=categories, top=int(top), min_count=int(min_count), min_quality=int(min_quality),
        platform_quota=int(platform_quota) or None, category_quota=int(category_quota) or None,
        exclusions=exclusions, candidates=cands, weights=weights)
except UserError as exc:
    st.error(str(exc))
    st.stop()

st.caption(f"评估期 {result.period[0]} 至 {result.period[1]}（环比基准 {result.previous[0]} 至 {result.previous[1]}），"
           f"共 {result.n_total:,} 件投诉、{len(result.units):,} 个商品单元；"
           f"信号方法：{result.fit.label if result.fit else '—'}")
for note in result.notes:
    st.info(note)
if exclusions is not None:
    st.caption(f"已按排除清单排除 {len(exclusions)} 条已抽检商品。")
if plan.empty:
    if len(result.units) and (result.units["category"] == "未分类").all():
        st.warning("投诉尚未完成分类（类别均为“未分类”）。请在「数据导入」页导入后完成分类，"
                   "或运行 `python -m analysis build`。")
    st.info("当前条件下没有符合要求的抽检对象。可放宽最少投诉量、选择更多类别，或在左侧调整时间范围。")
    st.stop()

st.subheader(f"建议抽检对象（{len(plan)} 个）")
event = st.dataframe(ui.display_table(plan), column_config=ui.COLUMN_CONFIG, hide_index=True, width="stretch",
                     on_select="rerun", selection_mode="single-row", key="smp_table")
rows = event.selection.rows if event is not None else []
chosen = plan.iloc[rows[0] if rows else 0]
st.caption("点击表格左侧选择一行，下方显示该对象的得分构成与证据。EB05 ≥ 2 或 PRR ≥ 2 且 χ² ≥ 4 且 ≥ 3 件即为信号。")

left, right = st.columns([3, 2])
left.plotly_chart(plots.score_breakdown_figure(plan, highlight=int(chosen["plan_rank"]), title="优先级得分构成"),
                  width="stretch", key="smp_breakdown")
with right:
    st.markdown(f"**{int(chosen['plan_rank'])}. 抽检理由**")
    st.text(chosen["reason"])
    ev = ui.evidence(store, key, filters, grain, int(chosen["uid"]), discount)
    st.markdown("**主要问题用语**")
    st.text("、".join(f"{t}（{n}）" for t, n in zip(ev.terms["term"], ev.terms["n"])) or "（暂无分词结果）")
    st.plotly_chart(plots.evidence_monthly_figure(ev.monthly, title="月度投诉"), width="stretch", key="smp_monthly")

st.subheader("证据")
tab_ex, tab_prob, tab_where = st.tabs(["代表性投诉（已脱敏）", "各问题类型的信号", "涉及平台与店铺"])
tab_ex.dataframe(ev.examples.rename(columns={"complaint_id": "投诉编号", "received_at": "登记时间",
                                             "problem": "问题类型", "merchant": "店铺", "text": "投诉内容"}),
                 hide_index=True, width="stretch")
tab_prob.dataframe(ui.problem_table(ev.problems), column_config=ui.PROBLEM_CONFIG, hide_index=True, width="stretch")
where_left, where_right = tab_where.columns(2)
where_left.dataframe(ev.platforms.rename(columns={"platform": "平台", "n": "投诉量", "n_qs": "质量安全类"}),
                     hide_index=True, width="stretch")
where_right.dataframe(ev.merchants.rename(columns={"merchant": "店铺/商家", "n": "投诉量", "n_qs": "质量安全类"}),
                      hide_index=True, width="stretch")

apart = sampling.unplaced_candidates(plan, cands)
if not cands.empty:
    with st.expander(f"聚类页推荐的候选商品（{len(cands)} 个，{len(cands) - len(apart)} 个已纳入清单）"):
        st.caption("候选先于评分排名纳入清单，计入抽检对象数和每平台、每类别上限；"
                   "超出上限或本期无投诉的候选不纳入，在下表标为「未纳入」。勾选后可移除。")
        picked = st.dataframe(ui.candidate_table(cands, apart), hide_index=True, width="stretch", key="smp_cands",
                              on_select="rerun", selection_mode="multi-row")
        rows_picked = picked.selection.rows if picked is not None else []
        if st.button("移除选中的候选", key="smp_cands_remove", disabled=not rows_picked):
            sampling.remove_candidates(store, cands.iloc[rows_picked])
            auth.audit("cluster_edit", action="remove_sampling_candidates", n=len(rows_picked))
            st.rerun()

st.subheader("导出抽检计划")
extra = {"抽检对象数": int(top), "类别": categories, "每平台上限": int(platform_quota) or "不限",
         "每类别上限": int(category_quota) or "不限", "最少投诉量": int(min_count),
         "最少质量安全类投诉": int(min_quality), "权重": weights.normalised(),
         "排除清单": uploaded.name if uploaded is not None else "无", "重复投诉合并计数": "是" if discount else "否",
         **ui.candidate_notes(plan, apart)}
stamp = ui.stamp(filters, result)
if not user.can("sampling_export"):
    st.info("您的角色不能导出抽检计划。")
    st.stop()
plan_scope = {"period": stamp, "targets": len(plan), **extra}
dl_left, dl_right = st.columns(2)
dl_left.download_button(
    "下载抽检计划（Excel）", data=auth.audited(
        "sampling_export", lambda: ui.export_files(store, key, filters, grain, plan, extra, discount, user.label)[0],
        format="xlsx", **plan_scope),
    file_name=f"抽检计划_{stamp}.xlsx", icon=":material/download:", key="smp_xlsx", on_click="ignore",
    mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
dl_right.download_button(
    "下载抽检计划（CSV）", data=auth.audited(
        "sampling_export", lambda: ui.export_files(store, key, filters, grain, plan, extra, discount, user.label)[1],
        format="csv", **plan_scope),
    file_name=f"抽检计划_{stamp}.csv", mime="text/csv", icon=":material/description:", key="smp_csv", on_click="ignore")
st.caption("导出文件含「说明」页（导出人、数据指纹、参数、时间）；投诉人个人信息已脱敏，单元格不会被当作公式执行。")
