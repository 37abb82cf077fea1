"""The canonical complaint schema and header-alias matching.

The fields and their Chinese labels live in ``data/schema/fields.csv``; the
header aliases real exports use live in ``data/schema/column_aliases.csv``.
Both are data: extend them without touching code. A malformed file raises
:class:`analysis.errors.ConfigError` naming the file, line and reason.

A *mapping* is a dict from a source column (header as it appears in the file)
to a canonical field name. Columns absent from the mapping are not imported.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from analysis.errors import ConfigError, UserError
from analysis.textutil import data_path, read_config_csv

DATA_DIR = data_path()
FIELDS_FILE = DATA_DIR / "schema" / "fields.csv"
ALIASES_FILE = DATA_DIR / "schema" / "column_aliases.csv"

_FIELD_KINDS = {"text", "datetime", "number"}


@dataclasses.dataclass(frozen=True)
class Field:
    """One canonical field."""

    name: str
    label: str
    required: bool
    personal: bool
    kind: str
    description: str


def _rel(path: Path) -> str:
    try:
        return path.relative_to(DATA_DIR.parent).as_posix()
    except ValueError:
        return str(path)


def rel_path(path: str | Path) -> str:
    """A data file's path as errors name it: relative to the repository when inside it."""
    return _rel(Path(path))


def load_fields(path: str | Path | None = None) -> tuple[Field, ...]:
    """Read and check the canonical fields file.

    Args:
        path: the CSV (``field,label,required,personal,kind,description``);
            defaults to ``data/schema/fields.csv``.

    Raises:
        ConfigError: a malformed line (unknown kind, duplicate field, bad flag).
    """
    path = Path(path) if path else FIELDS_FILE
    out: list[Field] = []
    seen: set[str] = set()
    for line, row in read_config_csv(path, ("field", "label", "required", "personal", "kind", "description"),
                                      file=_rel(path)):
        name = (row["field"] or "").strip()
        if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            raise ConfigError(f"字段名「{name}」无效，应为小写英文标识符。", file=_rel(path), row=line)
        if name in seen:
            raise ConfigError(f"字段「{name}」重复定义。", file=_rel(path), row=line)
        kind = (row["kind"] or "").strip()
        if kind not in _FIELD_KINDS:
            raise ConfigError(f"类型「{kind}」无效，应为 {'/'.join(sorted(_FIELD_KINDS))}。",
                              file=_rel(path), row=line)
        flags = {}
        for flag in ("required", "personal"):
            value = (row[flag] or "").strip()
            if value not in ("yes", "no"):
                raise ConfigError(f"{flag} 应为 yes 或 no，而不是「{value}」。", file=_rel(path), row=line)
            flags[flag] = value == "yes"
        seen.add(name)
        out.append(Field(name=name, label=(row["label"] or "").strip() or name, kind=kind,
                         description=(row["description"] or "").strip(), **flags))
    if not out:
        raise ConfigError("没有定义任何字段。", file=_rel(path))
    return tuple(out)


@functools.cache
def fields() -> tuple[Field, ...]:
    """The canonical fields, in order."""
    return load_fields()


FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in fields())
REQUIRED_FIELDS: tuple[str, ...] = tuple(f.name for f in fields() if f.required)
PERSONAL_FIELDS: tuple[str, ...] = tuple(f.name for f in fields() if f.personal)
FIELD_LABELS: dict[str, str] = {f.name: f.label for f in fields()}
FIELD_KINDS: dict[str, str] = {f.name: f.kind for f in fields()}

_HEADER_DROP = re.compile(r"[^0-9a-z\u3400-\u9fff\uf900-\ufaff]+")


def normalize_header(name: object) -> str:
    """Canonical form of a header for alias matching.

    NFKC (full-width → half-width), lower case, and only letters, digits and
    CJK characters kept: ``" Date received "``, ``"投诉内容："`` and
    ``"＊投诉内容"`` become ``"datereceived"``, ``"投诉内容"``, ``"投诉内容"``.
    """
    text = unicodedata.normalize("NFKC", str(name or "")).casefold()
    return _HEADER_DROP.sub("", text)


def load_aliases(path: str | Path | None = None) -> dict[str, str]:
    """Read and check the header aliases file.

    Args:
        path: the CSV (``field,alias,note``); defaults to
            ``data/schema/column_aliases.csv``. Earlier lines win when a file
            has two columns matching the same field.

    Returns:
        Normalised alias → field name, in file order.

    Raises:
        ConfigError: unknown field, empty alias, or one alias given to two fields.
    """
    path = Path(path) if path else ALIASES_FILE
    out: dict[str, str] = {}
    where: dict[str, int] = {}
    for line, row in read_config_csv(path, ("field", "alias"), file=_rel(path)):
        field = (row["field"] or "").strip()
        alias = (row["alias"] or "").strip()
        if field not in FIELD_NAMES:
            raise ConfigError(f"未知字段「{field}」；可用字段：{', '.join(FIELD_NAMES)}。",
                              file=_rel(path), row=line, column="field")
        key = normalize_header(alias)
        if not key:
            raise ConfigError("别名为空（或只含标点）。", file=_rel(path), row=line, column="alias")
        if key in out and out[key] != field:
            raise ConfigError(
                f"别名「{alias}」已在第 {where[key]} 行指向字段「{out[key]}」，不能再指向「{field}」。",
                file=_rel(path), row=line, column="alias",
            )
        if key not in out:
            out[key] = field
            where[key] = line
    return out


@functools.cache
def aliases() -> dict[str, str]:
    """The bundled aliases (normalised alias → field), loaded once."""
    return load_aliases()


def alias_key(header: object, alias_map: Mapping[str, str]) -> str | None:
    """The alias a header matches: its normalised form, else that of its last part after ``/``.

    A two-level header joined as ``登记信息/登记时间`` matches the alias ``登记时间``.
    """
    key = normalize_header(header)
    if key in alias_map:
        return key
    if "/" in str(header or ""):
        key = normalize_header(str(header).rsplit("/", 1)[1])
        if key in alias_map:
            return key
    return None


def header_score(cells: Iterable[object], *, alias_map: Mapping[str, str] | None = None) -> int:
    """How many distinct fields the cells of a row name: high for a header row."""
    amap = aliases() if alias_map is None else alias_map
    return len({amap[k] for k in (alias_key(c, amap) for c in cells) if k is not None})


def auto_mapping(headers: Sequence[str], *, alias_map: Mapping[str, str] | None = None) -> dict[str, str]:
    """Map source columns to fields by alias.

    Each field is taken by at most one column: the one whose alias comes first
    in the aliases file (ties: the leftmost column).

    Args:
        headers: the file's column names.
        alias_map: normalised alias → field; defaults to :func:`aliases`.

    Returns:
        Source column → field, for the columns that matched.
    """
    amap = aliases() if alias_map is None else alias_map
    rank = {key: i for i, key in enumerate(amap)}
    best: dict[str, tuple[int, int, str]] = {}
    for position, header in enumerate(headers):
        key = alias_key(header, amap)
        if key is None:
            continue
        field = amap[key]
        candidate = (rank[key], position, header)
        if field not in best or candidate < best[field]:
            best[field] = candidate
    chosen = {header: field for field, (_, _, header) in best.items()}
    return {h: chosen[h] for h in headers if h in chosen}


def field_name(name: str) -> str:
    """Resolve a field given by name (``text``) or Chinese label (``投诉内容``).

    Raises:
        UserError: the name is neither a field nor a label.
    """
    key = (name or "").strip()
    if key in FIELD_NAMES:
        return key
    for f in fields():
        if normalize_header(f.label) == normalize_header(key):
            return f.name
    raise UserError(
        f"未知字段「{name}」。可用字段：" + "，".join(f"{f.name}（{f.label}）" for f in fields()) + "。",
        column=name,
    )


def resolve_mapping(
    headers: Sequence[str],
    *,
    remembered: Mapping[str, str] | None = None,
    explicit: Mapping[str, str | None] | None = None,
    alias_map: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The mapping used for an import: alias matches, then remembered, then explicit.

    Args:
        headers: the file's column names.
        remembered: a mapping saved for files with the same headers; replaces
            the alias matches when given.
        explicit: the user's choices (UI or ``--map``); a value of ``None`` or
            ``""`` leaves that column out. Fields may be names or Chinese labels.
        alias_map: normalised alias → field; defaults to :func:`aliases`.

    Returns:
        Source column → field, each field used at most once, in header order.

    Raises:
        UserError: an explicit column that is not in the file, an unknown
            field, or two columns mapped to one field.
    """
    header_set = set(headers)
    if remembered:
        mapping = {h: f for h, f in remembered.items() if h in header_set and f in FIELD_NAMES}
    else:
        mapping = auto_mapping(headers, alias_map=alias_map)
    chosen: dict[str, str | None] = {}
    for column, target in (explicit or {}).items():
        if column not in header_set:
            raise UserError(
                f"映射中的列「{column}」不在文件表头中。文件的列为：{'，'.join(headers)}。",
                column=column,
            )
        chosen[column] = field_name(target) if target else None
    claimed: dict[str, str] = {}
    for column, field in chosen.items():
        if field is None:
            continue
        if field in claimed:
            raise UserError(
                f"列「{claimed[field]}」和「{column}」都被映射到字段「{field}」（{FIELD_LABELS[field]}），"
                "每个字段只能来自一列。",
                column=column,
            )
        claimed[field] = column
    # An explicit choice takes the field away from any automatic or remembered match.
    mapping = {h: f for h, f in mapping.items() if h not in chosen and f not in claimed}
    mapping.update({c: f for c, f in chosen.items() if f is not None})
    return {h: mapping[h] for h in headers if h in mapping}


def header_signature(headers: Sequence[str]) -> str:
    """A key for remembering mappings: SHA-256 of the normalised headers, in order."""
    joined = "\x1f".join(normalize_header(h) for h in headers)
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()
