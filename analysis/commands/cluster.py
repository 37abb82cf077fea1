"""``python -m analysis cluster``: cluster the complaints of a scope and print the clusters."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

from analysis import cluster
from analysis.enrich import open_for_analysis
from analysis.errors import UserError
from analysis.privacy import mask_text
from analysis.store import default_db_path

NAME = "cluster"
HELP = "对投诉聚类（可限定类别、平台、时间），输出聚类标签、规模和代表投诉"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's options."""
    parser.add_argument("--db", type=Path, default=None,
                        help="数据库文件（默认 $COMPLAINT_RADAR_DB 或 data/store/complaints.duckdb）")
    category, platform = _examples()
    parser.add_argument("--category", default=None, help=f"只聚类这个商品/服务类别{category}")
    parser.add_argument("--platform", default=None, help=f"只聚类这个平台{platform}")
    parser.add_argument("--start", type=_date, default=None, help="开始日期 YYYY-MM-DD（含）")
    parser.add_argument("--end", type=_date, default=None, help="结束日期 YYYY-MM-DD（含）")
    parser.add_argument("--clusterer", choices=sorted(cluster.CLUSTERERS), default="kmeans",
                        help="聚类方法：kmeans（k-means 球面聚类，默认）或 hdbscan（HDBSCAN 密度聚类，"
                             "聚类数由数据决定，噪声归入杂项）")
    parser.add_argument("--k", type=int, default=None,
                        help="k-means 的聚类数（默认按轮廓系数自动选择；hdbscan 不用）")
    parser.add_argument("--seed", type=int, default=0, help="随机种子（默认 0）")
    parser.add_argument("--json", action="store_true", help="以 JSON 输出聚类")
    parser.add_argument("--recluster", action="store_true",
                        help="重新聚类本范围（默认沿用上次的聚类，新导入的投诉归入最近的聚类；"
                             "重新聚类后名称、合并和隐藏按匹配的旧聚类继承）")
    parser.add_argument("--assignments", type=Path, default=None,
                        help="把每条投诉的聚类编号写入这个 CSV 文件（complaint_id, cluster_id）")


def _examples() -> tuple[str, str]:
    """``，如 食品`` and ``，如 淘宝``: the taxonomy's first category and platform, for the help."""
    from analysis.taxonomy import load_taxonomy  # noqa: PLC0415

    try:
        tax = load_taxonomy()
    except UserError:  # a malformed taxonomy is reported when the command runs
        return "（见 data/taxonomy/categories.csv）", "（见 data/taxonomy/platforms.csv）"
    return f"，如 {tax.categories[0]}", f"，如 {tax.platforms[0]}"


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"日期「{value}」格式不对，请写成 YYYY-MM-DD。") from None


def _names(pairs) -> list[dict]:
    """``[{"name", "count"}]`` with names masked: product, brand and merchant names are free text."""
    return [{"name": mask_text(str(n)), "count": int(c)} for n, c in pairs]


def _clusters_json(result: cluster.ClusterResult) -> list[dict]:
    out = []
    for row in result.clusters.itertuples(index=False):
        out.append({
            "id": int(row.cluster_id), "label": mask_text(str(row.label)),
            "label_terms": [mask_text(str(t)) for t in row.label_terms],
            "size": int(row.size), "share": float(row.share), "coherence": float(row.coherence),
            "top_products": _names(row.top_products),
            "top_brands": _names(row.top_brands),
            "top_merchants": _names(row.top_merchants),
            "representative_ids": list(row.representative_ids), "hidden": bool(row.hidden),
            "topic_uid": row.topic_uid,
        })
    return out


def _print_table(result: cluster.ClusterResult, n_complaints: int, method: str) -> None:
    print(f"范围：{result.scope.describe()}，投诉 {n_complaints} 条，聚类 {result.n_clusters} 个（{method}）")
    for row in result.clusters.itertuples(index=False):
        products = "、".join(f"{p['name']}({p['count']})" for p in _names(row.top_products)) or "—"
        flag = "（已隐藏）" if row.hidden else ""
        print(f"[{row.cluster_id:>3}] {mask_text(str(row.label))}{flag}  {row.size} 条 ({row.share:.1%})  "
              f"紧密度 {row.coherence:.2f}")
        print(f"      关键词：{' '.join(mask_text(str(t)) for t in row.label_terms)}")
        print(f"      主要商品：{products}")


def run(args: argparse.Namespace) -> int:
    """Cluster the scope and print the clusters (table or JSON); optionally write assignments."""
    path = Path(args.db) if args.db else default_db_path()
    if not path.exists():
        raise UserError("数据库文件不存在；请先用 `python -m analysis import` 导入投诉数据。",
                        file=str(path))
    if args.k is not None and args.k < 1:
        raise UserError("--k 必须是正整数。")
    clusterer = cluster.make_clusterer(args.clusterer, n_clusters=args.k)
    with open_for_analysis(path, progress=None if args.json else _progress) as store:
        if store.is_empty():
            raise UserError("数据库中还没有投诉数据；请先导入。", file=str(path))
        result = cluster.run_clustering(
            store, category=args.category, platform=args.platform, start=args.start,
            end=args.end, clusterer=clusterer, random_state=args.seed, recluster=args.recluster)
    n_complaints = len(result.assignments)
    if args.assignments is not None:
        from analysis.export import to_csv_bytes

        frame = result.assignments[["complaint_id", "cluster_id"]]
        args.assignments.parent.mkdir(parents=True, exist_ok=True)
        args.assignments.write_bytes(to_csv_bytes(frame))
    if args.json:
        payload = {"scope": {"category": args.category, "platform": args.platform,
                             "start": args.start and args.start.isoformat(),
                             "end": args.end and args.end.isoformat()},
                   "clusterer": args.clusterer, "n_complaints": n_complaints, "n_clusters": result.n_clusters,
                   "message": result.message, "since_run": result.since_run, "changes": result.changes,
                   "clusters": _clusters_json(result)}
        json.dump(payload, sys.stdout, ensure_ascii=False, indent=2)
        print()
    else:
        if result.message:
            print(result.message)
        for line in cluster.run_notes(result):
            print(line)
        if not result.too_few:
            _print_table(result, n_complaints, cluster.describe_clusterer(clusterer))
        if args.assignments is not None:
            print(f"已写入 {n_complaints} 条聚类结果：{args.assignments}")
    return 0


def _progress(done: int, total: int) -> None:
    print(f"\r正在准备分词和分类：{done}/{total}", end="" if done < total else "\n", file=sys.stderr)
