"""``python -m analysis audit [--db PATH] [--from DATE] [--to DATE] [--user LOGIN] [--action CODE] [--json]``.

Prints the audit trail (who did what, when, with which parameters), newest first:
one line per event, or with ``--json`` a list of ``{"event_id", "logged_at", "user_id",
"user_name", "roles", "action", "action_label", "params"}``. Personal data in the
parameters is masked. Reading never writes; the store must not be open in the dashboard.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

from analysis import audit
from analysis.errors import UserError
from analysis.store import Store

NAME = "audit"
HELP = "查看审计日志：谁在何时做了什么（登录、导入、模型、聚类编辑、导出、下载、查看未脱敏信息）"


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"日期「{value}」无法识别，请写成 2017-11-01 这样的格式") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's options."""
    parser.add_argument("--db", type=Path, default=None,
                        help="数据库文件（默认：$COMPLAINT_RADAR_DB 或 data/store/complaints.duckdb）")
    parser.add_argument("--from", dest="start", type=_date, default=None, metavar="DATE",
                        help="起始日（含），如 2017-11-01")
    parser.add_argument("--to", dest="end", type=_date, default=None, metavar="DATE", help="截止日（含）")
    parser.add_argument("--user", action="append", default=[], metavar="LOGIN", help="只看这些用户（可重复）")
    parser.add_argument("--action", action="append", default=[], choices=sorted(audit.ACTIONS), metavar="CODE",
                        help="只看这些操作（可重复）：" + "，".join(f"{k}={v}" for k, v in audit.ACTIONS.items()))
    parser.add_argument("--json", action="store_true", help="以 JSON 输出")


def run(args: argparse.Namespace) -> int:
    """Print the matching events."""
    if args.start and args.end and args.end < args.start:
        raise UserError(f"--to（{args.end}）早于 --from（{args.start}），请检查时段。")
    if args.db is not None and not args.db.exists():
        raise UserError("数据库文件不存在，请检查路径。", file=str(args.db))
    with Store(args.db, read_only=True) as store:
        log = audit.read(store, start=args.start, end=args.end, users=args.user, actions=args.action)
    if args.json:
        json.dump(audit.to_records(log), sys.stdout, ensure_ascii=False, indent=1)
        sys.stdout.write("\n")
        return 0
    if log.empty:
        print("审计日志中没有符合条件的记录。")
        return 0
    table = audit.display_frame(log)
    for row in table.itertuples(index=False):
        who = row[1] if not isinstance(row[2], str) or row[2] == row[1] else f"{row[2]}（{row[1]}）"
        roles = f"［{row[3]}］" if row[3] else ""
        print(f"{row[0]:%Y-%m-%d %H:%M:%S}  {who}{roles}  {row[4]}  {row[5]}")
    print(f"共 {len(log)} 条。")
    return 0
