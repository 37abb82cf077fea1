"""Enrichment: tokens, category, problem type, severity and platform for every stored complaint.

Enrichment happens at two places only, and analyses never write:

* right after an import (``python -m analysis import``/``build``, the 数据导入 page):
  :func:`ensure_enriched`;
* when a store is opened for analysis (every page through ``ui.state.get_store``, every
  CLI command that reads complaints): :func:`open_for_analysis`, which enriches unless
  this store object was already enriched in its current state
  (:meth:`analysis.store.Store.contents_key`).

:func:`ensure_enriched` segments the texts missing from the token cache, trains the
supervised category model when the imports carry a usable category column (mapped onto the
taxonomy), and classifies every complaint that has no ``enrichment`` row or a stale one (its
``model_fingerprint`` differs: the rules, taxonomy, tokenizer or training labels changed).
Work happens in chunks, each written in its own transaction, so memory stays bounded and an
interrupted run resumes where it stopped; a second run does nothing.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable

import pandas as pd
import pyarrow as pa

from analysis import repeats
from analysis.classify import RuleClassifier, SupervisedClassifier, classify_complaints
from analysis.errors import UserError
from analysis.segment import Tokenizer, ensure_tokens
from analysis.store import Store
from analysis.taxonomy import Taxonomy, load_taxonomy

MODEL_NAME = "category"
MODEL_VERSION = "stack-6"
# Part of the enrichment fingerprint: evidence words are masked (analysis.privacy) since format 2,
# so enrichment stored before holds raw phone/ID numbers and is classified again once.
EVIDENCE_FORMAT = "masked-2"
MIN_LABELLED = 200  # labelled complaints needed before a model is trained
MIN_PER_CLASS = 20  # a category needs this many labelled distinct texts to be learnt
# Training rows at most (classes under FULL_CLASS are always kept whole). Training time grows
# with rows × fine labels; on the demo's 40 export labels, 20k instead of 40k training rows
# cost 0.002 held-out accuracy and half the time (bench/README.md, bench_end_to_end.py).
MAX_TRAIN = 30_000
FULL_CLASS = 2_000
# Store.memo entry: the tokenizer fingerprints the store is fully enriched with, in its current state.
_ENRICHED = "enrich.enriched"

_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def _lock(store) -> threading.Lock:
    key = f"{store.path}:{id(store) if store.path == ':memory:' else ''}"
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(key, threading.Lock())


def _digest(*parts: object) -> str:
    return hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).hexdigest()


def _label_counts(store, taxonomy: Taxonomy) -> tuple[dict[str, int], dict[str, int], dict[str, str]]:
    """Labelled complaints and labelled distinct texts per taxonomy category, and the raw →
    category mapping used."""
    raw = store.query(
        "SELECT category_raw AS raw, count(*) AS n, count(DISTINCT text_hash) AS d FROM complaints "
        "WHERE category_raw IS NOT NULL AND trim(category_raw) <> '' GROUP BY 1"
    )
    mapping = {r: taxonomy.map_category(r) for r in raw["raw"]}
    counts: dict[str, int] = {}
    distinct: dict[str, int] = {}
    for r, n, d in zip(raw["raw"], raw["n"], raw["d"]):
        if mapping[r] is not None:
            counts[mapping[r]] = counts.get(mapping[r], 0) + int(n)
            distinct[mapping[r]] = distinct.get(mapping[r], 0) + int(d)
    return counts, distinct, {r: c for r, c in mapping.items() if c is not None}


def training_plan(store, *, taxonomy: Taxonomy | None = None, tokenizer: Tokenizer) -> dict | None:
    """Whether the stored labels can train a model, and the key identifying that training.

    Returns:
        None when there are too few labels; otherwise ``{"key", "classes", "counts", "mapping"}``.
    """
    taxonomy = taxonomy or load_taxonomy()
    counts, distinct, mapping = _label_counts(store, taxonomy)
    # copies of one text teach the model nothing new: a category needs distinct texts
    classes = sorted(c for c, n in distinct.items() if n >= MIN_PER_CLASS)
    if len(classes) < 2 or sum(counts[c] for c in classes) < MIN_LABELLED:
        return None
    labels_fp = store.scalar(
        "SELECT coalesce(bit_xor(hash(text_hash, category_raw)), 0)::VARCHAR || ':' || count(*) "
        "FROM complaints WHERE category_raw IS NOT NULL"
    )
    key = _digest(MODEL_VERSION, labels_fp, tokenizer.fingerprint, taxonomy.fingerprint)
    return {"key": key, "classes": classes, "counts": counts, "mapping": mapping}


def _train(store, plan: dict, tokenizer: Tokenizer) -> SupervisedClassifier:
    mapping = pd.DataFrame({"raw": list(plan["mapping"]), "label": list(plan["mapping"].values())})
    counts = pd.DataFrame({"label": list(plan["counts"]), "n": list(plan["counts"].values())})
    total = int(counts.loc[counts["label"].isin(plan["classes"]), "n"].sum())
    keep = 1_000_000 if total <= MAX_TRAIN else int(1_000_000 * MAX_TRAIN / total)
    cur = store.cursor()
    try:
        cur.register("_raw_map", mapping)
        cur.register("_label_n", counts)
        table = cur.sql(
            """
            SELECT t.tokens, c.category_raw AS raw, m.label
            FROM complaints c
            JOIN _raw_map m ON m.raw = c.category_raw
            JOIN _label_n n ON n.label = m.label
            JOIN tokens t ON t.text_hash = c.text_hash AND t.fingerprint = ?
            WHERE m.label IN (SELECT unnest(?::VARCHAR[]))
              AND (n.n <= ? OR hash(c.complaint_id) % 1000000 < ?)
            ORDER BY c.complaint_id
            """,
            params=[tokenizer.fingerprint, plan["classes"], FULL_CLASS, keep],
        ).to_arrow_table()
    finally:
        cur.close()
    # Learn the export's own values (通讯器材类, 电子计算机类 …) and report taxonomy categories.
    model = SupervisedClassifier(random_state=0)
    return model.fit(table.column("tokens").to_pylist(), table.column("raw").to_pylist(),
                     label_map=plan["mapping"])


# Nothing stale and no orphan: every complaint has exactly one current enrichment row for its
# text (same (complaint_id, text_hash) multiset under the fingerprint) and there are no others.
_UP_TO_DATE = """
SELECT (SELECT count(*)::VARCHAR || ':' || coalesce(bit_xor(hash(complaint_id, text_hash)), 0)::VARCHAR
        FROM complaints)
     = (SELECT count(*)::VARCHAR || ':' || coalesce(bit_xor(hash(complaint_id, text_hash)), 0)::VARCHAR
        FROM enrichment WHERE model_fingerprint = ?)
   AND (SELECT count(*) FROM enrichment) = (SELECT count(*) FROM complaints)
"""


def _stale_where(alias_c: str = "c", alias_e: str = "e") -> str:
    return (f"({alias_e}.complaint_id IS NULL OR {alias_e}.model_fingerprint IS DISTINCT FROM ? "
            f"OR {alias_e}.text_hash <> {alias_c}.text_hash)")


def _place_in_clusters(store, tokenizer) -> dict | None:
    """New complaints into the nearest cluster of each stored clustering run (``cluster.assign_new``)."""
    from analysis import cluster

    assign_new = getattr(cluster, "assign_new", None)
    return assign_new(store, tokenizer=tokenizer) if assign_new is not None else None


def ensure_enriched(store, *, tokenizer: Tokenizer | None = None,
                    progress: Callable[[int, int], None] | None = None, chunk_size: int = 100_000,
                    taxonomy: Taxonomy | None = None, classify: Callable | None = None) -> dict:
    """Tokens, category, problem, severity and platform for every complaint lacking them.

    Args:
        store: an :class:`analysis.store.Store` opened for writing.
        tokenizer: default ``Tokenizer()`` (rjieba with the regulator's dictionary).
        progress: called as ``progress(done, total)`` during segmentation and again
            during classification.
        chunk_size: complaints classified and written per transaction.
        taxonomy: default :func:`analysis.taxonomy.load_taxonomy`.
        classify: stands in for :func:`analysis.classify.classify_complaints` (same
            signature and result), e.g. one sharing each chunk with a worker process
            (:mod:`analysis.pipeline`).

    Returns:
        ``{"tokenized", "classified", "model" ("trained" | "loaded" | "none" | "unchanged"),
        "model_classes", "n_train", "fingerprint", "seconds"}``.

    Raises:
        UserError: the store is read-only.
        ConfigError: a malformed taxonomy or dictionary file.
    """
    if getattr(store, "read_only", False):
        raise UserError("数据库以只读方式打开，无法写入分类结果；请以可写方式打开后重试。")
    start = time.perf_counter()
    taxonomy = taxonomy or load_taxonomy()
    tokenizer = tokenizer or Tokenizer()
    rules = RuleClassifier(taxonomy, stopwords=tokenizer.stopwords or None)  # content-free: its stop words
    stats = {"tokenized": 0, "classified": 0, "model": "none", "model_classes": [], "n_train": 0}
    with _lock(store):
        stats["tokenized"] = ensure_tokens(store, tokenizer, progress=progress)
        plan = training_plan(store, taxonomy=taxonomy, tokenizer=tokenizer)
        fingerprint = _digest(rules.fingerprint, tokenizer.fingerprint, plan["key"] if plan else "no-model",
                              EVIDENCE_FORMAT)
        stats["fingerprint"] = fingerprint
        if store.scalar(_UP_TO_DATE, [fingerprint]):  # two scans instead of two 1M-row joins
            total = orphans = 0
        else:
            total = int(store.scalar(
                f"SELECT count(*) FROM complaints c LEFT JOIN enrichment e USING (complaint_id) "
                f"WHERE {_stale_where()}", [fingerprint]) or 0)
            orphans = int(store.scalar(
                "SELECT count(*) FROM enrichment e WHERE NOT EXISTS "
                "(SELECT 1 FROM complaints c WHERE c.complaint_id = e.complaint_id)") or 0)
        if orphans:  # complaints removed since they were classified
            with store.transaction() as cur:
                cur.execute("DELETE FROM enrichment WHERE complaint_id NOT IN (SELECT complaint_id FROM complaints)")
        model = None
        if plan is None:
            SupervisedClassifier.delete(store, name=MODEL_NAME)
        elif total or not SupervisedClassifier.exists(store, name=MODEL_NAME, key=plan["key"]):
            model = SupervisedClassifier.load(store, name=MODEL_NAME, key=plan["key"])
            if model is not None:
                stats["model"] = "loaded"
            else:
                model = _train(store, plan, tokenizer)
                model.save(store, name=MODEL_NAME, key=plan["key"])
                stats["model"] = "trained"
        else:
            stats["model"] = "unchanged"
        if model is not None:
            stats["model_classes"] = [str(c) for c in model.classes_]
            stats["n_train"] = model.n_train_
        if total:
            stats["classified"] = _classify_stale(store, tokenizer=tokenizer, rules=rules, model=model,
                                                  fingerprint=fingerprint, total=total,
                                                  chunk_size=chunk_size, progress=progress, classify=classify)
        stats["repeats"] = repeats.ensure_repeats(store)  # complainant keys and templates (issue 19)
        stats["clusters"] = _place_in_clusters(store, tokenizer)  # new complaints into stored clusters (issue 13)
        store.memo(_ENRICHED, set).add(tokenizer.fingerprint)  # the state after this run
    stats["seconds"] = round(time.perf_counter() - start, 3)
    return stats


def open_for_analysis(store: Store | str | os.PathLike | None = None, *, tokenizer: Tokenizer | None = None,
                      progress: Callable[[int, int], None] | None = None) -> Store:
    """The store, ready for analysis: every complaint segmented and classified.

    The one step every page (``ui.state.get_store``) and every CLI command that reads
    complaints goes through. Runs :func:`ensure_enriched` unless this store object was
    already enriched (here or right after an import) in its current state
    (:meth:`~analysis.store.Store.contents_key`), so a page rerun costs one small query. A
    read-only store is returned as it is.

    Args:
        store: an open :class:`~analysis.store.Store`, or the path of one to open (``None``:
            :func:`analysis.store.default_db_path`).
        tokenizer: default ``Tokenizer()`` (rjieba with the regulator's dictionary).
        progress: called as ``progress(done, total)`` while segmenting and classifying.

    Returns:
        The store (the one given, or the one opened: the caller closes it).

    Raises:
        UserError: the store cannot be opened (e.g. locked by another program).
        ConfigError: a malformed taxonomy or dictionary file.
    """
    opened = not isinstance(store, Store)
    if opened:
        store = Store(store)
    try:
        if not store.read_only:
            tokenizer = tokenizer or Tokenizer()
            if tokenizer.fingerprint not in store.memo(_ENRICHED, set):
                ensure_enriched(store, tokenizer=tokenizer, progress=progress)
    except BaseException:
        if opened:
            store.close()
        raise
    return store


def _classify_stale(store, *, tokenizer, rules, model, fingerprint, total, chunk_size, progress,
                    classify=None) -> int:
    if progress is not None:
        progress(0, total)
    done = 0
    reader_cur = store.cursor()
    try:
        reader = reader_cur.sql(
            f"""
            SELECT c.complaint_id, c.text_hash, c.text, c.title, c.product, c.merchant, c.platform,
                   c.category_raw, c.problem_raw, t.tokens
            FROM complaints c
            LEFT JOIN enrichment e USING (complaint_id)
            LEFT JOIN tokens t ON t.text_hash = c.text_hash AND t.fingerprint = ?
            WHERE {_stale_where()}
            """,
            params=[tokenizer.fingerprint, fingerprint],
        ).to_arrow_reader(chunk_size)
        for batch in reader:
            frame = batch.to_pandas().drop_duplicates("complaint_id", ignore_index=True)
            tokens = frame["tokens"].tolist()
            missing = [i for i, t in enumerate(tokens) if not isinstance(t, str)]
            if missing:  # a text added since ensure_tokens ran: segment it here
                for i, tok in zip(missing, tokenizer.cut_many(frame["text"].iloc[missing].tolist())):
                    tokens[i] = tok
            result = (classify or classify_complaints)(frame, tokens=tokens, rules=rules, model=model)
            result.insert(0, "complaint_id", frame["complaint_id"].to_numpy())
            result.insert(1, "text_hash", frame["text_hash"].to_numpy())
            result["model_fingerprint"] = fingerprint
            new = pa.Table.from_pandas(result, preserve_index=False)
            with store.transaction() as cur:
                cur.register("_new_enrichment", new)
                try:
                    cur.execute("DELETE FROM enrichment WHERE complaint_id IN "
                                "(SELECT complaint_id FROM _new_enrichment)")
                    cur.execute(
                        "INSERT INTO enrichment (complaint_id, text_hash, category, category_confidence, "
                        "category_source, category_evidence, problem, problem_confidence, problem_evidence, "
                        "severity, platform_norm, model_fingerprint) "
                        "SELECT complaint_id, text_hash, category, category_confidence, category_source, "
                        "category_evidence, problem, problem_confidence, problem_evidence, severity, "
                        "platform_norm, model_fingerprint FROM _new_enrichment"
                    )
                finally:
                    cur.unregister("_new_enrichment")
            done += batch.num_rows
            if progress is not None:
                progress(done, total)
    finally:
        reader_cur.close()
    return done
