"""analysis.cluster.vectorize: stop-word files, term counts and TF-IDF."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.cluster import vectorize
from analysis.cluster.vectorize import TermVectorizer
from analysis.errors import ConfigError


def test_stopword_file_is_checked(tmp_path):
    bad = tmp_path / "stop.txt"
    bad.write_text("# comment\n的\n两个 词\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        vectorize.load_stopwords(bad)
    assert err.value.row == 3 and "stop.txt" in str(err.value)
    assert {"的", "投诉", "客服"} <= vectorize.load_stopwords()


def test_label_stopword_file_loads():
    words = vectorize.load_stopwords(vectorize.LABEL_STOPWORDS_FILE)
    assert {"刚用", "没多久", "说好", "属于"} <= words
    assert not {"漏电", "假货", "机票"} & words


def test_counts_weighted_by_duplicates_hand_computed():
    docs = ["漏电 水壶 漏电", "水壶 发烫", "退款 哈哈哈", "iphone 5g 漏电"]
    weights = np.array([3.0, 1.0, 1.0, 1.0])
    vec = TermVectorizer(min_df=2, max_df=0.9)
    counts = vec.fit_transform(docs, weights, stopwords=frozenset({"退款"}))
    # 哈哈哈 (one repeated character) and 退款 (a stop word) never count; 水壶 and 漏电 occur in
    # 4 complaints (duplicates counted), iphone, 5g and 发烫 in 1 < min_df; columns are alphabetical
    assert vec.terms_.tolist() == ["水壶", "漏电"]
    assert counts.toarray().tolist() == [[1, 2], [1, 0], [0, 0], [0, 1]]
    x = vec.tfidf(counts, weights)
    # idf = ln((1 + 6) / (1 + 4)) + 1 for both terms; rows of unit length
    assert vec.idf_ == pytest.approx([np.log(7 / 5) + 1] * 2)
    assert np.linalg.norm(x.toarray(), axis=1) == pytest.approx([1.0, 1.0, 0.0, 1.0])
    row = x.toarray()[0]
    assert row[1] / row[0] == pytest.approx(np.log1p(2) / np.log1p(1))  # sublinear tf


def test_min_df_default_depends_on_the_number_of_complaints():
    docs = ["甲乙 丙丁", "甲乙 戊己"]
    assert TermVectorizer(max_df=1.0).fit_transform(docs, np.array([1.0, 1.0])).shape[1] == 1
    # 5000 complaints or more: a term needs 3
    vec = TermVectorizer(max_df=1.0)
    vec.fit_transform(docs, np.array([2.0, 4998.0]))
    assert vec.terms_.tolist() == ["戊己", "甲乙"]
    vec.fit_transform(docs, np.array([4998.0, 2.0]))
    assert vec.terms_.tolist() == ["丙丁", "甲乙"]
