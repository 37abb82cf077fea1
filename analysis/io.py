"""Reading complaint exports: CSV/TSV/TXT and Excel files as they arrive.

* Encodings are tried in a fixed order: a byte-order mark (UTF-8, UTF-16 as
  Excel's "Unicode text", UTF-32), then strict UTF-8, then GB18030 (a superset
  of GBK/GB2312), and only as a last resort a detector (charset-normalizer).
  The encoding used is reported. Bytes that still do not decode put their row
  in quarantine instead of being replaced silently.
* Excel files (``.xlsx``/``.xls``, read with python-calamine) are checked
  before parsing: a real zip/OLE container, no zip bomb, a sane declared size.
* The header row is found among the first lines (title lines such as
  "2017年投诉数据导出" are skipped), header lines repeated inside the file are
  dropped, and rows with a wrong field count, a broken quote or undecodable
  bytes are quarantined with their line number and a reason.
* Values are normalised (full-width characters, white space) and dates parsed
  in every common Chinese form with explicit patterns.

Row numbers (``source_row``) are 1-based: the line where a record starts in a
text file (as a text editor shows it), or the sheet row in an Excel file.
"""

from __future__ import annotations

import codecs
import collections
import csv
import dataclasses
import datetime as dt
import hashlib
import io
import itertools
import posixpath
import re
import unicodedata
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from analysis.errors import ImportRejected
from analysis.schema import auto_mapping, header_score, normalize_header
from analysis.textutil import FULLWIDTH_ALNUM, to_halfwidth

__all__ = [
    "SUPPORTED_SUFFIXES", "ENCODING_LABELS", "TableInfo", "RawChunk", "QuarantinedRow", "RawTable",
    "TableReader", "open_table", "read_table", "detect_encoding", "check_excel",
    "normalize_values", "normalize_value", "parse_datetimes", "parse_datetime",
    "parse_amounts", "parse_amount", "encoding_label",
]

SUPPORTED_SUFFIXES = (".csv", ".tsv", ".txt", ".xlsx", ".xlsm", ".xls")
MAX_FILE_BYTES = 2 * 1024**3
MAX_EXCEL_UNCOMPRESSED = 2 * 1024**3
MAX_ZIP_RATIO = 200
MAX_ZIP_MEMBERS = 10_000
# The reader of .xlsx sheets allocates a cell (32 bytes) for every position between the first and the
# last cell holding a value, so a sheet's real extent is checked against this before it is loaded.
MAX_EXCEL_CELLS = 20_000_000
_MAX_XML_PART = 16 * 1024**2  # workbook.xml and its relationships are small in any real workbook
MAX_RECORD_LINES = 1_000
MAX_LINE_CHARS = 1024 * 1024  # a longer line (no line break) is quarantined; a header that long is rejected
MAX_NUL_SHARE = 0.01  # more NUL and other control bytes than this share (and 8) at the start: binary, not text
HEADER_SCAN_ROWS = 30
SNIFF_CHARS = 256 * 1024
_BLOCK = 4 * 1024 * 1024
_SCAN_BLOCK = 1024 * 1024
_DELIMITERS = (",", "\t", ";", "|")
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_BOMS = (  # longest first: the UTF-32 LE mark starts with the UTF-16 LE one
    (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"),
)
_SURROGATE = re.compile("[\udc80-\udcff]")

ENCODING_LABELS = {
    "utf-8": "UTF-8", "utf-8-sig": "UTF-8（带 BOM）", "gb18030": "GB18030/GBK", "utf-16": "UTF-16（Unicode 文本）",
    "utf-16-le": "UTF-16LE", "utf-16-be": "UTF-16BE", "utf-32": "UTF-32", "xlsx": "Excel 工作簿 (.xlsx)",
    "xls": "Excel 97-2003 工作簿 (.xls)",
}


def encoding_label(encoding: str | None) -> str:
    """A Chinese display name for an encoding as reported by the reader."""
    return ENCODING_LABELS.get(encoding or "", encoding or "未知")


# ---------------------------------------------------------------------------
# Normalisation
# ---------------------------------------------------------------------------
# Full-width letters and digits become ASCII (textutil.to_halfwidth) and the ideographic
# space a space (_HSPACE) in every field; free text keeps its Chinese punctuation (，。！？：；（）).
_INVISIBLE = "[\u200b-\u200d\u2060\ufeff\u00ad]"
_CONTROL = "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"
_HSPACE = "[ \t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+"


def _as_string_array(values) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        return values.cast(pa.large_string()) if values.type != pa.large_string() else values
    if isinstance(values, (pd.Series, pd.Index)):
        values = values.astype(object).where(pd.notna(values), None).tolist()
    return pa.array(values, type=pa.large_string(), from_pandas=True)


# What makes a value change under normalisation; values without any of it are left as they are.
_NEEDS = {
    "text": ("[\x00-\x09\x0b-\x1f\x7f\u00a0\u00ad\u1680\u2000-\u200d\u202f\u205f\u2060\u3000\ufeff"
             "\uff10-\uff19\uff21-\uff3a\uff41-\uff5a]|  |^[ \n]|[ \n]$|\n\n\n| \n|\n "),
    "code": "[^\x20-\x7e\u4e00-\u9fff]|  |^ | $",
}


def normalize_values(values, *, kind: str = "text") -> pa.Array:
    """Normalise strings, vectorised: the same rules as :func:`normalize_value`.

    Args:
        values: strings (list, Series or Arrow array); nulls stay null.
        kind: ``"text"`` for free text (full-width letters/digits → ASCII,
            Chinese punctuation kept, line breaks kept) or ``"code"`` for short
            values such as ids, names, dates and amounts (NFKC, one line).

    Returns:
        An Arrow ``large_string`` array; empty results are ``""`` (not null).
    """
    if kind not in _NEEDS:
        raise ValueError(f"kind must be 'text' or 'code', not {kind!r}")
    arr = _as_string_array(values)
    needs = pc.fill_null(pc.match_substring_regex(arr, _NEEDS[kind]), False)
    count = pc.sum(needs).as_py() or 0
    if count == 0:
        return arr
    if count * 2 > len(arr):
        return _normalize_all(arr, kind)
    return pc.replace_with_mask(arr, needs, _normalize_all(arr.filter(needs), kind))


def _normalize_all(arr: pa.Array, kind: str) -> pa.Array:
    """Every normalisation step on every value (see :func:`normalize_values`)."""
    arr = pc.replace_substring_regex(arr, _INVISIBLE, "")
    arr = pc.replace_substring_regex(arr, _CONTROL, "")
    arr = pc.replace_substring(arr, "\r\n", "\n")
    arr = pc.replace_substring(arr, "\r", "\n")
    if kind == "code":
        arr = pc.utf8_normalize(arr, "NFKC")
        arr = pc.replace_substring_regex(arr, r"\s+", " ")
    else:
        mask = pc.fill_null(pc.match_substring_regex(arr, FULLWIDTH_ALNUM), False)
        if pc.any(mask).as_py():
            fixed = [None if s is None else to_halfwidth(s) for s in arr.filter(mask).to_pylist()]
            arr = pc.replace_with_mask(arr, mask, pa.array(fixed, type=pa.large_string()))
        arr = pc.replace_substring_regex(arr, _HSPACE, " ")
        arr = pc.replace_substring_regex(arr, r" ?\n ?", "\n")
        arr = pc.replace_substring_regex(arr, r"\n{3,}", "\n\n")
    return pc.utf8_trim(arr, " \n")


def normalize_value(value: str | None, *, kind: str = "text") -> str | None:
    """Normalise one string (see :func:`normalize_values`); ``None`` stays ``None``."""
    return normalize_values([value], kind=kind)[0].as_py()


# ---------------------------------------------------------------------------
# Dates and amounts
# ---------------------------------------------------------------------------
_DATE_YMD = (
    r"^(?P<y>\d{4})\s*(?:-|/|\.|年)\s*(?P<m>\d{1,2})\s*(?:-|/|\.|月)\s*(?P<d>\d{1,2})\s*(?:日|号)?"
    r"(?:(?:\s*|T)(?P<ap>上午|下午|晚上|凌晨|中午|am|pm|AM|PM)?\s*(?P<H>\d{1,2})\s*(?::|时|点)\s*(?P<M>\d{1,2})"
    r"\s*(?:分)?\s*(?:(?::)?\s*(?P<S>\d{1,2})(?:\.\d+)?\s*(?:秒)?)?\s*(?P<ap2>am|pm|AM|PM)?"
    r"(?:\s*(?P<tz>Z|z|(?P<tzs>[+-])(?P<tzh>\d{2}):?(?P<tzm>\d{2})))?)?$"
)
# Times with a UTC offset (2017-11-11T10:00:00+08:00, …Z) are converted to China time (UTC+8).
_CHINA_OFFSET_MINUTES = 8 * 60
_DATE_COMPACT = r"^(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})(?:\s*(?P<H>\d{2})(?P<M>\d{2})(?P<S>\d{2})?)?$"
_DATE_SERIAL = r"^(?P<serial>\d{5}(?:\.\d+)?)$"
DATE_MIN = dt.datetime(1980, 1, 1)
DATE_MAX = dt.datetime(2100, 12, 31, 23, 59, 59)
_EXCEL_EPOCH = np.datetime64("1899-12-30T00:00:00", "s")
_PM = {"下午", "晚上", "pm", "PM"}
_AM = {"上午", "凌晨", "am", "AM"}


def _int_field(struct: pa.StructArray, name: str) -> np.ndarray:
    col = struct.field(name)
    col = pc.if_else(pc.equal(col, ""), pa.scalar(None, pa.large_string()), col.cast(pa.large_string()))
    return pc.fill_null(col.cast(pa.int64()), -1).to_numpy(zero_copy_only=False)


def _to_china_time(struct: pa.StructArray) -> np.ndarray:
    """Seconds to add to a local time written with a UTC offset to get China time (0 without one)."""
    tz = pc.fill_null(struct.field("tz"), "").to_numpy(zero_copy_only=False).astype(str)
    sign = np.where(pc.fill_null(struct.field("tzs"), "").to_numpy(zero_copy_only=False).astype(str) == "-", -1, 1)
    offset = sign * (np.maximum(_int_field(struct, "tzh"), 0) * 60 + np.maximum(_int_field(struct, "tzm"), 0))
    shift = np.where(tz == "", 0, _CHINA_OFFSET_MINUTES - offset) * 60
    return shift.astype("timedelta64[s]")


def parse_datetimes(values) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """Parse dates/times written in the common Chinese forms, vectorised.

    Accepted: ``2017-11-11``, ``2017/11/11 10:00``, ``2017.11.11``,
    ``2017年11月11日``, ``2017年11月11日 10时30分``, ``20171111``,
    ``20171111103000``, Excel serial numbers (``43050``, ``43050.5``), with
    full-width digits, optional seconds and 上午/下午, ISO 8601 with a UTC
    offset (``2017-11-11T10:00:00+08:00``, ``2017-11-11T02:00:00Z``, converted
    to China time, UTC+8). Dates outside 1980–2100
    or that do not exist (2 月 30 日) are not accepted.

    Args:
        values: strings (list, Series or Arrow array).

    Returns:
        ``(parsed, empty, bad)``: a ``datetime64[us]`` Series (NaT where empty
        or bad), a mask of empty values and a mask of values that did not parse.
    """
    arr = normalize_values(values, kind="code")
    n = len(arr)
    empty = pc.fill_null(pc.equal(arr, ""), True).to_numpy(zero_copy_only=False)
    result = np.full(n, np.datetime64("NaT"), dtype="datetime64[s]")
    for pattern in (_DATE_YMD, _DATE_COMPACT):
        struct = pc.extract_regex(arr, pattern)
        matched = struct.is_valid().to_numpy(zero_copy_only=False) & np.isnat(result)
        if not matched.any():
            continue
        struct = struct.filter(pa.array(matched))
        y, m, d = (_int_field(struct, k) for k in ("y", "m", "d"))
        hh, mm, ss = (np.maximum(_int_field(struct, k), 0) for k in ("H", "M", "S"))
        if "ap" in [f.name for f in struct.type]:
            ap = pc.fill_null(pc.binary_join_element_wise(struct.field("ap"), struct.field("ap2"), pa.scalar("", pa.large_string())), "")
            ap = np.asarray(ap.to_pylist(), dtype=object)
            pm = np.isin(ap, list(_PM)) & (hh < 12)
            am12 = np.isin(ap, list(_AM)) & (hh == 12)
            hh = np.where(pm, hh + 12, np.where(am12, 0, hh))
        ok = (m >= 1) & (m <= 12) & (d >= 1) & (hh <= 23) & (mm <= 59) & (ss <= 59)
        month_start = np.where(ok, (y - 1970) * 12 + (m - 1), 0).astype("datetime64[M]")
        days_in_month = ((month_start + 1).astype("datetime64[D]") - month_start.astype("datetime64[D]"))
        ok &= d <= days_in_month.astype(int)
        stamp = (month_start.astype("datetime64[D]") + np.where(ok, d - 1, 0)).astype("datetime64[s]")
        stamp = stamp + (hh * 3600 + mm * 60 + ss).astype("timedelta64[s]")
        if "tz" in [f.name for f in struct.type]:
            stamp = stamp + _to_china_time(struct)
        where = np.flatnonzero(matched)
        result[where[ok]] = stamp[ok]
    struct = pc.extract_regex(arr, _DATE_SERIAL)
    matched = struct.is_valid().to_numpy(zero_copy_only=False) & np.isnat(result)
    if matched.any():
        serial = struct.filter(pa.array(matched)).field("serial").cast(pa.float64()).to_numpy()
        seconds = np.round(serial * 86400).astype("int64").astype("timedelta64[s]")
        result[np.flatnonzero(matched)] = _EXCEL_EPOCH + seconds
    in_range = (result >= np.datetime64(DATE_MIN, "s")) & (result <= np.datetime64(DATE_MAX, "s"))
    result[~in_range] = np.datetime64("NaT")
    parsed = pd.Series(result.astype("datetime64[us]"))
    bad = ~empty & parsed.isna().to_numpy()
    return parsed, empty, bad


def parse_datetime(value: str | None) -> dt.datetime | None:
    """Parse one date/time (see :func:`parse_datetimes`); ``None`` when empty or not a date."""
    parsed, _, _ = parse_datetimes([value])
    return None if pd.isna(parsed.iloc[0]) else parsed.iloc[0].to_pydatetime()


_AMOUNT_NOISE = r"[,\s¥$]|元|人民币|RMB|rmb|CNY|cny|约|大约"


def parse_amounts(values) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """Parse money amounts such as ``1299``, ``¥1,299.00``, ``１２９９元``, ``约500元``.

    Returns:
        ``(amounts, empty, bad)``: a float Series (NaN where empty or bad), a
        mask of empty values and a mask of values that are not amounts.
    """
    arr = normalize_values(values, kind="code")
    empty = pc.fill_null(pc.equal(arr, ""), True).to_numpy(zero_copy_only=False)
    cleaned = pc.replace_substring_regex(arr, _AMOUNT_NOISE, "")
    ok = pc.fill_null(pc.match_substring_regex(cleaned, r"^[+-]?(\d+(\.\d*)?|\.\d+)$"), False)
    ok = ok.to_numpy(zero_copy_only=False)
    out = np.full(len(arr), np.nan)
    if ok.any():
        out[ok] = cleaned.filter(pa.array(ok)).cast(pa.float64()).to_numpy()
    return pd.Series(out), empty, ~empty & ~ok


def parse_amount(value: str | None) -> float | None:
    """Parse one amount (see :func:`parse_amounts`); ``None`` when empty or not a number."""
    amounts, _, _ = parse_amounts([value])
    return None if np.isnan(amounts.iloc[0]) else float(amounts.iloc[0])


# ---------------------------------------------------------------------------
# File checks and encodings
# ---------------------------------------------------------------------------
@dataclasses.dataclass
class EncodingGuess:
    """How a text file will be decoded."""

    encoding: str
    method: str
    clean: bool  # the whole file decodes strictly with ``encoding``
    sha256: str
    size: int
    fallback: str | None = None  # the other encoding, tried row by row where ``encoding`` fails or misleads
    nul_bytes: int = 0  # NUL bytes in the file (cleaned from the cells)
    max_line_bytes: int = 0  # the longest line, in bytes


_LINE_SPLIT = re.compile(rb"\r\n|\r|\n")


def _reject(message: str, file_name: str, **where) -> ImportRejected:
    return ImportRejected(message, file=file_name, **where)


_CONTROL_BYTES = bytes(b for b in range(32) if b not in (9, 10, 13))


def _control_bytes(sample: bytes) -> int:
    """How many NUL and other control bytes (tab and line breaks aside) a sample holds."""
    return len(sample) - len(sample.translate(None, _CONTROL_BYTES))


def _looks_utf16_without_bom(head: bytes) -> str | None:
    sample = head[:4096]
    if len(sample) < 4:
        return None
    even_zero = sample[0::2].count(0) / max(1, len(sample[0::2]))
    odd_zero = sample[1::2].count(0) / max(1, len(sample[1::2]))
    if odd_zero > 0.3 and even_zero < 0.05:
        return "utf-16-le"
    if even_zero > 0.3 and odd_zero < 0.05:
        return "utf-16-be"
    # Mostly Chinese text has few zero bytes: accept a byte order that decodes to readable text.
    sample = sample[: len(sample) // 2 * 2]
    for encoding in ("utf-16-le", "utf-16-be"):
        try:
            text = sample.decode(encoding)
        except UnicodeDecodeError:
            continue
        readable = sum(1 for ch in text if ch.isprintable() or ch in "\r\n\t")
        if readable >= 0.98 * len(text) and "\n" in text:
            return encoding
    return None


def detect_encoding(path: str | Path, *, file_name: str | None = None) -> EncodingGuess:
    """Choose the encoding of a text table (BOM → UTF-8 → GB18030 → detector).

    One pass over the file also computes its SHA-256.

    Raises:
        ImportRejected: an empty or binary file.
    """
    path = Path(path)
    name = file_name or path.name
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        head = fh.read(_SCAN_BLOCK)
        bom_encoding = next((enc for bom, enc in _BOMS if head.startswith(bom)), None)
        if bom_encoding:
            candidates = [bom_encoding]
            method = "字节顺序标记 (BOM)"
        elif b"\x00" in head[:65536] and (utf16 := _looks_utf16_without_bom(head)) is not None:
            candidates = [utf16]
            method = "UTF-16 字节模式"
        elif _control_bytes(head[:65536]) > max(8, MAX_NUL_SHARE * len(head[:65536])):
            raise _reject("看起来不是文本表格（含大量空字节，可能是二进制文件）。请导出为 CSV 或 Excel 后再导入。", name)
        else:  # a few NUL bytes in a text file are cleaned from their cells
            candidates = ["utf-8", "gb18030"]
            method = ""
        decoders = {enc: codecs.getincrementaldecoder(enc)("strict") for enc in candidates}
        alive = dict.fromkeys(candidates, True)
        utf8_rows = nul_bytes = longest = carried = 0
        for block in _scan_blocks(fh, head):
            digest.update(block)
            size += len(block)
            for enc, decoder in decoders.items():
                if alive[enc]:
                    try:
                        decoder.decode(block)
                    except UnicodeDecodeError:
                        alive[enc] = False
            if not method:
                nul_bytes += block.count(b"\x00")
                if not utf8_rows and not alive["utf-8"] and _has_utf8_cjk_run(block):
                    utf8_rows = 1
            breaks = np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == 10)
            if len(breaks):
                longest = max(longest, carried + int(breaks[0]), int(np.diff(breaks).max(initial=0)))
                carried = len(block) - int(breaks[-1]) - 1
            else:
                carried += len(block)
        for enc, decoder in decoders.items():
            if alive[enc]:
                try:
                    decoder.decode(b"", final=True)
                except UnicodeDecodeError:
                    alive[enc] = False
    if size == 0:
        raise _reject("文件为空。请确认导出是否成功。", name)
    sha = digest.hexdigest()
    facts = {"nul_bytes": nul_bytes, "max_line_bytes": max(longest, carried)}
    if bom_encoding or method:
        return EncodingGuess(candidates[0], method, alive[candidates[0]], sha, size, **facts)
    if alive["utf-8"]:
        return EncodingGuess("utf-8", "严格 UTF-8", True, sha, size, **facts)
    if alive["gb18030"]:
        # UTF-8 text also decodes as GB18030 (as mojibake): such rows are told apart row by row.
        return EncodingGuess("gb18030", "严格 GB18030", True, sha, size,
                             fallback="utf-8" if utf8_rows else None, **facts)
    mixed = _mixed_guess(head)
    if mixed is not None:
        encoding, fallback, method = mixed
        return EncodingGuess(encoding, method, False, sha, size, fallback=fallback, **facts)
    encoding, method = _detector_guess(head)
    return EncodingGuess(encoding, method, False, sha, size, **facts)


def _has_utf8_cjk_run(block: bytes) -> bool:
    """Four CJK characters in a row in UTF-8 (an E4–E9 lead byte, two continuation bytes, four times).

    A GB18030 file holding them may have UTF-8 rows, which decode as GB18030 mojibake.
    """
    a = np.frombuffer(block, dtype=np.uint8)
    cont = (a >= 0x80) & (a <= 0xBF)
    char = (a[:-2] >= 0xE4) & (a[:-2] <= 0xE9) & cont[1:-1] & cont[2:]
    return bool((char[:-9] & char[3:-6] & char[6:-3] & char[9:]).any())


def _scan_blocks(fh, head: bytes) -> Iterator[bytes]:
    """The file in pieces of ``_SCAN_BLOCK`` bytes (``head`` already read), so that scanning holds little."""
    for start in range(0, len(head), _SCAN_BLOCK):
        yield head[start:start + _SCAN_BLOCK]
    while block := fh.read(_SCAN_BLOCK):
        yield block


def _mixed_guess(sample: bytes) -> tuple[str, str, str] | None:
    """A file mixing UTF-8 and GB18030/GBK lines: the encoding most lines use, the other, and the method.

    None when the lines that are not ASCII mostly decode with neither (then a detector decides).
    """
    counts = {"utf-8": 0, "gb18030": 0}
    other = 0
    for line in _LINE_SPLIT.split(sample[:1024 * 1024])[:-1]:
        if line.isascii():
            continue
        decoded = _decode_plausible(line, ("utf-8", "gb18030"))
        if decoded is None:
            other += 1
        else:
            counts[decoded[1]] += 1
    if not counts["utf-8"] or not counts["gb18030"] or other > counts["utf-8"] + counts["gb18030"]:
        return None
    main = "utf-8" if counts["utf-8"] >= counts["gb18030"] else "gb18030"
    fallback = "gb18030" if main == "utf-8" else "utf-8"
    return main, fallback, f"逐行判断（以 {encoding_label(main)} 为主，部分行为 {encoding_label(fallback)}）"


def _plausible_text(text: str) -> bool:
    """True when the non-ASCII characters of a decoded text are mostly common Chinese (GB2312) ones.

    Bytes decoded with the wrong one of UTF-8/GB18030 give rare characters (鐢电儹) or none from
    GB2312 at all, so this tells a right decoding from a lucky one.
    """
    wide = [ch for ch in text if ord(ch) > 127]
    if not wide:
        return True
    common = 0
    for ch in wide:
        try:
            ch.encode("gb2312")
            common += 1
        except UnicodeEncodeError:
            pass
    return common >= 0.9 * len(wide)


def _decode_plausible(raw: bytes, encodings: Sequence[str]) -> tuple[str, str] | None:
    """The first of ``encodings`` that decodes ``raw`` strictly into plausible text, as ``(text, encoding)``."""
    for encoding in encodings:
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError:
            continue
        if _plausible_text(text):
            return text, encoding
    return None


def _fix_encoding(cells: list[str], encoding: str, fallback: str) -> tuple[list[str], bool]:
    """Decide the encoding of one row: ``(cells, broken)``.

    A row that does not decode with the file's ``encoding`` (it holds surrogate escapes) is
    decoded with ``fallback`` when that gives plausible text. When the fallback is UTF-8, a
    row that is valid UTF-8 is read as UTF-8 even though it also decodes (as mojibake) with
    GB18030. The same list is returned when nothing changes; ``broken`` says bytes remain
    undecodable.
    """
    broken = any(_SURROGATE.search(c) for c in cells)
    if broken or (fallback == "utf-8" and not all(c.isascii() for c in cells)):
        raw = [c.encode(encoding, "surrogateescape") for c in cells]
        if _decode_plausible(b"\x1f".join(raw), (fallback,)) is not None:
            return [r.decode(fallback) for r in raw], False
    return cells, broken


def _detector_guess(sample: bytes) -> tuple[str, str]:
    """Neither codec decodes the whole file: the one that almost does, else charset-normalizer.

    Returns:
        ``(encoding, method)``.
    """
    sample = sample[:1024 * 1024]
    errors = {enc: len(_SURROGATE.findall(sample.decode(enc, "surrogateescape"))) for enc in ("utf-8", "gb18030")}
    nearly = min(errors, key=errors.get)
    if errors[nearly] <= max(8, len(sample) // 1000):
        return nearly, f"{encoding_label(nearly)}（含少量坏字节）"
    from charset_normalizer import from_bytes

    best = from_bytes(sample).best()
    if best is not None and best.encoding:
        try:
            return codecs.lookup(best.encoding).name, "字符集检测 (charset-normalizer)"
        except LookupError:
            pass
    return nearly, f"{encoding_label(nearly)}（无法可靠识别，按坏字节最少的编码读取）"


def check_excel(path: str | Path, *, file_name: str | None = None) -> str:
    """Check an Excel file before parsing it; return its format (``"xlsx"`` or ``"xls"``).

    Raises:
        ImportRejected: not a zip/OLE container, a zip bomb, an absurd declared
            size, or not a workbook.
    """
    path = Path(path)
    name = file_name or path.name
    size = path.stat().st_size
    if size == 0:
        raise _reject("文件为空。请确认导出是否成功。", name)
    if size > MAX_FILE_BYTES:
        raise _reject(f"文件过大（{size / 1024**2:.0f} MB），上限为 {MAX_FILE_BYTES // 1024**2} MB。请拆分后导入。", name)
    with open(path, "rb") as fh:
        magic = fh.read(8)
    if magic.startswith(_OLE_MAGIC):
        return "xls"
    if not magic.startswith(_ZIP_MAGIC) or not zipfile.is_zipfile(path):
        raise _reject("不是有效的 Excel 文件（.xlsx 应为 zip 格式，.xls 应为 OLE 格式），可能已损坏或扩展名有误。"
                      "请在 Excel 中重新另存为 .xlsx 或 CSV。", name)
    try:
        with zipfile.ZipFile(path) as zf:
            members = zf.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise _reject(f"Excel 文件已损坏，无法打开（{exc}）。请重新导出。", name) from exc
    if len(members) > MAX_ZIP_MEMBERS:
        raise _reject(f"Excel 文件内部包含 {len(members)} 个部件，不像正常的工作簿，已拒绝。", name)
    names = {m.filename for m in members}
    if "xl/workbook.xml" not in names and "xl/workbook.bin" not in names:
        raise _reject("这是一个 zip 文件，但不是 Excel 工作簿（缺少 xl/workbook.xml）。", name)
    declared = sum(m.file_size for m in members)
    compressed = sum(m.compress_size for m in members)
    if declared > MAX_EXCEL_UNCOMPRESSED:
        raise _reject(f"Excel 文件声明的解压大小为 {declared / 1024**3:.1f} GB，超过上限 "
                      f"{MAX_EXCEL_UNCOMPRESSED // 1024**3} GB，已拒绝。请另存为 CSV 后导入。", name)
    for m in members:
        if m.file_size > 10 * 1024**2 and m.file_size > MAX_ZIP_RATIO * max(1, m.compress_size):
            raise _reject(f"Excel 文件的压缩比异常（部件 {m.filename} 压缩比超过 {MAX_ZIP_RATIO}:1），"
                          "疑似“压缩炸弹”，已拒绝。", name)
    if declared > 50 * 1024**2 and declared > MAX_ZIP_RATIO * max(1, compressed):
        raise _reject(f"Excel 文件的整体压缩比超过 {MAX_ZIP_RATIO}:1，疑似“压缩炸弹”，已拒绝。", name)
    return "xlsx"


@dataclasses.dataclass
class SheetExtent:
    """Where the cells of one worksheet lie (0-based ``(row, column)``), read from its XML."""

    name: str
    cells: int  # cells holding a value
    first: tuple[int, int] | None  # top-left corner of the cells holding a value
    last: tuple[int, int] | None  # bottom-right corner
    far: list[str] = dataclasses.field(default_factory=list)  # e.g. ["XFD1048576"]: the cells that set ``last``

    @property
    def area(self) -> int:
        """Positions between the corners: what a reader allocates to load the sheet."""
        if self.first is None or self.last is None:
            return 0
        return (self.last[0] - self.first[0] + 1) * (self.last[1] - self.first[1] + 1)


def cell_name(row: int, col: int) -> str:
    """0-based ``(row, col)`` → ``A1``-style name (``(1048575, 16383)`` → ``XFD1048576``)."""
    letters = ""
    col += 1
    while col:
        col, rem = divmod(col - 1, 26)
        letters = chr(65 + rem) + letters
    return f"{letters}{row + 1}"


def _column_index(letters: bytes) -> int:
    index = 0
    for ch in letters:
        index = index * 26 + ch - 64
    return index - 1


_ROW_OR_CELL = re.compile(
    rb"<(?:[\w.-]+:)?row\b(?P<row>[^>]*)>|<(?:[\w.-]+:)?c(?=[\s/>])(?P<cattr>[^>]*?)(?:/>|>(?P<body>.*?)</(?:[\w.-]+:)?c>)",
    re.S)
_VALUE = re.compile(rb"<(?:[\w.-]+:)?(?:v\b[^>]*>[^<]|is\b)")
_R_ATTR = re.compile(rb'\br\s*=\s*["\']([A-Z]{0,3})([0-9]{1,7})["\']')


def _xml_pieces(zf: zipfile.ZipFile, member: str, *, file_name: str) -> Iterator[bytes]:
    """A part of the zip, decompressed piece by piece, each piece ending after a ``>``."""
    carry = b""
    with zf.open(member) as fh:
        while block := fh.read(_BLOCK):
            block = carry + block
            cut = block.rfind(b">") + 1
            carry = block[cut:]
            if len(carry) > _BLOCK:
                raise _reject(f"Excel 文件的部件 {member} 不是有效的 XML（一个标记超过 {_BLOCK // 1024**2} MB），已拒绝。",
                              file_name)
            yield block[:cut]
    if carry.strip():
        yield carry


_TAG_END = np.zeros(256, dtype=bool)
_TAG_END[[9, 10, 13, 32, 47, 62]] = True  # white space, "/", ">"
_CAPITAL = np.zeros(256, dtype=bool)
_CAPITAL[65:91] = True
_DIGIT = np.zeros(256, dtype=bool)
_DIGIT[48:58] = True


def _piece_cells(piece: bytes) -> tuple[int, int, np.ndarray, np.ndarray]:
    """Cell tags and their references in a piece of sheet XML, vectorised.

    Returns:
        ``(tags, refs, rows, cols)``: how many cell tags (``<c …>``, also after a namespace
        prefix), how many start ``<c r="A1"`` (the form Excel writes), and the 0-based rows
        and columns of those references. ``tags != refs`` means some cell is written
        otherwise (no ``r``, ``r`` not first, quotes, a prefix): the caller then parses the XML.
    """
    a = np.frombuffer(piece + b"\0" * 16, dtype=np.uint8)
    lt = np.flatnonzero(a == 60)
    lt = lt[(a[lt + 1] == 99) & _TAG_END[a[lt + 2]]]
    tags = len(lt)
    if b":c" in piece:  # <x:c …>: counted so that such files take the careful path
        colon = np.flatnonzero(a == 58)
        tags += int(((a[colon + 1] == 99) & _TAG_END[a[colon + 2]]).sum())
    at = lt[(a[lt + 2] == 32) & (a[lt + 3] == 114) & (a[lt + 4] == 61) & (a[lt + 5] == 34)] + 6
    one = _CAPITAL[a[at]]
    two = one & _CAPITAL[a[at + 1]]
    three = two & _CAPITAL[a[at + 2]]
    letters = one.astype(np.int64) + two + three
    v = [a[at + k].astype(np.int64) - 64 for k in range(3)]
    cols = np.where(letters == 1, v[0], np.where(letters == 2, v[0] * 26 + v[1], v[0] * 676 + v[1] * 26 + v[2])) - 1
    start = at + letters
    rows = np.zeros(len(at), dtype=np.int64)
    digits = np.zeros(len(at), dtype=np.int64)
    live = letters > 0
    for k in range(8):
        b = a[start + k]
        d = live & _DIGIT[b]
        rows = np.where(d, rows * 10 + (b.astype(np.int64) - 48), rows)
        digits += d
        live = d
    ok = (letters > 0) & (digits > 0) & (digits <= 7) & (a[start + digits] == 34)
    return tags, int(ok.sum()), rows[ok] - 1, cols[ok]


def _quick_extent(zf: zipfile.ZipFile, member: str, name: str, *, file_name: str) -> SheetExtent | None:
    """The extent from the ``r`` attributes of the cells (fast); None when some cell is written otherwise.

    Cells without a value count too, so this can only overstate the extent.
    """
    tags = refs = 0
    top = left = 1 << 40
    bottom = right = -1
    for piece in _xml_pieces(zf, member, file_name=file_name):
        if b"<!--" in piece or b"<![CDATA[" in piece:
            raise _reject(f"工作表「{name}」的 XML 含注释或 CDATA 段，不是 Excel 保存的格式，无法先安全检查其大小。"
                          "请在 Excel 中打开后另存为 .xlsx，或另存为 CSV 再导入。", file_name)
        n_tags, n_refs, rows, cols = _piece_cells(piece)
        tags += n_tags
        refs += n_refs
        if n_refs:
            top, bottom = min(top, int(rows.min())), max(bottom, int(rows.max()))
            left, right = min(left, int(cols.min())), max(right, int(cols.max()))
    if tags != refs:
        return None
    if not refs:
        return SheetExtent(name, 0, None, None)
    return SheetExtent(name, refs, (top, left), (bottom, right))


def _exact_extent(zf: zipfile.ZipFile, member: str, name: str, *, file_name: str) -> SheetExtent:
    """The extent of the cells holding a value (cells without ``r`` placed as a reader places them)."""
    cells = 0
    top = left = 1 << 30
    bottom = right = -1
    lowest = rightmost = (0, 0)  # a cell on the last row, a cell in the last column
    row, col = -1, -1
    for piece in _xml_pieces(zf, member, file_name=file_name):
        for m in _ROW_OR_CELL.finditer(piece):
            if m.group("row") is not None:
                ref = _R_ATTR.search(m.group("row"))
                row = int(ref.group(2)) - 1 if ref else row + 1
                col = -1
                continue
            ref = _R_ATTR.search(m.group("cattr"))
            if ref:
                col = _column_index(ref.group(1)) if ref.group(1) else col + 1
                row = int(ref.group(2)) - 1
            else:
                col += 1
            body = m.group("body")
            if not body or not _VALUE.search(body):
                continue
            cells += 1
            top, left = min(top, row), min(left, col)
            if row > bottom:
                bottom, lowest = row, (row, col)
            if col > right:
                right, rightmost = col, (row, col)
    if not cells:
        return SheetExtent(name, 0, None, None)
    far = list(dict.fromkeys(cell_name(*cell) for cell in (lowest, rightmost)))
    return SheetExtent(name, cells, (top, left), (bottom, right), far)


def _sheet_parts(zf: zipfile.ZipFile, *, file_name: str) -> list[tuple[str, str]]:
    """``(sheet name, zip member)`` of every worksheet, in workbook order."""
    import xml.etree.ElementTree as ET

    def read(member: str) -> ET.Element:
        if zf.getinfo(member).file_size > _MAX_XML_PART:
            raise _reject(f"Excel 文件的部件 {member} 大得异常，不像正常的工作簿，已拒绝。", file_name)
        return ET.fromstring(zf.read(member))

    names = set(zf.namelist())
    rels_name = "xl/_rels/workbook.xml.rels"
    targets = {}
    if rels_name in names:
        for rel in read(rels_name):
            target = rel.get("Target", "")
            target = target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join("xl", target))
            targets[rel.get("Id")] = target
    parts = []
    for element in read("xl/workbook.xml").iter():
        if element.tag.rsplit("}", 1)[-1] != "sheet":
            continue
        rid = next((v for k, v in element.attrib.items() if k.rsplit("}", 1)[-1] == "id"), None)
        member = targets.get(rid)
        if member in names:
            parts.append((element.get("name", ""), member))
    return parts


def sheet_extents(path: str | Path, *, file_name: str | None = None) -> dict[str, SheetExtent]:
    """The real extent of every worksheet of an .xlsx file — its cells, not its declared dimension.

    Read from the sheet XML piece by piece, without loading the sheet: a cell at
    XFD1048576 in a 2 KB file shows here as an extent of 17 billion positions.

    Raises:
        ImportRejected: a binary workbook (.xlsb) or malformed parts.
    """
    name = file_name or Path(path).name
    try:
        with zipfile.ZipFile(path) as zf:
            if "xl/workbook.xml" not in zf.namelist():
                raise _reject("这是二进制格式的 Excel 工作簿 (.xlsb)，无法先检查其大小。请在 Excel 中另存为 .xlsx 或 CSV 后导入。",
                              name)
            out = {}
            for sheet, member in _sheet_parts(zf, file_name=name):
                extent = _quick_extent(zf, member, sheet, file_name=name)
                if extent is None or extent.area > MAX_EXCEL_CELLS:
                    extent = _exact_extent(zf, member, sheet, file_name=name)
                out[sheet] = extent
            return out
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        if isinstance(exc, ImportRejected):
            raise
        raise _reject(f"Excel 文件已损坏，无法读取工作表结构（{str(exc)[:120]}）。请重新导出或另存为 CSV。", name) from exc
    except SyntaxError as exc:  # xml.etree.ElementTree.ParseError
        raise _reject(f"Excel 文件的工作簿结构不是有效的 XML（{str(exc)[:120]}）。请在 Excel 中另存为 .xlsx 或 CSV。",
                      name) from exc


def _count_cn(n: int) -> str:
    """A large count in Chinese units: 17179869184 → 172 亿, 20000000 → 2,000 万."""
    return f"{n / 1e8:,.0f} 亿" if n >= 1e8 else f"{n / 1e4:,.0f} 万" if n >= 1e4 else f"{n:,}"


def _extent_problem(extent: SheetExtent) -> str:
    """Why a sheet is too large to load, in Chinese."""
    far = "、".join(extent.far) or cell_name(*extent.last)
    return (f"工作表「{extent.name}」的单元格分布在 {cell_name(*extent.first)} 到 {cell_name(*extent.last)}，"
            f"读取时需要约 {_count_cn(extent.area)}个单元格的空间（上限 {_count_cn(MAX_EXCEL_CELLS)}个），"
            f"但只有 {extent.cells:,} 个单元格有内容。远处的单元格（{far}）可能是误输入留下的：请在 Excel 中删除多余的行和列后保存，"
            "或另存为 CSV 再导入。")


# ---------------------------------------------------------------------------
# The reader
# ---------------------------------------------------------------------------
@dataclasses.dataclass
class TableInfo:
    """What the reader found out about a file."""

    file_name: str
    kind: str  # "text" or "excel"
    size_bytes: int
    sha256: str
    encoding: str
    encoding_method: str
    delimiter: str | None
    sheet: str | None
    header_row: int
    headers: list[str]
    warnings: list[str] = dataclasses.field(default_factory=list)
    fallback_encoding: str | None = None  # a second encoding some rows use (text files mixing UTF-8 and GBK)
    sheets: list[str] = dataclasses.field(default_factory=list)  # every worksheet of a workbook, in order


@dataclasses.dataclass
class QuarantinedRow:
    """A row that was read but cannot be used, with where and why."""

    row: int
    reason: str
    column: str | None
    raw: dict | str


@dataclasses.dataclass
class RawChunk:
    """A block of well-formed rows plus the rows quarantined while reading.

    The cells of the good rows are one row-major Arrow array (``len(rows) ×
    len(headers)``); :meth:`column` takes one source column out of it.
    """

    headers: list[str]
    cells: pa.Array
    rows: list[int]
    quarantine: list[QuarantinedRow]
    _columns: dict[str, pa.Array] = dataclasses.field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.rows)

    def column(self, header: str) -> pa.Array:
        """The raw strings of one source column, in row order."""
        if header not in self._columns:
            width, n = len(self.headers), len(self.rows)
            index = self.headers.index(header)
            self._columns[header] = pc.take(self.cells, pa.array(np.arange(index, n * width, width, dtype=np.int64)))
        return self._columns[header]

    @property
    def columns(self) -> dict[str, pa.Array]:
        """Every source column (see :meth:`column`)."""
        return {h: self.column(h) for h in self.headers}


@dataclasses.dataclass
class RawTable:
    """A whole file read into memory (previews, tests): raw strings, no mapping applied."""

    info: TableInfo
    frame: pd.DataFrame  # one column per source header, index = source row
    quarantine: pd.DataFrame  # row, reason, column, raw
    skipped_header_rows: int
    skipped_blank_rows: int


def _cell_text(value) -> str:
    """An Excel cell as the string a CSV export would hold."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value:
            return ""
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return repr(value)
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    return str(value)


def _unique_headers(cells: Sequence[str]) -> list[str]:
    out: list[str] = []
    seen: dict[str, int] = {}
    for i, cell in enumerate(cells):
        name = unicodedata.normalize("NFKC", cell.replace("\ufeff", "")).strip() or f"列{i + 1}"
        if name in seen:
            seen[name] += 1
            name = f"{name}({seen[name]})"
        else:
            seen[name] = 1
        out.append(name)
    return out


def _choose_header(records: Sequence[tuple[int, list[str]]]) -> int:
    """Index of the header among the first records: most alias matches, else the first wide row."""
    scores = [header_score(cells) for _, cells in records]
    best = max(scores, default=0)
    if best >= 1:
        return scores.index(best)
    widths = [sum(1 for c in cells if c.strip()) for _, cells in records]
    widest = max(widths, default=0)
    for i, width in enumerate(widths):
        if width >= max(2, 0.6 * widest):
            return i
    return next((i for i, w in enumerate(widths) if w), 0)


def _join_header_rows(parent: list[str], child: list[str], spans: Sequence[tuple[int, int]] = ()) -> list[str] | None:
    """Two header rows joined column by column (``登记信息/登记时间``); None without group structure.

    A group name stands over several sub-headers: in a merged cell (``spans``, Excel) or, in a
    text file, followed by blank cells over sub-headers. A column without a sub-header keeps
    its name (a cell merged over both rows).
    """
    width = max(len(parent), len(child))
    parent = [c.strip() for c in parent] + [""] * (width - len(parent))
    child = [c.strip() for c in child] + [""] * (width - len(child))
    if sum(1 for c in parent if c) < 2 or sum(1 for c in child if c) < 2:
        return None
    filled = list(parent)
    for first, last in spans:
        for c in range(max(first, 0) + 1, min(last, width - 1) + 1):
            filled[c] = filled[c] or parent[max(first, 0)]
    if not spans:
        for c in range(1, width):
            if not parent[c] and child[c] and filled[c - 1] and child[c - 1]:
                filled[c] = filled[c - 1]
    if not any(filled[c] and not parent[c] and child[c] for c in range(width)):
        return None
    return [f"{p}/{ch}" if p and ch and p != ch else (p or ch) for p, ch in zip(filled, child)]


def _two_level_header(records: Sequence[tuple[int, list[str]]], index: int, *,
                      merges: Mapping[int, list[tuple[int, int]]] | None = None) -> tuple[list[str], int, int] | None:
    """A header of two rows around ``records[index]``: ``(joined cells, line of the lower row, line of the upper)``.

    The rows are joined when they are adjacent, the upper one groups columns (merged cells
    or blanks over sub-headers) and the joined names match more fields than either row.

    Args:
        records: ``(line, cells)`` of the first non-blank rows.
        index: the row chosen as header.
        merges: horizontally merged cells per line (Excel).
    """
    merges = merges or {}
    for upper in (index, index - 1):
        if upper < 0 or upper + 1 >= len(records):
            continue
        (top, parent), (line, child) = records[upper], records[upper + 1]
        if line != top + 1:
            continue
        joined = _join_header_rows(parent, child, merges.get(top, ()))
        if joined is not None and header_score(joined) > max(header_score(parent), header_score(child)):
            return joined, line, top
    return None


def _sniff_delimiter(sample: str, *, suffix: str) -> str:
    best, best_score = ",", (-1, -1, -1)
    for delim in _DELIMITERS:
        try:
            rows = [r for r in itertools.islice(csv.reader(io.StringIO(sample, newline=""), delimiter=delim), 60)]
        except csv.Error:
            continue
        counts = [len(r) for r in rows if any(c.strip() for c in r)]
        if not counts:
            continue
        mode = collections.Counter(counts).most_common(1)[0][0]
        agree = sum(1 for c in counts if c == mode)
        preferred = (delim == "\t") if suffix == ".tsv" else (delim == ",")
        score = (int(mode > 1), agree if mode > 1 else 0, int(preferred))
        if score > best_score:
            best, best_score = delim, score
    return best


class TableReader:
    """Read a complaint export in chunks of raw string rows.

    Opening the reader checks the file, chooses the encoding and delimiter and
    finds the header; iterating :meth:`chunks` parses the rows.

    Args:
        path: the file (``.csv .tsv .txt .xlsx .xlsm .xls``).
        file_name: the name to report (e.g. the uploaded file's name).
        chunk_size: rows per chunk.
        sheet: the worksheet to read from a workbook (default: the one that
            looks most like complaints).
        max_line_chars: a text line longer than this (no line break) is
            quarantined without being held in memory; a header that long
            rejects the file.

    Attributes:
        rows_read: data rows produced so far (good or quarantined), counted
            apart from the blank rows, repeated headers and title rows skipped.
        fallback_rows: rows decoded with the file's second encoding
            (``info.fallback_encoding``).
        nul_rows: rows whose cells held NUL bytes (removed).

    Raises:
        ImportRejected: the file cannot be imported at all.
    """

    def __init__(self, path: str | Path, *, file_name: str | None = None, chunk_size: int = 50_000,
                 sheet: str | None = None, max_line_chars: int | None = None) -> None:
        self.path = Path(path)
        self.file_name = file_name or self.path.name
        self.chunk_size = int(chunk_size)
        self.max_line_chars = int(max_line_chars or MAX_LINE_CHARS)
        self.requested_sheet = sheet
        self.skipped_header_rows = 0
        self.skipped_blank_rows = 0
        self.skipped_title_rows = 0
        self.bytes_read = 0
        self.rows_read = 0
        self.fallback_rows = 0
        self.nul_rows = 0
        self._fallback: str | None = None
        self._overlong: set[int] = set()
        self._header_top: int | None = None  # first line of a two-level header
        suffix = Path(self.file_name).suffix.lower() or self.path.suffix.lower()
        if suffix not in SUPPORTED_SUFFIXES:
            raise _reject(f"不支持的文件类型「{suffix or '无扩展名'}」。请导入 CSV、TSV、TXT、XLSX 或 XLS 文件。",
                          self.file_name)
        if not self.path.is_file():
            raise _reject("文件不存在或无法读取。", self.file_name)
        size = self.path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise _reject(f"文件过大（{size / 1024**2:.0f} MB），上限为 {MAX_FILE_BYTES // 1024**2} MB。请拆分后导入。",
                          self.file_name)
        with open(self.path, "rb") as fh:
            magic = fh.read(8)
        self._suffix = suffix
        if suffix in (".xlsx", ".xlsm") or magic.startswith((_ZIP_MAGIC, _OLE_MAGIC)):
            self._open_excel()
        else:
            if suffix == ".xls":
                self._reject_html_xls()
            self._open_text()

    # -- text files ----------------------------------------------------------
    def _reject_html_xls(self) -> None:
        with open(self.path, "rb") as fh:
            head = fh.read(4096).lstrip(codecs.BOM_UTF8).lstrip().lower()
        if head.startswith((b"<html", b"<!doctype", b"<table", b"<?xml", b"<meta")):
            raise _reject("此 .xls 文件实为网页 (HTML/XML) 表格，无法直接读取。请在 Excel 中打开并另存为 .xlsx 或 CSV 后导入。",
                          self.file_name)

    def _open_text(self) -> None:
        guess = detect_encoding(self.path, file_name=self.file_name)
        self._clean = guess.clean and not guess.nul_bytes and guess.fallback is None
        self._fallback = guess.fallback
        self._binary = open(self.path, "rb")
        self._text = io.TextIOWrapper(self._binary, encoding=guess.encoding, errors="surrogateescape", newline="")
        limit = self.max_line_chars
        peek = self._text.read(min(SNIFF_CHARS, limit))
        if guess.max_line_bytes <= limit:  # every line fits: read the file at C speed
            if peek.endswith("\r"):
                peek += self._text.read(1)
            if not peek.endswith(("\n", "\r")):
                peek += self._text.readline()
        else:  # some line is too long to hold: read line by line with a bound
            cut = peek.rfind("\n")
            if cut < 0:
                cut = peek.rfind("\r", 0, len(peek) - 1)
            if cut < 0 and len(peek) >= min(SNIFF_CHARS, limit):
                self.close()
                raise _reject(f"第 1 行超过 {len(peek):,} 个字符仍没有换行，不像投诉导出表格（表头过长，"
                              "可能是单行的大文件或二进制数据）。请确认文件内容，导出为每行一条投诉的 CSV 或 Excel 后再导入。",
                              self.file_name, row=1)
            rest = peek[cut + 1:] if cut >= 0 else ""
            peek = peek[:cut + 1] if cut >= 0 else peek
            first = sum(1 for _ in io.StringIO(peek, newline="")) + 1
            self._text = _BoundedLines(rest, self._text, limit=limit, first_line=first, overlong=self._overlong)
        self._peek = peek
        delimiter = _sniff_delimiter(peek, suffix=self._suffix)
        head: list[tuple[int, list[str]]] = []
        reader = csv.reader(io.StringIO(peek, newline=""), delimiter=delimiter, strict=False)
        prev = 0
        while len(head) < HEADER_SCAN_ROWS:
            try:
                cells = next(reader)
            except (StopIteration, csv.Error):
                break
            if any(c.strip() for c in cells):
                head.append((prev + 1, cells))
            prev = reader.line_num
        if not head:
            raise _reject("文件中没有可读取的内容（只有空行）。", self.file_name)
        if guess.fallback:
            head = [(n, _fix_encoding(cells, guess.encoding, guess.fallback)[0]) for n, cells in head]
        index = _choose_header(head)
        header_line, header_cells = head[index]
        two_level = _two_level_header(head, index)
        if two_level is not None:
            header_cells, header_line, top = two_level
            self._use_two_level(head, top, header_line)
        self._delimiter = delimiter
        self._header_line = header_line
        header_cells = self._decode_header(header_cells, header_line, guess)
        self._init_info(header_cells, header_line, kind="text", encoding=guess.encoding,
                        method=guess.method, delimiter=delimiter, sheet=None, sha=guess.sha256, size=guess.size)
        self.info.fallback_encoding = guess.fallback
        if two_level is not None:
            self._note_two_level(head, two_level)
        if not guess.clean and not guess.fallback:  # with a fallback the import reports rows per encoding
            self.info.warnings.append(
                f"文件中有无法按 {encoding_label(guess.encoding)} 解码的字节，所在行已隔离（编码由{guess.method}判断）。"
            )

    def _decode_header(self, cells: list[str], line: int, guess: EncodingGuess) -> list[str]:
        """The header cells, re-decoded with the second encoding if needed; undecodable bytes reject the file."""
        cells = [c.replace("\x00", "") for c in cells]
        fallback = guess.fallback or ("gb18030" if guess.encoding.startswith("utf-8") else "utf-8")
        cells, broken = _fix_encoding(cells, guess.encoding, fallback)
        if not broken:
            return cells
        column = next(i for i, c in enumerate(cells) if _SURROGATE.search(c))
        shown = _clean_surrogates(cells[column])[:30]
        raise _reject(f"表头第 {column + 1} 列「{shown}」含无法按 {encoding_label(guess.encoding)} 或 GB18030/GBK 解码的字节"
                      "（文件可能已损坏或混用了编码）。请用 Excel 或文本编辑器打开，修正表头后另存为 UTF-8 编码的 CSV 再导入。",
                      self.file_name, row=line)

    def _repair_row(self, cells: list[str]) -> list[str] | None:
        """A text row with its encoding decided and NUL bytes removed; None if its bytes do not decode."""
        if self._fallback:
            fixed, broken = _fix_encoding(cells, self.info.encoding, self._fallback)
            if fixed is not cells and not broken:
                cells = fixed
                self.fallback_rows += 1
        else:
            broken = any(_SURROGATE.search(c) for c in cells)
        if broken:
            return None
        if any("\x00" in c for c in cells):
            cells = [c.replace("\x00", "") for c in cells]
            self.nul_rows += 1
        return cells

    def _text_records(self) -> Iterator[tuple[int, list[str] | None, list[tuple[int, str]], str | None]]:
        """Yield ``(line, cells, lines, error)`` for every record after the header.

        ``lines`` holds the raw lines only where they are needed (a record given
        back or rejected). The csv reader runs on the file's line iterator at C
        speed; a ``tee`` keeps the raw lines of the current record so that a
        broken quote, which swallows the following lines, can give them back
        to be parsed again.
        """
        base = itertools.chain(io.StringIO(self._peek, newline=""), self._text)
        self._peek = ""
        pending: list[str] = []
        next_line = 1
        header_line, width = self._header_line, self._width
        drop = collections.deque(maxlen=0).extend
        overlong = self._overlong
        top = self._header_top or header_line
        while True:
            source, shadow = itertools.tee(itertools.chain(pending, base) if pending else base)
            reader = csv.reader(source, delimiter=self._delimiter, strict=False)
            start, prev, shadow_at, restart = next_line, 0, 0, False
            while True:
                try:
                    cells = next(reader)
                except StopIteration:
                    return
                except csv.Error:
                    n = reader.line_num
                    drop(itertools.islice(shadow, prev - shadow_at))
                    raw = list(itertools.islice(shadow, n - prev))
                    first = start + prev
                    yield first, None, [(first, raw[0] if raw else "")], "csv"
                    pending, next_line, restart = raw[1:] + pending[n:], first + 1, True
                    break
                n = reader.line_num
                first = start + prev
                if overlong and first > header_line and not overlong.isdisjoint(range(first, start + n)):
                    # A line too long to hold was skipped (an empty line stands for it): quarantine its record.
                    drop(itertools.islice(shadow, prev - shadow_at))
                    raw = "".join(itertools.islice(shadow, n - prev))
                    shadow_at = prev = n
                    yield first, None, [(first, raw[:self.max_line_chars])], "overlong"
                    continue
                if first <= header_line:
                    if first < top and any(c.strip() for c in cells):
                        self.skipped_title_rows += 1
                elif n - prev > 1:
                    drop(itertools.islice(shadow, prev - shadow_at))
                    raw = list(itertools.islice(shadow, n - prev))
                    shadow_at = n
                    too_long = len(raw) > MAX_RECORD_LINES
                    if too_long or self._n_fields(cells) != width or sum(line.count('"') for line in raw) % 2:
                        # A broken quote swallowed the following lines: give them back.
                        yield first, cells, [(first, raw[0])], "too_long" if too_long else "quote"
                        pending, next_line, restart = raw[1:] + pending[n:], first + 1, True
                        break
                    yield first, cells, [], None
                else:
                    yield first, cells, [], None
                prev = n
                if prev - shadow_at > 4096:
                    drop(itertools.islice(shadow, prev - shadow_at))
                    shadow_at = prev
            if not restart:
                return

    def _n_fields(self, cells: list[str]) -> int:
        n = len(cells)
        while n > self._width and not cells[n - 1].strip():
            n -= 1
        return n

    # -- excel ---------------------------------------------------------------
    def _open_excel(self) -> None:
        from python_calamine import CalamineWorkbook

        kind = check_excel(self.path, file_name=self.file_name)
        extents = sheet_extents(self.path, file_name=self.file_name) if kind == "xlsx" else {}
        digest = hashlib.sha256()
        with open(self.path, "rb") as fh:
            for block in iter(lambda: fh.read(_BLOCK), b""):
                digest.update(block)
        try:
            workbook = CalamineWorkbook.from_path(str(self.path))
            names = workbook.sheet_names
            sheet, head, skipped = self._pick_sheet(workbook, names, extents)
        except ImportRejected:
            raise
        except Exception as exc:  # noqa: BLE001 - calamine raises many types
            message = str(exc)
            if "password" in message.lower() or "encrypt" in message.lower():
                raise _reject("Excel 文件有密码保护。请去除密码后另存再导入。", self.file_name) from exc
            raise _reject(f"无法解析 Excel 文件（{message[:200]}）。请在 Excel 中另存为 .xlsx 或 CSV 后导入。",
                          self.file_name) from exc
        index = _choose_header(head)
        header_line, header_cells = head[index]
        two_level = _two_level_header(head, index, merges=self._merged_spans(sheet))
        if two_level is not None:
            header_cells, header_line, top = two_level
            self._use_two_level(head, top, header_line)
        self._header_line = header_line
        self._clean = True
        self._init_info(header_cells, header_line, kind="excel", encoding=kind, method="Excel 文件",
                        delimiter=None, sheet=sheet.name, sha=digest.hexdigest(), size=self.path.stat().st_size)
        self.info.sheets = list(names)
        if two_level is not None:
            self._note_two_level(head, two_level)
        if len(names) > 1:
            how = "（按指定）" if self.requested_sheet is not None else "（表头最像投诉数据的一个）"
            self.info.warnings.append(
                f"工作簿含 {len(names)} 个工作表（{'、'.join(names[:10])}），导入的是「{sheet.name}」{how}；"
                "要导入其他工作表，请在数据导入页选择工作表，或用命令行 --sheet 工作表名。")
        self.info.warnings.extend(skipped)

    def _pick_sheet(self, workbook, names: list[str], extents: dict[str, SheetExtent]):
        """The worksheet to read, its first rows and notes on sheets skipped as too large.

        The requested sheet if any; else, among the sheets with data, the one whose header
        names a complaint-text column and the most fields, then the one with the most rows.
        A sheet whose real extent is too large to load is never loaded.
        """
        if self.requested_sheet is not None:
            if self.requested_sheet not in names:
                raise _reject(f"工作簿中没有名为「{self.requested_sheet}」的工作表。可选的工作表：{'、'.join(names)}。",
                              self.file_name)
            candidates = [self.requested_sheet]
        else:
            candidates = [n for n in names if n not in extents or extents[n].cells]
        too_large = [extents[n] for n in candidates if n in extents and extents[n].area > MAX_EXCEL_CELLS]
        loadable = [n for n in candidates if not any(e.name == n for e in too_large)]
        if not loadable:
            if too_large:
                raise _reject(_extent_problem(too_large[0]), self.file_name)
            raise _reject("工作簿中没有任何数据。", self.file_name)
        skipped = [f"已跳过工作表「{e.name}」：{_extent_problem(e)}" for e in too_large]
        best = None
        for name in loadable:
            sheet = workbook.get_sheet_by_name(name)
            if sheet.height == 0 or sheet.start is None:
                continue
            rows = iter(sheet.iter_rows())
            buffer, head = self._excel_head(sheet, rows)
            if not head:
                continue
            if len(loadable) == 1:
                best = (None, sheet, rows, buffer, head)
                break
            index = _choose_header(head)
            cells = head[index][1]
            two_level = _two_level_header(head, index, merges=self._merged_spans(sheet))
            if two_level is not None:
                cells = two_level[0]
            key = ("text" in auto_mapping([c for c in cells if c.strip()]).values(), header_score(cells),
                   sheet.height)
            if best is None or key > best[0]:
                best = (key, sheet, rows, buffer, head)
        if best is None:
            raise _reject("工作簿中没有任何数据。", self.file_name)
        _, sheet, self._rows, self._excel_buffer, head = best
        self._sheet = sheet
        self._sheet_row0 = sheet.start[0]  # 0-based index of the first row iter_rows returns
        self._excel_done = 0
        return sheet, head, skipped

    @staticmethod
    def _excel_head(sheet, rows: Iterator) -> tuple[list[tuple[int, list[str]]], list[tuple[int, list[str]]]]:
        """The first rows of a sheet (all, as read) and the first non-empty ones (to find the header)."""
        row0 = sheet.start[0]
        buffer: list[tuple[int, list[str]]] = []
        head: list[tuple[int, list[str]]] = []
        for i, row in enumerate(rows):
            cells = [_cell_text(v) for v in row]
            buffer.append((row0 + i + 1, cells))
            if any(c.strip() for c in cells):
                head.append((row0 + i + 1, cells))
            if len(head) >= HEADER_SCAN_ROWS:
                break
        return buffer, head

    @staticmethod
    def _merged_spans(sheet) -> dict[int, list[tuple[int, int]]]:
        """Horizontally merged cells per sheet row (1-based): ``(first, last)`` columns relative to the data."""
        spans: dict[int, list[tuple[int, int]]] = {}
        col0 = sheet.start[1] if sheet.start else 0
        for (r0, c0), (_r1, c1) in sheet.merged_cell_ranges or []:
            if c1 > c0:
                spans.setdefault(r0 + 1, []).append((c0 - col0, c1 - col0))
        return spans

    def _use_two_level(self, head, top: int, line: int) -> None:
        """Remember a two-level header's rows: the upper is no title row, both are skipped if repeated."""
        self._header_top = top
        self._header_parents = [cells for n, cells in head if n in (top, line)]

    def _note_two_level(self, head, two_level) -> None:
        _, line, top = two_level
        joined = [h for h in self.info.headers if "/" in h]
        self.info.warnings.append(
            f"第 {top}–{line} 行是两行表头（上一行是合并的分组名），已合并为一行："
            + "、".join(joined[:8]) + ("等" if len(joined) > 8 else "")
            + "。如不正确，请在列映射中调整，或把表头改为一行后重新导入。")

    def _excel_records(self) -> Iterator[tuple[int, list[str] | None, list[tuple[int, str]], str | None]]:
        start = self._sheet_row0 + len(self._excel_buffer)
        rest = ((start + i + 1, [_cell_text(v) for v in row]) for i, row in enumerate(self._rows))
        top = self._header_top or self._header_line
        for number, cells in itertools.chain(self._excel_buffer, rest):
            self._excel_done = number - self._sheet_row0
            if number < self._header_line:
                if number < top and any(c.strip() for c in cells):
                    self.skipped_title_rows += 1
                continue
            if number == self._header_line:
                continue
            yield number, cells, [], None
        self._excel_buffer = []

    # -- shared ------------------------------------------------------------------
    def _init_info(self, header_cells, header_line, *, kind, encoding, method, delimiter, sheet, sha, size) -> None:
        cells = list(header_cells)
        while cells and not cells[-1].strip():
            cells.pop()
        if not cells:
            raise _reject("没有找到表头行。", self.file_name)
        headers = _unique_headers(cells)
        self._width = len(headers)
        # Rows repeating the header (each row of a two-level header) are skipped wherever they appear.
        rows = [cells] + [list(r) for r in getattr(self, "_header_parents", [])]
        self._header_keys = {tuple(normalize_header(c) for c in r[:len(cells)]) + ("",) * (len(cells) - len(r))
                             for r in rows}
        self._header_firsts = {r[0].replace("\ufeff", "").strip() if r else "" for r in rows}
        self.info = TableInfo(
            file_name=self.file_name, kind=kind, size_bytes=size, sha256=sha, encoding=encoding,
            encoding_method=method, delimiter=delimiter, sheet=sheet, header_row=header_line, headers=headers,
        )

    @property
    def progress(self) -> float:
        """Fraction of the file read so far (0–1)."""
        if self.info.kind == "excel":
            return min(1.0, self._excel_done / max(1, self._sheet.height))
        if self._binary.closed:
            return 1.0
        try:
            return min(1.0, self._binary.tell() / max(1, self.info.size_bytes))
        except (OSError, ValueError):
            return 0.0

    def chunks(self) -> Iterator[RawChunk]:
        """Parse the rows after the header into chunks of at most ``chunk_size`` good rows."""
        headers = self.info.headers
        width = self._width
        records = self._text_records() if self.info.kind == "text" else self._excel_records()
        good: list[list[str]] = []
        rows: list[int] = []
        quarantine: list[QuarantinedRow] = []
        check_bytes = not self._clean
        header_keys = self._header_keys
        header_firsts = self._header_firsts
        chunk_size = self.chunk_size
        for number, cells, captured, error in records:
            # Fast path: the usual well-formed row.
            if (error is None and not check_bytes and len(cells) == width and cells[0]
                    and cells[0].strip() not in header_firsts):
                good.append(cells)
                rows.append(number)
                if len(good) + len(quarantine) >= chunk_size:
                    self.rows_read += len(good) + len(quarantine)
                    yield _make_chunk(headers, good, rows, quarantine)
                    good, rows, quarantine = [], [], []
                continue
            if error is None:
                if check_bytes and (repaired := self._repair_row(cells)) is not None:
                    cells = repaired
                elif check_bytes:
                    quarantine.append(QuarantinedRow(
                        number, f"含无法按 {encoding_label(self.info.encoding)} 解码的字节（文件可能混用了编码或已损坏）",
                        None, _raw_row(headers, cells)))
                    continue
                if not cells or (not cells[0].strip() and not any(c.strip() for c in cells)):
                    self.skipped_blank_rows += 1
                    continue
                n = self._n_fields(cells)
                if n == width or (n < width and self.info.kind == "excel"):
                    cells = cells[:width] + [""] * (width - n) if n < width else cells[:width]
                    if cells[0].strip() in header_firsts and tuple(normalize_header(c) for c in cells) in header_keys:
                        self.skipped_header_rows += 1
                        continue
                    good.append(cells)
                    rows.append(number)
                else:
                    quarantine.append(QuarantinedRow(
                        number, f"字段数为 {n}，而表头有 {width} 列（可能是分隔符、引号或换行错误）",
                        None, _raw_row(headers, cells)))
            else:
                text = "".join(line for _, line in captured)
                reason = {
                    "overlong": f"此行超过 {self.max_line_chars:,} 个字符仍没有换行，未读入（可能是损坏的数据或不是表格）",
                    "quote": "引号未闭合或字段数不符，无法可靠拆分此行",
                    "too_long": f"引号未闭合，字段跨越超过 {MAX_RECORD_LINES} 行",
                    "csv": "无法按 CSV 规则解析此行（字段过长或格式错误）",
                }[error]
                quarantine.append(QuarantinedRow(number, reason, None, {"_line": _clean_surrogates(text)}))
            if len(good) + len(quarantine) >= chunk_size:
                self.rows_read += len(good) + len(quarantine)
                yield _make_chunk(headers, good, rows, quarantine)
                good, rows, quarantine = [], [], []
        if good or quarantine:
            self.rows_read += len(good) + len(quarantine)
            yield _make_chunk(headers, good, rows, quarantine)
        self.close()

    def close(self) -> None:
        """Release the file handle."""
        text = getattr(self, "_text", None)
        if text is not None and not text.closed:
            text.close()

    def __enter__(self) -> TableReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


    @property
    def row_encodings(self) -> dict[str, int]:
        """How many of the rows read each encoding decoded (text files; one entry when not mixed)."""
        if self.info.kind != "text":
            return {}
        counts = {self.info.encoding: self.rows_read - self.fallback_rows}
        if self.fallback_rows:
            counts[self.info.fallback_encoding] = self.fallback_rows
        return counts


class _BoundedLines:
    """The lines of a text stream, each read with a bound: a longer line is skipped, not held.

    A skipped line is replaced by an empty line and its number recorded in ``overlong`` so
    that the reader quarantines its record. ``prefix`` holds text already read from the
    stream (its last line may continue in the stream); line numbers start at ``first_line``.
    """

    def __init__(self, prefix: str, stream: io.TextIOBase, *, limit: int, first_line: int,
                 overlong: set[int]) -> None:
        self._prefix = io.StringIO(prefix, newline="").readlines()
        self._stream = stream
        self._limit = limit
        self._line = first_line - 1
        self._after_cr = False
        self.overlong = overlong

    @property
    def closed(self) -> bool:
        return self._stream.closed

    def close(self) -> None:
        self._stream.close()

    def __iter__(self) -> _BoundedLines:
        return self

    def _read(self) -> str:
        if self._prefix:
            line = self._prefix.pop(0)
            if self._prefix or line.endswith("\n"):
                return line
            return line + self._stream.readline(max(1, self._limit - len(line)))
        line = self._stream.readline(self._limit)
        if line == "\n" and self._after_cr:  # the rest of a \r\n split by the bound
            line = self._stream.readline(self._limit)
        return line

    def __next__(self) -> str:
        line = self._read()
        if not line:
            raise StopIteration
        self._line += 1
        self._after_cr = line.endswith("\r")
        if len(line) >= self._limit and not line.endswith(("\n", "\r")):
            while line and not line.endswith(("\n", "\r")):  # skip to the end of the line
                line = self._stream.readline(self._limit)
            self._after_cr = line.endswith("\r")
            self.overlong.add(self._line)
            return "\n"
        return line


def _clean_surrogates(text: str) -> str:
    return _SURROGATE.sub("\ufffd", text)


def _raw_row(headers: Sequence[str], cells: Sequence[str]) -> dict:
    raw = {h: _clean_surrogates(c) for h, c in zip(headers, cells)}
    if len(cells) > len(headers):
        raw["_extra"] = [_clean_surrogates(c) for c in cells[len(headers):]]
    return raw


def _make_chunk(headers, good, rows, quarantine) -> RawChunk:
    cells = pa.array(list(itertools.chain.from_iterable(good)), type=pa.large_string())
    return RawChunk(headers=list(headers), cells=cells, rows=rows, quarantine=quarantine)


def open_table(path: str | Path, *, file_name: str | None = None, chunk_size: int = 50_000,
               sheet: str | None = None) -> TableReader:
    """Open a complaint export for reading (see :class:`TableReader`)."""
    return TableReader(path, file_name=file_name, chunk_size=chunk_size, sheet=sheet)


def read_table(path: str | Path, *, nrows: int | None = None, file_name: str | None = None,
               sheet: str | None = None) -> RawTable:
    """Read a whole export (or its first ``nrows`` good rows) into memory.

    Args:
        path: the file.
        nrows: stop after this many good rows (a preview).
        file_name: the name to report.
        sheet: the worksheet of a workbook (default: the one that looks like complaints).

    Returns:
        A :class:`RawTable`: raw strings per source column indexed by source
        row, the rows quarantined while reading, and the file info.
    """
    reader = open_table(path, file_name=file_name, chunk_size=nrows or 50_000, sheet=sheet)
    frames, quarantined = [], []
    try:
        for chunk in reader.chunks():
            frames.append(pd.DataFrame({h: chunk.column(h).to_pylist() for h in chunk.headers},
                                       index=pd.Index(chunk.rows, name="source_row"), columns=chunk.headers,
                                       dtype=object))
            quarantined.extend(chunk.quarantine)
            if nrows is not None and sum(len(f) for f in frames) >= nrows:
                break
    finally:
        reader.close()
    frame = pd.concat(frames) if frames else pd.DataFrame(columns=reader.info.headers, dtype=object)
    if nrows is not None:
        frame = frame.iloc[:nrows]
    quarantine = pd.DataFrame(
        [(q.row, q.reason, q.column, q.raw) for q in quarantined], columns=["row", "reason", "column", "raw"]
    )
    return RawTable(info=reader.info, frame=frame, quarantine=quarantine,
                    skipped_header_rows=reader.skipped_header_rows, skipped_blank_rows=reader.skipped_blank_rows)
