"""Rule classifier, supervised model, platform normalisation and their combination."""

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.classify import (
    RULE_OVERRIDE, RuleClassifier, SupervisedClassifier, classify_complaints, evidence_terms,
    normalize_platform, normalize_platforms,
)
from analysis.segment import Tokenizer
from analysis.store import Store
from analysis.textutil import DATA_ENV_VAR
from tests.fixtures.data.extended import CATEGORY, extended_data

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "text" / "classify_labelled.csv"


@pytest.fixture(scope="module")
def rules():
    return RuleClassifier()


@pytest.fixture(scope="module")
def tokenizer():
    return Tokenizer()


@pytest.fixture(scope="module")
def labelled(tokenizer):
    frame = pd.read_csv(FIXTURE, keep_default_na=False, dtype=str).replace("", None)
    tokens = list(tokenizer.cut_many(frame["text"].tolist()))
    return frame, tokens


def sat(score: float, tau: float = 2.5) -> float:
    return 1 - math.exp(-score / tau)


# -- the hand-labelled fixture -------------------------------------------------------------------
def test_fixture_accuracy(labelled, rules):
    frame, tokens = labelled
    assert len(frame) == 80
    out = classify_complaints(frame, tokens=tokens, rules=rules)
    for column, predicted, floor in (("category", "category", 0.9), ("problem", "problem", 0.8),
                                     ("platform", "platform_norm", 1.0)):
        scored = frame[column].notna()
        accuracy = (frame.loc[scored, column] == out.loc[scored, predicted]).mean()
        assert accuracy >= floor, (column, accuracy)
    # categories of the car complaints come from the product field (brand + model)
    cars = frame["source"] == "car12365"
    assert (out.loc[cars, "category"] == "汽车及配件").all()
    # positive reviews carry no problem
    reviews = frame["source"] == "jd_phone"
    assert (out.loc[reviews, "problem"] == "未分类").mean() >= 0.8


def test_a_safety_complaint_end_to_end(labelled, rules):
    frame, tokens = labelled
    row = frame.index[frame["text"].str.startswith("在某宝买的电热水壶")][0]
    out = classify_complaints(frame.loc[[row]], tokens=[tokens[row]], rules=rules).iloc[0]
    assert (out["category"], out["problem"], out["severity"], out["platform_norm"]) == ("家用电器", "安全隐患", 4, "淘宝")
    assert out["category_source"] == "rule"
    assert evidence_terms(out["category_evidence"]) == ["电热水壶", "烧水"]
    assert set(evidence_terms(out["problem_evidence"])) >= {"漏电", "冒烟", "烫伤"}


# -- scoring, hand-computed ------------------------------------------------------------------------
def test_confidence_of_a_lone_product_word(rules):
    out = rules.predict(["电热水壶"]).iloc[0]
    assert out["category"] == "家用电器"
    assert out["category_confidence"] == pytest.approx(sat(3), abs=1e-4)  # weight 3, text field ×1
    assert out["problem"] == "未分类" and out["severity"] == 0


def test_fields_weigh_more_than_text(rules):
    # product 洗发水 (3 × 3 = 9) against 手机 in the text (2): 9 / 11 × (1 − e^(−9/2.5))
    out = rules.predict(["用手机下单，收到就这样"], products=["洗发水"]).iloc[0]
    assert out["category"] == "化妆品"
    assert out["category_evidence"] == "洗发水[商品]"
    out = rules.predict(["电热水壶"], titles=["电热水壶"]).iloc[0]
    assert out["category_confidence"] == pytest.approx(sat(9), abs=1e-4)  # title ×2 plus text ×1
    out = rules.predict(["买了台手机"], products=["洗发水"]).iloc[0]
    assert out["category_confidence"] == pytest.approx(9 / 11 * sat(9), abs=1e-4)


def test_ignored_phrases_and_negations(rules):
    out = rules.predict(["我的手机号被泄露了，天天接到骚扰电话"]).iloc[0]
    assert out["category"] == "未分类"  # 手机 inside 手机号 does not count
    assert out["problem"] == "个人信息泄露"
    out = rules.predict(["收到了，没有质量问题，无异味，质量很好，物流很快"]).iloc[0]
    assert out["problem"] == "未分类"


def test_safety_outranks_refunds(rules):
    # 漏电 (safety, 3 × 1.45) against 要求退款 (after-sales, 1): severity decides
    out = rules.predict(["热水壶漏电，要求退款"]).iloc[0]
    assert out["problem"] == "安全隐患"
    assert out["problem_confidence"] == pytest.approx(4.35 / (4.35 + 0.5 * 1) * sat(4.35), abs=1e-4)


def test_repeats_add_half_a_weight_at_most_twice(rules):
    once = rules.predict(["假货"]).iloc[0]["problem_confidence"]
    thrice = rules.predict(["假货假货假货假货假货"]).iloc[0]["problem_confidence"]
    assert once == pytest.approx(sat(3 * 1.3), abs=1e-4)
    assert thrice == pytest.approx(sat(3 * 1.3 * 2), abs=1e-4)


def test_single_character_keywords_need_a_whole_token(rules):
    assert rules.predict(["书"], tokens=["书"]).iloc[0]["category"] == "图书文娱"
    assert rules.predict(["书"], tokens=["书法"]).iloc[0]["category"] == "未分类"


def test_ties_are_unsure(rules):
    out = rules.predict(["冰箱和手机"]).iloc[0]  # 3 against 2: 0.6 × (1 − e^(−1.2)) = 0.42 ≥ 0.35
    assert out["category"] == "家用电器"
    out = rules.predict(["冰箱和洗发水"]).iloc[0]  # 3 against 3: 0.5 × 0.699 = 0.349 < 0.35
    assert out["category_confidence"] == pytest.approx(0.5 * sat(3), abs=1e-4)
    assert out["category"] == "未分类"


@pytest.mark.parametrize("text", [
    "", None, float("nan"), "hello world, this is not Chinese", "😀😀😀🔥", "\x00\x07\x1b[31m\x7f",
    "1234567890", "，。！？", "a" * 100_000, "漏" * 100_000,
])
def test_bad_input_is_unclassified(rules, text):
    out = rules.predict([text], tokens=[None], products=[None], titles=[text]).iloc[0]
    assert out["category"] == "未分类"
    assert out["problem"] == "未分类"
    assert out["severity"] == 0


def test_long_text_is_handled_quickly(rules):
    text = ("热水壶漏电" + "很多字" * 20) * 2000  # ≈ 130k characters
    start = time.perf_counter()
    out = rules.predict([text]).iloc[0]
    assert time.perf_counter() - start < 5
    assert (out["category"], out["problem"]) == ("家用电器", "安全隐患")


def test_emoji_and_control_characters_around_keywords(rules):
    out = rules.predict(["😡\x00电热水壶\u200b漏电🔥"]).iloc[0]
    assert (out["category"], out["problem"]) == ("家用电器", "安全隐患")


# -- cues without a product name (attributes, parts, usage, service steps) ---------------------------
CUE_ONLY = {
    "食品": "果肉很甜，皮薄核小",
    "保健食品": "每日一粒，吃了一个月免疫力也没提高",
    "药品": "功能主治和用法用量都写得含糊",
    "医疗器械": "袖带太紧，量血压读数误差很大",
    "化妆品": "用了以后搓泥，持妆时间短，还脱妆",
    "服装鞋帽": "尺码偏大，面料起球，洗了还掉色",
    "儿童用品": "月龄小的宝宝用着刚好，带娃轻松多了",
    "老年用品": "给老人用的，大按键，一键呼救很实用",
    "家用电器": "加热管坏了，镁棒也没换",
    "消费类电子产品": "屏幕很清楚，电池一天一充",
    "汽车及配件": "换挡顿挫明显，油门踩下去没反应",
    "家居日用": "抽屉拉不动，柜门封边开裂",
    "图书文娱": "印刷模糊，还有缺页和错别字",
    "旅游住宿": "房卡开不了门，叫醒服务也没有，洗漱用品不全",
    "票务": "出票后改签要收退票费",
    "餐饮外卖": "骑手送餐超时，餐盒漏汤",
    "网络服务": "开通会员后被自动扣费",
    "教育培训": "上了试听课就交了课时费，退费一直拖",
    "其他": "物业费年年涨，猫咪也不让养",
}


@pytest.mark.parametrize("category", list(CUE_ONLY))
def test_cues_without_a_product_name(rules, tokenizer, category):
    text = CUE_ONLY[category]
    out = rules.predict([text], tokens=[" ".join(tokenizer.cut(text))]).iloc[0]
    assert out["category"] == category, (text, out["category"], out["category_evidence"])


def test_two_attribute_cues_add_up(rules, tokenizer):
    # a phone review naming neither the phone nor a brand: 屏幕 (2) + 电池 (2) = 4
    out = rules.predict(["屏幕很清楚，电池一天一充"], tokens=[" ".join(tokenizer.cut("屏幕很清楚，电池一天一充"))]).iloc[0]
    assert out["category"] == "消费类电子产品"
    assert out["category_confidence"] == pytest.approx(sat(4), abs=1e-4)
    assert evidence_terms(out["category_evidence"]) == ["屏幕", "电池"]
    # a hotel review: 房卡 + 叫醒服务 + 洗漱用品, 2 each (服务 inside 叫醒服务 does not count apart)
    out = rules.predict(["房卡开不了门，叫醒服务也没有，洗漱用品不全"]).iloc[0]
    assert (out["category"], out["category_confidence"]) == ("旅游住宿", pytest.approx(sat(6), abs=1e-4))


def test_a_lone_weak_cue_stays_unclassified(rules):
    out = rules.predict(["师傅很专业"]).iloc[0]  # 师傅 (1): 1 − e^(−0.4) = 0.33 < 0.35
    assert out["category"] == "未分类"
    assert out["category_confidence"] == pytest.approx(sat(1), abs=1e-4)
    out = rules.predict(["噪音有点大"]).iloc[0]  # 噪音: 1 for appliances and 1 for hotels, a tie
    assert out["category"] == "未分类"
    assert out["category_confidence"] == pytest.approx(0.5 * sat(1), abs=1e-4)


def test_a_product_word_outweighs_shared_cues(rules):
    # 家用电器: 热水器 3 + 安装 1 + 噪音 1 = 5; 旅游住宿: 房间 2 + 噪音 1 = 3
    out = rules.predict(["热水器安装后房间里噪音很大"]).iloc[0]
    assert out["category"] == "家用电器"
    assert out["category_confidence"] == pytest.approx(5 / 8 * sat(5), abs=1e-4)


def test_brand_names_inside_everyday_words(rules):
    # 美的 (Midea) inside 完美的 / 精美的, 一加 (OnePlus) inside 一加热
    assert rules.predict(["完美的购物体验"]).iloc[0]["category"] == "未分类"
    assert rules.predict(["包装很精美的，推荐给大家"]).iloc[0]["category"] == "未分类"
    assert rules.predict(["美的热水器"]).iloc[0]["category"] == "家用电器"
    out = rules.predict(["水一加热就跳闸"]).iloc[0]
    assert (out["category"], evidence_terms(out["category_evidence"])) == ("家用电器", ["一加热", "跳闸"])
    assert rules.predict(["这款一加手机很好"]).iloc[0]["category"] == "消费类电子产品"


def test_length_mismatch_is_an_error(rules):
    with pytest.raises(ValueError):
        rules.predict(["a", "b"], products=["x"])


def test_evidence_terms():
    assert evidence_terms("电热水壶[商品]、漏电、热水壶") == ["电热水壶", "漏电", "热水壶"]
    assert evidence_terms("模型:热水器、安装") == ["热水器", "安装"]
    assert evidence_terms("导出列:家用电器类") == ["家用电器类"]
    assert evidence_terms("") == [] and evidence_terms(None) == []


# -- platforms ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("platform, merchant, text, expected", [
    ("拼夕夕", None, None, "拼多多"), ("TMALL", None, None, "天猫"), ("京东商城", None, "在淘宝买的", "京东"),
    (None, "京东自营旗舰店", None, "京东"), (None, "阿里客服", None, "淘宝"), (None, "拼多多客户服务", None, "拼多多"),
    (None, None, "在某宝买的热水壶", "淘宝"), (None, "某某公司", "抖音直播间下单", "抖音"),
    ("转转", None, "在淘宝上看到的", "其他平台"),  # a named platform outside the list: not the text's
    (None, None, "加我微信聊", "其他平台"),  # 微信 alone in a text is a contact, not a platform
    (None, None, "微信小程序下单的", "微信"), (None, None, None, "其他平台"), ("", "", "", "其他平台"),
])
def test_normalize_platform(platform, merchant, text, expected):
    assert normalize_platform(platform, merchant, text) == expected


def test_normalize_platforms_matches_the_scalar_version(labelled):
    frame, _ = labelled
    frame = frame.assign(platform=[None, "pdd", "天猫超市", "其他"] * 20)
    vector = normalize_platforms(frame)
    scalar = [normalize_platform(p, m, t) for p, m, t in zip(frame["platform"], frame["merchant"], frame["text"])]
    assert vector.tolist() == scalar
    assert normalize_platforms(pd.DataFrame({"text": ["在京东买的"]})).tolist() == ["京东"]
    assert normalize_platforms(pd.DataFrame({"text": []})).tolist() == []


# -- supervised model -------------------------------------------------------------------------------
TRAIN = {
    "家用电器": ["热水器 安装 师傅 加热 很快", "热水器 漏水 安装费 贵", "冰箱 制冷 效果 好", "洗衣机 噪音 大",
              "空调 不 制冷 师傅 上门", "热水器 加热 慢 保温 差"],
    "化妆品": ["洗发水 味道 香 头发 顺滑", "面膜 补水 效果 好", "洗发水 去屑 头皮 痒", "口红 颜色 好看 滋润",
            "洗发水 假货 头发 干", "乳液 过敏 脸 红"],
    "图书文娱": ["这本书 作者 写 得 好", "书 印刷 质量 差 纸张 薄", "小说 情节 精彩", "书 内容 空洞 作者 水平",
             "绘本 孩子 喜欢 图画", "教材 印刷 模糊"],
}


def _training_data(copies: int = 3):
    tokens, labels = [], []
    for label, docs in TRAIN.items():
        for _ in range(copies):
            tokens.extend(docs)
            labels.extend([label] * len(docs))
    return tokens, labels


@pytest.fixture(scope="module")
def model():
    tokens, labels = _training_data()
    return SupervisedClassifier(min_df=1, random_state=0).fit(tokens, labels)


def _pairs(two_classes: bool):
    tokens, labels = _training_data()
    if two_classes:
        pairs = [(t, lab) for t, lab in zip(tokens, labels) if lab in ("家用电器", "化妆品")]
        tokens, labels = [t for t, _ in pairs], [lab for _, lab in pairs]
    return tokens, labels


@pytest.mark.parametrize("two_classes", [False, True])
def test_base_models_are_sklearns(two_classes):
    # _fit_bases hands back the three base models as one linear map: compare each block
    # with the scikit-learn model it was read from, refitted here.
    from scipy import sparse
    from sklearn.naive_bayes import ComplementNB
    from sklearn.svm import LinearSVC

    from analysis.classify import _fit_bases

    tokens, labels = _pairs(two_classes)
    model = SupervisedClassifier(min_df=1)
    X = model._features(tokens, fit=True)
    y = np.asarray(labels, dtype=object)
    classes = np.unique(y)
    weights = {c: 1.0 for c in classes} | {classes[0]: 1.5}
    W, b = _fit_bases(X, y, classes, C=0.3, tol=1e-4, class_weight=weights, nb_alpha=0.03, random_state=0)
    k = len(classes)
    assert W.shape == (X.shape[1], 3 * k) and W.dtype == np.float32
    scores = X @ W + b
    svm = LinearSVC(C=0.3, tol=1e-4, class_weight=weights, random_state=0).fit(X, y).decision_function(X)
    if k == 2:
        svm = np.column_stack([-svm, svm])
    assert np.allclose(scores[:, :k], svm, atol=1e-4)
    binary = (X > 0).astype(float)
    for j, label in enumerate(classes):  # NB-SVM, written out from Wang & Manning
        p = 1 + np.asarray(binary[y == label].sum(axis=0)).ravel()
        q = 1 + np.asarray(binary[y != label].sum(axis=0)).ravel()
        r = np.log(p / p.sum()) - np.log(q / q.sum())
        scaled = X @ sparse.diags(r)
        expected = LinearSVC(C=0.3, tol=1e-4, random_state=0).fit(scaled, y == label).decision_function(scaled)
        assert np.allclose(scores[:, k + j], expected, atol=1e-3)
    joint = ComplementNB(alpha=0.03).fit(X, y).predict_joint_log_proba(X)
    assert np.allclose(scores[:, 2 * k:], joint - joint.mean(axis=1, keepdims=True), atol=1e-3)


@pytest.mark.parametrize("two_classes", [False, True])
def test_compiled_model_gives_the_stacks_probabilities(monkeypatch, two_classes):
    # fit folds the averaged base models and the combiner into one softmax: compare with the
    # combiner applied to the fold models' mean scores, on seen and unseen texts.
    monkeypatch.setattr(SupervisedClassifier, "_keep_trace", True)
    tokens, labels = _pairs(two_classes)
    model = SupervisedClassifier(min_df=1, random_state=0).fit(tokens, labels)
    folds, bases, (centre, scale), combiner = model._fit_trace
    assert len(folds) == len(bases) == 3
    texts = tokens[:6] + ["热水器 漏电 面膜", "完全 没 见过 的 词 热水器"]
    X = model._features(texts, fit=False)
    mean_scores = np.mean([X @ W + b for W, b in bases], axis=0)
    expected = combiner.predict_proba((mean_scores - centre) / scale)
    assert np.allclose(model._fine_proba(X), expected, atol=1e-5)
    # each fold model scored only texts it was not trained on
    held_out = np.concatenate([test for _, test in folds])
    assert sorted(held_out) == list(range(len(tokens)))
    # no known feature at all: nothing points anywhere
    empty = model._features(["", "从来 没 出现"], fit=False)
    assert np.allclose(model._fine_proba(empty), 1 / len(model.fine_classes_))


def test_model_predicts_with_probabilities_and_evidence(model):
    out = model.predict(["热水器 安装 师傅", "洗发水 头发", "作者 写 得 精彩"])
    assert out["category"].tolist() == ["家用电器", "化妆品", "图书文娱"]
    proba = model.predict_proba(["热水器 安装 师傅"])
    assert proba.sum() == pytest.approx(1.0)
    assert out["category_confidence"].iloc[0] == pytest.approx(proba.max(), abs=1e-4)
    assert out["category_evidence"].iloc[0].startswith("模型:")
    assert any("热水器" in term for term in evidence_terms(out["category_evidence"].iloc[0]))  # or 热水器安装
    assert list(model.classes_) == ["化妆品", "图书文娱", "家用电器"]


def test_model_is_deterministic_and_round_trips(model):
    tokens, labels = _training_data()
    again = SupervisedClassifier(min_df=1, random_state=0).fit(tokens, labels)
    docs = ["热水器 漏水", "头发 干", "印刷 差", "", None]
    assert np.allclose(model.predict_proba(docs), again.predict_proba(docs))
    assert model.fingerprint == again.fingerprint
    copy = SupervisedClassifier.from_bytes(model.to_bytes())
    assert np.allclose(copy.predict_proba(docs), model.predict_proba(docs))
    unsure = model.predict([""]).iloc[0]
    assert unsure["category"] == "未分类"  # no words: every class equally likely, below 0.6


def test_model_saved_in_the_store(model):
    with Store(":memory:") as store:
        assert SupervisedClassifier.load(store) is None
        assert not SupervisedClassifier.exists(store)
        model.save(store, key="k1")
        assert SupervisedClassifier.exists(store, key="k1")
        assert not SupervisedClassifier.exists(store, key="k2")
        assert SupervisedClassifier.load(store, key="k2") is None
        loaded = SupervisedClassifier.load(store, key="k1")
        assert np.allclose(loaded.predict_proba(["热水器"]), model.predict_proba(["热水器"]))
        SupervisedClassifier.delete(store)
        assert SupervisedClassifier.load(store) is None


def test_a_model_saved_by_an_older_version_is_not_loaded(model):
    import pickle

    old = pickle.loads(model.to_bytes())
    del old.format_  # what a model pickled before the compiled format looks like
    with pytest.raises(TypeError, match="older version"):
        SupervisedClassifier.from_bytes(pickle.dumps(old))
    with Store(":memory:") as store:
        model.save(store)
        assert SupervisedClassifier.load(store) is not None
        store.con.execute("UPDATE classifier_models SET payload = ?", [pickle.dumps(old)])
        assert SupervisedClassifier.exists(store)
        assert SupervisedClassifier.load(store) is None  # the classify CLI then uses the rules


def test_copies_of_a_text_share_a_fold():
    from analysis.classify import _text_folds

    texts = ["a", "b", "a", "c", "d", "a", "e", "b", "f", "g", "h", "i"]
    labels = np.array(["x", "x", "x", "x", "x", "x", "y", "x", "y", "y", "y", "y"], dtype=object)
    codes, _ = pd.factorize(np.array(texts, dtype=object))
    folds = _text_folds(codes, labels, 3, random_state=0)
    held_out = np.concatenate([test for _, test in folds])
    assert sorted(held_out) == list(range(len(texts)))  # every row held out exactly once
    for train, test in folds:
        assert not {texts[i] for i in train} & {texts[i] for i in test}
        assert set(labels[train]) == {"x", "y"}  # stratified: both labels in every training part


def test_model_refuses_unusable_labels():
    with pytest.raises(ValueError):
        SupervisedClassifier().fit(["a b", "c d", "e f"], ["x", "x", "x"])
    with pytest.raises(ValueError):
        SupervisedClassifier().fit(["a", "b", "c", "d"], ["x", "x", "x", "y"])  # y has 1 < 3 folds
    with pytest.raises(ValueError, match="distinct texts"):  # y: three copies of one text
        SupervisedClassifier().fit(["a", "b", "c", "d", "d", "d"], ["x", "x", "x", "y", "y", "y"])
    with pytest.raises(RuntimeError):
        SupervisedClassifier().predict(["a"])


# -- everything together ---------------------------------------------------------------------------
def test_export_columns_take_precedence(rules, tokenizer):
    frame = pd.DataFrame({
        "text": ["手机屏幕碎了", "热水壶漏电", "淘宝省钱卡在我不知情的情况下开通了"],
        "category_raw": ["通讯器材类", "莫名其妙的类别", None],
        "problem_raw": ["质量", None, "淘宝省钱卡强制开通"],
        "platform": ["京东", None, None],
    })
    tokens = list(tokenizer.cut_many(frame["text"]))
    out = classify_complaints(frame, tokens=tokens, rules=rules)
    first = out.iloc[0]
    assert (first["category"], first["category_source"], first["category_confidence"]) == ("消费类电子产品", "export", 1.0)
    assert first["category_evidence"] == "导出列:通讯器材类"
    assert (first["problem"], first["severity"]) == ("商品质量", 3)
    assert out.iloc[1]["category"] == "家用电器" and out.iloc[1]["category_source"] == "rule"
    # an unmapped export cell still votes with its words (强制开通, weight 3 × 2)
    assert out.iloc[2]["problem"] == "合同与格式条款"
    assert "强制开通[导出列]" in out.iloc[2]["problem_evidence"]
    assert out["platform_norm"].tolist() == ["京东", "其他平台", "淘宝"]


def test_rules_skip_rows_both_export_columns_decide(rules, tokenizer, monkeypatch):
    frame = pd.DataFrame({
        "text": ["手机屏幕碎了，漏电", "热水壶漏电", "口红是假货"],
        "category_raw": ["通讯器材类", None, "化妆品类"],
        "problem_raw": ["质量", "质量", None],
        "product": ["某品牌手机", None, "口红"],
    })
    tokens = list(tokenizer.cut_many(frame["text"]))
    seen = []
    predict = RuleClassifier.predict

    def spy(self, texts, **kwargs):
        seen.append(list(texts))
        return predict(self, texts, **kwargs)

    monkeypatch.setattr(RuleClassifier, "predict", spy)
    shuffled = frame.iloc[[2, 0, 1]].set_index(pd.Index([7, 5, 6]))
    out = classify_complaints(shuffled, tokens=[tokens[2], tokens[0], tokens[1]], rules=rules)
    assert seen == [["口红是假货", "热水壶漏电"]]  # row 0: category and problem both from the export
    assert out.index.tolist() == [7, 5, 6]
    row = out.loc[5]
    assert (row["category"], row["category_confidence"], row["category_source"], row["category_evidence"]) == (
        "消费类电子产品", 1.0, "export", "导出列:通讯器材类")
    assert (row["problem"], row["problem_confidence"], row["problem_evidence"], row["severity"]) == (
        "商品质量", 1.0, "导出列:质量", 3)
    assert (out.loc[6, "category"], out.loc[6, "category_source"], out.loc[6, "problem"]) == ("家用电器", "rule", "商品质量")
    assert (out.loc[7, "category_source"], out.loc[7, "problem"]) == ("export", "假冒伪劣与商标侵权")
    # the same result as classifying each row alone (all rows through the rules)
    for index, row_tokens in zip([7, 5, 6], [tokens[2], tokens[0], tokens[1]]):
        alone = classify_complaints(shuffled.loc[[index]], tokens=[row_tokens], rules=rules)
        assert alone.iloc[0].to_dict() == out.loc[index].to_dict()


def test_model_where_confident_rules_otherwise(rules, model, tokenizer):
    frame = pd.DataFrame({"text": ["热水器安装师傅很专业，加热很快", "这个口红颜色好看", "买的电热水壶漏电了",
                                   "给孩子买的儿童玩具有尖锐的小零件", "好"]})
    tokens = list(tokenizer.cut_many(frame["text"]))
    out = classify_complaints(frame, tokens=tokens, rules=rules, model=model)
    assert out.loc[0, "category_source"] == "model" and out.loc[0, "category"] == "家用电器"
    assert out.loc[1, "category"] == "化妆品"
    # the model never saw 儿童用品; the rules are sure of it, so they win
    rule = rules.predict([frame.loc[3, "text"]], tokens=[tokens[3]]).iloc[0]
    assert rule["category"] == "儿童用品" and rule["category_confidence"] >= RULE_OVERRIDE
    assert (out.loc[3, "category"], out.loc[3, "category_source"]) == ("儿童用品", "rule")
    assert out.loc[4, "category"] == "未分类" and out.loc[4, "category_source"] == "none"
    assert out["problem"].tolist()[2:4] == ["安全隐患", "安全隐患"]


def test_model_learns_fine_labels_and_reports_categories():
    docs = {
        "通讯器材类": ["手机 屏幕 碎 了", "手机 信号 差", "手机 电池 不 耐用", "手机 充电 慢"] * 3,
        "电子计算机类": ["电脑 蓝屏 死机", "笔记本 键盘 失灵", "电脑 风扇 响", "笔记本 开机 慢"] * 3,
        "家电类": ["冰箱 不 制冷", "洗衣机 漏水", "空调 噪音", "热水器 漏电"] * 3,
        "小家电": ["电饭煲 坏"] * 5,  # one distinct text, too few to learn on its own: trained as 家电类
    }
    tokens = [d for docs_ in docs.values() for d in docs_]
    labels = [label for label, docs_ in docs.items() for _ in docs_]
    mapping = {"通讯器材类": "消费类电子产品", "电子计算机类": "消费类电子产品", "家电类": "家用电器", "小家电": "家用电器"}
    model = SupervisedClassifier(min_df=1, min_fine_examples=4, random_state=0).fit(tokens, labels, label_map=mapping)
    assert list(model.classes_) == ["家用电器", "消费类电子产品"]
    assert list(model.fine_classes_) == ["家电类", "电子计算机类", "通讯器材类"]
    proba = model.predict_proba(["电脑 死机", "手机 屏幕"])
    assert np.allclose(proba.sum(axis=1), 1.0)
    out = model.predict(["电脑 蓝屏", "冰箱 制冷"])
    assert out["category"].tolist() == ["消费类电子产品", "家用电器"]
    assert "电脑" in evidence_terms(out["category_evidence"].iloc[0])


# -- the `classify` command ------------------------------------------------------------------------
def _run_cli(monkeypatch, capsys, lines, *args):
    import io
    import json

    from analysis.cli import main

    monkeypatch.setattr("sys.stdin", io.StringIO("".join(f"{line}\n" for line in lines)))
    code = main(["classify", *args])
    out = capsys.readouterr().out.splitlines()
    return code, [json.loads(line) for line in out] if "--json" in args else out


def test_cli_json_rules(monkeypatch, capsys, tmp_path):
    lines = ["在京东买的电热水壶三天就漏电，电话13812345678", "", "😀 hello", "拼多多买的洗发水是假货"]
    code, records = _run_cli(monkeypatch, capsys, lines, "--json", "--db", str(tmp_path / "none.duckdb"))
    assert code == 0 and len(records) == 4
    first = records[0]
    assert {"category", "category_confidence", "problem", "severity", "platform", "evidence", "masked_text"} <= set(first)
    assert (first["category"], first["problem"], first["severity"], first["platform"]) == ("家用电器", "安全隐患", 4, "京东")
    assert first["category_source"] == "rule"
    assert first["evidence"]["problem"] == "漏电"
    assert first["masked_text"] == "在京东买的电热水壶三天就漏电，电话138****5678"
    assert [r["category"] for r in records[1:3]] == ["未分类", "未分类"]
    assert records[1]["masked_text"] == "" and records[2]["severity"] == 0
    assert (records[3]["category"], records[3]["problem"], records[3]["platform"]) == ("化妆品", "假冒伪劣与商标侵权", "拼多多")


def test_cli_plain_output_and_saved_model(monkeypatch, capsys, tmp_path, model):
    path = tmp_path / "store.duckdb"
    with Store(path) as store:
        model.save(store)
    code, out = _run_cli(monkeypatch, capsys, ["热水器安装师傅很专业，加热很快"], "--db", str(path))
    assert code == 0
    category, problem, severity, platform, source, evidence = out[0].split("\t")
    assert (category, source, platform) == ("家用电器", "模型", "其他平台")
    assert evidence.startswith("模型:")
    code, out = _run_cli(monkeypatch, capsys, ["热水器安装师傅很专业，加热很快"], "--db", str(path), "--rules-only")
    assert out[0].split("\t")[4] == "规则"


def test_full_width_letters_match(rules):
    out = rules.predict(["买的ｉＰｈｏｎｅ１１屏幕坏了"]).iloc[0]
    assert out["category"] == "消费类电子产品"
    assert "iphone" in evidence_terms(out["category_evidence"])


def test_a_category_added_to_the_taxonomy_works_in_the_cli(tmp_path):
    # a category row and its keyword row appended to data/taxonomy (a copy): classify uses them, no code edited
    data = extended_data(tmp_path / "data")
    lines = "买的狗粮和猫粮都过期了，狗吃了呕吐\n在京东买的电热水壶三天就漏电\n"
    env = {**os.environ, DATA_ENV_VAR: str(data)}
    done = subprocess.run([sys.executable, "-m", "analysis", "classify", "--json", "--db", str(tmp_path / "none.duckdb")],
                          input=lines, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(r["category"], r["problem"]) for r in records] == [(CATEGORY, "安全隐患"), ("家用电器", "安全隐患")]
    assert records[0]["evidence"]["category"] in ("狗粮、猫粮", "猫粮、狗粮")


def test_model_evidence_is_built_from_masked_tokens():
    # A complainant's phone and ID number that the model learnt as words must not show as evidence.
    phone, card_id = "13812345678", "310104199001011233"
    tokens, labels = _training_data()
    tokens = tokens + [f"热水器 {phone} {card_id} 漏电"] * 6
    labels = labels + ["家用电器"] * 6
    fitted = SupervisedClassifier(min_df=1, random_state=0).fit(tokens, labels)
    out = fitted.predict([f"{phone} {card_id} 热水器"])
    evidence = out["category_evidence"].iloc[0]
    assert out["category"].iloc[0] == "家用电器"
    assert phone not in evidence and card_id not in evidence
    assert "138****5678" in evidence or "3101**********1233" in evidence  # the numbers were evidence, masked
    frame = pd.DataFrame({"text": ["热水器漏电"], "category_raw": [f"家电 {phone}"]})
    exported = classify_complaints(frame, tokens=["热水器 漏电"])
    assert phone not in exported["category_evidence"].iloc[0]


def test_cli_json_evidence_holds_no_raw_numbers(monkeypatch, capsys, tmp_path):
    phone = "13812345678"
    tokens, labels = _training_data()
    fitted = SupervisedClassifier(min_df=1, random_state=0).fit(
        tokens + [f"热水器 {phone} 漏电"] * 6, labels + ["家用电器"] * 6)
    path = tmp_path / "store.duckdb"
    with Store(path) as store:
        fitted.save(store)
    code, records = _run_cli(monkeypatch, capsys, [f"热水器 {phone}"], "--json", "--db", str(path))
    assert code == 0 and records[0]["category_source"] == "model"
    assert phone not in json.dumps(records[0], ensure_ascii=False)
    assert "138****5678" in records[0]["evidence"]["category"]


def test_browse_explanation_masks_evidence_merchant_and_product():
    from ui.browse import explanation

    row = pd.Series({"category": "家用电器", "category_source": "model", "category_confidence": 0.9,
                     "category_evidence": "模型:热水器、13812345678", "problem": "安全隐患", "severity": 4,
                     "problem_confidence": 0.8, "problem_evidence": "漏电", "platform_norm": "京东",
                     "merchant": "张三电器店13912345678", "product": "热水器 身份证310104199001011233"})
    text = "\n".join(explanation(row))
    for raw in ("13812345678", "13912345678", "310104199001011233"):
        assert raw not in text
    assert "138\\*\\*\\*\\*5678" in text and "139\\*\\*\\*\\*5678" in text


def test_model_evidence_is_whole_words_never_stop_words(model):
    """Issue 15 item 15: evidence like 了、的、了优衣库 (a stop word, or two tokens run together) is never shown."""
    docs = ["了 热水器 的 安装 了 师傅 的", "洗发水 了 头发 的 了", "作者 的 写 得 了 精彩"]
    for doc, evidence in zip(docs, model.predict(docs)["category_evidence"]):
        terms = evidence_terms(evidence)
        assert terms, evidence
        for term in terms:
            assert term in doc.split() and len(term) >= 2 and term not in {"了", "的", "得"}, evidence
