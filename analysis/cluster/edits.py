"""Analysts' edits of clusters: rename, merge, hide — stored per scope and re-applied to later runs.

Edits are stored in ``cluster_edits`` per category × platform
(:attr:`ClusterScope.edit_key`), so they follow the analyst when the period changes.
An edit names a cluster by its stable identity, ``topic_uid``
(:mod:`~analysis.cluster.placement`), stored as ``uid:<topic_uid>`` in the
``label_terms`` column (a merge's target likewise in ``value``); it applies to the
cluster of any run holding that uid (a re-clustering hands uids on to the clusters
that match the old ones), and to the target a merged uid went into. Edits stored
before uids existed still name label terms and apply to the cluster sharing them
(Jaccard ≥ 0.5).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence

import pandas as pd

from analysis.cluster.labels import N_LABEL_TERMS, N_SCORED_TERMS, display_label
from analysis.cluster.result import MISC_ID, ClusterResult, ClusterScope
from analysis.errors import UserError
from analysis.store import Store


def load_edits(store: Store, scope: ClusterScope) -> pd.DataFrame:
    """The stored edits of a scope (category × platform), oldest first."""
    return store.query(
        "SELECT label_terms, action, value, edited_at FROM cluster_edits "
        "WHERE scope_key = ? ORDER BY edited_at, rowid", [scope.edit_key])


def clear_edits(store: Store, scope: ClusterScope) -> int:
    """Delete every edit of a scope; returns how many were deleted."""
    with store.transaction() as cur:
        n = cur.execute("SELECT count(*) FROM cluster_edits WHERE scope_key = ?",
                        [scope.edit_key]).fetchall()[0][0]
        cur.execute("DELETE FROM cluster_edits WHERE scope_key = ?", [scope.edit_key])
    return int(n)


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


UID_PREFIX = "uid:"


def _match(clusters: pd.DataFrame, terms: str, min_jaccard: float, aliases: dict[str, str]) -> int | None:
    """The cluster an edit names: by uid (following merges), else by label terms (older edits)."""
    if terms.startswith(UID_PREFIX):
        uid = terms[len(UID_PREFIX):]
        seen = set()
        while uid in aliases and uid not in seen:
            seen.add(uid)
            uid = aliases[uid]
        hit = clusters.loc[clusters["topic_uid"] == uid, "cluster_id"]
        return int(hit.iloc[0]) if len(hit) and int(hit.iloc[0]) >= 0 else None
    wanted = set(terms.split())
    best, best_score = None, min_jaccard
    for cid, keys in zip(clusters["cluster_id"], clusters["match_keys"]):
        if cid < 0:
            continue
        score = max((_jaccard(wanted, set(key.split())) for key in keys), default=0.0)
        if score >= best_score and (best is None or score > best_score):
            best, best_score = int(cid), score
    return best


def _merge_pairs(a: list, b: list, top: int = 3) -> list:
    total: dict[str, int] = {}
    for name, n in [*a, *b]:
        total[name] = total.get(name, 0) + int(n)
    return [[k, v] for k, v in sorted(total.items(), key=lambda kv: (-kv[1], kv[0]))[:top]]


def _merge_into(clusters: pd.DataFrame, assignments: pd.DataFrame, source: int, target: int,
                n_total: int) -> pd.DataFrame:
    """Merge ``source`` into ``target``: returns the new table, relabels ``assignments`` in place."""
    src = clusters.index[clusters["cluster_id"] == source][0]
    tgt = clusters.index[clusters["cluster_id"] == target][0]
    s, t = clusters.loc[src], clusters.loc[tgt]
    size = int(s["size"]) + int(t["size"])
    scores: dict[str, float] = {}
    for row in (s, t):
        for term, value in row["term_scores"]:
            scores[term] = scores.get(term, 0.0) + float(value) * int(row["size"]) / size
    merged = sorted(scores.items(), key=lambda kv: -kv[1])[:N_SCORED_TERMS]
    terms = [term for term, _ in merged[:N_LABEL_TERMS]]
    reps = [r for pair in zip(t["representative_ids"], s["representative_ids"]) for r in pair]
    reps += [r for r in [*t["representative_ids"], *s["representative_ids"]] if r not in reps]
    update = {
        "label": t["label"] if t["renamed"] else display_label(terms),
        "label_terms": terms, "size": size, "share": round(size / max(n_total, 1), 6),
        "coherence": round((float(s["coherence"]) * int(s["size"])
                            + float(t["coherence"]) * int(t["size"])) / size, 4),
        "top_products": _merge_pairs(s["top_products"], t["top_products"]),
        "top_brands": _merge_pairs(s["top_brands"], t["top_brands"]),
        "top_merchants": _merge_pairs(s["top_merchants"], t["top_merchants"]),
        "representative_ids": reps[:5], "hidden": bool(t["hidden"]),
        "match_keys": [*t["match_keys"], *s["match_keys"]],
        "term_scores": [[term, round(v, 6)] for term, v in merged],
    }
    for column, value in update.items():
        clusters.at[tgt, column] = value
    assignments.loc[assignments["cluster_id"] == source, "cluster_id"] = target
    return clusters.drop(index=src)


def apply_edits(result: ClusterResult, edits: pd.DataFrame, *,
                min_jaccard: float = 0.5) -> ClusterResult:
    """Apply stored edits to a result: each edit goes to the cluster it names.

    An edit names a cluster by its ``topic_uid`` (a merged uid stands for its target);
    older edits name label terms and apply to the cluster whose terms overlap most
    (Jaccard ≥ ``min_jaccard``). An edit whose cluster is not in the result is skipped.

    Args:
        result: a clustering result (left unchanged).
        edits: rows of ``label_terms`` (``uid:…`` or terms), ``action`` (rename/merge/hide), ``value``,
            oldest first (:func:`load_edits`).
        min_jaccard: the overlap needed for an edit by label terms to apply.

    Returns:
        A new :class:`ClusterResult`.
    """
    clusters = result.clusters.copy()
    assignments = result.assignments.copy()
    if edits is not None and len(edits) and not clusters.empty:
        n_total = len(assignments)
        aliases: dict[str, str] = {}
        for terms, action, value in zip(edits["label_terms"], edits["action"], edits["value"]):
            source = _match(clusters, str(terms), min_jaccard, aliases)
            if source is None:
                continue
            idx = clusters.index[clusters["cluster_id"] == source][0]
            if action == "rename":
                clusters.at[idx, "label"] = str(value)
                clusters.at[idx, "renamed"] = True
            elif action == "hide":
                clusters.at[idx, "hidden"] = str(value) != "0"
            elif action == "merge":
                target = _match(clusters, str(value or ""), min_jaccard, aliases)
                if target is not None and target != source:
                    uids = dict(zip(clusters["cluster_id"], clusters["topic_uid"]))
                    aliases[str(uids[source])] = str(uids[target])
                    clusters = _merge_into(clusters, assignments, source, target, n_total)
        clusters = clusters.reset_index(drop=True)
    n_clusters = int((clusters["cluster_id"] >= 0).sum()) if not clusters.empty else 0
    return dataclasses.replace(result, clusters=clusters, assignments=assignments,
                               n_clusters=n_clusters)


def edit_name(row: pd.Series) -> str:
    """How an edit names a cluster row: ``uid:<topic_uid>`` (label terms for a row without uid)."""
    uid = row.get("topic_uid")
    return f"{UID_PREFIX}{uid}" if isinstance(uid, str) and uid else str(row["match_keys"][0])


def _add_edit(store: Store, result: ClusterResult, cluster_id: int, action: str,
              value: str | None) -> ClusterResult:
    """Store one edit and return the result with the scope's edits re-applied."""
    if result.scope is None:
        raise UserError("这个聚类结果不是从数据库生成的，无法保存编辑。")
    if int(cluster_id) == MISC_ID:
        raise UserError("「杂项」不能重命名、合并或隐藏；请选择其他聚类。")
    row = result.cluster(cluster_id)
    with store.transaction() as cur:
        cur.execute("INSERT INTO cluster_edits VALUES (?, ?, ?, ?, ?)",
                    [result.scope.edit_key, edit_name(row), action, value, dt.datetime.now()])
    return apply_edits(result, load_edits(store, result.scope))


def rename_cluster(store: Store, result: ClusterResult, cluster_id: int, name: str) -> ClusterResult:
    """Name a cluster; the name is stored for the scope and survives re-runs.

    Raises:
        UserError: empty or over-long name, unknown cluster, or 杂项.
    """
    name = " ".join(str(name or "").split())
    if not name:
        raise UserError("新名称不能为空。")
    if len(name) > 40:
        raise UserError(f"新名称最多 40 个字，现在有 {len(name)} 个字，请缩短。")
    return _add_edit(store, result, cluster_id, "rename", name)


def hide_cluster(store: Store, result: ClusterResult, cluster_id: int, *,
                 hidden: bool = True) -> ClusterResult:
    """Hide (or show again) a cluster in the scope's tables and charts."""
    return _add_edit(store, result, cluster_id, "hide", "1" if hidden else "0")


def merge_clusters(store: Store, result: ClusterResult, sources: Sequence[int],
                   target: int) -> ClusterResult:
    """Merge clusters into ``target``; stored for the scope and re-applied after re-runs.

    Raises:
        UserError: fewer than one other cluster, unknown clusters, or 杂项.
    """
    sources = [int(s) for s in sources if int(s) != int(target)]
    if not sources:
        raise UserError("请至少选择一个要并入目标聚类的其他聚类。")
    if MISC_ID in sources or int(target) == MISC_ID:
        raise UserError("「杂项」不能参与合并；请选择其他聚类。")
    target_key = edit_name(result.cluster(target))
    for source in sources:
        result.cluster(source)
    out = result
    for source in sources:
        out = _add_edit(store, result, source, "merge", target_key)
    return out
