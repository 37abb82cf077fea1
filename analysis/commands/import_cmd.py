"""``python -m analysis import FILE... [--db PATH] [--map 源列=field ...] [--sheet NAME] [--json]``.

Imports each file in its own transaction, then segments and classifies the new
complaints (:func:`analysis.enrich.ensure_enriched`). Exit code 0 when every file
was read (even with quarantined rows), 2 when at least one file was rejected (the
store is unchanged for that file). With ``--json`` one JSON object per file is
printed on stdout; progress bars go to stderr for large files and for the
classification.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from analysis import schema
from analysis.enrich import ensure_enriched
from analysis.errors import UserError
from analysis.ingest import ImportResult, import_file
from analysis.io import encoding_label
from analysis.store import Store

NAME = "import"
HELP = "导入投诉导出文件（CSV/TSV/TXT/XLSX/XLS）到数据库"
PROGRESS_MIN_BYTES = 5 * 1024 * 1024


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's arguments."""
    parser.add_argument("files", nargs="+", metavar="FILE", help="要导入的文件，可以有多个")
    parser.add_argument("--db", default=None, help="数据库文件（默认：$COMPLAINT_RADAR_DB 或 data/store/complaints.duckdb）")
    parser.add_argument(
        "--map", action="append", default=[], metavar="源列=字段",
        help="指定列映射，可重复，例如 --map 留言详情=text --map 受理日期=received_at；"
             "字段可写英文名或中文名（投诉内容），写成「源列=」表示不导入该列。"
             "可用字段：" + "，".join(f"{f.name}（{f.label}）" for f in schema.fields()),
    )
    parser.add_argument("--sheet", default=None, metavar="工作表",
                        help="Excel 工作簿要导入的工作表名（默认自动选择表头最像投诉数据的工作表；结果中列出全部工作表）")
    parser.add_argument("--json", action="store_true", help="每个文件输出一行 JSON 结果（stdout）")
    parser.add_argument("--no-progress", action="store_true", help="不显示进度条")


def parse_map_args(items: list[str]) -> dict[str, str | None]:
    """Turn ``["源列=field", "列=", …]`` into a mapping; fields are checked.

    Raises:
        UserError: an item without ``=`` or an unknown field.
    """
    mapping: dict[str, str | None] = {}
    for item in items:
        if "=" not in item:
            raise UserError(f"--map 参数「{item}」格式不对，应为 源列=字段，例如 --map 留言详情=text。")
        column, _, field = item.rpartition("=")
        column = column.strip()
        if not column:
            raise UserError(f"--map 参数「{item}」缺少源列名。")
        mapping[column] = schema.field_name(field) if field.strip() else None
    return mapping


class ProgressBar:
    """A one-line progress bar on stderr (a line per 10 % when stderr is not a terminal)."""

    def __init__(self, label: str, *, stream=None, width: int = 30) -> None:
        self.label, self.stream, self.width = label, stream or sys.stderr, width
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last = -1

    def __call__(self, fraction: float, message: str) -> None:
        pct = int(max(0.0, min(1.0, fraction)) * 100)
        if self.tty:
            filled = int(self.width * pct / 100)
            bar = "#" * filled + "-" * (self.width - filled)
            self.stream.write(f"\r{self.label} [{bar}] {pct:3d}% {message[:40]:<40}")
            if pct >= 100:
                self.stream.write("\n")
            self.stream.flush()
        elif pct // 10 > self._last // 10 or (pct == 100 and self._last != 100):
            self.stream.write(f"{self.label}: {pct}% {message}\n")
            self.stream.flush()
        self._last = pct


def _summary(result: ImportResult) -> str:
    lines = [
        f"{result.file}：读取 {result.rows_read:,} 行 → 导入 {result.imported:,}，隔离 {result.quarantined:,}，"
        f"重复 {result.duplicates:,}（其中内容冲突 {result.conflicts:,}）。"
        f"编码 {encoding_label(result.encoding)}，表头在第 {result.header_row} 行，导入批次 #{result.import_id}。"
    ]
    if len(result.sheets) > 1:
        lines.append(f"  工作表：导入「{result.sheet}」；全部工作表：{'，'.join(result.sheets)}（用 --sheet 工作表名 选择）")
    if len(result.row_encodings) > 1:
        lines.append("  逐行编码：" + "，".join(f"{encoding_label(e)} {n:,} 行" for e, n in result.row_encodings.items()))
    mapped = "，".join(f"{col}→{schema.FIELD_LABELS[field]}" for col, field in result.mapping.items())
    lines.append(f"  列映射：{mapped}")
    if result.unmapped_columns:
        lines.append(f"  未导入的列：{'，'.join(result.unmapped_columns)}（需要时用 --map 源列=字段 指定）")
    lines.extend(f"  提示：{w}" for w in result.warnings)
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Import the files; return 0 when all were read, 2 when any was rejected."""
    mapping = parse_map_args(args.map)
    store = Store(args.db)
    status = 0
    read = 0
    used: set[str] = set()
    try:
        for name in args.files:
            path = Path(name)
            try:
                size = path.stat().st_size if path.is_file() else 0
                bar = None
                if not args.no_progress and size >= PROGRESS_MIN_BYTES:
                    bar = ProgressBar(path.name)
                if len(args.files) == 1:
                    headers_mapping, _ = mapping or None, used.update(mapping)
                else:
                    headers_mapping = _mapping_for(path, mapping, used, sheet=args.sheet)
                result = import_file(store, path, mapping=headers_mapping, progress=bar, sheet=args.sheet)
            except UserError as exc:
                status = 2
                print(f"错误：{exc}", file=sys.stderr)
                if args.json:
                    print(json.dumps({"file": path.name, "rejected": True, "error": str(exc)}, ensure_ascii=False))
                continue
            read += 1
            if args.json:
                print(json.dumps(result.to_dict(), ensure_ascii=False), flush=True)
            else:
                print(_summary(result), flush=True)
        if read:
            _enrich(store, quiet=args.json, progress=not args.no_progress)
    finally:
        store.close()
    unused = [c for c in mapping if c not in used]
    if unused:
        print(f"提示：--map 中的列 {'，'.join(unused)} 不在任何文件的表头中，未生效。", file=sys.stderr)
    return status


def _enrich(store: Store, *, quiet: bool, progress: bool) -> None:
    """Segment and classify the imported complaints; a failure is reported, the import stays."""
    bars: list[ProgressBar] = []

    def show(done: int, total: int) -> None:
        if not bars or done == 0:  # segmentation, then classification: one bar each
            bars.append(ProgressBar("分词与分类"))
        bars[-1](done / max(total, 1), f"{done:,}/{total:,} 条")

    try:
        stats = ensure_enriched(store, progress=show if progress else None)
    except UserError as exc:
        print(f"提示：已导入，但分词与分类未完成（{exc}）。下次分析时会自动补齐。", file=sys.stderr)
        return
    if not quiet:
        print(f"分词与分类：新分类 {stats['classified']:,} 条投诉（{stats['seconds']:.1f} 秒）。", flush=True)


def _mapping_for(path: Path, mapping: dict[str, str | None], used: set[str], *,
                 sheet: str | None = None) -> dict[str, str | None] | None:
    """The part of ``--map`` whose columns exist in this file (several files may differ)."""
    if not mapping:
        return None
    from analysis.io import open_table

    with open_table(path, sheet=sheet) as reader:
        headers = set(reader.info.headers)
    own = {c: f for c, f in mapping.items() if c in headers}
    used.update(own)
    return own
