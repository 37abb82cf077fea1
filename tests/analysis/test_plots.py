"""Data strings in figures: escaped for plotly's HTML subset, personal data masked."""

from __future__ import annotations

import json

import pandas as pd

from analysis import plots

HOSTILE = "<a href='http://e.com'>点我</a><span style='font-size:60px;color:red'>大</span>%{x}"


def _data(fig) -> str:
    return json.dumps(json.loads(fig.to_json())["data"], ensure_ascii=False)


def test_plotly_text_shows_markup_literally():
    assert plots.plotly_text(HOSTILE) == ("&lt;a href='http://e.com'&gt;点我&lt;/a&gt;&lt;span style='font-size:60px;"
                                          "color:red'&gt;大&lt;/span&gt;%&#123;x&#125;")
    assert plots.plotly_text("A&B") == "A&amp;B" and plots.plotly_text(None) == ""
    assert plots.plotly_texts(["<b>", 3]) == ["&lt;b&gt;", "3"]


def test_score_breakdown_labels_are_masked_and_escaped():
    targets = pd.DataFrame({"plan_rank": [1], "product": [HOSTILE + "13812345678"], "platform": ["淘宝"],
                            "score": [80.0], "score_signal": [40.0], "score_severity": [20.0],
                            "score_volume": [10.0], "score_growth": [10.0]})
    data = _data(plots.score_breakdown_figure(targets))
    assert "<a " not in data and "<span" not in data and "13812345678" not in data
    assert "138****5678" in data and "&lt;a href" in data


def test_cluster_and_overview_and_import_labels_are_escaped():
    per_class = pd.DataFrame({"cluster_id": [0], "label": [HOSTILE], "platform_norm": ["<b>淘宝</b>"], "count": [3]})
    over_time = pd.DataFrame({"cluster_id": [0], "label": [HOSTILE], "period": pd.to_datetime(["2017-11-01"]),
                              "count": [3]})
    changes = pd.DataFrame({"name": [HOSTILE + "13812345678"], "current": [5], "previous": [3], "change": [2],
                            "change_pct": [66.7], "share": [50.0]})
    reasons = pd.DataFrame({"reason": ["<b>字段数与表头不符</b>"], "rows": [2]})
    for fig in (plots.visualize_topics_per_class(per_class), plots.visualize_topics_over_time(over_time),
                plots.top_changes_figure(changes), plots.quarantine_reasons_figure(reasons)):
        data = _data(fig)
        assert "<a " not in data and "<span" not in data and "<b>淘宝" not in data and "<b>字段" not in data
        assert "13812345678" not in data
