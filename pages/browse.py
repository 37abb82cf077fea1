"""投诉明细: search and read complaints, and see why each got its category and problem type."""

import math

import streamlit as st

from analysis import complaint_list
from analysis.errors import UserError
from analysis.privacy import escape_markdown
from analysis.taxonomy import load_taxonomy
from ui import auth
from ui import browse as ui
from ui.state import global_filters, open_page, store_key, undated_count, with_undated, write_url_params

PAGE_SIZES = (20, 50, 100)

auth.require("browse")
store = open_page("投诉明细")
filters = global_filters(store)
key = store_key(store)
undated, filters = undated_count(store), with_undated(filters, store)  # undated rows are kept for the whole period

c1, c2 = st.columns([3, 2])
query = c1.text_input(
    "关键词", value=st.query_params.get("q", ""), key="br_query", placeholder="例如：漏电 AND 热水壶 NOT 退款",
    help="空格或 AND 表示同时包含，OR 表示任一，NOT 或 -词 表示排除，可用括号分组。"
         "关键词在标题、正文（按分词，不分大小写和全角半角，“热水壶”也能找到“电热水壶”）和商品名称中查找；"
         "加引号 \"…\" 则按原文逐字查找。",
)
write_url_params(q=query.strip())  # a shared link repeats the search
problem_opts = ui.problem_options(store, key)
problems = c2.multiselect("问题类型", problem_opts, key="br_problems", placeholder="全部问题类型",
                          select_all=False)
c3, c4, c5 = st.columns([2, 1, 1])
quality = load_taxonomy().quality_safety_problems
quality_only = c3.toggle("只看质量安全类问题", key="br_quality", help="、".join(quality))
if quality_only:
    problems = [p for p in problems if p in quality] or list(quality)
page_size = c4.selectbox("每页条数", PAGE_SIZES, index=1, key="br_page_size")

try:
    first = ui.run_search(store, key, query, filters, tuple(problems), 1, page_size)
except UserError as exc:
    st.error(str(exc))
    st.stop()
total = first["total"]
pages = max(1, math.ceil(total / page_size))
if st.session_state.get("br_page", 1) > pages:
    st.session_state["br_page"] = pages  # fewer pages after a narrower search
page = int(c5.number_input(f"页码（共 {pages} 页）", min_value=1, max_value=pages, value=1, step=1,
                           key="br_page"))
result = first if page == 1 else ui.run_search(store, key, query, filters, tuple(problems), page, page_size)
rows = result["rows"]

undated_note = ("" if not undated else f"数据中有无日期投诉 {undated:,} 件，时间范围为全部时一并列出（登记时间显示 —）。"
                if filters.start is None else f"另有无日期投诉 {undated:,} 件，时间范围选全部时才列出。")
st.caption(f"共 {total:,} 条投诉符合条件" + (f"，当前第 {page}/{pages} 页。" if total else "。")
           + "文本中的电话、证件号、姓名和详细地址已脱敏。" + undated_note)
if rows.empty:
    st.info(escape_markdown(result.get("reason") or "没有符合条件的投诉。可以放宽关键词、问题类型或左侧的全局筛选。"))
    st.stop()

shown_ids = tuple(rows["complaint_id"])
if st.session_state.get("_br_shown") != shown_ids:  # a new search, page or filter: the picker starts afresh
    st.session_state["_br_shown"] = shown_ids
    st.session_state["br_selected"] = rows.index[0]
event = st.dataframe(ui.display_table(rows), column_config=ui.table_columns(), hide_index=True,
                     width="stretch", key="br_table", on_select="rerun", selection_mode="single-row")
chosen = list(getattr(getattr(event, "selection", None), "rows", []) or [])
if chosen and st.session_state.get("_br_clicked") != (query, page, chosen[0]):
    st.session_state["_br_clicked"] = (query, page, chosen[0])  # a click in the table picks the detail
    st.session_state["br_selected"] = rows.index[chosen[0]]

st.subheader("投诉详情")
st.caption("点击表格中的一行，或在下面选择一条投诉。")
labels = {i: ui.choice_label(row) for i, row in rows.iterrows()}
picked = st.selectbox("选择一条投诉", list(labels), format_func=labels.get, key="br_selected")
if picked is None or picked not in rows.index:
    picked = rows.index[0]
row = rows.loc[picked]
left, right = st.columns([3, 2])
with left:
    if isinstance(row.get("title"), str) and row["title"].strip():
        st.markdown(f"**标题：** {escape_markdown(row['title'])}")
    st.markdown(ui.highlight_markdown(row["text"], ui.highlight_terms(row, result["terms"])))
    st.caption(ui.meta_line(row))
with right:
    with st.container(border=True):
        st.markdown("#### 为什么这样分类")
        for line in ui.explanation(row):
            st.markdown(line)
    auth.unmasked_contact(store, row["complaint_id"])

st.subheader("下载投诉清单")
list_total = complaint_list.count(store, filters, problems=tuple(problems))
st.caption(f"按左侧全局筛选和所选问题类型（关键词不参与）共 {list_total:,} 件：投诉编号、登记时间、类别、问题类型、平台、"
           "严重程度、聚类标签和脱敏后的投诉内容；单元格不会被当作公式执行。")
if (note := complaint_list.cap_message(list_total)) is not None:
    st.warning(note)
scope = {"start": str(filters.start or ""), "end": str(filters.end or ""), "complaints": list_total}
d1, d2 = st.columns(2)
d1.download_button("下载投诉清单（Excel）", data=auth.audited(
    "complaint_export", lambda: ui.complaint_list_file(store, key, filters, tuple(problems), "xlsx"),
    format="xlsx", **scope), file_name="投诉清单.xlsx", key="br_list_xlsx", on_click="ignore",
    mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", icon=":material/download:")
d2.download_button("下载投诉清单（CSV）", data=auth.audited(
    "complaint_export", lambda: ui.complaint_list_file(store, key, filters, tuple(problems), "csv"),
    format="csv", **scope), file_name="投诉清单.csv", key="br_list_csv", on_click="ignore", mime="text/csv",
    icon=":material/description:")
