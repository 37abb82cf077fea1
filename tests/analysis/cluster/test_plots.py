"""analysis.plots.clusters on the views of analysis.cluster: masked hover texts, shapes."""

from __future__ import annotations

import pandas as pd

from analysis import cluster, plots
from tests.analysis.cluster._support import cluster_of


def test_plots_mask_and_shape(planted, planted_result):
    points = planted_result.assignments.merge(planted[["complaint_id", "text"]], on="complaint_id")
    points = points.assign(label=points["cluster_id"].map(planted_result.labels()))
    points.loc[0, "text"] = "<b>加粗</b> 电话13812345678"
    fig = plots.visualize_cluster_map(points)
    assert len(fig.data) == 5
    hover = " ".join(" ".join(trace.customdata) for trace in fig.data)
    assert "13812345678" not in hover and "138****5678" in hover
    assert "<b>加粗</b>" not in hover and "&lt;b&gt;" in hover

    per_class = cluster.topics_per_class(planted_result, planted, by="platform")
    heat = plots.visualize_topics_per_class(per_class, by="platform")
    z = pd.DataFrame(heat.data[0].z, index=heat.data[0].y, columns=heat.data[0].x)
    groups = cluster_of(planted_result, planted)
    label = planted_result.labels()[groups["downjacket"]]
    assert z.loc[label, "拼多多"] == 25 and z.loc[label, "淘宝"] == 5
    assert list(heat.data[0].x[:3]) == ["携程", "京东", "拼多多"]  # 30, 28, 25 complaints
    over = cluster.topics_over_time(planted_result, planted.assign(
        received_at=pd.to_datetime(planted["received_at"])))
    lines = plots.visualize_topics_over_time(over, top_n=3)
    assert len(lines.data) == 3 and all(len(trace.y) == 6 for trace in lines.data)
    assert plots.visualize_cluster_map(points.iloc[:0]).layout.annotations[0].text == "没有可显示的投诉"
