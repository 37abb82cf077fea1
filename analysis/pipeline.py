"""The whole build: from export files to a store every page can use at once.

:func:`build` runs four stages; each commits its work in pieces and skips
what is already done, so a build that was interrupted continues where it
stopped when it is run again:

The heavy work runs as tasks on a Dask ``distributed`` cluster
(:class:`analysis.engine.Engine`): by default a local cluster with one worker
process per core, started and closed by the build; or an existing cluster
(``scheduler=`` / ``COMPLAINT_RADAR_SCHEDULER``). ``n_jobs=1`` runs in process.

1. **import** — each file in its own transaction (:func:`analysis.ingest.import_file`);
   a file whose SHA-256 already has a completed import is skipped.
2. **tokens** — the texts missing from the token cache are segmented, each chunk
   split into tasks (:func:`analysis.segment.ensure_tokens` with a ``cut_chunks``
   hook); on Dask the results are Parquet parts in the build's private temporary
   folder (0700, removed at the end; a killed build's folder is removed by the next
   build) written to the store in one transaction, in process one per chunk.
3. **enrich** — categories, problem types, severities and platforms for every
   complaint lacking them (:func:`analysis.enrich.ensure_enriched` with a ``classify``
   hook that splits each chunk into tasks; rules and model go to each worker once).
4. **clusters** — one cached clustering run per focus category of the seed
   (:attr:`analysis.taxonomy.Taxonomy.focus_categories`) with at least
   :data:`analysis.cluster.MIN_COMPLAINTS` complaints
   (one task per category, biggest first); a run whose data and parameters
   are unchanged is read from the cache.

Progress is reported as ``progress(stage, done, total)``: bytes for the
``import`` stage, texts or complaints for ``tokens`` and ``enrich``, categories
for ``clusters``. Each stage starts with ``progress(stage, 0, 0)``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from analysis import engine as engine_mod
from analysis.engine import Engine
from analysis.errors import UserError
from analysis.store import Store
from analysis.textutil import json_safe

__all__ = ["STAGES", "STAGE_LABELS", "BuildReport", "ClusterOutcome", "FileOutcome", "build",
           "file_sha256", "focus_categories"]

STAGES = ("import", "tokens", "enrich", "clusters")
STAGE_LABELS = {"import": "导入", "tokens": "分词", "enrich": "分类", "clusters": "聚类"}
#: Parts smaller than this are not worth a task (classification and segmentation).
TASK_MIN_ROWS = 2_000
#: DuckDB's memory cap during a build (the import of 1M rows needs ≈ 1 GiB).
DUCKDB_MEMORY_LIMIT = "1GB"

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
        engine: where the tasks ran: ``"in-process"``, ``"local Dask cluster (N workers)"``
            or the scheduler's address.
        dashboard: the Dask dashboard's address (``None`` in process or without one).
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
    engine: str = "in-process"
    dashboard: str | None = None
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


# --------------------------------------------------------------------------- tasks (run on the workers)
def _cut_task(texts: list[str], tokenizer) -> list[str]:
    """Segment a chunk of texts (``tokenizer`` was sent to the worker once, see :meth:`Engine.share`)."""
    return list(tokenizer.cut_many(texts, chunk_size=len(texts) or 1))


def _classify_task(part: tuple, rules, model):
    """Classify a part of a chunk: ``part`` is ``(frame, tokens)``."""
    from analysis.classify import classify_complaints

    frame, tokens = part
    return classify_complaints(frame, tokens=tokens, rules=rules, model=model)


def _cluster_task(part: tuple, stopwords, domain_terms, random_state: int):
    """Cluster one category's documents: ``part`` is ``(metadata, docs)``."""
    from threadpoolctl import threadpool_limits

    from analysis import cluster

    metadata, docs = part
    with threadpool_limits(1):
        return cluster.cluster_complaints(docs, metadata=metadata, n_clusters=None, stopwords=stopwords,
                                          domain_terms=domain_terms, random_state=random_state)


class _DaskSegment:
    """The ``cut_chunks`` hook of :func:`analysis.segment.ensure_tokens`: each chunk split into tasks."""

    def __init__(self, engine: Engine, tokenizer) -> None:
        self.engine, self.tokenizer = engine, tokenizer

    def __call__(self, chunks):
        from collections import deque

        shared = self.engine.share(self.tokenizer)
        parts_per_chunk = 2 * max(1, self.engine.n_workers)
        counts: deque[int] = deque()  # parts of each chunk pulled so far, in order

        def parts():
            for texts in chunks:
                step = max(TASK_MIN_ROWS, -(-len(texts) // parts_per_chunk))
                pieces = [texts[i:i + step] for i in range(0, len(texts), step)]
                counts.append(len(pieces))
                yield from pieces

        # one stream of tasks across chunks: the next chunk's parts run while this one is written
        out: list[list[str]] = []
        for tokens in self.engine.map(_cut_task, parts(), window=parts_per_chunk + 2, tokenizer=shared):
            out.append(tokens)
            if len(out) == counts[0]:
                counts.popleft()
                yield [t for part in out for t in part]
                out = []


class _DaskClassify:
    """The ``classify`` hook of :func:`analysis.enrich.ensure_enriched`: each chunk split into tasks.

    Classification is row by row, so the parts joined back are exactly what one
    process would give. Rules and model go to each worker once.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def __call__(self, frame, *, tokens=None, rules=None, model=None, **kwargs):
        import pandas as pd

        from analysis.classify import classify_complaints

        n = len(frame)
        if n < TASK_MIN_ROWS or tokens is None or kwargs:
            return classify_complaints(frame, tokens=tokens, rules=rules, model=model, **kwargs)
        step = max(TASK_MIN_ROWS, -(-n // (2 * max(1, self.engine.n_workers))))
        tokens = list(tokens)
        parts = [(frame.iloc[i:i + step], tokens[i:i + step]) for i in range(0, n, step)]
        results = list(self.engine.map(_classify_task, parts, rules=self.engine.share(rules),
                                       model=self.engine.share(model)))
        out = pd.concat(results)
        out.index = frame.index
        return out


# --------------------------------------------------------------------------- stages
def _import_stage(store: Store, paths: Sequence[Path], report: BuildReport, *, progress: Progress | None) -> None:
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
        try:
            result = import_file(store, path, progress=lambda fraction, _msg: _notify(
                progress, "import", fraction * size, size))
        except UserError as exc:
            report.files.append(FileOutcome(file=str(path), sha256=sha, status="rejected", error=str(exc),
                                            seconds=round(time.perf_counter() - started, 3)))
            continue
        report.files.append(FileOutcome(
            file=str(path), sha256=sha, status="imported", import_id=result.import_id, rows_read=result.rows_read,
            imported=result.imported, quarantined=result.quarantined, duplicates=result.duplicates,
            seconds=round(time.perf_counter() - started, 3)))


def _cluster_stage(store: Store, categories: Iterable[str], report: BuildReport, *, tokenizer, random_state: int,
                   progress: Progress | None, engine: Engine | None) -> None:
    """One clustering run per category; fresh runs are tasks on the cluster (biggest first), saved as they end."""
    from analysis import cluster

    counts = dict(store.cursor().execute(
        "SELECT category, count(*) FROM complaints_enriched GROUP BY 1").fetchall())
    todo = [c for c in dict.fromkeys(categories) if counts.get(c, 0) >= cluster.MIN_COMPLAINTS]
    keys = {c: cluster.run_key(store, cluster.ClusterScope(category=c), random_state=random_state,
                               tokenizer=tokenizer) for c in todo}
    known = {r[0] for r in store.cursor().execute("SELECT run_id FROM cluster_runs").fetchall()}
    fresh = sorted((c for c in todo if keys[c][0] not in known), key=lambda c: -int(counts[c]))
    outcomes: dict[str, ClusterOutcome] = {}
    done = 0
    _notify(progress, "clusters", done, len(todo))

    def finished(c: str, outcome: ClusterOutcome) -> None:
        nonlocal done
        outcomes[c] = outcome
        done += 1
        _notify(progress, "clusters", done, len(todo))

    for c in todo:
        if c not in fresh:
            cached = _cached_outcome(store, c, counts[c], keys[c][0])
            if cached is not None:
                finished(c, cached)
    local = [c for c in todo if c not in outcomes and (engine is None or c not in fresh)]
    remote = [c for c in fresh if engine is not None]
    for c in local:
        started = time.perf_counter()
        result = cluster.run_clustering(store, category=c, tokenizer=tokenizer, random_state=random_state)
        finished(c, _cluster_outcome(store, c, counts[c], result, result.run_id in known,
                                     time.perf_counter() - started))
    if remote:
        # the labels' dictionary tags come from the build's tokenizer, as in run_clustering
        domain_terms = (cluster.domain_terms_of(tokenizer.user_words) if getattr(tokenizer, "user_words", None)
                        else None)
        started = time.perf_counter()
        parts = (cluster.scope_documents(store, cluster.ClusterScope(category=c), tokenizer=tokenizer) for c in remote)
        results = engine.map(_cluster_task, parts, window=max(2, engine.n_workers),
                             stopwords=engine.share(frozenset(getattr(tokenizer, "stopwords", ()))),
                             domain_terms=engine.share(domain_terms), random_state=int(random_state))
        for c, result in zip(remote, results):
            run_id, cache_key = keys[c]
            if not result.too_few:
                cluster.save_run(store, result, run_id=run_id, cache_key=cache_key,
                                 tokenizer_fingerprint=tokenizer.fingerprint)
            result.run_id = run_id
            finished(c, _cluster_outcome(store, c, counts[c], result, False, time.perf_counter() - started))
            started = time.perf_counter()
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
    scheduler: str | None = None,
    engine: Engine | None = None,
    on_engine: Callable[[Engine], None] | None = None,
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
        n_jobs: worker processes of the local Dask cluster; ``None`` means one per
            core, ``1`` runs everything in this process (no Dask).
        chunk_size: complaints segmented or classified per transaction (``None``:
            the defaults of :func:`analysis.segment.ensure_tokens` and
            :func:`analysis.enrich.ensure_enriched`); bounds memory and the work
            an interruption can lose.
        scheduler: address of an existing Dask scheduler (``tcp://HOST:8786``);
            ``None`` reads ``COMPLAINT_RADAR_SCHEDULER``. Input files must then be
            readable by this process; the workers receive the data through Dask.
        engine: an open :class:`analysis.engine.Engine` to use (and leave open).
        on_engine: called with the engine once it runs (e.g. to print its dashboard).

    Returns:
        The :class:`BuildReport`. Rejected files are listed in it (the other
        files and stages still run).

    Raises:
        UserError: the store is read-only, or the scheduler cannot be reached.
    """
    from analysis import segment

    if getattr(store, "read_only", False):
        raise UserError("数据库以只读方式打开，无法构建；请关闭正在使用它的程序后重试。", file=store.path)
    started = time.perf_counter()
    paths = [Path(p) for p in paths]
    if tokenizer is None:
        tokenizer = segment.Tokenizer()
    categories = focus_categories() if cluster_categories is None else tuple(cluster_categories)
    report = BuildReport(store=store.path)
    engine_mod.clean_stale_workdirs()  # a killed build's private folder (its complaint texts)
    address = engine_mod.scheduler_address(scheduler)
    with contextlib.ExitStack() as stack:
        stack.enter_context(_duckdb_memory(store))
        if engine is None and (address or n_jobs is None or int(n_jobs) >= 2):
            engine = stack.enter_context(Engine(address, n_workers=n_jobs))
        workdir = stack.enter_context(engine_mod.private_workdir()) if engine is not None else None
        if engine is not None:
            report.engine = engine.address or f"local Dask cluster ({engine.n_workers} workers)"
            report.dashboard = engine.dashboard_link
            if on_engine is not None:
                on_engine(engine)
        _stages(store, paths, report, tokenizer=tokenizer, categories=categories, progress=progress,
                random_state=random_state, chunk_size=chunk_size, engine=engine, workdir=workdir)
    report.complaints = store.count("complaints")
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def _stages(store: Store, paths: list[Path], report: BuildReport, *, tokenizer, categories, progress,
            random_state: int, chunk_size: int | None, engine: Engine | None, workdir: Path | None) -> None:
    """The four stages, timed into ``report.stage_seconds``.

    On Dask the segmented chunks are Parquet parts in ``workdir`` (private, removed at
    the end) and enter the token cache in one transaction when the stage ends.
    """
    from analysis import enrich, segment

    clock = time.perf_counter()
    _notify(progress, "import", 0, 0)
    _import_stage(store, paths, report, progress=progress)
    report.stage_seconds["import"] = round(time.perf_counter() - clock, 3)

    clock = time.perf_counter()
    _notify(progress, "tokens", 0, 0)
    chunks = {} if chunk_size is None else {"chunk_size": int(chunk_size)}
    report.segmented = segment.ensure_tokens(
        store, tokenizer, progress=lambda done, total: _notify(progress, "tokens", done, total), **chunks,
        cut_chunks=None if engine is None else _DaskSegment(engine, tokenizer), spill_dir=workdir)
    report.stage_seconds["tokens"] = round(time.perf_counter() - clock, 3)

    clock = time.perf_counter()
    _notify(progress, "enrich", 0, 0)
    hook = {} if engine is None else {"classify": _DaskClassify(engine)}
    first_event: list[float] = []

    def enrich_progress(done: int, total: int) -> None:
        if not first_event:  # classification starts: what came before was the model
            first_event.append(time.perf_counter())
        _notify(progress, "enrich", done, total)

    # The model's three stack folds in three processes at once: on two cores
    # they end together (1.5 fit-times) instead of two, then one alone (2 fit-times).
    with _joblib_processes(3 if engine is not None else 1):
        stats = enrich.ensure_enriched(store, tokenizer=tokenizer, progress=enrich_progress, **chunks, **hook)
    report.enrich_model_seconds = round((first_event[0] if first_event else time.perf_counter()) - clock, 3)
    report.enrichment = stats
    report.stage_seconds["enrich"] = round(time.perf_counter() - clock, 3)

    clock = time.perf_counter()
    _notify(progress, "clusters", 0, 0)
    if categories:
        _cluster_stage(store, categories, report, tokenizer=tokenizer, random_state=random_state,
                       progress=progress, engine=engine)
    report.stage_seconds["clusters"] = round(time.perf_counter() - clock, 3)
