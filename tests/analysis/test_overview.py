"""KPIs, top-N changes and "what changed" on the hand-made fixture (tests/fixtures/report).

The chosen period is November 2017 (30 days): previous period 2017-10-02 … 10-31,
same period last year 2016-11-01 … 11-30. Expected values are counted by hand
from complaints.csv (see its README).
"""

import datetime as dt
import math

import pytest

from analysis import overview as ov
from analysis.store import Filters, Store
from tests.fixtures.report.store_fixture import fill_store, insert

D = dt.date
NOV = Filters(start=D(2017, 11, 1), end=D(2017, 11, 30))


@pytest.fixture(scope="module")
def store():
    s = Store(":memory:")
    fill_store(s)
    yield s
    s.close()


def test_comparison_periods_have_equal_length_and_handle_leap_days():
    p = ov.comparison_periods(D(2017, 11, 1), D(2017, 11, 30))
    assert (p["previous"].start, p["previous"].end) == (D(2017, 10, 2), D(2017, 10, 31))
    assert (p["last_year"].start, p["last_year"].end) == (D(2016, 11, 1), D(2016, 11, 30))
    assert p["current"].days == p["previous"].days == 30
    leap = ov.comparison_periods(D(2016, 2, 29), D(2016, 3, 6))
    assert (leap["last_year"].start, leap["last_year"].end) == (D(2015, 2, 28), D(2015, 3, 6))
    assert (leap["previous"].start, leap["previous"].end) == (D(2016, 2, 22), D(2016, 2, 28))
    with pytest.raises(ValueError):
        ov.comparison_periods(D(2017, 2, 1), D(2017, 1, 1))


def test_compare_counts_respects_period_boundaries(store):
    total = ov.compare_counts(store, NOV)
    # O01 (2017-10-01 23:00) and O02 (2016-12-01 00:00) fall just outside; C09 at 23:59:59 is inside
    assert total.iloc[0].tolist() == [10, 6, 3]


def test_compare_counts_by_district_labels_missing_values(store):
    by = ov.compare_counts(store, NOV, by="district").set_index("district")
    assert by.loc["浦东新区"].tolist() == [4, 1, 1]
    assert by.loc["徐汇区"].tolist() == [1, 3, 1]
    assert by.loc["（未填写）"].tolist() == [1, 0, 0]
    assert "长宁区" not in by.index  # O01 is outside all three periods
    with pytest.raises(ValueError):
        ov.compare_counts(store, NOV, by="text; DROP TABLE complaints")


def test_pending_enrichment_counts_complaints_without_a_class(store):
    assert ov.pending_enrichment(store) == 1        # C10


def test_kpi_frame_hand_computed(store):
    k = ov.kpi_frame(store, NOV)
    assert k["complaints"].tolist() == [10, 6, 3]
    assert k["quality_safety"].tolist() == [6, 2, 1]
    assert k.loc["current", "quality_share"] == pytest.approx(60.0)
    assert k.loc["previous", "quality_share"] == pytest.approx(100 / 3)
    assert k.loc["current", "top_category"] == "家用电器" and k.loc["current", "top_category_count"] == 4
    assert k.loc["previous", "top_category"] == "化妆品" and k.loc["previous", "top_category_count"] == 3
    assert k.loc["current", "top_category_previous"] == 1
    # 拼多多 3 (C01–C03); C10 is 其他平台 (no enrichment) and never the top platform
    assert k.loc["current", "top_platform"] == "拼多多" and k.loc["current", "top_platform_previous"] == 0
    assert k.loc["last_year", "top_platform"] == "天猫"


def test_filters_apply_to_all_three_periods(store):
    k = ov.kpi_frame(store, NOV.replace(platforms=("淘宝",)))
    assert k["complaints"].tolist() == [2, 3, 1]      # C05 C09 | P02 P03 P04 | L03
    assert k["quality_safety"].tolist() == [1, 1, 0]


def test_kpi_cards_hand_computed(store):
    cards = {c.key: c for c in ov.kpi_cards(ov.kpi_frame(store, NOV))}
    assert cards["complaints"].value == "10 件"
    assert cards["complaints"].delta == "+66.7%"                    # (10 - 6) / 6
    assert cards["complaints"].delta_description == "较上期（6 件）；同比 +233.3%"   # (10 - 3) / 3
    assert cards["complaints"].delta_color == "inverse"
    assert cards["quality_share"].value == "60.0%"
    assert cards["quality_share"].delta == "+26.7 个百分点"           # 60.0 - 33.3
    assert cards["top_category"].value == "家用电器（4 件）" and cards["top_category"].delta == "+3 件"
    assert cards["top_category"].delta_description == "较上期；上期第一：化妆品"
    assert cards["top_platform"].value == "拼多多（3 件）"
    assert "alarms" not in cards


def test_top_changes_hand_computed(store):
    top = ov.top_changes(store, NOV, by="category").set_index("name")
    # by count, ties by name (code point order)
    assert list(top.index) == ["家用电器", "食品", "化妆品", "服装鞋帽", "未分类", "票务"]
    assert top.loc["家用电器", ["current", "previous", "change", "last_year", "yoy_change"]].tolist() == \
        [4, 1, 3, 1, 3]
    assert top.loc["家用电器", "share"] == pytest.approx(40.0)
    assert top.loc["家用电器", "change_pct"] == pytest.approx(300.0)
    assert top.loc["化妆品", "change"] == -2 and top.loc["化妆品", "change_pct"] == pytest.approx(-200 / 3)
    assert math.isnan(top.loc["化妆品", "yoy_pct"])                 # nothing last year
    assert top["share"].sum() == pytest.approx(100.0)
    assert len(ov.top_changes(store, NOV, by="category", n=2)) == 2


def test_what_changed_sentences(store):
    assert ov.what_changed(store, NOV) == [
        "本期（2017-11-01 至 2017-11-30，30 天）投诉 10 件，环比上升 66.7%（上期 6 件），"
        "同比上升 233.3%（去年同期 3 件）。",
        "家用电器增长最多（+3 件，+300.0%），主要在拼多多（+3 件）。",
        "化妆品下降最多（-2 件，-66.7%）。",
        "质量安全类问题占 60.0%（6 件），比上期上升 26.7 个百分点。",
        "分区看，浦东新区增加最多（+3 件，+300.0%）。",
    ]


def test_what_changed_for_an_empty_period_and_a_long_period(store):
    assert ov.what_changed(store, Filters(start=D(2015, 1, 1), end=D(2015, 1, 31))) == [
        "所选时间段（2015-01-01 至 2015-01-31）内没有投诉数据。"]
    whole = ov.what_changed(store, Filters())       # 2016-06-18 … 2017-11-30: longer than a year
    assert whole[0] == "本期（2016-06-18 至 2017-11-30，531 天）投诉 25 件，上期无投诉记录，时段超过一年，不作同比。"


def test_empty_store_gives_empty_results():
    with Store(":memory:") as empty:
        assert ov.kpi_frame(empty, Filters()).empty
        assert ov.compare_counts(empty, Filters(), by="category").empty
        assert ov.what_changed(empty, Filters()) == []
        assert ov.open_alarms(empty, Filters()).empty


def test_format_change():
    assert ov.format_change(12, 10) == "+20.0%"
    assert ov.format_change(5, 0) is None
    assert ov.format_change(33.3, 35.0, unit="pp") == "-1.7 个百分点"
    assert ov.format_change(1200, 1000, unit="件") == "+200 件"


def test_open_alarms_finds_a_surge_in_the_last_days():
    rows = []
    start = D(2017, 9, 1)
    for day in range(91):                                   # 2017-09-01 … 2017-11-30
        date = start + dt.timedelta(days=day)
        per_day = 12 if date >= D(2017, 11, 28) else 1      # 食品 surges over the last three days
        for i in range(per_day):
            rows.append({"complaint_id": f"F{day}-{i}", "received_at": f"{date} 10:00:00",
                         "text": f"食品投诉 {day}-{i}", "category": "食品", "problem": "商品质量",
                         "severity": "3", "platform_norm": "天猫"})
        rows.append({"complaint_id": f"H{day}", "received_at": f"{date} 11:00:00",
                     "text": f"家电投诉 {day}", "category": "家用电器", "problem": "售后服务",
                     "severity": "1", "platform_norm": "京东"})
    with Store(":memory:") as s:
        insert(s, rows)
        period = Filters(start=D(2017, 11, 1), end=D(2017, 11, 30))
        alarms = ov.open_alarms(s, period, recent_days=7)
        assert alarms["name"].tolist() == ["食品"]
        assert alarms.loc[0, "last_alarm"] == D(2017, 11, 30)
        assert 1 <= alarms.loc[0, "alarm_days"] <= 3
        card = ov.kpi_cards(ov.kpi_frame(s, period), alarms=alarms)[-1]
        assert (card.key, card.value, card.delta) == ("alarms", "1 个类别", "食品")
        # alarms before the last 7 days are not open
        assert ov.open_alarms(s, Filters(start=D(2017, 10, 1), end=D(2017, 11, 20))).empty


def test_trend_series_granularity_and_promotions(store):
    series, promotions = ov.trend_series(store, NOV)
    assert series.attrs["freq"] == "D" and len(series) == 30 and series["count"].sum() == 10
    assert "双十一" in set(promotions["name"])
    monthly, _ = ov.trend_series(store, Filters())          # 531 days
    assert monthly.attrs["freq"] == "M" and len(monthly) == 18 and monthly["count"].sum() == 25
    weekly, _ = ov.trend_series(store, Filters(start=D(2017, 6, 1), end=D(2017, 11, 30)))
    assert weekly.attrs["freq"] == "W" and weekly["count"].sum() == 20     # E01 E02 E04, O01 P01–P06, C01–C10


def test_a_store_without_enrichment_has_no_top_category_but_still_sentences():
    """Fresh from import: every complaint is 未分类 / 其他平台, so nothing is named as top or mover."""
    rows = [{"complaint_id": f"U{i}", "received_at": f"2017-11-{i + 1:02d} 10:00:00", "text": f"投诉 {i}",
             "district": "浦东新区" if i % 2 else None} for i in range(6)]
    with Store(":memory:") as s:
        insert(s, rows)
        period = Filters(start=D(2017, 11, 4), end=D(2017, 11, 6))
        kpis = ov.kpi_frame(s, period)
        assert kpis.loc["current", "top_category"] is None and kpis.loc["current", "top_platform"] is None
        assert ov.what_changed(s, period) == [
            "本期（2017-11-04 至 2017-11-06，3 天）投诉 3 件，环比持平（上期 3 件），去年同期无投诉记录。",
            "质量安全类问题占 0.0%（0 件），与上期持平。",
            "分区看，浦东新区增加最多（+1 件，+100.0%）。",      # U3 U5 against U1
        ]
        cards = {c.key: c for c in ov.kpi_cards(kpis)}
        assert cards["top_category"].value == "—"
        assert ov.pending_enrichment(s) == 6


def test_cards_say_no_previous_data_instead_of_nan():
    """A first period with nothing before it: the leader text must not read 'nan'."""
    rows = [{"complaint_id": f"F{i}", "received_at": f"2017-11-{i + 1:02d} 10:00:00", "text": f"投诉 {i}"}
            for i in range(4)]
    with Store(":memory:") as s:
        insert(s, rows)
        s.con.execute(
            "INSERT INTO enrichment SELECT complaint_id, text_hash, '家用电器', 1, 'rule', '', '商品质量', 1, '', 3, "
            "'京东', 'fixture' FROM complaints")
        cards = {c.key: c for c in ov.kpi_cards(ov.kpi_frame(s, Filters(start=D(2017, 11, 1),
                                                                          end=D(2017, 11, 30))))}
    for key in ("top_category", "top_platform"):
        assert "nan" not in cards[key].delta_description
        assert cards[key].delta_description.endswith("上期无数据")


def _view_counts(store, filters, by):
    """The three periods' counts per ``by`` straight from the complaints–enrichment view."""
    _, periods = ov._require_period(store, filters)
    where, params = filters.replace(start=None, end=None).where()
    counts = ", ".join(f"count(*) FILTER (WHERE received_at >= '{p.bounds()[0]}' AND received_at < "
                       f"'{p.bounds()[1]}') AS {name}" for name, p in periods.items())
    frame = store.query(f"SELECT coalesce({by}, '（未填写）') AS {by}, {counts} FROM complaints_enriched "
                        f"WHERE {where} GROUP BY 1", params)
    frame = frame[frame[list(ov.PERIODS)].sum(axis=1) > 0]
    return frame.sort_values(["current", by], ascending=[False, True], ignore_index=True)


def test_one_cube_scan_gives_the_same_breakdowns(store):
    bys = ("category", "platform_norm", "problem")
    for filters in (NOV, Filters(start=D(2017, 11, 1), end=D(2017, 11, 30), categories=("家用电器",))):
        for by, frame in zip(bys, ov._breakdowns(store, filters, bys), strict=True):
            expected = _view_counts(store, filters, by)
            assert frame.to_dict("list") == expected.to_dict("list")
            assert ov.compare_counts(store, filters, by=by).to_dict("list") == expected.to_dict("list")


def test_district_counts_without_and_with_a_category_filter_agree_with_the_view(store):
    sql = ("SELECT coalesce(district, '（未填写）') AS d, count(*) AS n FROM complaints_enriched "
           "WHERE received_at >= '2017-11-01' AND received_at < '2017-12-01' {} GROUP BY 1")
    for filters, extra in ((NOV, ""), (NOV.replace(categories=("家用电器",)), "AND category = '家用电器'")):
        expected = dict(store.query(sql.format(extra)).itertuples(index=False))
        got = ov.compare_counts(store, filters, by="district").set_index("district")["current"]
        assert {k: v for k, v in got.items() if v} == expected
