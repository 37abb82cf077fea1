"""The topic model: complaints' tokens → clusters with labels, in replaceable steps.

:class:`TopicModel` chains, as BERTopic does, one object per step:

1. ``vectorizer`` (:class:`~analysis.cluster.vectorize.TermVectorizer`): term counts,
   then sublinear TF-IDF; duplicate texts are counted once, weighted by how often
   they occur;
2. ``reducer`` (:class:`~analysis.cluster.reduce.LSA`): unit-length LSA vectors;
3. ``clusterer`` (:class:`~analysis.cluster.clusterers.SphericalKMeans` by default, or
   :class:`~analysis.cluster.clusterers.HDBSCANClusterer`, or any object with
   ``fit_predict(Z, sample_weight=None)``; label ``-1`` is 杂项);
4. ``refiner`` (:class:`~analysis.cluster.refine.MixtureRefiner`): EM on the term counts;
5. small or incoherent clusters are gathered as 杂项 (``min_cluster_size``,
   ``min_coherence``, ``min_relative_coherence``); clusters whose top label terms
   overlap are merged (``merge_label_overlap``);
6. ``labeller`` (:class:`~analysis.cluster.labels.ClassTfidfLabeller`): c-TF-IDF label
   terms and phrases; representative complaints nearest the centre; top products,
   brands and merchants;
7. the 2-D map (:func:`analysis.cluster.projection.project`).

Steps are scikit-learn estimators (``get_params``); :meth:`TopicModel.run_params` flattens
them into the parameters that key a cached run.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from threadpoolctl import threadpool_limits

from analysis.cluster._util import relabel_compact
from analysis.cluster.clusterers import SphericalKMeans
from analysis.cluster.labels import ClassTfidfLabeller, default_domain_terms, display_label
from analysis.cluster.placement import fit_placement, topic_uid
from analysis.cluster.projection import project
from analysis.cluster.reduce import LSA
from analysis.cluster.refine import MixtureRefiner
from analysis.cluster.result import CLUSTER_COLUMNS, MISC_ID, MISC_LABEL, ClusterResult, empty_clusters
from analysis.cluster.vectorize import TermVectorizer, default_stopwords
from analysis.errors import UserError

MIN_COMPLAINTS = 30
#: Part of every run's parameters: bump it when the same parameters give other clusters.
PIPELINE_VERSION = "cluster-v6"
#: Label terms compared when merging clusters (:class:`TopicModel` ``merge_label_overlap``).
MERGE_TOP_TERMS = 3
#: The replaceable steps of :class:`TopicModel`, in order.
STEPS = ("vectorizer", "reducer", "clusterer", "refiner", "labeller")


@dataclasses.dataclass
class _Corpus:
    """The complaints of one fit, deduplicated: what every step after counting reads."""

    ids: list[str]            # complaint ids, in input order
    meta: pd.DataFrame        # metadata aligned with ``ids``
    codes: np.ndarray         # complaint → its unique text
    uniques: np.ndarray       # the unique token strings
    weights: np.ndarray       # complaints per unique text
    counts: sp.csr_matrix     # term counts of the unique texts
    terms: np.ndarray         # the vocabulary
    rows: np.ndarray          # unique texts holding a term: the ones clustered

    @property
    def n(self) -> int:
        """Number of complaints."""
        return len(self.ids)

    @property
    def n_text(self) -> int:
        """Complaints whose text holds a term."""
        return int(self.weights[self.rows].sum())


@dataclasses.dataclass
class _Groups:
    """Clusters after 杂项 is gathered, over the clustered unique texts."""

    final: np.ndarray         # per clustered text: 0 … n_final-1 (largest first) or MISC_ID
    order: list[int]          # final cluster → the cluster it was before
    sizes: np.ndarray         # per cluster before, weighted
    coherence: np.ndarray     # per cluster before
    centres: np.ndarray       # per cluster before (the last row: noise)
    sims: np.ndarray          # per clustered text: cosine to its centre


class TopicModel(BaseEstimator):
    """Clusters of complaints from their tokens, built from replaceable steps.

    Args:
        vectorizer: term counts and TF-IDF (default :class:`TermVectorizer`).
        reducer: dense unit vectors from TF-IDF (default :class:`LSA`).
        clusterer: ``fit_predict(Z, sample_weight=None)`` → labels, ``-1`` = 杂项
            (default :class:`SphericalKMeans` with automatic k).
        refiner: ``refine(counts, labels, sample_weight)`` (default :class:`MixtureRefiner`).
        labeller: label terms per cluster (default :class:`ClassTfidfLabeller`).
        min_complaints: fewer complaints than this are not clustered.
        min_cluster_size: clusters smaller than this go to 杂项
            (default ``max(3, 0.5 %`` of the complaints``)``).
        min_coherence: clusters whose mean cosine to the centre is lower go to 杂项.
        min_relative_coherence: with four clusters or more, clusters smaller than the
            median cluster and less coherent than this fraction of the median coherence
            also go to 杂项 (large loose clusters stay: they are still a topic to read).
        merge_label_overlap: clusters sharing at least this many of their top
            :data:`MERGE_TOP_TERMS` label terms are merged (one topic split by wording;
            ``None``: never).
        random_state: seed of the map and of every step whose ``random_state`` is ``None``.

    Steps are copied before fitting (the objects given are left unfitted); the fitted
    copies are kept in ``steps_``.
    """

    def __init__(self, *, vectorizer=None, reducer=None, clusterer=None, refiner=None, labeller=None,
                 min_complaints: int = MIN_COMPLAINTS, min_cluster_size: int | None = None,
                 min_coherence: float = 0.05, min_relative_coherence: float = 0.6,
                 merge_label_overlap: int | None = 2, random_state: int = 0):
        self.vectorizer = vectorizer
        self.reducer = reducer
        self.clusterer = clusterer
        self.refiner = refiner
        self.labeller = labeller
        self.min_complaints = min_complaints
        self.min_cluster_size = min_cluster_size
        self.min_coherence = min_coherence
        self.min_relative_coherence = min_relative_coherence
        self.merge_label_overlap = merge_label_overlap
        self.random_state = random_state

    # ------------------------------------------------------------------ parameters
    def resolved_steps(self) -> dict[str, object]:
        """Fresh copies of the steps, defaults filled in, ``random_state=None`` set to the model's."""
        defaults = {"vectorizer": TermVectorizer, "reducer": LSA,
                    "clusterer": lambda: SphericalKMeans(min_cluster_size=self.min_cluster_size),
                    "refiner": MixtureRefiner, "labeller": ClassTfidfLabeller}
        steps = {}
        for name in STEPS:
            given = getattr(self, name)
            step = defaults[name]() if given is None else _fresh(given)
            if hasattr(step, "get_params") and "random_state" in step.get_params(deep=False) \
                    and step.get_params(deep=False)["random_state"] is None:
                step.set_params(random_state=self.random_state)
            steps[name] = step
        return steps

    def run_params(self) -> dict:
        """The model's parameters, flat and JSON-safe (``clusterer``, ``clusterer__n_clusters`` …).

        The run key of a cached run is derived from them: two models with the same
        run parameters give the same clusters.
        """
        params = {k: _plain(v) for k, v in self.get_params(deep=False).items() if k not in STEPS}
        for name, step in self.resolved_steps().items():
            params[name] = type(step).__name__
            if hasattr(step, "get_params"):
                for key, value in sorted(step.get_params(deep=False).items()):
                    params[f"{name}__{key}"] = _plain(value)
            else:  # no parameters to read: its repr (an object address never matches another run)
                params[f"{name}__repr"] = repr(step)
        params["version"] = PIPELINE_VERSION
        return params

    # ------------------------------------------------------------------ fitting
    def fit_clusters(self, tokens: Sequence[str], *, metadata: pd.DataFrame | None = None,
                     stopwords: Iterable[str] = (), domain_terms: Mapping[str, str] | None = None) -> ClusterResult:
        """Cluster complaints from their tokens.

        Args:
            tokens: one space-joined token string per complaint (``segment.Tokenizer.cut_many``).
            metadata: optional frame aligned with ``tokens`` (same order): ``complaint_id``
                and any of ``product``, ``brand``, ``merchant``.
            stopwords: extra stop words (the clustering stop words are always used).
            domain_terms: word → tag of the regulator's dictionary, for labels
                (default: ``data/dict/userdict.txt``, see :func:`domain_terms_of`).

        Returns:
            A :class:`ClusterResult`; ``too_few`` is set (with a Chinese ``message``)
            when there is not enough text to cluster.
        """
        docs = ["" if t is None or (isinstance(t, float) and math.isnan(t)) else str(t) for t in tokens]
        n = len(docs)
        if metadata is not None and len(metadata) != n:
            raise UserError(f"元数据有 {len(metadata)} 行，与 {n} 条分词结果不一致。")
        meta = metadata.reset_index(drop=True) if metadata is not None else pd.DataFrame(index=range(n))
        ids = (meta["complaint_id"].astype(str).tolist() if "complaint_id" in meta.columns
               else [str(i) for i in range(n)])
        params = self.run_params()
        if n < self.min_complaints:
            return _too_few_result(ids, f"当前范围只有 {n} 条投诉，少于 {self.min_complaints} 条，无法聚类。"
                                        "请扩大时间范围，或选择更大的类别/平台范围。", params)
        self.steps_ = steps = self.resolved_steps()
        stop = default_stopwords() | frozenset(w.lower() for w in stopwords)
        codes, uniques = pd.factorize(pd.Series(docs, dtype=object))
        weights = np.bincount(codes).astype(np.float64)
        counts = steps["vectorizer"].fit_transform(list(uniques), weights, stopwords=stop)
        rows = np.flatnonzero(np.asarray(counts.sum(axis=1)).ravel() > 0)
        corpus = _Corpus(ids=ids, meta=meta, codes=codes, uniques=np.asarray(uniques, dtype=object),
                         weights=weights, counts=counts, terms=steps["vectorizer"].terms_, rows=rows)
        if corpus.n_text < self.min_complaints:
            return _too_few_result(
                ids, f"{n} 条投诉中只有 {corpus.n_text} 条含有可用于聚类的词语（其余为空、重复字符或只有常用词），"
                     f"少于 {self.min_complaints} 条，无法聚类。", params)
        # One BLAS/OpenMP thread: the heavy steps are memory-bound or small, and threads spinning
        # against other work on a shared 2-core server made runs 3x slower, never faster.
        with threadpool_limits(1):
            domain = (default_domain_terms() if domain_terms is None
                      else {str(k).lower(): str(v or "") for k, v in domain_terms.items()})
            return self._fit_corpus(corpus, steps, stopwords=stop, domain_terms=domain, params=params)

    def _fit_corpus(self, corpus: _Corpus, steps: dict, *, stopwords: frozenset[str],
                    domain_terms: dict[str, str], params: dict) -> ClusterResult:
        """The steps after counting: TF-IDF, LSA, clusterer, refiner, 杂项, labels, map."""
        c_counts, c_weights = corpus.counts[corpus.rows], corpus.weights[corpus.rows]
        x = steps["vectorizer"].tfidf(c_counts, c_weights)
        z = steps["reducer"].fit_transform(x, c_weights)
        identical = len(z) <= 50000 and bool((z.round(5) == z[:1].round(5)).all())
        k_scores = None
        if identical:
            labels = np.zeros(len(z), dtype=np.int64)
        else:
            labels = relabel_compact(_checked(steps["clusterer"].fit_predict(z, sample_weight=c_weights), len(z)))
            k_scores = getattr(steps["clusterer"], "k_scores_", None)
            if labels.max() > 0:
                labels = relabel_compact(_checked(steps["refiner"].refine(c_counts, labels, c_weights), len(z)))
        if (labels < 0).all():
            return _too_few_result(corpus.ids, "没有找到任何聚类：所有投诉都被聚类方法视为噪声，已全部归入杂项；"
                                               "请扩大范围，或改用 k-means。", params)
        groups = self._gather_misc(z, labels, c_weights, corpus.n)
        if self.merge_label_overlap and len(groups.order) > 1:
            merged = self._merge_overlapping(corpus, groups, steps["labeller"], stopwords=stopwords,
                                             domain_terms=domain_terms)
            if merged is not None:
                labels = merged
                groups = self._gather_misc(z, labels, c_weights, corpus.n)
        n_final = len(groups.order)
        if n_final == 0:
            return _too_few_result(corpus.ids, "所有聚类都太小或不够紧密，已全部归入杂项；请扩大范围或减少聚类数。",
                                   params)
        doc_labels, assignments = _assignments(corpus, groups.final, z, c_weights, random_state=self.random_state)
        clusters = _cluster_table(corpus, groups, doc_labels, z, steps["labeller"], stopwords=stopwords,
                                  domain_terms=domain_terms)
        notes = []
        if corpus.n_text < corpus.n:
            notes.append(f"{corpus.n - corpus.n_text} 条投诉没有可用于聚类的词语（空文本、重复字符或只有常用词），"
                         "已归入杂项。")
        if identical:
            notes.append("范围内的投诉文本几乎完全相同，只形成一个聚类。")
        params["k"] = int(n_final)
        placement = fit_placement(x, groups.final, c_weights, terms=corpus.terms, idf=steps["vectorizer"].idf_)
        placed = assignments[assignments["cluster_id"] >= 0].groupby("cluster_id")[["x", "y"]].mean()
        placement["xy"] = [[round(float(v), 5) for v in placed.loc[c]] if c in placed.index else [0.0, 0.0]
                           for c in range(n_final)]
        return ClusterResult(assignments=assignments, clusters=clusters, n_clusters=n_final,
                             k_scores=k_scores, params=params, message=" ".join(notes) or None,
                             placement=placement)

    def _merge_overlapping(self, corpus: _Corpus, groups: _Groups, labeller, *, stopwords: frozenset[str],
                           domain_terms: dict[str, str]) -> np.ndarray | None:
        """Labels with the clusters whose top label terms overlap merged (``None``: nothing to merge).

        Two clusters sharing at least ``merge_label_overlap`` of their top
        :data:`MERGE_TOP_TERMS` c-TF-IDF terms are one topic cut in pieces (a complaint wave
        split by wording: 电热水壶·漏电·退一赔三, 漏电·电热水壶·跳闸, 触电·电热水壶·漏电); they are
        merged, transitively. 杂项 stays 杂项.
        """
        n_final = len(groups.order)
        rows = corpus.rows
        classes = np.where(groups.final >= 0, groups.final, n_final)
        labelled = labeller.label(corpus.counts[rows], corpus.terms, classes, n_final + 1,
                                  docs=corpus.uniques[rows], sample_weight=corpus.weights[rows],
                                  stopwords=stopwords, domain_terms=domain_terms)
        tops = [set(labelled[c][0][:MERGE_TOP_TERMS]) for c in range(n_final)]
        parent = list(range(n_final))

        def root(c: int) -> int:
            while parent[c] != c:
                parent[c] = parent[parent[c]]
                c = parent[c]
            return c

        for a in range(n_final):
            for b in range(a + 1, n_final):
                if len(tops[a] & tops[b]) >= self.merge_label_overlap:
                    parent[root(b)] = root(a)
        roots = np.array([root(c) for c in range(n_final)])
        if len(set(roots.tolist())) == n_final:
            return None
        return relabel_compact(np.where(groups.final >= 0, roots[np.maximum(groups.final, 0)], MISC_ID))

    def _gather_misc(self, z: np.ndarray, labels: np.ndarray, weights: np.ndarray, n: int) -> _Groups:
        """Order clusters by size; gather noise, small and incoherent clusters as 杂项."""
        k = int(labels.max()) + 1
        groups = np.where(labels >= 0, labels, k)  # noise is one more group
        sizes = np.bincount(groups, weights=weights, minlength=k + 1)
        centres = np.zeros((k + 1, z.shape[1]), dtype=np.float64)
        np.add.at(centres, groups, z * weights[:, None])
        norms = np.linalg.norm(centres, axis=1, keepdims=True)
        centres = centres / np.where(norms == 0, 1.0, norms)
        sims = np.einsum("ij,ij->i", z, centres[groups])
        coherence = np.bincount(groups, weights=sims * weights, minlength=k + 1) / np.maximum(sizes, 1)
        sizes, coherence = sizes[:k], coherence[:k]
        small = (max(3, math.ceil(0.005 * n)) if self.min_cluster_size is None
                 else int(self.min_cluster_size))
        keep = (sizes >= small) & (coherence >= self.min_coherence)
        if keep.sum() >= 4:
            keep[keep] &= ~loose(sizes[keep], coherence[keep], self.min_relative_coherence)
        if k == 1:
            keep[:] = sizes >= 1
        order = [int(c) for c in np.argsort(-sizes, kind="stable") if keep[c]]
        remap = np.full(k + 1, MISC_ID, dtype=np.int64)
        remap[order] = np.arange(len(order))
        return _Groups(final=remap[groups], order=order, sizes=sizes, coherence=coherence,
                       centres=centres, sims=sims)


def loose(sizes: np.ndarray, coherence: np.ndarray, relative: float) -> np.ndarray:
    """Small loose clusters among tight ones: leftovers, not a topic.

    Loose: coherence below ``relative`` × the median coherence; small: below the median
    size. A large loose cluster stays — it is still a topic an analyst should read.
    """
    return (coherence < relative * np.median(coherence)) & (sizes < np.median(sizes))


def _assignments(corpus: _Corpus, final: np.ndarray, z: np.ndarray, weights: np.ndarray, *,
                 random_state: int) -> tuple[np.ndarray, pd.DataFrame]:
    """Per complaint: its cluster (textless complaints in 杂项) and its place on the map."""
    unique_labels = np.full(len(corpus.uniques), MISC_ID, dtype=np.int64)
    unique_labels[corpus.rows] = final
    doc_labels = unique_labels[corpus.codes]
    coords_rows = project(z, final, weights, random_state=random_state)
    unique_coords = np.zeros((len(corpus.uniques), 2))
    unique_coords[corpus.rows] = coords_rows
    textless = np.ones(len(corpus.uniques), dtype=bool)
    textless[corpus.rows] = False
    if textless.any():  # textless complaints sit together in a corner of the map
        unique_coords[textless] = [coords_rows[:, 0].min() - 0.1, coords_rows[:, 1].min() - 0.1]
    doc_coords = unique_coords[corpus.codes]
    assignments = pd.DataFrame({"complaint_id": pd.Series(corpus.ids, dtype=object),
                                "cluster_id": doc_labels,
                                "x": doc_coords[:, 0].round(5), "y": doc_coords[:, 1].round(5)})
    return doc_labels, assignments


def _cluster_table(corpus: _Corpus, groups: _Groups, doc_labels: np.ndarray, z: np.ndarray, labeller, *,
                   stopwords: frozenset[str], domain_terms: dict[str, str]) -> pd.DataFrame:
    """One row per final cluster (largest first), 杂项 last when it holds complaints."""
    n_final = len(groups.order)
    rows, final = corpus.rows, groups.final
    c_weights = corpus.weights[rows]
    classes = np.where(final >= 0, final, n_final)  # 杂项 is its own class, last
    labelled = labeller.label(corpus.counts[rows], corpus.terms, classes, n_final + 1,
                              docs=corpus.uniques[rows], sample_weight=c_weights,
                              stopwords=stopwords, domain_terms=domain_terms)
    first_id = pd.Series(np.arange(corpus.n)).groupby(corpus.codes).first().to_numpy()
    tops = {col: _top_values(corpus.meta, col, doc_labels) for col in ("product", "brand", "merchant")}
    misc_size = int((doc_labels == MISC_ID).sum())
    records = []
    for cid in list(range(n_final)) + ([MISC_ID] if misc_size else []):
        label_terms, scored = labelled[cid if cid >= 0 else n_final]
        if cid >= 0:
            members = np.flatnonzero(final == cid)
            original = groups.order[cid]
            closeness = z[members] @ groups.centres[original]
            reps = members[np.argsort(-closeness, kind="stable")[:5]]
            representative_ids = [corpus.ids[first_id[rows[r]]] for r in reps]
            size = int(groups.sizes[original])
            coherence = round(float(groups.coherence[original]), 4)
            label = display_label(label_terms) or f"聚类 {cid + 1}"
        else:
            representative_ids = []
            size = misc_size
            member_rows = final == MISC_ID
            coherence = (round(float(np.average(groups.sims[member_rows], weights=c_weights[member_rows])), 4)
                         if member_rows.any() else 0.0)
            label = MISC_LABEL
        records.append({
            "cluster_id": cid, "label": label, "label_terms": label_terms, "size": size,
            "share": round(size / corpus.n, 6), "coherence": coherence,
            "top_products": tops["product"].get(cid, []),
            "top_brands": tops["brand"].get(cid, []),
            "top_merchants": tops["merchant"].get(cid, []),
            "representative_ids": representative_ids, "hidden": False, "renamed": False,
            "match_keys": [" ".join(label_terms)] if cid >= 0 else [], "term_scores": scored,
            "topic_uid": topic_uid(np.asarray(corpus.ids, dtype=object)[doc_labels == cid]) if cid >= 0 else "",
        })
    return pd.DataFrame.from_records(records, columns=CLUSTER_COLUMNS)


def _top_values(meta: pd.DataFrame, column: str, groups: np.ndarray, top: int = 3) -> dict:
    """Cluster id → its ``top`` most frequent values of ``column`` as ``[value, count]``."""
    if column not in meta.columns:
        return {}
    values = meta[column].astype("string").str.strip()
    frame = pd.DataFrame({"g": groups, "v": values})
    frame = frame[frame["v"].notna() & (frame["v"] != "")]
    if frame.empty:
        return {}
    counts = frame.groupby(["g", "v"], sort=False).size().rename("n").reset_index()
    counts = counts.sort_values(["g", "n", "v"], ascending=[True, False, True])
    return {
        int(g): [[str(v), int(n)] for v, n in zip(part["v"].head(top), part["n"].head(top))]
        for g, part in counts.groupby("g", sort=False)
    }


def _too_few_result(ids: Sequence[str], message: str, params: dict) -> ClusterResult:
    assignments = pd.DataFrame({"complaint_id": pd.Series(list(ids), dtype=object),
                                "cluster_id": np.full(len(ids), MISC_ID, dtype=np.int64),
                                "x": np.zeros(len(ids)), "y": np.zeros(len(ids))})
    return ClusterResult(assignments=assignments, clusters=empty_clusters(), n_clusters=0,
                         params=params, message=message)


def _checked(labels, n: int) -> np.ndarray:
    """A step's labels as integers ``≥ -1``, one per row.

    Raises:
        ValueError: the step broke the contract.
    """
    out = np.asarray(labels)
    if out.shape != (n,):
        raise ValueError(f"a clusterer must return one label per row: got shape {out.shape} for {n} rows")
    if out.dtype.kind not in "iu":
        if out.dtype.kind != "f" or not np.all(np.mod(out, 1) == 0):
            raise ValueError(f"cluster labels must be integers, got {out.dtype}")
    out = out.astype(np.int64)
    if n and out.min() < -1:
        raise ValueError("cluster labels must be ≥ -1 (-1: noise)")
    return out


def _fresh(step):
    """An unfitted copy of a step (scikit-learn's ``clone`` when it has parameters)."""
    if hasattr(step, "get_params"):
        from sklearn.base import clone

        return clone(step)
    return copy.deepcopy(step)


def _plain(value):
    """A parameter value as JSON: scalars as they are, sequences as lists, anything else by repr."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(_plain(v) for v in value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    return repr(value)


def cluster_complaints(
    tokens: Sequence[str],
    *,
    metadata: pd.DataFrame | None = None,
    n_clusters: int | None = None,
    clusterer=None,
    stopwords: Iterable[str] | None = None,
    domain_terms: Mapping[str, str] | None = None,
    min_complaints: int = MIN_COMPLAINTS,
    max_clusters: int = 30,
    min_cluster_size: int | None = None,
    min_coherence: float = 0.05,
    min_relative_coherence: float = 0.6,
    n_components: int = 100,
    refine_iter: int = 20,
    random_state: int = 0,
) -> ClusterResult:
    """Cluster complaints from their tokens with a :class:`TopicModel` of the default steps.

    Args:
        tokens: one space-joined token string per complaint (``segment.Tokenizer.cut_many``).
        metadata: optional frame aligned with ``tokens`` (same order): ``complaint_id``
            and any of ``product``, ``brand``, ``merchant``.
        n_clusters: number of k-means clusters; ``None`` chooses it by silhouette.
        clusterer: another clusterer (e.g. :class:`HDBSCANClusterer`); then leave
            ``n_clusters`` and ``max_clusters`` alone.
        stopwords: extra stop words (the clustering stop words are always used).
        domain_terms: word → tag of the regulator's dictionary, for labels
            (:data:`LABEL_TAG_BOOST`; default: ``data/dict/userdict.txt``, see
            :func:`domain_terms_of`).
        min_complaints: fewer complaints than this are not clustered.
        max_clusters: upper bound of the automatic choice of k.
        min_cluster_size: clusters smaller than this go to 杂项
            (default ``max(3, 0.5 %`` of the complaints``)``).
        min_coherence: clusters whose mean cosine to the centre is lower go to 杂项.
        min_relative_coherence: see :class:`TopicModel`.
        n_components: LSA dimensions.
        refine_iter: iterations of mixture-model refinement (0 disables it).
        random_state: seed for sampling, SVD and k-means.

    Returns:
        A :class:`ClusterResult`; ``too_few`` is set (with a Chinese ``message``)
        when there is not enough text to cluster.

    Raises:
        UserError: ``n_clusters`` is not a positive integer, or metadata does not align.
    """
    if n_clusters is not None and int(n_clusters) < 1:
        raise UserError("聚类数 k 必须是正整数（留空表示自动选择）。")
    if clusterer is not None and (n_clusters is not None or max_clusters != 30):
        raise ValueError("n_clusters and max_clusters set the default k-means; give them to the clusterer instead")
    if clusterer is None:
        clusterer = SphericalKMeans(n_clusters=n_clusters, max_clusters=max_clusters,
                                    min_cluster_size=min_cluster_size)
    model = TopicModel(reducer=LSA(n_components=n_components), clusterer=clusterer,
                       refiner=MixtureRefiner(max_iter=refine_iter), min_complaints=min_complaints,
                       min_cluster_size=min_cluster_size, min_coherence=min_coherence,
                       min_relative_coherence=min_relative_coherence, random_state=random_state)
    return model.fit_clusters(tokens, metadata=metadata, stopwords=stopwords or (), domain_terms=domain_terms)
