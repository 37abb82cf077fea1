"""``python -m analysis complaints [--db] [--from] [--to] [--category] [--platform] [--csv FILE | --xlsx FILE | --json]``.

The complaint list (:mod:`analysis.complaint_list`): masked text, complaint_id,
received_at, category, problem, platform, severity and cluster label. ``--json`` prints one
JSON object per complaint per line with the English keys ``complaint_id, received_at,
category, problem, platform, severity, cluster, text``; ``--csv``/``--xlsx`` write a
formula-safe file with Chinese headers; without them a summary and the first rows are printed.
At most 1,000,000 complaints are written (narrow the period beyond that).
"""

from __future__ import annotations

import argparse
import sys

from analysis import complaint_list, export
from analysis.commands._common import period_options
from analysis.enrich import open_for_analysis
from analysis.errors import UserError
from analysis.store import Filters

NAME = "complaints"
HELP = "投诉明细清单：脱敏文本、投诉编号、登记时间、类别、问题类型、平台、严重程度、聚类标签（CSV、Excel 或逐行 JSON）"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's arguments."""
    parser.add_argument("--db", default=None,
                        help="数据库文件（默认：$COMPLAINT_RADAR_DB 或 data/store/complaints.duckdb）")
    parser.add_argument("--from", dest="start", metavar="DATE", default=None, help="起始日（含），如 2017-07-01")
    parser.add_argument("--to", dest="end", metavar="DATE", default=None, help="截止日（含），如 2017-12-31")
    parser.add_argument("--category", action="append", default=[], help="只列出该类别（可重复）")
    parser.add_argument("--platform", action="append", default=[], help="只列出该平台（可重复）")
    out = parser.add_mutually_exclusive_group()
    out.add_argument("--csv", metavar="FILE", default=None, help="写入 CSV 文件（UTF-8 BOM）")
    out.add_argument("--xlsx", metavar="FILE", default=None, help="写入 Excel 文件")
    out.add_argument("--json", action="store_true", help="每行输出一件投诉的 JSON 对象（英文键）")


def run(args: argparse.Namespace) -> int:
    """Write or print the complaint list."""
    start, end = period_options(args.start, args.end)
    filters = Filters(start=start, end=end, categories=tuple(args.category), platforms=tuple(args.platform))
    store = open_for_analysis(args.db)
    try:
        if store.is_empty():
            raise UserError("数据库中还没有投诉数据。请先运行 python -m analysis import 文件 导入数据。", file=store.path)
        total = complaint_list.count(store, filters)
        frame = complaint_list.complaint_list(store, filters)
    finally:
        store.close()
    if total > complaint_list.MAX_ROWS:
        print(f"提示：符合条件的投诉共 {total:,} 件，超过 {complaint_list.MAX_ROWS:,} 件上限，只输出前 "
              f"{complaint_list.MAX_ROWS:,} 件；请用 --from/--to 缩小时段分批导出。", file=sys.stderr)
    if args.json:
        for line in complaint_list.json_lines(frame):
            print(line)
        return 0
    table = complaint_list.display_frame(frame)
    if args.csv:
        with open(args.csv, "wb") as fh:
            fh.write(export.to_csv_bytes(table))
    elif args.xlsx:
        export.write_xlsx(args.xlsx, {"投诉明细": table})
    else:
        print(f"符合条件的投诉 {total:,} 件；用 --csv、--xlsx 或 --json 输出全部。")
        print(table.head(20).to_string(index=False))
        return 0
    print(f"已写入 {len(table):,} 件投诉：{args.csv or args.xlsx}")
    return 0
