"""``python -m analysis report [--db PATH] [--from DATE] [--to DATE] [--xlsx FILE] [--html FILE]``.

Writes the special action's 统计表 workbook and/or the leadership HTML briefing
for a period (default: all stored data). The store is opened for analysis
(:func:`analysis.enrich.open_for_analysis`), so the command also works on a store
whose last import was interrupted before its complaints were classified.
"""

from __future__ import annotations

import argparse

from analysis import overview, report
from analysis.access import command_line_user
from analysis.commands._common import period_options
from analysis.enrich import open_for_analysis
from analysis.errors import UserError
from analysis.store import Filters

NAME = "report"
HELP = "生成专项行动报表：统计表 Excel 工作簿（--xlsx）和可打印的 HTML 简报（--html）"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's arguments."""
    parser.add_argument("--db", default=None,
                        help="数据库文件（默认：$COMPLAINT_RADAR_DB 或 data/store/complaints.duckdb）")
    parser.add_argument("--from", dest="start", metavar="DATE", default=None,
                        help="统计起始日（含），如 2017-11-01；默认为数据中的第一天")
    parser.add_argument("--to", dest="end", metavar="DATE", default=None,
                        help="统计截止日（含），如 2017-11-30；默认为数据中的最后一天")
    parser.add_argument("--category", action="append", default=[], metavar="类别",
                        help="只统计这些商品/服务类别（可重复）")
    parser.add_argument("--platform", action="append", default=[], metavar="平台",
                        help="只统计这些平台（可重复）")
    parser.add_argument("--district", action="append", default=[], metavar="区",
                        help="只统计这些所属区（可重复）")
    parser.add_argument("--xlsx", metavar="FILE", default=None, help="统计表工作簿的输出路径（.xlsx）")
    parser.add_argument("--html", metavar="FILE", default=None, help="HTML 简报的输出路径（.html）")


def run(args: argparse.Namespace) -> int:
    """Write the requested files; print one line per file."""
    if not args.xlsx and not args.html:
        raise UserError("请用 --xlsx 文件.xlsx 和/或 --html 文件.html 指定要生成的报表。")
    start, end = period_options(args.start, args.end)
    filters = Filters(start=start, end=end, categories=tuple(args.category),
                      platforms=tuple(args.platform), districts=tuple(args.district))
    with open_for_analysis(args.db) as store:
        if store.is_empty():
            raise UserError("数据库中还没有投诉数据。请先运行 python -m analysis import 文件 导入数据。",
                            file=store.path)
        filters = overview.resolve_period(store, filters)
        where, params = filters.where()
        total = int(store.scalar(f"SELECT count(*) FROM complaints_enriched WHERE {where}", params))
        scope = f"{filters.start} 至 {filters.end}，投诉 {total:,} 件"
        if args.xlsx:
            report.write_stat_workbook(args.xlsx, store, filters, made_by=command_line_user())
            print(f"已生成统计表：{args.xlsx}（{scope}）")
        if args.html:
            report.write_html_briefing(args.html, store, filters, made_by=command_line_user())
            print(f"已生成简报：{args.html}（{scope}）")
    return 0
