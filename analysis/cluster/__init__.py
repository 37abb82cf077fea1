"""Complaint clusters: what people complain about, in groups an analyst can name.

A topic model in the shape of BERTopic and scikit-learn (:class:`TopicModel`), built
from replaceable steps that run offline on cached tokens (space-joined strings):

* :mod:`~analysis.cluster.vectorize` — term counts (stop words of
  :data:`STOPWORDS_FILE` plus the tokenizer's), sublinear TF-IDF;
* :mod:`~analysis.cluster.reduce` — LSA, unit-length vectors;
* :mod:`~analysis.cluster.clusterers` — ``fit_predict(Z, sample_weight=None)``, label
  ``-1`` = 杂项: spherical k-means with automatic k (default) or HDBSCAN;
* :mod:`~analysis.cluster.refine` — EM refinement of a multinomial mixture;
* :mod:`~analysis.cluster.labels` — c-TF-IDF labels boosted for the regulator's
  dictionary words, phrases (``data/cluster/README.md``);
* :mod:`~analysis.cluster.projection` — the 2-D map.

:func:`cluster_complaints` works on tokens and a metadata frame (:mod:`~analysis.cluster.model`);
:func:`run_clustering` works on the store — loads tokens for a scope, keeps the
run under a key of the scope and the model's parameters (not the data: clusters stay
put when complaints are imported; :func:`assign_new` places the new ones, a scope is
clustered again on request or past a growth threshold), applies the analysts' edits
(:mod:`~analysis.cluster.runs`, :mod:`~analysis.cluster.placement`). Edits (rename,
merge, hide) are stored per category × platform against clusters' stable ``topic_uid``;
a re-clustering hands uids on to the matching new clusters (:mod:`~analysis.cluster.edits`).
:mod:`~analysis.cluster.views` holds topics per class / over time, growth, members
and map points. Sampling candidates from a cluster: :func:`analysis.sampling.add_sampling_candidates`.
"""

from analysis.cluster.clusterers import (
    CLUSTERERS,
    Clusterer,
    HDBSCANClusterer,
    SphericalKMeans,
    describe_clusterer,
    make_clusterer,
)
from analysis.cluster.edits import apply_edits, clear_edits, hide_cluster, load_edits, merge_clusters, rename_cluster
from analysis.cluster.labels import LABEL_TAG_BOOST, ClassTfidfLabeller, domain_terms_of
from analysis.cluster.model import MIN_COMPLAINTS, PIPELINE_VERSION, TopicModel, cluster_complaints
from analysis.cluster.reduce import LSA
from analysis.cluster.refine import MixtureRefiner
from analysis.cluster.result import MISC_ID, MISC_LABEL, ClusterResult, ClusterScope
from analysis.cluster.runs import (
    AUTO_RECLUSTER_SHARE,
    SUGGEST_RECLUSTER_SHARE,
    RunSummary,
    assign_new,
    latest_run,
    load_run,
    run_clustering,
    run_key,
    run_notes,
    run_summary,
    save_run,
    scope_documents,
    store_model,
)
from analysis.cluster.vectorize import LABEL_STOPWORDS_FILE, STOPWORDS_FILE, TermVectorizer, load_stopwords
from analysis.cluster.views import cluster_growth, cluster_members, map_points, topics_over_time, topics_per_class

__all__ = [
    "AUTO_RECLUSTER_SHARE",
    "SUGGEST_RECLUSTER_SHARE",
    "assign_new",
    "CLUSTERERS",
    "LABEL_STOPWORDS_FILE",
    "LABEL_TAG_BOOST",
    "LSA",
    "MIN_COMPLAINTS",
    "MISC_ID",
    "MISC_LABEL",
    "PIPELINE_VERSION",
    "STOPWORDS_FILE",
    "ClassTfidfLabeller",
    "ClusterResult",
    "ClusterScope",
    "Clusterer",
    "HDBSCANClusterer",
    "MixtureRefiner",
    "RunSummary",
    "SphericalKMeans",
    "TermVectorizer",
    "TopicModel",
    "apply_edits",
    "clear_edits",
    "cluster_complaints",
    "cluster_growth",
    "cluster_members",
    "describe_clusterer",
    "domain_terms_of",
    "hide_cluster",
    "latest_run",
    "load_edits",
    "load_run",
    "load_stopwords",
    "make_clusterer",
    "map_points",
    "merge_clusters",
    "rename_cluster",
    "run_clustering",
    "run_key",
    "run_notes",
    "run_summary",
    "save_run",
    "scope_documents",
    "store_model",
    "topics_over_time",
    "topics_per_class",
]
