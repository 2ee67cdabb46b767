"""First look at an input file before parsing it: is it really a CSV, and has it the columns?

Raw downloads go wrong in recognisable ways: a web page saved as ``.csv``, a Git LFS pointer
committed instead of the data, a zip archive (whole or cut short), a password-protected or old
``.xls`` workbook, UTF-16 text, an empty file, a pipe that can be read only once. Each is
reported as a :class:`~impactbook.errors.DataError` that says what the file actually is, before
any parser produces a confusing message about column counts.
"""

from __future__ import annotations

import csv
import gzip
import io
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path

from impactbook.choices import did_you_mean, list_choices
from impactbook.errors import DataError, Problem
from impactbook.fsutil import regular_file_problem
from impactbook.workbook.csvread import container_problem, not_utf8_problem

_GZIP_MAGIC = b"\x1f\x8b"
_ZIP_MAGIC = b"PK\x03\x04"
_LFS_PREFIX = b"version https://git-lfs.github.com/spec/"
_HEAD_BYTES = 64 * 1024


def is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == _GZIP_MAGIC


def open_text(path: Path) -> io.TextIOBase:
    """Open a plain or gzip-compressed CSV as UTF-8 text (BOM removed), newlines untranslated."""
    if is_gzip(path):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")  # noqa: SIM115 - caller closes


def _read_head(path: Path) -> bytes:
    try:
        if is_gzip(path):
            with gzip.open(path, "rb") as fh:
                return fh.read(_HEAD_BYTES)
        with open(path, "rb") as fh:
            return fh.read(_HEAD_BYTES)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(Problem(str(path), f"cannot read the file: {exc}")) from None


def check_csv_file(path: Path) -> list[str]:
    """Return the header of a CSV file, or raise a DataError saying what the file really is."""
    path = Path(path)
    where = str(path)
    if not path.exists():
        raise DataError(Problem(where, "file not found"))
    if path.is_dir():
        raise DataError(Problem(where, "is a folder, expected a CSV file (.csv or .csv.gz)"))
    # Before opening: a FIFO blocks until a writer comes, and a pipe (``<(cat file.csv)``)
    # loses what a first look reads, while a file is read more than once.
    not_regular = regular_file_problem(path)
    if not_regular:
        is_special = path.exists() and not path.is_file()  # a FIFO, socket or device
        hint = "; save it to a file first and ingest that (a pipe can be read only once)" \
            if is_special else ""
        raise DataError(Problem(where, f"{not_regular}{hint}"))
    if not is_gzip(path):
        with open(path, "rb") as fh:
            container = container_problem(path, fh.read(_HEAD_BYTES))
        if container:
            raise DataError(Problem(where, container))
    head = _read_head(path)
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    lowered = stripped[:2048].lower()
    if not stripped:
        raise DataError(Problem(where, "file is empty; expected a CSV file with a header row"))
    if stripped.startswith(_LFS_PREFIX):
        raise DataError(Problem(
            where, "is a Git LFS pointer, not the data; fetch the real file (git lfs pull) "
                   "and ingest that"))
    if lowered.startswith((b"<!doctype html", b"<html", b"<?xml", b"<head", b"<body")) or (
            lowered.startswith(b"<") and b"<html" in lowered):
        raise DataError(Problem(
            where, "is an HTML web page saved as a CSV file, not data; download the raw CSV "
                   "(for GitHub use the 'Raw' link) and ingest that"))
    if stripped.startswith(_ZIP_MAGIC):
        raise DataError(Problem(where, "is a zip archive; unzip it and ingest the CSV inside"))
    if b"\x00" in head:
        raise DataError(Problem(where, "is a binary file, not a UTF-8 CSV text file"))
    try:
        text = head.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the sample is fine; anything earlier is not.
        if exc.start < len(head) - 4:
            raise DataError(Problem(
                where, f"is not UTF-8 text (byte {exc.start}); re-save it as UTF-8")) from None
        text = head[:exc.start].decode("utf-8-sig")
    first_line = text.splitlines()[0] if text.splitlines() else ""
    header = next(csv.reader([first_line]), [])
    header = [name.strip() for name in header]
    if len(header) < 2:
        raise DataError(Problem(
            where, f"first line {first_line[:80]!r} is not a comma-separated header row", row=1))
    return header


def require_columns(path: Path, header: Sequence[str], required: Sequence[str],
                    *, source: str) -> None:
    """Raise one Problem per missing column, naming every column the source expects."""
    present = set(header)
    missing = [col for col in required if col not in present]
    if not missing:
        return
    by_lower = {name.lower(): name for name in header}
    needs = "the settings name columns" if source == "generic" else \
        f"a {source} file needs columns"
    problems = []
    for col in missing:
        if col.lower() in by_lower:
            hint = f" (found {by_lower[col.lower()]!r}: column names are case-sensitive)"
        else:
            close = did_you_mean(col, header)
            hint = f"; {close}" if close else ""
        problems.append(Problem(
            str(path),
            f"missing column {col!r}{hint}; {needs} {', '.join(required)}; the file has "
            f"{list_choices(header, limit=30)}",
            row=1, column=col))
    raise DataError(problems)


def iter_rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield ``(line_number, row)`` with the 1-based physical line an editor shows."""
    with open_text(path) as fh:
        reader = csv.DictReader(fh)
        for row in reader:
            yield reader.line_num, row


def locate_values(path: Path, column: str, bad_values: set[str],
                  limit: int = 5) -> list[tuple[int, str]]:
    """Lines (1-based) where ``column`` holds one of ``bad_values``; used only on error paths."""
    found: list[tuple[int, str]] = []
    for line, row in iter_rows(path):
        value = (row.get(column) or "").strip()
        if value in bad_values:
            found.append((line, value))
            if len(found) >= limit:
                break
    return found


def find_malformed_row(path: Path, limit: int = 3) -> list[Problem]:
    """Rows whose field count differs from the header's (error path only, after a parser
    failure), so the message can name the line instead of a parser's internal state."""
    problems: list[Problem] = []
    try:
        with open_text(path) as fh:
            reader = csv.reader(fh, strict=True)
            header = next(reader, [])
            for fields in reader:
                if len(fields) != len(header) and any(f.strip() for f in fields):
                    problems.append(Problem(
                        str(path), f"has {len(fields)} fields, the header has {len(header)}",
                        row=reader.line_num))
                    if len(problems) >= limit:
                        break
    except csv.Error as exc:
        problems.append(Problem(str(path), f"malformed CSV: {exc}", row=reader.line_num))
    except UnicodeDecodeError:
        problems.append(not_utf8_problem(path, str(path)))
    except (OSError, EOFError, zlib.error) as exc:
        problems.append(Problem(str(path), f"cannot read the file: {exc}"))
    return problems
