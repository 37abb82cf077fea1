"""What a clustering produces (:class:`ClusterResult`) and what it covers (:class:`ClusterScope`)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pandas as pd

from analysis.errors import UserError
from analysis.store import Filters

MISC_ID = -1
MISC_LABEL = "杂项"
#: Columns of :attr:`ClusterResult.clusters`.
CLUSTER_COLUMNS = ["cluster_id", "label", "label_terms", "size", "share", "coherence",
                   "top_products", "top_brands", "top_merchants", "representative_ids",
                   "hidden", "renamed", "match_keys", "term_scores", "topic_uid"]
#: Complaint columns a store run carries as :attr:`ClusterResult.metadata`.
METADATA_COLUMNS = ("complaint_id", "received_at", "category", "platform_norm", "product",
                    "brand", "merchant")


@dataclasses.dataclass(frozen=True)
class ClusterScope:
    """What to cluster: a category, a platform and a period (each optional).

    Edits are stored per category × platform (:attr:`edit_key`) so that they
    follow the analyst when the period changes; runs are cached per full scope.
    """

    category: str | None = None
    platform: str | None = None
    start: dt.date | None = None
    end: dt.date | None = None

    def filters(self) -> Filters:
        """The scope as store filters."""
        return Filters(start=self.start, end=self.end,
                       categories=(self.category,) if self.category else (),
                       platforms=(self.platform,) if self.platform else ())

    @property
    def edit_key(self) -> str:
        """Key of the scope's edits (category × platform)."""
        return f"category={self.category or '*'}|platform={self.platform or '*'}"

    @property
    def key(self) -> str:
        """Key of the full scope, period included."""
        start = self.start.isoformat() if self.start else "*"
        end = self.end.isoformat() if self.end else "*"
        return f"{self.edit_key}|start={start}|end={end}"

    def describe(self) -> str:
        """The scope in Chinese, e.g. ``食品 × 淘宝 · 2024-01-01 至 2024-03-31``."""
        parts = f"{self.category or '全部类别'} × {self.platform or '全部平台'}"
        if self.start or self.end:
            parts += f" · {self.start or '最早'} 至 {self.end or '最新'}"
        return parts


@dataclasses.dataclass
class ClusterResult:
    """The clusters of one scope.

    Attributes:
        assignments: one row per complaint: ``complaint_id``, ``cluster_id``
            (``-1`` for 杂项), ``x``, ``y`` (2-D map coordinates).
        clusters: one row per cluster, largest first, 杂项 last: ``cluster_id``,
            ``label`` (top c-TF-IDF terms or the analyst's name), ``label_terms``
            (top terms), ``size``, ``share``, ``coherence`` (mean cosine to the
            centre, 0–1), ``top_products``/``top_brands``/``top_merchants``
            (``[name, count]`` pairs), ``representative_ids`` (nearest the
            centre), ``hidden``, ``renamed``, ``match_keys`` (label terms of the
            original clusters it holds, used by edits stored before uids), ``term_scores``,
            ``topic_uid`` (the cluster's stable identity: edits name it; "" for 杂项).
        n_clusters: number of clusters found, 杂项 not counted.
        k_scores: silhouette per candidate k when k was chosen automatically.
        params: the parameters of the run (:meth:`TopicModel.run_params` and the ``k`` found).
        message: a note for the user (Chinese), e.g. why nothing was clustered.
        metadata: complaint metadata of the scope (``run_clustering`` fills it).
        scope: the scope of a store run.
        run_id: the cache key of a store run.
        placement: what places later complaints in these clusters (:mod:`~analysis.cluster.placement`):
            the vocabulary and idf of the fit, each cluster's TF-IDF centroid and threshold.
        since_run: for a stored run, ``{"added": N, "share": x}`` — complaints placed since the
            scope was clustered, and their share of the complaints clustered then.
        changes: after a re-clustering, ``{"new": [...], "gone": [...]}`` labels of the clusters
            that match no old one and of the old clusters that match no new one.
    """

    assignments: pd.DataFrame
    clusters: pd.DataFrame
    n_clusters: int
    k_scores: pd.DataFrame | None = None
    params: dict = dataclasses.field(default_factory=dict)
    message: str | None = None
    metadata: pd.DataFrame | None = None
    scope: ClusterScope | None = None
    run_id: str | None = None
    placement: dict | None = None
    since_run: dict | None = None
    changes: dict | None = None

    @property
    def too_few(self) -> bool:
        """True when the scope was too small (or too empty) to cluster."""
        return self.n_clusters == 0

    @property
    def hidden_ids(self) -> frozenset[int]:
        """Ids of the clusters an analyst hid (left out of tables, charts and the map)."""
        if self.clusters.empty:
            return frozenset()
        hidden = self.clusters["hidden"].astype(bool)
        return frozenset(int(c) for c in self.clusters.loc[hidden, "cluster_id"])

    def labels(self) -> dict[int, str]:
        """Map cluster id → display label."""
        return dict(zip(self.clusters["cluster_id"].astype(int), self.clusters["label"]))

    def cluster(self, cluster_id: int) -> pd.Series:
        """One row of the cluster table.

        Raises:
            UserError: no such cluster.
        """
        rows = self.clusters[self.clusters["cluster_id"] == int(cluster_id)]
        if rows.empty:
            raise UserError(f"没有编号为 {cluster_id} 的聚类，请刷新页面后重新选择。")
        return rows.iloc[0]


def empty_clusters() -> pd.DataFrame:
    """A cluster table without rows."""
    return pd.DataFrame({c: pd.Series(dtype=object) for c in CLUSTER_COLUMNS})
