"""Excel workbooks (``.xlsx``) in: one sheet becomes a CSV with the same row numbers.

Police and city data often arrive as Excel workbooks. The sheet (``--sheet NAME``, the first
by default) is first scanned (:mod:`.xlsx_scan`: what it expands to, formulas, merged areas),
then streamed by openpyxl and written, cell by cell, to a temporary CSV in which line N is
sheet row N; every source then reads that CSV with its usual checks, and the problems it finds
are relabelled ``FILE.xlsx, sheet 'NAME'`` with the sheet's row numbers.

Cells become text as the sheet shows them: a date cell is ``YYYY-MM-DD`` (or ``YYYY-MM-DD
HH:MM:SS`` when it has a time) in the workbook's date system (1900 or 1904), a whole number has
no ``.0``, an empty cell is empty, a formula is its saved value (one saved without a value is
refused), and every cell of a merged area holds the area's top-left value (the ingest summary
says so). A date typed as a number (an Excel serial day) stays a number, which the date reader
understands, except in a column of date cells, where it is a date in the workbook's system; a
1904 workbook with such numbers outside a date column is refused (the date reader counts from
1900).
"""

from __future__ import annotations

import collections
import csv
import datetime as dt
import os
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import openpyxl
from openpyxl.utils.cell import get_column_letter
from openpyxl.utils.datetime import CALENDAR_MAC_1904, from_excel

from impactbook.choices import list_choices, unknown_choice
from impactbook.defaults import XLSX_MAX_TEXT_CHARS
from impactbook.errors import DataError, ImpactbookError, Problem
from impactbook.ingest.xlsx_scan import (
    CSV_HINT,
    MergedArea,
    SheetScan,
    check_archive,
    is_serial_day,
    scan_shared_strings,
    scan_sheet,
)

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
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0, 0):
            return value.strftime("%Y-%m-%d")
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.strftime("%Y-%m-%d")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__  # a MemoryError says nothing by itself


def _open_book(path: Path):
    """The workbook opened for streaming, after its parts and shared strings are bounded."""
    try:
        with zipfile.ZipFile(path) as archive:
            check_archive(path, archive)
            shared_lengths = scan_shared_strings(path, archive)
        book = openpyxl.load_workbook(path, read_only=True, data_only=True, keep_links=False)
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many types for a broken file
        raise DataError(Problem(str(path), "cannot read the Excel workbook: "
                                           f"{_reason(exc)}")) from None
    return book, shared_lengths


def _choose_sheet(book, path: Path, sheet: str | None) -> str:
    names = list(book.sheetnames)
    if not names:
        raise DataError(Problem(str(path), "the workbook has no sheets"))
    if sheet is None:
        return names[0]
    if sheet not in names:
        raise unknown_choice("sheet", sheet, names, what=f"a sheet of {path.name}")
    return sheet


def _scan(book, name: str, label: str, shared_lengths) -> SheetScan:
    sheet = book[name]
    # openpyxl keeps the sheet's part name privately; the scan streams the same part.
    with book._archive.open(sheet._worksheet_path) as source:  # noqa: SLF001
        return scan_sheet(label, source, shared_lengths, frozenset(book._date_formats))


def _header(book, name: str, scan: SheetScan) -> list[str]:
    first = next(book[name].iter_rows(min_row=1, max_row=1, max_col=scan.max_col,
                                      values_only=True), ())
    return [_cell_text(v) for v in first]


def _column_name(header: list[str], col: int) -> str:
    name = header[col - 1] if col <= len(header) else ""
    return name or f"column {get_column_letter(col)}"


def _refuse_uncached_formulas(label: str, scan: SheetScan, header: list[str]) -> None:
    """Formula cells saved without their value (as scripts write them) would read as blank."""
    if not scan.n_uncached:
        return
    problems = [Problem(label, f"cell {get_column_letter(col)}{row} holds the formula "
                        f"={formula} saved without its value, so its value is unknown here; "
                        "open the file in Excel or LibreOffice and save it, which stores the "
                        "values", row=row, column=_column_name(header, col))
                for row, col, formula in scan.uncached_formulas]
    if scan.n_uncached > len(problems):
        problems.append(Problem(label, f"{scan.n_uncached:,} formula cells in all have no "
                                       "saved value"))
    raise DataError(problems)


def _serial_date_columns(book, label: str, scan: SheetScan, header: list[str]) -> set[int]:
    """0-based columns whose plain serial-day numbers are dates in the workbook's system.

    A column with date cells is a date column: a plain number in it is a date whose cell lost
    its format, counted in the workbook's date system. Elsewhere the date reader takes such a
    number for a day since 1900, which is wrong in a 1904 workbook: there it is refused.
    """
    if book.epoch == CALENDAR_MAC_1904:
        unknown = sorted((row, col) for col, row in scan.first_serial_row.items()
                         if col not in scan.date_columns)
        if unknown:
            raise DataError([Problem(
                label, "the workbook counts dates from 1904 (the date system of older Excel "
                "for Mac) and this column holds plain numbers with no date format; read as "
                "dates they would be 4 years and a day early: format the column as dates in "
                "Excel or LibreOffice (as text if it is not a date) and save",
                row=row, column=_column_name(header, col)) for row, col in unknown])
    return {col - 1 for col in scan.first_serial_row if col in scan.date_columns}


def _as_date(value: object, epoch: dt.datetime) -> object:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and is_serial_day(value):
        return from_excel(value, epoch)
    return value


def _write_sheet(fh, book, name: str, label: str, scan: SheetScan,
                 date_columns: set[int]) -> int:
    """Write the sheet's rows to ``fh``; returns how many cells merged areas filled."""
    writer = csv.writer(fh, lineterminator="\n")
    starts = collections.deque(sorted(scan.merged, key=lambda a: (a.min_row, a.min_col)))
    active: list[tuple[MergedArea, str]] = []
    n_filled = total_chars = 0
    rows = book[name].iter_rows(min_row=1, max_row=scan.max_row, max_col=scan.max_col,
                                values_only=True)
    for number, values in enumerate(rows, start=1):
        cells = [_cell_text(_as_date(v, book.epoch) if i in date_columns else v)
                 for i, v in enumerate(values)]
        active = [(a, v) for a, v in active if a.max_row >= number]
        while starts and starts[0].min_row == number:
            area = starts.popleft()
            active.append((area, cells[area.min_col - 1]))
        # A merged area shows its top-left value in every cell: that is what the reader saw.
        for area, value in active:
            for i in range(area.min_col - 1, area.max_col):
                if cells[i] != value:
                    cells[i] = value
                    n_filled += 1
        total_chars += sum(map(len, cells))
        if total_chars > XLSX_MAX_TEXT_CHARS:
            raise DataError(Problem(label, (
                f"refused: the sheet's text passes {XLSX_MAX_TEXT_CHARS:,} characters by row "
                f"{number:,} (merged areas filled){CSV_HINT}"), row=number))
        # An empty sheet row stays an empty line: line numbers keep matching rows.
        writer.writerow(cells if any(cells) else [])
    return n_filled


@dataclass(frozen=True)
class SheetCsv:
    """A sheet as a temporary CSV (line N is sheet row N), the name its problems carry and
    what was done to it on the way (for the ingest summary)."""

    path: Path
    label: str
    notes: tuple[str, ...] = ()


@contextmanager
def sheet_as_csv(path: Path, sheet: str | None = None) -> Iterator[SheetCsv]:
    """Yield the sheet as a temporary CSV (removed afterwards). Problems raised inside are
    relabelled to the sheet."""
    path = Path(path)
    book, shared_lengths = _open_book(path)
    try:
        name = _choose_sheet(book, path, sheet)
        label = sheet_label(path, name)
        # Read by default from the first of several sheets: the data may be on another one.
        others = [n for n in book.sheetnames if n != name] if sheet is None else []
        hint = f" (the first sheet; the workbook also has {list_choices(others)}: " \
            "--sheet NAME)" if others else ""
        tmp = _sheet_to_csv(path, book, name, label, shared_lengths)
    finally:
        book.close()
    try:
        try:
            yield SheetCsv(tmp.path, label, tmp.notes)
        except DataError as exc:
            raise DataError([_relabel(p, tmp.path, label, hint) for p in exc.problems]) \
                from None
    finally:
        tmp.path.unlink(missing_ok=True)


def _sheet_to_csv(path: Path, book, name: str, label: str, shared_lengths) -> SheetCsv:
    try:
        scan = _scan(book, name, label, shared_lengths)
        if not scan.max_row:
            raise DataError(Problem(label, "the sheet is empty; expected a header row of "
                                           "column names in row 1"))
        header = _header(book, name, scan)
        _refuse_uncached_formulas(label, scan, header)
        date_columns = _serial_date_columns(book, label, scan, header)
        return _write_temporary(path, book, name, label, scan, date_columns)
    except (ImpactbookError, OSError):
        raise
    except Exception as exc:  # noqa: BLE001 - a broken part fails in the zip, XML or openpyxl
        raise DataError(Problem(label, f"cannot read the sheet: {_reason(exc)}")) from None


def _write_temporary(path: Path, book, name: str, label: str, scan: SheetScan,
                     date_columns: set[int]) -> SheetCsv:
    fd, tmp_name = tempfile.mkstemp(prefix="impactbook-sheet-", suffix=".csv")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            n_filled = _write_sheet(fh, book, name, label, scan, date_columns)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        # The temporary file is the one that did not fit: say where it was, and the way out.
        raise OSError(exc.errno, f"{exc.strerror or exc} (writing sheet {name!r} of "
                      f"{path.name} as a temporary CSV; set TMPDIR to a folder with room)",
                      str(tmp)) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    notes = []
    if scan.merged:
        shown = ", ".join(a.ref for a in scan.merged[:5])
        more = f" and {len(scan.merged) - 5:,} more" if len(scan.merged) > 5 else ""
        notes.append(f"{label}: {len(scan.merged):,} merged area(s) ({shown}{more}) read as "
                     f"the sheet shows them: their top-left value filled {n_filled:,} cells.")
    return SheetCsv(tmp, label, tuple(notes))


def _relabel(problem: Problem, tmp: Path, label: str, hint: str) -> Problem:
    if problem.file != str(tmp):
        return problem
    return Problem(label, problem.message.replace(str(tmp), label) + hint, problem.row,
                   problem.column)
