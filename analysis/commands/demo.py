"""``python -m analysis demo``: write the seeded demo export and its truth file."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from analysis import demo

NAME = "demo"
HELP = "生成演示数据：12315 风格的投诉导出文件（GBK 编码 CSV）及其埋点真值 truth.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options: rows, seed, output file, encoding, period, JSON summary."""
    parser.add_argument("--rows", type=int, default=demo.DEFAULT_ROWS,
                        help=f"投诉条数（默认 {demo.DEFAULT_ROWS}；基准测试可用 1000000）")
    parser.add_argument("--seed", type=int, default=demo.DEFAULT_SEED,
                        help=f"随机种子，相同参数总是生成相同文件（默认 {demo.DEFAULT_SEED}）")
    parser.add_argument("--out", type=Path, default=demo.DEFAULT_EXPORT,
                        help="输出 CSV 路径（默认 data/demo/demo_complaints.csv）；truth.json 写在同一目录")
    parser.add_argument("--encoding", default="gbk", help="文件编码（默认 gbk，与真实导出一致）")
    parser.add_argument("--start", default=demo.DEFAULT_START, help="起始日期 YYYY-MM-DD")
    parser.add_argument("--end", default=demo.DEFAULT_END, help="结束日期 YYYY-MM-DD")
    parser.add_argument("--truth", type=Path, default=None,
                        help="真值文件路径（默认与输出文件同目录的 truth.json）")
    parser.add_argument("--json", action="store_true", help="在标准输出打印 JSON 摘要")


def run(args: argparse.Namespace) -> int:
    """Write the export and the truth file; print a summary."""
    summary = demo.write_export(args.out, rows=args.rows, random_state=args.seed, encoding=args.encoding,
                                start=args.start, end=args.end)
    truth_path = demo.write_truth(args.truth or Path(args.out).with_name(demo.TRUTH_NAME), summary["truth"])
    summary["truth_path"] = str(truth_path)
    if args.json:
        print(json.dumps({k: v for k, v in summary.items() if k != "truth"} | {
            "signals": [{"id": t["id"], "count": t["count"]} for t in summary["truth"]]}, ensure_ascii=False))
        return 0
    print(f"已生成 {summary['rows']:,} 条演示投诉：{summary['path']}（{summary['encoding']}，"
          f"{summary['bytes'] / 2**20:.1f} MiB，{summary['seconds']:.1f} 秒）")
    print(f"埋点真值：{truth_path}")
    for t in summary["truth"]:
        if t["kind"] == "repeat_complainant":
            what = f"重复投诉人，{t['product']}，{t['merchants']} 家店铺"
        elif t["kind"] == "group_complaint":
            what = f"集体投诉，{t['merchant']}（{t['product']}）"
        else:
            what = f"{t['product']} @ {t['platform']}，{t['problem']}"
        print(f"  · {t['id']}：{what}，{t['window'][0]} 至 {t['window'][1]}，{t['count']} 条")
    d11 = summary["double11"]
    if len(d11) >= 2:
        print("  · 双十一主窗口投诉量：" + "，".join(f"{y}年 {n} 条" for y, n in d11.items()))
    return 0
