"""Enrichment: tokens, category, problem type, severity and platform for every stored complaint.

Enrichment happens at two places only, and analyses never write:

* right after an import (``python -m analysis import``/``build``, the 数据导入 page):
  :func:`ensure_enriched`;
* when a store is opened for analysis (every page through ``ui.state.get_store``, every
  CLI command that reads complaints): :func:`open_for_analysis`, which enriches unless
  this store object was already enriched in its current state
  (:meth:`analysis.store.Store.contents_key`).

:func:`ensure_enriched` is incremental: it segments the texts missing from the token cache and
classifies only the complaints without an ``enrichment`` row for their text, with the active
model version of :mod:`analysis.models` (else the rules). Existing rows never change here;
activating a model version is the one action that reclassifies. Rows are staged chunk by
chunk and published in one transaction, so memory stays bounded, an interrupted run leaves
nothing half-classified and resumes from the staged chunks; a second run does nothing.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

from analysis import cluster, models, repeats
from analysis.classify import RuleClassifier, SupervisedClassifier, classify_complaints
from analysis.errors import UserError
from analysis.segment import Tokenizer, ensure_tokens
from analysis.store import Store
from analysis.taxonomy import Taxonomy, load_taxonomy

# Store.memo entry: the tokenizer fingerprints the store is fully enriched with, in its current state.
_ENRICHED = "enrich.enriched"
# Rows classified by this run, published into ``enrichment`` in one transaction at the end.
_PENDING_SQL = "CREATE TABLE IF NOT EXISTS enrichment_pending AS SELECT * FROM enrichment LIMIT 0"

_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def _lock(store) -> threading.Lock:
    key = f"{store.path}:{id(store) if store.path == ':memory:' else ''}"
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(key, threading.Lock())


# Every complaint has exactly one enrichment row for its current text, and there are no others.
_UP_TO_DATE = """
SELECT (SELECT count(*)::VARCHAR || ':' || coalesce(bit_xor(hash(complaint_id, text_hash)), 0)::VARCHAR
        FROM complaints)
     = (SELECT count(*)::VARCHAR || ':' || coalesce(bit_xor(hash(complaint_id, text_hash)), 0)::VARCHAR
        FROM enrichment)
"""
# Complaints to classify: no enrichment row for their text, and none waiting in the staging table.
_TODO_WHERE = """
    (e.complaint_id IS NULL OR e.text_hash <> c.text_hash)
    AND NOT EXISTS (SELECT 1 FROM enrichment_pending p
                    WHERE p.complaint_id = c.complaint_id AND p.text_hash = c.text_hash)
"""


def _active_model(store, version) -> SupervisedClassifier | None:
    """The active version's fitted model, loaded once per store object and version."""
    if version is None:
        return None
    cache = store.__dict__.setdefault("_active_models", {})
    if version.version not in cache:
        cache.clear()
        cache[version.version] = models.load_model(store, version.version)
    return cache[version.version]


def ensure_enriched(store, *, tokenizer: Tokenizer | None = None,
                    progress: Callable[[int, int], None] | None = None, chunk_size: int = 100_000,
                    taxonomy: Taxonomy | None = None, classify: Callable | None = None) -> dict:
    """Tokens, category, problem, severity and platform for the complaints that have none.

    Incremental by construction: only complaints without an enrichment row for their text
    are classified — by the active model version (:mod:`analysis.models`), else by the rules
    — and a complaint's row, once written, is changed only by activating a model version
    (:func:`analysis.models.activate`). No model is trained here except at a store's first
    enrichment when the labels allow (:func:`analysis.models.train_first`). The run's rows
    are staged chunk by chunk in ``enrichment_pending`` and published into ``enrichment`` in
    one transaction: an interrupted run leaves nothing half-classified, and the next run
    resumes from the staged chunks. Then new complaints join existing clusters
    (``cluster.assign_new`` when the cluster package provides it) and the repeats are updated.

    Args:
        store: an :class:`analysis.store.Store` opened for writing.
        tokenizer: default ``Tokenizer()`` (rjieba with the regulator's dictionary).
        progress: called as ``progress(done, total)`` during segmentation and again
            during classification.
        chunk_size: complaints classified and staged per transaction.
        taxonomy: default :func:`analysis.taxonomy.load_taxonomy`.
        classify: stands in for :func:`analysis.classify.classify_complaints` (same
            signature and result), e.g. one sharing each chunk with a worker process
            (:mod:`analysis.pipeline`, the Dask engine).

    Returns:
        ``{"tokenized", "classified", "model" ("trained" | "active" | "none"), "model_version",
        "model_classes", "n_train", "fingerprint", "assigned", "repeats", "repeats_seconds", "seconds"}``.

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
    stats = {"tokenized": 0, "classified": 0, "model": "none", "model_version": None, "model_classes": [],
             "n_train": 0, "assigned": 0}
    with _lock(store):
        stats["tokenized"] = ensure_tokens(store, tokenizer, progress=progress)
        models.migrate_legacy(store, tokenizer=tokenizer, taxonomy=taxonomy)
        if models.train_first(store, tokenizer=tokenizer, taxonomy=taxonomy) is not None:
            stats["model"] = "trained"
        current = models.active(store)
        if current is not None:
            stats["model"] = stats["model"] if stats["model"] == "trained" else "active"
            stats.update(model_version=current.version, model_classes=current.classes, n_train=current.n_train)
        fingerprint = models.classifier_fingerprint(store, rules)
        stats["fingerprint"] = fingerprint
        with store.transaction() as cur:
            cur.execute(_PENDING_SQL)
            # staged by a run under another model version (activated since): classify again
            cur.execute("DELETE FROM enrichment_pending WHERE model_fingerprint IS DISTINCT FROM ?", [fingerprint])
        if not store.scalar(_UP_TO_DATE):
            with store.transaction() as cur:  # complaints removed since they were classified
                cur.execute("DELETE FROM enrichment WHERE complaint_id NOT IN (SELECT complaint_id FROM complaints)")
            total = int(store.scalar(
                f"SELECT count(*) FROM complaints c LEFT JOIN enrichment e USING (complaint_id) WHERE {_TODO_WHERE}")
                or 0)
            if total:
                model = _active_model(store, current)
                stats["classified"] = _classify_new(store, tokenizer=tokenizer, rules=rules, model=model,
                                                    fingerprint=fingerprint, total=total, chunk_size=chunk_size,
                                                    progress=progress, classify=classify)
            _publish(store)
        assign_new = getattr(cluster, "assign_new", None)
        if assign_new is not None:  # stable clusters (issue 13 item 3)
            stats["assigned"] = assign_new(store, tokenizer=tokenizer)
        clock = time.perf_counter()
        stats["repeats"] = repeats.ensure_repeats(store)  # complainant keys and templates (issue 19)
        stats["repeats_seconds"] = round(time.perf_counter() - clock, 3)
        store.memo(_ENRICHED, set).add(tokenizer.fingerprint)  # the state after this run
    stats["seconds"] = round(time.perf_counter() - start, 3)
    return stats


def _publish(store) -> None:
    """Move the staged rows into ``enrichment`` in one transaction."""
    with store.transaction() as cur:
        if cur.execute("SELECT count(*) FROM enrichment_pending").fetchone()[0]:
            cur.execute("DELETE FROM enrichment WHERE complaint_id IN (SELECT complaint_id FROM enrichment_pending)")
            cur.execute(f"INSERT INTO enrichment ({models.ENRICH_COLUMNS}) "
                        f"SELECT {models.ENRICH_COLUMNS} FROM enrichment_pending "
                        "WHERE complaint_id IN (SELECT complaint_id FROM complaints)")
            cur.execute("DELETE FROM enrichment_pending")


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


def _classify_new(store, *, tokenizer, rules, model, fingerprint, total, chunk_size, progress,
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
            WHERE {_TODO_WHERE}
            """,
            params=[tokenizer.fingerprint],
        ).to_arrow_reader(chunk_size)
        for batch in reader:
            frame = batch.to_pandas().drop_duplicates("complaint_id", ignore_index=True)
            tokens = frame["tokens"].tolist()
            missing = [i for i, t in enumerate(tokens) if not isinstance(t, str)]
            if missing:  # a text added since ensure_tokens ran: segment it here
                for i, tok in zip(missing, tokenizer.cut_many(frame["text"].iloc[missing].tolist())):
                    tokens[i] = tok
            result = (classify or classify_complaints)(frame, tokens=tokens, rules=rules, model=model)
            models.write_rows(store, frame, result, fingerprint=fingerprint, table="enrichment_pending")
            done += batch.num_rows
            if progress is not None:
                progress(done, total)
    finally:
        reader_cur.close()
    return done
