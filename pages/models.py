"""模型管理 (管理员): the category model's versions — train, preview the change, activate, roll back."""

import pandas as pd
import streamlit as st

from analysis import models
from analysis.errors import UserError
from ui import auth
from ui import models as ui
from ui.state import get_tokenizer, open_page, store_key

user = auth.require("models")
store = open_page("模型管理")
key = store_key(store)
st.caption("新导入的投诉由当前启用的模型版本分类；已有投诉的类别只在启用另一个版本时改变。"
           "命令行：`python -m analysis model list | train | diff 版本 | activate 版本 | rollback`。")

stale = ui.staleness(key)
if stale["out_of_date"]:
    changed = "、".join(n for n, f in (("分类目录", stale["taxonomy_changed"]), ("词典", stale["dictionary_changed"])) if f)
    st.warning(f"{changed}在当前模型（版本 {stale['active']}）训练后已修改，模型已过时；已有投诉不会自动重新分类。"
               "可训练新版本，预览变化后再启用。")
table = ui.versions(key)
if table.empty:
    st.info("还没有分类模型版本，新投诉按关键词规则分类。导入带“投诉类别”列的数据后可训练模型。")
else:
    st.dataframe(table, hide_index=True, width="stretch", key="mdl_table")
    current = models.active(store)
    if current is not None and current.cv_f1:
        st.caption(f"当前版本 {current.version} 各类别交叉验证 F1（模型自身的分折）：")
        st.dataframe(pd.DataFrame({"类别": list(current.cv_f1), "F1": list(current.cv_f1.values())}),
                     hide_index=True, key="mdl_f1")

if st.button("训练新版本", key="mdl_train", help="用已导入投诉中的类别标签训练，训练后不会自动启用"):
    try:
        with st.spinner("正在训练分类模型…"):
            made = models.train(store, tokenizer=get_tokenizer(), user=user.id)
        st.success(f"已训练版本 {made.version}（训练样本 {made.n_train:,} 条）。请先预览变化再启用。")
        st.cache_data.clear()
    except UserError as exc:
        st.error(str(exc))

numbers = table["版本"].tolist() if not table.empty else []
if numbers:
    version = st.selectbox("版本", numbers, key="mdl_version")
    summary = ui.diff(key, int(version))
    st.write(f"启用版本 {version} 将改变 {summary['changed']:,} 件投诉的类别（共 {summary['complaints']:,} 件）。")
    if summary["table"]:
        st.dataframe(pd.DataFrame(summary["table"]).rename(columns={"from": "原类别", "to": "新类别", "n": "件数"}),
                     hide_index=True, key="mdl_diff")
        st.caption("示例投诉编号：" + "，".join(summary["examples"]))
    c1, c2 = st.columns(2)
    if c1.button(f"启用版本 {version}", key="mdl_activate", type="primary"):
        bar = st.progress(0.0, text="正在重新分类…")
        models.activate(store, int(version), tokenizer=get_tokenizer(), user=user.id,
                        progress=lambda d, t: bar.progress(d / max(t, 1), text=f"正在重新分类 {d:,}/{t:,}"))
        st.cache_data.clear()
        st.rerun()
    if c2.button("回退到上一版本", key="mdl_rollback"):
        try:
            models.rollback(store, tokenizer=get_tokenizer(), user=user.id)
            st.cache_data.clear()
            st.rerun()
        except UserError as exc:
            st.error(str(exc))
