"""Importing complaint exports into the store, losing nothing.

Every row read ends in exactly one place: stored in ``complaints``, set aside
in ``quarantine`` (with its source row number, column and reason), or counted
as a duplicate of a complaint already stored. ``rows_read`` is counted by the
reader (data rows it produced; blank rows, repeated headers and title rows are
counted apart) and the import is undone unless ``rows_read = imported +
quarantined + duplicates``. A duplicate whose content differs (same complaint
id, different content) is also recorded in ``conflicts`` and counted there —
once: a re-import meeting a conflict already recorded counts it as a duplicate.

Rows are deduplicated on the complaint id, or on a hash of their content when
the export has no id (such rows get the id ``auto:<hash prefix>``). Each import
runs in one explicit transaction: a failure leaves the store as it was, and a
rejected file changes nothing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import re
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from analysis import export, privacy, schema
from analysis.errors import ImportRejected
from analysis.io import (RawChunk, TableInfo, TableReader, encoding_label, normalize_values, parse_amounts,
                         parse_datetimes)
from analysis.store import Store

__all__ = [
    "ImportResult", "import_file", "suggest_mapping", "remembered_mapping", "import_history",
    "quarantine_rows", "quarantine_frame", "quarantine_summary", "outcome_table", "conflict_rows",
    "conflict_details", "quarantine_csv", "AUTO_ID_PREFIX", "TEXT_SOURCES", "complaint_text", "field_kind",
]

Progress = Callable[[float, str], None]
AUTO_ID_PREFIX = "auto:"
_FREE_TEXT = {"text", "title", "demand"}
#: Where a complaint's text comes from, in order (see :func:`complaint_text`).
TEXT_SOURCES = ("text", "title", "problem_raw")
_IMPORT_LOCK = threading.Lock()

_STAGE_SCHEMA = pa.schema(
    [("source_row", pa.int64()), ("has_id", pa.bool_())]
    + [(f.name, pa.timestamp("us") if f.kind == "datetime" else pa.float64() if f.kind == "number"
        else pa.large_string()) for f in schema.fields()]
    + [("text_hash", pa.large_string())]
)
_QUARANTINE_SCHEMA = pa.schema([("source_row", pa.int64()), ("column_name", pa.large_string()),
                                ("reason", pa.large_string()), ("raw_json", pa.large_string())])


@dataclasses.dataclass
class ImportResult:
    """What an import did. ``rows_read = imported + quarantined + duplicates``; conflicts ⊆ duplicates."""

    import_id: int
    file: str
    sha256: str
    encoding: str
    encoding_method: str
    delimiter: str | None
    sheet: str | None
    header_row: int
    rows_read: int
    imported: int
    quarantined: int
    duplicates: int
    conflicts: int
    skipped_title_rows: int
    skipped_header_rows: int
    skipped_blank_rows: int
    text_fallbacks: int
    mapping: dict[str, str]
    unmapped_columns: list[str]
    warnings: list[str]
    seconds: float
    row_encodings: dict[str, int] = dataclasses.field(default_factory=dict)  # text files: rows per encoding used
    nul_rows: int = 0  # rows whose cells held NUL bytes (removed)
    known_conflicts: int = 0  # conflicts already recorded by an earlier import (counted as duplicates, not again)
    sheets: list[str] = dataclasses.field(default_factory=list)  # every worksheet of a workbook

    def to_dict(self) -> dict:
        """A JSON-ready dict (the CLI's ``--json`` output)."""
        return dataclasses.asdict(self)

    def outcomes(self) -> pd.DataFrame:
        """Where the rows read went: ``outcome`` (导入/隔离/重复/冲突) and ``rows``; sums to ``rows_read``."""
        return outcome_table(self.to_dict())


def outcome_table(result: Mapping) -> pd.DataFrame:
    """Where the rows of an import went (from an :class:`ImportResult` or its dict)."""
    return pd.DataFrame({
        "outcome": ["导入", "隔离", "重复", "冲突"],
        "rows": [result["imported"], result["quarantined"], result["duplicates"] - result["conflicts"],
                 result["conflicts"]],
    })


# ---------------------------------------------------------------------------
# Mappings
# ---------------------------------------------------------------------------
def remembered_mapping(store: Store, headers: list[str]) -> dict[str, str] | None:
    """The mapping saved for files with these headers, if any."""
    row = store.cursor().execute(
        "SELECT mapping_json FROM column_mappings WHERE header_signature = ?", [schema.header_signature(headers)]
    ).fetchone()
    return json.loads(row[0]) if row else None


def suggest_mapping(store: Store, headers: list[str]) -> tuple[dict[str, str], str]:
    """The mapping an import would use without explicit choices, and where it came from.

    Returns:
        ``(mapping, source)`` with source ``"remembered"`` (saved for these
        headers) or ``"alias"`` (matched by ``data/schema/column_aliases.csv``).
    """
    remembered = remembered_mapping(store, headers)
    mapping = schema.resolve_mapping(headers, remembered=remembered)
    return mapping, "remembered" if remembered else "alias"


def _save_mapping(cur, headers: list[str], mapping: dict[str, str]) -> None:
    signature = schema.header_signature(headers)
    if mapping == schema.auto_mapping(headers):
        cur.execute("DELETE FROM column_mappings WHERE header_signature = ?", [signature])
        return
    cur.execute(
        "INSERT OR REPLACE INTO column_mappings (header_signature, headers_json, mapping_json, updated_at) "
        "VALUES (?, ?, ?, ?)",
        [signature, json.dumps(headers, ensure_ascii=False), json.dumps(mapping, ensure_ascii=False),
         dt.datetime.now()],
    )


# ---------------------------------------------------------------------------
# Preparing a chunk
# ---------------------------------------------------------------------------
def _nullify_empty(arr: pa.Array) -> pa.Array:
    return pc.if_else(pc.equal(arr, ""), pa.scalar(None, pa.large_string()), arr)


@dataclasses.dataclass
class _Prepared:
    good: pa.Table
    bad: pa.Table
    text_fallbacks: int


def field_kind(field: str) -> str:
    """How an imported field is normalised: ``"text"`` (free text) or ``"code"`` (short values)."""
    return "text" if field in _FREE_TEXT else "code"


def complaint_text(values: Mapping[str, pa.Array], n: int) -> tuple[pa.Array, np.ndarray]:
    """The complaints' texts: the text, else the title, else the problem as exported.

    Used by the import and by the build's helper process alike, so that both hash the
    same text.

    Args:
        values: the fields of :data:`TEXT_SOURCES` as normalised by the import
            (:func:`field_kind`); an absent field counts as empty.
        n: the number of rows.

    Returns:
        The texts (``""`` when all three are empty) and a mask of the rows whose text
        came from the title or the problem.
    """
    empty = pa.array([""] * n, type=pa.large_string())
    text = values.get("text", empty)
    fell_back = np.zeros(n, dtype=bool)
    for field in TEXT_SOURCES[1:]:
        fallback = values.get(field)
        if fallback is None:
            continue
        replace = pc.and_(pc.equal(text, ""), pc.not_equal(fallback, ""))
        if pc.any(replace).as_py():
            text = pc.if_else(replace, fallback, text)
            fell_back |= replace.to_numpy(zero_copy_only=False)
    return text, fell_back


def _prepare(chunk: RawChunk, mapping: Mapping[str, str], headers: list[str]) -> _Prepared:
    """Normalise and validate a chunk: a staging table of good rows and a quarantine table."""
    n = len(chunk)
    source = {field: column for column, field in mapping.items()}
    problems: dict[int, list[tuple[str, str]]] = {}

    def flag(mask: np.ndarray, column: str, reason: Callable[[int], str]) -> None:
        for i in np.flatnonzero(mask):
            problems.setdefault(int(i), []).append((column, reason(int(i))))

    values: dict[str, pa.Array] = {}
    for f in schema.fields():
        column = source.get(f.name)
        raw = chunk.column(column) if column else None
        if f.kind == "datetime":
            if raw is None:
                values[f.name] = pa.nulls(n, pa.timestamp("us"))
                continue
            parsed, empty, bad = parse_datetimes(raw)
            if f.required:
                flag(empty, column, lambda i: f"{f.label}为空；该列存在时每行都必须有日期")
            flag(bad, column, lambda i, raw=raw: f"无法识别的日期「{raw[i].as_py()[:40]}」，请使用 2017-11-11、2017/11/11 10:00、"
                                                 "2017年11月11日 等格式（1980–2100 年）")
            values[f.name] = pa.array(parsed, type=pa.timestamp("us"), from_pandas=True)
        elif f.kind == "number":
            if raw is None:
                values[f.name] = pa.nulls(n, pa.float64())
                continue
            amounts, _, bad = parse_amounts(raw)
            flag(bad, column, lambda i, raw=raw: f"「{raw[i].as_py()[:40]}」不是金额数字（例如 1299 或 ¥1,299.00）")
            values[f.name] = pa.array(amounts, type=pa.float64(), from_pandas=True)
        else:
            if raw is None:
                values[f.name] = pa.array([""] * n, type=pa.large_string())
                continue
            values[f.name] = normalize_values(raw, kind=field_kind(f.name))
    text, fell_back = complaint_text(values, n)
    values["text"] = text
    flag(pc.equal(text, "").to_numpy(zero_copy_only=False), source.get("text", ""),
         lambda i: "投诉内容为空（标题、问题类型也为空），无法作为一条投诉导入")

    bad_index = np.array(sorted(problems), dtype=np.int64)
    keep = np.ones(n, dtype=bool)
    keep[bad_index] = False
    keep_mask = pa.array(keep)
    text_fallbacks = int((fell_back & keep).sum())
    rows = np.asarray(chunk.rows, dtype=np.int64)
    good_cols: dict[str, pa.Array] = {"source_row": pa.array(rows[keep])}
    ids = values["complaint_id"].filter(keep_mask)
    good_cols["has_id"] = pc.not_equal(ids, "")
    for f in schema.fields():
        arr = values[f.name].filter(keep_mask)
        good_cols[f.name] = _nullify_empty(arr) if f.kind == "text" and f.name != "text" else arr
    blake2b = hashlib.blake2b  # inlined analysis.store.text_hash (the token-cache key): one call per row
    good_cols["text_hash"] = pa.array([blake2b(t.encode("utf-8"), digest_size=16).hexdigest()
                                       for t in good_cols["text"].to_pylist()], type=pa.large_string())
    good = pa.table(good_cols, schema=_STAGE_SCHEMA)

    records = []
    if len(bad_index):
        taken = pa.array(bad_index)
        raw_rows = zip(*(chunk.column(h).take(taken).to_pylist() for h in headers))
        for i, cells in zip(bad_index.tolist(), raw_rows):
            issues = problems[i]
            columns = list(dict.fromkeys(c for c, _ in issues if c))
            records.append((int(rows[i]), "、".join(columns) or None, "；".join(r for _, r in issues),
                            json.dumps(dict(zip(headers, cells)), ensure_ascii=False)))
    for q in chunk.quarantine:
        records.append((q.row, q.column, q.reason, json.dumps(q.raw, ensure_ascii=False)))
    bad = pa.table(
        {name: pa.array([r[k] for r in records], type=typ) for k, (name, typ) in
         enumerate(zip(_QUARANTINE_SCHEMA.names, _QUARANTINE_SCHEMA.types))},
        schema=_QUARANTINE_SCHEMA,
    )
    return _Prepared(good=good, bad=bad, text_fallbacks=text_fallbacks)


# ---------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------
def _stage_chunk(cur, import_id: int, prepared: _Prepared) -> None:
    """Append a prepared chunk to ``complaints`` (tagged with this import) and its bad rows to the quarantine.

    Rows land in the table inside the import's transaction; :func:`_resolve`
    then removes the duplicates before anything is committed.
    """
    canonical = [f.name for f in schema.fields() if f.name != "complaint_id"]
    cur.register("_chunk_good", prepared.good)
    try:
        cur.execute(f"""
            INSERT INTO complaints (complaint_id, {', '.join(canonical)}, content_hash, text_hash, import_id, source_row)
            SELECT CASE WHEN has_id THEN complaint_id ELSE '{AUTO_ID_PREFIX}' || left(content_hash, 16) END,
                   {', '.join(canonical)}, content_hash, text_hash, ?, source_row
            FROM (SELECT *, {_content_hash_sql()} AS content_hash FROM _chunk_good)
        """, [import_id])
    finally:
        cur.unregister("_chunk_good")
    if prepared.bad.num_rows:
        cur.register("_chunk_bad", prepared.bad)
        try:
            cur.execute(
                "INSERT INTO quarantine (import_id, source_row, column_name, reason, raw_json) "
                "SELECT ?, source_row, column_name, reason, raw_json FROM _chunk_bad",
                [import_id],
            )
        finally:
            cur.unregister("_chunk_bad")


# The fields of the first store schema. Fields added later enter the content hash only when they
# hold a value (as ``name=value``), so the hashes of rows stored before they existed stay valid and
# re-importing such an export finds duplicates, not conflicts.
_FIRST_SCHEMA_FIELDS = frozenset({
    "received_at", "text", "title", "product", "brand", "merchant", "platform", "category_raw", "problem_raw",
    "demand", "district", "channel", "status", "amount", "complainant_name", "complainant_phone",
})


def _content_hash_sql() -> str:
    """MD5 over every canonical field but the id, in a fixed text form: same content, same hash."""
    parts = []
    for f in schema.fields():
        if f.name == "complaint_id":
            continue
        if f.kind == "datetime":
            value = f"strftime({f.name}, '%Y-%m-%d %H:%M:%S')"
        elif f.kind == "number":
            value = f"printf('%.4f', {f.name})"
        else:
            value = f.name
        # concat_ws skips NULLs: a later field without a value adds nothing
        parts.append(f"coalesce({value}, '')" if f.name in _FIRST_SCHEMA_FIELDS else f"'{f.name}=' || {value}")
    return f"md5(concat_ws(chr(31), {', '.join(parts)}))"


def _resolve(cur, import_id: int) -> dict[str, int]:
    """Deduplicate this import's rows against the file itself and the store; record conflicts.

    The first row of an id (or of a content, for rows without id) in the file is
    compared with the store: same content → duplicate, other content →
    conflict. Later rows with that id in the file are duplicates or conflicts of
    the first one. Duplicates and conflicts are then removed from ``complaints``.
    """
    canonical = [f.name for f in schema.fields() if f.name != "complaint_id"]
    cur.execute(f"""
        CREATE TEMP TABLE _outcome AS
        WITH ranked AS (
            SELECT source_row, complaint_id AS cid, content_hash, starts_with(complaint_id, '{AUTO_ID_PREFIX}') AS auto,
                   row_number() OVER w AS rn, first_value(content_hash) OVER w AS first_hash
            FROM complaints WHERE import_id = $id
            WINDOW w AS (PARTITION BY complaint_id ORDER BY source_row)
        ), judged AS (
            SELECT r.source_row, r.cid, r.content_hash,
                   CASE WHEN r.rn > 1 THEN CASE WHEN r.content_hash = r.first_hash THEN 'duplicate' ELSE 'conflict' END
                        WHEN e.content_hash IS NOT NULL
                             THEN CASE WHEN e.content_hash = r.content_hash THEN 'duplicate' ELSE 'conflict' END
                        WHEN x.content_hash IS NOT NULL THEN 'duplicate'
                        ELSE 'new' END AS outcome,
                   CASE WHEN r.rn > 1 THEN r.first_hash ELSE e.content_hash END AS existing_hash
            FROM ranked r
            LEFT JOIN (SELECT complaint_id, any_value(content_hash) AS content_hash
                       FROM complaints WHERE import_id <> $id GROUP BY complaint_id) e ON e.complaint_id = r.cid
            LEFT JOIN (SELECT DISTINCT content_hash FROM complaints WHERE import_id <> $id) x
                   ON x.content_hash = r.content_hash AND r.auto
        )
        -- A conflict an earlier import already recorded (same id, same incoming content) is not recorded again.
        SELECT j.* REPLACE (CASE WHEN j.outcome = 'conflict' AND k.complaint_id IS NOT NULL THEN 'known_conflict'
                                 ELSE j.outcome END AS outcome)
        FROM judged j
        LEFT JOIN (SELECT DISTINCT complaint_id, incoming_hash FROM conflicts WHERE import_id <> $id) k
               ON k.complaint_id = j.cid AND k.incoming_hash = j.content_hash
        WHERE j.outcome <> 'new'
    """, {"id": import_id})
    fields_json = ", ".join(f"'{name}': c.{name}" for name in canonical)
    cur.execute(f"""
        INSERT INTO conflicts (import_id, source_row, complaint_id, existing_hash, incoming_hash, incoming_json)
        SELECT $id, o.source_row, o.cid, o.existing_hash, o.content_hash, to_json({{{fields_json}}})
        FROM _outcome o JOIN complaints c ON c.import_id = $id AND c.source_row = o.source_row
        WHERE o.outcome = 'conflict' ORDER BY o.source_row
    """, {"id": import_id})
    counts = dict(cur.execute("SELECT outcome, count(*) FROM _outcome GROUP BY outcome").fetchall())
    if counts:
        cur.execute("DELETE FROM complaints WHERE import_id = $id AND source_row IN (SELECT source_row FROM _outcome)",
                    {"id": import_id})
    new = int(cur.execute("SELECT count(*) FROM complaints WHERE import_id = ?", [import_id]).fetchall()[0][0])
    cur.execute("DROP TABLE _outcome")
    known = int(counts.get("known_conflict", 0))
    return {"new": new, "duplicate": int(counts.get("duplicate", 0)) + known, "conflict": int(counts.get("conflict", 0)),
            "known_conflict": known}


def import_file(
    store: Store,
    path: str | Path,
    *,
    mapping: Mapping[str, str | None] | None = None,
    progress: Progress | None = None,
    file_name: str | None = None,
    chunk_size: int = 50_000,
    sheet: str | None = None,
) -> ImportResult:
    """Import one export file into the store, in one transaction.

    Args:
        store: the store to write to.
        path: a ``.csv .tsv .txt .xlsx .xls`` file.
        mapping: explicit source column → field choices (field names or
            Chinese labels; ``None``/``""`` drops a column). They override the
            remembered mapping for these headers, which overrides the aliases.
        progress: called as ``progress(fraction, message)`` while importing.
        file_name: the name to record (e.g. an uploaded file's original name).
        chunk_size: rows parsed and validated at a time.
        sheet: the worksheet of a workbook to import (default: the one that
            looks most like complaints; the others are listed in the warnings).

    Returns:
        The :class:`ImportResult`.

    Raises:
        ImportRejected: the file cannot be read or has no complaint-text
            column; nothing is written.
    """
    started = time.perf_counter()
    report = progress or (lambda fraction, message: None)
    reader = TableReader(path, file_name=file_name, chunk_size=chunk_size, sheet=sheet)
    try:
        info = reader.info
        final = schema.resolve_mapping(info.headers, remembered=remembered_mapping(store, info.headers),
                                       explicit=mapping)
        _check_mapping(info, final)
        warnings = list(info.warnings)
        if "received_at" not in final.values():
            warnings.append("文件中没有登记时间（日期）列：投诉已导入但没有日期，不会出现在趋势图和按月统计中。"
                            "如有日期列，请在列映射中把它指定为「登记时间」后重新导入。")
        report(0.0, f"读取 {info.file_name}（{info.encoding}）")
        with _IMPORT_LOCK, store.transaction() as cur:
            import_id = int(cur.execute("SELECT coalesce(max(import_id), 0) + 1 FROM imports").fetchall()[0][0])
            staged = _stage_file(cur, reader, import_id, final, report)
            report(0.92, "去重并写入数据库…")
            counts = _resolve(cur, import_id)
            warnings += _reading_warnings(cur, reader, text_fallbacks=staged.text_fallbacks)
            warnings += _reader_notes(reader, counts)
            result = _import_result(import_id, reader, final, counts, staged, warnings)
            _record_import(cur, result)
            _save_mapping(cur, info.headers, dict(final))
    finally:
        reader.close()
    result.seconds = round(time.perf_counter() - started, 3)
    report(1.0, "完成")
    return result


@dataclasses.dataclass
class _Staged:
    """What staging a file's chunks counted."""

    quarantined: int = 0
    text_fallbacks: int = 0


def _stage_file(cur, reader: TableReader, import_id: int, mapping: Mapping[str, str],
                report: Progress) -> _Staged:
    """Read, validate and stage every chunk of the file (:func:`_prepare`, :func:`_stage_chunk`)."""
    staged = _Staged()
    rows = 0
    for chunk in reader.chunks():
        prepared = _prepare(chunk, mapping, reader.info.headers)
        _stage_chunk(cur, import_id, prepared)
        staged.text_fallbacks += prepared.text_fallbacks
        staged.quarantined += prepared.bad.num_rows
        rows += prepared.good.num_rows + prepared.bad.num_rows
        report(0.9 * reader.progress, f"已读取并校验 {rows:,} 行")
    return staged


def _reading_warnings(cur, reader: TableReader, *, text_fallbacks: int) -> list[str]:
    """What the reading did that the user should know: text fallbacks, skipped rows, a file imported before."""
    warnings = []
    if text_fallbacks:
        warnings.append(f"{text_fallbacks} 行投诉内容为空，已用投诉标题或问题类型代替。")
    if reader.skipped_title_rows:
        warnings.append(f"跳过了表头前的 {reader.skipped_title_rows} 行标题/说明。")
    if reader.skipped_header_rows:
        warnings.append(f"跳过了文件中重复出现的 {reader.skipped_header_rows} 行表头。")
    if reader.skipped_blank_rows:
        warnings.append(f"跳过了 {reader.skipped_blank_rows} 个空行。")
    earlier = cur.execute("SELECT min(import_id) FROM imports WHERE sha256 = ?", [reader.info.sha256]).fetchall()[0][0]
    if earlier is not None:
        warnings.append(f"此文件（SHA-256 相同）已在导入批次 #{earlier} 导入过；内容相同的行计为重复。")
    return warnings


def _import_result(import_id: int, reader: TableReader, mapping: Mapping[str, str], counts: dict[str, int],
                   staged: _Staged, warnings: list[str]) -> ImportResult:
    """The counts of an import with its file's facts.

    ``rows_read`` is counted by the reader, so ``rows_read = imported + quarantined + duplicates``
    is a real check: when it fails the import is undone.

    Raises:
        RuntimeError: the counts do not add up (the transaction is rolled back).
    """
    info = reader.info
    duplicates = counts["duplicate"] + counts["conflict"]
    rows_read = reader.rows_read
    if rows_read != counts["new"] + duplicates + staged.quarantined:
        raise RuntimeError(f"读取 {rows_read} 行，但导入 {counts['new']} + 隔离 {staged.quarantined} + 重复 "
                           f"{duplicates} 与之不符：导入已撤销，数据库未改动。")
    return ImportResult(
        import_id=import_id, file=info.file_name, sha256=info.sha256, encoding=info.encoding,
        encoding_method=info.encoding_method, delimiter=info.delimiter, sheet=info.sheet,
        header_row=info.header_row, rows_read=rows_read,
        imported=counts["new"], quarantined=staged.quarantined, duplicates=duplicates,
        conflicts=counts["conflict"], skipped_title_rows=reader.skipped_title_rows,
        skipped_header_rows=reader.skipped_header_rows, skipped_blank_rows=reader.skipped_blank_rows,
        text_fallbacks=staged.text_fallbacks, mapping=dict(mapping),
        unmapped_columns=[h for h in info.headers if h not in mapping], warnings=warnings, seconds=0.0,
        row_encodings=reader.row_encodings, nul_rows=reader.nul_rows,
        known_conflicts=counts["known_conflict"], sheets=list(info.sheets),
    )


def _record_import(cur, result: ImportResult) -> None:
    """The import's row in ``imports``."""
    cur.execute(
        "INSERT INTO imports (import_id, file_name, sha256, imported_at, encoding, header_row, rows_read, "
        "imported, quarantined, duplicates, conflicts, mapping_json, warnings_json) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [result.import_id, result.file, result.sha256, dt.datetime.now(), result.encoding, result.header_row,
         result.rows_read, result.imported, result.quarantined, result.duplicates, result.conflicts,
         json.dumps(result.mapping, ensure_ascii=False), json.dumps(result.warnings, ensure_ascii=False)],
    )


def _reader_notes(reader: TableReader, counts: Mapping[str, int]) -> list[str]:
    """Warnings about rows the reader decoded with a second encoding or cleaned, and known conflicts."""
    notes = []
    encodings = reader.row_encodings
    if len(encodings) > 1:
        parts = "，".join(f"{encoding_label(e)} {n:,} 行" for e, n in encodings.items())
        notes.append(f"文件混用了编码，已逐行判断：{parts}。")
    if reader.nul_rows:
        notes.append(f"{reader.nul_rows:,} 行的单元格含空字符（NUL），已删除这些字符后读取。")
    if counts.get("known_conflict"):
        notes.append(f"{counts['known_conflict']:,} 行与早先导入时已记录的内容冲突相同，计为重复，不再重复记录。")
    return notes


def _check_mapping(info: TableInfo, mapping: Mapping[str, str]) -> None:
    if "text" not in mapping.values():
        raise ImportRejected(
            "没有找到投诉内容列，无法导入。文件的列为：" + "，".join(info.headers)
            + "。请在列映射中指定哪一列是「投诉内容」（命令行：--map 列名=text），"
            "或在 data/schema/column_aliases.csv 中补充别名。",
            file=info.file_name, row=info.header_row,
        )


# ---------------------------------------------------------------------------
# Reading back: history, quarantine, conflicts
# ---------------------------------------------------------------------------
def import_history(store: Store, *, limit: int = 200) -> pd.DataFrame:
    """The latest imports, newest first (small: one row per import)."""
    return store.query(
        "SELECT import_id, file_name, imported_at, encoding, rows_read, imported, quarantined, duplicates, "
        "conflicts, sha256 FROM imports ORDER BY import_id DESC LIMIT ?", [int(limit)],
    )


def quarantine_rows(store: Store, import_id: int) -> pd.DataFrame:
    """The quarantined rows of one import: source row, column, reason and the raw row as a dict."""
    df = store.query(
        "SELECT source_row, column_name, reason, raw_json FROM quarantine WHERE import_id = ? "
        "ORDER BY source_row", [int(import_id)],
    )
    df["raw"] = [json.loads(v) if v else {} for v in df.pop("raw_json")]
    return df


def _reason_kind(reason: str) -> str:
    """A short name for a quarantine reason, the same for every row with that kind of problem."""
    if reason.startswith("字段数为"):
        return "字段数与表头不符"
    if "解码的字节" in reason:
        return "含无法解码的字节"
    first = re.split(r"[，；]", reason, maxsplit=1)[0]
    return re.sub(r"「[^」]*」", "「…」", first)


def quarantine_summary(store: Store, import_id: int) -> pd.DataFrame:
    """Quarantined rows of one import per kind of reason: ``reason`` (short), ``rows``; most frequent first."""
    df = store.query("SELECT reason, count(*) AS rows FROM quarantine WHERE import_id = ? GROUP BY 1",
                     [int(import_id)])
    df["reason"] = df["reason"].map(_reason_kind)
    df = df.groupby("reason", as_index=False)["rows"].sum()
    return df.sort_values(["rows", "reason"], ascending=[False, True], ignore_index=True)


def conflict_rows(store: Store, import_id: int) -> pd.DataFrame:
    """The conflicts of one import: same complaint id as a stored one, different content."""
    return store.query(
        "SELECT source_row, complaint_id, existing_hash, incoming_hash, incoming_json FROM conflicts "
        "WHERE import_id = ? ORDER BY source_row", [int(import_id)],
    )


def conflict_details(store: Store, import_id: int) -> pd.DataFrame:
    """The conflicts of one import side by side with what is stored.

    Returns:
        ``source_row``, ``complaint_id``, ``changed`` (Chinese labels of the
        fields that differ), ``stored_text`` and ``incoming_text``.
    """
    conflicts = conflict_rows(store, import_id)
    canonical = [f.name for f in schema.fields() if f.name != "complaint_id"]
    stored = store.query(
        f"SELECT complaint_id, {', '.join(canonical)} FROM complaints WHERE complaint_id IN "
        "(SELECT complaint_id FROM conflicts WHERE import_id = ?)", [int(import_id)],
    ).drop_duplicates("complaint_id").set_index("complaint_id")
    rows = []
    for row in conflicts.itertuples(index=False):
        incoming = json.loads(row.incoming_json)
        old = stored.loc[row.complaint_id] if row.complaint_id in stored.index else None
        changed = []
        for name in canonical:
            before = None if old is None else old[name]
            before = None if before is None or (isinstance(before, float) and np.isnan(before)) or before is pd.NaT \
                else str(before)[:19] if schema.FIELD_KINDS[name] == "datetime" else before
            after = incoming.get(name)
            after = after[:19].replace("T", " ") if schema.FIELD_KINDS[name] == "datetime" and after else after
            if schema.FIELD_KINDS[name] == "number" and before is not None and after is not None:
                same = abs(float(before) - float(after)) < 1e-9
            else:
                same = (before if before is not None else None) == after
            if not same:
                changed.append(schema.FIELD_LABELS[name])
        rows.append((row.source_row, row.complaint_id, "、".join(changed),
                     None if old is None else old["text"], incoming.get("text")))
    return pd.DataFrame(rows, columns=["source_row", "complaint_id", "changed", "stored_text", "incoming_text"])


def quarantine_frame(store: Store, import_id: int, *, mask: bool = True) -> pd.DataFrame:
    """The quarantined rows of one import as a table for people: 行号, 原因, 列, then the row's cells.

    Args:
        store: the store.
        import_id: the import.
        mask: mask personal data with :mod:`analysis.privacy` — the columns the
            import mapped to the complainant's name and phone with
            ``mask_name``/``mask_phone``, every other cell with ``mask_series``.
    """
    df = quarantine_rows(store, import_id)
    raw = pd.DataFrame(list(df["raw"]), index=df.index) if len(df) else pd.DataFrame(index=df.index)
    if "_extra" in raw:
        raw["_extra"] = raw["_extra"].map(lambda v: " | ".join(v) if isinstance(v, list) else v)
    raw = raw.astype(object).where(raw.notna(), None)
    if mask and len(raw.columns):
        mapping_json = store.scalar("SELECT mapping_json FROM imports WHERE import_id = ?", [int(import_id)])
        raw = privacy.mask_columns(raw, json.loads(mapping_json) if mapping_json else {})
    raw = raw.rename(columns={"_line": "原始行", "_extra": "多出的字段"})
    head = df[["source_row", "reason", "column_name"]].rename(
        columns={"source_row": "行号", "reason": "原因", "column_name": "列"})
    return pd.concat([head, raw], axis=1)


def quarantine_csv(store: Store, import_id: int, *, mask: bool = True) -> bytes:
    """The quarantined rows of one import as a CSV download: UTF-8 with BOM, formula-safe, masked.

    See :func:`quarantine_frame` for the columns and the masking.
    """
    return export.to_csv_bytes(quarantine_frame(store, import_id, mask=mask))
