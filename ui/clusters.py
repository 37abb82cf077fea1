"""Helpers of the 聚类探索 page: cached runs and views, display tables, edit actions.

The clustering result (every complaint's assignment) is held once per scope in
``st.cache_resource``; what the page draws (cluster table, heatmap, series, map
points, members) is small and cached with ``st.cache_data`` keyed on
:func:`ui.state.store_key` and the scope, so a re-render touches neither the
store nor the model.
"""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from analysis import cluster, plots, sampling
from analysis.cluster import MISC_ID, ClusterResult, ClusterScope
from analysis.errors import UserError
from analysis.privacy import escape_markdown, mask_series, mask_text
from analysis.store import Store
from ui import auth
from ui.state import store_key

GROWTH_DAYS = 30
_FLASH = "_clusters_flash"
#: The clustering methods offered (name → Chinese), from the package.
METHODS = cluster.CLUSTERERS


def clusterer(method: str, k: int | None):
    """The clusterer picked on the page: k-means (automatic or ``k``) or HDBSCAN (``k`` ignored)."""
    return cluster.make_clusterer(method, n_clusters=k if method == "kmeans" else None)


def _step_key(step) -> str:
    """What identifies a clusterer for the caches: its class and parameters."""
    return type(step).__name__ + json.dumps(step.get_params(), sort_keys=True, default=repr)


# Clusterers are passed to the cached functions as they are; the caches key them by parameters.
_HASH = {cluster.SphericalKMeans: _step_key, cluster.HDBSCANClusterer: _step_key}


@st.cache_data(show_spinner=False)
def scope_options(_store: Store, key: str) -> dict:
    """Categories and platforms in the store, most complaints first; its first and last day."""
    def values(column: str) -> list[str]:
        frame = _store.query(f"SELECT {column} AS v, count(*) AS n FROM complaints_enriched "
                             f"WHERE {column} IS NOT NULL GROUP BY 1 ORDER BY n DESC, v")
        return frame["v"].astype(str).tolist()
    first, last = _store.date_range()
    return {"categories": values("category"), "platforms": values("platform_norm"),
            "first": first, "last": last}


def open_period(start, end, opts: dict) -> tuple:
    """The global period with ends at the data's first or last day left open.

    The whole period is then the scope the build command clusters in advance
    (``python -m analysis build``), so its cached run is read instead of clustering again.
    """
    first, last = opts.get("first"), opts.get("last")
    return (None if start is None or (first is not None and start <= first) else start,
            None if end is None or (last is not None and end >= last) else end)


@st.cache_resource(show_spinner="正在聚类，请稍候…", max_entries=6, hash_funcs=_HASH)
def _result(_store: Store, key: str, scope: ClusterScope, clusterer) -> ClusterResult:
    return cluster.run_clustering(_store, category=scope.category, platform=scope.platform,
                                  start=scope.start, end=scope.end, clusterer=clusterer)


def get_result(store: Store, scope: ClusterScope, clusterer) -> ClusterResult:
    """The scope's clusters (computed once per store state, scope and clusterer)."""
    return _result(store, store_key(store), scope, clusterer)


def _pairs(pairs: list) -> str:
    """``name（count）、…`` with every name masked: product, brand and merchant names are free text."""
    return "、".join(f"{mask_text(str(name))}（{count}）" for name, count in pairs)


def _masked_labels(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy with the ``label`` column masked (labels are made of words from complaints, or typed)."""
    if frame is None or "label" not in getattr(frame, "columns", ()):
        return frame
    return frame.assign(label=mask_series(frame["label"].astype(str)))


@st.cache_data(show_spinner=False, max_entries=12, hash_funcs=_HASH)
def view(_store: Store, key: str, scope: ClusterScope, clusterer) -> dict:
    """Everything the page draws for a scope, small and picklable."""
    result = _result(_store, key, scope, clusterer)
    out = {"too_few": result.too_few, "message": result.message,
           "n_complaints": len(result.assignments), "n_clusters": result.n_clusters,
           "method": cluster.describe_clusterer(clusterer), "hidden": sorted(result.hidden_ids),
           "notes": cluster.run_notes(result), "since_run": result.since_run}
    if result.too_few:
        return out
    growth = cluster.cluster_growth(result, window_days=GROWTH_DAYS).set_index("cluster_id")
    table = result.clusters.copy()
    table["latest"] = table["cluster_id"].map(growth["latest"])
    table["previous"] = table["cluster_id"].map(growth["previous"])
    table["growth"] = table["cluster_id"].map(growth["growth"])
    # Everything shown is masked here, at the presentation boundary: labels, terms and the
    # product, brand and merchant names complainants typed (they may hold phone or ID numbers).
    table["products"] = table["top_products"].map(_pairs)
    table["merchants"] = table["top_merchants"].map(_pairs)
    table["brands"] = table["top_brands"].map(_pairs)
    table["label_terms"] = table["label_terms"].map(lambda terms: [mask_text(str(t)) for t in terms])
    table["keywords"] = table["label_terms"].map(" ".join)
    table = _masked_labels(table)
    out.update(
        table=table.drop(columns=["term_scores", "top_products", "top_merchants", "top_brands"]),
        misc=int(table.loc[table["cluster_id"] == MISC_ID, "size"].sum()),
        window=growth.attrs,
        per_class=_masked_labels(cluster.topics_per_class(result, by="platform_norm")),
        per_category=_masked_labels(cluster.topics_per_class(result, by="category")),
        over_time=_masked_labels(cluster.topics_over_time(result, freq=_freq(result))),
        points=_masked_labels(cluster.map_points(_store, result, max_points=4000)),
        k_scores=result.k_scores,
    )
    return out


def _freq(result: ClusterResult) -> str:
    dates = pd.to_datetime(result.metadata["received_at"]).dropna() if result.metadata is not None \
        else pd.Series(dtype="datetime64[ns]")
    if dates.empty:
        return "M"
    days = (dates.max() - dates.min()).days
    return "D" if days <= 45 else "W" if days <= 366 else "M"


@st.cache_data(show_spinner=False, max_entries=24, hash_funcs=_HASH)
def members(_store: Store, key: str, scope: ClusterScope, clusterer, cluster_id: int) -> pd.DataFrame:
    """The masked complaints of one cluster, representatives first (product and merchant masked too)."""
    frame = cluster.cluster_members(_store, _result(_store, key, scope, clusterer), cluster_id, limit=300)
    for column in ("product", "merchant"):
        if column in frame:
            masked = mask_series(frame[column].astype(object))
            frame[column] = masked.where(masked.notna(), "—")  # a missing name reads —, never None
    return frame


@st.cache_data(show_spinner=False, max_entries=12, hash_funcs=_HASH)
def figures(_store: Store, key: str, scope: ClusterScope, clusterer, show_hidden: bool) -> dict:
    """The page's plotly figures (built once per view)."""
    data = view(_store, key, scope, clusterer)
    keep = (lambda df: df) if show_hidden else (lambda df: df[~df["cluster_id"].isin(data["hidden"])])
    return {
        "map": plots.visualize_cluster_map(data["points"]),
        "platforms": plots.visualize_topics_per_class(keep(data["per_class"]), by="platform_norm"),
        "categories": plots.visualize_topics_per_class(keep(data["per_category"]), by="category"),
        "time": plots.visualize_topics_over_time(keep(data["over_time"])),
    }


TABLE_COLUMNS = {
    "cluster_id": st.column_config.NumberColumn("编号", format="%d", width="small"),
    "label": st.column_config.TextColumn("聚类标签"),
    "size": st.column_config.NumberColumn("投诉数", format="%d"),
    "share": st.column_config.NumberColumn("占比", format="percent"),
    "latest": st.column_config.NumberColumn(f"近{GROWTH_DAYS}天", format="%d"),
    "previous": st.column_config.NumberColumn(f"前{GROWTH_DAYS}天", format="%d"),
    "growth": st.column_config.NumberColumn("增长", format="percent"),
    "products": st.column_config.TextColumn("主要商品"),
    "merchants": st.column_config.TextColumn("主要商家"),
    "keywords": st.column_config.TextColumn("关键词（c-TF-IDF）"),
    "coherence": st.column_config.ProgressColumn("紧密度", min_value=0.0, max_value=1.0, format="%.2f"),
}


MEMBER_COLUMNS = ["representative", "received_at", "platform_norm", "product", "text", "merchant",
                  "category", "problem", "complaint_id"]


def _shown(table: pd.DataFrame, show_hidden: bool) -> pd.DataFrame:
    return table if show_hidden else table[~table["hidden"].astype(bool)]


def display_table(table: pd.DataFrame, *, show_hidden: bool) -> pd.DataFrame:
    """The cluster table for ``st.dataframe`` (hidden clusters marked or left out)."""
    rows = _shown(table, show_hidden)
    rows = rows.assign(label=[f"{label}（已隐藏）" if hidden else label
                              for label, hidden in zip(rows["label"], rows["hidden"])])
    return rows[list(TABLE_COLUMNS)].reset_index(drop=True)


def cluster_choices(table: pd.DataFrame, *, show_hidden: bool) -> dict[int, str]:
    """Cluster id → option text for the drill-down and edit pickers."""
    rows = _shown(table, show_hidden)
    return {int(c): f"#{c} {label}（{size} 条）" if c >= 0 else f"{label}（{size} 条）"
            for c, label, size in zip(rows["cluster_id"], rows["label"], rows["size"])}


def flash(message: str, kind: str = "success") -> None:
    """Keep a message to show after the next rerun."""
    st.session_state[_FLASH] = (kind, message)


def show_flash() -> None:
    """Show (once) the message kept by :func:`flash`."""
    kind, message = st.session_state.pop(_FLASH, (None, None))
    if message:
        getattr(st, kind)(message)


def apply_edit(store: Store, scope: ClusterScope, clusterer, action: str,
               cluster_id: int | None = None, value=None) -> None:
    """Run one edit (rename / hide / show / merge / sample / reset), keep a message and rerun.

    Raises:
        UserError: the edit is not possible, or the user's roles may not edit clusters (the page shows the message).
    """
    if not auth.can("cluster_edit"):
        raise UserError("您的角色无权编辑聚类（重命名、合并、隐藏、加入抽检候选、清除编辑）。")
    if action == "reset":
        flash(f"已清除本范围的 {cluster.clear_edits(store, scope)} 条编辑。")
        auth.audit("cluster_edit", edit=action, scope=scope.describe())
        st.rerun()
    result = get_result(store, scope, clusterer)
    label = escape_markdown(mask_text(str(result.cluster(cluster_id)["label"])))  # flashed as markdown
    if action == "rename":
        cluster.rename_cluster(store, result, cluster_id, value)
        flash(f"已将「{label}」重命名为「{escape_markdown(mask_text(' '.join(str(value).split())))}」。")
    elif action in ("hide", "show"):
        cluster.hide_cluster(store, result, cluster_id, hidden=action == "hide")
        flash(f"已{'隐藏' if action == 'hide' else '恢复显示'}「{label}」。")
    elif action == "merge":
        cluster.merge_clusters(store, result, value, cluster_id)
        flash(f"已把 {len(value)} 个聚类并入「{label}」。")
    elif action == "sample":
        added = sampling.add_sampling_candidates(store, result, cluster_id)
        if added:
            flash(f"已把「{label}」中投诉最多的 {added} 个商品加入抽检候选清单（见「抽检清单」页）。")
        else:
            flash(f"「{label}」的商品已全部在抽检候选清单中，或投诉未填写商品名称。", "info")
    auth.audit("cluster_edit", edit=action, scope=scope.describe(), cluster_id=cluster_id, label=label, value=value)
    st.rerun()


def recluster(store: Store, scope: ClusterScope, clusterer) -> None:
    """Cluster the scope again (重新聚类), keep what changed as a message and rerun."""
    result = cluster.run_clustering(store, category=scope.category, platform=scope.platform,
                                    start=scope.start, end=scope.end, clusterer=clusterer, recluster=True)
    changes = result.changes or {"new": [], "gone": []}
    flash(f"已重新聚类：{result.n_clusters} 个聚类，新出现 {len(changes['new'])} 个，消失 {len(changes['gone'])} 个；"
          "名称、合并和隐藏已按匹配的旧聚类继承。")
    auth.audit("cluster_edit", edit="recluster", scope=scope.describe())
    st.rerun()


def keep_selection(table: pd.DataFrame, choices: dict[int, str], key: str) -> None:
    """Keep the picker on the cluster chosen before: by its ``topic_uid`` when its number now
    names another cluster (after a re-clustering) or is gone; a choice the user just made stays."""
    ids = list(choices)
    chosen, remembered = st.session_state.get(key), st.session_state.get(f"{key}_uid")
    if remembered:
        was_id, uid = remembered
        now = table.loc[table["cluster_id"] == chosen, "topic_uid"]
        if chosen == was_id and (not len(now) or now.iloc[0] != uid):
            hit = table.loc[table["topic_uid"] == uid, "cluster_id"]
            if len(hit) and int(hit.iloc[0]) in ids:
                st.session_state[key] = int(hit.iloc[0])
    if st.session_state.get(key) not in ids:
        st.session_state.pop(key, None)


def remember_selection(table: pd.DataFrame, selected, key: str) -> None:
    """Keep the chosen cluster's number and ``topic_uid`` for :func:`keep_selection`."""
    hit = table.loc[table["cluster_id"] == selected, "topic_uid"] if selected is not None else []
    st.session_state[f"{key}_uid"] = (selected, str(hit.iloc[0])) if len(hit) else None
