"""``python -m analysis ebgm``: DuMouchel's Gamma-Poisson Shrinker on a table of report rows."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import pandas as pd

from analysis import ebgm
from analysis.errors import UserError

NAME = "ebgm"
HELP = "对报告明细表（报告编号 × 商品 × 事件）计算 PRR、EBGM、EB05、EB95（DuMouchel GPS）"

_COLUMNS = ["var1", "var2", "N", "E", "RR", "PRR", "EBGM", "EB05", "EB95"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's options."""
    parser.add_argument("--pairs", required=True, type=Path, help="CSV / Excel 文件：每行一个 报告编号 × 商品 × 事件")
    parser.add_argument("--id", required=True, dest="id_col", help="报告编号列名")
    parser.add_argument("--var1", required=True, help="商品列名")
    parser.add_argument("--var2", required=True, help="事件 / 问题类型列名")
    parser.add_argument("--json", action="store_true", help="以 JSON 输出")
    parser.add_argument("--top", type=int, default=None, help="只输出 EB05 最高的前 N 个组合（默认全部，按商品、事件排序）")
    parser.add_argument("--seed", type=int, default=0, help="随机起点的种子（默认 0）")


def _read_pairs(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise UserError("文件不存在，请检查路径。", file=str(path))
    suffix = path.suffix.lower()
    try:
        if suffix in {".xlsx", ".xlsm", ".xls"}:
            return pd.read_excel(path, dtype=str, engine="calamine")
        if suffix not in {".csv", ".txt", ".tsv"}:
            raise UserError("只支持 CSV、TSV 或 Excel（.xlsx/.xls）文件。", file=path.name)
        sep = "\t" if suffix == ".tsv" else ","
        for encoding in ("utf-8-sig", "gb18030"):
            try:
                return pd.read_csv(path, dtype=str, sep=sep, encoding=encoding, keep_default_na=False,
                                   na_values=[""])
            except UnicodeDecodeError:
                continue
        raise UserError("无法识别文件编码，请另存为 UTF-8 编码的 CSV。", file=path.name)
    except UserError:
        raise
    except (ValueError, OSError) as exc:
        raise UserError(f"无法读取文件（{exc}）。请检查文件格式。", file=path.name) from exc


def _number(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def run(args: argparse.Namespace) -> int:
    """Fit the prior on all pairs and print hyperparameters and scores."""
    raw = _read_pairs(args.pairs)
    for col in (args.id_col, args.var1, args.var2):
        if col not in raw.columns:
            raise UserError(f"找不到列「{col}」。文件中的列：{', '.join(map(str, raw.columns))}。",
                            file=args.pairs.name, column=col)
    counts = ebgm.contingency_counts(raw, id_col=args.id_col, var1=args.var1, var2=args.var2)
    if counts.empty:
        raise UserError("文件中没有有效的 报告编号 × 商品 × 事件 行。", file=args.pairs.name)
    table, fit = ebgm.gps_table(counts, random_state=args.seed)
    if args.top is not None:
        table = table.sort_values(["EB05", "EBGM"], ascending=False).head(max(args.top, 0))
    hyper = fit.prior.as_dict()
    if args.json:
        out = {
            "hyperparameters": hyper,
            "method": fit.method,
            "note": fit.note,
            "neg_log_likelihood": _number(fit.neg_log_likelihood),
            "n_pairs": int(len(counts)),
            "n_reports": int(counts["N_tot"].iat[0]),
            "pairs": [{k: _number(v) for k, v in row.items()}
                      for row in table[_COLUMNS].to_dict(orient="records")],
        }
        json.dump(out, sys.stdout, ensure_ascii=False, indent=1)
        sys.stdout.write("\n")
        return 0
    print(f"方法：{fit.label}" + (f"（{fit.note}）" if fit.note else ""))
    print(f"报告数 N_tot = {int(counts['N_tot'].iat[0])}，组合数 = {len(counts)}，"
          f"−log L = {fit.neg_log_likelihood:.6f}")
    print("超参数：" + "  ".join(f"{k}={v:.8g}" for k, v in hyper.items()))
    with pd.option_context("display.max_rows", None, "display.max_columns", None, "display.width", 200):
        print(table[_COLUMNS].to_string(index=False, float_format=lambda v: f"{v:.6g}"))
    return 0
