"""``python -m analysis trends``: event study of one promotion (complaints in its window vs. a baseline)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from analysis import trends
from analysis.enrich import open_for_analysis
from analysis.errors import UserError
from analysis.store import Filters, default_db_path

NAME = "trends"
HELP = "促销期投诉事件研究：窗口内投诉量、较基线的增幅与95%置信区间、增量来源（类别/平台/商品）"

def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's options."""
    parser.add_argument("--db", type=Path, default=None,
                        help="数据库文件（默认 $COMPLAINT_RADAR_DB 或 data/store/complaints.duckdb）")
    parser.add_argument("--promotion", required=True, help=_promotion_help())
    parser.add_argument("--year", type=int, required=True, help="促销年份，如 2017")
    parser.add_argument("--category", action="append", default=[], help="只看这个类别（可重复）")
    parser.add_argument("--platform", action="append", default=[], help="只看这个平台（可重复）")
    parser.add_argument("--district", action="append", default=[], help="只看这个区（可重复）")
    parser.add_argument("--top", type=int, default=5, help="每个维度列出的增量来源个数（默认 5）")
    parser.add_argument("--calendar", type=Path, default=None,
                        help="促销日历 CSV（默认 data/promotions.csv）")
    parser.add_argument("--json", action="store_true",
                        help="以 JSON 输出（window_start, window_end, count, baseline, lift, ci_low, ci_high, "
                             "excess, drivers …）")


def _promotion_help() -> str:
    """``促销名称或别名：双十一(双11)、618(六一八)…`` from the calendar (each name with its first alias)."""
    try:
        calendar = trends.load_promotions()
    except UserError:  # a malformed calendar is reported when the command runs
        return "促销名称或别名（见 data/promotions.csv）"
    names = []
    for name in calendar.names:
        alias = next((a for a, n in calendar.aliases.items() if n == name and a != name), None)
        names.append(f"{name}({alias})" if alias else name)
    return "促销名称或别名：" + "、".join(names)


def _print_text(study: trends.EventStudy) -> None:
    print(trends.describe_event(study))
    if study.method:
        print(f"方法：{study.method}")
    rows = study.baselines.to_dict("records") if len(study.baselines) else []
    for row in rows:
        if pd.notna(row["lift"]):
            print(f"  · {row['label']}：预期 {row['expected']:.1f} 件，倍数 {row['lift']:.2f}"
                  f"（95%置信区间 {row['ci_low']:.2f}—{row['ci_high']:.2f}）")
        elif pd.notna(row["reason"]):
            print(f"  · {row['label']}：{row['reason']}")
    if len(study.drivers):
        with_excess = study.lift is not None
        print("增量来源：" if with_excess else "投诉最多：")
        for dim, part in study.drivers.groupby("dimension", sort=False):
            items = [f"{v}（{e:+.0f}件）" if with_excess else f"{v}（{c}件）"
                     for v, c, e in zip(part["value"], part["count"], part["excess"])]
            print(f"  {trends.DRIVER_DIMENSIONS.get(dim, dim)}：{'、'.join(items)}")


def run(args: argparse.Namespace) -> int:
    """Run the event study and print it (plain Chinese or JSON)."""
    path = Path(args.db) if args.db else default_db_path()
    if not path.exists():
        raise UserError("数据库文件不存在；请先用 `python -m analysis import` 导入投诉数据。", file=str(path))
    if args.top < 1:
        raise UserError("--top 必须是正整数。")
    calendar = trends.load_promotions(args.calendar)
    calendar.get(args.promotion, args.year)          # unknown name or year: a clear message before any work
    filters = Filters(categories=tuple(args.category), platforms=tuple(args.platform),
                      districts=tuple(args.district))
    with open_for_analysis(path) as store:
        study = trends.event_study(store, filters, promotion=args.promotion, year=args.year,
                                   calendar=calendar, drivers_top=args.top)
    if args.json:
        doc = study.to_dict()
        doc["summary"] = trends.describe_event(study)
        print(json.dumps(doc, ensure_ascii=False, indent=2))
    else:
        _print_text(study)
    return 0
