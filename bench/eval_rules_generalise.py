"""Score the rule classifier's categories on real sets it was never written against.

``bench/eval_classify.py`` scores the rules on ``online_shopping_10_cats.csv``; this script
checks that what helps there also holds elsewhere. Each set below comes from
``../shared/data/real/`` and has one known category (or hand labels):

* ``car_complaints_12365auto`` — complaints from 车质网 → 汽车及配件, scored on the text
  alone and, as the app does, with brand + model as the product;
* ``jd_phone_comments`` and ``taobao_iphone_comments`` — phone reviews → 消费类电子产品
  (placeholders such as 此用户没有填写评论 are dropped);
* ``heimao_black_cat_sample`` — real complaints without a category column: the category
  distribution is printed, and the problem type is compared with the exported 投诉问题 column
  where the taxonomy maps it;
* the hand-labelled Black Cat rows of ``tests/fixtures/text/classify_labelled.csv``;
* ``tests/fixtures/text/service_complaints.csv``: food-delivery, hotel, car and ticket
  complaints and content-free reviews written for the tests (expected category per row;
  a delivery complaint filed under 食品 counts as right, as in the outside check).

Per set it prints accuracy (未分类 counts as wrong), the 未分类 share, the share of
content-free texts (好评, 物流快，很满意: :meth:`RuleClassifier.content_free`) and the
confusion table (rows: the truth, or the fixture's sets; columns: predicted categories).
Single-category sets measure recall only; precision is checked by ``eval_classify.py``.

Usage::

    .venv/bin/python bench/eval_rules_generalise.py [--data DIR]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from analysis.classify import RuleClassifier  # noqa: E402
from analysis.io import read_table  # noqa: E402
from analysis.segment import Tokenizer  # noqa: E402
from analysis.taxonomy import UNCLASSIFIED  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "real"
FIXTURE = ROOT / "tests" / "fixtures" / "text" / "classify_labelled.csv"
SERVICES = ROOT / "tests" / "fixtures" / "text" / "service_complaints.csv"
PLACEHOLDERS = ("此用户没有填写评论", "此用户未填写评价内容", "用户未及时评价")


def _texts(values) -> pd.Series:
    return pd.Series(values, dtype=object).fillna("").astype(str).str.replace("\ufeff", "", regex=False).str.strip()


def load_sets(folder: Path) -> list[dict]:
    """The evaluation sets found in ``folder`` (missing files are skipped with a note)."""
    sets = []

    def frame_of(name: str) -> pd.DataFrame | None:
        path = folder / name
        if not path.exists():
            print(f"（跳过：找不到 {path}）")
            return None
        return read_table(path).frame.reset_index(drop=True)

    car = frame_of("car_complaints_12365auto_gb18030.csv")
    if car is not None:
        text = _texts(car["desc"])
        keep = text != ""
        product = (_texts(car["brand"]) + " " + _texts(car["car_model"])).str.strip()
        sets.append({"name": "car_complaints_12365auto（仅文本）", "texts": text[keep].tolist(),
                     "truth": "汽车及配件"})
        sets.append({"name": "car_complaints_12365auto（文本 + 品牌车型作商品）", "texts": text[keep].tolist(),
                     "products": product[keep].tolist(), "truth": "汽车及配件"})
    for name, column in (("jd_phone_comments.csv", "评论内容"), ("taobao_iphone_comments_gb18030.csv", "评论内容")):
        frame = frame_of(name)
        if frame is None:
            continue
        text = _texts(frame[column])
        keep = (text != "") & ~text.str.startswith(PLACEHOLDERS)
        sets.append({"name": name.rsplit(".", 1)[0].removesuffix("_gb18030"), "texts": text[keep].tolist(),
                     "truth": "消费类电子产品"})
    heimao = frame_of("heimao_black_cat_sample.csv")
    if heimao is not None:
        sets.append({"name": "heimao_black_cat_sample（无类别列）", "texts": _texts(heimao["投诉详情"]).tolist(),
                     "titles": _texts(heimao["投诉标题"]).tolist(), "truth": None,
                     "problem_raw": _texts(heimao["投诉问题"]).tolist()})
    if FIXTURE.exists():
        fixture = pd.read_csv(FIXTURE, dtype=str, keep_default_na=False)
        fixture = fixture[(fixture["source"] == "heimao") & (fixture["category"] != "")]
        sets.append({"name": "heimao 人工标注（tests/fixtures/text/classify_labelled.csv）",
                     "texts": fixture["text"].tolist(), "titles": fixture["title"].tolist(),
                     "truth": fixture["category"].to_numpy()})
    if SERVICES.exists():
        services = pd.read_csv(SERVICES, dtype=str, keep_default_na=False)
        services = services[services["category"] != ""]  # the logistics rows expect a problem type only
        # the outside check counts delivery complaints filed under 食品 as right
        accepted = [{"餐饮外卖", "食品"} if c == "餐饮外卖" else {c} for c in services["category"]]
        sets.append({"name": "服务类投诉与无实质内容的评论（tests/fixtures/text/service_complaints.csv，自写）",
                     "texts": services["text"].tolist(), "truth": services["category"].to_numpy(),
                     "accepted": accepted, "groups": services["set"].to_numpy()})
    return sets


def score(rules: RuleClassifier, tokenizer: Tokenizer, item: dict) -> dict:
    """Classify one set and print its figures; returns the summary row."""
    texts = item["texts"]
    tokens = list(tokenizer.cut_many(texts))
    out = rules.predict(texts, tokens=tokens, products=item.get("products"), titles=item.get("titles"))
    pred = out["category"].to_numpy()
    unclassified = float(np.mean(pred == UNCLASSIFIED))
    free = float(np.mean(rules.content_free(tokens))) if texts else np.nan
    print(f"\n=== {item['name']}：{len(texts):,} 条 ===")
    row = {"set": item["name"], "n": len(texts), "accuracy": np.nan, "未分类": unclassified, "无实质内容": free}
    truth = item["truth"]
    if truth is not None:
        truth = np.asarray(truth if not isinstance(truth, str) else [truth] * len(texts), dtype=object)
        accepted = item.get("accepted") or [{t} for t in truth]
        right = np.fromiter((p in a for p, a in zip(pred, accepted)), dtype=bool, count=len(pred))
        accuracy = float(np.mean(right))
        row["accuracy"] = accuracy
        wrong = ~right & (pred != UNCLASSIFIED)
        print(f"准确率 {accuracy:.4f}   未分类 {unclassified:.1%}   错分 {np.mean(wrong):.1%}   "
              f"无实质内容 {free:.1%}")
        rows = pd.Series(item.get("groups", truth), name="真实" if "groups" not in item else "集合")
        print("混淆表（行：真实类别，列：规则的类别）：")
        print(pd.crosstab(rows, pd.Series(pred, name="预测")).to_string())
    else:
        print(f"未分类 {unclassified:.1%}；类别分布：")
        print(pd.Series(pred).value_counts().to_string())
    if item.get("problem_raw") is not None:
        mapped = np.asarray([rules.taxonomy.map_problem(v) for v in item["problem_raw"]], dtype=object)
        known = np.asarray([m is not None for m in mapped])
        agree = float(np.mean(out["problem"].to_numpy()[known] == mapped[known])) if known.any() else np.nan
        print(f"问题类型与导出列「投诉问题」一致：{agree:.4f}（可映射的 {known.sum()} 条）")
        row["problem_agree"] = agree
    return row


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args(argv)
    if not args.data.exists():
        print(f"找不到评测数据目录：{args.data}", file=sys.stderr)
        return 2
    rules, tokenizer = RuleClassifier(), Tokenizer()
    rows = [score(rules, tokenizer, item) for item in load_sets(args.data)]
    print("\n=== 汇总（规则分类器，未分类计为错误）===")
    summary = pd.DataFrame(rows).set_index("set")
    print(summary.to_string(float_format=lambda v: f"{v:.4f}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
