"""The embedded complaint store: one DuckDB file.

Tables (created by :func:`Store.ensure_schema`):

* ``complaints`` — one row per stored complaint, in the canonical schema
  (:mod:`analysis.schema`) plus ``content_hash``, ``text_hash``, ``import_id``
  and ``source_row``.
* ``imports`` — one row per import: file name, SHA-256, time, counts, encoding,
  column mapping.
* ``quarantine`` — rows that were read but not stored, with source row number,
  column and reason, and the raw row as JSON.
* ``conflicts`` — same complaint id arriving with different content.
* ``column_mappings`` — remembered header → field mappings, keyed by the
  header signature of a file.
* ``tokens`` — token cache: space-joined tokens per text hash and tokenizer
  fingerprint.
* ``token_state`` — per tokenizer fingerprint, a checksum of the stored text
  hashes when the cache was last complete (so a complete cache is recognised
  without a join).
* ``enrichment`` — per complaint: category, problem type, severity and the
  normalised platform, with confidence and evidence.
* ``cluster_runs``, ``cluster_assignments``, ``cluster_edits`` — cached
  clustering results and the analysts' renames / merges / hides.
* ``sampling_candidates`` — products an analyst marked for sampling.
* ``audit_log`` — who did what, when (:mod:`analysis.audit`; rows are only added).
* ``complaint_repeats`` — per complaint: the salted complainant key, the template
  (near-duplicate text) group and whether it is counted in sampling and surge alarms
  (:mod:`analysis.repeats`); ``repeat_state`` — that module's salt and state.

The view ``complaints_enriched`` joins complaints and enrichment and is what
analyses read; ``complaints_counted`` is the same without the complaints that
:mod:`analysis.repeats` discounts (one complainant's templated repeats about one product). :class:`Filters` turns the global filters into a SQL clause.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

import duckdb
import pandas as pd

from analysis import audit, schema
from analysis.errors import UserError
from analysis.taxonomy import OTHER_PLATFORM, UNCLASSIFIED

T = TypeVar("T")

# The enrichment's classifier fingerprints: part of every fingerprint of the store's contents,
# which changes when complaints are classified anew (taxonomy, rules or model changed) with
# every count the same.
CLASSIFIED_BY_SQL = "(SELECT string_agg(DISTINCT model_fingerprint, ',' ORDER BY model_fingerprint) FROM enrichment)"
# The two store-state keys (Store.contents_key, Store.view_key) as SELECT columns.
_CONTENTS_SQL = ("(SELECT count(*) FROM complaints), (SELECT count(*) FROM imports), "
                 "(SELECT coalesce(max(import_id), 0) FROM imports), (SELECT count(*) FROM enrichment), "
                 f"{CLASSIFIED_BY_SQL}")
# Edits by content (not by count and newest time): a clear followed by as many new edits is another key.
# Clustering runs too: a scope's run keeps its id when complaints are placed in it or it is re-clustered.
_EDITS_SQL = ("(SELECT count(*) || ':' || coalesce(sum(hash(scope_key, label_terms, action, value, edited_at)), 0) "
              "FROM cluster_edits), "
              "(SELECT count(*) || ':' || coalesce(max(added_at)::VARCHAR, '') FROM sampling_candidates), "
              "(SELECT count(*) || ':' || coalesce(max(created_at)::VARCHAR, '') FROM cluster_runs), "
              "(SELECT count(*) FROM cluster_assignments)")
DB_ENV_VAR = "COMPLAINT_RADAR_DB"
DEFAULT_DB_PATH = Path(__file__).resolve().parent.parent / "data" / "store" / "complaints.duckdb"

SCHEMA_SQL = f"""
CREATE TABLE IF NOT EXISTS imports (
    import_id     INTEGER PRIMARY KEY,
    file_name     VARCHAR NOT NULL,
    sha256        VARCHAR NOT NULL,
    imported_at   TIMESTAMP NOT NULL,
    encoding      VARCHAR,
    header_row    INTEGER,
    rows_read     BIGINT NOT NULL,
    imported      BIGINT NOT NULL,
    quarantined   BIGINT NOT NULL,
    duplicates    BIGINT NOT NULL,
    conflicts     BIGINT NOT NULL,
    mapping_json  VARCHAR,
    warnings_json VARCHAR
);
CREATE TABLE IF NOT EXISTS complaints (
    complaint_id      VARCHAR NOT NULL,
    received_at       TIMESTAMP,
    text              VARCHAR NOT NULL,
    title             VARCHAR,
    product           VARCHAR,
    brand             VARCHAR,
    merchant          VARCHAR,
    platform          VARCHAR,
    category_raw      VARCHAR,
    problem_raw       VARCHAR,
    demand            VARCHAR,
    district          VARCHAR,
    channel           VARCHAR,
    status            VARCHAR,
    amount            DOUBLE,
    complainant_name  VARCHAR,
    complainant_phone VARCHAR,
    content_hash      VARCHAR NOT NULL,
    text_hash         VARCHAR NOT NULL,
    import_id         INTEGER NOT NULL,
    source_row        BIGINT NOT NULL,
    complainant_id_number VARCHAR,
    handled_at        TIMESTAMP,
    amount_recovered  DOUBLE,
    timely            VARCHAR
);
CREATE TABLE IF NOT EXISTS quarantine (
    import_id  INTEGER NOT NULL,
    source_row BIGINT NOT NULL,
    column_name VARCHAR,
    reason     VARCHAR NOT NULL,
    raw_json   VARCHAR
);
CREATE TABLE IF NOT EXISTS conflicts (
    import_id        INTEGER NOT NULL,
    source_row       BIGINT NOT NULL,
    complaint_id     VARCHAR NOT NULL,
    existing_hash    VARCHAR NOT NULL,
    incoming_hash    VARCHAR NOT NULL,
    incoming_json    VARCHAR
);
CREATE TABLE IF NOT EXISTS column_mappings (
    header_signature VARCHAR PRIMARY KEY,
    headers_json     VARCHAR NOT NULL,
    mapping_json     VARCHAR NOT NULL,
    updated_at       TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
    text_hash   VARCHAR NOT NULL,
    fingerprint VARCHAR NOT NULL,
    tokens      VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS token_state (
    fingerprint    VARCHAR PRIMARY KEY,
    texts_checksum VARCHAR NOT NULL,
    updated_at     TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS enrichment (
    complaint_id        VARCHAR NOT NULL,
    text_hash           VARCHAR NOT NULL,
    category            VARCHAR NOT NULL,
    category_confidence DOUBLE,
    category_source     VARCHAR,
    category_evidence   VARCHAR,
    problem             VARCHAR NOT NULL,
    problem_confidence  DOUBLE,
    problem_evidence    VARCHAR,
    severity            INTEGER,
    platform_norm       VARCHAR NOT NULL,
    model_fingerprint   VARCHAR
);
CREATE TABLE IF NOT EXISTS model_versions (
    version       INTEGER PRIMARY KEY,
    name          VARCHAR NOT NULL,
    trained_at    TIMESTAMP NOT NULL,
    trained_by    VARCHAR,
    n_train       BIGINT NOT NULL,
    classes_json  VARCHAR NOT NULL,
    cv_macro_f1   DOUBLE,
    cv_f1_json    VARCHAR,
    taxonomy_fp   VARCHAR,
    dict_fp       VARCHAR,
    labels_fp     VARCHAR,
    payload       BLOB NOT NULL,
    active        BOOLEAN NOT NULL DEFAULT FALSE,
    activated_at  TIMESTAMP,
    activated_by  VARCHAR,
    diff_json     VARCHAR
);
CREATE TABLE IF NOT EXISTS cluster_runs (
    run_id       VARCHAR PRIMARY KEY,
    scope_key    VARCHAR NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    params_json  VARCHAR NOT NULL,
    clusters_json VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS cluster_assignments (
    run_id       VARCHAR NOT NULL,
    complaint_id VARCHAR NOT NULL,
    cluster_id   INTEGER NOT NULL,
    x            DOUBLE,
    y            DOUBLE
);
CREATE TABLE IF NOT EXISTS cluster_edits (
    scope_key   VARCHAR NOT NULL,
    label_terms VARCHAR NOT NULL,
    action      VARCHAR NOT NULL,
    value       VARCHAR,
    edited_at   TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS complaint_repeats (
    complaint_id    VARCHAR NOT NULL,
    complainant_key VARCHAR,
    template_id     INTEGER,
    counted         BOOLEAN NOT NULL
);
CREATE TABLE IF NOT EXISTS repeat_state (
    name  VARCHAR PRIMARY KEY,
    value VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS sampling_candidates (
    category  VARCHAR,
    product   VARCHAR,
    platform  VARCHAR,
    merchant  VARCHAR,
    source    VARCHAR,
    added_at  TIMESTAMP NOT NULL
);
CREATE OR REPLACE VIEW complaints_enriched AS
SELECT c.*,
       COALESCE(e.category, '{UNCLASSIFIED}')      AS category,
       e.category_confidence,
       e.category_source,
       e.category_evidence,
       COALESCE(e.problem, '{UNCLASSIFIED}')       AS problem,
       e.problem_confidence,
       e.problem_evidence,
       COALESCE(e.severity, 0)             AS severity,
       COALESCE(e.platform_norm, '{OTHER_PLATFORM}') AS platform_norm
FROM complaints c
LEFT JOIN enrichment e USING (complaint_id);
CREATE OR REPLACE VIEW complaints_counted AS
SELECT * FROM complaints_enriched
ANTI JOIN (SELECT complaint_id FROM complaint_repeats WHERE NOT counted) USING (complaint_id);
"""

# Types of the canonical field kinds (analysis.schema): a store made before a field existed
# gets the column added when it is opened for writing.
_KIND_TYPES = {"text": "VARCHAR", "datetime": "TIMESTAMP", "number": "DOUBLE"}


def text_hash(text: str) -> str:
    """Stable hash of a complaint text (blake2b-128, hex): the token-cache key."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


def default_db_path() -> Path:
    """Return the store path: ``$COMPLAINT_RADAR_DB`` or ``data/store/complaints.duckdb``."""
    env = os.environ.get(DB_ENV_VAR)
    return Path(env) if env else DEFAULT_DB_PATH


class Store:
    """A complaint store in one DuckDB file.

    Args:
        path: database file; ``None`` uses :func:`default_db_path`; ``":memory:"``
            gives a throw-away in-memory store (tests).
        read_only: open without write access (several readers may share a file).
    """

    def __init__(self, path: str | os.PathLike | None = None, *, read_only: bool = False) -> None:
        self.path = str(default_db_path() if path is None else path)
        self._memo: dict[str, tuple[str, object]] = {}
        self._memo_lock = threading.Lock()
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.read_only = read_only and self.path != ":memory:" and Path(self.path).exists()
        try:
            self.con = duckdb.connect(self.path, read_only=self.read_only)
        except duckdb.IOException as exc:
            if "lock" in str(exc).lower():
                raise UserError(
                    "数据库文件正被另一个程序（例如正在运行的投诉雷达页面或另一个导入命令）占用。"
                    "请先关闭它，或用 --db 指定另一个数据库文件。",
                    file=self.path,
                ) from exc
            raise UserError(f"无法打开数据库文件（{exc}）。请检查路径和权限。", file=self.path) from exc
        if not self.read_only:
            self.ensure_schema()

    # -- life cycle -------------------------------------------------------
    def ensure_schema(self) -> None:
        """Create the tables and views if they do not exist; add canonical fields missing from
        ``complaints`` (a store made before the field was added to ``data/schema/fields.csv``)."""
        self.con.execute(SCHEMA_SQL)
        self.con.execute(audit.SCHEMA_SQL)
        present = {r[0] for r in self.con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE table_name = 'complaints' "
            "AND schema_name = 'main' AND database_name = current_database()").fetchall()}
        for field in schema.fields():
            if field.name not in present:
                self.con.execute(f"ALTER TABLE complaints ADD COLUMN {field.name} {_KIND_TYPES[field.kind]}")

    def close(self) -> None:
        """Close the connection."""
        self.con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A new cursor on the same database: use one per thread (Streamlit sessions)."""
        return self.con.cursor()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """One explicit transaction on its own cursor: all of it commits, or none of it.

        Yields:
            The cursor to run the transaction's statements on.
        """
        cur = self.con.cursor()
        cur.execute("BEGIN TRANSACTION")
        try:
            yield cur
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        else:
            cur.execute("COMMIT")
        finally:
            cur.close()

    # -- queries ----------------------------------------------------------
    def query(self, sql: str, params: Sequence | dict | None = None) -> pd.DataFrame:
        """Run SQL and return a DataFrame (use for small, aggregated results)."""
        return self.cursor().execute(sql, params or []).df()

    def scalar(self, sql: str, params: Sequence | dict | None = None):
        """Run SQL and return the first column of the first row."""
        row = self.cursor().execute(sql, params or []).fetchone()
        return None if row is None else row[0]

    def count(self, table: str = "complaints") -> int:
        """Number of rows in a table."""
        return int(self.scalar(f"SELECT count(*) FROM {table}"))

    def is_empty(self) -> bool:
        """True when no complaint is stored."""
        return self.count("complaints") == 0

    def checksum(self) -> str:
        """A content checksum of the complaints table (order-independent)."""
        value = self.scalar(
            "SELECT coalesce(bit_xor(hash(complaint_id, content_hash)), 0)::VARCHAR || ':' || count(*) "
            "FROM complaints"
        )
        return str(value)

    def date_range(self) -> tuple[dt.date | None, dt.date | None]:
        """First and last day with a complaint."""
        row = self.cursor().execute(
            "SELECT min(received_at)::DATE, max(received_at)::DATE FROM complaints"
        ).fetchone()
        return (row[0], row[1]) if row else (None, None)

    def contents_key(self) -> str:
        """What the analyses read: changes when complaints are added or removed, or classified
        anew (new rules, taxonomy or model; the enrichment's fingerprints change even when
        every count stays the same).

        The key of cached results that depend only on the complaints and their classes:
        :meth:`memo`, clustering runs, the enrichment done by
        :func:`analysis.enrich.open_for_analysis`.
        """
        return self._state(_CONTENTS_SQL)

    def view_key(self) -> str:
        """:meth:`contents_key` plus the analysts' edits (cluster renames, merges and hides,
        sampling candidates): the key of what a page shows (``ui.state.store_key``)."""
        return self._state(f"{_CONTENTS_SQL}, {_EDITS_SQL}")

    def _state(self, columns: str) -> str:
        row = self.cursor().execute(f"SELECT {columns}").fetchone()
        return "-".join(str(v) for v in row)

    def memo(self, name: str, build: Callable[[], T]) -> T:
        """``build()``, computed once per :meth:`contents_key` and kept with this store object:
        e.g. an aggregate that every filter change reads.

        Args:
            name: what is kept (one value per name).
            build: computes the value; called again whenever the store's contents changed.
                A container (``memo(name, dict)``) gives a cache that is emptied whenever
                the contents change.
        """
        key = self.contents_key()
        with self._memo_lock:
            hit = self._memo.get(name)
        if hit is not None and hit[0] == key:
            return hit[1]
        value = build()
        with self._memo_lock:
            self._memo[name] = (key, value)
        return value


@dataclasses.dataclass(frozen=True)
class Filters:
    """The global filters shared by every page.

    Attributes:
        start: first day included (``None``: from the beginning).
        end: last day included (``None``: to the end).
        categories: categories to keep (empty: all).
        platforms: normalised platforms to keep (empty: all).
        districts: districts to keep (empty: all).
    """

    start: dt.date | None = None
    end: dt.date | None = None
    categories: tuple[str, ...] = ()
    platforms: tuple[str, ...] = ()
    districts: tuple[str, ...] = ()

    def where(self, *, prefix: str = "") -> tuple[str, list]:
        """Return ``(sql, params)``: a WHERE-clause body over ``complaints_enriched``.

        Args:
            prefix: table alias with dot (e.g. ``"c."``) when the view is aliased.
        """
        clauses: list[str] = ["TRUE"]
        params: list = []
        if self.start is not None:
            clauses.append(f"{prefix}received_at >= ?")
            params.append(dt.datetime.combine(self.start, dt.time.min))
        if self.end is not None:
            clauses.append(f"{prefix}received_at < ?")
            params.append(dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time.min))
        for column, values in (
            ("category", self.categories),
            ("platform_norm", self.platforms),
            ("district", self.districts),
        ):
            if values:
                clauses.append(f"{prefix}{column} IN ({', '.join('?' * len(values))})")
                params.extend(values)
        return " AND ".join(clauses), params

    def replace(self, **changes) -> Filters:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)
