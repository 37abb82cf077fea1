"""The category model registry: versions trained on request, one active version.

Every trained category model is a row of ``model_versions`` (version, trained_at/by,
training rows, classes, cross-validated macro-F1 and per-class F1 from the model's own
stacking folds, the taxonomy/dictionary/labels fingerprints, the pickled model). Exactly
one version is active at a time (or none: the rules classify). New complaints are
classified by the active version (:func:`analysis.enrich.ensure_enriched`); a version is
trained only when asked (``python -m analysis model train``) or at a store's first
enrichment when no model exists and the labels allow (:func:`train_first`), never by a
later import. Activating a version (:func:`activate`, :func:`rollback`) is the one action
that reclassifies stored complaints; :func:`diff` says beforehand what would change.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from collections.abc import Callable

import pandas as pd
import pyarrow as pa

from analysis import audit
from analysis.classify import RuleClassifier, SupervisedClassifier, classify_complaints
from analysis.errors import UserError
from analysis.segment import Tokenizer
from analysis.store import Store
from analysis.taxonomy import Taxonomy, load_taxonomy

MODEL_NAME = "category"
MODEL_VERSION = "stack-6"
MIN_LABELLED = 200  # labelled complaints needed before a model is trained
MIN_PER_CLASS = 20  # a category needs this many labelled distinct texts to be learnt
# Training rows at most (classes under FULL_CLASS are always kept whole). Training time grows
# with rows × fine labels; on the demo's 40 export labels, 20k instead of 40k training rows
# cost 0.002 held-out accuracy and half the time (bench/README.md, bench_end_to_end.py).
MAX_TRAIN = 30_000
FULL_CLASS = 2_000
EXAMPLES = 20  # example complaint ids in a diff


def _digest(*parts: object) -> str:
    return hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).hexdigest()


# -- training -----------------------------------------------------------------------------
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
        None when there are too few labels; otherwise ``{"key", "labels_fp", "classes",
        "counts", "mapping"}``.
    """
    taxonomy = taxonomy or load_taxonomy()
    counts, distinct, mapping = _label_counts(store, taxonomy)
    # copies of one text teach the model nothing new: a category needs distinct texts
    classes = sorted(c for c, n in distinct.items() if n >= MIN_PER_CLASS)
    if len(classes) < 2 or sum(counts[c] for c in classes) < MIN_LABELLED:
        return None
    labels_fp = str(store.scalar(
        "SELECT coalesce(bit_xor(hash(text_hash, category_raw)), 0)::VARCHAR || ':' || count(*) "
        "FROM complaints WHERE category_raw IS NOT NULL"
    ))
    key = _digest(MODEL_VERSION, labels_fp, tokenizer.fingerprint, taxonomy.fingerprint)
    return {"key": key, "labels_fp": labels_fp, "classes": classes, "counts": counts, "mapping": mapping}


def _fit(store, plan: dict, tokenizer: Tokenizer) -> SupervisedClassifier:
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


def train(store: Store, *, tokenizer: Tokenizer, taxonomy: Taxonomy | None = None,
          user: str = "system", activate_now: bool = False,
          progress: Callable[[int, int], None] | None = None) -> ModelVersion:
    """Train a new category model version from the stored labels (tokens must be cached:
    :func:`analysis.segment.ensure_tokens`).

    Args:
        store: the store, opened for writing.
        tokenizer: the tokenizer whose cached tokens train the model.
        taxonomy: default :func:`analysis.taxonomy.load_taxonomy`.
        user: who asked (recorded with the version and in the audit log).
        activate_now: activate the version at once (reclassifies every complaint).
        progress: ``progress(done, total)`` while reclassifying (with ``activate_now``).

    Returns:
        The new version.

    Raises:
        UserError: too few labelled complaints, or a read-only store.
    """
    _writable(store)
    taxonomy = taxonomy or load_taxonomy()
    plan = training_plan(store, taxonomy=taxonomy, tokenizer=tokenizer)
    if plan is None:
        raise UserError(f"已导入的投诉中带类别标签的太少，无法训练分类模型：至少需要 {MIN_LABELLED} 条带标签投诉，"
                        f"且至少两个类别各有 {MIN_PER_CLASS} 条不同文本。请导入带“投诉类别”列的数据后重试。")
    model = _fit(store, plan, tokenizer)
    with store.transaction() as cur:
        version = int(cur.execute("SELECT coalesce(max(version), 0) + 1 FROM model_versions").fetchone()[0])
        cur.execute(
            "INSERT INTO model_versions (version, name, trained_at, trained_by, n_train, classes_json, cv_macro_f1, "
            "cv_f1_json, taxonomy_fp, dict_fp, labels_fp, payload, active) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, FALSE)",
            [version, MODEL_NAME, dt.datetime.now(), user, int(model.n_train_),
             json.dumps([str(c) for c in model.classes_], ensure_ascii=False),
             getattr(model, "cv_macro_f1_", None), json.dumps(getattr(model, "cv_f1_", {}), ensure_ascii=False),
             taxonomy.fingerprint, tokenizer.fingerprint, plan["labels_fp"], model.to_bytes()])
    audit.record(store, "model_train", user=user, params={"version": version, "n_train": int(model.n_train_)})
    if activate_now:
        activate(store, version, tokenizer=tokenizer, taxonomy=taxonomy, user=user, progress=progress)
    return get(store, version)


def train_first(store: Store, *, tokenizer: Tokenizer, taxonomy: Taxonomy | None = None) -> ModelVersion | None:
    """At a store's first enrichment only (no version, nothing classified yet): train and
    activate a first version when the labels allow. Never called for a later import's
    labels: those wait for ``python -m analysis model train``."""
    if store.scalar("SELECT count(*) FROM model_versions") or store.scalar("SELECT count(*) FROM enrichment"):
        return None
    taxonomy = taxonomy or load_taxonomy()
    if training_plan(store, taxonomy=taxonomy, tokenizer=tokenizer) is None:
        return None
    version = train(store, tokenizer=tokenizer, taxonomy=taxonomy, user="system")
    _set_active(store, version.version, user="system", diff=None)
    return get(store, version.version)


def migrate_legacy(store: Store, *, tokenizer: Tokenizer, taxonomy: Taxonomy | None = None) -> None:
    """A store made before the registry: its saved model (``classifier_models``) becomes
    version 1, active, so its complaints keep their categories."""
    if store.scalar("SELECT count(*) FROM model_versions"):
        return
    model = SupervisedClassifier.load(store, name=MODEL_NAME)
    if model is None:
        return
    taxonomy = taxonomy or load_taxonomy()
    with store.transaction() as cur:
        cur.execute(
            "INSERT INTO model_versions (version, name, trained_at, trained_by, n_train, classes_json, cv_macro_f1, "
            "cv_f1_json, taxonomy_fp, dict_fp, labels_fp, payload, active, activated_at, activated_by) "
            "VALUES (1, ?, ?, 'migrated', ?, ?, ?, ?, ?, ?, NULL, ?, TRUE, ?, 'migrated')",
            [MODEL_NAME, dt.datetime.now(), int(model.n_train_),
             json.dumps([str(c) for c in model.classes_], ensure_ascii=False),
             getattr(model, "cv_macro_f1_", None), json.dumps(getattr(model, "cv_f1_", {}), ensure_ascii=False),
             taxonomy.fingerprint, tokenizer.fingerprint, model.to_bytes(), dt.datetime.now()])


# -- reading ------------------------------------------------------------------------------
@dataclasses.dataclass
class ModelVersion:
    """One row of ``model_versions`` (without the payload)."""

    version: int
    trained_at: dt.datetime
    trained_by: str | None
    n_train: int
    classes: list[str]
    cv_macro_f1: float | None
    cv_f1: dict[str, float]
    taxonomy_fp: str | None
    dict_fp: str | None
    active: bool
    activated_at: dt.datetime | None
    activated_by: str | None
    diff: dict | None

    @property
    def fingerprint(self) -> str:
        """The ``model_fingerprint`` of the enrichment rows this version classified."""
        return f"model:v{self.version}"


_COLUMNS = ("version, trained_at, trained_by, n_train, classes_json, cv_macro_f1, cv_f1_json, taxonomy_fp, "
            "dict_fp, active, activated_at, activated_by, diff_json")


def _version(row) -> ModelVersion:
    (version, trained_at, by, n, classes, macro, f1, tax, dic, active, at, aby, diff) = row
    return ModelVersion(int(version), trained_at, by, int(n), json.loads(classes), macro,
                        json.loads(f1 or "{}"), tax, dic, bool(active), at, aby, json.loads(diff) if diff else None)


def versions(store: Store) -> list[ModelVersion]:
    """Every version, newest first."""
    rows = store.cursor().execute(f"SELECT {_COLUMNS} FROM model_versions ORDER BY version DESC").fetchall()
    return [_version(r) for r in rows]


def get(store: Store, version: int) -> ModelVersion:
    """One version.

    Raises:
        UserError: no such version.
    """
    row = store.cursor().execute(f"SELECT {_COLUMNS} FROM model_versions WHERE version = ?", [int(version)]).fetchone()
    if row is None:
        known = "、".join(str(v.version) for v in versions(store)) or "无"
        raise UserError(f"没有版本号为 {version} 的分类模型（已有版本：{known}）。请用 python -m analysis model list 查看。")
    return _version(row)


def active(store: Store) -> ModelVersion | None:
    """The active version, or None (the rules classify)."""
    row = store.cursor().execute(f"SELECT {_COLUMNS} FROM model_versions WHERE active LIMIT 1").fetchone()
    return None if row is None else _version(row)


def load_model(store: Store, version: int) -> SupervisedClassifier:
    """The fitted model of a version."""
    row = store.cursor().execute("SELECT payload FROM model_versions WHERE version = ?", [int(version)]).fetchone()
    if row is None:
        get(store, version)  # raises the UserError
    return SupervisedClassifier.from_bytes(bytes(row[0]))


def versions_frame(store: Store) -> pd.DataFrame:
    """The versions as a table for ``model list`` and the 模型管理 page (Chinese headers)."""
    rows = [{"版本": v.version, "当前使用": "是" if v.active else "", "训练时间": v.trained_at, "训练人": v.trained_by,
             "训练样本数": v.n_train, "类别数": len(v.classes),
             "交叉验证宏平均F1": None if v.cv_macro_f1 is None else round(v.cv_macro_f1, 3),
             "启用时间": v.activated_at, "启用人": v.activated_by} for v in versions(store)]
    return pd.DataFrame(rows, columns=["版本", "当前使用", "训练时间", "训练人", "训练样本数", "类别数",
                                       "交叉验证宏平均F1", "启用时间", "启用人"])


def staleness(store: Store, *, tokenizer: Tokenizer, taxonomy: Taxonomy | None = None) -> dict:
    """Whether the active model was trained with other taxonomy or dictionary files.

    Returns:
        ``{"active": version or None, "taxonomy_changed": bool, "dictionary_changed": bool,
        "out_of_date": bool}`` (never reclassifies: :func:`diff` says what a new version changes).
    """
    taxonomy = taxonomy or load_taxonomy()
    current = active(store)
    if current is None:
        return {"active": None, "taxonomy_changed": False, "dictionary_changed": False, "out_of_date": False}
    tax = current.taxonomy_fp not in (None, taxonomy.fingerprint)
    dic = current.dict_fp not in (None, tokenizer.fingerprint)
    return {"active": current.version, "taxonomy_changed": tax, "dictionary_changed": dic, "out_of_date": tax or dic}


# -- reclassification ---------------------------------------------------------------------
def classifier_fingerprint(store: Store, rules: RuleClassifier) -> str:
    """The ``model_fingerprint`` new complaints are classified with: the active version, else
    the rules (``rules:<digest>``)."""
    current = active(store)
    return current.fingerprint if current is not None else f"rules:{rules.fingerprint[:16]}"


def _reclassified(store: Store, model: SupervisedClassifier | None, *, tokenizer: Tokenizer, rules: RuleClassifier,
                  chunk_size: int = 100_000, progress: Callable[[int, int], None] | None = None):
    """Every complaint classified anew, chunk by chunk: ``(frame of ids and old category, result)``."""
    total = int(store.scalar("SELECT count(*) FROM complaints"))
    done = 0
    if progress is not None:
        progress(0, total)
    cur = store.cursor()
    try:
        reader = cur.sql(
            "SELECT c.complaint_id, c.text_hash, c.text, c.title, c.product, c.merchant, c.platform, c.category_raw, "
            "c.problem_raw, t.tokens, e.category AS old_category FROM complaints c "
            "LEFT JOIN enrichment e USING (complaint_id) "
            "LEFT JOIN tokens t ON t.text_hash = c.text_hash AND t.fingerprint = ? ORDER BY c.complaint_id",
            params=[tokenizer.fingerprint]).to_arrow_reader(chunk_size)
        for batch in reader:
            frame = batch.to_pandas()
            tokens = [t if isinstance(t, str) else tok for t, tok in
                      zip(frame["tokens"], tokenizer.cut_many([x if pd.isna(t) else "" for x, t in
                                                                zip(frame["text"], frame["tokens"])]))]
            result = classify_complaints(frame, tokens=tokens, rules=rules, model=model)
            done += len(frame)
            if progress is not None:
                progress(done, total)
            yield frame, result
    finally:
        cur.close()


def diff(store: Store, version: int | None, *, tokenizer: Tokenizer, taxonomy: Taxonomy | None = None,
         progress: Callable[[int, int], None] | None = None, examples: int = EXAMPLES) -> dict:
    """What activating ``version`` (None: the rules alone) would change, without writing.

    Returns:
        ``{"version", "complaints", "changed", "table": [{"from", "to", "n"}, …] (largest first),
        "examples": [complaint_id, …] (at most ``examples``)}``.
    """
    taxonomy = taxonomy or load_taxonomy()
    model = None if version is None else load_model(store, version)
    rules = RuleClassifier(taxonomy)
    pairs: dict[tuple[str, str], int] = {}
    sample: list[str] = []
    total = 0
    for frame, result in _reclassified(store, model, tokenizer=tokenizer, rules=rules, progress=progress):
        total += len(frame)
        old = frame["old_category"].fillna("未分类").astype(str).to_numpy()
        new = result["category"].astype(str).to_numpy()
        moved = old != new
        for (a, b), n in pd.Series(1, index=pd.MultiIndex.from_arrays([old[moved], new[moved]])).groupby(
                level=[0, 1]).sum().items():
            pairs[(a, b)] = pairs.get((a, b), 0) + int(n)
        if len(sample) < examples:
            sample.extend(frame.loc[moved, "complaint_id"].astype(str).head(examples - len(sample)))
    table = [{"from": a, "to": b, "n": n} for (a, b), n in sorted(pairs.items(), key=lambda kv: (-kv[1], kv[0]))]
    return {"version": version, "complaints": total, "changed": sum(pairs.values()), "table": table,
            "examples": sample}


def activate(store: Store, version: int, *, tokenizer: Tokenizer, taxonomy: Taxonomy | None = None,
             user: str = "system", progress: Callable[[int, int], None] | None = None,
             chunk_size: int = 100_000) -> dict:
    """Make ``version`` the active model and reclassify every complaint with it.

    The new classes are written to a staging table chunk by chunk and swapped in with the
    active flag in one transaction: an interrupted activation leaves the old classes and the
    old version active. Records who/when and the diff on the version, and ``model_activate``
    in the audit log.

    Returns:
        The diff (as :func:`diff`).
    """
    _writable(store)
    taxonomy = taxonomy or load_taxonomy()
    get(store, version)
    model = load_model(store, version)
    rules = RuleClassifier(taxonomy)
    fingerprint = f"model:v{int(version)}"
    pairs: dict[tuple[str, str], int] = {}
    sample: list[str] = []
    total = 0
    with store.transaction() as cur:
        cur.execute("CREATE OR REPLACE TABLE enrichment_activation AS SELECT * FROM enrichment LIMIT 0")
    for frame, result in _reclassified(store, model, tokenizer=tokenizer, rules=rules, chunk_size=chunk_size,
                                       progress=progress):
        total += len(frame)
        old = frame["old_category"].fillna("未分类").astype(str).to_numpy()
        new = result["category"].astype(str).to_numpy()
        for a, b in zip(old[old != new], new[old != new]):
            pairs[(a, b)] = pairs.get((a, b), 0) + 1
        if len(sample) < EXAMPLES:
            sample.extend(frame.loc[old != new, "complaint_id"].astype(str).head(EXAMPLES - len(sample)))
        write_rows(store, frame, result, fingerprint=fingerprint, table="enrichment_activation", replace=False)
    table = [{"from": a, "to": b, "n": n} for (a, b), n in sorted(pairs.items(), key=lambda kv: (-kv[1], kv[0]))]
    summary = {"version": int(version), "complaints": total, "changed": sum(pairs.values()), "table": table,
               "examples": sample}
    with store.transaction() as cur:
        cur.execute("DELETE FROM enrichment")
        cur.execute("INSERT INTO enrichment SELECT * FROM enrichment_activation")
        cur.execute("DROP TABLE enrichment_activation")
        _flag_active(cur, int(version), user=user, diff=summary)
    audit.record(store, "model_activate", user=user,
                 params={"version": int(version), "changed": summary["changed"], "complaints": total})
    return summary


def rollback(store: Store, *, tokenizer: Tokenizer, taxonomy: Taxonomy | None = None, user: str = "system",
             progress: Callable[[int, int], None] | None = None) -> dict:
    """Activate again the version that was active before the current one.

    Raises:
        UserError: no earlier activated version.
    """
    current = active(store)
    before = [v for v in versions(store) if v.activated_at is not None and not v.active
              and (current is None or current.activated_at is None or v.activated_at < current.activated_at)]
    if not before:
        raise UserError("没有可回退的模型版本：当前版本之前没有启用过其他版本。")
    target = max(before, key=lambda v: v.activated_at)
    return activate(store, target.version, tokenizer=tokenizer, taxonomy=taxonomy, user=user, progress=progress)


def _flag_active(cur, version: int, *, user: str, diff: dict | None) -> None:
    cur.execute("UPDATE model_versions SET active = FALSE WHERE active")
    cur.execute("UPDATE model_versions SET active = TRUE, activated_at = ?, activated_by = ?, diff_json = ? "
                "WHERE version = ?", [dt.datetime.now(), user,
                                      None if diff is None else json.dumps(diff, ensure_ascii=False), version])


def _set_active(store: Store, version: int, *, user: str, diff: dict | None) -> None:
    with store.transaction() as cur:
        _flag_active(cur, version, user=user, diff=diff)


ENRICH_COLUMNS = ("complaint_id, text_hash, category, category_confidence, category_source, category_evidence, "
                  "problem, problem_confidence, problem_evidence, severity, platform_norm, model_fingerprint")


def write_rows(store: Store, frame: pd.DataFrame, result: pd.DataFrame, *, fingerprint: str,
               table: str = "enrichment", replace: bool = True) -> None:
    """Write one chunk's classes (``result`` aligned with ``frame``) into ``table``."""
    result = result.copy()
    result.insert(0, "complaint_id", frame["complaint_id"].to_numpy())
    result.insert(1, "text_hash", frame["text_hash"].to_numpy())
    result["model_fingerprint"] = fingerprint
    new = pa.Table.from_pandas(result, preserve_index=False)
    with store.transaction() as cur:
        cur.register("_new_enrichment", new)
        try:
            if replace:
                cur.execute(f"DELETE FROM {table} WHERE complaint_id IN (SELECT complaint_id FROM _new_enrichment)")
            cur.execute(f"INSERT INTO {table} ({ENRICH_COLUMNS}) SELECT {ENRICH_COLUMNS} FROM _new_enrichment")
        finally:
            cur.unregister("_new_enrichment")


def _writable(store: Store) -> None:
    if getattr(store, "read_only", False):
        raise UserError("数据库以只读方式打开，无法修改分类模型；请以可写方式打开后重试。")
