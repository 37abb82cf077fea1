"""Tests of the seeded demo export generator (analysis/demo.py) and its CLI command."""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import demo
from analysis.commands import demo as demo_command
from analysis.errors import UserError

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_CSV = ROOT / "data" / "demo" / "demo_complaints.csv"
SHIPPED_TRUTH = ROOT / "data" / "demo" / "truth.json"

HEADERS = ("登记编号", "登记时间", "投诉标题", "投诉内容", "商品名称", "品牌", "被投诉方", "涉及平台", "商品类别",
           "问题类别", "诉求", "所属区", "投诉渠道", "处理状态", "涉及金额", "投诉人姓名", "联系电话")
TAXONOMY_CATEGORIES = ("食品", "保健食品", "药品", "医疗器械", "化妆品", "服装鞋帽", "儿童用品", "老年用品", "家用电器",
                       "消费类电子产品", "汽车及配件", "家居日用", "图书文娱", "旅游住宿", "票务", "餐饮外卖", "网络服务",
                       "教育培训", "其他")
TAXONOMY_PROBLEMS = ("安全隐患", "商品质量", "假冒伪劣与商标侵权", "标识不符", "虚假宣传", "价格违法", "合同与格式条款",
                     "售后服务", "刷单炒信与虚假评价", "个人信息泄露", "物流快递", "网络诈骗", "其他")
TAXONOMY_PLATFORMS = ("淘宝", "天猫", "京东", "拼多多", "抖音", "快手", "美团", "饿了么", "携程", "飞猪", "去哪儿", "唯品会",
                      "苏宁易购", "小红书", "闲鱼", "微信", "当当", "国美", "亚马逊中国", "其他平台")
DISTRICTS = ("黄浦区", "徐汇区", "长宁区", "静安区", "普陀区", "虹口区", "杨浦区", "闵行区", "宝山区", "嘉定区", "浦东新区",
             "金山区", "松江区", "青浦区", "奉贤区", "崇明区")
ID_RE = re.compile(r"(?<!\d)(\d{17}[\dX])(?!\d)")


def parse_received(series: pd.Series) -> pd.Series:
    """登记时间 in the four formats the generator writes (explicit formats only)."""
    out = pd.to_datetime(series, format="%Y-%m-%d %H:%M:%S", errors="coerce")
    for fmt in ("%Y/%m/%d %H:%M", "%Y/%m/%d", "%Y年%m月%d日"):
        out = out.fillna(pd.to_datetime(series, format=fmt, errors="coerce"))
    return out


@pytest.fixture(scope="module")
def full():
    """The default 30,000-row export with true labels, and its truth list."""
    return demo.generate_complaints(30_000, with_labels=True)


@pytest.fixture(scope="module")
def small():
    return demo.generate_complaints(3_000, random_state=11, with_labels=True)


# --- shape and determinism -------------------------------------------------------------------------------------


def test_headers_are_exactly_the_12315_export_headers(small):
    df, _ = small
    assert demo.COLUMNS == HEADERS
    assert tuple(df.columns[:17]) == HEADERS
    assert tuple(demo.generate_complaints(50)[0].columns) == HEADERS  # no label columns unless asked


def test_same_seed_same_export_and_truth():
    a, ta = demo.generate_complaints(800, random_state=5)
    b, tb = demo.generate_complaints(800, random_state=5)
    pd.testing.assert_frame_equal(a, b)
    assert ta == tb


def test_different_seeds_differ():
    a, _ = demo.generate_complaints(800, random_state=5)
    b, _ = demo.generate_complaints(800, random_state=6)
    assert len(a) == len(b) == 800
    assert (a["投诉内容"] != b["投诉内容"]).mean() > 0.95


def test_row_count_ids_and_order(small):
    df, truth = small
    assert len(df) == 3_000
    assert df["登记编号"].is_unique
    assert df["登记编号"].str.fullmatch(r"TS\d{8}\d{5}").all()
    when = parse_received(df["登记时间"])
    assert when.notna().all()
    # sorted by day (the ids carry the day and a running number)
    assert (df["登记编号"].str.slice(2, 10).tolist() == sorted(df["登记编号"].str.slice(2, 10)))
    assert sum(t["count"] for t in truth) < 0.1 * len(df)


def test_dates_in_range_and_formats_mixed(small):
    df, _ = small
    when = parse_received(df["登记时间"])
    assert when.min() >= pd.Timestamp("2016-01-01") and when.max() < pd.Timestamp("2018-01-01")
    kinds = df["登记时间"].map(lambda s: "cn" if "年" in s else "slash" if "/" in s else "iso")
    share = kinds.value_counts(normalize=True)
    assert share["iso"] > 0.75 and share["slash"] > 0.05 and share["cn"] > 0.02


def test_custom_period_moves_data_and_signals():
    df, truth = demo.generate_complaints(1_500, start="2019-01-01", end="2019-12-31", random_state=3)
    when = parse_received(df["登记时间"])
    assert when.dt.year.eq(2019).all()
    assert {t["window"][0][:4] for t in truth} == {"2019"}
    assert "2019年" in truth[0]["expected_effect"]
    assert demo.title_row("2019-01-01", "2019-12-31") == "2019年网络交易投诉举报数据导出（上海市）"


def test_short_period_drops_signals_that_do_not_fit():
    _, truth = demo.generate_complaints(400, start="2017-10-01", end="2017-12-31")
    assert [t["id"] for t in truth] == ["kettle_leakage"]


# --- text --------------------------------------------------------------------------------------------------------


def test_text_length_bounds(small):
    df, _ = small
    lengths = df["投诉内容"].str.len()
    assert lengths.min() >= 20 and lengths.max() <= 300
    assert lengths.std() > 15  # varied, not one template
    assert df["投诉内容"].nunique() > 0.98 * len(df)
    assert (df["投诉标题"].str.len() <= 30).all() and df["投诉标题"].str.len().min() >= 2


def test_every_phrase_and_the_export_are_gbk(small):
    df, _ = small

    def strings(value):
        if isinstance(value, str):
            yield value
        elif isinstance(value, dict):
            for k, v in value.items():
                yield from strings(k)
                yield from strings(v)
        elif isinstance(value, (tuple, list)):
            for v in value:
                yield from strings(v)

    bank = [getattr(demo, name) for name in dir(demo) if name.isupper()]
    bank += [t.brands + t.name + t.fmt for t in demo._types()]
    bank += [(s.description, s.expected_effect, s.merchant, s.symptoms, s.keywords) for s in demo.SIGNALS]
    for text in strings(bank):
        text.encode("gbk")  # raises on any character outside GBK
    for column in df.columns[:17]:
        df[column].astype(str).str.cat().encode("gbk")


def test_texts_contain_personal_data_and_order_numbers(small):
    df, _ = small
    text = df["投诉内容"]
    phones = text.str.contains(r"(?<!\d)1[3-9]\d{9}(?!\d)")
    assert 0.06 < phones.mean() < 0.14
    assert text.str.contains(r"订单号[：:]?\d{18,20}").mean() > 0.05
    ids = text.str.extract(ID_RE, expand=False).dropna()
    assert 0.015 < len(ids) / len(df) < 0.05


def test_id_numbers_have_valid_check_digits(small):
    # the worked example of GB 11643-1999
    assert demo.id_check_digit("11010519491231002") == "X"
    assert demo.id_check_digit("11010119800101001") == "0"  # hand-computed: weighted sum 100, 100 % 11 = 1 -> "0"
    df, _ = small
    ids = df["投诉内容"].str.extract(r"身份证[号码：:]*(\d{17}[\dX])", expand=False).dropna()
    assert len(ids) > 40
    for idno in ids:
        assert demo.id_check_digit(idno[:17]) == idno[17]
        birth = dt.date(int(idno[6:10]), int(idno[10:12]), int(idno[12:14]))
        assert dt.date(1950, 1, 1) <= birth <= dt.date(2000, 12, 31)


def test_problem_wording_matches_problem(full):
    df, _ = full
    wording = {
        "安全隐患": "漏电|触电|起火|爆炸|冒烟|烫|过敏|红肿|吞|异味|腹泻|吐|中毒|划|夹伤|自燃|鼓包|灼伤|甲醛|摔|断裂|爆胎|刹车|"
                "火花|烧焦|皮炎|心慌|头晕|红疹|呕吐|自爆|溃烂|有毒|角膜炎|假酒|漏气|短路|过热|带电|电麻|电到|电得|脱落|锋利|"
                "烂脸|火星|卡扣|断|刺痛|过敏|失灵|熄火|砸伤|勒|气囊|刺鼻|油门|弹开",
        "假冒伪劣与商标侵权": "假|仿|正品|盗版|翻新|山寨|防伪",
        "标识不符": "标签|生产日期|过期|三无|不符|3C|合格证|批准文号|吊牌|许可证|厂名|说明|蓝帽子|成分|含绒量|净含量|铭牌|"
                "有效期|水洗标|批号|入网|营业执照|配料|警示|保质期",
        "合同与格式条款": "霸王条款|定金|取消|自动|续费|退票|不退|手续费|扣|解释权|拆封|合同|违约金|退款|发货|安装费|行程|"
                   "条款|改签|不能用|退课|服务费|押金|收费|补差价",
        "网络诈骗": "骗|钓鱼|冒充|链接|拉黑|跑路",
        "刷单炒信与虚假评价": "好评|刷|差评|评价|评分",
        "物流快递": "快递|物流|签收|驿站|配送|骑手|送|破损|摔坏|到",
    }
    for problem, pattern in wording.items():
        rows = df.loc[df["_problem"] == problem, "投诉内容"]
        assert len(rows) > 100, problem
        assert rows.str.contains(pattern).mean() > 0.97, problem


# --- categorical columns ---------------------------------------------------------------------------------------


def test_every_taxonomy_category_problem_and_platform_is_present(full):
    df, _ = full
    assert set(df["_category"]) == set(TAXONOMY_CATEGORIES)
    assert set(df["_problem"]) == set(TAXONOMY_PROBLEMS)
    assert set(df["_platform"]) == set(TAXONOMY_PLATFORMS)
    counts = df["_category"].value_counts()
    assert counts["消费类电子产品"] > counts["家用电器"] > counts["医疗器械"]
    assert counts["服装鞋帽"] > 5 * counts["医疗器械"] and counts["食品"] > 5 * counts["药品"]
    assert counts.min() >= 100


def test_districts_weighted_by_population(small):
    df, _ = small
    counts = df["所属区"].value_counts()
    assert set(counts.index) == set(DISTRICTS)
    assert counts.idxmax() == "浦东新区"
    assert counts["浦东新区"] > 3 * counts["黄浦区"]


def test_platform_alias_noise_and_blanks(full):
    df, _ = full
    jd_spellings = set(df.loc[df["_platform"] == "京东", "涉及平台"])
    assert {"京东", "JD", "京东商城", "京东自营"} <= jd_spellings
    assert {"淘宝", "淘宝网", "taobao"} <= set(df.loc[df["_platform"] == "淘宝", "涉及平台"])
    assert {"拼多多", "拼夕夕", "PDD"} <= set(df.loc[df["_platform"] == "拼多多", "涉及平台"])
    blank = df["涉及平台"] == ""
    assert 0.10 < blank.mean() < 0.20
    # where the column is blank the text usually names the platform
    named = [spoken in text for spoken, text in zip(df.loc[blank, "_platform"], df.loc[blank, "投诉内容"])
             if spoken != "其他平台"]
    assert np.mean(named) > 0.5


def test_raw_category_and_problem_columns(full):
    df, _ = full
    raw_cat = df["商品类别"]
    assert 0.57 < (raw_cat != "").mean() < 0.63
    allowed = {name for c in demo.CATEGORIES.values() for name in c.raw}
    assert set(raw_cat[raw_cat != ""]) <= allowed
    assert {"食品类", "家用电器类", "化妆品类", "服装鞋帽类", "通讯器材类", "汽车及零部件类", "医疗器械类", "药品类",
            "保健食品类", "儿童用品类", "旅游服务", "票务服务", "餐饮服务"} <= set(raw_cat)
    raw_prob = df["问题类别"]
    assert 0.47 < (raw_prob != "").mean() < 0.53
    assert {"质量", "安全", "假冒", "虚假宣传", "价格", "合同", "售后服务", "计量"} <= set(raw_prob)
    # coarse names agree with the true problem most of the time
    quality = df.loc[(df["_problem"] == "商品质量") & (raw_prob != ""), "问题类别"]
    assert (quality == "质量").mean() > 0.9


def test_merchants_amounts_and_contacts(full):
    df, _ = full
    merchants = df["被投诉方"]
    assert merchants.str.endswith("旗舰店").mean() > 0.1 and merchants.str.endswith("专营店").mean() > 0.1
    assert {"个人店铺", "京东自营"} <= set(merchants)
    amount = df["涉及金额"]
    assert amount.dtype == float and (amount.dropna() > 0).all()
    assert 0.08 < amount.isna().mean() < 0.16
    phones = df["联系电话"]
    assert phones.str.fullmatch(r"1[3-9]\d{9}").mean() > 0.85
    assert phones.str.fullmatch(r"021-\d{8}").mean() > 0.02
    names = df["投诉人姓名"]
    assert names.str.fullmatch(r"[\u4e00-\u9fff]{2,4}").mean() > 0.95


# --- time shape --------------------------------------------------------------------------------------------------


def test_weekly_and_seasonal_shape(full):
    df, _ = full
    when = parse_received(df["登记时间"])
    weekday = when.dt.day_of_week.value_counts()
    assert weekday[0] > weekday[4] > weekday[5] and weekday[1] > weekday[6]
    month = when.dt.to_period("M").value_counts()
    assert month[pd.Period("2017-11")] > 1.5 * month[pd.Period("2017-10")]
    assert month[pd.Period("2016-11")] > month[pd.Period("2016-10")]
    assert month[pd.Period("2017-06")] > month[pd.Period("2017-05")]
    assert month[pd.Period("2016-02")] < month[pd.Period("2016-01")]  # Spring festival 2016-02-08
    assert when.dt.year.eq(2017).sum() > 1.05 * when.dt.year.eq(2016).sum()  # mild growth
    d11 = {y: ((when >= f"{y}-11-01") & (when < f"{y}-11-21")).sum() for y in (2016, 2017)}
    assert d11[2017] > 1.25 * d11[2016]
    # inside 双十一 the peak comes after the 11th
    nov = when[(when >= "2017-11-01") & (when < "2017-11-21")].dt.day
    assert (nov > 11).sum() > (nov <= 11).sum()


# --- planted signals ---------------------------------------------------------------------------------------------


def signals_of(truth):
    """The planted products and services (not the planted people)."""
    return [t for t in truth if t["kind"] in ("product", "service")]


def test_truth_entries_have_the_required_fields(full):
    _, truth = full
    required = {"product", "platform", "problem", "window", "category", "brand", "merchant", "kind",
                "expected_effect", "description", "count", "problems", "keywords", "id"}
    assert len(signals_of(truth)) == 5
    assert [t["kind"] for t in truth] == ["product"] * 2 + ["service"] + ["product"] * 2 + [
        "repeat_complainant", "group_complaint"]
    for entry in signals_of(truth):
        assert required <= set(entry)
        assert entry["kind"] in ("product", "service")
        assert entry["category"] in TAXONOMY_CATEGORIES
        assert entry["platform"] in TAXONOMY_PLATFORMS
        assert entry["problem"] in TAXONOMY_PROBLEMS
        assert sum(entry["problems"].values()) == entry["count"]
        dt.date.fromisoformat(entry["window"][0]), dt.date.fromisoformat(entry["window"][1])
    kettle = next(t for t in truth if t["id"] == "kettle_leakage")
    assert (kettle["platform"], kettle["problem"], kettle["window"]) == ("京东", "安全隐患", ["2017-11-01", "2017-11-30"])


def test_planted_rows_are_in_their_windows_with_the_right_wording(full):
    df, truth = full
    when = parse_received(df["登记时间"])
    for entry in signals_of(truth):
        rows = df["_signal"] == entry["id"]
        assert rows.sum() == entry["count"]
        assert 50 <= entry["count"] <= 300
        lo, hi = pd.Timestamp(entry["window"][0]), pd.Timestamp(entry["window"][1]) + pd.Timedelta(days=1)
        assert ((when[rows] >= lo) & (when[rows] < hi)).all(), entry["id"]
        planted = df[rows]
        assert (planted["商品名称"] == entry["product"]).all()
        assert (planted["品牌"] == entry["brand"]).all()
        assert (planted["被投诉方"] == entry["merchant"]).all()
        assert (planted["_platform"] == entry["platform"]).all()
        assert set(planted["涉及平台"]) - {""} <= set(entry["platform_aliases"])
        assert planted["_problem"].value_counts().to_dict() == entry["problems"]
        main = planted.loc[planted["_problem"] == entry["problem"], "投诉内容"]
        assert main.str.contains("|".join(entry["keywords"])).all(), entry["id"]
        assert entry["problems"][entry["problem"]] >= 0.6 * entry["count"]


def test_planted_products_stand_out_but_do_not_swamp(full):
    """Proportional reporting ratio of each planted unit × problem against all other rows."""
    df, truth = full
    for entry in signals_of(truth):
        unit = (df["商品名称"] == entry["product"]) & (df["_platform"] == entry["platform"])
        has = df["_problem"] == entry["problem"]
        a, b = (unit & has).sum(), (unit & ~has).sum()
        c, d = (~unit & has).sum(), (~unit & ~has).sum()
        prr = (a / (a + b)) / (c / (c + d))
        assert prr > 5, (entry["id"], prr)
        assert unit.sum() < 0.015 * len(df)


def test_planted_repeat_complainant_and_group_complaint(full):
    df, truth = full
    when = parse_received(df["登记时间"])
    claimant = next(t for t in truth if t["kind"] == "repeat_complainant")
    assert set(claimant) >= {"phone", "product", "merchants", "count", "window"}
    rows = df[df["_signal"] == claimant["id"]]
    assert len(rows) == claimant["count"] == 150
    assert set(rows["联系电话"]) == {claimant["phone"]} and rows["投诉人姓名"].nunique() == 1
    assert rows["被投诉方"].nunique() == claimant["merchants"] == 60
    assert (rows["商品名称"] == claimant["product"]).all()
    assert rows["投诉内容"].str.contains("十倍").all() and rows["投诉内容"].str.contains("中文标签").all()
    lo, hi = pd.Timestamp(claimant["window"][0]), pd.Timestamp(claimant["window"][1]) + pd.Timedelta(days=1)
    assert ((when[rows.index] >= lo) & (when[rows.index] < hi)).all()
    assert (df["联系电话"] == claimant["phone"]).sum() == 150  # nobody else has that number
    group = next(t for t in truth if t["kind"] == "group_complaint")
    assert set(group) >= {"merchant", "product", "count", "window"}
    rows = df[df["_signal"] == group["id"]]
    assert len(rows) == group["count"] == 80
    assert rows["联系电话"].nunique() == 80 and (rows["被投诉方"] == group["merchant"]).all()
    lo, hi = pd.Timestamp(group["window"][0]), pd.Timestamp(group["window"][1]) + pd.Timedelta(days=1)
    assert ((when[rows.index] >= lo) & (when[rows.index] < hi)).all()
    assert (hi - lo).days == 7


def test_planting_people_leaves_every_other_row_as_it_was(monkeypatch):
    with_people, truth = demo.generate_complaints(3_000, random_state=5, with_labels=True)
    people = [t for t in truth if t["kind"] not in ("product", "service")]
    planted = with_people["_signal"].isin([t["id"] for t in people])
    assert len(people) == 2 and planted.sum() == sum(t["count"] for t in people) >= 2 * demo.MIN_PEOPLE_ROWS
    monkeypatch.setattr(demo, "PEOPLE", ())
    without, _ = demo.generate_complaints(3_000, random_state=5, with_labels=True)
    pd.testing.assert_frame_equal(with_people[~planted], without[~planted])
    assert (with_people.loc[planted, "登记编号"] == without.loc[planted, "登记编号"]).all()


# --- files and CLI -----------------------------------------------------------------------------------------------


def test_write_export_layout_and_round_trip(tmp_path, monkeypatch):
    monkeypatch.setattr(demo, "CHUNK_ROWS", 250)  # several chunks
    summary = demo.write_export(tmp_path / "out" / "export.csv", rows=600, random_state=9)
    raw = (tmp_path / "out" / "export.csv").read_bytes()
    text = raw.decode("gbk")  # strict
    lines = text.split("\r\n")
    assert lines[0] == "2016-2017年网络交易投诉举报数据导出（上海市）" + "," * 16
    assert lines[1] == ",".join(HEADERS)
    back = pd.read_csv(io.StringIO(text), skiprows=1, dtype=str, keep_default_na=False)
    expected, truth = demo.generate_complaints(600, random_state=9)
    assert len(back) == 600 and list(back.columns) == list(HEADERS)
    expected_amount = expected["涉及金额"].map(lambda a: "" if a != a else f"{a:.2f}")
    pd.testing.assert_series_equal(back["涉及金额"], expected_amount, check_names=False)
    for column in HEADERS:
        if column != "涉及金额":
            assert back[column].tolist() == expected[column].tolist(), column
    assert summary["rows"] == 600 and summary["encoding"] == "gbk" and summary["bytes"] == len(raw)
    assert summary["truth"] == truth
    assert sum(summary["by_year"].values()) == 600
    assert not list((tmp_path / "out").glob("*.part"))


def test_write_export_other_encoding(tmp_path):
    demo.write_export(tmp_path / "u.csv", rows=100, encoding="utf-8-sig")
    assert (tmp_path / "u.csv").read_bytes().startswith(b"\xef\xbb\xbf2016-2017")


@pytest.mark.parametrize("kwargs, fragment", [
    ({"n_rows": 0}, "行数"),
    ({"n_rows": -5}, "行数"),
    ({"n_rows": 10, "start": "2017-02-30"}, "日期"),
    ({"n_rows": 10, "start": "2018-01-01", "end": "2017-01-01"}, "早于"),
])
def test_bad_arguments_raise_user_errors(kwargs, fragment):
    with pytest.raises(UserError, match=fragment):
        demo.generate_complaints(**kwargs)


def test_bad_encoding_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="编码"):
        demo.write_export(tmp_path / "x.csv", rows=10, encoding="no-such-codec")
    assert not (tmp_path / "x.csv").exists()


def test_cli_command_writes_export_and_truth(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    demo_command.add_arguments(parser)
    assert demo_command.NAME == "demo"
    args = parser.parse_args(["--rows", "400", "--seed", "3", "--out", str(tmp_path / "d.csv"), "--json"])
    assert demo_command.run(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["rows"] == 400 and summary["random_state"] == 3
    truth = json.loads((tmp_path / "truth.json").read_text(encoding="utf-8"))
    assert [t["id"] for t in truth] == [s["id"] for s in summary["signals"]]
    args = parser.parse_args(["--rows", "300", "--out", str(tmp_path / "e.csv")])
    assert demo_command.run(args) == 0
    out = capsys.readouterr().out
    assert "已生成 300 条演示投诉" in out and "kettle_leakage" in out


def test_shipped_demo_files_are_what_the_generator_makes(tmp_path):
    summary = demo.write_export(tmp_path / "demo_complaints.csv")
    assert SHIPPED_CSV.read_bytes() == (tmp_path / "demo_complaints.csv").read_bytes()
    assert json.loads(SHIPPED_TRUTH.read_text(encoding="utf-8")) == summary["truth"]
    assert SHIPPED_CSV.stat().st_size < 12 * 2**20
