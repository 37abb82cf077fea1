"""The canonical complaint schema and header-alias matching.

The fields and their Chinese labels live in ``data/schema/fields.csv``; the
header aliases real exports use live in ``data/schema/column_aliases.csv``.
Both are data: extend them without touching code.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
FIELDS_FILE = DATA_DIR / "schema" / "fields.csv"
ALIASES_FILE = DATA_DIR / "schema" / "column_aliases.csv"


@dataclasses.dataclass(frozen=True)
class Field:
    """One canonical field."""

    name: str
    label: str
    required: bool
    personal: bool
    kind: str
    description: str


@functools.cache
def fields() -> tuple[Field, ...]:
    """The canonical fields, in order."""
    with open(FIELDS_FILE, encoding="utf-8", newline="") as fh:
        return tuple(
            Field(
                name=row["field"],
                label=row["label"],
                required=row["required"] == "yes",
                personal=row["personal"] == "yes",
                kind=row["kind"],
                description=row["description"],
            )
            for row in csv.DictReader(fh)
        )


FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in fields())
REQUIRED_FIELDS: tuple[str, ...] = tuple(f.name for f in fields() if f.required)
PERSONAL_FIELDS: tuple[str, ...] = tuple(f.name for f in fields() if f.personal)
FIELD_LABELS: dict[str, str] = {f.name: f.label for f in fields()}
