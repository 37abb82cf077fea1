"""Taxonomy data files: required names, severities, 统计表 rows, mappings, aliases, validation."""

import shutil
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.errors import ConfigError
from analysis.taxonomy import (
    OTHER_PLATFORM, REQUIRED_CATEGORIES, REQUIRED_PLATFORMS, REQUIRED_PROBLEMS, TAXONOMY_DIR, PhraseIndex,
    load_taxonomy,
)


@pytest.fixture(scope="module")
def tax():
    return load_taxonomy()


def _in_order(required, names) -> bool:
    """Every required name is present, in the required order (others may sit in between)."""
    names = list(names)
    return set(required) <= set(names) and sorted(required, key=names.index) == list(required)


def test_required_names_are_present_in_order(tax):
    # a regulator may add categories, problem types and platforms: the seed's names must stay
    assert _in_order(REQUIRED_CATEGORIES, tax.categories)
    assert _in_order(("食品", "保健食品", "药品", "医疗器械", "化妆品", "服装鞋帽", "儿童用品", "老年用品", "家用电器",
                      "消费类电子产品", "汽车及配件", "旅游住宿", "票务"), tax.focus_categories)
    assert _in_order(REQUIRED_PROBLEMS, tax.problem_names)
    assert _in_order(REQUIRED_PLATFORMS, tax.platforms)
    assert tax.platforms[-1] == OTHER_PLATFORM


def test_severities_and_quality_safety(tax):
    expected = {"安全隐患": 4, "商品质量": 3, "假冒伪劣与商标侵权": 3, "标识不符": 2, "虚假宣传": 1, "价格违法": 1,
                "合同与格式条款": 1, "售后服务": 1, "刷单炒信与虚假评价": 1, "个人信息泄露": 1, "物流快递": 1,
                "网络诈骗": 1, "其他": 1}
    assert {p: tax.severity_of(p) for p in expected} == expected
    assert tax.severity_of("未分类") == 0
    assert tax.severity_of(None) == 0
    assert tax.severity_of("不存在的类型") == 0
    assert _in_order(("安全隐患", "商品质量", "假冒伪劣与商标侵权", "标识不符"), tax.quality_safety_problems)
    assert not {"虚假宣传", "售后服务", "其他"} & set(tax.quality_safety_problems)
    assert tax.max_severity == max(tax.severity_of(p) for p in tax.problem_names) >= 4
    assert list(tax.problems.columns[:6]) == ["name", "severity", "quality_safety", "table1_row", "table2_row",
                                              "description"]
    assert "漏电" in tax.problems.set_index("name").loc["安全隐患", "keywords"].split()


def test_seed_table_rows(tax):
    assert tax.table1_rows == (
        "网络商标侵权违法案件", "网络销售商品质量不合格案件", "侵害网络消费者合法权益案件", "互联网领域不正当竞争案件",
        "互联网领域垄断协议、滥用市场支配地位案件", "虚假违法互联网广告案件", "网络传销案件", "违反《网络交易管理办法》案件",
        "合同违法违规案件", "价格违法违规案件", "其他违法违规案件",
    )
    assert tax.table2_rows == ("无证生产", "伪造或者冒用他人的厂名厂址", "产品标识不合格", "安全性指标不合格",
                               "使用性能达不到要求", "其他违法违规案件")
    rows = tax.problems.set_index("name")
    assert rows.loc["商品质量", "table1_row"] == "网络销售商品质量不合格案件"
    assert rows.loc["商品质量", "table2_row"] == "使用性能达不到要求"
    assert rows.loc["安全隐患", "table2_row"] == "安全性指标不合格"
    assert rows.loc["假冒伪劣与商标侵权", "table1_row"] == "网络商标侵权违法案件"
    assert rows.loc["标识不符", "table2_row"] == "产品标识不合格"
    assert rows.loc["价格违法", "table1_row"] == "价格违法违规案件"
    assert rows.loc["合同与格式条款", "table1_row"] == "合同违法违规案件"
    assert rows.loc["虚假宣传", "table1_row"] == "虚假违法互联网广告案件"
    # Only quality/safety problems are counted in 统计表2 (产品质量法 cases).
    assert rows.loc[~rows["quality_safety"], "table2_row"].isna().all()
    assert rows["table1_row"].isin(tax.table1_rows).all()


def test_every_category_has_cues_beyond_product_names(tax):
    # attribute / usage / service-process words (weight ≤ 2) for all 19 categories, not only
    # the ones an evaluation file happens to cover
    for category in REQUIRED_CATEGORIES:
        words = tax.category_keywords[category]
        cues = [w for w, weight in words.items() if weight <= 2]
        assert len(cues) >= 25, (category, len(cues))
        assert any(weight >= 3 for weight in words.values()), category


@pytest.mark.parametrize("category, cues", [
    ("消费类电子产品", {"屏幕": 2, "电池": 2, "充电": 2, "开机": 2, "内存": 2, "像素": 2}),
    ("服装鞋帽", {"尺码": 2, "面料": 2, "掉色": 2, "起球": 2, "码数": 2}),
    ("旅游住宿", {"入住": 3, "前台": 2, "退房": 3, "房间": 2, "早餐": 2, "噪音": 1}),
    ("家用电器", {"加热": 2, "安装费": 2, "制冷": 2, "噪音": 1}),
    ("汽车及配件", {"发动机": 3, "变速箱": 3, "4s店": 3, "换挡": 2}),
    ("票务", {"出票": 3, "退票": 3, "座位": 2}),
    ("教育培训", {"课程": 3, "退费": 2, "老师": 2}),
])
def test_examples_of_cue_weights(tax, category, cues):
    assert {w: tax.category_keywords[category].get(w) for w in cues} == cues


def test_a_longer_phrase_never_weakens_its_own_category(tax):
    # matching is leftmost-longest: 酒店服务 (2) would hide 酒店 (3) and lower the hotel score
    bad = []
    for category, words in tax.category_keywords.items():
        for word, weight in words.items():
            inner = [(w, v) for w, v in words.items() if w != word and len(w) > 1 and w in word and v > weight]
            if inner:
                bad.append((category, word, weight, inner))
    assert bad == []


def test_everyday_words_around_brand_names_are_ignored(tax):
    # 美的 (a brand) inside 完美的 / 很美的; 樱花 (a brand) as a flavour
    assert {"完美的", "很美的", "精美的", "樱花味", "一加上"} <= set(tax.ignore_phrases)
    assert tax.category_keywords["家用电器"]["美的"] == 2
    assert "统一" not in tax.category_keywords["食品"] and "安利" not in tax.category_keywords["保健食品"]


@pytest.mark.parametrize("raw, expected", [
    ("家用电器类", "家用电器"), ("通讯器材类", "消费类电子产品"), ("化妆品类", "化妆品"), ("服装鞋帽类", "服装鞋帽"),
    ("食品类", "食品"), ("交通工具类", "汽车及配件"), ("医疗器械类", "医疗器械"), ("家用电器", "家用电器"),
    (" 食品 ", "食品"), ("互联网服务", "网络服务"), ("教育培训服务", "教育培训"), ("票务类", "票务"),
    ("不知道什么类", None), ("", None), (None, None), (float("nan"), None),
])
def test_map_category(tax, raw, expected):
    assert tax.map_category(raw) == expected


@pytest.mark.parametrize("raw, expected", [
    ("质量", "商品质量"), ("安全", "安全隐患"), ("假冒", "假冒伪劣与商标侵权"), ("计量", "标识不符"),
    ("广告", "虚假宣传"), ("价格", "价格违法"), ("合同", "合同与格式条款"), ("虚假宣传", "虚假宣传"),
    ("客服不处理,不予退款,服务不到位,假货", "假冒伪劣与商标侵权"),  # most severe part
    ("不予退款,霸王条款", "售后服务"),  # equal severity: the first part
    ("淘宝省钱卡强制开通", None), (None, None),
])
def test_map_problem(tax, raw, expected):
    assert tax.map_problem(raw) == expected


@pytest.mark.parametrize("value, expected", [
    ("拼夕夕", "拼多多"), ("PDD", "拼多多"), ("pdd", "拼多多"), ("tmall", "天猫"), ("天猫商城", "天猫"),
    ("JD", "京东"), ("京东商城", "京东"), ("拼多多客户服务", "拼多多"), ("阿里客服", "淘宝"),
    ("京东自营旗舰店", "京东"), ("天猫 某某旗舰店", "天猫"), ("飞猪客服", "飞猪"), ("其他", OTHER_PLATFORM),
    ("阿里斯顿官方旗舰店", None), ("jdk", None), ("某某科技有限公司", None), ("", None), (None, None),
])
def test_platform_of_name(tax, value, expected):
    assert tax.platform_of_name(value) == expected


def test_phrase_index_is_leftmost_longest():
    index = PhraseIndex(["手机", "手机号", "热水", "热水壶", "电热水壶", "jd", "iphone", "4s店", "漏电"])
    found = list(index.finditer("我的手机号被用来买电热水壶和iphone11，在4s店和jdk，还漏电了"))
    assert found == [("手机号", 2), ("电热水壶", 9), ("iphone", 14), ("4s店", 24), ("漏电", 33)]
    assert index.search("24s店") is None
    assert index.search("没有") is None


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("手机号热水壶电漏 jdiphone4s店ab1，\n")), max_size=40))
def test_phrase_index_matches_are_real_and_disjoint(text):
    index = PhraseIndex(["手机", "手机号", "热水", "热水壶", "电热水壶", "jd", "iphone", "4s店", "漏电", "电"])
    end = 0
    for phrase, start in index.finditer(text):
        assert text.startswith(phrase, start)
        assert start >= end
        end = start + len(phrase)


# -- validation of malformed files -------------------------------------------------------------
@pytest.fixture
def tax_dir(tmp_path):
    target = tmp_path / "taxonomy"
    shutil.copytree(TAXONOMY_DIR, target)
    return target


def _rewrite(path: Path, line_no: int, new: str) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[line_no - 1] = new
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _append(path: Path, line: str) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    lines.append(line)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(lines)


def _fails(folder: Path, name: str, row: int | None, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_taxonomy(folder)
    exc = info.value
    assert exc.file == str(folder / name)
    assert exc.row == row
    assert words in str(exc)
    assert name in str(exc)


def test_copy_loads_like_the_original(tax_dir, tax):
    copy = load_taxonomy(tax_dir)
    assert copy.categories == tax.categories
    assert copy.fingerprint == tax.fingerprint


def test_unknown_category_in_keywords(tax_dir):
    line = _append(tax_dir / "category_keywords.csv", "未定义的类别,3,猫砂 狗绳")
    _fails(tax_dir, "category_keywords.csv", line, "未知的category「未定义的类别」")


def test_bad_weight(tax_dir):
    line = _append(tax_dir / "problem_keywords.csv", "商品质量,heavy,质量极差")
    _fails(tax_dir, "problem_keywords.csv", line, "weight 应为")


def test_duplicate_keyword(tax_dir):
    line = _append(tax_dir / "category_keywords.csv", "家用电器,1,电热水壶")
    _fails(tax_dir, "category_keywords.csv", line, "关键词「电热水壶」在「家用电器」中重复")


def test_missing_required_category(tax_dir):
    path = tax_dir / "categories.csv"
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if not ln.startswith("票务,")]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    _fails(tax_dir, "categories.csv", None, "缺少必需的类别「票务」")


def test_bad_severity_and_table_row(tax_dir):
    path = tax_dir / "problems.csv"
    _rewrite(path, 2, "安全隐患,high,yes,网络销售商品质量不合格案件,安全性指标不合格,x")
    _fails(tax_dir, "problems.csv", 2, "severity 应为 1–9 的整数")
    _rewrite(path, 2, "安全隐患,4,yes,不存在的案件,安全性指标不合格,x")
    _fails(tax_dir, "problems.csv", 2, "不是 stat_tables.csv 中统计表1的行")
    _rewrite(path, 2, "安全隐患,4,maybe,网络销售商品质量不合格案件,安全性指标不合格,x")
    _fails(tax_dir, "problems.csv", 2, "quality_safety")


def test_alias_claimed_twice(tax_dir):
    line = _append(tax_dir / "platforms.csv", "新平台,淘宝网,")
    _fails(tax_dir, "platforms.csv", line, "别名「淘宝网」同时属于「淘宝」和「新平台」")


def test_mapping_to_unknown_category(tax_dir):
    line = _append(tax_dir / "category_mapping.csv", "未定义类,未定义的类别")
    _fails(tax_dir, "category_mapping.csv", line, "「未定义的类别」不是已定义的类别")


def test_missing_column_and_file_and_encoding(tax_dir):
    _rewrite(tax_dir / "platforms.csv", 1, "name,aliases")
    _fails(tax_dir, "platforms.csv", 1, "表头缺少列：text_cues")
    (tax_dir / "platforms.csv").unlink()
    _fails(tax_dir, "platforms.csv", None, "缺少分类数据文件")
    shutil.copy(TAXONOMY_DIR / "platforms.csv", tax_dir / "platforms.csv")
    (tax_dir / "ignore_phrases.txt").write_bytes("手机号\n".encode() + "电话\n".encode("gbk"))
    _fails(tax_dir, "ignore_phrases.txt", 2, "UTF-8")


def test_too_many_fields_and_spaces_in_phrase(tax_dir):
    line = _append(tax_dir / "category_mapping.csv", "家电,家用电器,多余")
    _fails(tax_dir, "category_mapping.csv", line, "本行有 3 个字段")
    shutil.copy(TAXONOMY_DIR / "category_mapping.csv", tax_dir / "category_mapping.csv")
    line = _append(tax_dir / "ignore_phrases.txt", "手机 号码")
    _fails(tax_dir, "ignore_phrases.txt", line, "含有空格")


def test_edit_invalidates_the_cache(tax_dir):
    before = load_taxonomy(tax_dir)
    time.sleep(0.01)
    _append(tax_dir / "category_keywords.csv", "家用电器,3,电煮锅")
    after = load_taxonomy(tax_dir)
    assert after.fingerprint != before.fingerprint
    assert after.category_keywords["家用电器"]["电煮锅"] == 3.0
    assert load_taxonomy(tax_dir) is after


# -- extending the data -------------------------------------------------------------------------
def test_a_category_added_to_the_data_takes_its_keywords_from_the_catch_all(tmp_path):
    from analysis.classify import RuleClassifier
    from tests.fixtures.data.extended import CATEGORY, extended_data

    data = extended_data(tmp_path / "data") / "taxonomy"
    shared = [line for line in (data / "category_keywords.csv").read_text(encoding="utf-8").splitlines()
              if line.startswith("其他,") and "猫粮" in line.split(",")[-1].split()]
    assert shared                                           # 猫粮 is listed under 其他 as well
    tax = load_taxonomy(data)
    assert CATEGORY in tax.categories and CATEGORY in tax.focus_categories
    assert {"猫粮", "狗粮"} <= set(tax.category_keywords[CATEGORY])
    # a keyword listed under both 其他 and a specific category counts for the specific one only
    assert not {"猫粮", "狗粮"} & set(tax.category_keywords["其他"])
    assert len(tax.category_keywords["其他"]) > 50                          # the others stay
    texts = ["买的狗粮和猫粮都过期了，狗吃了呕吐", "在京东买的电热水壶漏电"]
    assert RuleClassifier(tax).predict(texts)["category"].tolist() == [CATEGORY, "家用电器"]


def test_the_catch_all_rule_keeps_todays_specific_keywords(tax):
    kinds = tax.category_kinds
    specific = {w for c in tax.categories if kinds[c] != "其他" for w in tax.category_keywords[c]}
    for category in (c for c in tax.categories if kinds[c] == "其他"):
        assert not specific & set(tax.category_keywords[category])


def test_severity_scale_comes_from_the_data(tax_dir):
    _rewrite(tax_dir / "problems.csv", 2, "安全隐患,5,yes,网络销售商品质量不合格案件,安全性指标不合格,x")
    tax = load_taxonomy(tax_dir)
    assert tax.max_severity == 5 and tax.severity_of("安全隐患") == 5
    assert tax.severity_legend().startswith("5 安全隐患 · 3 商品质量、假冒伪劣与商标侵权 · 2 标识不符 · 1 其余类型")
    assert tax.severity_legend().endswith("0 未分类")


# -- context rules and content-free words ----------------------------------------------------------
def test_context_rules(tax):
    rules = {r.category: r for r in tax.category_context}
    order = [r.category for r in tax.category_context]
    assert {"旅游住宿", "餐饮外卖", "汽车及配件"} <= set(order)
    assert order.index("旅游住宿") < order.index("餐饮外卖")  # hotel first
    assert rules["餐饮外卖"].sources == ("家居日用", "食品", "家用电器")
    assert {"外卖", "送餐", "没给筷子"} <= rules["餐饮外卖"].when and "骑手" not in rules["餐饮外卖"].when
    assert {"4s店", "发动机", "车机"} <= rules["汽车及配件"].when
    assert "房间" not in rules["旅游住宿"].when  # a flat has rooms too
    for rule in tax.category_context:  # every context word is a keyword of its category
        assert rule.when <= set(tax.category_keywords[rule.category])


def test_context_when_empty_means_the_categorys_names(tax_dir):
    _append(tax_dir / "category_context.csv", "票务,旅游住宿,")
    rule = load_taxonomy(tax_dir).category_context[-1]
    names = {w for w, weight in load_taxonomy().category_keywords["票务"].items() if weight >= 3}
    assert (rule.category, rule.sources, rule.when) == ("票务", ("旅游住宿",), frozenset(names))


@pytest.mark.parametrize("row, words", [
    ("宠物用品,其他,猫砂", "「宠物用品」不是 categories.csv 中定义的类别"),
    ("票务,,机票", "from 为空"),
    ("票务,票务,机票", "from 不能包含本类别「票务」"),
    ("票务,旅游住宿,机票 酒店", "语境词「酒店」不是「票务」的关键词"),
    ("家用电器,旅游住宿,热水器", "「家用电器」与「旅游住宿」互为语境"),
])
def test_bad_context_rows(tax_dir, row, words):
    line = _append(tax_dir / "category_context.csv", row)
    _fails(tax_dir, "category_context.csv", line, words)


def test_content_free_words(tax, tax_dir):
    assert {"五星", "物流", "很快", "满意度", "速度"} <= tax.content_free_words  # 速度: a weight-1 hint
    assert not any(tax.category_keywords[c].get(w, 0) >= 2 for c in tax.categories for w in tax.content_free_words)
    line = _append(tax_dir / "content_free_words.txt", "外卖")
    _fails(tax_dir, "content_free_words.txt", line, "「外卖」是类别「餐饮外卖」权重 2 以上的关键词")
    shutil.copy(TAXONOMY_DIR / "content_free_words.txt", tax_dir / "content_free_words.txt")
    line = _append(tax_dir / "content_free_words.txt", "很 满意")
    _fails(tax_dir, "content_free_words.txt", line, "含有空格")
