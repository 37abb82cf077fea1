"""Evaluate category classification on real reviews: ``online_shopping_10_cats.csv``.

Prints macro-F1 (over the 7 taxonomy categories the file covers) of

* (a) the rule classifier alone — its keyword banks were written from domain knowledge
  and are never fitted on this file; 未分类 counts as wrong;
* (b) the supervised model (:class:`analysis.classify.SupervisedClassifier`, trained on the
  file's 10 fine labels and reporting taxonomy categories) in 5-fold stratified
  cross-validation;
* the plain baseline in the same folds: jieba (no user dictionary) + TF-IDF + LinearSVC,

with per-category precision / recall / F1 and confusion matrices.

Usage::

    .venv/bin/python bench/eval_classify.py [--data PATH] [--folds 5] [--sample N] [--rules-only]

``--rules-only`` prints (a) alone (seconds instead of minutes): (b) and the baseline are skipped.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from analysis.classify import RuleClassifier, SupervisedClassifier, classify_complaints  # noqa: E402
from analysis.segment import Tokenizer  # noqa: E402
from analysis.taxonomy import UNCLASSIFIED  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "real" / "online_shopping_10_cats.csv"
CAT_MAP = {
    "平板": "消费类电子产品", "手机": "消费类电子产品", "计算机": "消费类电子产品", "水果": "食品", "蒙牛": "食品",
    "洗发水": "化妆品", "热水器": "家用电器", "衣服": "服装鞋帽", "书籍": "图书文娱", "酒店": "旅游住宿",
}


def load(path: Path, sample: int | None, seed: int) -> pd.DataFrame:
    frame = pd.read_csv(path, dtype={"cat": str, "review": str})
    frame["review"] = frame["review"].fillna("").str.replace("\ufeff", "", regex=False).str.strip()
    empty = int((frame["review"] == "").sum())
    frame = frame[frame["review"] != ""].reset_index(drop=True)
    if sample:
        frame = frame.groupby("cat", group_keys=False).sample(frac=min(1.0, sample / len(frame)), random_state=seed)
        frame = frame.reset_index(drop=True)
    frame["category"] = frame["cat"].map(CAT_MAP)
    print(f"数据：{path.name}，{len(frame):,} 条评论（去掉空评论 {empty} 条），{frame['cat'].nunique()} 个原始类别 → "
          f"{frame['category'].nunique()} 个分类体系类别")
    return frame


def report(name: str, truth: np.ndarray, pred: np.ndarray, labels: list[str]) -> float:
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    p, r, f, n = precision_recall_fscore_support(truth, pred, labels=labels, zero_division=0)
    macro = float(f.mean())
    print(f"\n=== {name}: macro-F1 {macro:.4f}  (accuracy {np.mean(truth == pred):.4f}) ===")
    table = pd.DataFrame({"precision": p, "recall": r, "F1": f, "support": n}, index=labels)
    print(table.round(3).to_string())
    columns = labels + sorted(set(pred) - set(labels))
    matrix = pd.DataFrame(confusion_matrix(truth, pred, labels=columns)[: len(labels)], index=labels, columns=columns)
    print("混淆矩阵（行：真实类别，列：预测）：")
    print(matrix.to_string())
    return macro


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--sample", type=int, default=None, help="evaluate on a stratified sample of N reviews")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rules-only", action="store_true", help="score the rules only; skip (b) and the baseline")
    args = parser.parse_args(argv)
    if not args.data.exists():
        print(f"找不到评测数据：{args.data}", file=sys.stderr)
        return 2
    frame = load(args.data, args.sample, args.seed)
    texts = frame["review"].tolist()
    truth = frame["category"].to_numpy()
    labels = sorted(frame["category"].unique())

    tokenizer = Tokenizer()
    start = time.perf_counter()
    tokens = list(tokenizer.cut_many(texts))
    print(f"分词（{tokenizer.backend}）：{time.perf_counter() - start:.1f} 秒")

    # (a) rules: no training, never fitted on this file
    rules = RuleClassifier()
    start = time.perf_counter()
    pred = rules.predict(texts, tokens=tokens)["category"].to_numpy()
    seconds = time.perf_counter() - start
    chars = sum(map(len, texts))
    print(f"规则分类：{seconds:.1f} 秒，{chars / seconds / 1e6:.2f} M 字/秒；未分类 {np.mean(pred == UNCLASSIFIED):.1%}")
    rules_f1 = report("(a) 规则分类器（未分类计为错误）", truth, pred, labels)
    if args.rules_only:
        print("\n=== 汇总 ===")
        print(f"(a) 规则 macro-F1      {rules_f1:.4f}   目标 ≥ 0.75")
        return 0

    # (b) supervised model and the plain baseline in the same folds
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.model_selection import StratifiedKFold
    from sklearn.svm import LinearSVC

    plain = Tokenizer(backend="jieba", userdict=None, stopwords=None)
    start = time.perf_counter()
    plain_tokens = [" ".join(plain.cut(t)) for t in texts]
    print(f"\n基线分词（jieba，无自定义词典）：{time.perf_counter() - start:.1f} 秒")
    fine = frame["cat"].to_numpy()
    folds = StratifiedKFold(args.folds, shuffle=True, random_state=args.seed)
    model_pred = np.empty(len(frame), dtype=object)
    unsure = np.zeros(len(frame), dtype=bool)
    app_pred = np.empty(len(frame), dtype=object)
    base_pred = np.empty(len(frame), dtype=object)
    tokens_arr = np.asarray(tokens, dtype=object)
    for k, (train, test) in enumerate(folds.split(texts, fine), start=1):
        start = time.perf_counter()
        model = SupervisedClassifier(random_state=args.seed)
        model.fit(tokens_arr[train], fine[train], label_map=CAT_MAP)
        proba = model.predict_proba(tokens_arr[test])
        model_pred[test] = model.classes_[proba.argmax(axis=1)]
        unsure[test] = proba.max(axis=1) < model.min_confidence
        # What the app does with this model (analysis.classify.classify_complaints).
        app_pred[test] = classify_complaints(frame.iloc[test][["review"]].rename(columns={"review": "text"}),
                                             tokens=list(tokens_arr[test]), rules=rules, model=model)["category"]
        middle = time.perf_counter()
        vec = TfidfVectorizer(analyzer=str.split)
        svm = LinearSVC(random_state=args.seed).fit(vec.fit_transform([plain_tokens[i] for i in train]), truth[train])
        base_pred[test] = svm.predict(vec.transform([plain_tokens[i] for i in test]))
        print(f"第 {k}/{args.folds} 折：模型 {middle - start:.0f} 秒，基线 {time.perf_counter() - middle:.0f} 秒", flush=True)
    model_f1 = report(f"(b) 监督模型，{args.folds} 折分层交叉验证（取最可能类别）", truth, model_pred, labels)
    sure = ~unsure
    print(f"置信度 ≥ {SupervisedClassifier().min_confidence:.0%} 的比例 {sure.mean():.1%}，"
          f"其中准确率 {np.mean(truth[sure] == model_pred[sure]):.4f}")
    # What the app does (analysis.classify.classify_complaints): the model where it is sure and
    # knows the words, except on content-free reviews; else the rules (未分类 counted as wrong).
    app_f1 = report("(b') 应用中的组合（classify_complaints：模型有把握且认识多数词时用模型，无实质内容的评论不问模型，"
                    "否则用规则；未分类计为错误）", truth, app_pred, labels)
    base_f1 = report("基线：jieba + TF-IDF + LinearSVC（同样的折）", truth, base_pred, labels)

    print("\n=== 汇总 ===")
    print(f"(a) 规则 macro-F1      {rules_f1:.4f}   目标 ≥ 0.75")
    print(f"(b) 监督模型 macro-F1  {model_f1:.4f}   目标 ≥ 0.90")
    print(f"(b') 模型 + 规则       {app_f1:.4f}")
    print(f"    基线 macro-F1      {base_f1:.4f}   (b) − 基线 = {model_f1 - base_f1:+.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
