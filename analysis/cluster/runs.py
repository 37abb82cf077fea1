"""Clustering runs in the store: run key, save/load, the newest run, and :func:`run_clustering`.

A run is cached in ``cluster_runs`` (parameters and cluster table as JSON) and
``cluster_assignments`` (one row per complaint) under a run id that names the scope,
the topic model's parameters (:meth:`TopicModel.run_params`) and the tokenizer — not
the store's data: a scope keeps its clusters when complaints are imported (issue 13,
stable clusters). Complaints added later are placed in the nearest cluster
(:func:`assign_new`, :mod:`~analysis.cluster.placement`); the scope is clustered again
on request (``recluster=True``: the 重新聚类 button, ``cluster --recluster``) or when the
complaints added since its run reach :data:`AUTO_RECLUSTER_SHARE` of those clustered
then (:data:`SUGGEST_RECLUSTER_SHARE` and more: 聚类探索 suggests it). A new run's
clusters take over the ``topic_uid`` of the old clusters they match, so names, merges
and hides carry over (:func:`~analysis.cluster.placement.inherit_uids`).
:func:`run_summary` and :func:`latest_run` read a run's table without its assignments;
they are the one reader of the run JSON.
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
from analysis.cluster.placement import centroid_terms, inherit_uids, place, topic_uid
from analysis.cluster.result import (
    CLUSTER_COLUMNS,
    METADATA_COLUMNS,
    MISC_ID,
    MISC_LABEL,
    ClusterResult,
    ClusterScope,
    empty_clusters,
)
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
    tokenizer's fingerprint. The run id is a digest of the cache key: it does not change
    when complaints are added (they are placed by :func:`assign_new`). ``store`` is
    kept for the signature's sake.

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
    run_id = hashlib.blake2b(cache_key.encode(), digest_size=12).hexdigest()
    return run_id, cache_key


#: Complaints added since a scope's run, as a share of those clustered then, from which
#: :func:`run_clustering` clusters the scope again by itself.
AUTO_RECLUSTER_SHARE = 0.5
#: … and from which 聚类探索 suggests 重新聚类.
SUGGEST_RECLUSTER_SHARE = 0.1


def scope_of(cache_key: str) -> ClusterScope:
    """The scope named by a run's cache key (``category=…|platform=…|start=…|end=…|model=…``)."""
    fields = dict(part.split("=", 1) for part in cache_key.split("|") if "=" in part)

    def value(name):
        v = fields.get(name, "*")
        return None if v == "*" else v

    day = (lambda v: dt.date.fromisoformat(v) if v else None)
    return ClusterScope(category=value("category"), platform=value("platform"),
                        start=day(value("start")), end=day(value("end")))


def _members(assignments: pd.DataFrame) -> dict[int, set]:
    return {int(c): set(ids) for c, ids in assignments.groupby("cluster_id")["complaint_id"] if int(c) >= 0}


def _old_clusters(store: Store, edit_key: str) -> tuple[list[dict], dict[str, list]]:
    """The clusters of the stored runs of a category × platform (for :func:`inherit_uids`),
    and per run id its clusters' ``(uid, label)``."""
    cur = store.cursor()
    runs = cur.execute("SELECT run_id, clusters_json FROM cluster_runs WHERE starts_with(scope_key, ?) "
                       "ORDER BY created_at DESC", [f"{edit_key}|"]).fetchall()
    out, seen, labels = [], set(), {}
    for run_id, payload_json in runs:
        try:
            payload = json.loads(payload_json)
        except (TypeError, ValueError):
            continue
        rows = cur.execute("SELECT complaint_id, cluster_id FROM cluster_assignments WHERE run_id = ?",
                           [run_id]).df()
        members = _members(rows)
        placement = payload.get("placement") or {}
        position = {u: i for i, u in enumerate(placement.get("uids", []))}
        labels[run_id] = []
        for c in payload.get("clusters", []):
            uid, cid = c.get("topic_uid"), int(c.get("cluster_id", -1))
            if cid < 0 or not uid:
                continue
            labels[run_id].append((uid, str(c.get("label", ""))))
            if uid in seen:
                continue
            seen.add(uid)
            out.append({"uid": uid, "members": members.get(cid, set()),
                        "centroid": centroid_terms(placement, position[uid]) if uid in position else {}})
    return out, labels


def save_run(store: Store, result: ClusterResult, *, run_id: str, cache_key: str,
             tokenizer_fingerprint: str | None = None) -> ClusterResult:
    """Cache a run under its :func:`run_key`, replacing older runs of the same cache key.

    Its clusters take over the ``topic_uid`` of the stored clusters of the same category ×
    platform they match (:func:`~analysis.cluster.placement.inherit_uids`: member overlap,
    else centroid similarity), so the analysts' edits carry over.

    Returns:
        The result with the uids it was saved with and ``changes`` (when it replaced a run):
        labels of the clusters that are new and of the old ones that disappeared.
    """
    clusters = result.clusters.copy()
    members = _members(result.assignments)
    if "topic_uid" not in clusters or clusters["topic_uid"].isna().any():
        clusters["topic_uid"] = [topic_uid(sorted(members.get(int(c), ()))) if int(c) >= 0 else ""
                                 for c in clusters["cluster_id"]]
    placement = dict(result.placement or {})
    uid_of = dict(zip(clusters["cluster_id"].astype(int), clusters["topic_uid"]))
    if placement:
        placement["uids"] = [uid_of[c] for c in range(len(placement.get("centroids", [])))]
    scope = scope_of(cache_key)
    old, old_labels = _old_clusters(store, scope.edit_key)
    new = [{"uid": uid_of[c], "members": members.get(c, set()),
            "centroid": centroid_terms(placement, c) if placement.get("centroids") else {}}
           for c in sorted(uid_of) if c >= 0]
    inherited = inherit_uids(new, old)
    clusters["topic_uid"] = [inherited.get(u, u) for u in clusters["topic_uid"]]
    if placement:
        placement["uids"] = [inherited.get(u, u) for u in placement["uids"]]
    changes = None
    if run_id in old_labels:
        before = dict(old_labels[run_id])
        now = {u: label for u, label, c in zip(clusters["topic_uid"], clusters["label"], clusters["cluster_id"])
               if int(c) >= 0}
        changes = {"new": [now[u] for u in now if u not in before],
                   "gone": [before[u] for u in before if u not in now]}
    payload = {
        "clusters": clusters.to_dict(orient="records"),
        "n_clusters": result.n_clusters,
        "k_scores": None if result.k_scores is None else result.k_scores.to_dict(orient="list"),
        "message": result.message,
        "n_clustered": int(len(result.assignments)),
        "tokenizer": tokenizer_fingerprint,
        "changes": changes,
        "placement": placement or None,
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
    return dataclasses.replace(result, clusters=clusters, placement=placement or None, changes=changes,
                               since_run={"added": 0, "share": 0.0})


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
    clusters = _current_sizes(pd.DataFrame.from_records(payload["clusters"], columns=CLUSTER_COLUMNS),
                              assignments, run_id)
    k_scores = None if payload.get("k_scores") is None else pd.DataFrame(payload["k_scores"])
    n_clustered = int(payload.get("n_clustered") or len(assignments))
    added = max(len(assignments) - n_clustered, 0)
    return ClusterResult(assignments=assignments, clusters=clusters,
                         n_clusters=int(payload["n_clusters"]), k_scores=k_scores,
                         params=params, message=payload.get("message"), metadata=metadata,
                         placement=payload.get("placement"), changes=payload.get("changes"),
                         since_run={"added": added, "share": added / max(n_clustered, 1)})


def _current_sizes(clusters: pd.DataFrame, assignments: pd.DataFrame, run_id: str) -> pd.DataFrame:
    """The stored cluster table with sizes and shares counted from the assignments (complaints
    placed since the run included), a 杂项 row when it holds complaints, a uid on every cluster."""
    if clusters.empty:
        return empty_clusters()
    clusters = clusters.copy()
    missing = clusters["topic_uid"].isna()
    if missing.any():  # a run saved before clusters had uids
        clusters.loc[missing, "topic_uid"] = [f"{run_id[:6]}{int(c):04d}" if int(c) >= 0 else ""
                                              for c in clusters.loc[missing, "cluster_id"]]
    sizes = assignments["cluster_id"].value_counts()
    if sizes.get(MISC_ID, 0) and not (clusters["cluster_id"] == MISC_ID).any():
        misc = {c: None for c in CLUSTER_COLUMNS}
        misc.update(cluster_id=MISC_ID, label=MISC_LABEL, label_terms=[], coherence=0.0, top_products=[],
                    top_brands=[], top_merchants=[], representative_ids=[], hidden=False, renamed=False,
                    match_keys=[], term_scores=[], topic_uid="")
        clusters = pd.concat([clusters, pd.DataFrame([misc], columns=CLUSTER_COLUMNS)], ignore_index=True)
    clusters["size"] = [int(sizes.get(int(c), 0)) for c in clusters["cluster_id"]]
    clusters["share"] = [round(int(n) / max(len(assignments), 1), 6) for n in clusters["size"]]
    return clusters


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
    recluster: bool = False,
) -> ClusterResult:
    """Cluster the complaints of a scope in the store, with caching and the analysts' edits.

    Reads the stored run of the same scope and parameters, placing the scope's
    complaints added since (:func:`assign_new`), or clusters the scope's tokens with
    :func:`store_model` when there is no run, on ``recluster`` or when the added
    complaints reach :data:`AUTO_RECLUSTER_SHARE`; then applies the scope's stored edits. The store is read as it is: open it with
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
        recluster: cluster the scope again even when it has a stored run (the new run
            inherits the old clusters' uids, hence their edits).

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
    result = load_run(store, run_id) if use_cache and not recluster else None
    if result is not None and not store.read_only and _assign_run(store, run_id, scope, tokenizer):
        result = load_run(store, run_id)
    if result is not None and result.since_run["share"] >= AUTO_RECLUSTER_SHARE:
        result = None
    if result is None:
        metadata, docs = scope_documents(store, scope, tokenizer=tokenizer)
        user_words = getattr(tokenizer, "user_words", None)
        model = store_model(clusterer=clusterer, random_state=random_state)
        result = model.fit_clusters(docs, metadata=metadata, stopwords=getattr(tokenizer, "stopwords", ()),
                                    domain_terms=domain_terms_of(user_words) if user_words else None)
        if use_cache and not store.read_only and not result.too_few:
            result = save_run(store, result, run_id=run_id, cache_key=cache_key,
                              tokenizer_fingerprint=tokenizer.fingerprint)
    else:
        metadata = result.metadata
    result.metadata, result.scope, result.run_id = metadata, scope, run_id
    return apply_edits(result, load_edits(store, scope))


def _assign_run(store: Store, run_id: str, scope: ClusterScope, tokenizer, payload: dict | None = None) -> int:
    """Place the scope's complaints that the run has not assigned yet; returns how many."""
    from analysis import segment

    if payload is None:
        row = store.cursor().execute("SELECT clusters_json FROM cluster_runs WHERE run_id = ?", [run_id]).fetchone()
        if row is None:
            return 0
        payload = json.loads(row[0])
    placement = payload.get("placement")
    if not placement or payload.get("tokenizer") not in (None, tokenizer.fingerprint):
        return 0
    where, params = scope.filters().where()
    where = (f"({where}) AND complaint_id NOT IN "
             "(SELECT complaint_id FROM cluster_assignments WHERE run_id = ?)")
    tokens = segment.load_tokens(store, tokenizer, where=where, params=[*params, run_id], ensure=not store.read_only)
    if tokens.empty:
        return 0
    labels, _ = place(tokens["tokens"].fillna("").tolist(), placement)
    xy = np.asarray(placement.get("xy") or [[0.0, 0.0]] * len(placement["centroids"]), dtype=np.float64)
    nearest = np.where(labels >= 0, labels, 0)
    frame = pd.DataFrame({"run_id": run_id, "complaint_id": tokens["complaint_id"].astype(str),
                          "cluster_id": labels.astype(np.int32),
                          "x": xy[nearest, 0], "y": xy[nearest, 1]})
    with store.transaction() as cur:
        cur.register("_cluster_assignments_added", frame)
        try:
            cur.execute("INSERT INTO cluster_assignments SELECT * FROM _cluster_assignments_added")
        finally:
            cur.unregister("_cluster_assignments_added")
    return len(frame)


def assign_new(store: Store, *, tokenizer=None) -> dict:
    """Place every stored run's new complaints: those of its scope it has not assigned yet.

    Each goes to the nearest cluster of the run, or to 杂项 (新出现/杂项) when it is further
    from it than the cluster's threshold (:mod:`~analysis.cluster.placement`). Clusters,
    their uids and the analysts' edits stay as they are. Called at the enrichment
    boundary (:func:`analysis.enrich.ensure_enriched`) after an import.

    Returns:
        ``{"runs": runs that got complaints, "assigned": complaints placed, "misc": of them in 杂项}``.
    """
    if store.read_only:
        return {"runs": 0, "assigned": 0, "misc": 0}
    if tokenizer is None:
        from analysis import segment

        tokenizer = segment.Tokenizer()
    runs = store.cursor().execute("SELECT run_id, scope_key, clusters_json FROM cluster_runs").fetchall()
    out = {"runs": 0, "assigned": 0, "misc": 0}
    for run_id, cache_key, payload_json in runs:
        try:
            payload = json.loads(payload_json)
        except (TypeError, ValueError):
            continue
        before = store.scalar("SELECT count(*) FROM cluster_assignments WHERE run_id = ? AND cluster_id = ?",
                              [run_id, MISC_ID])
        n = _assign_run(store, run_id, scope_of(cache_key), tokenizer, payload)
        if n:
            out["runs"] += 1
            out["assigned"] += n
            out["misc"] += int(store.scalar("SELECT count(*) FROM cluster_assignments WHERE run_id = ? "
                                            "AND cluster_id = ?", [run_id, MISC_ID]) - before)
    return out


def run_notes(result: ClusterResult) -> list[str]:
    """What the user should know about a stored run (Chinese): that the all-category scope is not
    clustered within categories, complaints placed since it was made
    (with the 重新聚类 suggestion past :data:`SUGGEST_RECLUSTER_SHARE`), and after a re-clustering
    the clusters that are new and those that disappeared."""
    notes = []
    if result.scope is not None and result.scope.category is None:
        notes.append("全部类别范围按投诉文本聚类，不先按类别分开：不同类别的商品可能落在同一聚类中；"
                     "分析具体商品问题时请选择单一类别。")
    since = result.since_run or {}
    if since.get("added"):
        line = f"本范围自上次聚类新增 {since['added']:,} 件（{since['share']:.0%}）"
        notes.append(f"{line}，建议重新聚类。" if since["share"] >= SUGGEST_RECLUSTER_SHARE
                     else f"{line}，已归入最接近的聚类（离所有聚类都远的归入杂项）。")
    changes = result.changes or {}
    if changes.get("new") or changes.get("gone"):
        notes.append(f"重新聚类：新出现 {len(changes.get('new', []))} 个聚类"
                     f"{'（' + '、'.join(changes['new']) + '）' if changes.get('new') else ''}，"
                     f"消失 {len(changes.get('gone', []))} 个"
                     f"{'（' + '、'.join(changes['gone']) + '）' if changes.get('gone') else ''}；"
                     "其余聚类沿用原来的名称、合并和隐藏。")
    return notes
