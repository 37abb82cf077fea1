"""Views of a clustering result: topics per class and over time, growth, members, map points.

Like BERTopic's ``topics_per_class`` / ``topics_over_time``, on the result's
metadata; hidden clusters (:attr:`ClusterResult.hidden_ids`) are left out unless asked for.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import pandas as pd

from analysis.cluster.result import MISC_ID, MISC_LABEL, ClusterResult
from analysis.errors import UserError
from analysis.store import Store


def _aligned(assignments: pd.DataFrame, meta: pd.DataFrame) -> bool:
    """True when ``meta`` holds the assignments' complaints in the same order, once each."""
    if len(meta) != len(assignments) or "complaint_id" not in meta.columns:
        return False
    ids, meta_ids = assignments["complaint_id"], meta["complaint_id"]
    if ids.dtype == meta_ids.dtype:  # Arrow-backed strings compare without a copy
        return bool(ids.reset_index(drop=True).equals(meta_ids.reset_index(drop=True)))
    return bool((ids.to_numpy(dtype=object) == meta_ids.to_numpy(dtype=object)).all())


def _with_metadata(result: ClusterResult, metadata: pd.DataFrame | None, column: str,
                   include_hidden: bool) -> pd.DataFrame:
    meta = result.metadata if metadata is None else metadata
    if meta is None or column not in meta.columns:
        raise UserError(f"缺少「{column}」列，无法按它统计聚类。")
    if _aligned(result.assignments, meta):  # a cached run's metadata: no join needed
        frame = pd.DataFrame({"complaint_id": result.assignments["complaint_id"].reset_index(drop=True),
                              "cluster_id": result.assignments["cluster_id"].reset_index(drop=True),
                              column: meta[column].reset_index(drop=True)})
    else:
        frame = result.assignments[["complaint_id", "cluster_id"]].merge(
            meta[["complaint_id", column]].drop_duplicates("complaint_id"), on="complaint_id",
            how="left")
    if not include_hidden:
        frame = frame[~frame["cluster_id"].isin(result.hidden_ids)]
    return frame


def _label_column(result: ClusterResult, ids: pd.Series) -> pd.Series:
    labels = result.labels()
    return ids.map(lambda c: labels.get(int(c), MISC_LABEL if int(c) == MISC_ID else str(c)))


def topics_per_class(result: ClusterResult, metadata: pd.DataFrame | None = None, *,
                     by: str = "platform_norm", include_hidden: bool = False) -> pd.DataFrame:
    """Cluster sizes per class (platform, category …), like BERTopic's topics per class.

    Args:
        result: the clusters.
        metadata: frame with ``complaint_id`` and ``by`` (default: ``result.metadata``).
        by: the class column.
        include_hidden: keep hidden clusters.

    Returns:
        Columns ``cluster_id``, ``label``, ``<by>``, ``count``, ``share_of_class``
        (of the class's complaints, in this cluster), ``share_of_cluster``.
    """
    frame = _with_metadata(result, metadata, by, include_hidden)
    frame[by] = frame[by].astype("string").fillna("（未填写）")
    out = frame.groupby(["cluster_id", by], sort=True).size().rename("count").reset_index()
    out["share_of_class"] = out["count"] / out.groupby(by)["count"].transform("sum")
    out["share_of_cluster"] = out["count"] / out.groupby("cluster_id")["count"].transform("sum")
    out.insert(1, "label", _label_column(result, out["cluster_id"]))
    out["_misc"] = out["cluster_id"] == MISC_ID
    out = out.sort_values(["_misc", "cluster_id", "count"], ascending=[True, True, False])
    return out.drop(columns="_misc").reset_index(drop=True)


def topics_over_time(result: ClusterResult, metadata: pd.DataFrame | None = None, *,
                     freq: str = "M", include_hidden: bool = False) -> pd.DataFrame:
    """Complaints per cluster and period (zeros filled), like BERTopic's topics over time.

    Args:
        result: the clusters.
        metadata: frame with ``complaint_id`` and ``received_at`` (default: ``result.metadata``).
        freq: period: ``"D"``, ``"W"``, ``"M"``, ``"Q"`` or ``"Y"``.
        include_hidden: keep hidden clusters.

    Returns:
        Columns ``cluster_id``, ``label``, ``period`` (start of the period), ``count``.
    """
    if freq not in ("D", "W", "M", "Q", "Y"):
        raise UserError(f"不支持的时间粒度「{freq}」，可选 D/W/M/Q/Y。")
    frame = _with_metadata(result, metadata, "received_at", include_hidden)
    frame = frame[frame["received_at"].notna()]
    if frame.empty:
        return pd.DataFrame({"cluster_id": pd.Series(dtype=np.int64), "label": pd.Series(dtype=object),
                             "period": pd.Series(dtype="datetime64[ns]"),
                             "count": pd.Series(dtype=np.int64)})
    periods = pd.to_datetime(frame["received_at"]).dt.to_period(freq)
    counts = frame.groupby([frame["cluster_id"], periods.rename("period")]).size()
    full = pd.period_range(periods.min(), periods.max(), freq=freq)
    index = pd.MultiIndex.from_product([sorted(frame["cluster_id"].unique()), full],
                                       names=["cluster_id", "period"])
    out = counts.reindex(index, fill_value=0).rename("count").reset_index()
    out["period"] = out["period"].dt.start_time
    out["count"] = out["count"].astype(np.int64)
    out.insert(1, "label", _label_column(result, out["cluster_id"]))
    return out


def cluster_growth(result: ClusterResult, metadata: pd.DataFrame | None = None, *,
                   window_days: int = 30, end: dt.date | None = None,
                   include_hidden: bool = True) -> pd.DataFrame:
    """Complaints per cluster in the latest window against the window before it.

    Windows are whole days ending at ``end`` (default: the scope's last day), so a
    partly-elapsed month does not look like a fall.

    Returns:
        Columns ``cluster_id``, ``label``, ``latest``, ``previous``, ``change``
        and ``growth`` (relative change; NaN when the previous window is empty).
        ``attrs`` holds ``latest_start``, ``latest_end``, ``previous_start``.
    """
    if window_days < 1:
        raise UserError("增长窗口至少为 1 天。")
    frame = _with_metadata(result, metadata, "received_at", include_hidden)
    days = pd.to_datetime(frame["received_at"]).dt.normalize()
    ids = sorted(result.assignments["cluster_id"].unique()) if len(result.assignments) else []
    out = pd.DataFrame({"cluster_id": pd.Series(ids, dtype=np.int64)})
    if not include_hidden:
        out = out[~out["cluster_id"].isin(result.hidden_ids)]
    last = pd.Timestamp(end) if end is not None else days.max()
    if pd.isna(last):
        out["latest"] = out["previous"] = out["change"] = 0
        out["growth"] = np.nan
    else:
        latest_start = last - pd.Timedelta(days=window_days - 1)
        previous_start = latest_start - pd.Timedelta(days=window_days)
        in_latest = (days >= latest_start) & (days <= last)
        in_previous = (days >= previous_start) & (days < latest_start)
        latest = frame.loc[in_latest].groupby("cluster_id").size()
        previous = frame.loc[in_previous].groupby("cluster_id").size()
        out["latest"] = out["cluster_id"].map(latest).fillna(0).astype(np.int64)
        out["previous"] = out["cluster_id"].map(previous).fillna(0).astype(np.int64)
        out["change"] = out["latest"] - out["previous"]
        out["growth"] = np.where(out["previous"] > 0,
                                 out["change"] / out["previous"].where(out["previous"] > 0, 1),
                                 np.nan)
        out.attrs.update(latest_start=latest_start.date(), latest_end=last.date(),
                         previous_start=previous_start.date())
    out.insert(1, "label", _label_column(result, out["cluster_id"]))
    return out.reset_index(drop=True)


# --------------------------------------------------------------------------- drill-down
def _fetch_by_ids(store: Store, ids: Sequence[str], columns: str, *,
                  source: str = "complaints_enriched") -> pd.DataFrame:
    """Rows of ``source`` (aliased ``c``) for ``ids``, in the order of ``ids``.

    ``source="complaints"`` skips the join with the enrichment when only complaint
    columns are needed (e.g. the text).
    """
    cur = store.cursor()
    frame = pd.DataFrame({"complaint_id": pd.Series(list(ids), dtype=object),
                          "_order": np.arange(len(ids))})
    cur.register("_cluster_ids", frame)
    try:
        return cur.sql(
            f"SELECT i._order, {columns} FROM _cluster_ids i "
            f"JOIN {source} c ON c.complaint_id = i.complaint_id ORDER BY i._order"
        ).to_arrow_table().to_pandas().drop(columns="_order")
    finally:
        cur.unregister("_cluster_ids")
        cur.close()


def cluster_members(store: Store, result: ClusterResult, cluster_id: int, *,
                    limit: int = 200) -> pd.DataFrame:
    """The complaints of one cluster, representatives first then newest, text masked.

    Returns:
        Columns ``complaint_id``, ``received_at``, ``platform_norm``, ``category``,
        ``product``, ``merchant``, ``problem``, ``text`` (masked with
        :func:`analysis.privacy.mask_series`), ``representative``.
    """
    from analysis.privacy import mask_series

    row = result.cluster(cluster_id)
    members = result.assignments.loc[result.assignments["cluster_id"] == int(cluster_id),
                                     "complaint_id"]
    reps = [r for r in row["representative_ids"] if r in set(members)]
    if result.metadata is not None and "received_at" in result.metadata.columns:
        dates = result.metadata.set_index("complaint_id")["received_at"]
        rest = members[~members.isin(reps)]
        rest = rest.iloc[np.argsort(-dates.reindex(rest).fillna(pd.Timestamp.min)
                                    .to_numpy().astype("datetime64[ns]").astype(np.int64),
                                    kind="stable")]
    else:
        rest = members[~members.isin(reps)]
    ids = [*reps, *rest.tolist()][:limit]
    frame = _fetch_by_ids(store, ids, "c.complaint_id, c.received_at, c.platform_norm, c.category, "
                                      "c.product, c.merchant, c.problem, c.text")
    frame["text"] = mask_series(frame["text"].fillna(""))
    frame["representative"] = frame["complaint_id"].isin(reps)
    return frame.reset_index(drop=True)


def map_points(store: Store, result: ClusterResult, *, max_points: int = 4000,
               snippet: int = 80, random_state: int = 0) -> pd.DataFrame:
    """Points of the 2-D map: a sample of complaints with label and masked text snippet.

    Returns:
        Columns ``complaint_id``, ``x``, ``y``, ``cluster_id``, ``label``, ``text``
        (masked, at most ``snippet`` characters); hidden clusters left out.
    """
    from analysis.privacy import mask_series

    points = result.assignments
    points = points[~points["cluster_id"].isin(result.hidden_ids)]
    if len(points) > max_points:
        points = points.sample(n=max_points, random_state=random_state).sort_index()
    points = points.reset_index(drop=True)
    texts = _fetch_by_ids(store, points["complaint_id"].tolist(), "c.complaint_id, c.text",
                          source="complaints")
    text_of = dict(zip(texts["complaint_id"], texts["text"].fillna("")))
    raw = points["complaint_id"].map(text_of).fillna("")
    masked = mask_series(raw.astype(str))
    cut = masked.str.slice(0, snippet)
    points = points.assign(label=_label_column(result, points["cluster_id"]),
                           text=cut.where(masked.str.len() <= snippet, cut + "…"))
    return points[["complaint_id", "x", "y", "cluster_id", "label", "text"]]
