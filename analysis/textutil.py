"""Small helpers shared by the whole library: data files, half-width text, JSON-safe values.

One of each, so that the modules agree:

* :func:`data_path` — where ``data/`` is (the environment variable
  ``COMPLAINT_RADAR_DATA`` points at another copy, e.g. a regulator's own taxonomy);
* :func:`to_halfwidth` — full-width letters and digits (``ＡＢＣ１２３``) to ASCII;
* :func:`read_lines`, :func:`is_comment`, :func:`load_stopwords` — the plain-text word
  lists (stop words, ignore phrases) with one comment rule: a line starting with ``#``
  followed by a space is a comment, a lone ``#`` is a word;
* :func:`read_config_csv` — the CSV files under ``data/`` (taxonomy, promotion calendar,
  schema), checked for encoding, header and field count, errors naming file and line;
* :func:`json_safe` — numpy scalars, dates, NaN and ∞ made JSON-ready.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from analysis.errors import ConfigError

__all__ = [
    "DATA_ENV_VAR",
    "FULLWIDTH_ALNUM",
    "data_path",
    "decode_utf8",
    "is_comment",
    "json_safe",
    "load_stopwords",
    "normalised_weights",
    "read_config_csv",
    "read_lines",
    "to_halfwidth",
]

#: Environment variable naming another ``data/`` folder (same layout as the bundled one).
DATA_ENV_VAR = "COMPLAINT_RADAR_DATA"
_BUNDLED_DATA = Path(__file__).resolve().parent.parent / "data"


def data_path(*parts: str) -> Path:
    """A path under the data folder: ``$COMPLAINT_RADAR_DATA`` when set, else the bundled ``data/``.

    Read at every call, so that a changed environment takes effect without a restart.
    """
    root = os.environ.get(DATA_ENV_VAR)
    return Path(root, *parts) if root else _BUNDLED_DATA.joinpath(*parts)


# -- half width ------------------------------------------------------------------------------
#: Full-width ASCII letters and digits (a regex character class, also usable by pyarrow).
FULLWIDTH_ALNUM = "[\uff10-\uff19\uff21-\uff3a\uff41-\uff5a]"
_FULLWIDTH = re.compile(FULLWIDTH_ALNUM)
_HALFWIDTH_TABLE = {cp: cp - 0xFEE0 for cp in (*range(0xFF10, 0xFF1A), *range(0xFF21, 0xFF3B),
                                               *range(0xFF41, 0xFF5B))}


def to_halfwidth(text: str) -> str:
    """Full-width letters and digits to ASCII (``ｉＰｈｏｎｅ１１`` → ``iPhone11``).

    Only letters and digits change: Chinese punctuation (，。：), the ideographic
    space and everything else stay as written, so offsets into the text keep their
    meaning. Cheap for the usual text without any full-width letter.
    """
    return text.translate(_HALFWIDTH_TABLE) if _FULLWIDTH.search(text) else text


# -- plain-text word lists ---------------------------------------------------------------------
_COMMENT = re.compile(r"\s*#\s")


def is_comment(line: str) -> bool:
    """True for a comment line of a data file: ``#`` followed by a space (``# 说明``).

    A lone ``#`` (or ``#tag``) is not a comment: it is a word, e.g. the stop word ``#``.
    """
    return _COMMENT.match(line) is not None


def read_lines(path: str | Path, *, missing: str = "文件不存在，请检查路径或从版本库恢复该文件。") -> list[str]:
    """The lines of a UTF-8 text file (a leading BOM dropped).

    Raises:
        ConfigError: the file is missing (``missing`` is the message) or not UTF-8
            (naming the line of the first bad byte).
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(missing, file=str(path)) from None
    return decode_utf8(data, str(path)).splitlines()


def decode_utf8(data: bytes, file: str) -> str:
    """The text of a data file's bytes (UTF-8, a leading BOM dropped).

    Raises:
        ConfigError: not UTF-8, naming ``file`` and the line of the first bad byte.
    """
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError("文件不是 UTF-8 编码，请另存为 UTF-8。", file=file, row=line) from None


def load_stopwords(path: str | Path) -> frozenset[str]:
    """Read a word list: one word per line, lower-cased; blank lines and comments skipped.

    A comment is a line starting with ``#`` and a space (:func:`is_comment`); a lone
    ``#`` is a word (the stop word ``#``).

    Raises:
        ConfigError: a line holding more than one word, naming file and line; a missing
            or non-UTF-8 file.
    """
    path = Path(path)
    words: set[str] = set()
    for lineno, raw in enumerate(read_lines(path), 1):
        word = raw.strip()
        if not word or is_comment(raw):
            continue
        if any(ch.isspace() for ch in word):
            raise ConfigError(f"每行只能写一个停用词，「{word}」中含有空格。", file=str(path), row=lineno)
        words.add(word.lower())
    return frozenset(words)


# -- configuration CSV -------------------------------------------------------------------------
def read_config_csv(path: str | Path, columns: Sequence[str], *, data: bytes | None = None,
                    file: str | None = None) -> list[tuple[int, dict[str, str]]]:
    """Rows of a configuration CSV under ``data/``, with their 1-based line numbers.

    UTF-8 (with or without BOM). The first line is the header (cells trimmed); it must
    hold ``columns``. Blank lines and comment lines (first cell starting with ``#`` and a
    space) are skipped. A row may leave out trailing optional columns (read as ``""``)
    but must reach the last required column and may not have more fields than the
    header. Values are trimmed.

    Args:
        path: the file.
        columns: the required columns.
        data: the file's bytes when the caller has read them already (e.g. to hash them).
        file: the file name shown in errors (default ``str(path)``).

    Raises:
        ConfigError: unreadable file, not UTF-8, no header, a missing column, a row with too
            many or too few fields — naming the file and the line.
    """
    path = Path(path)
    file = file or str(path)
    if data is None:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"无法读取（{exc.strerror or exc}），请检查路径或从版本库恢复该文件。",
                              file=file) from None
    reader = csv.reader(decode_utf8(data, file).splitlines())
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise ConfigError(f"无法解析表头：{exc}", file=file, row=1) from None
    if header is None:
        raise ConfigError("文件为空，缺少表头。", file=file, row=1)
    header = [h.strip() for h in header]
    missing = [c for c in columns if c not in header]
    if missing:
        raise ConfigError(f"表头缺少列：{'、'.join(missing)}（应有 {','.join(columns)}）。", file=file, row=1)
    needed = max(header.index(c) for c in columns) + 1 if columns else 0
    out = []
    while True:
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise ConfigError(f"无法解析此行：{exc}", file=file, row=reader.line_num) from None
        line = reader.line_num
        if not any(cell.strip() for cell in record) or is_comment(record[0]):
            continue
        if len(record) > len(header):
            raise ConfigError(f"本行有 {len(record)} 个字段，表头只有 {len(header)} 列"
                              "（含逗号的内容请用英文双引号括起）。", file=file, row=line)
        if len(record) < needed:
            absent = "、".join(c for c in header[len(record):needed] if c in columns)
            raise ConfigError(f"本行只有 {len(record)} 个字段，应有 {len(header)} 列（缺少「{absent}」；"
                              "逗号是否少了？）。", file=file, row=line)
        out.append((line, {h: (record[i].strip() if i < len(record) else "") for i, h in enumerate(header)}))
    return out


# -- JSON ---------------------------------------------------------------------------------------
def normalised_weights(raw: Mapping[str, float], *, message: str) -> dict[str, float]:
    """Non-negative weights divided by their sum (equal weights when all are 0).

    Raises:
        UserError: a negative or non-finite weight, with ``message`` (Chinese).
    """
    from analysis.errors import UserError

    if any(v < 0 or not math.isfinite(v) for v in raw.values()):
        raise UserError(message)
    total = sum(raw.values())
    return {k: (v / total if total > 0 else 1 / len(raw)) for k, v in raw.items()}


def json_safe(value, *, digits: int | None = 6):
    """A JSON-ready copy of ``value``, recursively.

    Dicts, lists, tuples and arrays are converted item by item; numpy scalars become
    Python numbers; dates and times ISO strings; NaN, ∞, ``None``, ``pd.NA`` and ``NaT``
    ``None``; floats are rounded to ``digits`` decimals (``None``: not rounded). Other
    objects (paths, …) become their ``str``.
    """
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, Mapping):
        return {str(k) if not isinstance(k, (str, int, float, bool)) else k: json_safe(v, digits=digits)
                for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [json_safe(v, digits=digits) for v in value]
    if hasattr(value, "tolist") and hasattr(value, "dtype"):  # numpy arrays and scalars
        return json_safe(value.tolist(), digits=digits)
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return round(value, digits) if digits is not None else value
    if isinstance(value, int):
        return value
    if _is_missing(value):
        return None
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    return str(value)


def _is_missing(value) -> bool:
    try:
        import pandas as pd  # noqa: PLC0415 (only for pd.NA / NaT, already loaded by any caller with them)
    except ImportError:  # pragma: no cover
        return False
    return value is pd.NA or value is pd.NaT
