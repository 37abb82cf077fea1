"""Handling figures: 办结率, 按期办结率, 调解成功率, 挽回经济损失, channel mix; hidden without their columns."""

from __future__ import annotations

import math

import pytest

from analysis import handling, ingest
from analysis.errors import ConfigError, UserError
from analysis.store import Store

# 2017-03-01 is a Wednesday. Working days from 登记 to 办结 (numpy.busday_count, start included):
# #1 03-01 → 03-10: 7 (in time); #2 03-01 → 06-30: 87 (late); #6 03-05 (Sunday) → 03-06: 0 (in time).
HANDLING_CSV = """投诉编号,登记时间,投诉内容,被投诉方,处理状态,办结时间,挽回经济损失,是否按期办结,投诉渠道
1,2017-03-01,电水壶漏电,店A,调解成功,2017-03-10,100,,12315热线
2,2017-03-01,羽绒服跑绒,店A,调解不成,2017-06-30,,,12315热线
3,2017-03-02,退款不到账,店B,终止调解,,,否,全国12315互联网平台
4,2017-03-03,商品有瑕疵,店B, 已办结 ,2017-03-05,50.5,是,12315热线
5,2017-03-04,一直不发货,店B,处理中,,,,来信
6,2017-03-05,虚假宣传,店C,不予受理,2017-03-06,,,
7,2017-03-06,价格欺诈,店C,神秘状态,,,,
8,2017-03-07,质量问题,店C,,,,,
"""


@pytest.fixture
def store(tmp_path):
    path = tmp_path / "handling.csv"
    path.write_text(HANDLING_CSV, encoding="utf-8")
    s = Store(":memory:")
    assert ingest.import_file(s, path).imported == 8
    yield s
    s.close()


def test_overall_figures_by_hand(store):
    f = handling.handling_figures(store)
    row = f.iloc[0]
    assert row["group"] == "全部" and row["complaints"] == 8
    assert (row["with_status"], row["closed"], row["closed_rate"]) == (6, 5, pytest.approx(5 / 6))
    assert (row["timely_known"], row["on_time"], row["on_time_rate"]) == (5, 3, pytest.approx(3 / 5))
    assert (row["mediated"], row["mediation_success"], row["mediation_rate"]) == (3, 1, pytest.approx(1 / 3))
    assert (row["recovered_cases"], row["recovered"]) == (2, pytest.approx(150.5))
    assert f.attrs["unmapped"] == {"神秘状态": 1}
    assert f.attrs["available"] == {"closed_rate": True, "mediation_rate": True, "on_time_rate": True,
                                    "recovered": True, "channel": True}


def test_figures_per_merchant(store):
    f = handling.handling_figures(store, by="merchant").set_index("group")
    assert list(f.index) == ["店B", "店C", "店A"]  # by complaints, then name
    assert f.loc["店A", ["closed_rate", "on_time_rate", "mediation_rate", "recovered"]].tolist() == [1.0, .5, .5, 100.0]
    assert f.loc["店B", "closed_rate"] == pytest.approx(2 / 3) and f.loc["店B", "on_time_rate"] == .5
    assert f.loc["店B", "mediation_rate"] == 0.0 and f.loc["店B", "recovered"] == 50.5
    assert f.loc["店C", "on_time_rate"] == 1.0 and math.isnan(f.loc["店C", "mediation_rate"])
    assert handling.handling_figures(store, by="merchant", top=1)["group"].tolist() == ["店B"]
    with pytest.raises(UserError, match="未知的分组"):
        handling.handling_figures(store, by="phone")


def test_channel_mix(store):
    mix = handling.channel_mix(store)
    assert mix["channel"].tolist() == ["12315热线", "全国12315互联网平台", "来信"]
    assert mix["n"].tolist() == [3, 1, 1] and mix["share"].tolist() == pytest.approx([.6, .2, .2])


def test_figures_without_their_columns_are_hidden_not_zero(tmp_path):
    path = tmp_path / "plain.csv"
    path.write_text("投诉编号,登记时间,投诉内容,处理状态\n1,2017-03-01,电水壶漏电,已办结\n2,2017-03-02,跑绒,处理中\n",
                    encoding="utf-8")
    with Store(":memory:") as s:
        ingest.import_file(s, path)
        f = handling.handling_figures(s)
        assert list(f.columns) == ["group", "complaints", "with_status", "closed", "closed_rate", "mediated",
                                   "mediation_success", "mediation_rate"]
        assert f.attrs["available"]["on_time_rate"] is False and f.attrs["available"]["recovered"] is False
        assert handling.channel_mix(s).empty
    path.write_text("投诉编号,登记时间,投诉内容\n1,2017-03-01,电水壶漏电\n", encoding="utf-8")
    with Store(":memory:") as s:
        ingest.import_file(s, path)
        assert list(handling.handling_figures(s).columns) == ["group", "complaints"]


def test_timeliness_without_a_status_counts_every_known_complaint(tmp_path):
    path = tmp_path / "timely.csv"
    path.write_text("投诉编号,登记时间,投诉内容,Timely response?\n1,2017-03-01,a,Yes\n2,2017-03-01,b,No\n"
                    "3,2017-03-01,c,yes\n4,2017-03-01,d,\n", encoding="utf-8")
    with Store(":memory:") as s:
        ingest.import_file(s, path)
        row = handling.handling_figures(s).iloc[0]
        assert (row["timely_known"], row["on_time"]) == (3, 2)
        assert "closed_rate" not in row.index


@pytest.mark.parametrize("content, fragment", [
    ("value,closed,outcome\n已办结,maybe,\n", "closed 应为 yes 或 no"),
    ("value,closed,outcome\n已办结,yes,解决了\n", "结果「解决了」无效"),
    ("value,closed,outcome\n已办结,yes,\n 已办结,yes,\n", "已在第 2 行定义"),
    ("value,closed,outcome\n处理中,no,调解成功\n", "未办结"),
    ("value,closed\n已办结,yes\n", "缺少列：outcome"),
])
def test_bad_status_file_is_a_config_error(tmp_path, content, fragment):
    path = tmp_path / "status_values.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=fragment):
        handling.load_rules(status_path=path)


def test_bundled_value_maps_cover_the_common_statuses():
    rules = handling.load_rules()
    statuses = rules.statuses.set_index("key")
    for value, closed, outcome in (("已办结", True, "其他办结"), ("调解成功", True, "调解成功"),
                                   ("调解不成", True, "调解不成"), ("终止调解", True, "终止调解"),
                                   ("不予受理", True, "不予受理"), ("处理中", False, None),
                                   ("closed with monetary relief", True, "调解成功")):
        got = statuses.loc[value, "outcome"]
        assert statuses.loc[value, "closed"] == closed and (got if isinstance(got, str) else None) == outcome
    assert rules.timely["是"] is True and rules.timely["no"] is False and rules.time_limit_workdays == 45


def test_bad_time_limit_is_a_config_error(tmp_path):
    path = tmp_path / "handling.csv"
    path.write_text("name,value,note\ntime_limit_workdays,四十五,\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="第 2 行.*正整数"):
        handling.load_rules(settings_path=path)


def test_a_read_only_store_from_before_the_handling_fields(tmp_path):
    path = tmp_path / "old.duckdb"
    csv = tmp_path / "h.csv"
    csv.write_text(HANDLING_CSV, encoding="utf-8")
    with Store(path) as s:
        ingest.import_file(s, csv)
        s.con.execute("DROP VIEW complaints_counted")
        s.con.execute("DROP VIEW complaints_enriched")
        for column in ("timely", "handled_at", "amount_recovered"):
            s.con.execute(f"ALTER TABLE complaints DROP COLUMN {column}")
        s.con.execute("CREATE VIEW complaints_enriched AS SELECT c.*, '未分类' AS category, '其他平台' AS platform_norm, "
                      "'未分类' AS problem FROM complaints c")
    with Store(path, read_only=True) as ro:  # not migrated: those figures are simply absent
        f = handling.handling_figures(ro)
        assert f.attrs["available"]["on_time_rate"] is False and "recovered" not in f.columns
        assert f.iloc[0]["closed"] == 5
