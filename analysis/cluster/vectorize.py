"""The vectoriser step: term counts of the token strings, then sublinear TF-IDF.

Stop words come from :data:`STOPWORDS_FILE` (plus the tokenizer's); terms are
kept or dropped by :func:`keep_term` and by duplicate-weighted document frequency.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator

from analysis import textutil
from analysis.errors import ConfigError
from analysis.textutil import data_path

STOPWORDS_FILE = data_path("cluster", "stopwords.txt")
#: Words that never label a cluster but still count for clustering.
LABEL_STOPWORDS_FILE = STOPWORDS_FILE.with_name("label_stopwords.txt")


def load_stopwords(path: str | Path = STOPWORDS_FILE) -> frozenset[str]:
    """The clustering stop words of ``path`` (:func:`analysis.textutil.load_stopwords`: one word
    per line, a line starting with ``#`` and a space is a comment)."""
    return textutil.load_stopwords(path)


_DEFAULT_STOPWORDS: frozenset[str] | None = None
_LABEL_STOPWORDS: frozenset[str] | None = None


def default_stopwords() -> frozenset[str]:
    """The clustering stop words of :data:`STOPWORDS_FILE` (read once)."""
    global _DEFAULT_STOPWORDS
    if _DEFAULT_STOPWORDS is None:
        _DEFAULT_STOPWORDS = load_stopwords()
    return _DEFAULT_STOPWORDS


def label_stopwords() -> frozenset[str]:
    """The label stop words of :data:`LABEL_STOPWORDS_FILE` (read once)."""
    global _LABEL_STOPWORDS
    if _LABEL_STOPWORDS is None:
        _LABEL_STOPWORDS = load_stopwords(LABEL_STOPWORDS_FILE)
    return _LABEL_STOPWORDS


def keep_term(token: str, stopwords: frozenset[str]) -> bool:
    """Whether a token may be a clustering term."""
    if token in stopwords:
        return False
    if any("\u4e00" <= ch <= "\u9fff" for ch in token):
        return len(set(token)) > 1 or len(token) == 1  # "哈哈哈" says nothing
    # Latin/alphanumeric terms such as "xp", "iphone", "5g": letters required, ≥ 2 chars.
    return len(token) >= 2 and token.isalnum() and any(ch.isalpha() for ch in token)


def count_matrix(docs: Sequence[str], weights: np.ndarray, stopwords: frozenset[str], *,
                 min_df: int, max_df: float,
                 chunk_size: int = 100_000) -> tuple[sp.csr_matrix, np.ndarray]:
    """Term counts of unique docs, vocabulary pruned by (duplicate-weighted) document frequency.

    Splitting and hashing run in Arrow's C++ kernels chunk by chunk; only the vocabulary
    is looked at in Python.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    vocabulary: dict[str, int] = {}
    rows, cols = [], []
    for lo in range(0, len(docs), chunk_size):
        chunk = pa.array(docs[lo:lo + chunk_size], type=pa.large_string())
        lists = pc.utf8_split_whitespace(pc.utf8_lower(chunk))
        lengths = pc.list_value_length(lists).fill_null(0).to_numpy(zero_copy_only=False)
        if not lengths.sum():
            continue
        encoded = pc.dictionary_encode(pc.list_flatten(lists))
        lookup = np.fromiter((vocabulary.setdefault(t, len(vocabulary))
                              for t in encoded.dictionary.to_pylist()),
                             dtype=np.int64, count=len(encoded.dictionary))
        rows.append(np.repeat(np.arange(lo, lo + len(chunk)), lengths))
        cols.append(lookup[encoded.indices.to_numpy(zero_copy_only=False)])
    if not vocabulary:
        return sp.csr_matrix((len(docs), 0), dtype=np.float32), np.array([], dtype=object)
    terms = np.array(list(vocabulary), dtype=object)
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    counts = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)),
                           shape=(len(docs), len(terms)))
    counts.sum_duplicates()
    usable = np.fromiter((keep_term(t, stopwords) for t in terms), dtype=bool, count=len(terms))
    presence = counts.copy()
    presence.data[:] = 1.0
    df = np.asarray(presence.T @ weights).ravel()
    n = weights.sum()
    keep = usable & (df >= min_df) & (df <= max(max_df * n, min_df))
    covered = np.asarray(presence[:, keep].sum(axis=1)).ravel() > 0
    if weights[covered].sum() < 0.5 * n:  # near-identical texts: every term is ubiquitous
        keep = usable & (df >= min_df)
    order = np.flatnonzero(keep)
    order = order[np.argsort(terms[order], kind="stable")]  # alphabetical, like CountVectorizer
    counts = counts[:, order].tocsr()
    counts.sort_indices()
    return counts, terms[order]


def tfidf(counts: sp.csr_matrix, weights: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray]:
    """Sublinear TF-IDF with smooth idf (duplicate-weighted), rows scaled to unit length."""
    presence = counts.copy()
    presence.data[:] = 1.0
    df = np.asarray(presence.T @ weights).ravel()
    n = weights.sum()
    idf = (np.log((1.0 + n) / (1.0 + df)) + 1.0).astype(np.float32)
    tf = counts.copy()
    tf.data = np.log1p(tf.data) * idf[tf.indices]
    norms = np.sqrt(np.asarray(tf.multiply(tf).sum(axis=1)).ravel())
    tf.data /= np.repeat(np.where(norms == 0, 1.0, norms), np.diff(tf.indptr)).astype(np.float32)
    return tf, idf


class TermVectorizer(BaseEstimator):
    """Term counts and sublinear TF-IDF of space-joined token strings (the vectoriser step).

    Rows are unique texts weighted by how often they occur (``sample_weight``), so
    document frequencies count duplicates.

    Args:
        min_df: a term must occur in at least this many (weighted) complaints;
            ``None``: 2 below 5000 complaints, else 3.
        max_df: terms in more than this share of the complaints are dropped (unless
            that would leave fewer than half of the complaints with a term).
    """

    def __init__(self, *, min_df: int | None = None, max_df: float = 0.5):
        self.min_df = min_df
        self.max_df = max_df

    def fit_transform(self, docs: Sequence[str], sample_weight: np.ndarray | None = None, *,
                      stopwords: frozenset[str] = frozenset()) -> sp.csr_matrix:
        """Term counts (rows: ``docs``; columns: :attr:`terms_`, alphabetical).

        Args:
            docs: space-joined token strings, one per unique text.
            sample_weight: how many complaints each text stands for (default 1).
            stopwords: words never counted (lower case).
        """
        weights = (np.ones(len(docs)) if sample_weight is None
                   else np.asarray(sample_weight, dtype=np.float64))
        min_df = self.min_df if self.min_df is not None else (2 if weights.sum() < 5000 else 3)
        counts, self.terms_ = count_matrix(docs, weights, stopwords, min_df=min_df, max_df=self.max_df)
        return counts

    def tfidf(self, counts: sp.csr_matrix, sample_weight: np.ndarray) -> sp.csr_matrix:
        """Sublinear TF-IDF of ``counts`` with unit-length rows (sets :attr:`idf_`)."""
        x, self.idf_ = tfidf(counts, np.asarray(sample_weight, dtype=np.float64))
        return x
