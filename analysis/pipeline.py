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
for ``clusters``. Each stage starts with ``progress(stage, 0, 0)``.
"""

from __future__ import annotations

import contextlib
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
from analysis.textutil import json_safe

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
#: DuckDB's memory cap during a build (the import of 1M rows needs ≈ 1 GiB).
DUCKDB_MEMORY_LIMIT = "1GB"
#: Chunks of at least this many complaints are classified half here, half in the worker.
SHARE_MIN_ROWS = 5_000

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
        enrich_model_seconds: the part of the enrich stage before classification
            started (checks, and training or loading the supervised model).
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
    enrich_model_seconds: float = 0.0
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
        out["enrichment"] = json_safe(self.enrichment or {}, digits=None)
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


@contextlib.contextmanager
def _duckdb_memory(store: Store, limit: str = DUCKDB_MEMORY_LIMIT):
    """Cap DuckDB's memory (its default is 80 % of RAM) while building; restore it afterwards.

    Bigger intermediate results spill to the database's temporary folder.
    """
    previous = store.scalar("SELECT current_setting('memory_limit')")
    store.cursor().execute(f"SET memory_limit = '{limit}'")
    try:
        yield
    finally:
        store.cursor().execute(f"SET memory_limit = '{previous}'")


@contextlib.contextmanager
def _joblib_processes(n_jobs: int):
    """Let scikit-learn's joblib-parallel steps use ``n_jobs`` processes, then stop them.

    The supervised model trains its stack folds through joblib; in processes the
    results are the same as in one (each fold is deterministic).
    """
    if n_jobs < 2:
        yield
        return
    import joblib

    try:
        with joblib.parallel_config(backend="loky", n_jobs=n_jobs):
            yield
    finally:
        try:
            from joblib.externals.loky import get_reusable_executor

            get_reusable_executor().shutdown(wait=True)
        except Exception:  # the processes end on their own after an idle timeout anyway
            pass


def _tokenizer_args(tokenizer) -> dict | None:
    """Arguments that rebuild ``tokenizer`` in another process, or ``None`` when that is not possible."""
    from analysis.segment import Tokenizer

    if type(tokenizer) is not Tokenizer:
        return None
    return {"backend": tokenizer.backend, "userdict": None if tokenizer.userdict is None else str(tokenizer.userdict),
            "stopwords": None, "hmm": tokenizer.hmm}


# --------------------------------------------------------------------------- the worker process
class WorkerFailed(RuntimeError):
    """The worker process stopped or a job in it failed (the message holds its traceback)."""


class _Worker:
    """A helper process for one build: ``python -m analysis.pipeline --serve``.

    Jobs are JSON objects, one per line on the worker's stdin; they run one
    after another and each answers one JSON line on its stdout (``{"ok": true,
    …}`` or ``{"ok": false, "error": traceback}``). Data travel through files
    in the build's temporary folder. A fresh interpreter never depends on how
    the calling program's main module is written (as ``multiprocessing``'s
    spawn would) and shares no threads or locks with this process (as fork
    would); it runs BLAS on one thread, since this process uses the other core.
    """

    def __init__(self, workdir: str) -> None:
        self.workdir = workdir
        root = str(Path(__file__).resolve().parent.parent)
        env = dict(os.environ)
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env[name] = "1"
        self.log = open(os.path.join(workdir, "worker.log"), "w+b")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "analysis.pipeline", "--serve"], cwd=root, env=env, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=self.log, text=True, encoding="utf-8", bufsize=1)
        self.pending = 0
        self._names = 0

    def path(self, suffix: str) -> str:
        """A fresh file name in the build's temporary folder."""
        self._names += 1
        return os.path.join(self.workdir, f"job-{self._names}{suffix}")

    def submit(self, kind: str, **job) -> None:
        """Queue a job; its answer is read with :meth:`result`, in submission order."""
        try:
            self.process.stdin.write(json.dumps({"kind": kind, **job}, ensure_ascii=False) + "\n")
            self.process.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise WorkerFailed(f"worker process is gone:\n{self._log_tail()}") from exc
        self.pending += 1

    def result(self) -> dict:
        """The answer of the oldest pending job.

        Raises:
            WorkerFailed: the job raised or the process died.
        """
        line = self.process.stdout.readline()
        if not line:
            raise WorkerFailed(f"worker process stopped:\n{self._log_tail()}")
        self.pending -= 1
        reply = json.loads(line)
        if not reply.get("ok"):
            raise WorkerFailed(reply.get("error", "unknown error"))
        return reply

    def _log_tail(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read()[-3000:].decode("utf-8", "replace")

    def close(self) -> None:
        """Stop the process (ending the jobs still running) and close its log."""
        if self.process.poll() is None:
            try:
                self.process.stdin.close()
            except OSError:
                pass
            if self.pending:
                self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            try:
                stream.close()
            except (OSError, ValueError):
                pass
        self.log.close()


class _Workers:
    """The build's worker process, started on first use; a failed one is not restarted."""

    def __init__(self, workdir: str, *, enabled: bool) -> None:
        self.workdir, self.enabled = workdir, enabled
        self.worker: _Worker | None = None

    def get(self) -> _Worker | None:
        """The worker (started now if needed), or ``None`` when working alone."""
        if self.enabled and self.worker is None:
            self.worker = _Worker(self.workdir)
        return self.worker

    def discard(self) -> None:
        """Stop the worker and work alone from now on (after a failure or an abandoned job)."""
        if self.worker is not None:
            self.worker.close()
        self.worker, self.enabled = None, False

    def close(self) -> None:
        if self.worker is not None:
            self.worker.close()
            self.worker = None


# -- jobs, run inside the worker ---------------------------------------------------------------
def _job_presegment(job: dict, cache: dict) -> dict:
    """Segment the complaint texts of an export file into a Parquet file of ``text_hash, tokens``.

    Takes the import's text (:func:`analysis.ingest.complaint_text`) and its hash, so
    that the tokens land on the complaints' keys.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from analysis import schema
    from analysis.ingest import TEXT_SOURCES, complaint_text, field_kind
    from analysis.io import TableReader, normalize_values
    from analysis.segment import Tokenizer

    tokenizer = Tokenizer(**job["tokenizer"])
    if tokenizer.fingerprint != job["fingerprint"]:
        return {"texts": 0, "skipped": "fingerprint"}
    blake2b = hashlib.blake2b
    seen: set[str] = set()
    n = 0
    schema_out = pa.schema([("text_hash", pa.string()), ("tokens", pa.string())])
    with TableReader(job["path"], chunk_size=job["chunk_size"]) as reader, \
            pq.ParquetWriter(job["out"], schema_out, compression="zstd") as writer:
        headers = reader.info.headers
        remembered = job["remembered"].get(schema.header_signature(headers))
        source = {field: column for column, field in schema.resolve_mapping(headers, remembered=remembered).items()}
        if "text" not in source:
            return {"texts": 0, "skipped": "no text column"}
        for chunk in reader.chunks():
            if not len(chunk):
                continue
            text, _ = complaint_text({f: normalize_values(chunk.column(source[f]), kind=field_kind(f))
                                      for f in TEXT_SOURCES if f in source}, len(chunk))
            hashes, texts = [], []
            for t in text.to_pylist():
                if not t:
                    continue
                h = blake2b(t.encode("utf-8"), digest_size=16).hexdigest()
                if h not in seen:
                    seen.add(h)
                    hashes.append(h)
                    texts.append(t)
            if texts:
                tokens = list(tokenizer.cut_many(texts, chunk_size=len(texts)))
                writer.write_table(pa.table({"text_hash": hashes, "tokens": tokens}, schema=schema_out))
                n += len(texts)
    return {"texts": n}


def _job_cluster(job: dict, cache: dict) -> dict:
    """Cluster one scope's documents (a Parquet file of metadata + ``_tokens``); pickle the result."""
    import pickle

    import pandas as pd

    from analysis import cluster

    frame = pd.read_parquet(job["path"])
    docs = frame.pop("_tokens").tolist()
    result = cluster.cluster_complaints(docs, metadata=frame, n_clusters=None, stopwords=frozenset(job["stopwords"]),
                                        domain_terms=job.get("domain_terms"), random_state=job["random_state"])
    with open(job["out"], "wb") as fh:
        pickle.dump(result, fh, protocol=pickle.HIGHEST_PROTOCOL)
    return {}


def _job_classify(job: dict, cache: dict) -> dict:
    """Classify a chunk of complaints (Arrow file) with pickled rules and model; write the result."""
    import pickle

    import pyarrow as pa
    import pyarrow.feather as feather

    from analysis.classify import classify_complaints

    objects = []
    for key in ("rules", "model"):
        path = job[key]
        if path is not None and path not in cache:
            with open(path, "rb") as fh:
                cache[path] = pickle.load(fh)
        objects.append(None if path is None else cache[path])
    frame = feather.read_table(job["path"]).to_pandas()
    tokens = frame.pop("_tokens").tolist()
    result = classify_complaints(frame, tokens=tokens, rules=objects[0], model=objects[1])
    feather.write_feather(pa.Table.from_pandas(result, preserve_index=False), job["out"], compression="uncompressed")
    return {}


_JOBS = {"presegment": _job_presegment, "cluster": _job_cluster, "classify": _job_classify}


def _serve() -> int:
    """The worker's loop: run the jobs read from stdin, answer each on stdout."""
    import traceback

    replies = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)  # whatever a library prints goes to the log, not into the answers
    sys.stdout = sys.stderr
    cache: dict = {}
    for line in sys.stdin:
        if not line.strip():
            continue
        started = time.perf_counter()
        try:
            job = json.loads(line)
            reply = {"ok": True, **_JOBS[job["kind"]](job, cache)}
        except Exception:  # reported to the main process, which decides
            reply = {"ok": False, "error": traceback.format_exc()}
        reply["seconds"] = time.perf_counter() - started
        replies.write(json.dumps(reply, ensure_ascii=False) + "\n")
        replies.flush()
    return 0


# -- the main process's side ---------------------------------------------------------------------
class _SharedClassify:
    """``classify_complaints`` with each chunk shared with the worker (it takes the first part).

    Classification is row by row, so the halves joined back are exactly what one
    process would give. Used as the ``classify`` hook of ``enrich.ensure_enriched``.
    """

    def __init__(self, workers: _Workers, *, share: float = 0.5) -> None:
        self.workers, self.share = workers, share
        self._pickled: dict[int, tuple[object, str]] = {}

    def _pickle(self, obj, worker: _Worker) -> str | None:
        import pickle

        if obj is None:
            return None
        known = self._pickled.get(id(obj))
        if known is not None and known[0] is obj:
            return known[1]
        path = worker.path(".pickle")
        with open(path, "wb") as fh:
            pickle.dump(obj, fh, protocol=pickle.HIGHEST_PROTOCOL)
        self._pickled[id(obj)] = (obj, path)
        return path

    def __call__(self, frame, *, tokens=None, rules=None, model=None, **kwargs):
        import pandas as pd
        import pyarrow as pa
        import pyarrow.feather as feather

        from analysis.classify import classify_complaints

        worker = self.workers.get()
        n = len(frame)
        if worker is None or n < SHARE_MIN_ROWS or rules is None or tokens is None or kwargs:
            return classify_complaints(frame, tokens=tokens, rules=rules, model=model, **kwargs)
        cut = int(n * self.share)
        try:
            job_in, job_out = worker.path(".arrow"), worker.path(".arrow")
            part = frame.iloc[:cut].assign(_tokens=pd.Series(list(tokens[:cut]), index=frame.index[:cut],
                                                             dtype="str"))
            feather.write_feather(pa.Table.from_pandas(part, preserve_index=False), job_in,
                                  compression="uncompressed")
            worker.submit("classify", path=job_in, out=job_out, rules=self._pickle(rules, worker),
                          model=self._pickle(model, worker))
        except WorkerFailed:
            self.workers.discard()
            return classify_complaints(frame, tokens=tokens, rules=rules, model=model)
        try:
            local = classify_complaints(frame.iloc[cut:], tokens=list(tokens[cut:]), rules=rules, model=model)
        except BaseException:
            self.workers.discard()
            raise
        try:
            worker.result()
            remote = feather.read_table(job_out).to_pandas()
        except WorkerFailed:
            self.workers.discard()
            remote = classify_complaints(frame.iloc[:cut], tokens=list(tokens[:cut]), rules=rules, model=model)
        remote.index = frame.index[:cut]
        return pd.concat([remote, local[remote.columns]])


# --------------------------------------------------------------------------- stages
def _merge_tokens(store: Store, path: str, fingerprint: str) -> int:
    """Add the worker's tokens of stored texts to the cache; returns the texts added."""
    with store.transaction() as cur:
        before = int(cur.execute("SELECT count(*) FROM tokens").fetchone()[0])
        cur.execute(
            "INSERT INTO tokens SELECT p.text_hash, ?, p.tokens FROM read_parquet(?) p "
            "WHERE p.text_hash IN (SELECT text_hash FROM complaints) "
            "AND NOT EXISTS (SELECT 1 FROM tokens t WHERE t.text_hash = p.text_hash AND t.fingerprint = ?)",
            [fingerprint, path, fingerprint])
        return int(cur.execute("SELECT count(*) FROM tokens").fetchone()[0]) - before


def _import_stage(store: Store, paths: Sequence[Path], report: BuildReport, *, tokenizer, workers: _Workers,
                  progress: Progress | None) -> None:
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
        tokens_out = None
        args = _tokenizer_args(tokenizer)
        worker = workers.get() if size >= PRESEGMENT_MIN_BYTES and args is not None else None
        if worker is not None:
            tokens_out = worker.path(".parquet")
            remembered = {sig: json.loads(m) for sig, m in store.cursor().execute(
                "SELECT header_signature, mapping_json FROM column_mappings").fetchall()}
            try:
                worker.submit("presegment", path=str(path.resolve()), remembered=remembered, tokenizer=args,
                              fingerprint=tokenizer.fingerprint, out=tokens_out, chunk_size=PRESEGMENT_CHUNK)
            except WorkerFailed:
                workers.discard()
                worker = None
        try:
            result = import_file(store, path, progress=lambda fraction, _msg: _notify(
                progress, "import", fraction * size, size))
        except UserError as exc:
            if worker is not None:
                workers.discard()  # its segmentation is of no use now
            report.files.append(FileOutcome(file=str(path), sha256=sha, status="rejected", error=str(exc),
                                            seconds=round(time.perf_counter() - started, 3)))
            continue
        except BaseException:
            if worker is not None:
                workers.discard()
            raise
        merged, worker_seconds = 0, 0.0
        if worker is not None:
            try:
                reply = worker.result()
            except WorkerFailed:  # costs only time: the tokens stage segments what is missing
                workers.discard()
            else:
                worker_seconds = float(reply.get("seconds", 0.0))
                if reply.get("texts"):
                    merged = _merge_tokens(store, tokens_out, tokenizer.fingerprint)
                os.unlink(tokens_out)
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

    Returns:
        ``(main, worker)``: the categories of each, biggest first.
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
                   progress: Progress | None, workers: _Workers) -> None:
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
    if workers.enabled and len(fresh) >= 2 and sum(fresh.values()) >= PARALLEL_CLUSTER_MIN:
        _, offload = _split_work(fresh, head_start=0.1 * sum(fresh.values()))
    done = 0
    _notify(progress, "clusters", done, len(todo))
    outcomes: dict[str, ClusterOutcome] = {}
    sent: list[tuple[str, str]] = []
    worker = workers.get() if offload else None
    if worker is not None:
        # the labels' dictionary tags come from the build's tokenizer, as in run_clustering
        domain_terms = (cluster.domain_terms_of(tokenizer.user_words) if getattr(tokenizer, "user_words", None)
                        else None)
        try:
            for c in offload:
                metadata, docs = cluster.scope_documents(store, cluster.ClusterScope(category=c), tokenizer=tokenizer)
                path = worker.path(".parquet")
                metadata.assign(_tokens=pd.Series(docs, index=metadata.index, dtype="str")).to_parquet(
                    path, index=False)
                del metadata, docs
                out = path + ".pickle"
                worker.submit("cluster", path=path, out=out, stopwords=sorted(getattr(tokenizer, "stopwords", ())),
                              domain_terms=domain_terms, random_state=int(random_state))
                sent.append((c, out))
        except WorkerFailed:
            workers.discard()
            worker, sent = None, []
    mine = [c for c in todo if c not in {c for c, _ in sent}]
    try:
        with threadpool_limits(1 if worker is not None else None):
            for c in mine:
                started = time.perf_counter()
                cached = _cached_outcome(store, c, counts[c], keys[c][0]) if c not in fresh else None
                if cached is not None:
                    outcomes[c] = cached
                    done += 1
                    _notify(progress, "clusters", done, len(todo))
                    continue
                result = cluster.run_clustering(store, category=c, tokenizer=tokenizer, random_state=random_state)
                outcomes[c] = _cluster_outcome(store, c, counts[c], result, result.run_id in known,
                                               time.perf_counter() - started)
                done += 1
                _notify(progress, "clusters", done, len(todo))
        for c, out in sent:
            try:
                reply = worker.result()
                with open(out, "rb") as fh:
                    result = pickle.load(fh)
            except WorkerFailed:  # do the rest here
                workers.discard()
                started = time.perf_counter()
                result = cluster.run_clustering(store, category=c, tokenizer=tokenizer, random_state=random_state)
                seconds = time.perf_counter() - started
            else:
                started = time.perf_counter()
                run_id, cache_key = keys[c]
                if not result.too_few:
                    cluster.save_run(store, result, run_id=run_id, cache_key=cache_key,
                                     tokenizer_fingerprint=tokenizer.fingerprint)
                result.run_id = run_id
                seconds = float(reply["seconds"]) + time.perf_counter() - started
            outcomes[c] = _cluster_outcome(store, c, counts[c], result, False, seconds)
            done += 1
            _notify(progress, "clusters", done, len(todo))
    except BaseException:
        if worker is not None and worker.pending:
            workers.discard()
        raise
    report.clusters.extend(outcomes[c] for c in todo)


def _cached_outcome(store: Store, category: str, complaints: int, run_id: str) -> ClusterOutcome | None:
    """The outcome of a cached run, read from ``cluster_runs`` without loading its assignments."""
    from analysis import cluster

    started = time.perf_counter()
    run = cluster.run_summary(store, run_id)
    if run is None or run.n_clusters is None:
        return None  # not a payload this code knows: ask cluster.run_clustering
    return ClusterOutcome(category=category, complaints=int(complaints), clusters=run.n_clusters, run_id=run_id,
                          cached=True, message=run.message, seconds=round(time.perf_counter() - started, 3))


def _cluster_outcome(store: Store, category: str, complaints: int, result, cached: bool,
                     seconds: float) -> ClusterOutcome:
    saved = bool(store.scalar("SELECT count(*) FROM cluster_runs WHERE run_id = ?", [result.run_id]))
    return ClusterOutcome(category=category, complaints=int(complaints), clusters=int(result.n_clusters),
                          run_id=result.run_id if saved else None, cached=cached, message=result.message,
                          seconds=round(seconds, 3))


# --------------------------------------------------------------------------- temporary folders
WORKDIR_PREFIX = "complaint-radar-build-"
_OWNER_FILE = "owner.pid"
_UNCLAIMED_SECONDS = 3600  # a folder without an owner file this old was left by a build killed at its start


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def clean_stale_workdirs(parent: str | os.PathLike | None = None) -> list[str]:
    """Remove the temporary folders that killed builds left behind (they hold complaint texts).

    A build writes its process id into its folder; a folder whose process is gone is
    removed. Only this user's folders are touched.

    Args:
        parent: where the folders are (default: the system's temporary folder).

    Returns:
        The folders removed.
    """
    import shutil

    removed = []
    try:
        entries = list(os.scandir(parent or tempfile.gettempdir()))
    except OSError:
        return removed
    for entry in entries:
        try:
            if not entry.name.startswith(WORKDIR_PREFIX) or not entry.is_dir(follow_symlinks=False):
                continue
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if info.st_uid != os.getuid():
            continue
        try:
            pid = int(Path(entry.path, _OWNER_FILE).read_text().strip())
        except (OSError, ValueError):
            pid = None
        if pid is not None and _process_alive(pid):
            continue
        if pid is None and time.time() - info.st_mtime < _UNCLAIMED_SECONDS:
            continue
        shutil.rmtree(entry.path, ignore_errors=True)
        removed.append(entry.path)
    return removed


def _claim_workdir(workdir: str) -> None:
    """Write this process's id into the build's folder (see :func:`clean_stale_workdirs`)."""
    Path(workdir, _OWNER_FILE).write_text(str(os.getpid()))


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

    clean_stale_workdirs()  # a build killed earlier left its texts behind
    with tempfile.TemporaryDirectory(prefix=WORKDIR_PREFIX) as workdir, _duckdb_memory(store):
        _claim_workdir(workdir)
        workers = _Workers(workdir, enabled=parallel)
        try:
            clock = time.perf_counter()
            _notify(progress, "import", 0, 0)
            _import_stage(store, paths, report, tokenizer=tokenizer, workers=workers, progress=progress)
            report.stage_seconds["import"] = round(time.perf_counter() - clock, 3)

            clock = time.perf_counter()
            _notify(progress, "tokens", 0, 0)
            chunks = {} if chunk_size is None else {"chunk_size": int(chunk_size)}
            report.segmented = segment.ensure_tokens(
                store, tokenizer, progress=lambda done, total: _notify(progress, "tokens", done, total), **chunks)
            report.stage_seconds["tokens"] = round(time.perf_counter() - clock, 3)

            clock = time.perf_counter()
            _notify(progress, "enrich", 0, 0)
            hook = {"classify": _SharedClassify(workers)} if parallel else {}
            first_event: list[float] = []

            def enrich_progress(done: int, total: int) -> None:
                if not first_event:  # classification starts: what came before was the model
                    first_event.append(time.perf_counter())
                _notify(progress, "enrich", done, total)

            # The model's three stack folds in three processes at once: on two cores
            # they end together (1.5 fit-times) instead of two, then one alone (2 fit-times).
            with _joblib_processes(3 if parallel else 1):
                stats = enrich.ensure_enriched(store, tokenizer=tokenizer, progress=enrich_progress, **chunks, **hook)
            report.enrich_model_seconds = round((first_event[0] if first_event else time.perf_counter()) - clock, 3)
            report.enrichment = stats
            report.stage_seconds["enrich"] = round(time.perf_counter() - clock, 3)

            clock = time.perf_counter()
            _notify(progress, "clusters", 0, 0)
            if categories:
                _cluster_stage(store, categories, report, tokenizer=tokenizer, random_state=random_state,
                               progress=progress, workers=workers)
            report.stage_seconds["clusters"] = round(time.perf_counter() - clock, 3)
        finally:
            workers.close()

    report.complaints = store.count("complaints")
    report.seconds = round(time.perf_counter() - started, 3)
    return report


if __name__ == "__main__":
    if sys.argv[1:] != ["--serve"]:
        raise SystemExit("usage: python -m analysis.pipeline --serve  (the build's worker process)")
    raise SystemExit(_serve())
