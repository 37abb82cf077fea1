"""``python -m analysis repeats [--db PATH] [--from DATE] [--to DATE] [--top N] [--json]``.

Repeat complainants (by score) and group complaints (集体投诉, by size) of a period,
from :mod:`analysis.repeats`. Complainants appear only with masked phones; a
flagged one is a prompt to look (需进一步核实), never a verdict. ``--json`` prints
``{"complainants": [{"phone_masked", "complaints", "merchants", "districts",
"template_share", "score"}, …], "groups": [{"merchant", "product", "complainants",
"complaints", "window", "text"}, …]}``.
"""

from __future__ import annotations

import argparse
import json

from analysis import repeats
from analysis.commands._common import period_options
from analysis.enrich import ensure_enriched
from analysis.errors import UserError
from analysis.store import Filters, Store

NAME = "repeats"
HELP = "重复投诉人与集体投诉：按投诉人（手机号、证件号已加盐哈希，只显示脱敏号码）和模板化文本汇总"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's arguments."""
    parser.add_argument("--db", default=None,
                        help="数据库文件（默认：$COMPLAINT_RADAR_DB 或 data/store/complaints.duckdb）")
    parser.add_argument("--from", dest="start", metavar="DATE", default=None,
                        help="统计起始日（含），如 2017-07-01；默认为数据中的第一天")
    parser.add_argument("--to", dest="end", metavar="DATE", default=None,
                        help="统计截止日（含），如 2017-12-31；默认为数据中的最后一天")
    parser.add_argument("--top", type=int, default=20, help="每个列表最多列出几项（默认 20）")
    parser.add_argument("--json", action="store_true", help="以 JSON 输出（complainants、groups 两个列表）")


def run(args: argparse.Namespace) -> int:
    """Print the repeat complainants and group complaints of the period."""
    start, end = period_options(args.start, args.end)
    if args.top < 1:
        raise UserError(f"--top 应为正整数，而不是 {args.top}。")
    filters = Filters(start=start, end=end)
    with Store(args.db) as store:
        if store.is_empty():
            raise UserError("数据库中还没有投诉数据。请先运行 python -m analysis import 文件 导入数据。",
                            file=store.path)
        ensure_enriched(store)
        people = repeats.complainants(store, filters)
        groups = repeats.group_complaints(store, filters)
        notes = repeats.discount_notes(store, filters)
    if args.json:
        print(json.dumps(repeats.to_json(people, groups, top=args.top), ensure_ascii=False, indent=2))
        return 0
    period = f"{start or '数据首日'} 至 {end or '数据末日'}"
    flagged = int((people["flag"] == repeats.FLAG_LABEL).sum()) if len(people) else 0
    print(f"统计时段：{period}；多次投诉的投诉人 {len(people):,} 名（其中 {flagged} 名需进一步核实），"
          f"集体投诉 {len(groups)} 起")
    for note in notes:
        print(f"提示：{note}")
    if len(people):
        print("重复投诉人（按得分；号码已脱敏，仅供进一步核实，不作定性）：")
    for i, p in enumerate(people.head(args.top).itertuples(index=False), 1):
        print(f"{i:3d}. {p.key} {p.phone_masked or '（无电话）'}  投诉 {p.complaints} 件，店铺 {p.merchants} 家，"
              f"区 {p.districts} 个，模板化 {p.template_share:.0%}，得分 {p.score:.1f}"
              + (f"  {p.flag}" if p.flag else "") + (f"  典型诉求：{p.claims}" if p.claims else ""))
    if len(groups):
        print("集体投诉（按人数）：")
    for i, g in enumerate(groups.head(args.top).itertuples(index=False), 1):
        print(f"{i:3d}. {g.merchant or g.product}  {g.complainants} 人 {g.complaints} 件，{g.start} 至 {g.end}"
              f"（{g.product or '商品未注明'}）")
    return 0
