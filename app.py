"""Complaint Radar (投诉雷达): routes only. Each page lives in pages/; ui.auth says who may open which."""

from pathlib import Path

import streamlit as st

from ui import auth

# An emoji favicon is drawn by the browser (a data: URL); a :material/…: icon would be fetched from
# fonts.gstatic.com, which fails offline (issue 15 item 14).
st.set_page_config(page_title="投诉雷达", page_icon="📡", layout="wide")

user = auth.gate()  # before sign-in: only the 登录 prompt; a non-local server without [auth]: refused
auth.account_sidebar(user)


def page(path: str, title: str, icon: str, **options) -> st.Page:
    """A page, left out of the navigation when the user's roles may not use it (its file stem)."""
    return st.Page(path, title=title, icon=icon, visibility=auth.visibility(user, Path(path).stem), **options)


pages = {
    "概览": [
        page("pages/overview.py", "总览", ":material/dashboard:", default=True),
        page("pages/trends.py", "趋势与促销", ":material/trending_up:"),
    ],
    "分析": [
        page("pages/browse.py", "投诉明细", ":material/search:"),
        page("pages/clusters.py", "聚类探索", ":material/hub:"),
        page("pages/sampling.py", "抽检清单", ":material/checklist:"),
        page("pages/repeats.py", "重复与集体投诉", ":material/group_work:"),
    ],
    "数据": [
        page("pages/data_import.py", "数据导入", ":material/upload_file:"),
        page("pages/models.py", "模型管理", ":material/model_training:"),
        page("pages/audit.py", "审计日志", ":material/policy:"),
    ],
}

st.navigation(pages).run()
