"""Classify complaints by product category, problem type and platform.

Three layers, each explainable:

* :class:`RuleClassifier` — weighted keyword banks from the taxonomy (no training data
  needed). Product-type words outweigh generic words, the product and title fields
  outweigh the text, phrases like 手机号 hide the keyword inside them, and negated
  problem words (没有质量问题) do not count. Keeps the matched keywords as evidence.
* :class:`SupervisedClassifier` — TF-IDF over cached tokens (word 1–2-grams) and over
  characters (1–3-grams); a linear SVM, NB-SVM and complement naive Bayes combined by a
  logistic regression into probabilities; trained when an import carries a usable
  category column (see :mod:`analysis.enrich`).
* :func:`classify_complaints` — combines exported columns (mapped onto the taxonomy),
  the model where it is confident and the rules otherwise; 未分类 when unsure.

Platforms come from the platform column (aliases), else the merchant, else the text:
:func:`normalize_platform` / :func:`normalize_platforms`.
"""

from __future__ import annotations

import hashlib
import io
import math
import pickle
import re
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import sparse

from analysis.privacy import mask_text
from analysis.taxonomy import OTHER_PLATFORM, UNCLASSIFIED, PhraseIndex, Taxonomy, load_taxonomy
from analysis.textutil import data_path, load_stopwords, to_halfwidth

RULES_VERSION = "rules-6"  # bump when the scoring code changes: stored results go stale
EVIDENCE_SEP = "、"
# Field multipliers: where a keyword is found matters as much as which keyword it is.
FIELD_WEIGHTS = {"product": 3.0, "title": 2.0, "raw": 2.0, "text": 1.0}
FIELD_TAGS = {"product": "商品", "title": "标题", "raw": "导出列", "text": ""}
# A negation right before a problem keyword cancels it (没有质量问题, 无异味).
NEGATIONS = ("没有", "没", "无", "并无", "不存在", "未发现", "未见", "并没有", "没什么", "没啥", "不是")
_MAX_TEXT = 20_000  # characters scanned per field: enough for any real complaint
_REPEAT_BONUS = 0.5  # each repeat of a keyword adds half its weight, at most twice
CATEGORY_TAU = 2.5
PROBLEM_TAU = 2.5
PROBLEM_RUNNER_UP = 0.5
PROBLEM_SEVERITY_BOOST = 0.15  # problem score × (1 + 0.15 × (severity − 1)) when deciding
# A context (category_context.csv) reinterprets another category's words when its own score is
# at least this share of theirs: context beats a single noun, not a whole review about the noun.
CONTEXT_MIN_SHARE = 0.5


def _as_list(values, n: int) -> list:
    if values is None:
        return [None] * n
    values = list(values)
    if len(values) != n:
        raise ValueError(f"expected {n} values, got {len(values)}")
    return values


def _clean(value) -> str:
    """Lower-case, half-width ASCII letters and digits, at most ``_MAX_TEXT`` characters."""
    if not isinstance(value, str) or not value:
        return ""
    return to_halfwidth(value[:_MAX_TEXT]).lower()


class KeywordBanks:
    """Several weighted keyword banks (e.g. categories and problems) matched in one scan.

    Args:
        banks: ``{bank: {label: {keyword: weight}}}`` (keywords lower-case).
        ignore: phrases that hide the keywords inside them (keywords take precedence).
        negations: prefixes that cancel a keyword of a ``negatable`` bank right after them.
        negatable: banks whose keywords negations cancel.
    """

    def __init__(self, banks, *, ignore: Sequence[str] = (), negations: Sequence[str] = (),
                 negatable: Sequence[str] = ()) -> None:
        self.banks = tuple(banks)
        self.labels = {bank: tuple(labels) for bank, labels in banks.items()}
        table: dict[str, list[tuple[int, int, float]]] = {}
        for b, (bank, labels) in enumerate(banks.items()):
            for idx, (label, words) in enumerate(labels.items()):
                for word, weight in words.items():
                    table.setdefault(word, []).append((b, idx, float(weight)))
        self._table = table
        self._index = PhraseIndex(list(table) + list(ignore))
        self._negations = tuple(negations)
        self._negatable = {self.banks.index(b) for b in negatable}

    def _count(self, text: str, tokens: str | None) -> tuple[dict[str, int], dict[str, int]]:
        """Counts of each keyword: all occurrences, and those not right after a negation.

        With ``tokens`` (space-joined, a space at both ends), one-character keywords
        (书, 鞋, 药 …) only count when they are whole tokens, not parts of longer words.
        """
        counts: dict[str, int] = {}
        plain: dict[str, int] = {}
        table, negations = self._table, self._negations
        for word, start in self._index.finditer(text):
            if word not in table:
                continue
            if tokens is not None and len(word) == 1 and f" {word} " not in tokens:
                continue
            counts[word] = counts.get(word, 0) + 1
            if not (negations and text[max(0, start - 3):start].endswith(negations)):
                plain[word] = plain.get(word, 0) + 1
        return counts, plain

    def score(self, fields: Sequence[tuple[str, str]], tokens: str | None = None, *,
              cache: dict | None = None):
        """Score one complaint.

        Args:
            fields: ``(field, text)`` pairs, field one of :data:`FIELD_WEIGHTS`.
            tokens: the complaint's tokens, space-joined with a space at both ends
                (see :meth:`_count`); applied to the text field only.
            cache: a dict kept across calls: the keyword counts of the short fields
                (product, title, exported cells), which repeat across complaints, are
                looked up there instead of scanned again.

        Returns:
            Per bank: ``{label index: (score, [(contribution, keyword, field), …])}``.
        """
        out: list[dict[int, list]] = [{} for _ in self.banks]
        table, negatable = self._table, self._negatable
        for field, text in fields:
            if not text:
                continue
            mult = FIELD_WEIGHTS[field]
            if field == "text" or cache is None:
                counts, plain = self._count(text, tokens if field == "text" else None)
            else:
                found = cache.get(text)
                if found is None:
                    found = cache[text] = self._count(text, None)
                counts, plain = found
            for word, count in counts.items():
                for bank, idx, weight in table[word]:
                    n = plain.get(word, 0) if bank in negatable else count
                    if not n:
                        continue
                    value = weight * mult * (1.0 + _REPEAT_BONUS * min(n - 1, 2))
                    slot = out[bank].get(idx)
                    if slot is None:
                        out[bank][idx] = [value, [(value, word, field)]]
                    else:
                        slot[0] += value
                        slot[1].append((value, word, field))
        return out


def decide(scores: dict[int, list], *, tau: float, boost: Sequence[float] | None = None,
           runner_up: float = 1.0) -> tuple[int, float]:
    """Pick the best label: ``(index or -1, confidence in [0, 1])``.

    Confidence = ``top / (top + runner_up × second)`` × saturation of the top score
    (``1 - exp(-top / tau)``: a lone keyword of weight ``tau`` gives 0.63).

    Args:
        scores: ``{label index: [score, evidence]}`` as returned by :meth:`KeywordBanks.score`.
        tau: saturation scale.
        boost: per-label multipliers applied before deciding (e.g. by severity).
        runner_up: how much the second-best label lowers the confidence (problem types
            often co-occur — a defect and a refused refund — so they use 0.5).
    """
    if not scores:
        return -1, 0.0
    ranked = sorted(
        ((slot[0] * (boost[idx] if boost is not None else 1.0), idx) for idx, slot in scores.items()),
        reverse=True,
    )
    top, best = ranked[0]
    if top <= 0:
        return -1, 0.0
    second = ranked[1][0] if len(ranked) > 1 else 0.0
    return best, (top / (top + runner_up * second)) * (1.0 - math.exp(-top / tau))


def apply_context(scores: dict[int, list], rules: Sequence[tuple[int, tuple[int, ...], frozenset[str]]]
                  ) -> dict[int, list]:
    """Context beats a single noun: move other categories' keywords to a category whose context words were found.

    For each rule ``(target, sources, when)`` (a row of ``category_context.csv``, in order):
    when one of the ``when`` words is among ``target``'s evidence, the evidence of each
    ``sources`` category scoring at most ``1 / CONTEXT_MIN_SHARE`` times ``target`` moves to
    ``target`` (餐具 in a delivery complaint counts for 餐饮外卖, 空调 in a car complaint for
    汽车及配件); a source far stronger than the context keeps its words (a phone review that
    mentions 汽车 once is still about the phone). A keyword already counted for ``target`` in
    the same field is not counted twice.

    Args:
        scores: ``{category index: [score, evidence]}`` from :meth:`KeywordBanks.score`; changed in place.
        rules: ``(target index, source indices, when words)`` per rule.

    Returns:
        ``scores``.
    """
    for target, sources, when in rules:
        slot = scores.get(target)
        if slot is None or not any(word in when for _, word, _ in slot[1]):
            continue
        own = {(word, field) for _, word, field in slot[1]}
        strength = slot[0]
        for source in sources:
            moved = scores.get(source)
            if moved is None or strength < CONTEXT_MIN_SHARE * moved[0]:
                continue
            del scores[source]
            for item in moved[1]:
                if (item[1], item[2]) not in own:
                    slot[0] += item[0]
                    slot[1].append(item)
                    own.add((item[1], item[2]))
    return scores


def format_evidence(items: Sequence[tuple[float, str, str]], *, limit: int = 8) -> str:
    """Evidence string: keywords by contribution, e.g. ``电热水壶[商品]、漏电、热水壶``."""
    ordered = sorted(items, key=lambda item: -item[0])[:limit]
    return EVIDENCE_SEP.join(
        word + (f"[{FIELD_TAGS[field]}]" if FIELD_TAGS[field] else "") for _, word, field in ordered
    )


def evidence_terms(evidence: str | None) -> list[str]:
    """The keywords inside an evidence string (markers like ``[标题]`` and ``模型:`` removed)."""
    if not isinstance(evidence, str) or not evidence:
        return []
    body = evidence.split(":", 1)[1] if ":" in evidence.split(EVIDENCE_SEP, 1)[0] else evidence
    terms = []
    for part in body.split(EVIDENCE_SEP):
        term = part.split("[", 1)[0].strip()
        if term and term not in terms:
            terms.append(term)
    return terms


class RuleClassifier:
    """Explainable keyword-rule classifier for category and problem type.

    Args:
        taxonomy: the taxonomy; default :func:`analysis.taxonomy.load_taxonomy`.
        min_confidence: below this the category is 未分类.
        min_problem_confidence: below this the problem type is 未分类.
        stopwords: stop words for :meth:`content_free`; default the tokenizer's
            (``data/dict/stopwords.txt``).

    Attributes:
        filler_words: the stop words and the taxonomy's content-free words (物流, 满意 …):
            words that name no product or service.
    """

    def __init__(self, taxonomy: Taxonomy | None = None, *, min_confidence: float = 0.35,
                 min_problem_confidence: float = 0.45, stopwords: frozenset[str] | None = None) -> None:
        self.taxonomy = taxonomy or load_taxonomy()
        self.min_confidence = min_confidence
        self.min_problem_confidence = min_problem_confidence
        if stopwords is None:
            from analysis.segment import DEFAULT_STOPWORDS

            stopwords = load_stopwords(DEFAULT_STOPWORDS)
        self.stopwords = frozenset(stopwords)
        tax = self.taxonomy
        self.filler_words = self.stopwords | tax.content_free_words
        self._banks = KeywordBanks(
            {"category": tax.category_keywords, "problem": tax.problem_keywords},
            ignore=tax.ignore_phrases, negations=NEGATIONS, negatable=("problem",),
        )
        self._categories = self._banks.labels["category"]
        self._problems = self._banks.labels["problem"]
        at = {c: i for i, c in enumerate(self._categories)}
        self._context = [(at[r.category], tuple(at[c] for c in r.sources), r.when) for r in tax.category_context]
        # Safety outranks quality outranks the rest when both are mentioned (漏电 + 退款).
        self._problem_boost = [1.0 + PROBLEM_SEVERITY_BOOST * (tax.severity_of(p) - 1)
                               for p in self._problems]
        self._severity = {p: tax.severity_of(p) for p in (*self._problems, UNCLASSIFIED)}

    @property
    def fingerprint(self) -> str:
        """Changes with the rules' code version, the taxonomy, the thresholds and the stop words."""
        raw = (f"{RULES_VERSION}:{self.taxonomy.fingerprint}:{self.min_confidence}:{self.min_problem_confidence}:"
               + " ".join(sorted(self.stopwords)))
        return hashlib.blake2b(raw.encode(), digest_size=8).hexdigest()

    def content_free(self, tokens: Sequence[str | None]) -> np.ndarray:
        """Whether each text says nothing about a product or service (好评 / 物流快，很满意 / 还不错).

        Content-free: every token is one of :attr:`filler_words`, punctuation or a number.
        :func:`classify_complaints` does not ask the model about such texts: their category
        comes from the rules alone (product, title, keywords), 未分类 when these find none.
        Rows without tokens (None) are not judged (False).

        Args:
            tokens: space-joined tokens per text.
        """
        from analysis.segment import StopwordFilter

        filt = getattr(self, "_content_filter", None)
        if filt is None:
            filt = self._content_filter = StopwordFilter(self.filler_words)
        tokens = list(tokens)
        return np.fromiter((isinstance(t, str) and not filt(t) for t in tokens), dtype=bool, count=len(tokens))

    def predict(self, texts: Sequence[str], *, tokens: Sequence[str] | None = None,
                products: Sequence[str | None] | None = None, titles: Sequence[str | None] | None = None,
                raw_labels: Sequence[str | None] | None = None) -> pd.DataFrame:
        """Classify complaints.

        Args:
            texts: complaint texts.
            tokens: space-joined tokens per text (optional; one-character keywords then
                must be whole tokens).
            products: product names (keywords there weigh 3×).
            titles: complaint titles (2×).
            raw_labels: exported category / problem cells that did not map onto the
                taxonomy (2×), e.g. ``淘宝省钱卡强制开通``.

        Returns:
            One row per text: ``category, category_confidence, category_evidence, problem,
            problem_confidence, problem_evidence, severity``.
        """
        texts = list(texts)
        n = len(texts)
        tokens, products, titles, raw_labels = (
            _as_list(v, n) for v in (tokens, products, titles, raw_labels)
        )
        out = {k: [] for k in ("category", "category_confidence", "category_evidence", "problem",
                               "problem_confidence", "problem_evidence", "severity")}
        cache: dict = {}
        for i in range(n):
            fields = (("product", _clean(products[i])), ("title", _clean(titles[i])),
                      ("raw", _clean(raw_labels[i])), ("text", _clean(texts[i])))
            tok = f" {tokens[i]} " if isinstance(tokens[i], str) else None
            cat_scores, prob_scores = self._banks.score(fields, tok, cache=cache)
            if self._context and len(cat_scores) > 1:
                apply_context(cat_scores, self._context)
            best, conf = decide(cat_scores, tau=CATEGORY_TAU)
            sure = best >= 0 and conf >= self.min_confidence
            out["category"].append(self._categories[best] if sure else UNCLASSIFIED)
            out["category_confidence"].append(round(conf, 4))
            out["category_evidence"].append(format_evidence(cat_scores[best][1]) if best >= 0 else "")
            best, conf = decide(prob_scores, tau=PROBLEM_TAU, boost=self._problem_boost,
                                runner_up=PROBLEM_RUNNER_UP)
            sure = best >= 0 and conf >= self.min_problem_confidence
            problem = self._problems[best] if sure else UNCLASSIFIED
            out["problem"].append(problem)
            out["problem_confidence"].append(round(conf, 4))
            out["problem_evidence"].append(format_evidence(prob_scores[best][1]) if best >= 0 else "")
            out["severity"].append(self._severity[problem])
        frame = pd.DataFrame(out)
        frame["severity"] = frame["severity"].astype("int64")
        return frame


# -- supervised model ----------------------------------------------------------------------
MODEL_FORMAT = 3  # bump when a saved model's attributes change: older saved models are not loaded
MODELS_SQL = """
CREATE TABLE IF NOT EXISTS classifier_models (
    name          VARCHAR NOT NULL,
    fingerprint   VARCHAR NOT NULL,
    created_at    TIMESTAMP NOT NULL,
    n_train       BIGINT NOT NULL,
    classes_json  VARCHAR NOT NULL,
    payload       BLOB NOT NULL
);
"""
N_BASES = 3  # base models of the stack: SVM, NB-SVM, complement naive Bayes


def _model_tokens(tokens: str | None, stopwords: frozenset[str]) -> list[str]:
    if not isinstance(tokens, str):
        return []
    words = tokens.split()
    return [t for t in words if t not in stopwords] if stopwords else words


def _fit_bases(X, y: np.ndarray, classes: np.ndarray, *, C: float, tol: float, class_weight: dict,
               nb_alpha: float, random_state: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Train the three base models on ``X, y``; return them as one linear map.

    * a one-vs-rest linear SVM over the TF-IDF features (classes weighted);
    * NB-SVM (Wang & Manning 2012): per class, a binary SVM over the features scaled by
      their naive-Bayes log-count ratio (class vs the rest, on binarised features);
    * complement naive Bayes (Rennie et al. 2003) over the TF-IDF values, its joint
      log-likelihoods centred per row.

    All three are linear in ``X``, so their scores are ``X @ W + b``.

    Returns:
        ``W`` (features × 3·classes, float32) and ``b`` (3·classes): the SVM's decision
        values, then NB-SVM's, then the naive-Bayes scores, each in the order of ``classes``.
    """
    from sklearn.naive_bayes import ComplementNB
    from sklearn.svm import LinearSVC

    n_classes, n_features = len(classes), X.shape[1]
    W = np.zeros((n_features, N_BASES * n_classes), dtype=np.float32)
    b = np.zeros(N_BASES * n_classes)
    # A label missing from this fold's texts (possible when copies of a text share a fold)
    # keeps zero weights and a "no" intercept: the combiner sees it score low.
    at = np.flatnonzero(np.isin(classes, y))
    b[:2 * n_classes] = -1.0
    svm = LinearSVC(C=C, tol=tol, class_weight=class_weight, random_state=random_state).fit(X, y)
    coef, intercept = svm.coef_, svm.intercept_
    if len(at) == 2:  # one decision value, pointing at the second class
        coef, intercept = np.vstack([-coef[0], coef[0]]), np.array([-intercept[0], intercept[0]])
    W[:, at], b[at] = coef.T, intercept
    # NB-SVM: log-count ratios from binarised features
    binary = X.copy()
    binary.data[:] = 1.0
    onehot = (y[:, None] == classes[None, :]).astype(np.float32)
    present = np.asarray((binary.T @ onehot)).T  # classes × features: texts with the feature
    rest = present.sum(axis=0) - present
    for j in at:
        p, q = present[j] + 1.0, rest[j] + 1.0
        ratio = (np.log(p / p.sum()) - np.log(q / q.sum())).astype(np.float32)
        binary_svm = LinearSVC(C=C, tol=tol, random_state=random_state).fit(X @ sparse.diags(ratio), y == classes[j])
        W[:, n_classes + j] = ratio * binary_svm.coef_[0]
        b[n_classes + j] = binary_svm.intercept_[0]
    cnb = ComplementNB(alpha=nb_alpha).fit(X, y)
    log_prob = cnb.feature_log_prob_.T  # features × seen classes; scores = X @ log_prob
    W[:, 2 * n_classes + at] = log_prob - log_prob.mean(axis=1, keepdims=True)
    return W, b


def _text_folds(codes: np.ndarray, labels: np.ndarray, n_folds: int,
                random_state: int | None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Folds stratified over distinct texts: every copy of a text lands in the same fold.

    Held-out scores then come from texts the fold's models never saw, as at prediction
    time; with copies split across folds the combiner would learn to trust the base models
    too much (exports repeat texts: templates, resubmitted complaints).

    Args:
        codes: per row, the number of its distinct text (``pandas.factorize`` order).
        labels: per row, its label (a text counts under the label of its first row).
    """
    from sklearn.model_selection import StratifiedKFold

    _, first = np.unique(codes, return_index=True)
    fold_of = np.empty(len(first), dtype=np.int64)
    splitter = StratifiedKFold(n_folds, shuffle=True, random_state=random_state)
    for k, (_, test) in enumerate(splitter.split(first, labels[first])):
        fold_of[test] = k
    row_fold = fold_of[codes]
    return [(np.flatnonzero(row_fold != k), np.flatnonzero(row_fold == k)) for k in range(n_folds)]


class SupervisedClassifier:
    """A stack of three linear text models over cached tokens, with probabilities.

    Features (:class:`analysis.features.HashedTfidf`): word 1–2-grams of the tokens and
    character 1–3-grams of the same text (the tokens joined without spaces: lower-case,
    half-width), both with sublinear tf, computed in bulk through hashing. Three base
    models (a linear SVM, NB-SVM and complement naive Bayes: :func:`_fit_bases`) are
    combined by a logistic regression trained on their out-of-fold scores, so
    ``category_confidence`` is a probability. On ``bench/eval_classify.py`` the stack
    scores macro-F1 0.90 where the SVM alone scores 0.89.

    Training can use finer labels than the taxonomy (an export's own category values,
    e.g. 通讯器材类 and 电子计算机类): with ``label_map`` the model learns the fine labels
    and reports the taxonomy category, summing the probabilities of its fine labels.

    Args:
        C: regularisation of the SVMs (the plain one and NB-SVM's).
        tol: the SVMs' stopping tolerance (1e-3 scores the same as liblinear's 1e-4 on
            ``bench/eval_classify.py`` and trains in about half the time).
        word_ngrams: word n-gram range.
        char_ngrams: character n-gram range; ``None`` for words only.
        min_df: minimum document frequency of a feature.
        hash_bits: ``2**hash_bits`` hash buckets per feature block.
        class_weight_power: weight classes in the plain SVM by ``(n_max / n_class) ** power``
            (0: unweighted).
        stack_folds: folds in which the base models are trained; their held-out scores
            train the combiner.
        nb_alpha: smoothing of complement naive Bayes.
        combiner_C: regularisation of the combining logistic regression.
        combiner_weight_power: weight labels in the combiner by ``(n_max / n_label) ** power``
            (a little towards small labels: macro-F1 counts every category alike).
        min_confidence: probability below which :meth:`predict` answers 未分类.
        min_fine_examples: a fine label with fewer distinct texts is trained as the biggest
            fine label of its category.
        stopwords: tokens ignored (default none: punctuation and function words carry
            signal about where a text comes from).
        random_state: seed of the SVMs' coordinate descent and of the folds.
    """

    _keep_trace = False  # tests: keep the folds, base models and combiner in ``_fit_trace``

    def __init__(self, *, C: float = 0.3, tol: float = 1e-3, word_ngrams: tuple[int, int] = (1, 2),
                 char_ngrams: tuple[int, int] | None = (1, 3), min_df: int = 2, hash_bits: int = 21,
                 class_weight_power: float = 0.3, stack_folds: int = 3, nb_alpha: float = 0.03,
                 combiner_C: float = 1.0, combiner_weight_power: float = 0.15, min_confidence: float = 0.6,
                 min_fine_examples: int = 10, stopwords: frozenset[str] | Sequence[str] = frozenset(),
                 random_state: int | None = 0) -> None:
        self.C = C
        self.tol = tol
        self.word_ngrams = tuple(word_ngrams)
        self.char_ngrams = tuple(char_ngrams) if char_ngrams else None
        self.min_df = min_df
        self.hash_bits = hash_bits
        self.class_weight_power = class_weight_power
        self.stack_folds = stack_folds
        self.nb_alpha = nb_alpha
        self.combiner_C = combiner_C
        self.combiner_weight_power = combiner_weight_power
        self.min_confidence = min_confidence
        self.min_fine_examples = min_fine_examples
        self.stopwords = frozenset(stopwords)
        self.random_state = random_state
        self.classes_: np.ndarray | None = None
        self.fine_classes_: np.ndarray | None = None
        self.fingerprint: str | None = None
        self.n_train_ = 0

    # -- features --------------------------------------------------------------------
    def _docs(self, tokens: Sequence[str | None]) -> list[str]:
        if not self.stopwords:
            return [t if isinstance(t, str) else "" for t in tokens]
        return [" ".join(_model_tokens(t, self.stopwords)) for t in tokens]

    def _features(self, tokens: Sequence[str | None], *, fit: bool, terms: bool = False):
        from analysis.features import HashedTfidf

        docs = self._docs(tokens)
        if fit:
            self._vectorizer = HashedTfidf(word_ngrams=self.word_ngrams, char_ngrams=self.char_ngrams,
                                           bits=self.hash_bits, min_df=self.min_df)
            return self._vectorizer.fit_transform(docs)
        X, found, flat = self._vectorizer.transform_with_terms(docs)
        return (X, found, flat) if terms else X

    # -- training and prediction ----------------------------------------------------------
    def fit(self, tokens: Sequence[str | None], labels: Sequence[str], *,
            label_map: dict[str, str] | None = None) -> SupervisedClassifier:
        """Train on space-joined tokens and their labels.

        The base models (see :func:`_fit_bases`) are trained in ``stack_folds`` folds; their
        scores on each fold's held-out texts train the combiner, a multinomial logistic
        regression. Prediction uses the fold models' average. Everything before the
        combiner's softmax is linear, so the fitted model is stored as one weight matrix
        (:meth:`_fine_proba`).

        Args:
            tokens: space-joined tokens per text.
            labels: a label per text (taxonomy categories, or fine labels with ``label_map``).
            label_map: fine label → category (labels missing from it are categories).

        Raises:
            ValueError: fewer than two categories, or a category with fewer distinct texts
                than folds.
        """
        tokens = list(tokens)
        label_map = dict(label_map or {})
        codes, fine = self._training_labels(tokens, labels, label_map)
        names, counts = np.unique(fine, return_counts=True)
        X = self._features(tokens, fit=True)
        folds = _text_folds(codes, fine, self.stack_folds, self.random_state)
        W, b, scores, trace = self._fit_folds(X, fine, names, counts, folds)
        combiner, centre, scale = self._fit_combiner(scores, fine, names, counts)
        # Standardising the scores is linear: it is folded into the weights too.
        W /= scale.astype(np.float32)
        b = (b - centre) / scale
        if self._keep_trace:
            self._fit_trace = (folds, trace, (centre, scale), combiner)
        self._compile(W, b, combiner)
        fine_to_cat = {f: label_map.get(f, f) for f in names}
        self._set_classes(names, fine_to_cat)
        self._cross_validated_f1(combiner.predict((scores - centre) / scale), fine, fine_to_cat)
        self.n_train_ = len(fine)
        self.fingerprint = self._training_fingerprint(tokens, fine, fine_to_cat)
        self.format_ = MODEL_FORMAT
        return self

    def _training_labels(self, tokens: list[str | None], labels: Sequence[str],
                         label_map: dict[str, str]) -> tuple[np.ndarray, np.ndarray]:
        """Text codes (equal texts, equal codes) and the fine label of each text.

        A fine label with too few distinct texts joins the biggest fine label of its category.

        Raises:
            ValueError: lengths differ, fewer than two categories, or a category with fewer
                distinct texts than folds.
        """
        fine = np.asarray([str(v) for v in labels], dtype=object)
        if len(tokens) != len(fine):
            raise ValueError("tokens and labels differ in length")
        target = np.asarray([label_map.get(v, v) for v in fine], dtype=object)
        codes, _ = pd.factorize(np.asarray([t if isinstance(t, str) else "" for t in tokens], dtype=object))
        size = pd.DataFrame({"text": codes, "label": fine}).drop_duplicates()["label"].value_counts().to_dict()
        biggest: dict[str, str] = {}
        for name in sorted(size, key=lambda n: (-size[n], n)):
            biggest.setdefault(label_map.get(name, name), name)
        floor = max(self.min_fine_examples, self.stack_folds)
        fine = np.asarray([f if size[f] >= floor else biggest[label_map.get(f, f)] for f in fine], dtype=object)
        distinct = pd.DataFrame({"text": codes, "label": target}).drop_duplicates()["label"].value_counts()
        if len(distinct) < 2:
            raise ValueError("need at least two classes")
        if distinct.min() < self.stack_folds:
            raise ValueError(f"every class needs at least {self.stack_folds} distinct texts")
        return codes, fine

    def _fit_folds(self, X, fine: np.ndarray, names: np.ndarray, counts: np.ndarray,
                   folds: list) -> tuple[np.ndarray, np.ndarray, np.ndarray, list]:
        """The base models (:func:`_fit_bases`) trained in each fold.

        Returns:
            ``(W, b, scores, trace)``: the weights and biases averaged over the folds, every
            text's scores by the models that did not see it, and each fold's ``(W, b)`` when
            ``_keep_trace``.
        """
        from joblib import Parallel, delayed

        weights = dict(zip(names, (counts.max() / counts) ** self.class_weight_power))
        options = dict(C=self.C, tol=self.tol, class_weight=weights, nb_alpha=self.nb_alpha,
                       random_state=self.random_state)
        # n_jobs=None: sequential unless a joblib.parallel_config says otherwise (the build's).
        # Each fold's weights (features × 3·labels) are summed as they arrive, not all kept.
        bases = Parallel(n_jobs=None, return_as="generator")(
            delayed(_fit_bases)(X[train], fine[train], names, **options) for train, _ in folds)
        scores = np.zeros((X.shape[0], N_BASES * len(names)))
        W = b = None
        trace = []
        for (_, held_out), (W_k, b_k) in zip(folds, bases):
            scores[held_out] = X[held_out] @ W_k + b_k
            W, b = (W_k, b_k) if W is None else (np.add(W, W_k, out=W), b + b_k)
            if self._keep_trace:
                trace.append((W_k.copy(), b_k))
        W /= len(folds)
        b /= len(folds)
        return W, b, scores, trace

    def _fit_combiner(self, scores: np.ndarray, fine: np.ndarray, names: np.ndarray,
                      counts: np.ndarray) -> tuple[object, np.ndarray, np.ndarray]:
        """The logistic regression combining the base models' standardised held-out scores.

        Returns:
            ``(combiner, centre, scale)`` of the standardisation.
        """
        from sklearn.linear_model import LogisticRegression

        # Standardised scores and tolerance 1e-3: on the demo's 40 labels lbfgs then stops
        # after ≈ 120 iterations in 8 s (raw scores, tolerance 1e-4: 1,613 iterations, 102 s).
        centre, scale = scores.mean(axis=0), scores.std(axis=0)
        scale[scale == 0] = 1.0
        label_weights = dict(zip(names, (counts.max() / counts) ** self.combiner_weight_power))
        combiner = LogisticRegression(C=self.combiner_C, tol=1e-3, class_weight=label_weights, max_iter=5000)
        combiner.fit((scores - centre) / scale, fine)
        return combiner, centre, scale

    def _cross_validated_f1(self, predicted: np.ndarray, fine: np.ndarray, fine_to_cat: dict[str, str]) -> None:
        """Per-category F1 of the training texts from the stack's own folds (``cv_f1_``,
        ``cv_macro_f1_``): each text's base-model scores come from the fold models that did not
        see it, combined by the combiner (trained on those held-out scores, so slightly
        optimistic against a fully nested cross-validation)."""
        from sklearn.metrics import f1_score

        to_cat = np.vectorize(lambda f: fine_to_cat.get(f, f), otypes=[object])
        truth, guess = to_cat(fine), to_cat(predicted)
        scores = f1_score(truth, guess, labels=list(self.classes_), average=None, zero_division=0)
        self.cv_f1_ = {str(c): round(float(v), 4) for c, v in zip(self.classes_, scores)}
        self.cv_macro_f1_ = round(float(np.mean(scores)), 4) if len(scores) else 0.0

    def _set_classes(self, names: np.ndarray, fine_to_cat: dict[str, str]) -> None:
        """The fine labels, the categories, and the fine → category summing matrix."""
        self.fine_classes_ = names
        self.classes_ = np.asarray(sorted(set(fine_to_cat.values())), dtype=object)
        index = {c: i for i, c in enumerate(self.classes_)}
        self._fold = np.zeros((len(names), len(self.classes_)), dtype=np.float64)
        for i, f in enumerate(names):
            self._fold[i, index[fine_to_cat[f]]] = 1.0

    def _training_fingerprint(self, tokens: list[str | None], fine: np.ndarray,
                              fine_to_cat: dict[str, str]) -> str:
        """A digest of the options, the label mapping and the training texts with their labels."""
        digest = hashlib.blake2b(digest_size=8)
        digest.update(repr((MODEL_FORMAT, self.C, self.tol, self.word_ngrams, self.char_ngrams, self.min_df,
                            self.hash_bits, self.class_weight_power, self.stack_folds, self.nb_alpha,
                            self.combiner_C, self.combiner_weight_power, self.min_fine_examples,
                            self.random_state, sorted(self.stopwords), sorted(fine_to_cat.items()))).encode())
        for tok, lab in zip(tokens, fine):
            digest.update(f"{tok}\x1f{lab}\n".encode())
        return digest.hexdigest()

    def _compile(self, W: np.ndarray, b: np.ndarray, combiner) -> None:
        """Fold the averaged base models and the combiner into one linear softmax model.

        The combiner's logits are ``(X @ W + b) @ A.T + c``, i.e. ``X @ (W @ A.T) + (b @ A.T
        + c)``: one float32 matrix (features × fine labels). Each feature's row is centred
        across the labels, which leaves the softmax unchanged and makes a positive weight
        mean "points to this label more than to the average one" (for evidence).
        """
        A, c = combiner.coef_, combiner.intercept_
        if A.shape[0] == 1:  # binary: one logit for the second class; softmax over (−z/2, z/2)
            A, c = np.vstack([-A[0] / 2, A[0] / 2]), np.array([-c[0] / 2, c[0] / 2])
        weights = W @ A.T
        weights -= weights.mean(axis=1, keepdims=True)
        self._weights = np.ascontiguousarray(weights, dtype=np.float32)
        self._bias = (b @ A.T + c).astype(np.float64)

    def _check_fitted(self) -> None:
        if self.classes_ is None:
            raise RuntimeError("SupervisedClassifier is not fitted")

    def _fine_proba(self, X) -> np.ndarray:
        """Fine-label probabilities: the softmax of ``X @ weights + bias`` (see :meth:`_compile`).

        A text without a single known feature gets equal probabilities: nothing in it
        points anywhere, so the training set's label frequencies do not decide.
        """
        from scipy.special import softmax

        logits = (X @ self._weights).astype(np.float64) + self._bias
        proba = softmax(logits, axis=1)
        proba[np.diff(X.indptr) == 0] = 1.0 / len(self.fine_classes_)
        return proba

    def predict_proba(self, tokens: Sequence[str | None]) -> np.ndarray:
        """Category probabilities, columns in the order of :attr:`classes_`."""
        self._check_fitted()
        tokens = list(tokens)
        if not tokens:
            return np.zeros((0, len(self.classes_)))
        return self._fine_proba(self._features(tokens, fit=False)) @ self._fold

    def predict(self, tokens: Sequence[str | None], *, evidence: bool = True,
                evidence_skip: frozenset[str] = frozenset()) -> pd.DataFrame:
        """Predict categories.

        Args:
            tokens: space-joined tokens per text.
            evidence: whether to compute ``category_evidence``.
            evidence_skip: words never shown as evidence (stop words, 物流, 满意 …): they may
                weigh in the decision, but they say nothing about the product; with them
                skipped the evidence names the content words that decided, and stays ``模型:``
                when none did.

        Returns:
            ``category`` (未分类 below :attr:`min_confidence`), ``category_confidence`` (the
            probability of the best category), ``category_evidence`` (the words that
            pushed most towards it, e.g. ``模型:热水器、安装``) and ``known_share`` (the share
            of the text's words, those of ``evidence_skip`` left out, seen in training: texts
            unlike the training data score low, and their probabilities mean less).
        """
        self._check_fitted()
        tokens = list(tokens)
        if not tokens:
            return pd.DataFrame({"category": pd.Series(dtype=object),
                                 "category_confidence": pd.Series(dtype=float),
                                 "category_evidence": pd.Series(dtype=object),
                                 "known_share": pd.Series(dtype=float)})
        X, terms, flat = self._features(tokens, fit=False, terms=True)
        fine = self._fine_proba(X)
        proba = fine @ self._fold
        best = proba.argmax(axis=1)
        conf = proba[np.arange(len(best)), best]
        category = np.where(conf >= self.min_confidence, self.classes_[best], UNCLASSIFIED)
        out = pd.DataFrame({"category": category.astype(object), "category_confidence": conf.round(4)})
        if evidence:
            best_fine = (fine * self._fold[:, best].T).argmax(axis=1)  # the best fine label inside it
            out["category_evidence"] = self._evidence(X, terms, flat, best_fine, skip=evidence_skip)
        else:
            out["category_evidence"] = ""
        out["known_share"] = _known_share(self._docs(tokens), terms, flat, evidence_skip)
        return out

    def _evidence(self, X, terms: pd.DataFrame | None, flat: np.ndarray | None, best: np.ndarray, *,
                  top: int = 4, skip: frozenset[str] = frozenset()) -> list[str]:
        """Per row, the word n-grams with the largest positive ``tf-idf × weight`` for ``best``
        (n-grams holding a word of ``skip`` left out)."""
        n = X.shape[0]
        if terms is None or terms.empty:
            return ["模型:"] * n
        rows, cols = terms["row"].to_numpy(), terms["column"].to_numpy()
        first = terms["first"].to_numpy()
        second = np.where(terms["length"].to_numpy() > 1, np.minimum(first + 1, len(flat) - 1), -1)
        # Cheap tests first: a positive weight for the row's category, whole words only (a single
        # word of two or more characters that is no stop word: never 了, 的 or a pair like 了优衣库).
        wordlike = _evidence_words(flat)
        if skip:
            wordlike &= ~pd.Series(flat, dtype=object).isin(skip).to_numpy()
        keep = (self._weights[cols, best[rows]] > 0) & wordlike[first] & (second < 0)
        rows, cols, first, second = rows[keep], cols[keep], first[keep], second[keep]
        # A word repeated in a text is one piece of evidence.
        key = rows * X.shape[1] + cols
        key, once = np.unique(key, return_index=True)
        rows, cols, first, second = rows[once], cols[once], first[once], second[once]
        # The tf-idf value of each (row, column): CSR entries are sorted by row, then column.
        keys = np.repeat(np.arange(n, dtype=np.int64), np.diff(X.indptr)) * X.shape[1] + X.indices
        contrib = X.data[np.searchsorted(keys, key)] * self._weights[cols, best[rows]]
        order = np.lexsort((-contrib, rows))
        rows, first, second = rows[order], first[order], second[order]
        start = np.searchsorted(rows, rows, side="left")
        rank = np.arange(len(rows)) - start
        top_k = rank < top
        rows, first, second, rank = rows[top_k], first[top_k], second[top_k], rank[top_k]
        words = _masked_words(flat[first]) + np.where(second >= 0, _masked_words(flat[np.maximum(second, 0)]), "")
        out = np.full(n, "模型:", dtype=object)
        for k in range(top):
            at = rank == k
            out[rows[at]] = out[rows[at]] + (EVIDENCE_SEP if k else "") + words[at]
        return out.tolist()

    # -- persistence -------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        """Serialise the fitted model (pickle; load only models this app saved)."""
        self._check_fitted()
        buffer = io.BytesIO()
        pickle.dump(self, buffer, protocol=pickle.HIGHEST_PROTOCOL)
        return buffer.getvalue()

    @staticmethod
    def from_bytes(data: bytes) -> SupervisedClassifier:
        """Inverse of :meth:`to_bytes`.

        Raises:
            TypeError: not a model of this class, or one saved by an older version of it
                (other features; :meth:`load` then answers None and enrichment retrains).
        """
        model = pickle.loads(data)
        if not isinstance(model, SupervisedClassifier):
            raise TypeError("not a SupervisedClassifier")
        if getattr(model, "format_", None) != MODEL_FORMAT:
            raise TypeError("a SupervisedClassifier saved by an older version")
        return model

    def save(self, store, *, name: str = "category", key: str | None = None) -> None:
        """Save into the store's ``classifier_models`` table, replacing a model of that name.

        Args:
            store: an :class:`analysis.store.Store` opened for writing.
            name: the model's name.
            key: what the model was trained from (default: :attr:`fingerprint`); :meth:`load`
                can ask for it.
        """
        import datetime as dt
        import json

        payload = self.to_bytes()
        with store.transaction() as cur:
            cur.execute(MODELS_SQL)
            cur.execute("DELETE FROM classifier_models WHERE name = ?", [name])
            cur.execute(
                "INSERT INTO classifier_models VALUES (?, ?, ?, ?, ?, ?)",
                [name, key or self.fingerprint, dt.datetime.now(), self.n_train_,
                 json.dumps([str(c) for c in self.classes_], ensure_ascii=False), payload],
            )

    @staticmethod
    def load(store, *, name: str = "category", key: str | None = None) -> SupervisedClassifier | None:
        """The model saved under ``name`` (and ``key``, if given) in the store, or None."""
        if not _has_models_table(store):
            return None
        sql = "SELECT payload FROM classifier_models WHERE name = ?"
        params: list = [name]
        if key is not None:
            sql += " AND fingerprint = ?"
            params.append(key)
        row = store.cursor().execute(sql + " ORDER BY created_at DESC LIMIT 1", params).fetchone()
        if row is None:
            return None
        try:
            return SupervisedClassifier.from_bytes(bytes(row[0]))
        except (TypeError, AttributeError, ModuleNotFoundError, pickle.UnpicklingError):
            return None  # saved by an older version: as if none were saved

    @staticmethod
    def exists(store, *, name: str = "category", key: str | None = None) -> bool:
        """Whether a model of that name (and key, if given) is saved in the store."""
        if not _has_models_table(store):
            return False
        sql, params = "SELECT count(*) FROM classifier_models WHERE name = ?", [name]
        if key is not None:
            sql += " AND fingerprint = ?"
            params.append(key)
        return bool(store.scalar(sql, params))

    @staticmethod
    def delete(store, *, name: str = "category") -> None:
        """Remove a saved model (nothing happens when there is none)."""
        if SupervisedClassifier.exists(store, name=name):
            with store.transaction() as cur:
                cur.execute("DELETE FROM classifier_models WHERE name = ?", [name])


def _has_models_table(store) -> bool:
    return bool(store.scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'classifier_models'"
    ))


def _known_share(docs: list[str], terms: pd.DataFrame | None, flat: np.ndarray | None,
                 skip: frozenset[str]) -> np.ndarray:
    """Per text, the share of its words (punctuation and ``skip`` left out) that are known word
    features (``terms`` of :meth:`analysis.features.HashedTfidf.transform_with_terms`, over
    ``flat``, the batch's tokens in order); 1.0 for a text without such words."""
    n = len(docs)
    if terms is None or flat is None or not len(flat):
        return np.ones(n)
    counts = np.fromiter((d.count(" ") + 1 if d else 0 for d in docs), dtype=np.int64, count=n)
    content = _wordlike(flat)
    if skip:
        content &= ~pd.Series(flat, dtype=object).isin(skip).to_numpy()
    total = np.bincount(np.repeat(np.arange(n), counts)[content], minlength=n)
    unigram = terms["length"].to_numpy() == 1
    first = terms["first"].to_numpy()[unigram]
    known = np.bincount(terms["row"].to_numpy()[unigram][content[first]], minlength=n)
    return np.where(total > 0, known / np.maximum(total, 1), 1.0).round(4)


def _wordlike(tokens: np.ndarray) -> np.ndarray:
    """Whether each token has a letter, digit or CJK character (punctuation is no evidence)."""
    codes, uniques = pd.factorize(tokens)
    flags = np.fromiter((any(ch.isalnum() for ch in u) for u in uniques), dtype=bool, count=len(uniques))
    return flags[codes] if len(codes) else np.zeros(0, dtype=bool)


def _evidence_stopwords() -> frozenset[str]:
    """The tokenizer's stop words (data/dict/stopwords.txt), read again when the file changes."""
    path = data_path("dict", "stopwords.txt")
    stamp = (str(path), path.stat().st_mtime if path.exists() else 0.0)
    if _EVIDENCE_STOPWORDS.get("stamp") != stamp:
        _EVIDENCE_STOPWORDS.update(stamp=stamp, words=load_stopwords(path) if path.exists() else frozenset())
    return _EVIDENCE_STOPWORDS["words"]


_EVIDENCE_STOPWORDS: dict = {}  # keyed by the stop-word file's modification time


def _evidence_words(tokens: np.ndarray) -> np.ndarray:
    """Whether each token may be shown as evidence: word-like, two characters or more, no stop word."""
    stop = _evidence_stopwords()
    codes, uniques = pd.factorize(tokens)
    flags = np.fromiter((len(u) >= 2 and u not in stop and any(ch.isalnum() for ch in u) for u in uniques),
                        dtype=bool, count=len(uniques))
    return flags[codes] if len(codes) else np.zeros(0, dtype=bool)


# -- platforms -------------------------------------------------------------------------------
def _text_cue_index(taxonomy: Taxonomy) -> PhraseIndex:
    index = getattr(taxonomy, "_cue_index", None)
    if index is None:
        index = PhraseIndex(taxonomy.platform_text_cues)
        object.__setattr__(taxonomy, "_cue_index", index)
    return index


def _blank(value) -> bool:
    return not isinstance(value, str) or not value.strip()


def normalize_platform(platform: str | None, merchant: str | None = None, text: str | None = None, *,
                       taxonomy: Taxonomy | None = None) -> str:
    """The normalised platform of one complaint.

    The platform column decides when it names a known platform (拼夕夕 → 拼多多, tmall → 天猫);
    otherwise the merchant (京东自营旗舰店 → 京东, 阿里客服 → 淘宝); otherwise, when the platform
    column is empty, the first platform the text mentions; otherwise 其他平台.
    """
    taxonomy = taxonomy or load_taxonomy()
    for value in (platform, merchant):
        hit = taxonomy.platform_of_name(value)
        if hit is not None and hit != OTHER_PLATFORM:
            return hit
    if _blank(platform) and isinstance(text, str) and text:
        hit = _text_cue_index(taxonomy).search(_clean(text))
        if hit is not None:
            return taxonomy.platform_text_cues[hit]
    return OTHER_PLATFORM


def normalize_platforms(frame: pd.DataFrame, *, taxonomy: Taxonomy | None = None) -> pd.Series:
    """Vectorised :func:`normalize_platform` over a frame with columns ``platform``,
    ``merchant`` and ``text`` (any may be missing). Returns a Series aligned with ``frame``."""
    taxonomy = taxonomy or load_taxonomy()
    n = len(frame)

    def column(name: str) -> np.ndarray:
        if name not in frame:
            return np.full(n, None, dtype=object)
        return frame[name].to_numpy(dtype=object, na_value=None)

    names: dict[str, str | None] = {}  # platform / merchant cells repeat a lot: look each up once

    def by_name(value) -> str | None:
        if not isinstance(value, str):
            return None
        if value not in names:
            hit = taxonomy.platform_of_name(value)
            names[value] = None if hit == OTHER_PLATFORM else hit
        return names[value]

    index, cues = _text_cue_index(taxonomy), taxonomy.platform_text_cues
    out = []
    for platform, merchant, text in zip(column("platform"), column("merchant"), column("text")):
        hit = by_name(platform) or by_name(merchant)
        if hit is None and _blank(platform) and isinstance(text, str) and text:
            cue = index.search(_clean(text))
            hit = cues[cue] if cue is not None else None
        out.append(hit or OTHER_PLATFORM)
    return pd.Series(out, index=frame.index, dtype=object)


_MAY_BE_PERSONAL = re.compile(r"[0-9\uff10-\uff19]{4}|[@\uff20]")


def _masked_words(words: np.ndarray) -> np.ndarray:
    """Evidence words with personal data masked (a phone number the model weighs shows as 138****5678)."""
    if not len(words):
        return words
    unique, inverse = np.unique(words.astype(str), return_inverse=True)
    masked = np.array([mask_text(w) if _MAY_BE_PERSONAL.search(w) else w for w in unique.tolist()], dtype=object)
    return masked[inverse]


# -- everything together -----------------------------------------------------------------------
SOURCE_LABELS = {"export": "导出列", "model": "模型", "rule": "规则", "none": "—"}
RULE_OVERRIDE = 0.8  # rules this sure beat the model on a category the model never saw
# The model answers only for texts with at least this share of words it saw in training. On
# bench/eval_classify.py's held-out folds 95 % of reviews score ≥ 0.80 (62 rows lose the model's
# answer); JD phone reviews under a model of the demo export score 0.30 (median).
MIN_KNOWN_SHARE = 0.5
ENRICH_COLUMNS = ("category", "category_confidence", "category_source", "category_evidence", "problem",
                  "problem_confidence", "problem_evidence", "severity", "platform_norm")


def _map_each(values: list, mapper) -> list:
    """``mapper`` of every value, computed once per distinct value (export cells repeat a lot)."""
    seen: dict = {}
    out = []
    for value in values:
        key = value if isinstance(value, str) else None
        if key not in seen:
            seen[key] = mapper(value)
        out.append(seen[key])
    return out


def _blind(evidence: pd.Series) -> np.ndarray:
    """Model evidence without a content word: empty (``模型:``) or numbers only."""
    return np.fromiter((all(t.isdigit() for t in evidence_terms(e)) for e in evidence), dtype=bool,
                       count=len(evidence))


def _put(frame: pd.DataFrame, column: str, rows, values) -> None:
    """Set ``frame[column]`` at positions ``rows`` to ``values``, as one whole column:
    setting cells one by one copies an Arrow-backed column each time."""
    column_values = frame[column].to_numpy(copy=True)
    column_values[rows] = values
    frame[column] = column_values


def classify_complaints(frame: pd.DataFrame, *, tokens: Sequence[str | None] | None = None,
                        taxonomy: Taxonomy | None = None, rules: RuleClassifier | None = None,
                        model: SupervisedClassifier | None = None) -> pd.DataFrame:
    """Category, problem type, severity and platform of complaints.

    Order of precedence for the category: the exported category column where it maps
    onto the taxonomy; the supervised model where it is confident (unless the rules are
    very sure of a category the model was never trained on); the rules; else 未分类.
    The problem type comes from the exported problem column where it maps, else the rules.

    Args:
        frame: columns ``text`` and optionally ``title, product, merchant, platform,
            category_raw, problem_raw``.
        tokens: space-joined tokens per row (needed by the model; sharpens the rules).
        taxonomy: default :func:`analysis.taxonomy.load_taxonomy`.
        rules: default ``RuleClassifier(taxonomy)``.
        model: a fitted :class:`SupervisedClassifier`, or None for rules only.

    Returns:
        A frame aligned with ``frame`` with the columns of :data:`ENRICH_COLUMNS`.
    """
    taxonomy = taxonomy or (rules.taxonomy if rules is not None else load_taxonomy())
    rules = rules or RuleClassifier(taxonomy)
    n = len(frame)

    def column(name: str) -> list:
        return frame[name].tolist() if name in frame else [None] * n

    cat_raw, prob_raw = column("category_raw"), column("problem_raw")
    cat_map = _map_each(cat_raw, taxonomy.map_category)
    prob_map = _map_each(prob_raw, taxonomy.map_problem)
    # Unmapped export cells still carry words (淘宝省钱卡强制开通): feed them to the rules.
    leftovers = [
        " ".join(v for v, m in ((cr, cm), (pr, pm)) if isinstance(v, str) and m is None) or None
        for cr, cm, pr, pm in zip(cat_raw, cat_map, prob_raw, prob_map)
    ]
    # Where both exported columns map, they decide category and problem: no rules needed.
    todo = [i for i, (cm, pm) in enumerate(zip(cat_map, prob_map)) if cm is None or pm is None]

    def pick(values):
        return values if values is None or len(todo) == n else [values[i] for i in todo]

    out = rules.predict(pick(column("text")), tokens=pick(tokens), products=pick(column("product")),
                        titles=pick(column("title")), raw_labels=pick(leftovers))
    if len(todo) < n:
        part = out
        out = pd.DataFrame({"category": UNCLASSIFIED, "category_confidence": 0.0, "category_evidence": "",
                            "problem": UNCLASSIFIED, "problem_confidence": 0.0, "problem_evidence": "",
                            "severity": 0}, index=range(n))[list(part.columns)]
        for col in part.columns:
            _put(out, col, todo, part[col].to_numpy())
    out.index = frame.index
    source = np.where(out["category"] != UNCLASSIFIED, "rule", "none").astype(object)

    if model is not None and tokens is not None and n:
        # Content-free texts (好评, 物流快，很满意) name nothing a model could classify: they stay 未分类.
        todo = np.array([m is None for m in cat_map]) & ~rules.content_free(tokens)
        if todo.any():
            pos = np.flatnonzero(todo)
            pred = model.predict([tokens[i] for i in pos], evidence_skip=rules.filler_words)
            known = set(model.classes_)
            rule_cat = out["category"].to_numpy()[pos]
            rule_conf = out["category_confidence"].to_numpy()[pos]
            # The model answers for texts whose words it mostly knows (not, e.g., phone reviews
            # scored by a model of 12315 complaints: its probabilities mean little there).
            confident = ((pred["category"].to_numpy() != UNCLASSIFIED)
                         & (pred["known_share"].to_numpy() >= MIN_KNOWN_SHARE))
            overrule = (~np.isin(rule_cat, list(known))) & (rule_cat != UNCLASSIFIED) & (rule_conf >= RULE_OVERRIDE)
            # Nor does it overrule the rules' keywords when no content word pushed it (的, 了, 物流 …).
            overrule |= ((rule_cat != UNCLASSIFIED) & (pred["category"].to_numpy() != rule_cat)
                         & _blind(pred["category_evidence"]))
            use = pos[confident & ~overrule]
            chosen = pred[confident & ~overrule]
            for col in ("category", "category_confidence", "category_evidence"):
                _put(out, col, use, chosen[col].to_numpy())
            source[use] = "model"

    for prefix, mapped, raw in (("category", cat_map, cat_raw), ("problem", prob_map, prob_raw)):
        rows = [i for i, m in enumerate(mapped) if m is not None]
        if not rows:
            continue
        for col, values in ((prefix, [mapped[i] for i in rows]), (f"{prefix}_confidence", 1.0),
                            (f"{prefix}_evidence", [f"导出列:{mask_text(raw[i].strip())}" for i in rows])):
            _put(out, col, rows, values)
        if prefix == "category":
            source[rows] = "export"
    out["severity"] = [taxonomy.severity_of(p) for p in out["problem"]]
    out["category_source"] = source
    out["platform_norm"] = normalize_platforms(frame, taxonomy=taxonomy).to_numpy()
    return out[list(ENRICH_COLUMNS)]
