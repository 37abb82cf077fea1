"""聚类探索: what people complain about, grouped within a category × platform scope."""

import streamlit as st

from analysis.cluster import MISC_ID, ClusterScope
from analysis.errors import UserError
from analysis.privacy import escape_markdown
from ui import auth
from ui import clusters as ui
from ui.state import global_filters, open_page, store_key, url_index, write_url_params

ALL_CATEGORIES, ALL_PLATFORMS, AUTO = "全部类别", "全部平台", "自动"

auth.require("clusters")
store = open_page("聚类探索")
filters = global_filters(store)
key = store_key(store)
ui.show_flash()

opts = ui.scope_options(store, key)
c1, c2, c3, c4 = st.columns([2, 2, 1.6, 1])
default_cat = filters.categories[0] if len(filters.categories) == 1 else ALL_CATEGORIES
default_plat = filters.platforms[0] if len(filters.platforms) == 1 else ALL_PLATFORMS
cats, plats = [ALL_CATEGORIES, *opts["categories"]], [ALL_PLATFORMS, *opts["platforms"]]
category = c1.selectbox("类别", cats, key="cl_category",
                        index=url_index("cl_cat", cats, cats.index(default_cat) if default_cat in cats else 0))
platform = c2.selectbox("平台", plats, key="cl_platform",
                        index=url_index("cl_plat", plats, plats.index(default_plat) if default_plat in plats else 0))
method = c3.selectbox("聚类方法", list(ui.METHODS), format_func=ui.METHODS.get, key="cl_method",
                      index=url_index("cl_method", list(ui.METHODS)),
                      help="k-means：每条投诉归入最近的聚类；HDBSCAN：按密度找聚类，聚类数由数据决定，"
                           "稀疏的投诉作为噪声归入杂项")
k_choice = c4.selectbox("聚类数", [AUTO, *range(2, 31)], key="cl_k", disabled=method != "kmeans",
                        index=url_index("cl_k", [AUTO, *range(2, 31)]),
                        help="k-means 的聚类数；自动：按轮廓系数在样本上选择")
clusterer = ui.clusterer(method, None if k_choice == AUTO else int(k_choice))
write_url_params(cl_cat=None if category == ALL_CATEGORIES else category,  # a shared link shows this scope
                 cl_plat=None if platform == ALL_PLATFORMS else platform,
                 cl_method=None if method == list(ui.METHODS)[0] else method, cl_k=None if k_choice == AUTO else k_choice)
start, end = ui.open_period(filters.start, filters.end, opts)
scope = ClusterScope(category=None if category == ALL_CATEGORIES else category,
                     platform=None if platform == ALL_PLATFORMS else platform, start=start, end=end)
st.caption(f"聚类范围：{scope.describe()}（时间范围取自左侧全局筛选；所属区筛选不参与聚类）")

try:
    data = ui.view(store, key, scope, clusterer)
except UserError as exc:
    st.error(str(exc))
    st.stop()
if data["too_few"]:
    st.warning(data["message"])
    st.stop()
if data["message"]:
    st.info(data["message"])
for note in data["notes"]:
    st.info(note)
if st.button("重新聚类", key="cl_recluster",
             help="沿用的聚类不随新导入的投诉改变（新投诉归入最接近的聚类）；重新聚类后，"
                  "与旧聚类匹配的新聚类继承原来的名称、合并和隐藏"):
    ui.recluster(store, scope, clusterer)

table = data["table"]
m1, m2, m3, m4 = st.columns(4)
m1.metric("投诉数", f"{data['n_complaints']:,}", border=True)
m2.metric("聚类数", data["n_clusters"], help=data["method"], border=True)
m3.metric("杂项", f"{data['misc'] / data['n_complaints']:.1%}", border=True,
          help="太小、不够紧密、没有可用词语，或被 HDBSCAN 视为噪声的投诉")
m4.metric("隐藏的聚类", len(data["hidden"]), border=True)
show_hidden = st.toggle("显示已隐藏的聚类", key="cl_show_hidden")
figs = ui.figures(store, key, scope, clusterer, show_hidden)

tab_table, tab_map, tab_platform, tab_time = st.tabs(["聚类列表", "聚类地图", "平台分布", "时间趋势"])
with tab_table:
    window = data["window"]
    if window:
        st.caption(f"增长：{window['latest_start']} 至 {window['latest_end']} 与此前 {ui.GROWTH_DAYS} 天相比。")
    st.dataframe(ui.display_table(table, show_hidden=show_hidden), column_config=ui.TABLE_COLUMNS,
                 hide_index=True, width="stretch", key="cl_table")
with tab_map:
    st.caption("每个点是一条投诉（最多抽样 4000 条）。相近的聚类排得近，点在聚类内的散布反映文本差异；"
               "悬停可看脱敏后的投诉片段。")
    st.plotly_chart(figs["map"], width="stretch", key="cl_map")
with tab_platform:
    st.plotly_chart(figs["platforms"], width="stretch", key="cl_platforms")
    st.plotly_chart(figs["categories"], width="stretch", key="cl_categories")
with tab_time:
    st.plotly_chart(figs["time"], width="stretch", key="cl_time")

st.subheader("聚类详情")
choices = ui.cluster_choices(table, show_hidden=show_hidden)
ui.keep_selection(table, choices, "cl_selected")
selected = st.selectbox("选择聚类", list(choices), format_func=choices.get, key="cl_selected")
ui.remember_selection(table, selected, "cl_selected")
if selected is not None:
    row = table.set_index("cluster_id").loc[selected]
    st.markdown(f"**关键词**：{escape_markdown(' · '.join(row['label_terms'])) or '—'}")
    d1, d2, d3 = st.columns(3)
    d1.caption(f"主要商品：{escape_markdown(row['products']) or '—'}")  # masked in ui.clusters.view
    d2.caption(f"主要品牌：{escape_markdown(row['brands']) or '—'}")
    d3.caption(f"主要商家：{escape_markdown(row['merchants']) or '—'}")
    st.dataframe(ui.members(store, key, scope, clusterer, selected), hide_index=True, width="stretch",
                 key="cl_members", column_order=ui.MEMBER_COLUMNS, column_config={
                     "complaint_id": "投诉编号", "received_at": "登记时间", "platform_norm": "平台",
                     "category": "类别", "product": "商品", "merchant": "被投诉方", "problem": "问题类型",
                     "text": st.column_config.TextColumn("投诉内容（已脱敏）", width="large"),
                     "representative": st.column_config.CheckboxColumn("代表投诉")})
    try:
        if selected != MISC_ID:
            e1, e2 = st.columns(2)
            name = e1.text_input("新名称", key="cl_rename_text", placeholder=row["label"])
            if e1.button("重命名", key="cl_rename"):
                ui.apply_edit(store, scope, clusterer, "rename", selected, name)
            others = {t: c for c, t in ui.cluster_choices(table, show_hidden=True).items()
                      if c not in (selected, MISC_ID)}
            sources = e2.multiselect("并入本聚类", list(others), key="cl_merge_sources",
                                     placeholder="选择要并入的聚类")
            if e2.button("合并", key="cl_merge", disabled=not sources):
                ui.apply_edit(store, scope, clusterer, "merge", selected, [others[t] for t in sources])
            b1, b2, b3 = st.columns(3)
            hidden = bool(row["hidden"])
            if b1.button("恢复显示" if hidden else "隐藏此聚类", key="cl_hide"):
                ui.apply_edit(store, scope, clusterer, "show" if hidden else "hide", selected)
            if b2.button("加入抽检候选清单", key="cl_sample", type="primary"):
                ui.apply_edit(store, scope, clusterer, "sample", selected)
            if b3.button("清除本范围的全部编辑", key="cl_reset"):
                ui.apply_edit(store, scope, clusterer, "reset")
        else:
            st.caption("「杂项」收集太小或不够紧密的投诉（以及 HDBSCAN 的噪声），不能编辑。")
    except UserError as exc:
        st.error(str(exc))
