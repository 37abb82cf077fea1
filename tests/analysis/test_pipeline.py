"""The build pipeline: import → tokens → enrichment → clusters, resumable, and its CLI command."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from analysis import cli, cluster, demo, enrich, ingest, pipeline, segment
from analysis.commands.build import StageProgress
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
        # every text segmented once (single process: nothing by a worker), every complaint enriched
        assert report.presegmented == 0 and report.segmented == distinct_texts
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
        report = pipeline.build(store, [export], tokenizer=tokenizer, n_jobs=2)
        assert _state(store) == reference["state"]
    f = reference["report"].files[0]
    assert report.files[0].status == "skipped" and report.files[0].import_id == 1
    assert (report.files[0].imported, report.files[0].rows_read) == (f.imported, f.rows_read)
    assert report.segmented == report.presegmented == report.enriched == 0
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


# --------------------------------------------------------------------------- two processes
def test_worker_processes_give_the_same_result(reference, export, tokenizer, tmp_path, monkeypatch):
    monkeypatch.setattr(pipeline, "PRESEGMENT_MIN_BYTES", 0)
    monkeypatch.setattr(pipeline, "PARALLEL_CLUSTER_MIN", 0)
    monkeypatch.setattr(pipeline, "SHARE_MIN_ROWS", 0)
    shared = []
    real_job = pipeline._SharedClassify.__call__

    def spy(self, frame, **kwargs):
        shared.append(len(frame))
        return real_job(self, frame, **kwargs)

    monkeypatch.setattr(pipeline._SharedClassify, "__call__", spy)
    with Store(tmp_path / "parallel.duckdb") as store:
        report = pipeline.build(store, [export], tokenizer=tokenizer, n_jobs=2, cluster_categories=FOCUS_SAMPLE,
                                chunk_size=600)
        assert shared == [600, 600, ROWS - 1200]  # every chunk shared with the worker
        distinct = store.scalar("SELECT count(DISTINCT text_hash) FROM complaints")
        # the worker segmented every text while the file was imported: nothing was left to do
        assert report.presegmented == distinct and report.segmented == 0
        assert report.files[0].presegment_seconds > 0
        state = _state(store)
    ref = reference["state"]
    assert state["tokens"] == ref["tokens"]
    assert state["enrichment"] == ref["enrichment"]  # half of each chunk classified by the worker
    # one category was clustered by the worker, one here: both identical to the single-process runs
    ref_ids = {c.category: c.run_id for c in reference["report"].clusters}
    assert [c.run_id for c in report.clusters] == [ref_ids[c] for c in FOCUS_SAMPLE]
    wanted = {ref_ids[c] for c in FOCUS_SAMPLE}
    assert state["runs"] == [r for r in ref["runs"] if r[0] in wanted]
    assert state["assignments"] == [r for r in ref["assignments"] if r[0] in wanted]


def test_split_work_balances_biggest_first():
    main, worker = pipeline._split_work({"a": 100, "b": 60, "c": 50, "d": 10}, head_start=0)
    # a → worker (100); b → main (60); c → main (110); d → worker (110)
    assert worker == ["a", "d"] and main == ["b", "c"]
    main, worker = pipeline._split_work({"a": 100, "b": 60}, head_start=200)
    assert worker == ["a", "b"] and main == []


# --------------------------------------------------------------------------- files and CLI
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


def test_a_failing_worker_costs_only_time(reference, export, tokenizer, tmp_path, monkeypatch):
    monkeypatch.setattr(pipeline, "PRESEGMENT_MIN_BYTES", 0)
    monkeypatch.setattr(pipeline, "PARALLEL_CLUSTER_MIN", 0)
    monkeypatch.setattr(pipeline, "SHARE_MIN_ROWS", 0)
    real_result = pipeline._Worker.result

    def broken_result(self):
        self.process.kill()  # the worker dies while segmenting the file
        self.process.wait()
        return real_result(self)

    monkeypatch.setattr(pipeline._Worker, "result", broken_result)
    with Store(tmp_path / "broken.duckdb") as store:
        report = pipeline.build(store, [export], tokenizer=tokenizer, n_jobs=2, cluster_categories=FOCUS_SAMPLE)
        state = _state(store)
    # the main process did everything itself
    assert report.presegmented == 0 and report.segmented == len({r[0] for r in state["tokens"]})
    ref = reference["state"]
    assert state["tokens"] == ref["tokens"] and state["enrichment"] == ref["enrichment"]
    wanted = {c.run_id for c in reference["report"].clusters if c.category in FOCUS_SAMPLE}
    assert state["assignments"] == [r for r in ref["assignments"] if r[0] in wanted]


def test_cli_on_an_empty_store_says_what_to_do(tmp_path, capsys):
    assert cli.main(["build", "--db", str(tmp_path / "empty.duckdb"), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "数据库共 0 条投诉" in out and "请在命令后写上要导入的导出文件" in out


def test_worker_cluster_job_labels_with_the_builds_dictionary(tmp_path):
    # the helper process must label with the build tokenizer's dictionary tags, as run_clustering does
    planted = pd.read_csv(Path(__file__).resolve().parents[1] / "fixtures" / "cluster" / "planted.csv",
                          dtype={"complaint_id": str})
    meta = planted[["complaint_id", "received_at", "product", "brand", "merchant"]]
    path = tmp_path / "scope.parquet"
    meta.assign(_tokens=planted["tokens"]).to_parquet(path, index=False)
    labels = {}
    for name, terms in (("none", {}), ("default", None)):
        out = tmp_path / f"{name}.pickle"
        pipeline._job_cluster({"path": str(path), "out": str(out), "stopwords": [], "domain_terms": terms,
                               "random_state": 0}, {})
        labels[name] = pd.read_pickle(out).clusters["label"].tolist()
        here = cluster.cluster_complaints(planted["tokens"].tolist(), metadata=meta, domain_terms=terms,
                                          random_state=0)
        assert labels[name] == here.clusters["label"].tolist()
    assert labels["none"] != labels["default"]   # so the dictionary sent along does count


def test_presegment_takes_the_imports_text(tmp_path, tokenizer):
    # empty texts fall back to the title, then to the exported problem, exactly as in the import
    src = tmp_path / "t.csv"
    src.write_text("投诉编号,登记时间,投诉内容,投诉标题,问题类别\n"
                   "A1,2017-11-11,热水壶漏电,,\nA2,2017-11-12,,充电宝鼓包,\nA3,2017-11-13,,,假冒伪劣\n",
                   encoding="utf-8")
    out = tmp_path / "tokens.parquet"
    reply = pipeline._job_presegment({"path": str(src), "out": str(out), "chunk_size": 100, "remembered": {},
                                      "tokenizer": pipeline._tokenizer_args(tokenizer),
                                      "fingerprint": tokenizer.fingerprint}, {})
    assert reply == {"texts": 3}
    got = pd.read_parquet(out)
    with Store(tmp_path / "s.duckdb") as store:
        ingest.import_file(store, src)
        hashes = store.query("SELECT text_hash, text FROM complaints ORDER BY complaint_id")
    assert hashes["text"].tolist() == ["热水壶漏电", "充电宝鼓包", "假冒伪劣"]
    assert sorted(got["text_hash"]) == sorted(hashes["text_hash"])


def test_a_killed_builds_temporary_folder_is_removed_by_the_next_build(tmp_path, monkeypatch, capsys):
    import subprocess
    import sys
    import tempfile

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    stale = tmp_path / (pipeline.WORKDIR_PREFIX + "killed")
    stale.mkdir()
    (stale / "owner.pid").write_text(dead.stdout.strip())
    (stale / "job-1.json").write_text("50,000 条投诉内容")
    running = tmp_path / (pipeline.WORKDIR_PREFIX + "running")
    running.mkdir()
    (running / "owner.pid").write_text(str(pipeline.os.getpid()))
    starting = tmp_path / (pipeline.WORKDIR_PREFIX + "starting")  # no owner yet, just made
    starting.mkdir()
    assert cli.main(["build", "--db", str(tmp_path / "empty.duckdb"), "--no-progress"]) == 0
    capsys.readouterr()
    assert not stale.exists() and running.exists() and starting.exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(pipeline.WORKDIR_PREFIX)) == [
        pipeline.WORKDIR_PREFIX + "running", pipeline.WORKDIR_PREFIX + "starting"]  # its own folder is gone too
