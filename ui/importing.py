"""Widgets of the 数据导入 page: upload handling, masked preview, mapping editor, result and history."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import streamlit as st

from analysis import ingest, plots, privacy, schema
from analysis.io import RawTable, encoding_label, read_table
from analysis.store import Store

UPLOAD_DIR = Path(tempfile.gettempdir()) / f"complaint_radar_uploads-{os.getuid()}"
UPLOAD_TYPES = ["csv", "tsv", "txt", "xlsx", "xlsm", "xls"]
SKIP = "（不导入）"
_STALE_SECONDS = 2 * 3600  # a folder this old was left by a server that was killed mid-import


def upload_limit_mb() -> int:
    """The upload limit configured in .streamlit/config.toml (``server.maxUploadSize``)."""
    return int(st.get_option("server.maxUploadSize"))


def _private_root() -> Path:
    """The uploads folder, readable by this user only (0700); another user's or a link is not used."""
    UPLOAD_DIR.mkdir(mode=0o700, exist_ok=True)
    info = UPLOAD_DIR.lstat()
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        return Path(tempfile.mkdtemp(prefix="complaint_radar_uploads-"))
    if stat.S_IMODE(info.st_mode) != 0o700:
        UPLOAD_DIR.chmod(0o700)
    for old in UPLOAD_DIR.iterdir():  # left behind by a server killed during an import
        try:
            if time.time() - old.lstat().st_mtime > _STALE_SECONDS:
                shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink(missing_ok=True)
        except OSError:
            pass
    return UPLOAD_DIR


@contextlib.contextmanager
def private_upload(uploaded) -> Iterator[Path]:
    """The uploaded file on disk for as long as it is read: private (0600 in a 0700 folder), then deleted.

    The file is removed when the block ends, whether the import succeeded or failed; nothing
    unmasked stays behind between reruns.
    """
    folder = Path(tempfile.mkdtemp(dir=_private_root()))  # 0700
    safe_name = re.sub(r"[^\w.\-\u4e00-\u9fff]+", "_", Path(uploaded.name).name) or "upload.csv"
    path = folder / safe_name
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(uploaded.getvalue())
        yield path
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def load_preview(uploaded, *, sheet: str | None = None, rows: int = 20) -> RawTable:
    """The first rows of an uploaded file as the reader sees them (raises UserError if unreadable)."""
    return _preview(uploaded.file_id, uploaded.name, sheet, rows, uploaded)


@st.cache_data(show_spinner="正在读取文件…", max_entries=8)
def _preview(file_id: str, name: str, sheet: str | None, rows: int, _uploaded) -> RawTable:
    with private_upload(_uploaded) as path:
        return read_table(path, nrows=rows, file_name=name, sheet=sheet)


def file_facts(table: RawTable) -> str:
    """One line about how the file was read."""
    info = table.info
    parts = [f"编码：{encoding_label(info.encoding)}（{info.encoding_method}）", f"表头在第 {info.header_row} 行",
             f"共 {len(info.headers)} 列"]
    if info.delimiter:
        parts.append("分隔符：" + {"\t": "制表符", ",": "逗号", ";": "分号", "|": "竖线"}.get(info.delimiter, info.delimiter))
    if info.sheet:
        parts.append(f"工作表：{info.sheet}")
    return "；".join(parts)


def masked_preview(frame: pd.DataFrame, mapping: dict[str, str]) -> pd.DataFrame:
    """The preview with personal data masked (names and phones by mapping, every cell by pattern)."""
    out = privacy.mask_columns(frame, mapping)
    out.index.name = "行号"
    return out


def sample_examples(frame: pd.DataFrame, mapping: dict[str, str], *, n: int = 3) -> dict[str, str]:
    """A few masked example values per column (for the mapping tooltips).

    Columns mapped to the complainant's name or phone are masked field by field
    (``mask_name``/``mask_phone``: 诸葛明亮 → 诸葛**), every other one by pattern.
    """
    masked = privacy.mask_columns(frame, mapping)
    out = {}
    for header in frame.columns:
        values = [v for v in masked[header].tolist() if isinstance(v, str) and v][:n]
        out[header] = "；".join(v[:20] for v in values)
    return out


def mapping_editor(table: RawTable, suggested: dict[str, str], *, key: str) -> tuple[dict[str, str | None], list[str]]:
    """A select box per source column, prefilled; returns the chosen mapping and the problems with it."""
    options = [SKIP] + [f"{f.label}（{f.name}）" for f in schema.fields()]
    names = [None] + list(schema.FIELD_NAMES)
    chosen: dict[str, str | None] = {}
    cols = st.columns(3)
    examples = sample_examples(table.frame, suggested)
    for i, header in enumerate(table.info.headers):
        field = suggested.get(header)
        choice = cols[i % 3].selectbox(
            privacy.escape_markdown(header), options, index=names.index(field) if field in names else 0,
            key=f"{key}_{i}", help=f"示例：{privacy.escape_markdown(examples.get(header) or '（前几行为空）')}",
        )
        chosen[header] = names[options.index(choice)]
    problems = []
    picked = [f for f in chosen.values() if f]
    for field in sorted({f for f in picked if picked.count(f) > 1}, key=schema.FIELD_NAMES.index):
        problems.append(f"字段「{schema.FIELD_LABELS[field]}」被多个列选中，每个字段只能来自一列。")
    if "text" not in picked:
        problems.append("请指定哪一列是「投诉内容」，否则无法导入。")
    return chosen, problems


def audit_params(result: dict) -> dict:
    """What the audit log keeps of an import: file, batch, SHA-256 and where the rows went."""
    return {k: result.get(k) for k in ("file", "import_id", "sha256", "rows_read", "imported", "quarantined",
                                       "duplicates", "conflicts")}


def show_result(store: Store, result: dict) -> None:
    """Counts, warnings, where the rows went, the quarantine (masked, downloadable) and the conflicts."""
    st.subheader(f"导入结果：{privacy.escape_markdown(result['file'])}")
    cols = st.columns(5)
    for col, (label, key) in zip(cols, [("读取行数", "rows_read"), ("已导入", "imported"), ("已隔离", "quarantined"),
                                        ("重复", "duplicates"), ("内容冲突", "conflicts")]):
        col.metric(label, f"{result[key]:,}")
    st.caption(f"读取 = 导入 + 隔离 + 重复（重复中含内容冲突）。导入批次 #{result['import_id']}，用时 {result['seconds']:.1f} 秒。")
    if len(result.get("row_encodings") or {}) > 1:
        st.info("文件混用了编码，已逐行判断：" + "，".join(
            f"{encoding_label(e)} {n:,} 行" for e, n in result["row_encodings"].items()) + "。")
    for warning in result["warnings"]:
        st.warning(privacy.escape_markdown(warning))
    st.plotly_chart(plots.import_outcome_figure(ingest.outcome_table(result)), key="imp_outcome_chart")
    import_id = result["import_id"]
    if result["quarantined"]:
        st.markdown("#### 隔离的行")
        st.caption("这些行没有导入。请按原因修改原文件后重新导入（已导入的行会被识别为重复，不会重复计入）。")
        st.plotly_chart(plots.quarantine_reasons_figure(ingest.quarantine_summary(store, import_id)),
                        key="imp_reasons_chart")
        st.dataframe(ingest.quarantine_frame(store, import_id).head(500), hide_index=True, key="imp_quarantine")
        st.download_button(
            "下载全部隔离行（CSV）", ingest.quarantine_csv(store, import_id), file_name=f"隔离行_批次{import_id}.csv",
            mime="text/csv", key="imp_quarantine_download",
        )
    if result["conflicts"]:
        st.markdown("#### 内容冲突")
        st.caption("这些投诉编号已在数据库中，但内容不同；数据库保留原有内容，新内容记录在冲突表中，请核对。")
        conflicts = ingest.conflict_details(store, import_id)
        for column in ("stored_text", "incoming_text"):
            conflicts[column] = privacy.mask_series(conflicts[column].astype(object))
        st.dataframe(conflicts.rename(columns={"source_row": "行号", "complaint_id": "投诉编号", "changed": "不同的字段",
                                               "stored_text": "原有投诉内容", "incoming_text": "新文件中的投诉内容"}),
                     hide_index=True, key="imp_conflicts")


def show_history(store: Store) -> None:
    """The import history table (newest first)."""
    history = ingest.import_history(store)
    if history.empty:
        st.info("还没有导入记录。")
        return
    history["encoding"] = history["encoding"].map(encoding_label)
    history["sha256"] = history["sha256"].str[:12]
    st.dataframe(
        history.rename(columns={"import_id": "批次", "file_name": "文件", "imported_at": "导入时间", "encoding": "编码",
                                "rows_read": "读取", "imported": "导入", "quarantined": "隔离", "duplicates": "重复",
                                "conflicts": "冲突", "sha256": "SHA-256（前12位）"}),
        hide_index=True, key="imp_history",
    )
