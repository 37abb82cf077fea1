"""Trend figures: partial periods, promotion bands, alarm markers, overlay ticks, lift bars."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from analysis import plots
from analysis.plots import trends as tp


def _series(values: dict[str, list[int]], *, freq: str = "W", partial=(0, -1)) -> pd.DataFrame:
    periods = pd.date_range("2024-01-29", periods=len(next(iter(values.values()))), freq="W-MON")
    rows = []
    for lens, counts in values.items():
        flags = np.zeros(len(counts), bool)
        flags[list(partial)] = True
        rows += [(p, lens, c, f) for p, c, f in zip(periods, counts, flags)]
    df = pd.DataFrame(rows, columns=["period", "lens_value", "count", "is_partial"])
    df.attrs["freq"] = freq
    return df


def test_partial_periods_are_dotted_not_drawn_as_a_drop():
    fig = tp.trend_figure(_series({"全部": [4, 2, 1, 0, 2, 3]}))
    solid, dotted = fig.data
    assert np.isnan(solid.y[0]) and np.isnan(solid.y[-1])
    assert list(solid.y[1:-1]) == [2, 1, 0, 2]
    assert list(np.nan_to_num(dotted.y, nan=-1)) == [4, 2, -1, -1, 2, 3]   # partial points + their neighbours
    assert dotted.line.dash == "dot" and dotted.marker.symbol == "circle-open"
    assert fig.layout.yaxis.title.text == "投诉量（件）" and fig.layout.xaxis.title.text == "周（周一起）"
    assert not solid.showlegend                                          # a single series needs no legend


def test_bands_and_alarm_markers():
    promotions = pd.DataFrame({"name": ["双十一", "618"], "year": [2024, 2024],
                               "main_start": pd.to_datetime(["2024-02-06", "2024-06-01"]),
                               "main_end": pd.to_datetime(["2024-02-20", "2024-06-20"])})
    alarms = pd.DataFrame({"period": pd.to_datetime(["2024-02-26"]), "lens_value": ["食品"], "count": [9],
                           "expected": [2.5]})
    fig = tp.trend_figure(_series({"食品": [1, 2, 3, 4, 9, 1], "其他": [0, 1, 1, 1, 1, 0]}),
                          promotions=promotions, alarms=alarms, title="趋势")
    bands = [s for s in fig.layout.shapes if s.type == "rect"]
    assert len(bands) == 1                                               # 618 lies outside the chart
    assert pd.Timestamp(bands[0].x0) == pd.Timestamp("2024-02-06")
    assert pd.Timestamp(bands[0].x1) == pd.Timestamp("2024-02-21")
    assert [a.text for a in fig.layout.annotations] == ["双十一"]
    marker = fig.data[-1]
    assert marker.name == "突增预警" and list(marker.y) == [9] and marker.marker.symbol == "triangle-up"
    assert "预期 2.5" in marker.text[0]
    colours = {t.name: t.line.color for t in fig.data if t.name in ("食品", "其他")}
    assert colours["其他"] == "#95a5a6" and colours["食品"] == plots.PALETTE[0]


def test_lens_values_are_escaped():
    fig = tp.trend_figure(_series({"<b>店</b>": [1, 2, 3, 4, 5, 6]}, partial=()))
    assert fig.data[0].name == "&lt;b&gt;店&lt;/b&gt;"
    assert len(fig.data) == 1                                            # no partial trace


def test_yoy_figure_aligns_years_on_the_promotion_day():
    offsets = list(range(-20, 21))
    overlay = pd.DataFrame({
        "year": [2016] * 41 + [2017] * 41, "offset": offsets * 2,
        "date": list(pd.date_range("2016-10-22", periods=41)) + list(pd.date_range("2017-10-22", periods=41)),
        "count": [1.0] * 41 + [2.0] * 40 + [np.nan]})
    fig = tp.yoy_figure(overlay, promotion="双十一")
    assert [t.name for t in fig.data] == ["2016年", "2017年"]
    assert fig.data[1].line.width == 3 and np.isnan(fig.data[1].y[-1])
    ticks = dict(zip(fig.layout.xaxis.tickvals, fig.layout.xaxis.ticktext))
    assert ticks[-20] == "D−20" and ticks[0] == "D" and ticks[20] == "D+20" and len(ticks) == 9
    assert fig.layout.xaxis.title.text == "距促销日天数"
    assert fig.layout.annotations[0].text == "双十一（D）"


def test_small_multiples_one_panel_per_value():
    series = _series({"食品": [1, 2, 3, 4, 5, 6], "家用电器": [2, 2, 2, 2, 2, 2], "化妆品": [1, 1, 1, 1, 1, 1],
                      "其他": [0, 0, 1, 0, 0, 0]})
    promotions = pd.DataFrame({"name": ["双十一"], "main_start": pd.to_datetime(["2024-02-06"]),
                               "main_end": pd.to_datetime(["2024-02-20"])})
    fig = tp.small_multiples(series, promotions=promotions, cols=3)
    assert [a.text for a in fig.layout.annotations] == ["食品", "家用电器", "化妆品", "其他"]
    solid = [t for t in fig.data if t.line.dash != "dot"]
    assert len(solid) == 4 and solid[3].xaxis == "x4"                   # 其他 starts the second row
    assert len([s for s in fig.layout.shapes if s.type == "rect"]) == 4  # a band in every used panel


def test_lift_bars_change_interval_and_colour():
    frame = pd.DataFrame({"label": ["全部", "家用电器", "食品"], "lift": [3.0, 1.5, 0.5],
                          "ci_low": [1.2, 0.8, 0.3], "ci_high": [8.0, 2.5, 0.9],
                          "count": [21, 9, 3], "expected": [7.0, 6.0, 6.0]})
    fig = tp.lift_bars(frame, title="增幅")
    bar = fig.data[0]
    assert list(bar.x) == pytest.approx([200.0, 50.0, -50.0])
    assert list(bar.error_x.array) == pytest.approx([500.0, 100.0, 40.0])
    assert list(bar.error_x.arrayminus) == pytest.approx([180.0, 70.0, 20.0])
    assert list(bar.marker.color) == [plots.PALETTE[0], "#95a5a6", plots.PALETTE[1]]
    assert fig.layout.xaxis.title.text == "较基线变化（%）" and fig.layout.yaxis.autorange == "reversed"
    infinite = tp.lift_bars(frame.assign(ci_high=[math.inf, 2.5, 0.9]))
    assert infinite.data[0].error_x.array[0] == 0


def test_png_config_names_the_file():
    config = plots.png_config("趋势_2017")
    assert config["toImageButtonOptions"] == {"format": "png", "filename": "趋势_2017", "scale": 2}
    assert config["displaylogo"] is False


def test_band_labels_use_two_rows_and_skip_crowded_ones():
    periods = pd.date_range("2024-01-01", "2024-12-30", freq="W-MON")
    series = pd.DataFrame({"period": periods, "lens_value": "全部", "count": 1, "is_partial": False})
    series.attrs["freq"] = "W"
    promotions = pd.DataFrame({"name": ["甲", "乙", "丙", "丁"],
                               "main_start": pd.to_datetime(["2024-01-01", "2024-01-05", "2024-01-09", "2024-06-01"]),
                               "main_end": pd.to_datetime(["2024-01-03", "2024-01-07", "2024-01-11", "2024-06-05"])})
    fig = tp.trend_figure(series, promotions=promotions)
    assert len([s for s in fig.layout.shapes if s.type == "rect"]) == 4            # every band is shaded
    labels = {a.text: round(a.y, 2) for a in fig.layout.annotations}
    assert labels == {"甲": 1.0, "乙": 0.94, "丁": 1.0}                              # 丙 would overlap


def test_lift_bars_axis_is_not_squeezed_by_a_huge_interval():
    frame = pd.DataFrame({"label": ["全部", "网络服务"], "lift": [1.5, 2.0], "ci_low": [0.9, 0.01],
                          "ci_high": [2.4, 400.0]})
    lo, hi = tp.lift_bars(frame).layout.xaxis.range
    pad = 0.08 * (300 + 99)
    assert hi == pytest.approx(300 + pad)               # 3 × the largest bar (100 %), not 39,900 %
    assert lo == pytest.approx(-99 - pad)


def test_date_axes_speak_chinese():
    """Issue 15 item 11: date ticks read 2016年1月, not Jan 2016; a numeric axis is left alone."""
    fig = tp.trend_figure(_series({"全部": [4, 2, 1, 0, 2, 3]}))
    stops = {tuple(s.dtickrange): s.value for s in fig.layout.xaxis.tickformatstops}
    assert stops[("M1", "M12")] == "%Y年%-m月" and stops[("M12", None)] == "%Y年"
    assert fig.layout.xaxis.hoverformat == "%Y年%-m月%-d日"
    many = tp.small_multiples(_series({"甲": [1, 2, 3, 4, 5, 6], "乙": [6, 5, 4, 3, 2, 1]}))
    assert all(many.layout[name].tickformatstops for name in ("xaxis", "xaxis2"))
    bars = tp.lift_bars(pd.DataFrame({"label": ["全部"], "lift": [1.5], "ci_low": [1.2], "ci_high": [2.0],
                                      "count": [9], "expected": [6.0]}))
    assert not bars.layout.xaxis.tickformatstops
