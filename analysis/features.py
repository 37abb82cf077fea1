"""Text features for the supervised classifier: hashed TF-IDF n-grams, computed in bulk.

scikit-learn's ``TfidfVectorizer`` builds every n-gram as a Python string and looks it up in
a dict: about 80 µs per complaint for character 1–3-grams, which dominates classifying a
million complaints. :class:`HashedTfidf` computes the same kind of features with whole-array
numpy operations instead:

* characters: every text becomes UTF-32 code points in one array; an n-gram is the code
  points packed into one 64-bit integer, then mixed into a bucket;
* words: the cached tokens (space-joined) are split once, hashed with
  :func:`pandas.util.hash_array` (SipHash, the same in every process), and word bigrams
  combine neighbouring hashes.

Counts → sublinear tf (``1 + log tf``) → idf → L2 norm per block, as ``TfidfVectorizer(
sublinear_tf=True)`` does. Buckets seen in fewer than ``min_df`` training texts are dropped
and the rest renumbered, so the model's weight matrix stays as small as a vocabulary's.
Hash collisions merge rare n-grams; with 2**21 buckets per block they cost no accuracy
measurably (``bench/eval_classify.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

_MIX = np.uint64(0x9E3779B97F4A7C15)  # 2**64 / golden ratio: a multiplicative hash
_SALT = np.uint64(0xD6E8FEB86659FD93)


def _bucket(keys: np.ndarray, *, salt: int, bits: int) -> np.ndarray:
    """Mix 64-bit keys into ``2**bits`` buckets (Fibonacci hashing after an xor-shift)."""
    with np.errstate(over="ignore"):
        h = (keys ^ (np.uint64(salt) * _SALT)) * _MIX
        h ^= h >> np.uint64(29)
        h *= _MIX
    return (h >> np.uint64(64 - bits)).astype(np.int64)


def _as_strings(tokens: Sequence[str | None]) -> list[str]:
    return [t if isinstance(t, str) else "" for t in tokens]


@dataclass
class _Positions:
    """Where each feature occurrence comes from: row, bucket and (for words) the term."""

    rows: np.ndarray
    buckets: np.ndarray
    first: np.ndarray | None = None  # index of the occurrence's first token in the flat token list
    length: np.ndarray | None = None  # tokens in the n-gram


def _word_positions(docs: list[str], ngram_range: tuple[int, int], bits: int,
                    keep_terms: bool) -> tuple[_Positions, np.ndarray | None]:
    counts = np.fromiter((d.count(" ") + 1 if d else 0 for d in docs), dtype=np.int64, count=len(docs))
    flat = " ".join(d for d in docs if d).split(" ") if counts.sum() else []
    flat_arr = np.asarray(flat, dtype=object)
    if len(flat_arr):
        codes, uniques = pd.factorize(flat_arr)
        hashes = pd.util.hash_array(np.asarray(uniques, dtype=object))[codes]
    else:
        hashes = np.zeros(0, dtype=np.uint64)
    rows_of = np.repeat(np.arange(len(docs), dtype=np.int64), counts)
    lo, hi = ngram_range
    rows, buckets, first, length = [], [], [], []
    for n in range(lo, hi + 1):
        m = len(hashes) - n + 1
        if m <= 0:
            continue
        same = rows_of[:m] == rows_of[n - 1:]
        key = hashes[:m].copy()
        with np.errstate(over="ignore"):
            for k in range(1, n):
                key = key * _MIX + hashes[k:k + m]
        idx = np.flatnonzero(same)
        rows.append(rows_of[idx])
        buckets.append(_bucket(key[idx], salt=100 + n, bits=bits))
        if keep_terms:
            first.append(idx)
            length.append(np.full(len(idx), n, dtype=np.int8))
    cat = (lambda parts, dt: np.concatenate(parts) if parts else np.zeros(0, dtype=dt))
    pos = _Positions(cat(rows, np.int64), cat(buckets, np.int64),
                     cat(first, np.int64) if keep_terms else None,
                     cat(length, np.int8) if keep_terms else None)
    return pos, (flat_arr if keep_terms else None)


def _char_positions(docs: list[str], ngram_range: tuple[int, int], bits: int) -> _Positions:
    texts = [d.replace(" ", "") for d in docs]
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    codes = np.frombuffer("".join(texts).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    rows_of = np.repeat(np.arange(len(texts), dtype=np.int64), lengths)
    lo, hi = ngram_range
    rows, buckets = [], []
    for n in range(lo, hi + 1):
        m = len(codes) - n + 1
        if m <= 0:
            continue
        key = codes[:m].copy()
        with np.errstate(over="ignore"):
            for k in range(1, n):
                if n <= 3:  # up to three code points (21 bits each) pack into 64 bits exactly
                    key = (key << np.uint64(21)) | codes[k:k + m]
                else:  # longer n-grams would overflow: combine like word hashes instead
                    key = key * _MIX + codes[k:k + m]
        idx = np.flatnonzero(rows_of[:m] == rows_of[n - 1:]) if n > 1 else np.arange(m)
        rows.append(rows_of[idx])
        buckets.append(_bucket(key[idx], salt=n, bits=bits))
    if not rows:
        return _Positions(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
    return _Positions(np.concatenate(rows), np.concatenate(buckets))


class HashedTfidf:
    """TF-IDF of word and character n-grams through hashing, vectorised over a batch.

    Args:
        word_ngrams: word n-gram range over the space-joined tokens; ``None`` for none.
        char_ngrams: character n-gram range over the tokens joined without spaces;
            ``None`` for none.
        bits: ``2**bits`` hash buckets per block.
        min_df: buckets seen in fewer training texts are dropped.
    """

    def __init__(self, *, word_ngrams: tuple[int, int] | None = (1, 2),
                 char_ngrams: tuple[int, int] | None = (1, 3), bits: int = 21, min_df: int = 2) -> None:
        if word_ngrams is None and char_ngrams is None:
            raise ValueError("need word or character n-grams")
        self.word_ngrams = tuple(word_ngrams) if word_ngrams else None
        self.char_ngrams = tuple(char_ngrams) if char_ngrams else None
        self.bits = bits
        self.min_df = min_df
        self.blocks_: list[tuple[str, np.ndarray, np.ndarray]] = []  # (kind, bucket → column, idf)

    @property
    def n_features_(self) -> int:
        return sum(len(idf) for _, _, idf in self.blocks_)

    @property
    def n_word_features_(self) -> int:
        """Columns of the word block (it comes first)."""
        return next((len(idf) for kind, _, idf in self.blocks_ if kind == "word"), 0)

    def _positions(self, docs: list[str], *, keep_terms: bool = False):
        out = []
        flat = None
        if self.word_ngrams:
            pos, flat = _word_positions(docs, self.word_ngrams, self.bits, keep_terms)
            out.append(("word", pos))
        if self.char_ngrams:
            out.append(("char", _char_positions(docs, self.char_ngrams, self.bits)))
        return out, flat

    @staticmethod
    def _counts(rows: np.ndarray, cols: np.ndarray, n_rows: int, n_cols: int) -> sparse.csr_matrix:
        """Occurrence counts as a CSR matrix with sorted, summed entries."""
        X = sparse.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(n_rows, n_cols))
        X.sum_duplicates()
        return X

    @staticmethod
    def _weigh(X: sparse.csr_matrix, idf: np.ndarray) -> sparse.csr_matrix:
        """Sublinear tf × idf, then each row scaled to unit length."""
        counts = np.diff(X.indptr)
        X.data = (1.0 + np.log(X.data)) * idf[X.indices]
        rows = np.repeat(np.arange(X.shape[0]), counts)
        norms = np.sqrt(np.bincount(rows, weights=X.data.astype(np.float64) ** 2, minlength=X.shape[0]))
        X.data /= np.maximum(norms, 1e-12)[rows].astype(np.float32)
        return X

    def fit_transform(self, tokens: Sequence[str | None]) -> sparse.csr_matrix:
        """Learn which buckets to keep and their idf; return the features of ``tokens``."""
        docs = _as_strings(tokens)
        n = len(docs)
        self.blocks_ = []
        mats = []
        for kind, pos in self._positions(docs)[0]:
            X = self._counts(pos.rows, pos.buckets, n, 1 << self.bits)
            df = np.bincount(X.indices, minlength=1 << self.bits)
            kept = np.flatnonzero(df >= self.min_df)
            column = np.full(1 << self.bits, -1, dtype=np.int32)
            column[kept] = np.arange(len(kept), dtype=np.int32)
            idf = (np.log((1.0 + n) / (1.0 + df[kept])) + 1.0).astype(np.float32)
            self.blocks_.append((kind, column, idf))
            mats.append(self._select(X, column, len(kept)))
        return self._finish(mats)

    def transform(self, tokens: Sequence[str | None]) -> sparse.csr_matrix:
        """Features of ``tokens`` with the buckets and idf learnt by :meth:`fit_transform`."""
        return self.transform_with_terms(tokens)[0]

    def transform_with_terms(self, tokens: Sequence[str | None]):
        """Like :meth:`transform`, also returning the word n-gram occurrences for evidence.

        Returns:
            ``(X, terms, tokens)``: ``terms`` is ``None`` without a word block, else a frame
            with one row per kept word n-gram occurrence: ``row, column`` (in ``X``),
            ``first`` (its first token's index in ``tokens``, all tokens of the batch in
            order) and ``length`` (tokens in the n-gram).
        """
        if not self.blocks_:
            raise RuntimeError("HashedTfidf is not fitted")
        docs = _as_strings(tokens)
        n = len(docs)
        mats = []
        terms = None
        positions, flat = self._positions(docs, keep_terms=True)
        for (kind, pos), (_, column, idf) in zip(positions, self.blocks_):
            cols = column[pos.buckets]
            keep = cols >= 0
            mats.append(self._counts(pos.rows[keep], cols[keep], n, len(idf)))
            if kind == "word":
                terms = pd.DataFrame({"row": pos.rows[keep], "column": cols[keep],
                                      "first": pos.first[keep], "length": pos.length[keep]})
        return self._finish(mats), terms, flat

    def _select(self, X: sparse.csr_matrix, column: np.ndarray, width: int) -> sparse.csr_matrix:
        """Keep the learnt buckets, renumbered to columns ``0 … width-1``."""
        cols = column[X.indices]
        keep = cols >= 0
        rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
        indptr = np.zeros(X.shape[0] + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows[keep], minlength=X.shape[0]), out=indptr[1:])
        return sparse.csr_matrix((X.data[keep], cols[keep], indptr), shape=(X.shape[0], width))

    def _finish(self, mats: list[sparse.csr_matrix]) -> sparse.csr_matrix:
        weighted = [self._weigh(X, idf) for X, (_, _, idf) in zip(mats, self.blocks_)]
        return sparse.hstack(weighted, format="csr") if len(weighted) > 1 else weighted[0]
