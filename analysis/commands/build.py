"""``python -m analysis build [--db PATH] [--json] FILE...``: import, segment, classify and cluster.

Runs :func:`analysis.pipeline.build`: every stage commits in pieces and skips
what is done, so running the command again after an interruption continues
where it stopped, and running it on files already imported only fills what is
missing. A progress bar (stage, rows, rate) goes to stderr; the summary goes to
stdout (one JSON object with ``--json``). Exit code 0, or 2 when a file was
rejected (the other files are still imported). The work runs on a local Dask
cluster (one worker per core) or on ``--scheduler`` / ``$COMPLAINT_RADAR_SCHEDULER``;
where it runs and the Dask dashboard's address are printed on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from analysis.errors import UserError
from analysis.pipeline import STAGE_LABELS, BuildReport, build
from analysis.store import Store

NAME = "build"
HELP = "一键构建：导入文件 → 分词 → 分类 → 重点类别聚类（可中断后继续）"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's arguments."""
    parser.add_argument("files", nargs="*", metavar="FILE",
                        help="要导入的投诉导出文件（可多个；已导入过的文件按 SHA-256 跳过）。"
                             "不给文件时只补齐已有数据的分词、分类和聚类")
    parser.add_argument("--db", default=None,
                        help="数据库文件（默认：$COMPLAINT_RADAR_DB 或 data/store/complaints.duckdb）")
    parser.add_argument("--categories", default=None, metavar="类别,…",
                        help="要聚类的类别，逗号分隔（默认：专项行动的重点类别）；写 none 表示不聚类")
    parser.add_argument("--seed", type=int, default=0, help="聚类的随机种子（默认 0）")
    parser.add_argument("--scheduler", default=None, metavar="tcp://主机:8786",
                        help="在已有的 Dask 集群上计算（默认：$COMPLAINT_RADAR_SCHEDULER；都没有时在本机启动"
                             "每个 CPU 核一个工作进程的 Dask 集群，结束时关闭）")
    parser.add_argument("--workers", type=int, default=None, metavar="N",
                        help="本机 Dask 集群的工作进程数（默认：CPU 核数）")
    parser.add_argument("--single-process", action="store_true",
                        help="全部在本进程计算，不启动 Dask")
    parser.add_argument("--json", action="store_true", help="以一个 JSON 对象输出结果（stdout）")
    parser.add_argument("--no-progress", action="store_true", help="不显示进度条")


class StageProgress:
    """Progress on stderr: one updating line per stage on a terminal, a line per 10 % otherwise.

    Shows the stage, the count done of the total and the rate (rows/s; MB/s
    while importing).
    """

    def __init__(self, *, stream=None, width: int = 24) -> None:
        self.stream = stream or sys.stderr
        self.width = width
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.stage: str | None = None
        self.started = 0.0
        self.last_step = -1
        self.open_line = False

    def _format(self, stage: str, done: int, total: int) -> str:
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        label = STAGE_LABELS.get(stage, stage)
        if stage == "import":
            amount = f"{done / 1e6:,.1f}/{total / 1e6:,.1f} MB"
            rate = f"{done / 1e6 / elapsed:,.1f} MB/秒"
        else:
            unit = "类" if stage == "clusters" else "条"
            amount = f"{done:,}/{total:,} {unit}"
            rate = f"{done / elapsed:,.0f} {unit}/秒" if stage != "clusters" else f"{elapsed:,.0f} 秒"
        pct = 100 * done / total if total else 100.0
        filled = int(self.width * min(pct, 100) / 100)
        bar = "#" * filled + "-" * (self.width - filled)
        return f"{label} [{bar}] {pct:5.1f}% {amount}  {rate}"

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage != self.stage:
            self.end_line()
            self.stage, self.started, self.last_step = stage, time.perf_counter(), -1
        if not total:  # a stage starts (or has nothing to count): the rate is measured from here
            return
        if self.tty:
            self.stream.write("\r" + self._format(stage, done, total) + "\033[K")
            self.open_line = True
            if total and done >= total:
                self.end_line()
        else:
            step = int(10 * done / total) if total else 10
            if step > self.last_step:
                self.stream.write(self._format(stage, done, total) + "\n")
                self.last_step = step
        self.stream.flush()

    def end_line(self) -> None:
        """Finish the current terminal line."""
        if self.open_line:
            self.stream.write("\n")
            self.stream.flush()
            self.open_line = False


def parse_categories(value: str | None) -> tuple[str, ...] | None:
    """``--categories``: ``None`` for the default, ``()`` for ``none``, else the names.

    Raises:
        UserError: a name that is not a category of the taxonomy.
    """
    if value is None:
        return None
    if value.strip().lower() in ("none", "无", ""):
        return ()
    from analysis.taxonomy import load_taxonomy

    names = tuple(dict.fromkeys(v.strip() for v in value.replace("，", ",").split(",") if v.strip()))
    known = load_taxonomy().categories
    unknown = [n for n in names if n not in known]
    if unknown:
        raise UserError(f"--categories 中的「{'、'.join(unknown)}」不是已知类别。可用类别：{'、'.join(known)}。")
    return names


def summary_lines(report: BuildReport) -> list[str]:
    """The build's summary in Chinese, one line per fact."""
    lines = []
    for f in report.files:
        if f.status == "imported":
            lines.append(f"导入 {f.file}：读取 {f.rows_read:,} 行 → 新增 {f.imported:,}，隔离 {f.quarantined:,}，"
                         f"重复 {f.duplicates:,}（批次 #{f.import_id}，{f.seconds:.1f} 秒）")
        elif f.status == "skipped":
            lines.append(f"跳过 {f.file}：相同文件已在导入批次 #{f.import_id} 导入（{f.imported:,} 条）")
        else:
            lines.append(f"未导入 {f.file}：{f.error}")
    secs = report.stage_seconds
    lines.append(f"分词：新分词 {report.segmented:,} 条不同文本，{secs.get('tokens', 0):.1f} 秒")
    lines.append(f"分类：新分类 {report.enriched:,} 条投诉，{secs.get('enrich', 0):.1f} 秒")
    if report.clusters:
        parts = [f"{c.category} {c.clusters} 个{'（缓存）' if c.cached else ''}" for c in report.clusters]
        lines.append(f"聚类：{len(report.clusters)} 个重点类别，{secs.get('clusters', 0):.1f} 秒 — " + "，".join(parts))
    else:
        lines.append("聚类：没有需要聚类的类别（每个重点类别至少需要 30 条投诉）")
    where = "本进程" if report.engine == "in-process" else f"Dask（{report.engine}）"
    lines.append(f"计算：{where}" + (f"，仪表板 {report.dashboard}" if report.dashboard else ""))
    lines.append(f"完成：数据库共 {report.complaints:,} 条投诉，用时 {report.seconds:.1f} 秒。数据库：{report.store}")
    if not report.complaints:
        lines.append("提示：数据库中还没有投诉数据。请在命令后写上要导入的导出文件，例如："
                     "python -m analysis build data/demo/demo_complaints.csv")
    return lines


def _announce(engine) -> None:
    """Say on stderr where the tasks run and where the Dask dashboard is."""
    where = engine.address or f"本机 Dask 集群（{engine.n_workers} 个工作进程）"
    link = engine.dashboard_link
    print(f"计算引擎：{where}" + (f"；Dask 仪表板：{link}" if link else ""), file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    """Build the store; return 0, or 2 when a file was rejected."""
    categories = parse_categories(args.categories)
    bar = None if args.no_progress else StageProgress()
    with Store(args.db) as store:
        try:
            report = build(store, [Path(f) for f in args.files], cluster_categories=categories,
                           progress=bar, random_state=args.seed, n_jobs=1 if args.single_process else args.workers,
                           scheduler=args.scheduler, on_engine=_announce)
        finally:
            if bar is not None:
                bar.end_line()
    for f in report.rejected:
        print(f"错误：{f.error}", file=sys.stderr)
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False), flush=True)
    else:
        print("\n".join(summary_lines(report)), flush=True)
    return 2 if report.rejected else 0
