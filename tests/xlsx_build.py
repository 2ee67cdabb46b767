"""Build .xlsx files part by part, as scripts and hostile files write them (tests only).

openpyxl writes a valid workbook; these helpers then replace its sheet XML or add a shared
strings part, so a test can hold exactly the cells, formulas and strings it is about.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable
from pathlib import Path

import openpyxl

NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
SHEET = "xl/worksheets/sheet1.xml"
SHARED = "xl/sharedStrings.xml"
_SHARED_OVERRIDE = (
    '<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-'
    'officedocument.spreadsheetml.sharedStrings+xml" />')


def inline(ref: str, text: str) -> str:
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'


def sheet_xml(rows: Iterable[str]) -> Iterable[bytes]:
    """A sheet part from ``<row>`` elements (a generator: a big sheet is never one string)."""
    yield f'<worksheet xmlns="{NS}"><sheetData>'.encode()
    for row in rows:
        yield row.encode()
    yield b"</sheetData></worksheet>"


def rebuild(path: Path, sheet: Iterable[bytes], shared: Iterable[bytes] | None = None,
            *, compresslevel: int = 6) -> Path:
    """Replace the sheet of the one-sheet workbook at ``path`` (and add shared strings)."""
    with zipfile.ZipFile(path) as source:
        parts = {name: source.read(name) for name in source.namelist() if name != SHEET}
    if shared is not None:
        manifest = parts["[Content_Types].xml"].decode()
        parts["[Content_Types].xml"] = manifest.replace(
            "</Types>", _SHARED_OVERRIDE + "</Types>").encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=compresslevel) as out:
        for name, data in parts.items():
            out.writestr(name, data)
        _write_streamed(out, SHEET, sheet)
        if shared is not None:
            _write_streamed(out, SHARED, shared)
    return path


def _write_streamed(archive: zipfile.ZipFile, name: str, chunks: Iterable[bytes]) -> None:
    with archive.open(name, "w", force_zip64=True) as fh:
        for chunk in chunks:
            fh.write(chunk)


def shared_strings(texts: Iterable[str]) -> Iterable[bytes]:
    yield f'<sst xmlns="{NS}">'.encode()
    for text in texts:
        yield f"<si><t>{text}</t></si>".encode()
    yield b"</sst>"


def base_workbook(path: Path, *, date1904: bool = False) -> Path:
    book = openpyxl.Workbook()
    if date1904:
        book.epoch = openpyxl.utils.datetime.CALENDAR_MAC_1904
    book.active.append(["placeholder"])
    book.save(path)
    return path
