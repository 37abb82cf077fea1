"""数据导入: upload → preview → column mapping → import with progress → result and quarantine → history."""

import streamlit as st

from analysis import engine, enrich, ingest, privacy
from analysis.errors import UserError
from ui import auth, importing
from ui.state import open_store

auth.require("data_import")
st.title("数据导入")
st.caption(
    "上传 12315 或平台导出的投诉文件（CSV、TSV、TXT、XLSX、XLS；GBK/GB18030、UTF-8、UTF-16 均可），"
    f"单个文件不超过 {importing.upload_limit_mb()} MB，更大的文件请用命令行 "
    "`python -m analysis import 文件名` 导入。每一行要么导入、要么隔离并说明原因，不会丢失；"
    "同一文件重复导入不会重复计数。"
)

try:
    store = open_store()
except UserError as exc:
    st.error(str(exc))
    st.stop()

uploaded = st.file_uploader("选择导出文件（拖到框内，或点框内按钮选择）", type=importing.UPLOAD_TYPES, key="imp_upload",
                            help="单个文件不超过 200 MB；更大的文件请用命令行 python -m analysis import 导入。")

if uploaded is not None:
    md_name = privacy.escape_markdown(uploaded.name)  # file names are data: never markdown
    sheet = st.session_state.get(f"imp_sheet_{uploaded.file_id}")
    try:
        table = importing.load_preview(uploaded, sheet=sheet)
    except UserError as exc:
        st.error(privacy.escape_markdown(str(exc)))
        table = None
    if table is not None:
        suggested, source = ingest.suggest_mapping(store, table.info.headers)
        st.subheader("1. 预览")
        if len(table.info.sheets) > 1:
            st.selectbox("工作表", table.info.sheets, index=table.info.sheets.index(table.info.sheet),
                         key=f"imp_sheet_{uploaded.file_id}",
                         help="工作簿有多个工作表：已自动选择表头最像投诉数据的一个，可在此改选。")
        st.caption(privacy.escape_markdown(importing.file_facts(table)) + "。个人信息（电话、证件号、姓名等）已打码显示。")
        for warning in table.info.warnings:
            st.warning(privacy.escape_markdown(warning))
        if table.frame.empty:
            st.info("表头之后的前几行都无法读取或为空；导入时这些行会进入隔离区并说明原因。")
        else:
            st.dataframe(importing.masked_preview(table.frame, suggested), key="imp_preview")

        st.subheader("2. 列映射")
        st.caption(
            "已按上次相同表头的设置自动填好。" if source == "remembered"
            else "已按常见表头名称自动匹配；未识别的列请手动指定。确认后的映射会被记住，下次同样表头的文件自动使用。"
        )
        mapping, problems = importing.mapping_editor(table, suggested,
                                                     key=f"imp_map_{uploaded.file_id}_{table.info.sheet}")
        for problem in problems:
            st.error(problem)
        if "received_at" not in mapping.values():
            st.warning("没有指定「登记时间」：投诉可以导入，但不会出现在趋势图和按月统计中。")

        st.subheader("3. 导入")
        if st.button("开始导入", type="primary", disabled=bool(problems), key="imp_start"):
            with st.status(f"正在导入 {md_name} …", expanded=True) as status:
                bar = st.progress(0.0, text="准备中")
                try:
                    with importing.private_upload(uploaded) as path:  # deleted when the import ends or fails
                        # read first in a separate worker with a memory limit: a hostile file
                        # costs that worker only, never the server (issue 20)
                        bar.progress(0.0, text=f"在独立进程中读取并检查文件（内存上限 {engine.GUARD_MEMORY_LIMIT}）…")
                        engine.guarded_call(engine.read_check, str(path), file_name=uploaded.name,
                                            sheet=table.info.sheet, what=f"读取 {uploaded.name} ")
                        result = ingest.import_file(
                            store, path, mapping=mapping, file_name=uploaded.name, sheet=table.info.sheet,
                            progress=lambda fraction, message: bar.progress(min(1.0, fraction), text=message),
                        )
                except UserError as exc:
                    status.update(label="导入被拒绝，数据库未作任何改动", state="error")
                    st.error(privacy.escape_markdown(str(exc)))
                    auth.audit("import", file=uploaded.name, outcome="rejected", reason=str(exc))
                except Exception as exc:  # noqa: BLE001 - shown as a message, never a traceback
                    status.update(label="导入失败，数据库未作任何改动", state="error")
                    st.error(privacy.escape_markdown(
                        f"导入失败（{type(exc).__name__}：{exc}）。数据库未作任何改动，请检查文件后重试。"))
                else:
                    st.session_state["imp_last_result"] = result.to_dict()
                    auth.audit("import", outcome="imported", **importing.audit_params(result.to_dict()))
                    st.cache_data.clear()  # every page sees the new data
                    try:  # categories, problem types and platforms for the new complaints
                        enrich.ensure_enriched(store, progress=lambda done, total: bar.progress(
                            min(1.0, done / max(total, 1)), text=f"分词与分类：{done:,} / {total:,}"))
                    except UserError as exc:
                        st.warning(privacy.escape_markdown(f"已导入，但分类未完成：{exc}"))
                    st.cache_data.clear()
                    status.update(label=f"导入并分类完成：{md_name}", state="complete", expanded=False)

last = st.session_state.get("imp_last_result")
if last:
    importing.show_result(store, last)

st.subheader("导入记录")
importing.show_history(store)
