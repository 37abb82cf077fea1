"""Complaint Radar (投诉雷达): routes only. Each page lives in pages/."""

import streamlit as st

st.set_page_config(page_title="投诉雷达", page_icon="📡", layout="wide")

pages = {
    "概览": [
        st.Page("pages/overview.py", title="总览", icon="📊", default=True),
        st.Page("pages/trends.py", title="趋势与促销", icon="📈"),
    ],
    "分析": [
        st.Page("pages/browse.py", title="投诉明细", icon="🔎"),
        st.Page("pages/clusters.py", title="聚类探索", icon="🧩"),
        st.Page("pages/sampling.py", title="抽检清单", icon="🎯"),
    ],
    "数据": [
        st.Page("pages/data_import.py", title="数据导入", icon="📥"),
    ],
}

st.navigation(pages).run()
