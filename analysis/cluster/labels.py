"""The labeller step: class-based TF-IDF labels (as in BERTopic), boosted for the regulator's words.

A cluster's label terms are its top c-TF-IDF terms, each multiplied by the boost of
its tag in the regulator's dictionary (:data:`LABEL_TAG_BOOST`), without label stop
words (:data:`analysis.cluster.vectorize.LABEL_STOPWORDS_FILE`), platform names, single
characters or numbers; a term outside the dictionary is joined with the neighbour that
nearly always goes with it (中文 标签 → 中文标签). See ``data/cluster/README.md``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator

from analysis.cluster._util import onehot
from analysis.cluster.vectorize import label_stopwords

N_LABEL_TERMS = 10
N_SCORED_TERMS = 30
#: Label boost per tag of the regulator's dictionary (``data/dict/userdict.txt``): a
#: cluster's c-TF-IDF score of a dictionary word is multiplied by this factor, so that
#: products, defects and violations name a cluster rather than generic complaint words.
LABEL_TAG_BOOST = {"product": 3.0, "defect": 3.0, "violation": 3.0, "brand": 2.0,
                   "promotion": 1.5}
#: Dictionary tags that never label a cluster (the scope picker selects platforms).
LABEL_EXCLUDED_TAGS = frozenset({"platform"})
#: A label term must occur in at least this share of the cluster's complaints (and in two).
MIN_LABEL_DOC_SHARE = 0.03
#: A label term outside the dictionary is joined with the word next to it (中文 标签 → 中文标签,
#: 陌生 电话 → 陌生电话) when that neighbour follows (or precedes) it in more than this share of
#: the complaints holding the term.
PHRASE_SHARE = 2 / 3
#: Complaints read per cluster to find phrases (the first ones, in import order).
PHRASE_SAMPLE = 400


def class_tfidf(counts: sp.csr_matrix, weights: np.ndarray, labels: np.ndarray,
                k: int) -> np.ndarray:
    """BERTopic's c-TF-IDF: tf(t, c) / |c| · log(1 + A / f(t)); A = mean words per class."""
    tf = np.asarray((onehot(labels, weights, k) @ counts).todense(), dtype=np.float64)
    words = tf.sum(axis=1, keepdims=True)
    average = max(words.mean(), 1.0)
    freq = np.maximum(tf.sum(axis=0), 1.0)
    return tf / np.maximum(words, 1.0) * np.log1p(average / freq)


_DEFAULT_DOMAIN_TERMS: dict[str, str] | None = None


def default_domain_terms() -> dict[str, str]:
    """Word → tag of the default regulator's dictionary (read once)."""
    global _DEFAULT_DOMAIN_TERMS
    if _DEFAULT_DOMAIN_TERMS is None:
        from analysis import segment

        _DEFAULT_DOMAIN_TERMS = domain_terms_of(segment.load_userdict(segment.DEFAULT_USERDICT))
    return _DEFAULT_DOMAIN_TERMS


def domain_terms_of(user_words: Iterable) -> dict[str, str]:
    """Word → tag from user-dictionary entries (``segment.UserWord``); untagged words get ``""``."""
    return {str(w.word).lower(): (w.tag or "") for w in user_words}


def label_weights(terms: np.ndarray, domain_terms: dict[str, str]) -> np.ndarray:
    """Label weight of each vocabulary term: its tag's boost, 1, or 0 when it may not label.

    Excluded: the label stop words (``data/cluster/label_stopwords.txt``); words tagged as
    platforms; outside the dictionary, single Chinese characters (量, 吃, 寄 …) and
    terms with digits (750g, m52, model numbers).
    """
    weights = np.ones(len(terms))
    never = label_stopwords()
    for j, term in enumerate(terms):
        tag = domain_terms.get(term)
        if term in never:
            weights[j] = 0.0
        elif tag is not None:
            weights[j] = 0.0 if tag in LABEL_EXCLUDED_TAGS else LABEL_TAG_BOOST.get(tag, 1.0)
        elif any(ch.isdigit() for ch in term) or (len(term) == 1 and "\u4e00" <= term <= "\u9fff"):
            weights[j] = 0.0
    return weights


def ranked_terms(scores: np.ndarray, doc_share: np.ndarray, docs_in_class: float,
                 weights: np.ndarray, terms: np.ndarray) -> list[list]:
    """Ranked ``[term, score]`` of one class: boosted c-TF-IDF of the terms allowed to label it.

    Falls back to the plain c-TF-IDF ranking when no term qualifies.
    """
    boosted = scores * weights
    boosted[doc_share * docs_in_class < 2] = 0.0
    boosted[doc_share < MIN_LABEL_DOC_SHARE] = 0.0
    if not (boosted > 0).any():
        boosted = scores
    ranked = np.argsort(-boosted, kind="stable")[:N_SCORED_TERMS]
    return [[str(terms[j]), round(float(boosted[j]), 6)] for j in ranked if boosted[j] > 0]


def _phrase_neighbour_ok(token: str, stopwords: frozenset[str], weights: dict[str, float],
                         domain_terms: dict[str, str]) -> bool:
    """Whether a token may extend a label term into a phrase.

    It must be a Chinese word of two characters or more (single characters are
    mostly verb or particle fragments: 刺痛起, 规则写), without digits, neither a stop
    word nor a label stop word, and not a dictionary word (two dictionary words are two
    labels, not one: 使用痕迹 拒绝退款).
    """
    if len(token) < 2 or token in stopwords or token in domain_terms or weights.get(token) == 0.0:
        return False
    return (any("\u4e00" <= ch <= "\u9fff" for ch in token)
            and not any(ch.isdigit() for ch in token))


def phrases(scored: list[list], token_lists: Sequence[list[str]], stopwords: frozenset[str],
            weights: dict[str, float], domain_terms: dict[str, str], *,
            n_terms: int = N_LABEL_TERMS) -> list[list]:
    """Join each of the top label terms with the neighbour that nearly always goes with it.

    A term outside the dictionary becomes ``left + term`` or ``term + right`` when that
    neighbour (:func:`_phrase_neighbour_ok`) stands next to it in more than
    :data:`PHRASE_SHARE` of the sampled complaints holding the term. Duplicates after
    joining keep their first place.
    """
    wanted = {term for term, _ in scored[:n_terms] if term not in domain_terms}
    holding = dict.fromkeys(wanted, 0)
    left: dict[str, dict[str, int]] = {t: {} for t in wanted}
    right: dict[str, dict[str, int]] = {t: {} for t in wanted}
    for tokens in token_lists:
        seen: dict[str, tuple[set, set]] = {}
        for i, token in enumerate(tokens):
            if token in wanted:
                lo, hi = seen.setdefault(token, (set(), set()))
                if i > 0:
                    lo.add(tokens[i - 1])
                if i + 1 < len(tokens):
                    hi.add(tokens[i + 1])
        for token, (lo, hi) in seen.items():
            holding[token] += 1
            for word in lo:
                left[token][word] = left[token].get(word, 0) + 1
            for word in hi:
                right[token][word] = right[token].get(word, 0) + 1
    out: list[list] = []
    taken: set[str] = set()
    for rank, (term, score) in enumerate(scored):
        phrase = term
        if term in wanted and holding[term] >= 2:
            best = None
            for side, counts in (("right", right[term]), ("left", left[term])):
                for word, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
                    if count <= PHRASE_SHARE * holding[term]:
                        break
                    if _phrase_neighbour_ok(word, stopwords, weights, domain_terms):
                        if best is None or count > best[2]:
                            best = (side, word, count)
                        break
            if best is not None:
                phrase = term + best[1] if best[0] == "right" else best[1] + term
        if phrase not in taken:
            taken.add(phrase)
            out.append([phrase, score])
    return out


def display_label(label_terms: Sequence[str], n: int = 3) -> str:
    """The first ``n`` label terms, skipping any inside or around a term already shown."""
    shown: list[str] = []
    for term in label_terms:
        if not any(term in other or other in term for other in shown):
            shown.append(term)
        if len(shown) == n:
            break
    return "·".join(shown)


class ClassTfidfLabeller(BaseEstimator):
    """Label terms per class: boosted c-TF-IDF (:func:`ranked_terms`), then phrases (:func:`phrases`).

    Args:
        n_terms: label terms kept per class (the first three, not nested, make the label).
        join_phrases: join label terms with their constant neighbour into phrases.
    """

    def __init__(self, *, n_terms: int = N_LABEL_TERMS, join_phrases: bool = True):
        self.n_terms = n_terms
        self.join_phrases = join_phrases

    def label(self, counts: sp.csr_matrix, terms: np.ndarray, classes: np.ndarray, n_classes: int, *,
              docs: Sequence[str], sample_weight: np.ndarray, stopwords: frozenset[str],
              domain_terms: dict[str, str]) -> list[tuple[list[str], list[list]]]:
        """``(label_terms, term_scores)`` of each class ``0 … n_classes-1``.

        Args:
            counts: term counts, one row per text.
            terms: the vocabulary (columns of ``counts``).
            classes: class of each row, ``0 … n_classes-1``.
            n_classes: number of classes.
            docs: the space-joined tokens of each row (phrases are read from the first
                :data:`PHRASE_SAMPLE` of a class).
            sample_weight: how many complaints each row stands for.
            stopwords: words that never extend a phrase.
            domain_terms: word → tag of the regulator's dictionary.
        """
        weights = np.asarray(sample_weight, dtype=np.float64)
        scores = class_tfidf(counts, weights, classes, n_classes)
        presence = counts.copy()
        presence.data[:] = 1.0
        class_onehot = onehot(classes, weights, n_classes)
        class_docs = np.asarray(class_onehot.sum(axis=1)).ravel()
        doc_share = (np.asarray((class_onehot @ presence).todense(), dtype=np.float64)
                     / np.maximum(class_docs, 1.0)[:, None])
        term_weights = label_weights(terms, domain_terms)
        weight_of = dict(zip(terms.tolist(), term_weights.tolist()))
        weight_of.update(dict.fromkeys(label_stopwords(), 0.0))
        members_of = pd.Series(np.arange(len(classes))).groupby(classes, sort=True).apply(
            lambda part: part.to_numpy()[:PHRASE_SAMPLE]).to_dict()
        out = []
        for c in range(n_classes):
            scored = ranked_terms(scores[c], doc_share[c], class_docs[c], term_weights, terms)
            if self.join_phrases:
                sample = [str(docs[r]).lower().split() for r in members_of.get(c, [])]
                scored = phrases(scored, sample, stopwords, weight_of, domain_terms, n_terms=self.n_terms)
            out.append(([t for t, _ in scored[:self.n_terms]], scored))
        return out
