"""Excel workbooks (``.xlsx``) in: one sheet becomes a CSV with the same row numbers.

Police and city data often arrive as Excel workbooks. The sheet (``--sheet NAME``, the first
by default) is read by pandas with openpyxl and written, cell by cell, to a temporary CSV in
which line N is sheet row N; every source then reads that CSV with its usual checks, and the
problems it finds are relabelled ``FILE.xlsx, sheet 'NAME'`` with the sheet's row numbers.

Cells become text the way the CSV readers expect: a date cell is ``YYYY-MM-DD`` (or
``YYYY-MM-DD HH:MM:SS`` when it has a time), a whole number has no ``.0``, an empty cell is
empty. A date typed as a number (an Excel serial day) stays a number, which the date reader
understands.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from impactbook.choices import list_choices, unknown_choice
from impactbook.errors import DataError, Problem

EXCEL_SUFFIXES = (".xlsx", ".xlsm")


def is_excel(path: Path) -> bool:
    """An Excel 2007+ workbook: a zip archive holding ``xl/workbook.xml``."""
    path = Path(path)
    if not path.is_file() or not zipfile.is_zipfile(path):
        return False
    try:
        with zipfile.ZipFile(path) as archive:
            return "xl/workbook.xml" in archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return False


def sheet_label(path: Path, sheet: str) -> str:
    return f"{path}, sheet {sheet!r}"


def _cell_text(value: object) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if value is pd.NaT:
        return ""
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0, 0):
            return value.strftime("%Y-%m-%d")
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.strftime("%Y-%m-%d")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _read_sheet(path: Path, sheet: str | None) -> tuple[str, list[str], pd.DataFrame]:
    try:
        book = pd.ExcelFile(path, engine="openpyxl")
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many types for a broken file
        raise DataError(Problem(str(path), f"cannot read the Excel workbook: {exc}")) from None
    with book:
        names = list(book.sheet_names)
        if not names:
            raise DataError(Problem(str(path), "the workbook has no sheets"))
        if sheet is None:
            sheet = names[0]
        elif sheet not in names:
            raise unknown_choice("sheet", sheet, names, what=f"a sheet of {path.name}")
        frame = pd.read_excel(book, sheet_name=sheet, header=None, dtype=object)
    return sheet, names, frame


@contextmanager
def sheet_as_csv(path: Path, sheet: str | None = None) -> Iterator[tuple[Path, str]]:
    """Yield ``(csv_path, label)``: the sheet as a temporary CSV (removed afterwards) and the
    name its problems should carry. Problems raised inside are relabelled to the sheet."""
    path = Path(path)
    name, names, frame = _read_sheet(path, sheet)
    label = sheet_label(path, name)
    # Read by default from the first of several sheets: the data may be on another one.
    others = [n for n in names if n != name] if sheet is None else []
    hint = f" (the first sheet; the workbook also has {list_choices(others)}: --sheet NAME)" \
        if others else ""
    if frame.empty:
        raise DataError(Problem(label, "the sheet is empty; expected a header row of column "
                                       "names in row 1"))
    fd, tmp_name = tempfile.mkstemp(prefix="impactbook-sheet-", suffix=".csv")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            for row in frame.itertuples(index=False, name=None):
                cells = [_cell_text(v) for v in row]
                # An empty sheet row stays an empty line: line numbers keep matching rows.
                writer.writerow(cells if any(cells) else [])
        try:
            yield tmp, label
        except DataError as exc:
            raise DataError([_relabel(p, tmp, label, hint) for p in exc.problems]) from None
    finally:
        tmp.unlink(missing_ok=True)


def _relabel(problem: Problem, tmp: Path, label: str, hint: str) -> Problem:
    if problem.file != str(tmp):
        return problem
    return Problem(label, problem.message.replace(str(tmp), label) + hint, problem.row,
                   problem.column)
