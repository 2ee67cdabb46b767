"""A first pass over an ``.xlsx`` before its sheet is read: what it expands to, what it holds.

An ``.xlsx`` is a zip archive of XML parts. A few megabytes of it can hold gigabytes of text,
so nothing is decompressed in full before these checks: the parts' sizes as the archive
declares them (the zip reader never yields more than a part declares), then the shared
strings and the sheet, streamed with only counts kept. Each limit is a ``defaults.XLSX_*``
constant. The sheet pass also finds what the values alone do not show: formula cells saved
without a value, merged areas, and (for a workbook on the 1904 date system) the columns whose
plain numbers would be taken for dates.
"""

from __future__ import annotations

import zipfile
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from openpyxl.utils.cell import coordinate_to_tuple, range_boundaries
from openpyxl.xml.functions import iterparse

from impactbook.defaults import (
    XLSX_MAX_CELL_CHARS,
    XLSX_MAX_CELLS,
    XLSX_MAX_PART_BYTES,
    XLSX_MAX_RATIO,
    XLSX_MAX_TEXT_CHARS,
    XLSX_MAX_TOTAL_BYTES,
)
from impactbook.errors import DataError, Problem

_SHARED_STRINGS_TYPE = ("application/vnd.openxmlformats-officedocument.spreadsheetml."
                        "sharedStrings+xml")
# Below this a part may compress as well as it likes: the ratio only matters for big parts.
_RATIO_FROM_BYTES = 2**20
_CSV_HINT = "; save the sheet as CSV UTF-8 in Excel or LibreOffice and ingest the CSV"
# Uncached formulas named one by one before the rest are counted.
_FORMULAS_LISTED = 5
_MB = 2**20


@dataclass(frozen=True)
class MergedArea:
    ref: str
    min_row: int
    min_col: int
    max_row: int
    max_col: int

    @property
    def n_cells(self) -> int:
        return (self.max_row - self.min_row + 1) * (self.max_col - self.min_col + 1)


@dataclass
class SheetScan:
    """What the sheet holds beyond its values (rows and columns are 1-based, as Excel's)."""

    max_row: int = 0
    max_col: int = 0
    merged: list[MergedArea] = field(default_factory=list)
    # (row, column, formula text) of the first formula cells saved without a value
    uncached_formulas: list[tuple[int, int, str]] = field(default_factory=list)
    n_uncached: int = 0
    # Columns with a date cell, and the first row of a plain number in serial-day form
    date_columns: set[int] = field(default_factory=set)
    first_serial_row: dict[int, int] = field(default_factory=dict)


def _local(tag: str) -> str:
    """A tag without its namespace (transitional and strict workbooks name it differently)."""
    return tag.rpartition("}")[2]


def check_archive(path: Path, archive: zipfile.ZipFile) -> None:
    """Refuse an archive whose parts declare more bytes, or a higher ratio, than a workbook."""
    total = 0
    for info in archive.infolist():
        total += info.file_size
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > XLSX_MAX_PART_BYTES:
            why = (f"its part {info.filename} expands to {info.file_size / _MB:,.0f} MB, more "
                   f"than the {XLSX_MAX_PART_BYTES / _MB:,.0f} MB a workbook part may have")
        elif info.file_size > _RATIO_FROM_BYTES and ratio > XLSX_MAX_RATIO:
            why = (f"its part {info.filename} expands {ratio:,.0f} times (to "
                   f"{info.file_size / _MB:,.0f} MB), more than the {XLSX_MAX_RATIO} times of "
                   "a real workbook: a zip bomb?")
        elif total > XLSX_MAX_TOTAL_BYTES:
            why = (f"its parts expand to more than {XLSX_MAX_TOTAL_BYTES / _MB:,.0f} MB in all")
        else:
            continue
        raise DataError(Problem(str(path), f"refused: {why}{_CSV_HINT}"))


def _shared_strings_part(archive: zipfile.ZipFile) -> str | None:
    try:
        manifest = archive.open("[Content_Types].xml")
    except KeyError:
        return None
    with manifest:
        for _, node in iterparse(manifest):
            if _local(node.tag) == "Override" and node.get("ContentType") == _SHARED_STRINGS_TYPE:
                return (node.get("PartName") or "").lstrip("/") or None
    return None


def _text_length(node) -> int:
    """Characters of a shared or inline string: its ``t`` runs, not the phonetic guides."""
    length = 0
    for child in node:
        name = _local(child.tag)
        if name == "t":
            length += len(child.text or "")
        elif name == "r":
            length += sum(len(t.text or "") for t in child if _local(t.tag) == "t")
    return length


def scan_shared_strings(path: Path, archive: zipfile.ZipFile) -> array:
    """The length of every shared string, refusing a too-long one or too much text in all."""
    lengths = array("q")
    part = _shared_strings_part(archive)
    if part is None or part not in archive.namelist():
        return lengths
    total = 0
    with archive.open(part) as source:
        for _, node in iterparse(source):
            if _local(node.tag) != "si":
                continue
            length = _text_length(node)
            node.clear()
            if length > XLSX_MAX_CELL_CHARS:
                raise DataError(Problem(str(path), (
                    f"refused: shared string {len(lengths) + 1:,} is {length:,} characters "
                    f"long, more than the {XLSX_MAX_CELL_CHARS:,} Excel allows in a cell; "
                    "the file was not written by a spreadsheet")))
            total += length
            if total > XLSX_MAX_TEXT_CHARS:
                raise DataError(Problem(str(path), (
                    f"refused: its shared strings hold more than {XLSX_MAX_TEXT_CHARS:,} "
                    f"characters of text{_CSV_HINT}")))
            lengths.append(length)
    return lengths


def _cells(source: IO[bytes]) -> Iterator[tuple[str, object]]:
    """``("row", its r attribute)``, ``("c", cell element)`` per cell and ``("mergeCell",
    ref)``; rows are dropped once read, so memory holds one row whatever the sheet's size."""
    rows_parent = None
    for event, node in iterparse(source, events=("start", "end")):
        name = _local(node.tag)
        if event == "start":
            if name == "sheetData":
                rows_parent = node
            elif name == "row":
                yield "row", node.get("r")
            continue
        if name == "c":
            yield "c", node
        elif name == "row" and rows_parent is not None:
            rows_parent.clear()
        elif name == "mergeCell":
            yield "mergeCell", node.get("ref") or ""


def _cell_chars(cell, shared_lengths: array) -> int:
    kind = cell.get("t", "n")
    if kind == "inlineStr":
        inline = next((c for c in cell if _local(c.tag) == "is"), None)
        return 0 if inline is None else _text_length(inline)
    value = next((c.text for c in cell if _local(c.tag) == "v"), None) or ""
    if kind == "s":
        try:
            return shared_lengths[int(value)]
        except (ValueError, IndexError):
            return 0  # openpyxl reports a broken reference when it reads the value
    return len(value)


def is_serial_day(number: float) -> bool:
    """A plain number the date reader takes for an Excel serial day (``dates.py``: five digits,
    an optional fraction)."""
    return 10_000 <= number < 100_000


def _is_serial_text(text: str) -> bool:
    try:
        return is_serial_day(float(text))
    except ValueError:
        return False


def scan_sheet(label: str, source: IO[bytes], shared_lengths: array,
               date_style_ids: frozenset[int]) -> SheetScan:
    """Stream the sheet's XML once: its extent, text, formulas without values, merged areas
    and date columns. Refuses (naming ``label``) past the cell and text bounds."""
    scan = SheetScan()
    total_chars = 0
    row = col = 0
    for kind, item in _cells(source):
        if kind == "mergeCell":
            _add_merged(label, scan, str(item))
            continue
        if kind == "row":  # rows without a number follow the one before (as openpyxl reads)
            row, col = (int(item) if item else row + 1), 0
            continue
        cell = item
        ref = cell.get("r")
        if ref:
            row, col = coordinate_to_tuple(ref)
        else:
            col += 1
        children = {_local(c.tag): c for c in cell}
        value = children.get("v")
        has_value = value is not None and bool(value.text)
        if "f" in children and not has_value:
            scan.n_uncached += 1
            if len(scan.uncached_formulas) < _FORMULAS_LISTED:
                scan.uncached_formulas.append((row, col, children["f"].text or ""))
        chars = _cell_chars(cell, shared_lengths)
        if chars > XLSX_MAX_CELL_CHARS:
            raise DataError(Problem(label, (
                f"refused: a cell is {chars:,} characters long, more than the "
                f"{XLSX_MAX_CELL_CHARS:,} Excel allows"), row=row))
        if not (has_value or chars or "f" in children):
            continue  # a styled empty cell: it neither widens the sheet nor holds text
        total_chars += chars
        if total_chars > XLSX_MAX_TEXT_CHARS:
            raise DataError(Problem(label, (
                f"refused: the sheet's text passes {XLSX_MAX_TEXT_CHARS:,} characters by row "
                f"{row:,} (a long text repeated in many cells expands to gigabytes){_CSV_HINT}"
                ), row=row))
        scan.max_row, scan.max_col = max(scan.max_row, row), max(scan.max_col, col)
        _check_extent(label, scan)
        if cell.get("t", "n") == "n" and has_value:
            style = int(cell.get("s") or 0)
            if style in date_style_ids:
                scan.date_columns.add(col)
            elif col not in scan.first_serial_row and _is_serial_text(value.text):
                scan.first_serial_row[col] = row
    return scan


def _add_merged(label: str, scan: SheetScan, ref: str) -> None:
    try:
        min_col, min_row, max_col, max_row = range_boundaries(ref)
    except (TypeError, ValueError):
        raise DataError(Problem(label, f"cannot read the merged area {ref!r}")) from None
    if None in (min_col, min_row, max_col, max_row):  # a whole row or column: not a cell area
        raise DataError(Problem(label, f"the merged area {ref} has no corners"))
    area = MergedArea(ref, min_row, min_col, max_row, max_col)
    if area.n_cells > 1:
        scan.merged.append(area)
        scan.max_row, scan.max_col = max(scan.max_row, max_row), max(scan.max_col, max_col)
        _check_extent(label, scan)


def _check_extent(label: str, scan: SheetScan) -> None:
    # Every row of the temporary CSV is as wide as the widest one: the grid is what is written.
    if scan.max_row * scan.max_col > XLSX_MAX_CELLS:
        raise DataError(Problem(label, (
            f"refused: the sheet spans {scan.max_row:,} rows by {scan.max_col:,} columns, more "
            f"than the {XLSX_MAX_CELLS:,} cells an ingest may expand{_CSV_HINT}")))
