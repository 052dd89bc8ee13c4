"""The CSV files of grading: reading the small files teachers write (any spreadsheet's export,
errors naming their line) and writing reports every spreadsheet opens.

Written: UTF-8 with a byte-order mark and CRLF line ends. Excel only detects UTF-8 in a CSV by
its BOM (without it, names like "Müller" come out garbled), and LibreOffice, Google Sheets and
Python's csv module ("utf-8-sig") all accept it. Comma-separated, first row the header.

Formula injection: a text cell starting with = + - @ or a tab or carriage return would be run
as a formula by a spreadsheet, so it is written with a leading apostrophe (OWASP's advice).
Numbers are written as numbers and never neutralised: a negative discrimination index is data,
not a formula. Answers are digit strings (boxes cannot hold signs), so they never start with
one of those characters.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from scangrade.atomic import replacing
from worker.grading.errors import GradingInputError

ENCODING = "utf-8-sig"
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# Spreadsheets export CSV with a BOM (Excel "CSV UTF-8"), without one, or in the Windows code
# page (Excel's plain "CSV"); UTF-8 is tried first because cp1252 would accept almost anything.
_ENCODINGS = ("utf-8-sig", "cp1252")
# Excel's "Unicode Text" is UTF-16 with a byte-order mark (tab-separated); UTF-16 without
# one is told by its NUL bytes, looked for in the first _SNIFF_BYTES bytes.
_SNIFF_BYTES = 4096
_NOT_TEXT = ("not a text file a spreadsheet saved (it holds binary data); save it as"
             " \"CSV UTF-8\" and upload that")
# Excel in locales with a decimal comma separates with ";".
_DELIMITERS = (",", ";", "\t")


@dataclass(frozen=True)
class CsvRow:
    line: int  # 1-based line in the file, for error messages
    values: dict[str, str]  # lower-cased header name -> stripped cell ("" when missing)
    extra: dict[str, str]  # columns beyond the known ones, header name as written -> cell


@dataclass(frozen=True)
class CsvTable:
    source: str
    header: list[str]  # as written
    rows: list[CsvRow]


def decode_csv(data: bytes, source: str, error: type[GradingInputError]) -> str:
    """The text of a CSV file in whichever encoding a spreadsheet saved it (see above)."""
    if data.startswith(codecs.BOM_UTF32_LE) or data.startswith(codecs.BOM_UTF32_BE):
        return _decoded(data, "utf-32", source, error)
    if data.startswith(codecs.BOM_UTF16_LE) or data.startswith(codecs.BOM_UTF16_BE):
        return _decoded(data, "utf-16", source, error)  # Excel's "Unicode Text"
    head = data[:_SNIFF_BYTES]
    if head and head.count(0) * 3 >= len(head):  # UTF-16 without its byte-order mark
        even_nuls = head[0::2].count(0)
        return _decoded(data, "utf-16-be" if even_nuls > head[1::2].count(0) else "utf-16-le",
                        source, error)
    if b"\0" in data:
        raise error(source, _NOT_TEXT)
    for encoding in _ENCODINGS:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise error(source, _NOT_TEXT)


def _decoded(data: bytes, encoding: str, source: str, error: type[GradingInputError]) -> str:
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError:
        raise error(source, _NOT_TEXT) from None
    if "\0" in text:
        raise error(source, _NOT_TEXT)
    return text.removeprefix("\ufeff")


def _delimiter(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in _DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


def parse_csv(
    text: str,
    source: str,
    required: tuple[str, ...],
    optional: tuple[str, ...],
    error: type[GradingInputError],
) -> CsvTable:
    """Rows keyed by the header's column names; blank lines and lines starting with # skipped."""
    lines = text.splitlines()
    first = next((ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#")), None)
    if first is None:
        raise error(source, f"empty file: expected a header line {','.join(required)}")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(first))
    header: list[str] | None = None
    rows: list[CsvRow] = []
    for cells in reader:
        stripped = [c.strip() for c in cells]
        if not any(stripped) or stripped[0].startswith("#"):
            continue
        if header is None:
            header = stripped
            names = [h.lower() for h in header]
            missing = [c for c in required if c not in names]
            if missing:
                raise error(
                    source,
                    f"header must name the columns {', '.join(required)}"
                    f" (found: {', '.join(header) or 'nothing'}); missing {', '.join(missing)}",
                    reader.line_num,
                )
            duplicated = sorted({n for n in names if n and names.count(n) > 1})
            if duplicated:
                raise error(source, f"column {duplicated[0]!r} appears twice in the header", 1)
            continue
        if len(stripped) > len(header) and any(stripped[len(header) :]):
            raise error(
                source,
                f"{len(stripped)} cells but the header has {len(header)} columns"
                " (a value with a comma must be quoted)",
                reader.line_num,
            )
        known = set(required) | set(optional)
        values: dict[str, str] = {}
        extra: dict[str, str] = {}
        for i, name in enumerate(header):
            cell = stripped[i] if i < len(stripped) else ""
            if name.lower() in known:
                values[name.lower()] = cell
            elif name:
                extra[name] = cell
        for name in (*required, *optional):
            values.setdefault(name, "")
        rows.append(CsvRow(reader.line_num, values, extra))
    assert header is not None
    return CsvTable(source, header, rows)


def cell(value: object) -> str:
    """One CSV cell: numbers as numbers, text neutralised against formula injection."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:.3f}".rstrip("0")
    text = str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """Writes the file whole (scangrade.atomic): a reader never sees half a report."""
    with replacing(path, "w", encoding=ENCODING, newline="") as f:
        writer = csv.writer(f, lineterminator="\r\n")
        writer.writerow([cell(h) for h in header])
        for row in rows:
            writer.writerow([cell(v) for v in row])
