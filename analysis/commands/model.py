"""``python -m analysis model {train,list,diff,activate,rollback} [--db PATH] …``.

The category model registry (:mod:`analysis.models`): ``train`` a new version from the
stored labels (``--activate`` to use it at once), ``list`` the versions, ``diff VERSION``
(how many complaints would change category, a from → to table, 20 example ids; nothing is
written), ``activate VERSION`` (reclassifies every complaint with a progress bar; who/when
and the diff are recorded, and ``model_activate`` in the audit log), ``rollback`` to the
version active before. ``--json`` prints the result as one JSON document.
"""

from __future__ import annotations

import argparse
import json

from analysis import models
from analysis.access import command_line_user
from analysis.commands.import_cmd import ProgressBar
from analysis.enrich import ensure_enriched
from analysis.errors import UserError
from analysis.segment import Tokenizer
from analysis.store import Store

NAME = "model"
HELP = "分类模型版本：train 训练新版本，list 列出版本，diff 版本号 预览启用后的类别变化，activate 版本号 启用，rollback 回退"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's arguments."""
    parser.add_argument("action", choices=("train", "list", "diff", "activate", "rollback"), help="要做的操作")
    parser.add_argument("version", nargs="?", type=int, default=None, help="模型版本号（diff、activate 需要）")
    parser.add_argument("--db", default=None,
                        help="数据库文件（默认：$COMPLAINT_RADAR_DB 或 data/store/complaints.duckdb）")
    parser.add_argument("--activate", action="store_true", help="train：训练后立即启用新版本")
    parser.add_argument("--json", action="store_true", help="以 JSON 输出")
    parser.add_argument("--no-progress", action="store_true", help="不显示进度条")


def _bar(args, label: str):
    if args.no_progress or args.json:
        return None
    bar = ProgressBar(label)
    return lambda done, total: bar(done / max(total, 1), f"{done:,}/{total:,} 条")


def _print_diff(summary: dict, *, applied: bool) -> None:
    verb = "已改变" if applied else "将改变"
    target = f"版本 {summary['version']}" if summary["version"] is not None else "规则"
    print(f"{target}：{summary['complaints']:,} 件投诉中{verb}类别的 {summary['changed']:,} 件。")
    for row in summary["table"][:30]:
        print(f"  {row['from']} → {row['to']}：{row['n']:,} 件")
    if summary["examples"]:
        print(f"  示例投诉编号：{'，'.join(summary['examples'])}")


def run(args: argparse.Namespace) -> int:
    """Run the registry action."""
    if args.action in ("diff", "activate") and args.version is None:
        raise UserError(f"model {args.action} 需要版本号，例如 python -m analysis model {args.action} 2"
                        "（用 python -m analysis model list 查看版本）。")
    user = command_line_user()
    tokenizer = Tokenizer()
    with Store(args.db) as store:
        if args.action == "list":
            if args.json:
                rows = [{"version": v.version, "active": v.active, "trained_at": str(v.trained_at),
                         "trained_by": v.trained_by, "n_train": v.n_train, "classes": v.classes,
                         "cv_macro_f1": v.cv_macro_f1, "cv_f1": v.cv_f1, "activated_at": str(v.activated_at or ""),
                         "activated_by": v.activated_by} for v in models.versions(store)]
                print(json.dumps(rows, ensure_ascii=False, indent=2))
                return 0
            frame = models.versions_frame(store)
            print(frame.to_string(index=False) if len(frame) else "还没有分类模型版本（新投诉按规则分类）。"
                  "用 python -m analysis model train 训练。")
            state = models.staleness(store, tokenizer=tokenizer)
            if state["out_of_date"]:
                print("提示：当前模型训练后分类目录或词典已修改，模型已过时；可训练新版本并用 model diff 查看变化。")
            return 0
        if store.is_empty():
            raise UserError("数据库中还没有投诉数据。请先运行 python -m analysis import 文件 导入数据。", file=store.path)
        ensure_enriched(store, tokenizer=tokenizer)
        if args.action == "train":
            version = models.train(store, tokenizer=tokenizer, user=user, activate_now=args.activate,
                                   progress=_bar(args, "重新分类"))
            if args.json:
                print(json.dumps({"version": version.version, "n_train": version.n_train,
                                  "cv_macro_f1": version.cv_macro_f1, "cv_f1": version.cv_f1,
                                  "active": version.active}, ensure_ascii=False))
            else:
                print(f"已训练版本 {version.version}：训练样本 {version.n_train:,} 条，{len(version.classes)} 个类别，"
                      f"交叉验证宏平均 F1 {version.cv_macro_f1:.3f}。"
                      + ("已启用。" if version.active else
                         f"未启用：用 model diff {version.version} 预览，model activate {version.version} 启用。"))
            return 0
        if args.action == "diff":
            summary = models.diff(store, args.version, tokenizer=tokenizer, progress=_bar(args, "预览"))
        elif args.action == "activate":
            summary = models.activate(store, args.version, tokenizer=tokenizer, user=user,
                                      progress=_bar(args, "重新分类"))
        else:
            summary = models.rollback(store, tokenizer=tokenizer, user=user, progress=_bar(args, "重新分类"))
    if args.json:
        print(json.dumps(summary, ensure_ascii=False, indent=2))
    else:
        _print_diff(summary, applied=args.action != "diff")
    return 0
