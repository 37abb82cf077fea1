"""``python -m analysis classify [--json]``: classify texts read from stdin, one per line.

Uses the rule classifier, plus the supervised category model when the store holds one
(trained by :func:`analysis.enrich.ensure_enriched` from an import's category column).
Output is masked: phone numbers, ID numbers and the like never leave the command.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from analysis.errors import UserError
from analysis.store import Store, default_db_path

NAME = "classify"
HELP = "对标准输入的投诉文本（每行一条）判断商品类别、问题类型、严重程度和平台"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's options."""
    parser.add_argument("--json", action="store_true",
                        help="每行输出一个 JSON 对象（category, category_confidence, problem, severity, "
                             "platform, evidence, masked_text …）")
    parser.add_argument("--db", type=Path, default=None,
                        help="从这个数据库读取当前启用的类别模型版本（默认 $COMPLAINT_RADAR_DB 或 "
                             "data/store/complaints.duckdb；不存在时只用规则）")
    parser.add_argument("--rules-only", action="store_true", help="只用规则分类器，不加载模型")
    parser.add_argument("--backend", choices=("rjieba", "jieba"), default="rjieba", help="分词后端（默认 rjieba）")


def _load_model(path: Path):
    from analysis.classify import SupervisedClassifier

    if not path.exists():
        return None
    try:
        with Store(path, read_only=True) as store:
            from analysis import models

            try:  # the active version of the registry
                current = models.active(store)
            except Exception:  # noqa: BLE001 (a store made before the registry)
                current = None
            return models.load_model(store, current.version) if current else SupervisedClassifier.load(store)
    except Exception as exc:  # a locked or foreign file: fall back to the rules, but say so
        print(f"提示：无法从「{path}」读取类别模型（{exc.__class__.__name__}），仅使用规则分类。", file=sys.stderr)
        return None


def run(args: argparse.Namespace) -> int:
    """Read stdin line by line, classify in batches and print one result per input line."""
    import pandas as pd

    from analysis.classify import RuleClassifier, SOURCE_LABELS, classify_complaints
    from analysis.privacy import mask_text
    from analysis.segment import Tokenizer
    from analysis.taxonomy import load_taxonomy

    taxonomy = load_taxonomy()
    rules = RuleClassifier(taxonomy)
    tokenizer = Tokenizer(backend=args.backend)
    model = None if args.rules_only else _load_model(Path(args.db) if args.db else default_db_path())
    stdin = sys.stdin
    if hasattr(stdin, "reconfigure"):
        stdin.reconfigure(encoding="utf-8", errors="replace")
    batch: list[str] = []

    def flush() -> None:
        if not batch:
            return
        texts = [line.rstrip("\r\n") for line in batch]
        tokens = list(tokenizer.cut_many(texts))
        result = classify_complaints(pd.DataFrame({"text": texts}), tokens=tokens, taxonomy=taxonomy,
                                     rules=rules, model=model)
        for text, row in zip(texts, result.itertuples(index=False)):
            if args.json:
                record = {
                    "category": row.category, "category_confidence": float(row.category_confidence),
                    "category_source": row.category_source, "problem": row.problem,
                    "problem_confidence": float(row.problem_confidence), "severity": int(row.severity),
                    "platform": row.platform_norm,
                    "evidence": {"category": mask_text(row.category_evidence),
                                 "problem": mask_text(row.problem_evidence)},
                    "masked_text": mask_text(text),
                }
                print(json.dumps(record, ensure_ascii=False))
            else:
                print(f"{row.category}\t{row.problem}\t{row.severity}\t{row.platform_norm}\t"
                      f"{SOURCE_LABELS.get(row.category_source, '')}\t{mask_text(row.category_evidence)}")
        sys.stdout.flush()
        batch.clear()

    interactive = stdin.isatty()
    try:
        for line in stdin:
            batch.append(line)
            if interactive or len(batch) >= 2000:
                flush()
        flush()
    except BrokenPipeError:  # `… | head`: stop quietly
        return 0
    except UnicodeError as exc:
        raise UserError(f"标准输入无法解码（{exc.reason}），请使用 UTF-8 编码。") from None
    return 0
