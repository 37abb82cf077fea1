"""The whole build: from export files to a store every page can use at once.

:func:`build` runs four stages; each commits its work in pieces and skips
what is already done, so a build that was interrupted continues where it
stopped when it is run again:

1. **import** — each file in its own transaction (:func:`analysis.ingest.import_file`);
   a file whose SHA-256 already has a completed import is skipped. While the
   main process imports a large file, a worker process reads the same file and
   segments its texts, using the second core (the token cache is keyed by the
   hash of the text, so the worker's result is only a head start: whatever it
   did not cover is segmented in the next stage).
2. **tokens** — the worker's tokens are merged into the cache and the texts
   still missing are segmented (:func:`analysis.segment.ensure_tokens`,
   committed per chunk).
3. **enrich** — categories, problem types, severities and platforms for every
   complaint lacking them (:func:`analysis.enrich.ensure_enriched`).
4. **clusters** — one cached clustering run per focus category of the seed
   (:attr:`analysis.taxonomy.Taxonomy.focus_categories`) with at least
   :data:`analysis.cluster.MIN_COMPLAINTS` complaints
   (:func:`analysis.cluster.run_clustering`); a run whose data and parameters
   are unchanged is read from the cache.

Progress is reported as ``progress(stage, done, total)``: bytes for the
``import`` stage, texts or complaints for ``tokens`` and ``enrich``, categories
for ``clusters``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from analysis.errors import UserError
from analysis.store import Store

__all__ = ["STAGES", "STAGE_LABELS", "BuildReport", "ClusterOutcome", "FileOutcome", "build",
           "file_sha256", "focus_categories"]

STAGES = ("import", "tokens", "enrich", "clusters")
STAGE_LABELS = {"import": "导入", "tokens": "分词", "enrich": "分类", "clusters": "聚类"}
#: Files smaller than this are segmented in the main process only: starting a
#: worker (≈ 1.5 s) costs more than it saves.
PRESEGMENT_MIN_BYTES = 8 * 1024 * 1024
PRESEGMENT_CHUNK = 20_000
#: Clustering is shared with a worker process when the categories to compute hold at
#: least this many complaints in all (below it the worker's start-up is not repaid).
PARALLEL_CLUSTER_MIN = 40_000

Progress = Callable[[str, int, int], None]


# --------------------------------------------------------------------------- reports
@dataclasses.dataclass
class FileOutcome:
    """What the import stage did with one file.

    Attributes:
        file: the path as given.
        sha256: the file's SHA-256 (``None`` when it could not be read).
        status: ``"imported"``, ``"skipped"`` (already imported) or ``"rejected"``.
        import_id: the import batch (the earlier one when skipped).
        rows_read, imported, quarantined, duplicates: counts of this import
            (of the earlier import when skipped).
        presegmented: distinct texts the worker process segmented while importing.
        presegment_seconds: the worker's time (reading, segmenting and writing the tokens).
        error: the Chinese message when rejected.
        seconds: wall time spent on the file.
    """

    file: str
    sha256: str | None
    status: str
    import_id: int | None = None
    rows_read: int = 0
    imported: int = 0
    quarantined: int = 0
    duplicates: int = 0
    presegmented: int = 0
    presegment_seconds: float = 0.0
    error: str | None = None
    seconds: float = 0.0


@dataclasses.dataclass
class ClusterOutcome:
    """One focus category's clustering run.

    Attributes:
        category: the category.
        complaints: complaints in it.
        clusters: clusters found (without 杂项).
        run_id: the cached run's id (``None`` when there was too little text).
        cached: read from the run cache rather than computed.
        message: the run's note (Chinese), if any.
        seconds: wall time.
    """

    category: str
    complaints: int
    clusters: int
    run_id: str | None
    cached: bool
    message: str | None = None
    seconds: float = 0.0


@dataclasses.dataclass
class BuildReport:
    """What a build did.

    Attributes:
        store: the store's path.
        files: one :class:`FileOutcome` per file, in the order given.
        complaints: complaints in the store at the end.
        segmented: distinct texts segmented by the tokens stage (0 when the
            cache was already complete).
        presegmented: distinct texts segmented by the worker while importing
            and merged into the cache.
        enrichment: the statistics returned by ``enrich.ensure_enriched``.
        clusters: one :class:`ClusterOutcome` per clustered focus category.
        stage_seconds: wall time of each stage.
        seconds: total wall time.
    """

    store: str
    files: list[FileOutcome] = dataclasses.field(default_factory=list)
    complaints: int = 0
    segmented: int = 0
    presegmented: int = 0
    enrichment: dict = dataclasses.field(default_factory=dict)
    clusters: list[ClusterOutcome] = dataclasses.field(default_factory=list)
    stage_seconds: dict[str, float] = dataclasses.field(default_factory=dict)
    seconds: float = 0.0

    @property
    def rejected(self) -> list[FileOutcome]:
        """The files that could not be imported."""
        return [f for f in self.files if f.status == "rejected"]

    @property
    def enriched(self) -> int:
        """Complaints enriched by this build."""
        stats = self.enrichment or {}
        for key in ("enriched", "classified", "complaints", "rows"):
            if isinstance(stats.get(key), int):
                return int(stats[key])
        return 0

    def to_dict(self) -> dict:
        """A JSON-ready dict (the CLI's ``--json`` output)."""
        out = dataclasses.asdict(self)
        out["enrichment"] = json.loads(json.dumps(self.enrichment or {}, ensure_ascii=False, default=str))
        out["rejected"] = len(self.rejected)
        return out


# --------------------------------------------------------------------------- helpers
def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes, hex (the key :mod:`analysis.ingest` records per import)."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def focus_categories() -> tuple[str, ...]:
    """The seed's focus categories (goods and services), in the taxonomy's order."""
    from analysis.taxonomy import load_taxonomy

    return tuple(load_taxonomy().focus_categories)


def _notify(progress: Progress | None, stage: str, done: int, total: int) -> None:
    if progress is not None:
        progress(stage, int(done), int(total))


def _tokenizer_args(tokenizer) -> dict | None:
    """Arguments that rebuild ``tokenizer`` in another process, or ``None`` when that is not possible."""
    from analysis.segment import Tokenizer

    if type(tokenizer) is not Tokenizer:
        return None
    return {"backend": tokenizer.backend, "userdict": None if tokenizer.userdict is None else str(tokenizer.userdict),
            "stopwords": None, "hmm": tokenizer.hmm}


# --------------------------------------------------------------------------- the worker
def _presegment(path: str, remembered: dict[str, dict], tokenizer_args: dict, fingerprint: str,
                out_path: str, chunk_size: int) -> None:
    """Worker process: segment the complaint texts of an export file into a Parquet file.

    Reproduces the import's text (normalised text, else title, else exported
    problem) and its hash, so that the tokens land on the complaints' keys.
    Writes ``out_path`` (columns ``text_hash``, ``tokens``) and ``out_path + ".json"``
    (``{"texts": n}``) when done.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from analysis import schema
    from analysis.io import TableReader, normalize_values
    from analysis.segment import Tokenizer

    started = time.perf_counter()
    tokenizer = Tokenizer(**tokenizer_args)
    if tokenizer.fingerprint != fingerprint:
        Path(out_path + ".json").write_text(json.dumps({"texts": 0, "skipped": "fingerprint"}))
        return
    blake2b = hashlib.blake2b
    seen: set[str] = set()
    n = 0
    schema_out = pa.schema([("text_hash", pa.string()), ("tokens", pa.string())])
    with TableReader(path, chunk_size=chunk_size) as reader, \
            pq.ParquetWriter(out_path, schema_out, compression="zstd") as writer:
        headers = reader.info.headers
        mapping = schema.resolve_mapping(headers, remembered=remembered.get(schema.header_signature(headers)))
        source = {field: column for column, field in mapping.items()}
        if "text" not in source:
            Path(out_path + ".json").write_text(json.dumps({"texts": 0, "skipped": "no text column"}))
            return
        for chunk in reader.chunks():
            if not len(chunk):
                continue
            text = normalize_values(chunk.column(source["text"]), kind="text")
            for field, kind in (("title", "text"), ("problem_raw", "code")):
                if field in source:
                    fallback = normalize_values(chunk.column(source[field]), kind=kind)
                    text = pc.if_else(pc.and_(pc.equal(text, ""), pc.not_equal(fallback, "")), fallback, text)
            hashes, texts = [], []
            for t in text.to_pylist():
                if not t:
                    continue
                h = blake2b(t.encode("utf-8"), digest_size=16).hexdigest()
                if h not in seen:
                    seen.add(h)
                    hashes.append(h)
                    texts.append(t)
            if not texts:
                continue
            tokens = list(tokenizer.cut_many(texts, chunk_size=len(texts)))
            writer.write_table(pa.table({"text_hash": hashes, "tokens": tokens}, schema=schema_out))
            n += len(texts)
    Path(out_path + ".json").write_text(json.dumps({"texts": n, "seconds": time.perf_counter() - started}))


def _start_worker(job: dict, stem: str) -> tuple[subprocess.Popen, object]:
    """Start ``python -m analysis.pipeline JOB.json`` (a fresh interpreter, one BLAS thread).

    A fresh interpreter never depends on how the calling program's main module
    is written (as ``multiprocessing``'s spawn would) and shares no threads or
    locks with this process (as fork would).
    """
    job_path = stem + ".job.json"
    Path(job_path).write_text(json.dumps(job, ensure_ascii=False), encoding="utf-8")
    root = str(Path(__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[name] = "1"
    log = open(stem + ".log", "w+b")
    process = subprocess.Popen([sys.executable, "-m", "analysis.pipeline", job_path], cwd=root, env=env,
                               stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    return process, log


def _stop_worker(process: subprocess.Popen, log) -> None:
    """End a worker if it still runs (after an error or an interruption) and close its log."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    log.close()


def _worker_error(log) -> str:
    log.flush()
    log.seek(0)
    return log.read()[-2000:].decode("utf-8", "replace")


class _Presegmenter:
    """A worker process segmenting one file while the main process imports it."""

    def __init__(self, path: Path, store: Store, tokenizer, workdir: str) -> None:
        stem = os.path.join(workdir, f"tokens-{time.monotonic_ns()}")
        self.out = stem + ".parquet"
        self.fingerprint = tokenizer.fingerprint
        self.seconds = 0.0
        remembered = {sig: json.loads(m) for sig, m in store.cursor().execute(
            "SELECT header_signature, mapping_json FROM column_mappings").fetchall()}
        self.process, self.log = _start_worker(
            {"kind": "presegment", "path": str(Path(path).resolve()), "remembered": remembered,
             "tokenizer": _tokenizer_args(tokenizer), "fingerprint": self.fingerprint, "out": self.out,
             "chunk_size": PRESEGMENT_CHUNK}, stem)

    def finish(self, store: Store) -> int:
        """Wait for the worker and merge its tokens into the cache; returns the texts merged.

        A failed worker costs nothing but time: its texts are segmented by the tokens stage.
        """
        self.process.wait()
        status_path = Path(self.out + ".json")
        if self.process.returncode != 0 or not status_path.exists():
            return 0
        status = json.loads(status_path.read_text())
        self.seconds = float(status.get("seconds", 0.0))
        if not status.get("texts"):
            return 0
        with store.transaction() as cur:
            before = int(cur.execute("SELECT count(*) FROM tokens").fetchone()[0])
            cur.execute(
                "INSERT INTO tokens SELECT p.text_hash, ?, p.tokens FROM read_parquet(?) p "
                "WHERE p.text_hash IN (SELECT text_hash FROM complaints) "
                "AND NOT EXISTS (SELECT 1 FROM tokens t WHERE t.text_hash = p.text_hash AND t.fingerprint = ?)",
                [self.fingerprint, self.out, self.fingerprint])
            after = int(cur.execute("SELECT count(*) FROM tokens").fetchone()[0])
        return after - before

    def stop(self) -> None:
        """End the worker if it still runs."""
        _stop_worker(self.process, self.log)


def _cluster_inputs(job: dict) -> None:
    """Worker process: cluster each category of ``job["inputs"]`` and pickle the results."""
    import pickle

    import pandas as pd

    from analysis import cluster

    stopwords = frozenset(job["stopwords"])
    for item in job["inputs"]:
        frame = pd.read_parquet(item["path"])
        docs = frame.pop("_tokens").tolist()
        started = time.perf_counter()
        result = cluster.cluster_complaints(docs, metadata=frame, n_clusters=None, stopwords=stopwords,
                                            random_state=job["random_state"])
        tmp = item["out"] + ".part"
        with open(tmp, "wb") as fh:
            pickle.dump((result, time.perf_counter() - started), fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, item["out"])


# --------------------------------------------------------------------------- stages
def _import_stage(store: Store, paths: Sequence[Path], report: BuildReport, *, tokenizer, presegment: bool,
                  progress: Progress | None, workdir: str) -> None:
    from analysis.ingest import import_file

    for path in paths:
        started = time.perf_counter()
        try:
            sha = file_sha256(path)
        except OSError as exc:
            reason = "文件不存在" if isinstance(exc, FileNotFoundError) else f"无法读取文件（{exc.strerror or exc}）"
            message = str(UserError(f"{reason}，请检查路径。", file=str(path)))
            report.files.append(FileOutcome(file=str(path), sha256=None, status="rejected", error=message))
            continue
        earlier = store.cursor().execute(
            "SELECT import_id, rows_read, imported, quarantined, duplicates FROM imports "
            "WHERE sha256 = ? ORDER BY import_id LIMIT 1", [sha]).fetchone()
        if earlier is not None:
            report.files.append(FileOutcome(
                file=str(path), sha256=sha, status="skipped", import_id=int(earlier[0]), rows_read=int(earlier[1]),
                imported=int(earlier[2]), quarantined=int(earlier[3]), duplicates=int(earlier[4]),
                seconds=round(time.perf_counter() - started, 3)))
            continue
        size = path.stat().st_size
        worker = None
        if presegment and size >= PRESEGMENT_MIN_BYTES and _tokenizer_args(tokenizer) is not None:
            worker = _Presegmenter(path, store, tokenizer, workdir)
        try:
            result = import_file(store, path, progress=lambda fraction, _msg: _notify(
                progress, "import", fraction * size, size))
        except UserError as exc:
            if worker is not None:
                worker.stop()
            report.files.append(FileOutcome(file=str(path), sha256=sha, status="rejected", error=str(exc),
                                            seconds=round(time.perf_counter() - started, 3)))
            continue
        except BaseException:
            if worker is not None:
                worker.stop()
            raise
        merged, worker_seconds = 0, 0.0
        if worker is not None:
            try:
                merged = worker.finish(store)
                worker_seconds = worker.seconds
            finally:
                worker.stop()
        report.presegmented += merged
        report.files.append(FileOutcome(
            file=str(path), sha256=sha, status="imported", import_id=result.import_id, rows_read=result.rows_read,
            imported=result.imported, quarantined=result.quarantined, duplicates=result.duplicates,
            presegmented=merged, presegment_seconds=round(worker_seconds, 3),
            seconds=round(time.perf_counter() - started, 3)))


def _split_work(sizes: dict[str, int], *, head_start: float) -> tuple[list[str], list[str]]:
    """Share categories between the main process and a worker, biggest first (LPT).

    ``head_start`` is extra load counted on the main process (it also prepares the
    worker's inputs and saves its results).
    """
    main_load, worker_load = head_start, 0.0
    main, worker = [], []
    for name in sorted(sizes, key=lambda c: -sizes[c]):
        if worker_load <= main_load:
            worker.append(name)
            worker_load += sizes[name]
        else:
            main.append(name)
            main_load += sizes[name]
    return main, worker


def _cluster_stage(store: Store, categories: Iterable[str], report: BuildReport, *, tokenizer, random_state: int,
                   progress: Progress | None, workdir: str, parallel: bool) -> None:
    import pickle

    import pandas as pd
    from threadpoolctl import threadpool_limits

    from analysis import cluster

    counts = dict(store.cursor().execute(
        "SELECT category, count(*) FROM complaints_enriched GROUP BY 1").fetchall())
    todo = [c for c in dict.fromkeys(categories) if counts.get(c, 0) >= cluster.MIN_COMPLAINTS]
    keys = {c: cluster.run_key(store, cluster.ClusterScope(category=c), random_state=random_state,
                               tokenizer=tokenizer) for c in todo}
    known = {r[0] for r in store.cursor().execute("SELECT run_id FROM cluster_runs").fetchall()}
    fresh = {c: int(counts[c]) for c in todo if keys[c][0] not in known}
    offload: list[str] = []
    if parallel and len(fresh) >= 2 and sum(fresh.values()) >= PARALLEL_CLUSTER_MIN:
        _, offload = _split_work(fresh, head_start=0.1 * sum(fresh.values()))
    done = 0
    _notify(progress, "clusters", done, len(todo))
    outcomes: dict[str, ClusterOutcome] = {}
    worker = None
    try:
        if offload:
            inputs = []
            for c in offload:
                metadata, docs = cluster.scope_documents(store, cluster.ClusterScope(category=c), tokenizer=tokenizer)
                frame = metadata.assign(_tokens=pd.Series(docs, index=metadata.index, dtype="str"))
                path = os.path.join(workdir, f"cluster-{len(inputs)}.parquet")
                frame.to_parquet(path, index=False)
                inputs.append({"category": c, "path": path, "out": path + ".pickle"})
            del metadata, docs, frame
            worker = _start_worker({"kind": "cluster", "inputs": inputs, "random_state": int(random_state),
                                    "stopwords": sorted(getattr(tokenizer, "stopwords", ()))},
                                   os.path.join(workdir, "cluster"))
        with threadpool_limits(1 if worker is not None else None):
            for c in todo:
                if c in offload:
                    continue
                started = time.perf_counter()
                result = cluster.run_clustering(store, category=c, tokenizer=tokenizer, random_state=random_state)
                outcomes[c] = _cluster_outcome(store, c, counts[c], result, result.run_id in known, started)
                done += 1
                _notify(progress, "clusters", done, len(todo))
        if worker is not None:
            process, log = worker
            for item in inputs:
                while not os.path.exists(item["out"]):
                    if process.poll() is not None and not os.path.exists(item["out"]):
                        raise RuntimeError(f"clustering worker failed:\n{_worker_error(log)}")
                    time.sleep(0.05)
                started = time.perf_counter()
                with open(item["out"], "rb") as fh:
                    result, worker_seconds = pickle.load(fh)
                started -= worker_seconds
                run_id, cache_key = keys[item["category"]]
                if not result.too_few:
                    cluster.save_run(store, result, run_id=run_id, cache_key=cache_key)
                result.run_id = run_id
                outcomes[item["category"]] = _cluster_outcome(store, item["category"], counts[item["category"]],
                                                              result, False, started)
                done += 1
                _notify(progress, "clusters", done, len(todo))
            process.wait()
    finally:
        if worker is not None:
            _stop_worker(*worker)
    report.clusters.extend(outcomes[c] for c in todo)


def _cluster_outcome(store: Store, category: str, complaints: int, result, cached: bool,
                     started: float) -> ClusterOutcome:
    saved = bool(store.scalar("SELECT count(*) FROM cluster_runs WHERE run_id = ?", [result.run_id]))
    return ClusterOutcome(category=category, complaints=int(complaints), clusters=int(result.n_clusters),
                          run_id=result.run_id if saved else None, cached=cached, message=result.message,
                          seconds=round(time.perf_counter() - started, 3))


# --------------------------------------------------------------------------- build
def build(
    store: Store,
    paths: Iterable[str | os.PathLike],
    *,
    tokenizer=None,
    cluster_categories: Iterable[str] | None = None,
    progress: Progress | None = None,
    random_state: int = 0,
    n_jobs: int | None = None,
    chunk_size: int | None = None,
) -> BuildReport:
    """Import export files and prepare everything the pages need; resumable.

    Args:
        store: the store to build (opened for writing).
        paths: export files to import (may be empty: then only the missing
            tokens, enrichment and clusters are computed).
        tokenizer: a :class:`analysis.segment.Tokenizer`; ``None`` builds the default one.
        cluster_categories: categories to cluster; ``None`` means the seed's
            focus categories, ``()`` clusters nothing.
        progress: called as ``progress(stage, done, total)`` (see the module docstring).
        random_state: seed of the clustering runs.
        n_jobs: processes to use; ``None`` means two when the machine has two
            cores or more. With two, large files are segmented in a worker while
            they are imported, and the categories are clustered in two processes.
        chunk_size: complaints segmented or classified per transaction (``None``:
            the defaults of :func:`analysis.segment.ensure_tokens` and
            :func:`analysis.enrich.ensure_enriched`); bounds memory and the work
            an interruption can lose.

    Returns:
        The :class:`BuildReport`. Rejected files are listed in it (the other
        files and stages still run).

    Raises:
        UserError: the store is read-only.
    """
    from analysis import enrich, segment

    if getattr(store, "read_only", False):
        raise UserError("数据库以只读方式打开，无法构建；请关闭正在使用它的程序后重试。", file=store.path)
    started = time.perf_counter()
    paths = [Path(p) for p in paths]
    parallel = (min(2, os.cpu_count() or 1) if n_jobs is None else int(n_jobs)) >= 2
    if tokenizer is None:
        tokenizer = segment.Tokenizer()
    categories = focus_categories() if cluster_categories is None else tuple(cluster_categories)
    report = BuildReport(store=store.path)

    with tempfile.TemporaryDirectory(prefix="complaint-radar-build-") as workdir:
        clock = time.perf_counter()
        _import_stage(store, paths, report, tokenizer=tokenizer, presegment=parallel, progress=progress,
                      workdir=workdir)
        report.stage_seconds["import"] = round(time.perf_counter() - clock, 3)

        clock = time.perf_counter()
        chunks = {} if chunk_size is None else {"chunk_size": int(chunk_size)}
        report.segmented = segment.ensure_tokens(
            store, tokenizer, progress=lambda done, total: _notify(progress, "tokens", done, total), **chunks)
        report.stage_seconds["tokens"] = round(time.perf_counter() - clock, 3)

        clock = time.perf_counter()
        stats = enrich.ensure_enriched(store, tokenizer=tokenizer,
                                       progress=lambda done, total: _notify(progress, "enrich", done, total),
                                       **chunks)
        report.enrichment = dict(stats) if isinstance(stats, dict) else {"enriched": int(stats or 0)}
        report.stage_seconds["enrich"] = round(time.perf_counter() - clock, 3)

        clock = time.perf_counter()
        if categories:
            _cluster_stage(store, categories, report, tokenizer=tokenizer, random_state=random_state,
                           progress=progress, workdir=workdir, parallel=parallel)
        report.stage_seconds["clusters"] = round(time.perf_counter() - clock, 3)

    report.complaints = store.count("complaints")
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def _worker_main(argv: Sequence[str]) -> int:
    """Entry point of a worker process: ``python -m analysis.pipeline JOB.json``."""
    job = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    if job["kind"] == "presegment":
        _presegment(job["path"], job["remembered"], job["tokenizer"], job["fingerprint"], job["out"],
                    job["chunk_size"])
    elif job["kind"] == "cluster":
        _cluster_inputs(job)
    else:
        raise ValueError(f"unknown job kind {job['kind']!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(_worker_main(sys.argv[1:]))
