"""Read a workbook CSV as text, recognising the ways such files go wrong.

Every cell comes back as a string so that validation, not pandas' guessing,
decides what a value means (``"017"`` stays a string, ``"NA"`` is not NaN).

Rows are read with the standard :mod:`csv` module rather than ``pandas.read_csv``
because only it tells the physical line where each record starts: a quoted
value may span lines and blank lines may sit between rows, and an error must
name the line a person sees in an editor. Files are streamed in chunks, so a
200 MB table is validated in bounded memory.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import zipfile
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TextIO

import pandas as pd

from impactbook.errors import DataError, Problem
from impactbook.fsutil import regular_file_problem

_SNIFF_BYTES = 4096
CHUNK_ROWS = 100_000
# Workbook values are names, numbers, dates and short texts: a longer one is refused, and one
# that also spans lines is most likely an unclosed quote swallowing the rows after it.
MAX_FIELD_CHARS = 1_000_000
# Past this the csv module stops reading (memory stays bounded whatever the file holds).
_READ_FIELD_CHARS = 16 * MAX_FIELD_CHARS
csv.field_size_limit(_READ_FIELD_CHARS)
MAX_RAGGED_LISTED = 20
# No workbook table has more than a few dozen columns; a header far wider is not a table.
MAX_COLUMNS = 1_000
_COLUMNS_SHOWN = 12


_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # Office 97 compound files (.xls, .doc, ...)
_ZIP_MAGIC = b"PK\x03\x04"
# The stream an encrypted Office 2007+ file keeps its (encrypted) workbook in, as a compound
# file's directory entry names it: UTF-16LE, and 34 bytes long with its terminating NUL.
_ENCRYPTED_STREAM = "EncryptedPackage".encode("utf-16-le")
_DIRECTORY_ENTRY_BYTES = 128
_SCAN_CHUNK_BYTES = 2**20


def container_problem(path: Path, head: bytes) -> str | None:
    """What a file is when its first bytes show a container or an encoding that is not a
    UTF-8 table, phrased to follow the file's name (``"is ..."``), or ``None``.

    The one judgement of such files: the workbook reader and ingest both use it. ``head`` is
    the file's first bytes as stored (not decompressed).
    """
    if head.startswith(_OLE_MAGIC):
        if _is_encrypted_office_file(path):
            return ("is a password-protected (encrypted) Excel workbook; open it in Excel, "
                    "remove the password (File > Info > Protect Workbook) and save it, then "
                    "use that file")
        return ("is an old Excel .xls workbook (an Office 97 file); open it and save it as "
                ".xlsx or CSV UTF-8, then use that file")
    if head.startswith(_ZIP_MAGIC) and not zipfile.is_zipfile(path):
        return ("is a zip archive cut short or damaged (an .xlsx workbook is one: was the "
                "download or copy interrupted?); download or save it again")
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or _looks_utf16(head):
        return ("is UTF-16 text (Excel's 'Unicode text'), not UTF-8; save the file as "
                "CSV UTF-8")
    return None


def _looks_utf16(head: bytes) -> bool:
    """UTF-16 without a byte-order mark: Latin text has a NUL as every other byte."""
    sample = head[:1024]
    if len(sample) < 8:
        return False
    even_nul = sample[0::2].count(0) / len(sample[0::2])
    odd_nul = sample[1::2].count(0) / len(sample[1::2])
    return (odd_nul > 0.9 and even_nul < 0.1) or (even_nul > 0.9 and odd_nul < 0.1)


def _is_encrypted_office_file(path: Path) -> bool:
    """A compound file with an ``EncryptedPackage`` directory entry (a password-protected
    .xlsx). Directory entries are 128-byte aligned, with the name's byte length at 0x40."""
    overlap = _DIRECTORY_ENTRY_BYTES
    offset, tail = 0, b""
    with open(path, "rb") as fh:
        while chunk := fh.read(_SCAN_CHUNK_BYTES):
            data, base = tail + chunk, offset - len(tail)
            at = data.find(_ENCRYPTED_STREAM)
            while at != -1:
                entry = data[at:at + _DIRECTORY_ENTRY_BYTES]
                if (base + at) % _DIRECTORY_ENTRY_BYTES == 0 and len(entry) > 0x41 and \
                        int.from_bytes(entry[0x40:0x42], "little") == len(_ENCRYPTED_STREAM) + 2:
                    return True
                at = data.find(_ENCRYPTED_STREAM, at + 1)
            offset += len(chunk)
            tail = data[-overlap:]
    return False


def sniff_problem(path: Path, head: bytes) -> str | None:
    """Why these first bytes cannot be a CSV table, or ``None`` when they might be."""
    container = container_problem(path, head)
    if container:
        return f"this {container}"
    text = head.lstrip(b"\xef\xbb\xbf").lstrip().lower()
    if not text:
        return "the file is empty; expected a header line of column names"
    if text.startswith(b"version https://git-lfs"):
        return "this is a Git LFS pointer, not the data; run 'git lfs pull' to fetch the file"
    # No workbook header starts with '<': this is a web page or XML saved as .csv.
    if text.startswith(b"<"):
        return "this is an HTML/XML page saved with a .csv name, not a CSV table"
    if text.startswith(b"{"):
        return "this is JSON saved with a .csv name, not a CSV table"
    if head.startswith(_ZIP_MAGIC):
        return "this is a ZIP file (an Excel .xlsx workbook?); save the sheet as CSV UTF-8"
    if head.startswith(b"\x1f\x8b") and not path.name.endswith(".gz"):
        return "this is gzip-compressed data without a .gz name"
    if b"\x00" in head:
        return "this is a binary file (NUL bytes), not a UTF-8 CSV table"
    return None


def not_utf8_problem(path: Path, label: str) -> Problem:
    """The first byte of ``path`` that is not UTF-8, located by line and column (the file is
    read again from the start: error paths only)."""
    line, where, column = _bad_utf8_at(path)
    return Problem(label, f"not UTF-8 text ({where}; Latin-1 or Windows-1252?); save the file "
                   "as CSV UTF-8", row=line or None, column=column)


def _bad_utf8_at(path: Path) -> tuple[int, str, str | None]:
    """Line, byte and (when the line parses) column of the first byte that is not UTF-8.

    Lines are split as the CSV reader splits them (``\n``, ``\r\n`` or a lone ``\r``), so the
    line number is the one the other problems use.
    """
    header: list[str] = []
    raw = gzip.open(path, "rb") if _is_gzip(path) else open(path, "rb")  # noqa: SIM115
    with io.TextIOWrapper(raw, encoding="utf-8-sig", errors="surrogateescape",
                          newline="") as fh:
        for number, line in enumerate(fh, start=1):
            if number == 1:
                header = _cells(line)
            bad = next((i for i, ch in enumerate(line) if "\udc80" <= ch <= "\udcff"), None)
            if bad is None:
                continue
            where = f"byte 0x{ord(line[bad]) - 0xdc00:02x} at position {bad + 1}"
            cells = _cells(line)
            column = next((header[i] if i < len(header) else f"field {i + 1}"
                           for i, cell in enumerate(cells)
                           if any("\udc80" <= ch <= "\udcff" for ch in cell)), None)
            return number, where, column
    return 0, "unknown position", None


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def _cells(line: str) -> list[str]:
    try:
        return next(csv.reader([line.rstrip("\r\n")]), [])
    except csv.Error:
        return []


def _check_head(path: Path, label: str) -> None:
    if not path.exists() and not path.is_symlink():
        raise DataError(Problem(label, "file not found"))
    # Before opening: a FIFO would block until a writer appears, a folder is not a table.
    problem = regular_file_problem(path)
    if problem:
        raise DataError(Problem(label, problem))
    with open(path, "rb") as fh:
        head = fh.read(_SNIFF_BYTES)
    reason = sniff_problem(path, head)
    if reason:
        raise DataError(Problem(label, reason, row=1))


def _shown(items: list, limit: int = _COLUMNS_SHOWN) -> str:
    """The first few of ``items`` for a one-line message, and how many more there are."""
    text = ", ".join(map(repr, items[:limit]))
    return text + (f" and {len(items) - limit:,} more" if len(items) > limit else "")


def _check_columns(columns: list[str], required: tuple[str, ...], label: str) -> None:
    if len(columns) > MAX_COLUMNS:
        raise DataError(Problem(
            label, f"the header has {len(columns):,} columns, more than the {MAX_COLUMNS:,} "
            "a workbook table may have; is this the right file?", row=1))
    unnamed = [i + 1 for i, c in enumerate(columns) if c == ""]
    if unnamed:
        numbers = ", ".join(map(str, unnamed[:_COLUMNS_SHOWN])) + (
            f" and {len(unnamed) - _COLUMNS_SHOWN:,} more" if len(unnamed) > _COLUMNS_SHOWN
            else "")
        raise DataError(Problem(
            label, f"column(s) {numbers} of the header have no name "
            "(a trailing comma?); every column needs a name", row=1))
    missing = [c for c in required if c not in columns]
    if missing:
        hint = ""
        if len(columns) == 1 and any(sep in columns[0] for sep in ";\t|"):
            hint = " (the header has one column: is the file separated by ';' or tabs " \
                   "instead of commas?)"
        elif any(c.lower() in required for c in columns if c not in required):
            hint = " (column names are lower case)"
        raise DataError(Problem(
            label,
            f"missing required column(s) {', '.join(map(repr, missing))}; "
            f"found {_shown(columns)}; expected {', '.join(required)}{hint}",
            row=1))
    counts = Counter(columns)  # one pass: a wide header must not cost its width squared
    duplicated = sorted(c for c, n in counts.items() if n > 1)
    if duplicated:
        raise DataError(Problem(label, f"duplicated column name(s) {_shown(duplicated)}",
                                row=1))


def _long_field_problem(record: list[str], label: str, line: int) -> Problem | None:
    # Runs once a row: the common case is one C-level pass over the lengths.
    if not record or max(map(len, record)) <= MAX_FIELD_CHARS:
        return None
    longest = max(record, key=len)
    if "\n" in longest or "\r" in longest:
        return Problem(label, f"a value of {len(longest):,} characters spanning "
                       f"{longest.count(chr(10)) + 1:,} lines starts on this row: a quote "
                       "opened here is probably never closed; check the quotes", row=line)
    return Problem(label, f"a value is {len(longest):,} characters long, more than the "
                   f"{MAX_FIELD_CHARS:,} a workbook value may have", row=line)


def _is_blank(record: list[str]) -> bool:
    return all(not cell.strip() for cell in record)


def iter_records(text: TextIO, required: tuple[str, ...], label: str, *,
                 chunksize: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """Chunks of all-string frames from CSV text; column ``line`` is where each row starts.

    Blank rows (nothing but separators and spaces, as spreadsheets leave at the
    end) are skipped. A row with more or fewer fields than the header is a
    problem: its values would land in the wrong columns.
    """
    reader = csv.reader(text, strict=True)
    start_line = 1
    try:
        header = next(reader, None)
        if header is None:
            raise DataError(Problem(label, "the file is empty; expected a header line", row=1))
        columns = [c.strip() for c in header]
        _check_columns(columns, required, label)
        width = len(columns)
        rows: list[list[str]] = []
        lines: list[int] = []
        ragged: list[Problem] = []
        ragged_count = 0
        start_line = reader.line_num + 1
        for record in reader:
            long_field = _long_field_problem(record, label, start_line)
            if long_field:
                raise DataError(long_field)
            if len(record) != width:
                if record and not _is_blank(record):
                    ragged_count += 1
                if not _is_blank(record) and len(ragged) < MAX_RAGGED_LISTED:
                    ragged.append(Problem(
                        label, f"row has {len(record)} fields but the header has {width} "
                        f"(an unquoted comma, or a missing one?); quote values that contain "
                        "commas", row=start_line))
            elif record[0].strip() or not _is_blank(record):
                rows.append(record)
                lines.append(start_line)
            start_line = reader.line_num + 1
            if len(rows) >= chunksize:
                yield _frame(rows, lines, columns)
                rows, lines = [], []
        if ragged:
            if ragged_count > len(ragged):
                ragged.append(Problem(label, f"... and {ragged_count - len(ragged)} more row(s) "
                                      "with the wrong number of fields"))
            raise DataError(ragged)
        if rows:
            yield _frame(rows, lines, columns)
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):
            raise DataError(Problem(
                label, f"a value starting on this row is over {_READ_FIELD_CHARS:,} "
                "characters: an unclosed quote, or a value far too long for a workbook table",
                row=start_line)) from None
        raise DataError(Problem(
            label, f"not a well-formed CSV table ({exc}); check the quotes on this row",
            row=start_line)) from None


def _frame(rows: list[list[str]], lines: list[int], columns: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=columns, dtype=object)
    frame.insert(0, "line", lines)
    return frame


def iter_csv_text(path: Path, required: tuple[str, ...], *, label: str | None = None,
                  chunksize: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """Yield chunks of ``path`` as all-string frames whose ``line`` column is the file line.

    Raises :class:`DataError` for a file that is not a CSV table at all, lacks
    a required column, has ragged rows, or is not UTF-8 (naming the first bad line).
    A UTF-8 byte-order mark, CRLF line ends and a missing final newline are fine.
    """
    path = Path(path)
    label = label or path.name
    _check_head(path, label)
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            yield from iter_records(fh, required, label, chunksize=chunksize)
    except UnicodeDecodeError:
        raise DataError(not_utf8_problem(path, label)) from None


def _concat(chunks: Iterable[pd.DataFrame], required: tuple[str, ...]) -> pd.DataFrame:
    chunks = list(chunks)
    if not chunks:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in ["line", *required]})
    return pd.concat(chunks, ignore_index=True) if len(chunks) > 1 else chunks[0]


def read_header(path: Path) -> list[str]:
    """The column names of a CSV file that was read before (stripped, in file order)."""
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return [c.strip() for c in next(csv.reader(fh), [])]


def read_csv_text(path: Path, required: tuple[str, ...], *, label: str | None = None,
                  ) -> pd.DataFrame:
    """The whole of :func:`iter_csv_text` as one frame (for the small workbook tables)."""
    return _concat(iter_csv_text(path, required, label=label), required)
