"""Sampling priority list: hand-computed units, flags, planner controls, fallbacks, evidence, CLI, demo truth."""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import openpyxl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis import sampling
from analysis.commands import sample as sample_command
from analysis.errors import UserError
from analysis.store import Filters, Store
from analysis.textutil import DATA_ENV_VAR, data_path
from tests.fixtures.sampling import builders

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sampling"
NOV = Filters(start=dt.date(2017, 11, 1), end=dt.date(2017, 11, 30))


@pytest.fixture
def hand_store(tmp_path):
    store = builders.build(tmp_path / "hand.duckdb", builders.hand_rows())
    yield store
    store.close()


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    store = builders.build(tmp_path_factory.mktemp("syn") / "syn.duckdb", builders.synthetic_rows())
    yield store, sampling.score_units(store, filters=NOV)
    store.close()


def _unit(result, product):
    return result.units.set_index("product").loc[product]


# -- the hand-computed example (tests/fixtures/sampling/builders.hand_rows) ------------------
def test_hand_example_counts_and_statistics(hand_store):
    r = sampling.score_units(hand_store, filters=NOV)
    assert r.period == (dt.date(2017, 11, 1), dt.date(2017, 11, 30))
    assert r.previous == (dt.date(2017, 10, 2), dt.date(2017, 10, 31))
    assert r.n_total == 30 and r.label_source == "product"
    assert sorted(r.units["product"]) == ["口红B", "牛奶D", "电热水壶A", "运动鞋C"]
    kettle = _unit(r, "电热水壶A")
    assert (kettle.n, kettle.n_qs, kettle.n_prev) == (6, 5, 1)
    assert kettle.growth == pytest.approx(5.0)                 # 6 / 1 − 1
    assert kettle.severity_mean == pytest.approx(21 / 6)       # (5·4 + 1·1) / 6
    assert kettle.top_problem == "安全隐患" and kettle.top_n == 5
    # 2×2 table of 电热水壶A × 安全隐患: a=5, b=1, c=0, d=24 (N_tot 30)
    assert kettle.E == pytest.approx(6 * 5 / 30)
    assert math.isinf(kettle.PRR)
    assert kettle.chi2 == pytest.approx(30 * (abs(5 * 24 - 0) - 15) ** 2 / (6 * 24 * 5 * 25))  # 18.375
    assert kettle.flag_prr and kettle.signal and kettle.signal_problems == "安全隐患"
    lipstick = _unit(r, "口红B")
    assert (lipstick.n, lipstick.n_prev) == (4, 0) and math.isnan(lipstick.growth)
    assert lipstick.top_problem == "假冒伪劣与商标侵权"
    shoes = _unit(r, "运动鞋C")                                   # no quality/safety complaint
    assert shoes.n_qs == 0 and math.isnan(shoes.EB05) and shoes.s_signal == 0
    assert shoes.growth == pytest.approx(1.0) and shoes.s_severity == pytest.approx(0.25)
    milk = _unit(r, "牛奶D")
    assert milk.qs_share == pytest.approx(0.2) and milk.top_problem == "商品质量"
    # 牛奶D × 商品质量: a=2, b=8, c=0, d=20 → Yates χ² = 30·(40 − 15)² / (10·20·2·28)
    assert milk.chi2 == pytest.approx(30 * 25**2 / (10 * 20 * 2 * 28))
    # too few cells for the mixture: a labelled fallback
    assert r.fit.method in {"gps-1", "fixed"} and any("先验" in n for n in r.notes)


def test_hand_example_score_formula(hand_store):
    r = sampling.score_units(hand_store, filters=NOV)
    kettle = _unit(r, "电热水壶A")
    s_signal = min(1.0, max(0.0, math.log2(kettle.EB05) / 3))        # signal_cap 8 = 2³
    s_severity = 21 / 6 / 4
    s_volume = math.log(7) / math.log(11)                              # largest unit has 10
    s_growth = math.log2(7 / 2) / 2                                     # (6+1)/(1+1), growth_cap 4 = 2²
    assert kettle.s_signal == pytest.approx(s_signal)
    assert (kettle.s_severity, kettle.s_volume, kettle.s_growth) == pytest.approx((s_severity, s_volume, s_growth))
    expected = 100 * (0.4 * s_signal + 0.3 * s_severity + 0.2 * s_volume + 0.1 * s_growth)
    assert kettle.score == pytest.approx(expected)
    parts = r.units[["score_signal", "score_severity", "score_volume", "score_growth"]].sum(axis=1)
    assert np.allclose(parts, r.units["score"])
    assert _unit(r, "口红B").s_growth == 1.0                            # log2(5)/2 > 1 → clipped
    # re-weighting: only volume counts → the two 10-complaint units lead
    vol = sampling.apply_weights(r.units, sampling.Weights(signal=0, severity=0, volume=1, growth=0))
    assert set(vol["product"][:2]) == {"运动鞋C", "牛奶D"} and vol["score"].iloc[0] == pytest.approx(100)
    assert vol["rank"].tolist() == [1, 2, 3, 4]
    with pytest.raises(UserError):
        sampling.Weights(signal=-1).normalised()


def test_thresholds_are_editable(hand_store):
    strict = sampling.score_units(hand_store, filters=NOV, thresholds=sampling.Thresholds(min_n=6, eb05=100))
    assert not _unit(strict, "电热水壶A").flag_prr                 # 5 complaints < 6
    assert not strict.units["flag_eb05"].any()
    loose = sampling.score_units(hand_store, filters=NOV, thresholds=sampling.Thresholds(eb05=0.5))
    assert _unit(loose, "电热水壶A").flag_eb05


def test_select_targets_controls(hand_store):
    r = sampling.score_units(hand_store, filters=NOV)
    plan = sampling.select_targets(r)                                  # min 3 complaints, ≥ 1 quality/safety
    assert plan["product"].tolist()[:1] == ["电热水壶A"]
    assert "运动鞋C" not in set(plan["product"])
    assert plan["plan_rank"].tolist() == list(range(1, len(plan) + 1))
    assert set(plan["source"]) == {"评分排名"}
    assert "安全隐患" in plan.iloc[0]["reason"] and "环比增长 500%" in plan.iloc[0]["reason"]
    assert sampling.select_targets(r, categories=["食品"])["product"].tolist() == ["牛奶D"]
    assert "口红B" not in set(sampling.select_targets(r, min_count=5)["product"])
    assert "运动鞋C" in set(sampling.select_targets(r, min_quality=0, categories=())["product"])
    assert len(sampling.select_targets(r, top=1)) == 1
    with pytest.raises(UserError):
        sampling.select_targets(r, min_count=-1)


def test_quotas(synthetic):
    _, r = synthetic
    plan = sampling.select_targets(r, top=20, platform_quota=2, categories=())
    assert plan.groupby("platform").size().max() <= 2
    plan = sampling.select_targets(r, top=20, category_quota={"家用电器": 1, "*": 3}, categories=())
    per_cat = plan.groupby("category").size()
    assert per_cat.get("家用电器", 0) <= 1 and per_cat.max() <= 3
    # quotas skip units, never reorder them
    assert plan["score"].is_monotonic_decreasing


def test_planted_synthetic_products_rank_first(synthetic):
    _, r = synthetic
    plan = sampling.select_targets(r, top=10)
    assert set(plan["product"][:3]) == {"智能电热水壶X9", "水光精华Y", "儿童滑板车Z"}
    assert plan["signal"][:3].all() and plan["flag_eb05"][:3].all()
    # three outlying cells cannot identify the signal component's shape: fixed at 1, honest spreads
    assert r.fit.method == "gps-capped" and r.fit.prior.alpha1 == pytest.approx(1.0)
    assert (plan["EB95"][:3] / plan["EB05"][:3] > 1.5).all()


# -- exclusions ---------------------------------------------------------------------------
def test_exclusions_csv(hand_store):
    rules = sampling.read_exclusions(FIXTURES / "exclusions_ok.csv")
    assert rules.to_dict("records") == [
        {"product": "电热水壶a", "platform": "淘宝", "merchant": "", "category": ""},
        {"product": "口红b", "platform": "京东", "merchant": "", "category": ""},
    ]
    r = sampling.score_units(hand_store, filters=NOV)
    plan = sampling.select_targets(r, exclusions=rules)
    assert "电热水壶A" not in set(plan["product"])          # excluded on 淘宝
    assert "口红B" in set(plan["product"])                  # the rule names 京东, the unit is on 天猫


def test_exclusions_xlsx_and_exported_plan(hand_store, tmp_path):
    from openpyxl import Workbook

    wb = Workbook()
    wb.active.append(["序号", "商品名称/品牌", "平台"])
    wb.active.append([1, "口红B", "天猫"])
    wb.active.append([2, "'=SUM(1)", None])                 # formula-guarded, as our exports write it
    wb.active.append([None, None, None])                     # blank rows are ignored
    path = tmp_path / "已抽检.xlsx"
    wb.save(path)
    rules = sampling.read_exclusions(path.read_bytes(), file_name=path.name)
    assert rules["product"].tolist() == ["口红b", "=sum(1)"]
    r = sampling.score_units(hand_store, filters=NOV)
    assert "口红B" not in set(sampling.select_targets(r, exclusions=rules)["product"])


@pytest.mark.parametrize(("content", "name", "row", "needle"), [
    ((FIXTURES / "exclusions_bad_header.csv").read_bytes(), "exclusions_bad_header.csv", 1, "商品名称/品牌"),
    ((FIXTURES / "exclusions_bad_row.csv").read_bytes(), "exclusions_bad_row.csv", 3, "商品名称为空"),
    (b"%PDF-1.4 binary", "list.pdf", None, "只支持 CSV 或 Excel"),
    (b"", "empty.csv", None, "文件是空的"),
    ("商品名称\n".encode("utf-8"), "only_header.csv", None, "没有数据行"),
    (b"PK\x03\x04 not really a zip", "fake.xlsx", None, "无法读取文件"),
])
def test_exclusions_rejected_with_row_and_reason(content, name, row, needle):
    with pytest.raises(UserError) as info:
        sampling.read_exclusions(io.BytesIO(content), file_name=name)
    assert needle in str(info.value) and info.value.file == name and info.value.row == row
    if row is not None:
        assert f"第 {row} 行" in str(info.value)


def test_exclusions_gbk_csv():
    data = "商品,店铺\n电热水壶A,电热水壶A旗舰店\n".encode("gb18030")
    rules = sampling.read_exclusions(data, file_name="gbk.csv")
    assert rules.iloc[0].to_dict() == {"product": "电热水壶a", "platform": "", "merchant": "电热水壶a旗舰店",
                                        "category": ""}


# -- candidates from the cluster page ------------------------------------------------------
def test_candidates_are_merged(hand_store):
    hand_store.con.execute("INSERT INTO sampling_candidates VALUES ('服装鞋帽', '运动鞋C', '京东', NULL, "
                           "'聚类：退货难', TIMESTAMP '2018-01-02 10:00')")
    hand_store.con.execute("INSERT INTO sampling_candidates VALUES (NULL, '不存在的商品', NULL, NULL, 'x', now())")
    r = sampling.score_units(hand_store, filters=NOV)
    cands = sampling.load_candidates(hand_store)
    assert len(cands) == 2
    plan = sampling.select_targets(r, candidates=cands)
    row = plan.set_index("product").loc["运动鞋C"]       # no quality/safety complaint, still included
    assert row.source == "聚类页推荐" and "聚类分析人工推荐" in row.reason
    assert plan["plan_rank"].tolist() == list(range(1, len(plan) + 1))
    assert plan["rank"].is_monotonic_increasing


# -- grains and fallbacks --------------------------------------------------------------------
def test_merchant_grain(hand_store):
    r = sampling.score_units(hand_store, filters=NOV, grain="merchant")
    kettle = r.units[r.units["product"] == "电热水壶A"].set_index("merchant")
    # 安全隐患 i=0..4 alternate 专卖店 (i % 3 == 0) / 旗舰店; the 售后 complaint is i=0 → 专卖店
    assert kettle["n"].to_dict() == {"电热水壶A专卖店": 3, "电热水壶A旗舰店": 3}
    assert kettle.loc["电热水壶A旗舰店", "n_qs"] == 3
    with pytest.raises(UserError):
        sampling.score_units(hand_store, grain="shop")


@pytest.mark.parametrize(("drop", "source", "note"), [
    (["product"], "brand", "按品牌汇总"),
    (["product", "brand"], "merchant", "按店铺/商家汇总"),
    (["product", "brand", "merchant"], "none", "类别 × 平台"),
])
def test_missing_product_column_falls_back(tmp_path, drop, source, note):
    rows = builders.hand_rows()
    rows["brand"] = rows["product"] + "牌"
    for col in drop:
        rows[col] = None
    store = builders.build(tmp_path / "fb.duckdb", rows)
    r = sampling.score_units(store, filters=NOV)
    assert r.label_source == source and any(note in n for n in r.notes)
    assert len(r.units) >= 1 and r.units["score"].notna().all()
    plan = sampling.select_targets(r, categories=())
    details = sampling.target_details(store, r, plan)
    assert all(len(ids) == min(3, n) for ids, n in zip(details["example_ids"], plan["n"], strict=True))
    store.close()


def test_single_category_single_product_does_not_crash(tmp_path):
    rows = builders.hand_rows()
    rows = rows[rows["product"] == "电热水壶A"]
    store = builders.build(tmp_path / "one.duckdb", rows)
    r = sampling.score_units(store, filters=NOV)
    assert len(r.units) == 1 and r.fit.method in {"gps-1", "fixed"}
    unit = r.units.iloc[0]
    assert unit.n == 6 and unit.E == pytest.approx(5.0)        # one unit: E = N
    assert np.isfinite(unit[["EBGM", "EB05", "EB95", "score"]].astype(float)).all()
    assert len(sampling.select_targets(r)) == 1
    store.close()


def test_empty_period_and_empty_store(hand_store, tmp_path):
    r = sampling.score_units(hand_store, filters=Filters(start=dt.date(2019, 1, 1), end=dt.date(2019, 1, 31)))
    assert r.units.empty and r.notes and sampling.select_targets(r).empty
    empty = Store(tmp_path / "empty.duckdb")
    r = sampling.score_units(empty)
    assert r.units.empty and "没有投诉" in r.notes[0]
    empty.close()


def test_no_previous_data_means_no_growth_component(hand_store):
    r = sampling.score_units(hand_store)       # whole store: 2017-10-02 … 2017-11-30, nothing before
    assert (r.units["s_growth"] == 0).all() and r.units["growth"].isna().all()
    assert any("环比增长不参与评分" in n for n in r.notes)


# -- evidence -----------------------------------------------------------------------------------
def test_target_details_and_evidence(hand_store):
    hand_store.con.execute(
        "INSERT INTO tokens SELECT text_hash, 'fp1', '烧水 时 壶底 漏电 手 电麻 电热水壶a' FROM complaints_enriched "
        "WHERE problem = '安全隐患'")
    hand_store.con.execute("UPDATE enrichment SET problem_evidence = CASE WHEN complaint_id = 'T0001' "
                           "THEN '导出列:安全' ELSE '漏电[标题]、漏电、触电' END WHERE problem = '安全隐患'")
    r = sampling.score_units(hand_store, filters=NOV)
    plan = sampling.select_targets(r)
    det = sampling.target_details(hand_store, r, plan).set_index("uid")
    kettle_uid = int(_unit(r, "电热水壶A").uid)
    # 安全隐患 first, by confidence 0.5 + 0.05·(i % 5): T0005 (0.70), T0004, T0003
    assert det.loc[kettle_uid, "example_ids"] == ["T0005", "T0004", "T0003"]
    assert det.loc[kettle_uid, "main_problems"] == "安全隐患（5件）、售后服务（1件）"
    assert det.loc[kettle_uid, "merchants"] == "电热水壶A专卖店（3件）、电热水壶A旗舰店（3件）"
    ev = sampling.target_evidence(hand_store, r, kettle_uid)
    assert ev.examples["complaint_id"].tolist() == ["T0005", "T0004", "T0003"]
    text = " ".join(ev.examples["text"])
    assert "13812345678" not in text and "110101199003071237" not in text and "漏电" in text
    assert ev.monthly[["n", "n_qs"]].values.tolist() == [[1, 0], [6, 5]]
    assert ev.monthly["month"].astype(str).tolist() == ["2017-10-01", "2017-11-01"]
    assert ev.platforms[["platform", "n", "n_qs"]].values.tolist() == [["淘宝", 6, 5]]
    assert ev.problems["problem"].tolist() == ["安全隐患", "售后服务"]
    terms = dict(zip(ev.terms["term"], ev.terms["n"], strict=True))
    sources = dict(zip(ev.terms["term"], ev.terms["source"], strict=True))
    assert terms["漏电"] == 5 and sources["漏电"] == "关键词"          # in the tokens and the evidence
    assert terms["触电"] == 4 and sources["触电"] == "关键词"          # evidence only; 导出列 skipped
    assert terms["电麻"] == 5 and sources["电麻"] == "分词"
    assert ev.terms["term"].tolist()[:2] == ["漏电", "触电"]           # keywords count double
    assert "电热水壶a" not in terms and "时" not in terms       # product name and 1-character tokens dropped
    with pytest.raises(UserError):
        sampling.target_evidence(hand_store, r, 999)


def test_evidence_terms_are_masked(hand_store):
    # An e-mail address typed in every complaint of the unit is one of its frequent words.
    hand_store.con.execute(
        "INSERT INTO tokens SELECT text_hash, 'fp1', '烧水 漏电 zhangsan@qq.com 电麻' FROM complaints_enriched "
        "WHERE problem = '安全隐患'")
    r = sampling.score_units(hand_store, filters=NOV)
    ev = sampling.target_evidence(hand_store, r, int(_unit(r, "电热水壶A").uid))
    terms = ev.terms["term"].tolist()
    assert "zhangsan@qq.com" not in terms and "z***@qq.com" in terms and "漏电" in terms


# -- CLI ------------------------------------------------------------------------------------------
def _run_cli(argv):
    parser = argparse.ArgumentParser()
    sample_command.add_arguments(parser)
    return sample_command.run(parser.parse_args(argv))


def test_cli_json_and_exports(hand_store, tmp_path, capsys):
    path = hand_store.path
    hand_store.close()
    xlsx, csv = tmp_path / "plan.xlsx", tmp_path / "plan.csv"
    assert _run_cli(["--db", path, "--from", "2017-11-01", "--to", "2017-11-30", "--json", "--top", "2",
                     "--xlsx", str(xlsx), "--csv", str(csv)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["period"] == ["2017-11-01", "2017-11-30"]
    first = out["targets"][0]
    for key in ("rank", "category", "product", "platform", "merchant", "n", "eb05", "score"):
        assert key in first
    assert (first["rank"], first["product"], first["n"]) == (1, "电热水壶A", 6)
    assert first["complaint_ids"] == ["T0005", "T0004", "T0003"]
    assert len(out["targets"]) == 2
    assert xlsx.exists() and csv.read_bytes().startswith(b"\xef\xbb\xbf")
    notes = dict(openpyxl.load_workbook(xlsx)["说明"].iter_rows(min_row=2, values_only=True))
    assert notes["导出人"].endswith("（命令行）")
    assert _run_cli(["--db", path, "--from", "2017-11-01", "--to", "2017-11-30", "--categories", "食品"]) == 0
    assert "牛奶D" in capsys.readouterr().out
    with pytest.raises(UserError, match="数据库文件不存在"):
        _run_cli(["--db", str(tmp_path / "nope.duckdb")])


# -- the demo data's planted products --------------------------------------------------------
def _demo_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The labelled demo export as store rows (true category / problem / platform)."""
    when = (frame["登记时间"].str.replace(r"(\d+)年(\d+)月(\d+)日", r"\1-\2-\3", regex=True)
            .str.replace("/", "-"))
    blank = {"": None}
    return pd.DataFrame({
        "complaint_id": frame["登记编号"], "received_at": pd.to_datetime(when, format="mixed"),
        "text": frame["投诉内容"], "product": frame["商品名称"].replace(blank), "brand": frame["品牌"].replace(blank),
        "merchant": frame["被投诉方"].replace(blank), "platform": frame["_platform"],
        "category": frame["_category"], "problem": frame["_problem"],
    })


def _window(target: dict) -> Filters:
    start, end = (dt.date.fromisoformat(d) for d in target["window"])
    return Filters(start=start, end=end)


def test_demo_planted_products_in_top10_with_true_labels(tmp_path):
    """Scoring alone: every planted product (truth kind == product) is in the top 10 of its window."""
    from analysis import demo

    frame, truth = demo.generate_complaints(with_labels=True)
    products = [t for t in truth if t["kind"] == "product"]
    assert len(products) >= 4
    store = builders.build(tmp_path / "demo.duckdb", _demo_rows(frame))
    for target in products:
        plan = sampling.select_targets(sampling.score_units(store, filters=_window(target)), top=10)
        assert target["product"] in set(plan["product"]), target["id"]
    whole = sampling.select_targets(sampling.score_units(store), top=10)
    assert {t["product"] for t in products} <= set(whole["product"])
    store.close()


@pytest.mark.slow
def test_demo_planted_products_in_top10_through_the_pipeline(tmp_path):
    """The same from the raw export (6,000 rows): import, the text pipeline classifies, then scoring."""
    from analysis import demo, enrich, ingest

    path = tmp_path / "demo.csv"
    truth = demo.write_export(path, rows=6_000, random_state=demo.DEFAULT_SEED)["truth"]
    store = Store(tmp_path / "demo.duckdb")
    ingest.import_file(store, path)
    enrich.ensure_enriched(store)
    for target in (t for t in truth if t["kind"] == "product"):
        plan = sampling.select_targets(sampling.score_units(store, filters=_window(target)), top=10)
        assert target["product"] in set(plan["product"]), target["id"]
    store.close()


# -- property tests of the exclusion parser ---------------------------------------------------

_NAME = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1, max_size=20)


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=300), st.sampled_from(["a.csv", "a.xlsx", "a.txt", "a.xls", "a"]))
def test_exclusion_parser_never_crashes(data, name):
    try:
        rules = sampling.read_exclusions(data, file_name=name)
    except UserError as exc:
        assert exc.file == name
    else:
        assert list(rules.columns) == ["product", "platform", "merchant", "category"]
        assert (rules["product"] != "").all()


@settings(max_examples=60, deadline=None)
@given(st.lists(_NAME.filter(lambda s: s.strip() and sampling._norm(s)), min_size=1, max_size=8))
def test_exclusion_csv_round_trip(names):
    frame = pd.DataFrame({"商品名称/品牌": names, "平台": ["淘宝"] * len(names)})
    data = frame.to_csv(index=False).encode("utf-8-sig")
    rules = sampling.read_exclusions(data, file_name="x.csv")
    expected = list(dict.fromkeys(sampling._norm(n) for n in names))
    assert rules["product"].tolist() == expected
    assert set(rules["platform"]) == {"淘宝"}


# -- the in-memory unit facts and the memoised prior fit ---------------------------------------
def test_unit_order_and_ties_follow_the_keys(hand_store):
    r = sampling.score_units(hand_store, filters=NOV)
    # cells come sorted by unit key, units numbered in key order (code point order of the names)
    keys = r.units.sort_values("uid")[["category", "product", "platform"]].agg("/".join, axis=1).tolist()
    assert keys == sorted(keys) == ["化妆品/口红B/天猫", "家用电器/电热水壶A/淘宝", "服装鞋帽/运动鞋C/京东",
                                    "食品/牛奶D/拼多多"]
    assert r.cells["uid"].is_monotonic_increasing
    again = sampling.score_units(hand_store, filters=NOV)
    pd.testing.assert_frame_equal(again.units, r.units)
    pd.testing.assert_frame_equal(again.cells, r.cells)


def test_district_filter_matches_raw_values(tmp_path):
    rows = builders.hand_rows()
    rows["district"] = ["黄浦区" if i % 3 == 0 else " 黄浦区" if i % 3 == 1 else None for i in range(len(rows))]
    store = builders.build(tmp_path / "dist.duckdb", rows)
    r = sampling.score_units(store, filters=NOV.replace(districts=("黄浦区",)))
    expected = int(store.scalar("SELECT count(*) FROM complaints WHERE district = '黄浦区' "
                                "AND received_at >= '2017-11-01' AND received_at < '2017-12-01'"))
    # November rows are 0–5, 7–20, 26–35 of 38; "黄浦区" exactly: 0, 3, 9, 12, 15, 18, 27, 30, 33
    assert r.n_total == expected == 9
    store.close()


def test_fit_is_reused_only_for_the_same_table(hand_store, monkeypatch):
    calls = []
    real = sampling.ebgm.fit_gps

    def counting(*args, **kwargs):
        calls.append(len(args[0]))
        return real(*args, **kwargs)

    monkeypatch.setattr(sampling.ebgm, "fit_gps", counting)
    monkeypatch.setattr(sampling, "_FITS", type(sampling._FITS)())
    first = sampling.score_units(hand_store, filters=NOV)
    second = sampling.score_units(hand_store, filters=NOV, weights=sampling.Weights(signal=1.0))
    assert len(calls) == 1                                  # same counts, other weights: no refit
    assert second.fit == first.fit
    kettle = _unit(first, "电热水壶A")
    builders.insert(hand_store, pd.DataFrame([{
        "complaint_id": "NEW1", "received_at": "2017-11-20 10:00:00", "text": "壶底漏电",
        "product": "电热水壶A", "brand": None, "merchant": "某店", "platform": "淘宝",
        "category": "家用电器", "problem": "安全隐患"}]))
    third = sampling.score_units(hand_store, filters=NOV)
    assert len(calls) == 2 and third.n_total == first.n_total + 1       # new data: new fit
    assert _unit(third, "电热水壶A").n == kettle.n + 1
    sampling.score_units(hand_store, filters=NOV, random_state=1)
    assert len(calls) == 3                                  # other options: new fit


def test_severity_scale_follows_the_taxonomy(hand_store, tmp_path, monkeypatch):
    # the taxonomy accepts severities 1–9: a 5 must count as the top of the scale, not be clipped at 4
    data = tmp_path / "data"
    shutil.copytree(data_path(), data, ignore=shutil.ignore_patterns("demo", "store"))
    problems = data / "taxonomy" / "problems.csv"
    problems.write_text(problems.read_text(encoding="utf-8").replace("安全隐患,4,", "安全隐患,5,"), encoding="utf-8")
    assert sampling.score_units(hand_store, filters=NOV).params["max_severity"] == 4
    monkeypatch.setenv(DATA_ENV_VAR, str(data))
    r = sampling.score_units(hand_store, filters=NOV)
    assert r.params["max_severity"] == 5
    assert _unit(r, "电热水壶A").s_severity == pytest.approx((5 * 5 + 1 * 1) / 6 / 5)
    assert _unit(r, "口红B").s_severity == pytest.approx(3 / 5)
    assert sampling.domain()[0]["安全隐患"] == 5


# --------------------------------------------------------------------------- candidates from a cluster
def test_add_sampling_candidates_from_a_cluster(tmp_path):
    """The planted power-bank cluster (tests/fixtures/cluster) names three products on two platforms."""
    from analysis import cluster
    from analysis.segment import Tokenizer
    from tests.fixtures.cluster.store_fixture import fill_store

    planted = pd.read_csv(Path(__file__).resolve().parents[1] / "fixtures" / "cluster" / "planted.csv",
                          dtype={"complaint_id": str})
    with Store(tmp_path / "cluster.duckdb") as store:
        fill_store(store, planted)
        result = cluster.run_clustering(store, tokenizer=Tokenizer())
        powerbank = next(c for c, terms in zip(result.clusters["cluster_id"], result.clusters["label_terms"])
                         if "鼓包" in terms)
        added = sampling.add_sampling_candidates(store, result, powerbank)
        assert added == 4  # 罗马仕 on 京东 and 淘宝, 小米 on 京东, 品胜 on 淘宝
        rows = store.query("SELECT product, platform, merchant, source FROM sampling_candidates "
                           "ORDER BY product, platform")
        assert set(rows["product"]) == {"罗马仕充电宝20000毫安", "小米移动电源3", "品胜快充充电宝"}
        assert rows["source"].str.startswith("聚类：").all()
        assert rows["source"].str.endswith("（全部类别 × 全部平台）").all()
        assert sampling.add_sampling_candidates(store, result, powerbank) == 0
        assert len(sampling.load_candidates(store)) == 4


def test_evidence_terms_drop_personal_data(hand_store):
    """One complainant dominating a unit: their name and e-mail never become 主要问题用语."""
    hand_store.con.execute(
        "UPDATE complaints SET text = text || '联系人：欧阳娜娜，邮箱 nana@qq.com' WHERE complaint_id IN "
        "(SELECT complaint_id FROM complaints_enriched WHERE problem = '安全隐患')")
    hand_store.con.execute(
        "INSERT INTO tokens SELECT text_hash, 'fp1', '烧水 壶底 漏电 联系人 欧阳娜娜 邮箱 nana qq' "
        "FROM complaints_enriched WHERE problem = '安全隐患'")
    r = sampling.score_units(hand_store, filters=NOV)
    kettle_uid = int(_unit(r, "电热水壶A").uid)
    terms = sampling.target_evidence(hand_store, r, kettle_uid).terms["term"].tolist()
    assert "漏电" in terms and "联系人" in terms
    assert "欧阳娜娜" not in terms and "nana" not in terms


def test_candidates_respect_top_and_quotas_and_can_be_removed(hand_store):
    """Issue 15 item 3: candidates count towards the number of targets and the quotas, the rest is listed apart."""
    hand_store.con.execute("INSERT INTO sampling_candidates VALUES ('服装鞋帽', '运动鞋C', '京东', NULL, "
                           "'聚类：退货难', TIMESTAMP '2018-01-02 10:00')")
    hand_store.con.execute("INSERT INTO sampling_candidates VALUES ('食品', '牛奶D', '拼多多', NULL, "
                           "'聚类：变质', TIMESTAMP '2018-01-02 10:00')")
    r = sampling.score_units(hand_store, filters=NOV)
    cands = sampling.load_candidates(hand_store)
    plan = sampling.select_targets(r, categories=[], top=2, candidates=cands)
    # the two candidates take the two places; ranked 电热水壶A and 口红B do not fit
    assert plan["product"].tolist() == ["牛奶D", "运动鞋C"]
    assert plan["source"].tolist() == ["评分排名＋聚类页推荐", "聚类页推荐"]
    assert sampling.unplaced_candidates(plan, cands).empty
    plan = sampling.select_targets(r, categories=[], top=3, candidates=cands, category_quota={"服装鞋帽": 0, "*": 5})
    assert "运动鞋C" not in plan["product"].tolist() and len(plan) == 3
    apart = sampling.unplaced_candidates(plan, cands)
    assert apart["product"].tolist() == ["运动鞋C"]
    assert sampling.remove_candidates(hand_store, apart) == 1
    assert sampling.load_candidates(hand_store)["product"].tolist() == ["牛奶D"]
