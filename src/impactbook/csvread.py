"""Read a workbook CSV as text, recognising the ways such files go wrong.

Every cell comes back as a string so that validation, not pandas' guessing,
decides what a value means (``"017"`` stays a string, ``"NA"`` is not NaN).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from .errors import DataError, Problem

_SNIFF_BYTES = 4096
CHUNK_ROWS = 200_000


def sniff_problem(path: Path, head: bytes) -> str | None:
    """Why these first bytes cannot be a CSV table, or ``None`` when they might be."""
    text = head.lstrip(b"\xef\xbb\xbf").lstrip().lower()
    if not text:
        return "the file is empty; expected a header line of column names"
    if text.startswith(b"version https://git-lfs"):
        return "this is a Git LFS pointer, not the data; run 'git lfs pull' to fetch the file"
    if text.startswith((b"<!doctype html", b"<html", b"<?xml", b"<head", b"<body")):
        return "this is an HTML/XML page saved with a .csv name, not a CSV table"
    if head.startswith(b"\x1f\x8b") and not path.name.endswith(".gz"):
        return "this is gzip-compressed data without a .gz name"
    if b"\x00" in head:
        return "this is a binary file (NUL bytes), not a UTF-8 CSV table"
    return None


def _first_bad_utf8_line(path: Path) -> tuple[int, str]:
    with open(path, "rb") as fh:
        for number, line in enumerate(fh, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as exc:
                return number, f"byte 0x{line[exc.start]:02x} at position {exc.start + 1}"
    return 0, "unknown position"


def _check_head(path: Path, label: str) -> None:
    if not path.exists():
        raise DataError(Problem(label, "file not found"))
    if path.is_dir():
        raise DataError(Problem(label, "is a folder, expected a CSV file"))
    with open(path, "rb") as fh:
        head = fh.read(_SNIFF_BYTES)
    reason = sniff_problem(path, head)
    if reason:
        raise DataError(Problem(label, reason, row=1 if head.strip() else None))


def _check_columns(columns: list[str], required: tuple[str, ...], label: str) -> None:
    missing = [c for c in required if c not in columns]
    if missing:
        raise DataError(Problem(
            label,
            f"missing required column(s) {', '.join(map(repr, missing))}; "
            f"found {', '.join(map(repr, columns))}; expected {', '.join(required)}",
            row=1))
    duplicated = sorted({c for c in columns if columns.count(c) > 1})
    if duplicated:
        raise DataError(Problem(label, f"duplicated column name(s) {duplicated}", row=1))


def _reader(path: Path, chunksize: int | None):
    return pd.read_csv(
        path, dtype=str, keep_default_na=False, na_filter=False, encoding="utf-8-sig",
        skipinitialspace=False, chunksize=chunksize, engine="c",
    )


def iter_csv_text(path: Path, required: tuple[str, ...], *, label: str | None = None,
                  chunksize: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """Yield chunks of ``path`` as all-string frames whose ``line`` column is the file line.

    Raises :class:`DataError` for a file that is not a CSV table at all, lacks
    a required column, or is not UTF-8 (naming the first bad line).
    """
    path = Path(path)
    label = label or path.name
    _check_head(path, label)
    # Column names never carry surrounding spaces in a hand-made table on purpose.
    first_line = 2
    try:
        for chunk in _reader(path, chunksize):
            chunk.columns = [str(c).strip() for c in chunk.columns]
            if first_line == 2:
                _check_columns(list(chunk.columns), required, label)
            chunk.insert(0, "line", range(first_line, first_line + len(chunk)))
            first_line += len(chunk)
            yield chunk
    except UnicodeDecodeError:
        line, where = _first_bad_utf8_line(path)
        raise DataError(Problem(
            label, f"not UTF-8 text ({where}); save the file as UTF-8", row=line)) from None
    except pd.errors.EmptyDataError:
        raise DataError(Problem(label, "the file is empty; expected a header line")) from None
    except pd.errors.ParserError as exc:
        raise DataError(Problem(label, f"not a well-formed CSV table: {exc}")) from None


def read_csv_text(path: Path, required: tuple[str, ...], *, label: str | None = None,
                  ) -> pd.DataFrame:
    """The whole of :func:`iter_csv_text` as one frame (for the small workbook tables)."""
    chunks = list(iter_csv_text(path, required, label=label))
    if not chunks:
        return pd.DataFrame(columns=["line", *required])
    frame = pd.concat(chunks, ignore_index=True) if len(chunks) > 1 else chunks[0]
    return frame


def read_csv_text_from_string(text: str, required: tuple[str, ...], label: str) -> pd.DataFrame:
    """Parse CSV text held in memory (imports, tests) with the same rules."""
    frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_filter=False)
    frame.columns = [str(c).strip() for c in frame.columns]
    _check_columns(list(frame.columns), required, label)
    frame.insert(0, "line", range(2, 2 + len(frame)))
    return frame
