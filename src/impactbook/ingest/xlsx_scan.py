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
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from openpyxl.utils.cell import coordinate_to_tuple, range_boundaries
from openpyxl.utils.exceptions import CellCoordinatesException
from openpyxl.xml.functions import iterparse

from impactbook.defaults import (
    XLSX_MAX_CELL_CHARS,
    XLSX_MAX_CELLS,
    XLSX_MAX_MERGED_AREAS,
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
CSV_HINT = "; save the sheet as CSV UTF-8 in Excel or LibreOffice and ingest the CSV"
# Uncached formulas named one by one before the rest are counted.
_FORMULAS_LISTED = 5
_CELLS_HELD = 1_024
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
    n_chars: int = 0
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
        raise DataError(Problem(str(path), f"refused: {why}{CSV_HINT}"))


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
    root = None
    with archive.open(part) as source:
        for event, node in iterparse(source, events=("start", "end")):
            if event == "start":
                root = node if root is None else root
                continue
            if _local(node.tag) != "si":
                continue
            length = _text_length(node)
            root.clear()  # a string read is dropped: memory holds one, whatever their number
            if length > XLSX_MAX_CELL_CHARS:
                raise DataError(Problem(str(path), (
                    f"refused: shared string {len(lengths) + 1:,} is {length:,} characters "
                    f"long, more than the {XLSX_MAX_CELL_CHARS:,} Excel allows in a cell; "
                    "the file was not written by a spreadsheet")))
            total += length
            if total > XLSX_MAX_TEXT_CHARS:
                raise DataError(Problem(str(path), (
                    f"refused: its shared strings hold more than {XLSX_MAX_TEXT_CHARS:,} "
                    f"characters of text{CSV_HINT}")))
            lengths.append(length)
    return lengths


def _cell_chars(kind: str, text: str | None, inline, shared_lengths: array) -> int:
    if kind == "inlineStr":
        return 0 if inline is None else _text_length(inline)
    if kind == "s":
        try:
            return shared_lengths[int(text or "")]
        except (ValueError, IndexError):
            return 0  # openpyxl reports a broken reference when it reads the value
    return len(text or "")


def is_serial_day(number: float) -> bool:
    """A plain number the date reader takes for an Excel serial day (``dates.py``: five digits,
    an optional fraction)."""
    return 10_000 <= number < 100_000


def _is_serial_text(text: str) -> bool:
    try:
        return is_serial_day(float(text))
    except ValueError:
        return False


class _Position:
    """Row and column of the cell being read; ``A1`` references are parsed with a cache of
    column letters (a sheet has few columns and many cells)."""

    def __init__(self) -> None:
        self.row = self.col = 0
        self._columns: dict[str, int] = {}

    def start_row(self, number: str | None) -> None:
        # A row without a number follows the one before, as openpyxl reads it.
        self.row, self.col = (int(number) if number else self.row + 1), 0

    def move_to(self, ref: str | None) -> None:
        if not ref:
            self.col += 1
            return
        split = len(ref.rstrip("0123456789"))
        letters = ref[:split]
        col = self._columns.get(letters)
        if col is None:
            col = self._columns[letters] = coordinate_to_tuple(f"{letters}1")[1]
        self.row, self.col = int(ref[split:]), col


def scan_sheet(label: str, source: IO[bytes], shared_lengths: array,
               date_style_ids: frozenset[int]) -> SheetScan:
    """Stream the sheet's XML once: its extent, text, formulas without values, merged areas
    and date columns. Refuses (naming ``label``) past the cell, text and merged-area bounds."""
    scan = SheetScan()
    at = _Position()
    open_elements = []
    local: dict[str, str] = {}  # tag -> name without its namespace, computed once per tag
    for event, node in iterparse(source, events=("start", "end")):
        name = local.get(node.tag) or local.setdefault(node.tag, _local(node.tag))
        if event == "start":
            open_elements.append(node)
            if name == "row":
                at.start_row(node.get("r"))
            continue
        open_elements.pop()
        if name == "c":
            _scan_cell(label, scan, node, at, shared_lengths, date_style_ids, local)
            if len(open_elements[-1]) < _CELLS_HELD:
                continue  # the row is dropped when it ends
        elif name == "mergeCell":
            _add_merged(label, scan, node.get("ref") or "")
        # What has been read is dropped (a row from the sheet data, a long row's cells, ...):
        # memory holds a row, at most _CELLS_HELD cells, whatever the sheet's size.
        if 1 <= len(open_elements) <= 3:
            open_elements[-1].clear()
    return scan


def _scan_cell(label: str, scan: SheetScan, node, at: _Position, shared_lengths: array,
               date_style_ids: frozenset[int], local: dict[str, str]) -> None:
    try:
        at.move_to(node.get("r"))
    except (ValueError, CellCoordinatesException):
        raise DataError(Problem(label, f"cannot read the cell reference {node.get('r')!r} "
                                       f"after row {at.row:,}")) from None
    value = formula = inline = None
    for child in node:
        child_name = local.get(child.tag) or local.setdefault(child.tag, _local(child.tag))
        if child_name == "v":
            value = child
        elif child_name == "f":
            formula = child
        elif child_name == "is":
            inline = child
    kind = node.get("t", "n")
    text = value.text if value is not None else None
    has_value = bool(text)
    # A formula whose result is the empty text is saved as t="str" with an empty value.
    if formula is not None and not (has_value or (value is not None and kind == "str")):
        scan.n_uncached += 1
        if len(scan.uncached_formulas) < _FORMULAS_LISTED:
            scan.uncached_formulas.append((at.row, at.col, formula.text or ""))
    chars = _cell_chars(kind, text, inline, shared_lengths)
    if not (has_value or chars or formula is not None):
        return  # a styled empty cell: it neither widens the sheet nor holds text
    if chars > XLSX_MAX_CELL_CHARS:
        raise DataError(Problem(label, (
            f"refused: a cell is {chars:,} characters long, more than the "
            f"{XLSX_MAX_CELL_CHARS:,} Excel allows"), row=at.row))
    scan.n_chars += chars
    if scan.n_chars > XLSX_MAX_TEXT_CHARS:
        raise DataError(Problem(label, (
            f"refused: the sheet's text passes {XLSX_MAX_TEXT_CHARS:,} characters by row "
            f"{at.row:,} (a long text repeated in many cells expands to gigabytes)"
            f"{CSV_HINT}"), row=at.row))
    if at.row > scan.max_row or at.col > scan.max_col:
        scan.max_row, scan.max_col = max(scan.max_row, at.row), max(scan.max_col, at.col)
        _check_extent(label, scan)
    if kind == "d":  # an ISO date cell, as some tools write them
        scan.date_columns.add(at.col)
    elif kind == "n" and has_value:
        if int(node.get("s") or 0) in date_style_ids:
            scan.date_columns.add(at.col)
        elif at.col not in scan.first_serial_row and _is_serial_text(text):
            scan.first_serial_row[at.col] = at.row


def _add_merged(label: str, scan: SheetScan, ref: str) -> None:
    try:
        min_col, min_row, max_col, max_row = range_boundaries(ref)
    except (TypeError, ValueError):
        raise DataError(Problem(label, f"cannot read the merged area {ref!r}")) from None
    if None in (min_col, min_row, max_col, max_row):  # a whole row or column: not a cell area
        raise DataError(Problem(label, f"the merged area {ref} has no corners"))
    area = MergedArea(ref, min_row, min_col, max_row, max_col)
    if area.n_cells > 1:
        if len(scan.merged) >= XLSX_MAX_MERGED_AREAS:
            raise DataError(Problem(label, (
                f"refused: the sheet has more than {XLSX_MAX_MERGED_AREAS:,} merged areas"
                f"{CSV_HINT}")))
        scan.merged.append(area)
        scan.max_row, scan.max_col = max(scan.max_row, max_row), max(scan.max_col, max_col)
        _check_extent(label, scan)


def _check_extent(label: str, scan: SheetScan) -> None:
    # Every row of the temporary CSV is as wide as the widest one: the grid is what is written.
    if scan.max_row * scan.max_col > XLSX_MAX_CELLS:
        raise DataError(Problem(label, (
            f"refused: the sheet spans {scan.max_row:,} rows by {scan.max_col:,} columns, more "
            f"than the {XLSX_MAX_CELLS:,} cells an ingest may expand{CSV_HINT}")))
