"""Complaint Radar (投诉雷达): routes only. Each page lives in pages/."""

import streamlit as st

st.set_page_config(page_title="投诉雷达", page_icon=":material/radar:", layout="wide")

pages = {
    "概览": [
        st.Page("pages/overview.py", title="总览", icon=":material/dashboard:", default=True),
        st.Page("pages/trends.py", title="趋势与促销", icon=":material/trending_up:"),
    ],
    "分析": [
        st.Page("pages/browse.py", title="投诉明细", icon=":material/search:"),
        st.Page("pages/clusters.py", title="聚类探索", icon=":material/hub:"),
        st.Page("pages/sampling.py", title="抽检清单", icon=":material/checklist:"),
        st.Page("pages/repeats.py", title="重复与集体投诉", icon=":material/group_work:"),
    ],
    "数据": [
        st.Page("pages/data_import.py", title="数据导入", icon=":material/upload_file:"),
    ],
}

st.navigation(pages).run()
