"""Repeat complainants, template complaints, group complaints and their effect on counts (issue 19)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math

import pandas as pd
import pytest

from analysis import repeats, sampling, trends
from analysis.commands import repeats as repeats_command
from analysis.errors import ConfigError, UserError
from analysis.store import Filters, Store
from tests.fixtures.repeats.rows import CLAIMANT, GROUP, TEMPLATE, hand_rows, row
from tests.fixtures.sampling import builders


@pytest.fixture
def store(tmp_path):
    s = builders.build(tmp_path / "repeats.duckdb", hand_rows())
    repeats.ensure_repeats(s)  # what the enrichment boundary does after an import
    yield s
    s.close()


# --- texts and templates ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("2017年11月12日在某店买的，订单号E20171112001，付款¥1,299.00", "#年#月#日在某店买的订单号#付款#"),
    ("电话 138-1234-5678，身份证310104199001011233", "电话#身份证#"),
    ("本人王小明，买了 iPhone 8", "本人王#买了iphone#"),  # the masked given name is a run of *
    ("", ""),
    (None, ""),
])
def test_template_text_masks_numbers_personal_data_and_punctuation(text, expected):
    assert repeats.template_text(text) == expected


def test_find_templates_links_near_duplicates_by_exact_jaccard():
    params = repeats.TemplateParams(shingle=2, min_chars=4, threshold=0.5)
    # 2-shingles: abcdef {ab bc cd de ef}; abcdeg {ab bc cd de eg}: J = 4/6 ≥ 0.5 → linked;
    # abcdxy {ab bc cd dx xy} against abcdef: J = 3/7 < 0.5, against abcdeg: 3/7 → alone
    texts = ["abcdef", "zzzz", "abcdxy", "abcdeg", "abc", "abc", "qrstuvw", "qrstuvw"]
    groups = repeats.find_templates(texts, params=params)
    assert groups.tolist() == [0, -1, -1, 0, -1, -1, 1, 1]  # "abc" is shorter than min_chars


def test_find_templates_ignores_numbers_and_merchants_in_a_long_template():
    texts = [TEMPLATE.format(d=f"11月{i}日", shop=s, q=i, a=99 * i, o=f"E{i}000{i}")
             for i, s in enumerate(["鑫源进口超市", "良品食品企业店", "店A"], 1)]
    texts.append("完全不同的一件投诉：买的羽绒服跑绒严重，商家拒绝退货，客服态度也很差，希望相关部门处理。")
    assert repeats.find_templates(texts).tolist() == [0, 0, 0, -1]


def test_bad_threshold_is_a_user_error():
    with pytest.raises(UserError, match="阈值"):
        repeats.find_templates(["a"], params=repeats.TemplateParams(threshold=1.5))


# --- complainants -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("phone, name, idno, expected", [
    ("+86 138-1234-5678", "张三", None, ["m:13812345678"]),
    ("８６１３８１２３４５６７８", None, None, ["m:13812345678"]),
    ("021-62345678", "张 三", "310104199001011233", ["i:310104199001011233", "t:张三|02162345678"]),
    ("021-62345678", None, None, []),          # a landline alone is not a person
    ("12345", "张三", "123456789012345678", []),  # too short; not ID-shaped
    (None, None, "31010419900101123x", ["i:31010419900101123X"]),
])
def test_complainant_identifiers(phone, name, idno, expected):
    assert repeats.complainant_identifiers(phone, name, idno) == expected


def test_link_complainants_is_transitive_salted_and_hides_the_number():
    phones = ["13800000001", "13800000002", "13800000002", "13800000003", None]
    ids = ["310104199001011233", "310104199001011233", None, None, None]
    keys = repeats.link_complainants(phones, None, ids, salt="s1")
    assert keys[0] == keys[1] == keys[2] != keys[3]
    assert keys[4] is None
    assert all(k.startswith("K") and len(k) == 11 and "1380" not in k for k in keys[:4])
    other = repeats.link_complainants(phones, None, ids, salt="s2")
    assert other[0] != keys[0] and other[0] == other[2]


def test_ensure_repeats_keys_templates_and_counted_flags(tmp_path):
    store = builders.build(tmp_path / "fresh.duckdb", hand_rows())
    stats = repeats.ensure_repeats(store)
    assert stats == {"computed": True, "complaints": 21, "keyed": 20, "templated": 18, "discounted": 3}
    got = store.query("SELECT * FROM complaint_repeats").set_index("complaint_id")
    claimant = got.loc[["C1", "C2", "C3", "C4", "C5"], "complainant_key"]
    assert claimant.nunique() == 1  # 13912345678 and 139-1234-5678 are one person
    assert got.loc["O1a", "complainant_key"] == got.loc["O1b", "complainant_key"]  # 钱女士 + one landline
    assert pd.isna(got.loc["X1", "complainant_key"])
    assert got.loc[["C1", "C2", "C3", "C4", "X1"], "template_id"].nunique() == 1
    assert pd.isna(got.loc["C5", "template_id"]) and pd.isna(got.loc["O1a", "template_id"])
    assert not got.loc[["C2", "C3", "C4"], "counted"].any()
    assert got.drop(index=["C2", "C3", "C4"])["counted"].all()
    assert repeats.ensure_repeats(store)["computed"] is False  # unchanged store: nothing to do
    builders.insert(store, pd.DataFrame([row("C6", "2017-11-28 10:00", TEMPLATE.format(
        d="11月28日", shop="店G", q=2, a=198, o="E9"), phone=CLAIMANT, merchant="店G")]), file_name="more.csv")
    again = repeats.ensure_repeats(store)
    assert again["computed"] is True and again["discounted"] == 4
    # the salt is kept: keys stay the same
    assert store.scalar("SELECT complainant_key FROM complaint_repeats WHERE complaint_id = 'C1'") == claimant["C1"]


def test_complainants_are_scored_as_documented(store):
    people = repeats.complainants(store, Filters(start=dt.date(2017, 11, 1), end=dt.date(2017, 11, 30)))
    assert len(people) == 2  # the claimant (5) and 钱女士 (2); the parents have one complaint each
    top = people.iloc[0]
    assert top["phone_masked"] == "139****5678"
    assert (top["complaints"], top["merchants"], top["districts"], top["platforms"], top["products"]) == (5, 4, 2, 2, 2)
    assert (top["last_7"], top["last_30"], top["last_90"]) == (0, 5, 5)  # counted back from 2017-11-30
    assert top["template_share"] == pytest.approx(4 / 5)
    assert top["claim_share"] == pytest.approx(4 / 5)  # C5 names no typical claim
    assert "十倍赔偿 4" in top["claims"] and "标签 4" in top["claims"]
    s_volume = math.log2(6) / math.log2(101)
    s_spread = math.log2(5) / math.log2(31)
    expected = 100 * (0.35 * s_volume + 0.25 * s_spread + 0.25 * 0.8 + 0.15 * 0.8)
    assert top["score"] == pytest.approx(expected) and round(expected, 1) == 57.3
    assert top["flag"] == repeats.FLAG_LABEL  # ≥ 5 complaints and score ≥ 50
    other = people.iloc[1]
    assert other["phone_masked"] in ("021-****5678", "021 **** 5678")
    assert other["complaints"] == 2 and other["flag"] == "" and other["claims"] == "过期 1"
    assert other["score"] == pytest.approx(100 * (0.35 * math.log2(3) / math.log2(101)
                                                  + 0.25 * math.log2(3) / math.log2(31) + 0.15 * 0.5))
    shown = people.astype(str).to_string()
    assert "13912345678" not in shown and "62345678" not in shown and "赵建国" not in shown


def test_complainants_follow_the_filters(store):
    people = repeats.complainants(store, Filters(start=dt.date(2017, 11, 3), end=dt.date(2017, 11, 30),
                                                 platforms=("天猫",)))
    assert people["complaints"].tolist() == [2]  # C3, C4 (C5 is on 京东)
    assert repeats.complainants(store, Filters(start=dt.date(2018, 1, 1))).empty


def test_complainant_complaints_are_masked(store):
    key = repeats.complainants(store)["key"].iloc[0]
    frame = repeats.complainant_complaints(store, key)
    assert frame["complaint_id"].tolist() == ["C1", "C2", "C3", "C4", "C5"]
    assert frame["counted"].tolist() == [True, False, False, False, True]
    assert frame.astype(str).apply(lambda c: c.str.contains(CLAIMANT)).sum().sum() == 0


# --- group complaints ---------------------------------------------------------------------------------------------


def test_group_complaint_found_with_size_window_and_masked_text(store):
    groups = repeats.group_complaints(store)
    assert len(groups) == 1
    g = groups.iloc[0]
    assert (g["merchant"], g["product"], g["complainants"], g["complaints"]) == ("启航优学", "少儿英语课程", 12, 12)
    assert (g["start"], g["end"]) == (dt.date(2017, 11, 2), dt.date(2017, 11, 10))
    assert "G13" not in g["complaint_ids"] and len(g["complaint_ids"]) == 12
    assert g["text"].startswith("我们是启航优学的学员家长")
    members = repeats.group_members(store, g["complaint_ids"])
    assert members["complainant"].str.contains(r"\*\*\*\*").all()


def test_one_person_flooding_one_merchant_is_not_a_group(store):
    rows = [row(f"F{i}", f"2017-11-{i + 1:02d} 10:00", GROUP.format(d="3月3日", a=100 + i, s="11月1日", n=i),
                phone="13700000000", merchant="某店", product="某课")
            for i in range(12)]
    builders.insert(store, pd.DataFrame(rows), file_name="flood.csv")
    assert repeats.group_complaints(store)["merchant"].tolist() == ["启航优学"]


def test_group_rules_are_options(store):
    assert repeats.group_complaints(store, rules=repeats.GroupRules(min_complainants=13)).empty
    wide = repeats.group_complaints(store, rules=repeats.GroupRules(window_days=60))
    assert wide["complainants"].tolist() == [13]


# --- effect on sampling and surge alarms -------------------------------------------------------------------------


def test_sampling_counts_the_claimants_templates_once(store):
    nov = Filters(start=dt.date(2017, 11, 1), end=dt.date(2017, 11, 30))
    on = sampling.score_units(store, filters=nov)
    off = sampling.score_units(store, filters=nov, discount_repeats=False)
    n_on = on.units.set_index("product").loc["欧丽康橄榄油", "n"]
    n_off = off.units.set_index("product").loc["欧丽康橄榄油", "n"]
    assert (n_off, n_on) == (5, 2)  # C1–C4 and X1 → C1 and X1
    assert on.n_total == off.n_total - 3
    assert any("少计 3 件（1 个商品、1 名投诉人）" in n for n in on.notes)
    assert not any("欧丽康" in n for n in on.notes)  # a ranked list's notes never name what it left out
    assert not any("少计" in n for n in off.notes)
    assert on.units.set_index("product").loc["少儿英语课程", "n"] == 12  # the group counts in full


def test_surge_alarms_count_the_claimants_templates_once(store):
    nov = Filters(start=dt.date(2017, 11, 1), end=dt.date(2017, 11, 30))
    kwargs = {"freq": "D", "return_all": True, "min_count": 1}
    on = trends.detect_surges(store, nov, **kwargs).set_index("period")["count"]
    off = trends.detect_surges(store, nov, discount_repeats=False, **kwargs).set_index("period")["count"]
    diff = (off - on)[lambda d: d != 0]
    assert diff.to_dict() == {pd.Timestamp(f"2017-11-0{i}"): 1 for i in (2, 3, 4)}
    assert repeats.discounted(store, nov)["discounted"].sum() == 3


def test_discount_can_be_turned_off_and_a_read_only_store_falls_back(store, tmp_path):
    assert repeats.counted_relation(store, discount=False) == "complaints_enriched"
    assert repeats.counted_relation(store) == "complaints_counted"
    path = store.path
    store.close()
    fresh = tmp_path / "fresh.duckdb"
    builders.build(fresh, hand_rows()).close()
    with Store(fresh, read_only=True) as ro:  # nothing computed and no way to write it
        assert repeats.counted_relation(ro) == "complaints_enriched"
        assert repeats.complainants(ro).empty
    with Store(path, read_only=True) as ro:  # results computed earlier are used
        assert repeats.counted_relation(ro) == "complaints_counted"


# --- JSON, claims file, CLI ---------------------------------------------------------------------------------------


def test_to_json_has_exactly_the_documented_shape(store):
    doc = repeats.to_json(repeats.complainants(store), repeats.group_complaints(store))
    assert set(doc) == {"complainants", "groups"}
    assert [set(c) for c in doc["complainants"]] == [
        {"phone_masked", "complaints", "merchants", "districts", "template_share", "score"}] * 2
    assert doc["groups"] == [{"merchant": "启航优学", "product": "少儿英语课程", "complainants": 12, "complaints": 12,
                              "window": ["2017-11-02", "2017-11-10"], "text": doc["groups"][0]["text"]}]
    scores = [c["score"] for c in doc["complainants"]]
    assert scores == sorted(scores, reverse=True)


def test_claims_file_is_data_and_checked(tmp_path):
    claims = repeats.load_claims()
    assert {"十倍赔偿", "标签"} <= {c.name for c in claims}
    hits = repeats.match_claims(["要求十倍赔偿", "没有中文标签", None], claims)
    assert hits["十倍赔偿"].tolist() == [True, False, False] and hits["标签"].tolist() == [False, True, False]
    bad = tmp_path / "claims.csv"
    bad.write_text("claim,pattern,note\n十倍,十倍(,\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="第 2 行.*正则表达式"):
        repeats.load_claims(bad)
    bad.write_text("name,pattern\n十倍,十倍\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="缺少列：claim"):
        repeats.load_claims(bad)


def _run(argv):
    parser = argparse.ArgumentParser()
    repeats_command.add_arguments(parser)
    return repeats_command.run(parser.parse_args(argv))


def test_cli_json_and_text(store, capsys):
    path = store.path
    store.close()
    assert _run(["--db", path, "--json", "--top", "1"]) == 0
    out = capsys.readouterr().out
    doc = json.loads(out)
    assert doc["complainants"] == [{"phone_masked": "139****5678", "complaints": 5, "merchants": 4, "districts": 2,
                                    "template_share": 0.8, "score": doc["complainants"][0]["score"]}]
    assert [g["merchant"] for g in doc["groups"]] == ["启航优学"]
    assert CLAIMANT not in out and "62345678" not in out
    assert _run(["--db", path, "--from", "2017-11-03", "--to", "2017-11-30"]) == 0
    text = capsys.readouterr().out
    assert "多次投诉的投诉人 2 名（其中 0 名需进一步核实）" in text and text.count("需进一步核实") == 1
    assert "139****5678  投诉 3 件" in text
    assert "启航优学  11 人 11 件，2017-11-03 至 2017-11-10" in text and CLAIMANT not in text  # G09 was on 11-02


def test_cli_errors(tmp_path, store):
    path = store.path
    store.close()
    with pytest.raises(UserError, match="早于"):
        _run(["--db", path, "--from", "2017-12-01", "--to", "2017-11-01"])
    with pytest.raises(UserError, match="无法识别"):
        _run(["--db", path, "--from", "昨天"])
    with pytest.raises(UserError, match="还没有投诉数据"):
        _run(["--db", str(tmp_path / "empty.duckdb")])


def test_cli_is_registered():
    from analysis import cli  # noqa: PLC0415

    assert "repeats" in {m.NAME for m in cli._command_modules()}
