"""Clustering runs in the store: run key, save/load, the newest run, and :func:`run_clustering`.

A run is cached in ``cluster_runs`` (parameters and cluster table as JSON) and
``cluster_assignments`` (one row per complaint) under a run id that changes with
the scope, the topic model's parameters (:meth:`TopicModel.run_params`), the
tokenizer and the store's data. :func:`run_summary` and :func:`latest_run` read a
run's table without its assignments; they are the one reader of the run JSON.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json

import numpy as np
import pandas as pd

from analysis.cluster.clusterers import SphericalKMeans
from analysis.cluster.edits import apply_edits, load_edits
from analysis.cluster.labels import domain_terms_of
from analysis.cluster.model import TopicModel
from analysis.cluster.result import CLUSTER_COLUMNS, METADATA_COLUMNS, ClusterResult, ClusterScope, empty_clusters
from analysis.errors import UserError
from analysis.store import Store
from analysis.taxonomy import OTHER_PLATFORM, UNCLASSIFIED
from analysis.textutil import json_safe


def scope_metadata(store: Store, where: str, params: list) -> pd.DataFrame:
    """The metadata columns of the complaints matching ``where``, in import order."""
    return store.query(
        f"SELECT {', '.join(METADATA_COLUMNS)} FROM complaints_enriched WHERE {where} "
        "ORDER BY import_id, source_row", params)


def store_model(*, clusterer=None, random_state: int = 0) -> TopicModel:
    """The topic model of store runs: the default steps with ``clusterer`` (default: automatic k-means)."""
    return TopicModel(clusterer=SphericalKMeans() if clusterer is None else clusterer,
                      random_state=random_state)


def run_key(store: Store, scope: ClusterScope, *, clusterer=None, random_state: int = 0,
            tokenizer=None) -> tuple[str, str]:
    """The id of a scope's cached run and its cache key (what :func:`run_clustering` looks up).

    The cache key names the scope and a digest of the settings: the run parameters of
    :func:`store_model` (every step's parameters, the clusterer's included) and the
    tokenizer's fingerprint. The run id adds the store's data fingerprint, so it
    changes when complaints are added or classified anew.

    Returns:
        ``(run_id, cache_key)``.
    """
    if tokenizer is None:
        from analysis import segment

        tokenizer = segment.Tokenizer()
    settings = {"model": store_model(clusterer=clusterer, random_state=random_state).run_params(),
                "tokenizer": tokenizer.fingerprint, "personal_tokens": "dropped"}
    digest = hashlib.blake2b(json.dumps(settings, sort_keys=True, ensure_ascii=False).encode(),
                             digest_size=8).hexdigest()
    cache_key = f"{scope.key}|model={digest}"
    run_id = hashlib.blake2b(f"{cache_key}|{store.contents_key()}".encode(), digest_size=12).hexdigest()
    return run_id, cache_key


def save_run(store: Store, result: ClusterResult, *, run_id: str, cache_key: str) -> None:
    """Cache a run under its :func:`run_key`, replacing older runs of the same cache key."""
    payload = {
        "clusters": result.clusters.to_dict(orient="records"),
        "n_clusters": result.n_clusters,
        "k_scores": None if result.k_scores is None else result.k_scores.to_dict(orient="list"),
        "message": result.message,
    }
    frame = result.assignments[["complaint_id", "cluster_id", "x", "y"]].copy()
    frame.insert(0, "run_id", run_id)
    with store.transaction() as cur:
        old = [r[0] for r in cur.execute("SELECT run_id FROM cluster_runs WHERE scope_key = ?",
                                         [cache_key]).fetchall()]
        for rid in {*old, run_id}:
            cur.execute("DELETE FROM cluster_assignments WHERE run_id = ?", [rid])
            cur.execute("DELETE FROM cluster_runs WHERE run_id = ?", [rid])
        cur.execute("INSERT INTO cluster_runs VALUES (?, ?, ?, ?, ?)",
                    [run_id, cache_key, dt.datetime.now(),
                     json.dumps(json_safe(result.params, digits=None), ensure_ascii=False),
                     json.dumps(json_safe(payload, digits=None), ensure_ascii=False)])
        cur.register("_cluster_assignments_new", frame)
        try:
            cur.execute("INSERT INTO cluster_assignments SELECT * FROM _cluster_assignments_new")
        finally:
            cur.unregister("_cluster_assignments_new")


@dataclasses.dataclass(frozen=True)
class RunSummary:
    """A stored run without its assignments.

    Attributes:
        run_id: the run's id (``cluster_assignments.run_id``).
        scope_key: the cache key (scope and settings digest).
        created_at: when the run was saved.
        n_clusters: clusters found (``None`` when the stored table is not readable).
        message: the run's note for the user.
        labels: ``(cluster_id, label)`` pairs, 杂项 included (empty when not readable).
        params: the run's parameters.
    """

    run_id: str
    scope_key: str
    created_at: dt.datetime | None
    n_clusters: int | None
    message: str | None
    labels: tuple[tuple[int, str], ...]
    params: dict

    @property
    def scope(self) -> str:
        """The scope part of the key, e.g. ``category=食品|platform=*|start=*|end=*``."""
        return "|".join(self.scope_key.split("|")[:4])


def _summary(row) -> RunSummary:
    run_id, scope_key, created_at, params_json, clusters_json = row
    try:
        params = json.loads(params_json)
        params = params if isinstance(params, dict) else {}
    except (TypeError, ValueError):
        params = {}
    try:
        payload = json.loads(clusters_json)
        n_clusters, message = int(payload["n_clusters"]), payload.get("message")
    except (TypeError, KeyError, ValueError, AttributeError):
        payload, n_clusters, message = {}, None, None
    try:
        labels = tuple((int(c["cluster_id"]), str(c["label"])) for c in payload.get("clusters", []))
    except (TypeError, KeyError, ValueError, AttributeError):
        labels = ()
    return RunSummary(run_id=run_id, scope_key=scope_key, created_at=created_at, n_clusters=n_clusters,
                      message=message, labels=labels, params=params)


_SUMMARY_SQL = "SELECT run_id, scope_key, created_at, params_json, clusters_json FROM cluster_runs"


def run_summary(store: Store, run_id: str) -> RunSummary | None:
    """The stored run ``run_id`` without its assignments (``None``: no such run)."""
    row = store.cursor().execute(f"{_SUMMARY_SQL} WHERE run_id = ?", [run_id]).fetchone()
    return None if row is None else _summary(row)


def latest_run(store: Store) -> RunSummary | None:
    """The newest stored run (``None``: nothing clustered yet)."""
    row = store.cursor().execute(f"{_SUMMARY_SQL} ORDER BY created_at DESC, run_id LIMIT 1").fetchone()
    return None if row is None else _summary(row)


# A cached run with its complaints' metadata, in one query: the run's assignments (in stored
# order) joined to their complaints and enrichment. The join is driven by the run's rows, so it
# costs a fraction of filtering the complaints–enrichment view by the scope.
_RUN_ROWS_SQL = f"""
    SELECT a.complaint_id, a.cluster_id, a.x, a.y, c.received_at,
           coalesce(e.category, '{UNCLASSIFIED}') AS category, coalesce(e.platform_norm, '{OTHER_PLATFORM}') AS platform_norm,
           c.product, c.brand, c.merchant
    FROM cluster_assignments a
    LEFT JOIN complaints c ON c.complaint_id = a.complaint_id
    LEFT JOIN enrichment e ON e.complaint_id = a.complaint_id
    WHERE a.run_id = ?
    ORDER BY a.rowid
"""


def load_run(store: Store, run_id: str) -> ClusterResult | None:
    """A cached run with ``metadata`` aligned row by row with its assignments (``None``: not cached)."""
    cur = store.cursor()
    try:
        found = cur.execute(
            "SELECT params_json, clusters_json FROM cluster_runs WHERE run_id = ?", [run_id]).fetchall()
        if not found:
            return None
        row = found[0]
        rows = cur.sql(_RUN_ROWS_SQL, params=[run_id]).to_arrow_table().to_pandas()
    finally:
        cur.close()
    params, payload = json.loads(row[0]), json.loads(row[1])
    assignments = rows[["complaint_id", "cluster_id", "x", "y"]].copy()
    assignments["cluster_id"] = assignments["cluster_id"].astype(np.int64)
    metadata = rows[list(METADATA_COLUMNS)]
    clusters = pd.DataFrame.from_records(payload["clusters"], columns=CLUSTER_COLUMNS)
    if clusters.empty:
        clusters = empty_clusters()
    k_scores = None if payload.get("k_scores") is None else pd.DataFrame(payload["k_scores"])
    return ClusterResult(assignments=assignments, clusters=clusters,
                         n_clusters=int(payload["n_clusters"]), k_scores=k_scores,
                         params=params, message=payload.get("message"), metadata=metadata)


def scope_documents(store: Store, scope: ClusterScope, *, tokenizer) -> tuple[pd.DataFrame, list[str]]:
    """The metadata and the space-joined tokens of a scope's complaints, in import order.

    These are the inputs :func:`run_clustering` gives :meth:`TopicModel.fit_clusters`.
    """
    from analysis import segment

    where, params = scope.filters().where()
    metadata = scope_metadata(store, where, params)
    tokens = segment.load_tokens(store, tokenizer, where=where, params=params,
                                 ensure=not store.read_only, drop_personal=True)
    by_id = dict(zip(tokens["complaint_id"], tokens["tokens"]))
    docs = [by_id.get(cid, "") for cid in metadata["complaint_id"].astype(str)]
    return metadata, docs


def run_clustering(
    store: Store,
    *,
    category: str | None = None,
    platform: str | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    clusterer=None,
    random_state: int = 0,
    tokenizer=None,
    use_cache: bool = True,
) -> ClusterResult:
    """Cluster the complaints of a scope in the store, with caching and the analysts' edits.

    Loads the scope's tokens, clusters them with :func:`store_model` (or reads the
    cached run for the same scope, data and parameters), and applies the scope's
    stored edits. The store is read as it is: open it with
    :func:`analysis.enrich.open_for_analysis` first.

    Args:
        store: the complaint store (writable: runs and tokens are cached in it).
        category: one category (``None``: all).
        platform: one normalised platform (``None``: all).
        start: first day included.
        end: last day included.
        clusterer: the clusterer step (default: k-means with automatic k; see
            :func:`analysis.cluster.make_clusterer`).
        random_state: seed.
        tokenizer: a ``segment.Tokenizer``; ``None`` builds the default one.
        use_cache: read and write the run cache.

    Returns:
        The :class:`ClusterResult`, with ``metadata``, ``scope`` and ``run_id`` set.
    """
    from analysis import segment

    scope = ClusterScope(category=category or None, platform=platform or None, start=start, end=end)
    if start and end and start > end:
        raise UserError(f"开始日期 {start} 晚于结束日期 {end}，请重新选择时间范围。")
    if tokenizer is None:
        tokenizer = segment.Tokenizer()
    run_id, cache_key = run_key(store, scope, clusterer=clusterer, random_state=random_state,
                                tokenizer=tokenizer)
    result = load_run(store, run_id) if use_cache else None
    if result is None:
        metadata, docs = scope_documents(store, scope, tokenizer=tokenizer)
        user_words = getattr(tokenizer, "user_words", None)
        model = store_model(clusterer=clusterer, random_state=random_state)
        result = model.fit_clusters(docs, metadata=metadata, stopwords=getattr(tokenizer, "stopwords", ()),
                                    domain_terms=domain_terms_of(user_words) if user_words else None)
        if use_cache and not store.read_only and not result.too_few:
            save_run(store, result, run_id=run_id, cache_key=cache_key)
    else:
        metadata = result.metadata
    result.metadata, result.scope, result.run_id = metadata, scope, run_id
    return apply_edits(result, load_edits(store, scope))
