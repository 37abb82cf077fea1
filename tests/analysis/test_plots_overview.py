"""analysis.plots.overview: the top-changes bars."""

from __future__ import annotations

import pandas as pd

from analysis.plots.overview import top_changes_figure


def test_change_labels_never_sit_on_the_previous_period_tick():
    """Issue 15 item 12: a label starts right of the bar or the previous-period tick, whichever is longer."""
    frame = pd.DataFrame({"name": ["家用电器", "食品"], "current": [40, 10], "previous": [20, 30],
                          "change": [20, -20], "change_pct": [100.0, -66.7], "share": [80.0, 20.0]})
    fig = top_changes_figure(frame)
    bars = next(t for t in fig.data if t.type == "bar")
    labels = next(t for t in fig.data if t.type == "scatter" and t.mode == "text")
    assert bars.text is None
    assert dict(zip(labels.y, labels.x)) == {"家用电器": 40, "食品": 30}
    assert labels.textposition == "middle right"
