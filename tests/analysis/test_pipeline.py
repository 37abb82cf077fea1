"""The build pipeline: import → tokens → enrichment → clusters, resumable, and its CLI command."""

from __future__ import annotations

import io
import json
import shutil
import warnings
from pathlib import Path

import pandas as pd
import pytest

from analysis import cli, cluster, demo, enrich, pipeline, segment
from analysis.commands.build import StageProgress
from analysis.engine import Engine
from analysis.store import Store

ROWS = 1500
SEED = 11
FOCUS_SAMPLE = ("食品", "服装鞋帽")


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    """A small seeded demo export (GBK, title line, like the real ones)."""
    path = tmp_path_factory.mktemp("pipeline") / "demo.csv"
    demo.write_export(path, rows=ROWS, random_state=SEED)
    return path


@pytest.fixture(scope="module")
def tokenizer():
    return segment.Tokenizer()


@pytest.fixture(scope="module")
def reference(export, tokenizer, tmp_path_factory):
    """One uninterrupted single-process build with the default (focus) categories; its store file is kept."""
    path = tmp_path_factory.mktemp("reference") / "ref.duckdb"
    events = []
    with Store(path) as store:
        report = pipeline.build(store, [export], tokenizer=tokenizer, n_jobs=1,
                                progress=lambda *e: events.append(e))
        state = _state(store)
    return {"path": path, "report": report, "events": events, "state": state}


def _state(store: Store) -> dict:
    """Everything a build writes, in a comparable form (timestamps left out)."""
    def rows(sql):
        return sorted(store.cursor().execute(sql).fetchall(), key=repr)

    return {
        "complaints": store.checksum(),
        "imports": rows("SELECT import_id, sha256, rows_read, imported, quarantined, duplicates FROM imports"),
        "tokens": rows("SELECT text_hash, fingerprint, tokens FROM tokens"),
        "enrichment": rows("SELECT complaint_id, category, category_source, problem, severity, platform_norm, "
                           "round(category_confidence, 4), model_fingerprint FROM enrichment"),
        "runs": rows("SELECT run_id, scope_key, params_json, clusters_json FROM cluster_runs"),
        "assignments": rows("SELECT run_id, complaint_id, cluster_id, x, y FROM cluster_assignments"),
    }


def _category_counts(store: Store) -> dict[str, int]:
    return dict(store.cursor().execute("SELECT category, count(*) FROM complaints_enriched GROUP BY 1").fetchall())


def _copy(src, tmp_path, name="copy.duckdb"):
    dst = tmp_path / name
    shutil.copyfile(src, dst)
    return dst


# --------------------------------------------------------------------------- a whole build
def test_build_end_to_end(reference, export):
    report = reference["report"]
    assert [f.status for f in report.files] == ["imported"]
    f = report.files[0]
    assert f.rows_read == ROWS and f.imported + f.quarantined + f.duplicates == ROWS
    assert f.import_id == 1 and f.sha256 == pipeline.file_sha256(export)
    with Store(reference["path"], read_only=True) as store:
        assert report.complaints == store.count() == f.imported
        distinct_texts = store.scalar("SELECT count(DISTINCT text_hash) FROM complaints")
        # every text segmented once, every complaint enriched
        assert report.segmented == distinct_texts
        assert store.scalar("SELECT count(DISTINCT text_hash) FROM tokens") == distinct_texts
        assert report.enriched == store.count("enrichment") == store.count()
        counts = _category_counts(store)
        expected = [c for c in pipeline.focus_categories() if counts.get(c, 0) >= cluster.MIN_COMPLAINTS]
        assert len(expected) >= 5  # the demo spreads 1,500 complaints over most focus categories
        assert [c.category for c in report.clusters] == expected
        assert [c.complaints for c in report.clusters] == [counts[c] for c in expected]
        saved = [c for c in report.clusters if c.run_id is not None]
        assert store.count("cluster_runs") == len(saved) >= len(expected) - 1
        for outcome in saved:
            assert not outcome.cached and outcome.clusters >= 1
            members = store.scalar("SELECT count(*) FROM cluster_assignments WHERE run_id = ?", [outcome.run_id])
            assert members == outcome.complaints
    # stages reported in order, each ending complete
    stages = list(dict.fromkeys(e[0] for e in reference["events"]))
    assert stages == ["import", "tokens", "enrich", "clusters"]
    assert [e for e in reference["events"] if e[1:] == (0, 0)] == [(s, 0, 0) for s in stages]  # stage starts
    last = {stage: (done, total) for stage, done, total in reference["events"]}
    assert last["clusters"] == (len(expected), len(expected))
    assert last["import"][0] == last["import"][1] == export.stat().st_size


def test_pages_read_the_built_clusters_from_the_cache(reference, tokenizer, tmp_path, monkeypatch):
    monkeypatch.setattr(cluster.TopicModel, "fit_clusters", lambda *a, **k: pytest.fail("clustered again"))
    with Store(_copy(reference["path"], tmp_path)) as store:
        for outcome in reference["report"].clusters:
            if outcome.run_id is None:
                continue
            result = cluster.run_clustering(store, category=outcome.category, tokenizer=tokenizer)
            assert result.run_id == outcome.run_id and result.n_clusters == outcome.clusters


def test_second_build_adds_and_segments_nothing(reference, export, tokenizer, tmp_path, monkeypatch):
    calls = []
    original = segment.Tokenizer.cut_many

    def spy(self, texts, **kwargs):
        calls.append(1)
        return original(self, texts, **kwargs)

    monkeypatch.setattr(segment.Tokenizer, "cut_many", spy)
    monkeypatch.setattr(cluster.TopicModel, "fit_clusters", lambda *a, **k: pytest.fail("clustered again"))
    with Store(_copy(reference["path"], tmp_path)) as store:
        report = pipeline.build(store, [export], tokenizer=tokenizer, n_jobs=2)  # a local Dask cluster
        assert _state(store) == reference["state"]
    f = reference["report"].files[0]
    assert report.files[0].status == "skipped" and report.files[0].import_id == 1
    assert (report.files[0].imported, report.files[0].rows_read) == (f.imported, f.rows_read)
    assert report.segmented == report.enriched == 0
    assert calls == []
    assert all(c.cached for c in report.clusters if c.run_id)
    assert [c.clusters for c in report.clusters] == [c.clusters for c in reference["report"].clusters]


# --------------------------------------------------------------------------- interruptions
class Interrupt(KeyboardInterrupt):
    """Stands for Ctrl-C (a BaseException, like the real one)."""


def test_interrupted_build_resumes_to_the_same_state(reference, export, tokenizer, tmp_path, monkeypatch):
    db = tmp_path / "resume.duckdb"
    # 1. interrupted while importing: the import's transaction leaves nothing behind
    from analysis import ingest

    real_resolve = ingest._resolve
    monkeypatch.setattr(ingest, "_resolve", lambda *a, **k: (_ for _ in ()).throw(Interrupt()))
    with Store(db) as store, pytest.raises(Interrupt):
        pipeline.build(store, [export], tokenizer=tokenizer, n_jobs=1)
    monkeypatch.setattr(ingest, "_resolve", real_resolve)
    with Store(db) as store:
        assert store.count() == store.count("imports") == store.count("quarantine") == 0

    # 2. interrupted in the middle of the enrichment (third chunk of 400)
    real_classify = enrich.classify_complaints
    seen = []

    def classify_then_stop(*args, **kwargs):
        seen.append(1)
        if len(seen) == 3:
            raise Interrupt()
        return real_classify(*args, **kwargs)

    monkeypatch.setattr(enrich, "classify_complaints", classify_then_stop)
    with Store(db) as store, pytest.raises(Interrupt):
        pipeline.build(store, [export], tokenizer=tokenizer, n_jobs=1, chunk_size=400)
    monkeypatch.setattr(enrich, "classify_complaints", real_classify)
    with Store(db) as store:
        assert store.count() == reference["report"].complaints
        assert store.count("enrichment") == 0  # nothing half-classified is visible
        assert store.count("enrichment_pending") == 800  # two chunks staged, kept for the re-run
        assert store.count("cluster_runs") == 0

    # 3. interrupted after the first cluster run
    real_run = cluster.run_clustering
    runs = []

    def run_then_stop(*args, **kwargs):
        if runs:
            raise Interrupt()
        runs.append(kwargs["category"])
        return real_run(*args, **kwargs)

    monkeypatch.setattr(cluster, "run_clustering", run_then_stop)
    with Store(db) as store, pytest.raises(Interrupt):
        pipeline.build(store, [export], tokenizer=tokenizer, n_jobs=1, chunk_size=400)
    monkeypatch.setattr(cluster, "run_clustering", real_run)
    with Store(db) as store:
        assert store.count("enrichment") == store.count()
        assert store.count("cluster_runs") == 1

    # 4. the re-run continues: nothing re-imported or re-segmented, the rest enriched and clustered
    with Store(db) as store:
        report = pipeline.build(store, [export], tokenizer=tokenizer, n_jobs=1)
        assert report.files[0].status == "skipped" and report.segmented == 0
        assert report.enriched == 0
        assert [c.cached for c in report.clusters][:1] == [True]
        assert not any(c.cached for c in report.clusters[1:])
        assert _state(store) == reference["state"]


# --------------------------------------------------------------------------- Dask
def _tasks_run_by(engine: Engine) -> set[str]:
    """The task-name prefixes the scheduler has seen."""
    return set(engine.client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.task_prefixes)))


@pytest.mark.parametrize("processes", [False, True], ids=["threads", "processes"])
def test_a_dask_cluster_gives_the_same_result(reference, export, tokenizer, tmp_path, monkeypatch, caplog,
                                              processes):
    monkeypatch.setattr(pipeline, "TASK_MIN_ROWS", 100)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. "Sending large graph" / large objects in the task graph
        with Engine(n_workers=2, processes=processes) as engine, Store(tmp_path / "dask.duckdb") as store:
            assert engine.n_workers == 2
            if processes:
                assert engine.client.scheduler.address.startswith("tcp://127.0.0.1:")
            report = pipeline.build(store, [export], tokenizer=tokenizer, engine=engine,
                                    cluster_categories=FOCUS_SAMPLE, chunk_size=600)
            state = _state(store)
            ran = _tasks_run_by(engine)
    assert {"cut_task", "classify_task", "cluster_task"} <= ran  # Dask drops the leading underscore
    assert report.engine == "local Dask cluster (2 workers)"
    assert not [r for r in caplog.records if "large" in r.getMessage().lower()]
    ref = reference["state"]
    assert state["tokens"] == ref["tokens"]
    assert state["enrichment"] == ref["enrichment"]  # categories, problems, severities, platforms
    ref_ids = {c.category: c.run_id for c in reference["report"].clusters}
    assert [c.run_id for c in report.clusters] == [ref_ids[c] for c in FOCUS_SAMPLE]
    wanted = {ref_ids[c] for c in FOCUS_SAMPLE}
    assert state["runs"] == [r for r in ref["runs"] if r[0] in wanted]
    assert state["assignments"] == [r for r in ref["assignments"] if r[0] in wanted]


def test_rejected_file_does_not_stop_the_others(export, tokenizer, tmp_path):
    bad = tmp_path / "empty.csv"
    bad.write_bytes(b"")
    with Store(tmp_path / "r.duckdb") as store:
        report = pipeline.build(store, [tmp_path / "missing.csv", bad, export], tokenizer=tokenizer, n_jobs=1,
                                cluster_categories=())
        assert store.count() == report.files[2].imported > 0
    assert [f.status for f in report.files] == ["rejected", "rejected", "imported"]
    assert "文件不存在" in report.files[0].error and "missing.csv" in report.files[0].error
    assert "文件为空" in report.files[1].error
    assert report.clusters == [] and report.to_dict()["rejected"] == 2


def test_cli_json_and_exit_codes(reference, export, tmp_path, capsys):
    db = _copy(reference["path"], tmp_path)
    code = cli.main(["build", "--db", str(db), "--json", "--categories", "食品", str(export)])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert out["files"][0]["status"] == "skipped" and out["complaints"] == reference["report"].complaints
    assert [c["category"] for c in out["clusters"]] == ["食品"] and out["clusters"][0]["cached"] is True
    assert set(out["stage_seconds"]) == {"import", "tokens", "enrich", "clusters"} and out["rejected"] == 0

    code = cli.main(["build", "--db", str(db), "--json", "--no-progress", "--categories", "none",
                     str(tmp_path / "nope.csv")])
    captured = capsys.readouterr()
    assert code == 2 and "文件不存在" in captured.err
    assert json.loads(captured.out)["files"][0]["status"] == "rejected"

    code = cli.main(["build", "--db", str(db), "--categories", "食品,火星", str(export)])
    assert code == 2 and "火星" in capsys.readouterr().err


def test_cli_summary_in_chinese(reference, export, tmp_path, capsys):
    db = _copy(reference["path"], tmp_path)
    assert cli.main(["build", "--db", str(db), "--no-progress", "--categories", "none", str(export)]) == 0
    out = capsys.readouterr().out
    assert f"跳过 {export}：相同文件已在导入批次 #1 导入" in out
    assert f"数据库共 {reference['report'].complaints:,} 条投诉" in out


def test_stage_progress_lines():
    stream = io.StringIO()
    bar = StageProgress(stream=stream)
    bar("tokens", 0, 0)  # a stage starts: no line
    for done in range(0, 1001, 50):
        bar("tokens", done, 1000)
    bar("clusters", 0, 2)
    bar("clusters", 2, 2)
    lines = stream.getvalue().splitlines()
    tokens = [line for line in lines if line.startswith("分词")]
    assert len(tokens) == 11  # one line per 10 % when not a terminal
    assert "100.0% 1,000/1,000 条" in tokens[-1] and "条/秒" in tokens[-1]
    assert lines[-1].startswith("聚类") and "2/2 类" in lines[-1]


def test_cli_on_an_empty_store_says_what_to_do(tmp_path, capsys):
    assert cli.main(["build", "--db", str(tmp_path / "empty.duckdb"), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "数据库共 0 条投诉" in out and "请在命令后写上要导入的导出文件" in out


def test_cluster_task_labels_with_the_builds_dictionary():
    # the task must label with the build tokenizer's dictionary tags, as run_clustering does
    planted = pd.read_csv(Path(__file__).resolve().parents[1] / "fixtures" / "cluster" / "planted.csv",
                          dtype={"complaint_id": str})
    meta = planted[["complaint_id", "received_at", "product", "brand", "merchant"]]
    labels = {}
    for name, terms in (("none", {}), ("default", None)):
        result = pipeline._cluster_task((meta, planted["tokens"].tolist()), frozenset(), terms, 0)
        labels[name] = result.clusters["label"].tolist()
        here = cluster.cluster_complaints(planted["tokens"].tolist(), metadata=meta, domain_terms=terms,
                                          random_state=0)
        assert labels[name] == here.clusters["label"].tolist()
    assert labels["none"] != labels["default"]   # so the dictionary sent along does count


def test_a_killed_builds_temporary_folder_is_removed_by_the_next_build(tmp_path, monkeypatch, capsys):
    import os
    import subprocess
    import sys
    import tempfile

    from analysis import engine

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    stale = tmp_path / (engine.WORKDIR_PREFIX + "killed")
    stale.mkdir()
    (stale / "owner.pid").write_text(dead.stdout.strip())
    (stale / "job-1.json").write_text("50,000 条投诉内容")
    running = tmp_path / (engine.WORKDIR_PREFIX + "running")
    running.mkdir()
    (running / "owner.pid").write_text(str(os.getpid()))
    starting = tmp_path / (engine.WORKDIR_PREFIX + "starting")  # no owner yet, just made
    starting.mkdir()
    assert cli.main(["build", "--db", str(tmp_path / "empty.duckdb"), "--no-progress"]) == 0
    capsys.readouterr()
    assert not stale.exists() and running.exists() and starting.exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(engine.WORKDIR_PREFIX)) == [
        engine.WORKDIR_PREFIX + "running", engine.WORKDIR_PREFIX + "starting"]  # its own folder is gone too
