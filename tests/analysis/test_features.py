"""Hashed TF-IDF features: the same numbers as scikit-learn's TfidfVectorizer, faster."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from analysis.features import HashedTfidf

DOCS = [
    "电热水壶 漏电 ， 电热水壶 烫手",
    "热水器 安装 收费",
    None,
    "",
    "房间 干净 早餐 不错 ， 前台 热情",
    "手机 屏幕 碎 了 ， 电池 不耐用",
    "热水器 漏电 ， 安装 师傅 不 专业",
]


def _rows(X) -> list[np.ndarray]:
    """Each row's non-zero values, sorted: comparable across column numberings."""
    X = X.tocsr()
    return [np.sort(X.data[X.indptr[i]:X.indptr[i + 1]].astype(np.float64)) for i in range(X.shape[0])]


def _same_rows(a, b) -> bool:
    return len(a) == len(b) and all(x.shape == y.shape and np.allclose(x, y, atol=1e-6) for x, y in zip(a, b))


def _sklearn_words(docs, ngram_range, min_df):
    vec = TfidfVectorizer(analyzer=lambda d: _ngrams((d or "").split(), ngram_range), sublinear_tf=True,
                          min_df=min_df)
    return vec.fit_transform(docs)


def _ngrams(words, ngram_range):
    lo, hi = ngram_range
    return [" ".join(words[i:i + n]) for n in range(lo, hi + 1) for i in range(len(words) - n + 1)]


@pytest.mark.parametrize("min_df", [1, 2])
def test_word_block_matches_tfidf_vectorizer(min_df):
    hashed = HashedTfidf(word_ngrams=(1, 2), char_ngrams=None, bits=24, min_df=min_df)
    ours = hashed.fit_transform(DOCS)
    reference = _sklearn_words(DOCS, (1, 2), min_df)
    assert ours.shape == reference.shape  # no collisions at 2**24 buckets for this vocabulary
    assert _same_rows(_rows(ours), _rows(reference))


def test_char_block_matches_tfidf_vectorizer():
    hashed = HashedTfidf(word_ngrams=None, char_ngrams=(1, 3), bits=24, min_df=1)
    ours = hashed.fit_transform(DOCS)
    joined = [(d or "").replace(" ", "") for d in DOCS]
    reference = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, lowercase=False)
    assert _same_rows(_rows(ours), _rows(reference.fit_transform(joined)))


def test_char_ngrams_longer_than_three_stay_distinct():
    # Four characters no longer fit 21 bits each into 64: 甲乙丙丁 and 戊乙丙丁 share their last three.
    docs = ["甲乙丙丁", "戊乙丙丁"]
    ours = HashedTfidf(word_ngrams=None, char_ngrams=(4, 4), bits=24, min_df=1).fit_transform(docs)
    assert ours.shape[1] == 2
    reference = TfidfVectorizer(analyzer="char", ngram_range=(1, 4), sublinear_tf=True, lowercase=False)
    hashed = HashedTfidf(word_ngrams=None, char_ngrams=(1, 4), bits=24, min_df=1)
    assert _same_rows(_rows(hashed.fit_transform(DOCS)),
                      _rows(reference.fit_transform([(d or "").replace(" ", "") for d in DOCS])))


def test_hand_computed_values():
    # Two texts, words only: "a b a" and "b". tf(a)=2 → 1 + ln 2; idf(a) = ln(3/2) + 1; idf(b) = 1.
    X = HashedTfidf(word_ngrams=(1, 1), char_ngrams=None, min_df=1).fit_transform(["a b a", "b"]).toarray()
    a = (1 + math.log(2)) * (math.log(3 / 2) + 1)
    b = 1.0
    norm = math.hypot(a, b)
    assert sorted(X[0][X[0] > 0].round(6)) == sorted([round(a / norm, 6), round(b / norm, 6)])
    assert X[1][X[1] > 0].round(6).tolist() == [1.0]


def test_blocks_are_normalised_separately_and_empty_rows_stay_empty():
    hashed = HashedTfidf(min_df=1)
    X = hashed.fit_transform(DOCS)
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
    assert np.allclose(norms[[0, 1, 4, 5, 6]], math.sqrt(2), atol=1e-5)
    assert norms[2] == 0 and norms[3] == 0
    assert hashed.n_features_ == X.shape[1]


def test_transform_drops_unseen_and_rare_ngrams():
    hashed = HashedTfidf(word_ngrams=(1, 1), char_ngrams=None, min_df=2)
    hashed.fit_transform(["热水器 漏电", "热水器 安装", "手机 漏电"])
    assert hashed.n_features_ == 2  # 热水器 and 漏电 appear in two texts; 安装 and 手机 once
    X = hashed.transform(["安装 手机 充电", "热水器"])
    assert X[0].nnz == 0 and X[1].nnz == 1


def test_terms_locate_each_word_ngram():
    hashed = HashedTfidf(word_ngrams=(1, 2), char_ngrams=(1, 2), min_df=1)
    hashed.fit_transform(["热水器 漏电", "热水器 安装"])
    X, terms, tokens = hashed.transform_with_terms(["热水器 漏电 严重", "安装"])
    assert tokens.tolist() == ["热水器", "漏电", "严重", "安装"]
    words = {(r, "".join(tokens[f:f + n])) for r, f, n in zip(terms["row"], terms["first"], terms["length"])}
    assert words == {(0, "热水器"), (0, "漏电"), (0, "热水器漏电"), (1, "安装")}  # 严重 is unseen
    assert (terms["column"] < hashed.n_word_features_).all()
    assert all(X[r, c] > 0 for r, c in zip(terms["row"], terms["column"]))


def test_same_features_in_every_process_and_batch():
    a = HashedTfidf(min_df=1)
    a.fit_transform(DOCS)
    whole = a.transform(DOCS).toarray()
    parts = np.vstack([a.transform(DOCS[:3]).toarray(), a.transform(DOCS[3:]).toarray()])
    assert np.allclose(whole, parts)
    b = HashedTfidf(min_df=1)
    b.fit_transform(list(DOCS))
    assert np.allclose(b.transform(DOCS).toarray(), whole)


def test_needs_a_block_and_fitting():
    with pytest.raises(ValueError):
        HashedTfidf(word_ngrams=None, char_ngrams=None)
    with pytest.raises(RuntimeError):
        HashedTfidf().transform(["a"])
