"""Trends: calendar, counts, lenses, event studies, surges and overlays — hand-computed values."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis import trends
from analysis.errors import ConfigError, UserError
from analysis.store import Filters, Store
from analysis.textutil import DATA_ENV_VAR
from tests.fixtures.data.extended import PROMOTION, extended_data
from tests.fixtures.trends import store_fixture as fx

D = dt.date
ROOT = Path(__file__).resolve().parents[2]
Z = 1.959963984540054


@pytest.fixture
def store():
    s = Store(":memory:")
    yield s
    s.close()


@pytest.fixture
def counts_store(store):
    fx.fill_rows(store, fx.counts_rows())
    return store


@pytest.fixture
def calendar():
    return trends.load_promotions(fx.CALENDAR_CSV)


# --------------------------------------------------------------------------- calendar
def test_shipped_calendar_covers_every_promotion_2015_2027():
    cal = trends.load_promotions()
    required = ("双十一", "618", "双十二", "年货节", "三八节", "国庆", "春节")
    assert set(required) <= set(cal.names)      # more may be added to the file
    assert cal.names[0] == "双十一"             # the trend page's default
    for name in required:
        assert set(range(2015, 2028)) <= set(cal.years(name))
    for year in range(2015, 2028):
        assert cal.get("双十一", year).anchor_day == D(year, 11, 11)
        assert cal.get("618", year).anchor_day == D(year, 6, 18)
        assert cal.get("双十二", year).anchor_day == D(year, 12, 12)
        assert cal.get("三八节", year).anchor_day == D(year, 3, 8)
        assert cal.get("国庆", year).anchor_day == D(year, 10, 1)
        assert all(p.source for p in cal.promotions)


def test_shipped_calendar_lunar_and_holiday_dates():
    cal = trends.load_promotions()
    spring = {2015: D(2015, 2, 19), 2016: D(2016, 2, 8), 2017: D(2017, 1, 28), 2018: D(2018, 2, 16),
              2019: D(2019, 2, 5), 2020: D(2020, 1, 25), 2021: D(2021, 2, 12), 2022: D(2022, 2, 1),
              2023: D(2023, 1, 22), 2024: D(2024, 2, 10), 2025: D(2025, 1, 29), 2026: D(2026, 2, 17),
              2027: D(2027, 2, 6)}
    for year, day in spring.items():
        p = cal.get("春节", year)
        assert p.anchor_day == day
        assert (p.main_start, p.main_end) == (day - dt.timedelta(days=1), day + dt.timedelta(days=6))
        assert (p.after_end - p.presale_start).days + 1 == 40          # 春运: 40 days
    assert cal.get("年货节", 2024).anchor_day == D(2024, 1, 18)       # 腊八 2024
    assert cal.get("年货节", 2023).anchor_day == D(2022, 12, 30)      # 腊八 before 春节 2023
    national = cal.get("国庆", 2023)
    assert (national.main_start, national.main_end) == (D(2023, 9, 29), D(2023, 10, 6))
    assert cal.get("国庆", 2017).main_end == D(2017, 10, 8)


def test_calendar_aliases_and_unknown_names(calendar):
    cal = trends.load_promotions()
    assert cal.resolve("双11") == "双十一"
    assert cal.resolve("38节") == "三八节"
    assert calendar.get("A节", 2023).name == "促销A"
    with pytest.raises(UserError, match="没有「黑五」"):
        cal.get("黑五", 2020)


def test_year_outside_the_calendar_is_a_user_error():
    with pytest.raises(UserError) as exc:
        trends.load_promotions().get("双十一", 2031)
    assert "2031" in str(exc.value) and "2014—2027" in str(exc.value)


HEADER = "name,year,presale_start,main_start,main_end,after_end,anchor_day,aliases,source\n"
GOOD = "双十一,2017,2017-10-20,2017-11-01,2017-11-20,2017-12-10,2017-11-11,双11,固定日期\n"


@pytest.mark.parametrize(("body", "line", "column", "reason"), [
    (GOOD + "双十一,2018,2018-10-20,2018-11-21,2018-11-20,2018-12-10,2018-11-11,双11,固定日期\n",
     3, "main_end", "日期顺序不对"),
    (GOOD + "双十一,2018,2018-10-20,2018-11-01,2018-11-20,2018-12-10,2018/11/11,双11,固定日期\n",
     3, "anchor_day", "不是 YYYY-MM-DD"),
    (GOOD + "双十一,二〇一八,2018-10-20,2018-11-01,2018-11-20,2018-12-10,2018-11-11,双11,固定日期\n",
     3, "year", "不是整数"),
    (GOOD + GOOD, 3, None, "重复（第 2 行已有）"),
    ("\n" + GOOD.replace("2017-11-11,双11", "2017-11-25,双11"), 3, "anchor_day", "不在主窗口"),
    (GOOD + "双十一,2018,2018-10-20,2018-11-01,2018-11-20,2018-12-10,2018-11-11,双11\n", 3, None, "应有 9 列"),
    (GOOD + "双十二,2017,2017-12-01,2017-12-08,2017-12-20,2018-01-10,2017-12-12,双11,固定日期\n",
     3, "aliases", "已在第 2 行用于「双十一」"),
    (GOOD + ",2018,2018-10-20,2018-11-01,2018-11-20,2018-12-10,2018-11-11,,固定日期\n", 3, "name", "名称为空"),
    (GOOD + "618,2018,2018-05-20,2018-06-01,2018-06-20,2018-07-10,2018-06-18,,\n", 3, "source", "来源说明为空"),
])
def test_malformed_calendar_row_names_file_line_and_reason(tmp_path, body, line, column, reason):
    path = tmp_path / "promotions.csv"
    path.write_text(HEADER + body, encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        trends.load_promotions(path)
    err = exc.value
    assert err.file == str(path) and err.row == line and err.column == column
    assert reason in err.reason
    assert f"第 {line} 行" in str(err) and "promotions.csv" in str(err)


def test_calendar_missing_column_and_missing_file(tmp_path):
    path = tmp_path / "promotions.csv"
    path.write_text(HEADER.replace(",source", "") + GOOD.rsplit(",", 1)[0] + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="表头缺少列：source") as exc:
        trends.load_promotions(path)
    assert exc.value.row == 1
    with pytest.raises(ConfigError, match="无法读取促销日历"):
        trends.load_promotions(tmp_path / "missing.csv")


def test_calendar_overlapping_bands():
    cal = trends.load_promotions()
    bands = cal.overlapping(D(2017, 11, 1), D(2017, 12, 31))
    assert set(zip(bands["name"], bands["year"])) == {("双十一", 2017), ("双十二", 2017)}
    only = cal.overlapping(D(2017, 1, 1), D(2017, 12, 31), names=["春运"])
    assert set(zip(only["name"], only["year"])) == {("春节", 2017)}


# --------------------------------------------------------------------------- counts
def _as_dict(df: pd.DataFrame, value: str = "count") -> dict:
    return {(p.date().isoformat(), lv): v for p, lv, v in zip(df["period"], df["lens_value"], df[value])}


def test_daily_counts_fill_empty_days(counts_store):
    df = trends.count_series(counts_store, Filters(), freq="D")
    assert list(df.columns) == ["period", "lens_value", "count", "is_partial"]
    assert len(df) == 37                                  # 2024-01-30 … 2024-03-06
    got = {k[0]: v for k, v in _as_dict(df).items() if v}
    assert got == {"2024-01-30": 2, "2024-01-31": 1, "2024-02-01": 1, "2024-02-05": 2, "2024-02-14": 1,
                   "2024-02-29": 1, "2024-03-01": 1, "2024-03-04": 2, "2024-03-06": 1}
    assert not df["is_partial"].any()


def test_weekly_counts_flag_partial_first_and_last_week(counts_store):
    df = trends.count_series(counts_store, Filters(), freq="W")
    assert [p.date().isoformat() for p in df["period"]] == [
        "2024-01-29", "2024-02-05", "2024-02-12", "2024-02-19", "2024-02-26", "2024-03-04"]
    assert df["count"].tolist() == [4, 2, 1, 0, 2, 3]
    assert df["is_partial"].tolist() == [True, False, False, False, False, True]


def test_monthly_counts_flag_partial_months(counts_store):
    df = trends.count_series(counts_store, Filters(), freq="M")
    assert df["count"].tolist() == [3, 5, 4]
    assert df["is_partial"].tolist() == [True, False, True]
    full = trends.count_series(counts_store, Filters(start=D(2024, 2, 1), end=D(2024, 2, 29)), freq="M")
    assert full["count"].tolist() == [5] and full["is_partial"].tolist() == [False]


def test_category_lens_top_n_plus_other(counts_store):
    df = trends.count_series(counts_store, Filters(), freq="M", lens="category", top_n=2)
    assert _as_dict(df) == {
        ("2024-01-01", "食品"): 2, ("2024-01-01", "家用电器"): 1, ("2024-01-01", "其他"): 0,
        ("2024-02-01", "食品"): 3, ("2024-02-01", "家用电器"): 1, ("2024-02-01", "其他"): 1,
        ("2024-03-01", "食品"): 1, ("2024-03-01", "家用电器"): 1, ("2024-03-01", "其他"): 2,
    }
    assert df["lens_value"].tolist()[:3] == ["食品", "家用电器", "其他"]


def test_district_lens_names_missing_district(counts_store):
    df = trends.count_series(counts_store, Filters(), freq="M", lens="district", top_n=8)
    totals = df.groupby("lens_value")["count"].sum().to_dict()
    assert totals == {"浦东新区": 5, "徐汇区": 3, "黄浦区": 2, "静安区": 1, "未填写": 1}


def test_problem_lens_merges_real_other_into_other(counts_store):
    df = trends.count_series(counts_store, Filters(), freq="M", lens="problem", top_n=2)
    totals = df.groupby("lens_value")["count"].sum().to_dict()
    # 商品质量 4, 售后服务 2, 虚假宣传 2 (tie broken by name) → top 2: 商品质量, 售后服务
    assert totals == {"商品质量": 4, "售后服务": 2, "其他": 6}


def test_platform_lens_and_filters(counts_store):
    df = trends.count_series(counts_store, Filters(categories=("食品",)), freq="M", lens="platform")
    assert df.groupby("lens_value")["count"].sum().to_dict() == {"淘宝": 3, "京东": 2, "拼多多": 1}
    df = trends.count_series(counts_store, Filters(districts=("浦东新区",), start=D(2024, 2, 1)), freq="W")
    assert df["count"].tolist() == [1, 0, 0, 0, 1, 1]             # weeks from 2024-01-29
    assert df["is_partial"].tolist() == [True, False, False, False, False, True]


def test_cluster_lens(counts_store):
    ids = counts_store.query("SELECT complaint_id FROM complaints ORDER BY received_at")["complaint_id"].tolist()
    counts_store.con.executemany("INSERT INTO cluster_assignments (run_id, complaint_id, cluster_id) VALUES (?, ?, ?)",
                                 [("run1", cid, i % 2) for i, cid in enumerate(ids[:10])])
    df = trends.count_series(counts_store, Filters(), freq="M", lens="cluster", cluster_run="run1",
                             cluster_labels={0: "漏电触电"})
    assert df.groupby("lens_value")["count"].sum().to_dict() == {"漏电触电": 5, "簇 1": 5, "未归类": 2}
    with pytest.raises(UserError, match="聚类结果"):
        trends.count_series(counts_store, Filters(), lens="cluster")


def test_empty_store_and_period_outside_data(counts_store):
    assert trends.count_series(Store(":memory:"), Filters(), freq="W").empty
    assert trends.count_series(counts_store, Filters(start=D(2025, 1, 1)), freq="W").empty
    with pytest.raises(UserError, match="时间粒度"):
        trends.count_series(counts_store, Filters(), freq="Q")
    with pytest.raises(UserError, match="分组维度"):
        trends.count_series(counts_store, Filters(), lens="brand")


def test_counts_follow_new_imports(counts_store):
    assert trends.count_series(counts_store, Filters(), freq="M")["count"].sum() == 12
    fx.fill_rows(counts_store, [{"received_at": "2024-03-06 13:00:00", "category": "食品"}])
    assert trends.count_series(counts_store, Filters(), freq="M")["count"].tolist() == [3, 5, 5]


# --------------------------------------------------------------------------- event study
WINDOW_2023 = fx.days(D(2023, 3, 6), D(2023, 3, 12))
# The reference days of 促销A 2023 are 2023-01-01 (a Sunday) … 02-28 without 02-10 … 12 (Fri–Sun):
# Mon 9, Tue 9, Wed 8, Thu 8, Fri 7, Sat 7, Sun 8 days at 1 complaint. The window has one day of
# each weekday, so with a weekday model E = Σ_k μ_k and var(log E) = Σ_k (1/7)² / N_k.
_PRIOR_VAR = sum((1 / 7) ** 2 / n for n in (9, 9, 8, 8, 7, 7, 8))


def _surge_store(store, *, other_festival_load: int = 5):
    """1 complaint a day 2022-01-01 … 2023-03-31; 3 a day in 促销A 2023 (2 extra: 家用电器/拼多多/电热水壶);
    ``other_festival_load`` a day in 其他节's main window (2023-02-10 … 12)."""
    per_day = {d: 1 for d in fx.days(D(2022, 1, 1), D(2023, 3, 31))}
    per_day.update({d: 3 for d in WINDOW_2023})
    per_day.update({d: other_festival_load for d in fx.days(D(2023, 2, 10), D(2023, 2, 12))})

    def describe(day, i):
        if day in WINDOW_2023 and i >= 1:
            return {"category": "家用电器", "platform_norm": "拼多多", "product": "电热水壶"}
        return {}
    fx.fill_daily(store, per_day, describe=describe)
    return store


def test_event_study_lift_and_intervals_by_hand(store, calendar):
    study = trends.event_study(_surge_store(store), Filters(), promotion="A节", year=2023, calendar=calendar)
    assert (study.window_start, study.window_end) == (D(2023, 3, 6), D(2023, 3, 12))
    assert study.count == 21 and study.baseline == pytest.approx(7.0)
    assert study.lift == pytest.approx(3.0) and study.excess == pytest.approx(14.0)
    assert study.baseline_kind == "yoy"
    # Exact conditional interval: 21 of 28 complaints fall in the window (equal exposures).
    p = stats.binomtest(21, 28).proportion_ci(confidence_level=0.95, method="exact")
    assert study.ci_low == pytest.approx(p.low / (1 - p.low), rel=1e-6)
    assert study.ci_high == pytest.approx(p.high / (1 - p.high), rel=1e-6)
    # Prior baseline: 56 ordinary days (其他节's 3 busy days skipped) at 1 a day → 7 expected;
    # Wald on the log scale with var = 1/21 + var(log E) (weekday model: see _PRIOR_VAR).
    prior = study.baselines.set_index("kind").loc["prior"]
    assert prior["base_count"] == 56 and prior["expected"] == pytest.approx(7.0)
    half = Z * math.sqrt(1 / 21 + _PRIOR_VAR)
    assert prior["ci_low"] == pytest.approx(3 * math.exp(-half), rel=1e-6)
    assert prior["ci_high"] == pytest.approx(3 * math.exp(half), rel=1e-6)
    assert "剔除其他促销主窗口 3 天" in prior["label"]


def test_event_study_drivers(store, calendar):
    study = trends.event_study(_surge_store(store), Filters(), promotion="促销A", year=2023, calendar=calendar)
    d = study.drivers
    assert d[["dimension", "value", "count", "expected", "excess", "share"]].values.tolist() == [
        ["category", "家用电器", 14, 0.0, 14.0, 1.0],
        ["platform_norm", "拼多多", 14, 0.0, 14.0, 1.0],
        ["product", "电热水壶", 14, 0.0, 14.0, 1.0],
    ]
    doc = json.loads(json.dumps(study.to_dict(), ensure_ascii=False))
    for key in ("window_start", "window_end", "count", "baseline", "lift", "ci_low", "ci_high", "excess", "drivers"):
        assert key in doc
    assert doc["window_start"] == "2023-03-06" and doc["drivers"][0]["value"] == "家用电器"


def test_placeholders_are_not_named_as_drivers(store, calendar):
    per_day = {d: 1 for d in fx.days(D(2022, 1, 1), D(2023, 3, 31))}
    per_day.update({d: 3 for d in WINDOW_2023})
    fx.fill_daily(store, per_day, describe=lambda d, i: {"category": "", "platform_norm": "", "product": "电热水壶"}
                  if d in WINDOW_2023 and i >= 1 else {})
    study = trends.event_study(store, Filters(), promotion="促销A", year=2023, calendar=calendar)
    assert study.drivers["value"].tolist() == ["未分类", "其他平台", "电热水壶"]     # still in the table
    assert "增量主要来自 电热水壶（+14件）。" in trends.describe_event(study)


def test_driver_products_are_masked(store):
    fx.fill_double_eleven(store, product="电热水壶 客服13812345678")
    study = trends.event_study(store, Filters(), promotion="双十一", year=2023)
    assert study.drivers.set_index("dimension").loc["product", "value"] == "电热水壶 客服138****5678"
    assert "13812345678" not in json.dumps(study.to_dict(), ensure_ascii=False)


def test_describe_event_sentence(store, calendar):
    study = trends.event_study(_surge_store(store), Filters(), promotion="促销A", year=2023, calendar=calendar)
    lo, hi = (round((v - 1) * 100) for v in (study.ci_low, study.ci_high))
    half = Z * math.sqrt(1 / 21 + _PRIOR_VAR)
    plo, phi_ = (round((3 * math.exp(s * half) - 1) * 100) for s in (-1, 1))
    assert trends.describe_event(study) == (
        f"2023年促销A期间（3月6日—3月12日）投诉 21 件，较去年同期增长 200%（95%置信区间 +{lo}% 至 +{hi}%），"
        "增量主要来自 家用电器（+14件）、拼多多（+14件）、电热水壶（+14件）。"
        "与促销前56天（1月1日—2月28日，剔除其他促销主窗口 3 天，按星期构成调整）相比增长 200%"
        f"（95%置信区间 +{plo}% 至 +{phi_}%）。"
    )


def test_overdispersed_reference_widens_the_interval(store, calendar):
    cal = trends.PromotionCalendar([p for p in calendar.promotions if p.name == "促销A"])
    ref = fx.days(D(2023, 1, 4), D(2023, 2, 28))                     # the 56 reference days
    per_day = {d: (5 if i % 2 else 0) for i, d in enumerate(ref)}     # 0,5,0,5… : φ = 140/49
    per_day.update(dict(zip(fx.days(D(2022, 3, 6), D(2022, 3, 12)), [2, 1, 2, 1, 2, 1, 1])))
    per_day.update(dict(zip(WINDOW_2023, [5, 4, 5, 4, 5, 4, 3])))
    fx.fill_daily(store, per_day)
    study = trends.event_study(store, Filters(), promotion="促销A", year=2023, calendar=cal)
    assert study.count == 30 and study.lift == pytest.approx(3.0)
    assert study.dispersion == pytest.approx(140 / 49)
    half = Z * math.sqrt(140 / 49 * (1 / 30 + 1 / 10))
    assert study.ci_low == pytest.approx(3 * math.exp(-half), rel=1e-6)
    assert study.ci_high == pytest.approx(3 * math.exp(half), rel=1e-6)
    assert "过度离散" in study.method


def test_no_baseline_gives_no_lift_and_a_plain_reason(store, calendar):
    fx.fill_daily(store, {d: 2 for d in fx.days(D(2023, 3, 3), D(2023, 3, 12))})
    study = trends.event_study(store, Filters(), promotion="促销A", year=2023, calendar=calendar)
    assert study.count == 14 and study.lift is None and study.ci_low is None and study.baseline is None
    assert "2022年同期" in study.reason and "不足 7 天" in study.reason
    text = trends.describe_event(study)
    assert text.startswith("2023年促销A期间（3月6日—3月12日）投诉 14 件；数据库中没有2022年同期")
    assert "无法计算增幅" in text and "增长" not in text
    assert study.drivers["count"].tolist() == [14, 14, 14]


def test_window_without_data(store, calendar):
    fx.fill_daily(store, {d: 1 for d in fx.days(D(2023, 4, 1), D(2023, 4, 30))})
    study = trends.event_study(store, Filters(), promotion="促销A", year=2022, calendar=calendar)
    assert study.count is None and study.lift is None
    assert trends.describe_event(study) == (
        "没有2022年促销A期间（3月6日—3月12日）的投诉数据：数据库中的数据范围为 2023-04-01—2023-04-30，不包含该促销窗口。")
    empty = trends.event_study(Store(":memory:"), Filters(), promotion="促销A", year=2022, calendar=calendar)
    assert empty.count is None and "还没有投诉数据" in trends.describe_event(empty)


def test_zero_baseline_count_is_not_a_lift(store, calendar):
    cal = trends.PromotionCalendar([p for p in calendar.promotions if p.name == "促销A"])
    per_day = {d: 0 for d in fx.days(D(2022, 3, 1), D(2022, 3, 12))}
    per_day[D(2022, 3, 1)] = 1                                        # data start before the 2022 window
    per_day.update({d: 2 for d in WINDOW_2023})
    fx.fill_daily(store, per_day)
    study = trends.event_study(store, Filters(), promotion="促销A", year=2023, calendar=cal)
    yoy = study.baselines.set_index("kind").loc["yoy"]
    assert yoy["base_count"] == 0 and pd.isna(yoy["lift"]) and "没有投诉" in yoy["reason"]
    # the 56 days before pre-sale hold no complaint either → no lift at all
    assert study.lift is None and "促销前的参考期没有投诉" in study.reason


def test_partial_window_is_compared_on_aligned_days(store, calendar):
    per_day = {d: 1 for d in fx.days(D(2022, 1, 1), D(2023, 3, 9))}
    per_day.update({d: 4 for d in fx.days(D(2023, 3, 6), D(2023, 3, 9))})
    fx.fill_daily(store, per_day)
    study = trends.event_study(store, Filters(), promotion="促销A", year=2023, calendar=calendar)
    assert study.partial and study.covered_end == D(2023, 3, 9)
    assert study.count == 16 and study.baseline == pytest.approx(4.0) and study.lift == pytest.approx(4.0)
    yoy = study.baselines.set_index("kind").loc["yoy"]
    assert (yoy["start"], yoy["end"]) == (D(2022, 3, 6), D(2022, 3, 9))
    assert "数据截至3月9日" in trends.describe_event(study)


def test_event_study_applies_dimension_filters_but_not_the_period(store, calendar):
    _surge_store(store)
    study = trends.event_study(store, Filters(categories=("家用电器",), start=D(2024, 1, 1)),
                               promotion="促销A", year=2023, calendar=calendar)
    assert study.count == 14
    assert study.lift is None and "没有投诉" in study.reason


def test_lift_frame(store, calendar):
    per_day = {d: 2 for d in fx.days(D(2022, 1, 1), D(2023, 3, 31))}
    per_day.update({d: 6 for d in WINDOW_2023})
    fx.fill_daily(store, per_day, describe=lambda d, i: {"category": "家用电器" if i % 2 else "食品"})
    study = trends.event_study(store, Filters(), promotion="促销A", year=2023, calendar=calendar)
    frame = trends.lift_frame(study, dimension="category")
    assert frame["label"].tolist() == ["全部", "家用电器", "食品"]
    assert frame["lift"].tolist() == pytest.approx([3.0, 3.0, 3.0])
    assert frame["count"].tolist() == [42, 21, 21]
    half = Z * math.sqrt(1 / 21 + 1 / 7)
    assert frame["ci_high"].iloc[1] == pytest.approx(3 * math.exp(half), rel=1e-6)


def test_real_jd_series_finds_the_2019_double_eleven_rise():
    store = Store(":memory:")
    fx.fill_daily(store, fx.jd_daily())
    study = trends.event_study(store, Filters(), promotion="双11", year=2019)
    assert study.count == sum(n for d, n in fx.jd_daily().items() if D(2019, 11, 1) <= d <= D(2019, 11, 20))
    assert study.baseline_kind == "prior" and study.ci_low > 2
    yoy = study.baselines.set_index("kind").loc["yoy"]
    assert pd.isna(yoy["lift"]) and "2018年同期" in yoy["reason"]
    assert "剔除其他促销主窗口 7 天" in study.baseline_label              # 国庆 2019 skipped
    alarms = trends.detect_surges(store, Filters(), freq="D", method="ewma")
    assert len(alarms) and alarms["period"].min() >= pd.Timestamp("2019-11-01")
    assert (alarms["period"] <= pd.Timestamp("2019-11-20")).any()
    weekly = trends.detect_surges(store, Filters(), freq="W")
    assert pd.Timestamp("2019-11-11") in set(weekly["period"])
    assert trends.detect_surges(store, Filters(), freq="W", method="farrington").empty   # no past years


# --------------------------------------------------------------------------- surges
def _weekly_store(store, weeks: int, spike: int, *, spike_week: int, level: int = 10, last_day: int = 6):
    """``level`` complaints each Monday for ``weeks`` weeks from 2024-01-01, ``spike`` in week
    ``spike_week``; one more complaint on day ``last_day`` of the last week ends the data."""
    per_day = {D(2024, 1, 1) + dt.timedelta(weeks=w): (spike if w == spike_week else level) for w in range(weeks)}
    end = D(2024, 1, 1) + dt.timedelta(weeks=weeks - 1, days=last_day)
    per_day[end] = per_day.get(end, 0) + 1
    fx.fill_daily(store, per_day)
    return store


def test_ewma_and_cusum_alarm_by_hand(store):
    _weekly_store(store, 16, 40, spike_week=14)
    # Week 14: the 12 weeks before hold 10 each (s.d. 0 → floor √10): u = 30/√10; EWMA z = 0.3·u.
    u = 30 / math.sqrt(10)
    limit = 3 * math.sqrt(0.3 / 1.7)
    alarms = trends.detect_surges(store, Filters(), freq="W", method="ewma")
    spike = alarms[alarms["period"] == pd.Timestamp(D(2024, 1, 1) + dt.timedelta(weeks=14))]
    assert len(spike) == 1
    row = spike.iloc[0]
    assert row["count"] == 40 and row["expected"] == pytest.approx(10.0)
    assert row["statistic"] == pytest.approx(0.3 * u / limit)
    assert row["upper"] == pytest.approx(10 + math.sqrt(10) * limit / 0.3)
    cusum = trends.detect_surges(store, Filters(), freq="W", method="cusum")
    row = cusum[cusum["period"] == spike.iloc[0]["period"]].iloc[0]
    assert row["statistic"] == pytest.approx((u - 0.5) / 4)
    assert row["upper"] == pytest.approx(10 + math.sqrt(10) * 4.5)


def test_surges_skip_partial_periods(store):
    _weekly_store(store, 16, 40, spike_week=15, last_day=3)          # the spike falls in the partial week
    assert trends.detect_surges(store, Filters(), freq="W").empty
    everything = trends.detect_surges(store, Filters(), freq="W", return_all=True)
    assert everything["period"].max() == pd.Timestamp(D(2024, 1, 1) + dt.timedelta(weeks=14))
    assert not everything["alarm"].any()


def test_surges_below_min_count_never_alarm(store):
    _weekly_store(store, 16, 4, spike_week=14, level=1)
    # u = 3/1 → EWMA z = 0.9 > 1·√(0.3/1.7) = 0.42 with threshold 1, but 4 < min_count 5.
    assert trends.detect_surges(store, Filters(), freq="W", threshold=1.0).empty
    alarms = trends.detect_surges(store, Filters(), freq="W", threshold=1.0, min_count=1)
    assert alarms["period"].tolist()[:1] == [pd.Timestamp("2024-04-08")]


def test_farrington_uses_the_same_weeks_of_past_years(store):
    per_day = {D(2021, 1, 4) + dt.timedelta(weeks=w): 10 for w in range(52 * 3 + 10)}
    spike_day = D(2021, 1, 4) + dt.timedelta(weeks=52 * 3 + 5)
    per_day[spike_day] = 30
    fx.fill_daily(store, per_day)
    out = trends.detect_surges(store, Filters(start=D(2023, 12, 1)), freq="W", method="farrington",
                               return_all=True)
    row = out[out["period"] == pd.Timestamp(spike_day)].iloc[0]
    assert row["expected"] == pytest.approx(10.0)          # 3 years × 7 weeks of 10
    assert row["upper"] == stats.poisson.ppf(stats.norm.cdf(2.58), 10)
    assert bool(row["alarm"]) and out["alarm"].sum() == 1
    assert out["period"].min() == pd.Timestamp("2023-12-04")           # periods inside the filter only


def test_surge_lens_and_bad_method(counts_store):
    out = trends.detect_surges(counts_store, Filters(), freq="D", lens="category", top_n=2, return_all=True)
    assert set(out["lens_value"]) == {"食品", "家用电器", "其他"}
    with pytest.raises(UserError, match="预警方法"):
        trends.detect_surges(counts_store, Filters(), method="zscore")
    with pytest.raises(UserError, match="时间粒度"):
        trends.detect_surges(counts_store, Filters(), freq="M")


# --------------------------------------------------------------------------- overlay
def test_yoy_overlay_aligned_on_the_promotion_day(store, calendar):
    _surge_store(store)
    df = trends.yoy_overlay(store, Filters(), promotion="促销A", years=[2022, 2023], window=3, calendar=calendar)
    assert list(df.columns) == ["year", "offset", "date", "count"]
    assert df[df["year"] == 2022]["count"].tolist() == [1] * 7
    assert df[df["year"] == 2023]["count"].tolist() == [1, 3, 3, 3, 3, 3, 3]
    assert df[(df["year"] == 2023) & (df["offset"] == 0)]["date"].iloc[0] == pd.Timestamp("2023-03-08")
    wide = trends.yoy_overlay(store, Filters(), promotion="促销A", years=[2023], window=30, calendar=calendar)
    assert wide["count"].isna().tolist() == [False] * 54 + [True] * 7          # after 2023-03-31
    with pytest.raises(UserError, match="2030"):
        trends.yoy_overlay(store, Filters(), promotion="促销A", years=[2030], calendar=calendar)


# --------------------------------------------------------------------------- demo data
def test_planted_double_eleven_2017_surge_in_demo_data(store):
    from analysis import demo, io

    frame, truth = demo.generate_complaints(6000, random_state=2017, with_labels=True)
    received, _, _ = io.parse_datetimes(frame["登记时间"])
    fx.fill_rows(store, [
        {"received_at": str(w), "category": c, "platform_norm": p, "problem": pr, "product": prod, "district": d}
        for w, c, p, pr, prod, d in zip(received, frame["_category"], frame["_platform"], frame["_problem"],
                                        frame["商品名称"], frame["所属区"]) if not pd.isna(w)
    ])
    kettle = next(t for t in truth if t["id"] == "kettle_leakage")
    assert kettle["window"][0].startswith("2017-11")
    study = trends.event_study(store, Filters(), promotion="双十一", year=2017)
    assert study.baseline_kind == "yoy" and study.count > 0
    prior = study.baselines.set_index("kind").loc["prior"]
    assert prior["ci_low"] > 1.3                          # clearly above the weeks before the promotion
    top = study.drivers.groupby("dimension", sort=False)["value"].first()
    assert top["product"] == kettle["product"] and top["category"] == kettle["category"]
    alarms = trends.detect_surges(store, Filters(start=D(2017, 11, 1), end=D(2017, 11, 30)), freq="W",
                                  lens="platform_norm")
    assert kettle["platform"] in set(alarms["lens_value"])


# --------------------------------------------------------------------------- CLI
@pytest.fixture
def surge_db(tmp_path):
    path = tmp_path / "store.duckdb"
    with Store(path) as s:
        _surge_store(s)
    return path


def _cli(*argv: str) -> int:
    """Run ``python -m analysis trends …`` through the command module (parser + run)."""
    import argparse

    from analysis.commands import trends as command

    parser = argparse.ArgumentParser(prog=f"python -m analysis {command.NAME}")
    command.add_arguments(parser)
    return command.run(parser.parse_args(list(argv)))


def test_cli_json_event_study(surge_db, capsys):
    code = _cli("--db", str(surge_db), "--promotion", "A节", "--year", "2023", "--calendar", str(fx.CALENDAR_CSV),
                "--json")
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["window_start"], doc["window_end"], doc["count"]) == ("2023-03-06", "2023-03-12", 21)
    assert doc["baseline"] == pytest.approx(7.0) and doc["lift"] == pytest.approx(3.0)
    assert doc["excess"] == pytest.approx(14.0) and doc["ci_low"] < 3 < doc["ci_high"]
    assert [(d["dimension"], d["value"], d["excess"]) for d in doc["drivers"]] == [
        ("category", "家用电器", 14.0), ("platform_norm", "拼多多", 14.0), ("product", "电热水壶", 14.0)]
    assert doc["summary"].startswith("2023年促销A期间（3月6日—3月12日）投诉 21 件，较去年同期增长 200%")


def test_cli_text_and_filters(surge_db, capsys):
    assert _cli("--db", str(surge_db), "--promotion", "促销A", "--year", "2023", "--calendar", str(fx.CALENDAR_CSV),
                "--category", "食品") == 0
    out = capsys.readouterr().out
    assert out.startswith("2023年促销A期间（3月6日—3月12日）投诉 7 件，较去年同期基本持平")
    assert "方法：基线：2022年同期" in out and "投诉最多" not in out


def test_cli_user_errors(surge_db, tmp_path):
    with pytest.raises(UserError, match="促销日历中没有2035年的双十一"):
        _cli("--db", str(surge_db), "--promotion", "双十一", "--year", "2035")
    with pytest.raises(UserError, match="数据库文件不存在"):
        _cli("--db", str(tmp_path / "none.duckdb"), "--promotion", "双十一", "--year", "2017")
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + GOOD.replace("2017-11-01", "2017-13-01"), encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        _cli("--db", str(surge_db), "--promotion", "双十一", "--year", "2017", "--calendar", str(bad))
    assert "bad.csv" in str(exc.value) and "第 2 行" in str(exc.value) and "不是 YYYY-MM-DD" in str(exc.value)


def test_lift_frame_leaves_out_drivers_with_tiny_baselines(store, calendar):
    per_day = {d: 2 for d in fx.days(D(2022, 1, 1), D(2023, 3, 31))}
    per_day.update({d: 6 for d in WINDOW_2023})
    rare = D(2022, 3, 8)                                     # one 家用电器 complaint last year

    def describe(day, i):
        if day in WINDOW_2023 and i >= 3 or (day == rare and i == 0):
            return {"category": "家用电器"}
        return {}
    fx.fill_daily(store, per_day, describe=describe)
    study = trends.event_study(store, Filters(), promotion="促销A", year=2023, calendar=calendar)
    assert study.drivers.query("dimension == 'category'")["expected"].tolist() == pytest.approx([1.0, 13.0])
    assert trends.lift_frame(study)["label"].tolist() == ["全部", "食品"]           # 家用电器 expects 1 < 5
    assert trends.lift_frame(study, min_expected=1)["label"].tolist() == ["全部", "家用电器", "食品"]


# --------------------------------------------------------------------------- extending the calendar
def test_a_promotion_added_to_the_calendar_works_in_the_cli(tmp_path, monkeypatch):
    # rows appended to data/promotions.csv (a copy): the command, its help and its JSON, no code edited
    data = extended_data(tmp_path / "data")
    calendar = trends.load_promotions(data / "promotions.csv")
    now, before = calendar.get(PROMOTION, 2017), calendar.get(PROMOTION, 2016)
    window = fx.days(now.main_start, now.main_end)
    per_day = {d: 1 for d in fx.days(before.presale_start - dt.timedelta(days=120), now.after_end)}
    per_day.update({d: 3 for d in window})
    db = tmp_path / "store.duckdb"
    with Store(db) as s:
        fx.fill_daily(s, per_day)
    env = {**os.environ, DATA_ENV_VAR: str(data)}
    done = subprocess.run([sys.executable, "-m", "analysis", "trends", "--db", str(db), "--promotion", PROMOTION,
                           "--year", "2017", "--json"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert (doc["promotion"], doc["window_start"], doc["window_end"], doc["count"]) == (
        PROMOTION, now.main_start.isoformat(), now.main_end.isoformat(), 3 * len(window))
    assert doc["baseline_kind"] == "yoy" and doc["lift"] > 2
    assert doc["summary"].startswith(f"2017年{PROMOTION}期间（{now.main_start.month}月{now.main_start.day}日—")
    shown = subprocess.run([sys.executable, "-m", "analysis", "trends", "--help"], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=600)
    assert PROMOTION in shown.stdout.replace("\n", "").replace(" ", "")
    monkeypatch.setenv(DATA_ENV_VAR, str(data))
    assert PROMOTION in trends.load_promotions().names           # the library reads the same file
