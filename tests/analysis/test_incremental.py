"""Daily imports (issue 13): a day costs what the day costs, and past figures stay put.

A demo store of day-1 complaints (2017) is imported, enriched and clustered; then a later
day is imported. Every figure of day-1's period — 总览 KPIs, 统计表, trend counts, the sizes
of a stored cluster run — is unchanged, the past complaints keep their classes, the same day
imported again adds nothing, and a day whose labels disagree with the model is counted.
"""

import io

import pandas as pd
import pytest

from analysis import cluster, demo, models, overview, report, trends
from analysis.enrich import ensure_enriched
from analysis.ingest import import_file
from analysis.segment import Tokenizer
from analysis.store import Filters, Store

PERIOD = Filters(start=pd.Timestamp("2017-01-01").date(), end=pd.Timestamp("2017-12-31").date())


@pytest.fixture(scope="module")
def tokenizer():
    return Tokenizer()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("daily")
    demo.write_export(root / "year.csv", rows=1500, random_state=3, start="2017-01-01", end="2017-12-31")
    demo.write_export(root / "day.csv", rows=120, random_state=4, start="2018-01-02", end="2018-01-02")
    return root


def figures(store: Store, run_id: str) -> dict:
    classes = store.query("SELECT complaint_id, category, problem, platform_norm, severity FROM complaints_enriched "
                          "WHERE received_at < '2018-01-01' ORDER BY complaint_id")
    sizes = store.query(
        "SELECT a.cluster_id, count(*) AS n FROM cluster_assignments a JOIN complaints c USING (complaint_id) "
        "WHERE a.run_id = ? AND c.received_at < '2018-01-01' GROUP BY 1 ORDER BY 1", [run_id])
    return {"classes": classes, "kpis": overview.kpi_frame(store, PERIOD),
            "tables": report.stat_tables(store, PERIOD),
            "trend": trends.count_series(store, PERIOD, freq="M", lens="category"), "sizes": sizes}


def test_a_later_day_leaves_every_past_figure_unchanged(files, tmp_path, tokenizer):
    with Store(tmp_path / "s.duckdb") as store:
        import_file(store, files / "year.csv")
        ensure_enriched(store, tokenizer=tokenizer)
        active = models.active(store)
        category = store.scalar("SELECT category FROM complaints_enriched GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")
        run = cluster.run_clustering(store, category=category, tokenizer=tokenizer, random_state=0)
        before = figures(store, run.run_id)
        result = import_file(store, files / "day.csv")
        stats = ensure_enriched(store, tokenizer=tokenizer)
        assert stats["classified"] == result.imported == 120
        after = figures(store, run.run_id)
        pd.testing.assert_frame_equal(before["classes"], after["classes"])
        pd.testing.assert_frame_equal(before["kpis"], after["kpis"])
        for name in before["tables"]:
            pd.testing.assert_frame_equal(before["tables"][name], after["tables"][name])
        pd.testing.assert_frame_equal(before["trend"], after["trend"])
        pd.testing.assert_frame_equal(before["sizes"], after["sizes"])
        assert (models.active(store) is None) == (active is None)
        assert len(models.versions(store)) == (0 if active is None else 1)  # no retraining
        # the same day again adds nothing
        again = import_file(store, files / "day.csv")
        assert again.imported == 0
        assert ensure_enriched(store, tokenizer=tokenizer)["classified"] == 0


def test_a_day_with_disagreeing_labels_is_imported_and_counted(files, tmp_path, tokenizer):
    raw = (files / "day.csv").read_bytes().decode("gbk")
    title, _, body = raw.partition("\r\n")
    day = pd.read_csv(io.StringIO(body), dtype=str, keep_default_na=False)
    labels = sorted(set(day["商品类别"]) - {""})
    day["商品类别"] = [labels[(labels.index(v) + 1) % len(labels)] if v else v for v in day["商品类别"]]  # all wrong
    (tmp_path / "odd.csv").write_bytes((title + "\r\n" + day.to_csv(index=False, lineterminator="\r\n")).encode("gbk"))
    with Store(tmp_path / "s.duckdb") as store:
        import_file(store, files / "year.csv")
        ensure_enriched(store, tokenizer=tokenizer)
        n = store.count()
        result = import_file(store, tmp_path / "odd.csv")
        ensure_enriched(store, tokenizer=tokenizer)
        assert result.imported == 120 and store.count() == n + 120
        assert overview.kpi_frame(store, Filters())["complaints"].loc["current"] == n + 120
