"""审计日志 (管理员): who did what and when — filter by period, user and action; download."""

import datetime as dt

import streamlit as st

from analysis import audit, export
from analysis.errors import UserError
from ui import auth
from ui.state import get_store

SHOWN = 2000

auth.require("audit")
st.title("审计日志")
st.caption("登录、数据导入、模型训练与启用、聚类编辑、抽检计划导出、报表下载、查看未脱敏联系方式和越权访问都记录在此，"
           "只增不改。参数中的个人信息已脱敏。命令行：`python -m analysis audit --from 日期 --to 日期 [--json]`。")
try:
    store = get_store()
except UserError as exc:
    st.error(str(exc))
    st.stop()

today = dt.date.today()
c1, c2, c3 = st.columns([2, 2, 3])
period = c1.date_input("时间范围", value=(today - dt.timedelta(days=29), today), max_value=today,
                       format="YYYY-MM-DD", key="aud_period")
users = c2.multiselect("用户", audit.users(store), key="aud_users", placeholder="全部用户",
                      select_all=False)
actions = c3.multiselect("操作", list(audit.ACTIONS), format_func=audit.ACTIONS.get, key="aud_actions",
                         placeholder="全部操作", select_all=False)
if isinstance(period, (tuple, list)):  # a range picked half-way is its first day
    start, end = (period[0], period[-1]) if period else (None, None)
else:
    start = end = period

log = audit.read(store, start=start, end=end, users=users, actions=actions)
if log.empty:
    st.info("所选时间范围和条件下没有审计记录。")
    st.stop()
table = audit.display_frame(log)
st.caption(f"共 {len(table):,} 条记录（新的在前）" + (f"，下表显示最近 {SHOWN:,} 条，下载文件包含全部。" if len(table) > SHOWN else "。"))
st.dataframe(table.head(SHOWN), hide_index=True, width="stretch", key="aud_table", column_config={
    "时间": st.column_config.DatetimeColumn("时间", format="YYYY-MM-DD HH:mm:ss"),
    "参数": st.column_config.TextColumn("参数", width="large")})

stamp = f"{start:%Y%m%d}-{end:%Y%m%d}" if start else "全部"
scope = {"period": stamp, "users": users, "actions": actions, "rows": len(table)}
left, right = st.columns(2)
left.download_button(
    "下载审计日志（Excel）", data=auth.audited("audit_export", lambda: export.to_xlsx_bytes({"审计日志": table}),
                                         format="xlsx", **scope),
    file_name=f"审计日志_{stamp}.xlsx", icon=":material/download:", key="aud_xlsx", on_click="ignore",
    mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
right.download_button(
    "下载审计日志（CSV）", data=auth.audited("audit_export", lambda: export.to_csv_bytes(table), format="csv", **scope),
    file_name=f"审计日志_{stamp}.csv", mime="text/csv", icon=":material/description:", key="aud_csv",
    on_click="ignore")
