"""A tiny .xlsx writer for tests: the exact XML we want (far cells, merged cells, several sheets).

openpyxl would normalise what a hostile file does on purpose (a declared dimension that lies,
a cell at XFD1048576 in a 1.6 KB file), so the parts are written by hand with zipfile.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape

_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '{sheets}'
    '<Override PartName="/xl/sharedStrings.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
    '</Types>'
)
_ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
    'Target="xl/workbook.xml"/></Relationships>'
)
_NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
_R_NS = 'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'


def column_letters(index: int) -> str:
    """0 → A, 25 → Z, 26 → AA, 16383 → XFD."""
    out = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        out = chr(65 + rem) + out
    return out


def _split(ref: str) -> tuple[int, int]:
    letters, digits = re.fullmatch(r"([A-Z]+)(\d+)", ref).groups()
    col = 0
    for ch in letters:
        col = col * 26 + ord(ch) - 64
    return int(digits), col - 1


def write_xlsx(path: str | Path, sheets: dict[str, list[list] | dict[str, object]], *,
               merges: dict[str, list[str]] | None = None, dimension: dict[str, str] | None = None) -> Path:
    """Write a workbook.

    Args:
        path: the file to write.
        sheets: sheet name → rows (lists of values from A1 on; ``None`` is an empty cell) or a
            sparse ``{"A1": value, "XFD1048576": value}`` dict. Strings go to the shared-string
            table, numbers are number cells.
        merges: sheet name → merged ranges such as ``"A1:B1"``.
        dimension: sheet name → the ``<dimension ref>`` to declare (default: none).

    Returns:
        ``path``.
    """
    path = Path(path)
    strings: list[str] = []
    index: dict[str, int] = {}
    parts: dict[str, str] = {}
    for n, (name, content) in enumerate(sheets.items(), start=1):
        if isinstance(content, dict):
            cells = {_split(ref): value for ref, value in content.items()}
        else:
            cells = {(r + 1, c): v for r, row in enumerate(content) for c, v in enumerate(row) if v is not None}
        rows: dict[int, list[str]] = {}
        for (row, col), value in sorted(cells.items()):
            ref = f"{column_letters(col)}{row}"
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                xml = f'<c r="{ref}"><v>{value}</v></c>'
            else:
                text = str(value)
                if text not in index:
                    index[text] = len(strings)
                    strings.append(text)
                xml = f'<c r="{ref}" t="s"><v>{index[text]}</v></c>'
            rows.setdefault(row, []).append(xml)
        body = "".join(f'<row r="{r}">{"".join(c)}</row>' for r, c in sorted(rows.items()))
        dim = f'<dimension ref="{dimension[name]}"/>' if dimension and name in dimension else ""
        merged = (merges or {}).get(name, [])
        merge_xml = (f'<mergeCells count="{len(merged)}">' + "".join(f'<mergeCell ref="{m}"/>' for m in merged)
                     + "</mergeCells>") if merged else ""
        parts[f"xl/worksheets/sheet{n}.xml"] = (
            f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><worksheet {_NS}>{dim}'
            f"<sheetData>{body}</sheetData>{merge_xml}</worksheet>")
    names = list(sheets)
    workbook = (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><workbook {_NS} {_R_NS}><sheets>'
                + "".join(f'<sheet name="{escape(name, {chr(34): "&quot;"})}" sheetId="{i}" r:id="rId{i}"/>'
                          for i, name in enumerate(names, start=1))
                + "</sheets></workbook>")
    rels = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            + "".join(f'<Relationship Id="rId{i}" '
                      'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
                      f'Target="worksheets/sheet{i}.xml"/>' for i in range(1, len(names) + 1))
            + f'<Relationship Id="rId{len(names) + 1}" '
              'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" '
              'Target="sharedStrings.xml"/></Relationships>')
    shared = (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><sst {_NS} count="{len(strings)}" '
              f'uniqueCount="{len(strings)}">' + "".join(f"<si><t>{escape(s)}</t></si>" for s in strings) + "</sst>")
    overrides = "".join(
        f'<Override PartName="/xl/worksheets/sheet{i}.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        for i in range(1, len(names) + 1))
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", _CONTENT_TYPES.format(sheets=overrides))
        zf.writestr("_rels/.rels", _ROOT_RELS)
        zf.writestr("xl/workbook.xml", workbook)
        zf.writestr("xl/_rels/workbook.xml.rels", rels)
        zf.writestr("xl/sharedStrings.xml", shared)
        for name, xml in parts.items():
            zf.writestr(name, xml)
    return path
