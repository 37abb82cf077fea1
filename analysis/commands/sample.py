"""``python -m analysis sample``: the ranked sampling list, as text, JSON, Excel or CSV."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

from analysis import export, sampling
from analysis.access import command_line_user
from analysis.enrich import open_for_analysis
from analysis.errors import UserError
from analysis.store import Filters
from analysis.textutil import json_safe

NAME = "sample"
HELP = "生成质量抽检优先级清单（EBGM/PRR 信号 + 严重程度 + 投诉量 + 增长），可导出 Excel / CSV"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's options."""
    parser.add_argument("--db", type=Path, default=None, help="数据库文件（默认 data/store/complaints.duckdb）")
    parser.add_argument("--top", type=int, default=30, help="抽检对象数量（默认 30）")
    parser.add_argument("--json", action="store_true", help="以 JSON 输出排名")
    parser.add_argument("--xlsx", type=Path, default=None, help="导出 Excel 抽检清单")
    parser.add_argument("--csv", type=Path, default=None, help="导出 CSV 抽检清单（UTF-8 带 BOM）")
    parser.add_argument("--from", dest="start", type=dt.date.fromisoformat, default=None,
                        help="评估期起始日 YYYY-MM-DD（默认数据首日）")
    parser.add_argument("--to", dest="end", type=dt.date.fromisoformat, default=None,
                        help="评估期截止日 YYYY-MM-DD（默认数据末日）")
    parser.add_argument("--grain", choices=sorted(sampling.GRAINS), default="product",
                        help="汇总粒度：product = 类别×商品/品牌×平台；merchant = 再细分到店铺")
    parser.add_argument("--categories", default=None,
                        help="逗号分隔的类别（默认：方案重点商品类别；all = 全部类别）")
    parser.add_argument("--platform-quota", type=int, default=None, help="每个平台最多几个对象")
    parser.add_argument("--category-quota", type=int, default=None, help="每个类别最多几个对象")
    parser.add_argument("--min-count", type=int, default=3, help="最少投诉量（默认 3）")
    parser.add_argument("--min-quality", type=int, default=1, help="最少质量安全类投诉量（默认 1）")
    parser.add_argument("--exclude", type=Path, default=None, help="已抽检商品清单（CSV/Excel）")
    parser.add_argument("--count-repeats", action="store_true",
                        help="逐件计入同一投诉人就同一商品的模板化重复投诉（默认合并为一件；集体投诉总是全部计入）")




def run(args: argparse.Namespace) -> int:
    """Score, select, print and export."""
    if args.db is not None and not args.db.exists():
        raise UserError("数据库文件不存在；请先用 import 或 build 命令导入数据。", file=str(args.db))
    with open_for_analysis(args.db) as store:
        if store.is_empty():
            raise UserError("数据库中没有投诉数据；请先用 `python -m analysis import 文件` 导入。")
        filters = Filters(start=args.start, end=args.end)
        result = sampling.score_units(store, filters=filters, grain=args.grain,
                                      discount_repeats=not args.count_repeats)
        if args.categories is None:
            categories = None
        elif args.categories.strip().lower() in {"all", "全部"}:
            categories = ()
        else:
            categories = tuple(c.strip() for c in args.categories.replace("，", ",").split(",") if c.strip())
        exclusions = sampling.read_exclusions(args.exclude) if args.exclude else None
        plan = sampling.select_targets(
            result, categories=categories, top=args.top, min_count=args.min_count, min_quality=args.min_quality,
            platform_quota=args.platform_quota, category_quota=args.category_quota, exclusions=exclusions,
            candidates=sampling.load_candidates(store),
        )
        details = sampling.target_details(store, result, plan)
        table = export.plan_table(plan, details)
        if args.xlsx or args.csv:
            extra = {"目标数量": args.top, "类别": list(categories) if categories is not None else "方案重点商品类别",
                     "每平台上限": args.platform_quota, "每类别上限": args.category_quota,
                     "最少投诉量": args.min_count, "最少质量安全类投诉量": args.min_quality,
                     "排除清单": args.exclude.name if args.exclude else None}
            notes = export.plan_notes(store, result, extra=extra, made_by=command_line_user())
            export.write_plan(table, notes, xlsx=args.xlsx, csv=args.csv)
    if args.json:
        ids = dict(zip(details["uid"], details["example_ids"], strict=True)) if len(details) else {}
        targets = []
        for row in plan.to_dict(orient="records"):
            targets.append({
                "rank": int(row["plan_rank"]), "score_rank": int(row["rank"]), "category": row["category"],
                "product": row["product"], "platform": row["platform"], "merchant": row["merchant"],
                "n": int(row["n"]), "n_qs": int(row["n_qs"]), "qs_share": row["qs_share"], "n_prev": int(row["n_prev"]),
                "growth": row["growth"], "top_problem": row["top_problem"], "eb05": row["EB05"],
                "ebgm": row["EBGM"], "eb95": row["EB95"], "prr": row["PRR"], "ror": row["ROR"], "chi2": row["chi2"],
                "signal": bool(row["signal"]), "score": row["score"],
                "score_signal": row["score_signal"], "score_severity": row["score_severity"],
                "score_volume": row["score_volume"], "score_growth": row["score_growth"],
                "source": row["source"], "reason": row["reason"],
                "complaint_ids": [str(i) for i in ids.get(row["uid"], [])],
            })
        out = {
            "period": [str(d) for d in result.period], "previous": [str(d) for d in result.previous],
            "grain": result.grain, "label_source": result.label_source,
            "method": result.fit.method if result.fit else None, "notes": result.notes,
            "units_scored": int(len(result.units)), "targets": targets,
        }
        json.dump(json_safe(out), sys.stdout, ensure_ascii=False, indent=1, allow_nan=False)
        sys.stdout.write("\n")
        return 0
    print(f"评估期 {result.period[0]} 至 {result.period[1]}；参与评分 {len(result.units)} 个对象；"
          f"信号方法：{result.fit.label if result.fit else '—'}")
    for note in result.notes:
        print(f"提示：{note}")
    for row in table.itertuples(index=False):
        print(f"{row[0]:>3}. [{row[1]}] {row[2]} @ {row[3]}  投诉 {row[5]} 件  EB05 {row[9]}  得分 {row[10]}  — {row[11]}")
    if args.xlsx:
        print(f"已导出 Excel：{args.xlsx}")
    if args.csv:
        print(f"已导出 CSV：{args.csv}")
    return 0
