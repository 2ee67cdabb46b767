"""Hostile input files for ``impactbook ingest``: spreadsheet bombs, pipes, files that are not
what their name says, and a full disk. Each is refused in one line naming the file."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from impactbook.cli import main
from impactbook.errors import DataError
from impactbook.ingest import excel
from impactbook.ingest.sources import ingest_file
from tests.xlsx_build import NS, base_workbook, inline, rebuild, shared_strings, sheet_xml

GENERIC = ["--city", "Springfield", "--outcome", "shootings", "--date-column", "Date",
           "--area-column", "Area"]
SETTINGS = {"city": "Springfield", "outcome": "shootings", "date_column": "Date",
            "area_column": "Area"}
MB = 2**20


def incident_csv(rows: int = 60) -> str:
    lines = ["Date,Area"] + [f"2021-{1 + i % 3:02d}-{1 + i % 28:02d},Beat {i % 4}"
                             for i in range(rows)]
    return "\n".join(lines) + "\n"


# --- spreadsheet bombs -------------------------------------------------------------------

# Runs an ingest in a fresh interpreter and reports how far its peak memory rose once the
# libraries were imported; files over 64 MB cannot be written (the bomb would fill the disk).
_MEASURED_INGEST = textwrap.dedent("""
    import resource, sys
    import impactbook.ingest.sources  # the libraries are not what is measured
    from impactbook.cli import main
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 << 20, 64 << 20))
    before_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    code = main(sys.argv[1:])
    growth_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before_kb
    print(f"growth_kb={growth_kb}")
    sys.exit(code)
""")


def run_measured(args: list[str], tmp_path: Path) -> tuple[subprocess.CompletedProcess, int]:
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", _MEASURED_INGEST, *args], env=env,
                            capture_output=True, text=True, timeout=600)
    growth = [line for line in result.stdout.splitlines() if line.startswith("growth_kb=")]
    assert growth, f"the ingest did not finish: {result.returncode}\n{result.stderr[-2000:]}"
    return result, int(growth[0].split("=")[1]) * 1024


def test_one_long_string_in_every_row_is_refused_before_the_csv_is_written(tmp_path):
    # 100,000 rows pointing at one 32,000-character shared string: 0.8 MB that expands to
    # 3.2 GB of CSV (it filled a temporary folder and then failed naming no file).
    book = base_workbook(tmp_path / "bomb.xlsx")
    rows = [f'<row r="1">{inline("A1", "Date")}{inline("B1", "Area")}</row>'] + [
        f'<row r="{n}"><c r="A{n}"><v>44200</v></c><c r="B{n}" t="s"><v>0</v></c></row>'
        for n in range(2, 100_002)]
    rebuild(book, sheet_xml(rows), shared_strings(["x" * 32_000]))
    assert book.stat().st_size < 1 * MB
    result, growth = run_measured(["ingest", "generic", str(book), "--data",
                                   str(tmp_path / "wb"), *GENERIC], tmp_path)
    lines = result.stderr.splitlines()
    assert result.returncode == 1, result.stderr[-2000:]
    assert len(lines) == 1
    assert lines[0].startswith(f"impactbook: error: {book}, sheet 'Sheet', row ")
    assert "refused: the sheet's text passes 256,000,000 characters" in lines[0]
    assert growth < 100 * MB
    assert not list(tmp_path.glob("impactbook-sheet-*"))  # no temporary CSV left behind
    assert not (tmp_path / "wb" / "outcomes.csv").exists()


def test_many_long_shared_strings_are_refused_in_bounded_memory(tmp_path):
    # 80,000 shared strings of 4,000 characters: 1.8 MB of zip, 320 MB of XML (the reported
    # file took 2.2 GB of memory and then failed with an empty reason).
    book = base_workbook(tmp_path / "strings.xlsx")
    rows = [f'<row r="1">{inline("A1", "Date")}{inline("B1", "Area")}</row>',
            '<row r="2"><c r="A2"><v>44200</v></c><c r="B2" t="s"><v>1</v></c></row>']
    texts = ("y" * 3_990 + f"{i:010d}" for i in range(80_000))
    rebuild(book, sheet_xml(rows), shared_strings(texts), compresslevel=1)
    assert book.stat().st_size < 3 * MB
    result, growth = run_measured(["ingest", "generic", str(book), "--data",
                                   str(tmp_path / "wb"), *GENERIC], tmp_path)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"impactbook: error: {book}: refused: its shared strings hold more than 256,000,000 "
        "characters of text; save the sheet as CSV UTF-8 in Excel or LibreOffice and ingest "
        "the CSV"]
    assert growth < 100 * MB


def test_a_part_compressed_like_a_zip_bomb_is_refused_unread(tmp_path):
    book = base_workbook(tmp_path / "ratio.xlsx")
    rows = [f'<row r="1">{inline("A1", "Date")}</row>'] + ["<row/>" * 1_000] * 2_000
    rebuild(book, sheet_xml(rows))
    with pytest.raises(DataError) as info:
        ingest_file("generic", book, settings=SETTINGS)
    [line] = info.value.lines
    assert line.startswith(f"{book}: refused: its part xl/worksheets/sheet1.xml expands ")
    assert line.endswith(" times (to 11 MB), more than the 200 times of a real workbook: a zip "
                         "bomb?; save the sheet as CSV UTF-8 in Excel or LibreOffice and ingest "
                         "the CSV")


def test_a_cell_longer_than_excel_allows_is_refused(tmp_path):
    book = base_workbook(tmp_path / "long.xlsx")
    rows = [f'<row r="1">{inline("A1", "Date")}{inline("B1", "Area")}</row>',
            f'<row r="2"><c r="A2"><v>44200</v></c>{inline("B2", "z" * 40_000)}</row>']
    rebuild(book, sheet_xml(rows))
    with pytest.raises(DataError) as info:
        ingest_file("generic", book, settings=SETTINGS)
    assert info.value.lines == [
        f"{book}, sheet 'Sheet', row 2: refused: a cell is 40,000 characters long, more than "
        "the 32,767 Excel allows"]


def test_a_merged_area_over_the_whole_sheet_is_refused(tmp_path):
    book = base_workbook(tmp_path / "merged.xlsx")
    rows = [f'<row r="1">{inline("A1", "Date")}{inline("B1", "Area")}</row>']
    parts = [*sheet_xml(rows)]
    parts[-1] = b'</sheetData><mergeCells count="1"><mergeCell ref="B2:XFD1048576"/>' \
                b"</mergeCells></worksheet>"
    rebuild(book, parts)
    with pytest.raises(DataError) as info:
        ingest_file("generic", book, settings=SETTINGS)
    assert info.value.lines == [
        f"{book}, sheet 'Sheet': refused: the sheet spans 1,048,576 rows by 16,384 columns, "
        "more than the 20,000,000 cells an ingest may expand; save the sheet as CSV UTF-8 in "
        "Excel or LibreOffice and ingest the CSV"]


def test_a_sheet_of_broken_xml_is_named_not_a_crash(tmp_path):
    book = base_workbook(tmp_path / "broken.xlsx")
    # Cut off after the first rows, as a script that died while writing leaves it.
    rebuild(book, [f'<worksheet xmlns="{NS}"><dimension ref="A1:B3"/><sheetData><row r="1">'
                   f'{inline("A1", "Date")}{inline("B1", "Area")}</row><row r="2"><c r="A2">'
                   .encode()])
    assert ingest_error(book) == [
        f"{book}, sheet 'Sheet': cannot read the sheet: no element found: line 1, column 246"]


# --- pipes -------------------------------------------------------------------------------

def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path):
    fifo = tmp_path / "incidents.csv"
    os.mkfifo(fifo)
    # A subprocess with a timeout: if ingest opened the FIFO it would wait forever.
    result = subprocess.run([sys.executable, "-m", "impactbook.cli", "ingest", "generic",
                             str(fifo), "--data", str(tmp_path / "wb"), *GENERIC],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"impactbook: error: {fifo}: is a FIFO (named pipe), expected an ordinary file; save "
        "it to a file first and ingest that (a pipe can be read only once)"]


def test_a_process_substitution_is_refused_not_read_headless(tmp_path):
    source = tmp_path / "incidents.csv"
    source.write_text(incident_csv(), encoding="utf-8")
    command = (f'"{sys.executable}" -m impactbook.cli ingest generic <(cat "{source}") '
               f'--data "{tmp_path / "wb"}" ' + " ".join(f'"{a}"' for a in GENERIC))
    result = subprocess.run(["bash", "-c", command], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("impactbook: error: /dev/fd/")
    assert lines[0].endswith(": is a FIFO (named pipe), expected an ordinary file; save it to "
                             "a file first and ingest that (a pipe can be read only once)")
    # The same rows from a file are read whole, header included.
    assert main(["ingest", "generic", str(source), "--data", str(tmp_path / "wb"),
                 *GENERIC]) == 0


# --- files that are not what their name says ---------------------------------------------

def compound_file(streams: dict[str, bytes]) -> bytes:
    """An Office 97 compound file (the container of .xls and of encrypted .xlsx) holding
    ``streams``, each at least 4,096 bytes so it lives in regular 512-byte sectors."""
    end, free, fat_sector, no_stream = 0xFFFFFFFE, 0xFFFFFFFF, 0xFFFFFFFD, 0xFFFFFFFF
    fat = [fat_sector, end]  # sector 0: this table; sector 1: the directory
    starts = []
    for data in streams.values():
        assert len(data) >= 4096 and len(data) % 512 == 0
        first = len(fat)
        n = len(data) // 512
        fat += [first + i + 1 for i in range(n - 1)] + [end]
        starts.append(first)
    assert len(fat) <= 128
    header = (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(16)
              + struct.pack("<HHHHH6xIIIIIIIII", 0x3E, 3, 0xFFFE, 9, 6, 0, 1, 1, 0, 4096,
                            end, 0, end, 0)
              + struct.pack("<I", 0) + struct.pack("<I", free) * 108)

    def entry(name: str, kind: int, left: int, right: int, child: int, start: int,
              size: int) -> bytes:
        encoded = (name + "\0").encode("utf-16-le") if name else b""
        return (encoded.ljust(64, b"\0") + struct.pack("<HBBIII", len(encoded), kind, 1, left,
                                                        right, child)
                + bytes(16 + 4 + 16) + struct.pack("<IQ", start, size))

    # The streams hang off the root as a chain of right siblings (a valid, if lopsided, tree).
    names = list(streams)
    entries = [entry("Root Entry", 5, no_stream, no_stream, 1, end, 0)]
    for i, (name, data) in enumerate(streams.items()):
        right = i + 2 if i + 1 < len(names) else no_stream
        entries.append(entry(name, 2, no_stream, right, no_stream, starts[i], len(data)))
    while len(entries) % 4:
        entries.append(entry("", 0, no_stream, no_stream, no_stream, 0, 0))
    assert len(entries) == 4
    fat_bytes = struct.pack(f"<{len(fat)}I", *fat).ljust(512, b"\xff")
    return header + fat_bytes + b"".join(entries) + b"".join(streams.values())


def ingest_error(path: Path) -> list[str]:
    with pytest.raises(DataError) as info:
        ingest_file("generic", path, settings=SETTINGS)
    return info.value.lines


def test_a_password_protected_workbook_is_named_as_such(tmp_path):
    locked = tmp_path / "incidents.xlsx"
    locked.write_bytes(compound_file({"EncryptionInfo": b"\x04" * 4096,
                                      "EncryptedPackage": os.urandom(8192)}))
    assert ingest_error(locked) == [
        f"{locked}: is a password-protected (encrypted) Excel workbook; open it in Excel, "
        "remove the password (File > Info > Protect Workbook) and save it, then use that file"]
    old = tmp_path / "incidents.xls"
    old.write_bytes(compound_file({"Workbook": b"\x09" * 8192}))
    assert ingest_error(old) == [
        f"{old}: is an old Excel .xls workbook (an Office 97 file); open it and save it as "
        ".xlsx or CSV UTF-8, then use that file"]


def test_a_truncated_workbook_is_called_damaged_not_a_zip_to_unzip(tmp_path):
    whole = base_workbook(tmp_path / "whole.xlsx")
    cut = tmp_path / "incidents.xlsx"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    assert ingest_error(cut) == [
        f"{cut}: is a zip archive cut short or damaged (an .xlsx workbook is one: was the "
        "download or copy interrupted?); download or save it again"]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_text_is_named_as_utf16(tmp_path, encoding):
    path = tmp_path / "incidents.csv"
    path.write_bytes(incident_csv().encode(encoding))
    assert ingest_error(path) == [
        f"{path}: is UTF-16 text (Excel's 'Unicode text'), not UTF-8; save the file as CSV "
        "UTF-8"]


def test_a_latin1_byte_past_the_first_64_kb_names_its_row_and_column(tmp_path):
    text = incident_csv(6_000)
    lines = text.splitlines(keepends=True)
    lines[5_000] = lines[5_000].replace("Beat", "B\xe9at")
    path = tmp_path / "incidents.csv"
    path.write_bytes("".join(lines).encode("latin-1"))
    assert len("".join(lines[:5_000]).encode()) > 64 * 1024
    assert ingest_error(path) == [
        f"{path}, row 5001, column 'Area': not UTF-8 text (byte 0xe9 at position 13; Latin-1 "
        "or Windows-1252?); save the file as CSV UTF-8"]


# --- a full disk -------------------------------------------------------------------------

def test_a_full_disk_under_the_sheet_csv_names_the_file(tmp_path, monkeypatch, capsys):
    book = base_workbook(tmp_path / "incidents.xlsx")
    rows = [f'<row r="1">{inline("A1", "Date")}{inline("B1", "Area")}</row>',
            f'<row r="2"><c r="A2"><v>44200</v></c>{inline("B2", "Beat 1")}</row>']
    rebuild(book, sheet_xml(rows))
    real_fdopen = os.fdopen

    def onto_a_full_device(fd, *args, **kwargs):
        # The temporary CSV's writes go to /dev/full, which fails them with ENOSPC.
        os.close(fd)
        return real_fdopen(os.open("/dev/full", os.O_WRONLY), *args, **kwargs)

    monkeypatch.setattr(excel.os, "fdopen", onto_a_full_device)
    monkeypatch.setattr(excel.tempfile, "tempdir", str(tmp_path))
    code = main(["ingest", "generic", str(book), "--data", str(tmp_path / "wb"), *GENERIC])
    monkeypatch.undo()
    lines = capsys.readouterr().err.splitlines()
    assert code == 1 and len(lines) == 1
    assert lines[0].startswith(f"impactbook: error: {tmp_path}/impactbook-sheet-")
    assert lines[0].endswith(".csv: No space left on device (writing sheet 'Sheet' of "
                             "incidents.xlsx as a temporary CSV; set TMPDIR to a folder with "
                             "room)")
    assert not list(tmp_path.glob("impactbook-sheet-*"))


def test_a_full_disk_under_outcomes_csv_names_the_file(tmp_path, monkeypatch, capsys):
    source = tmp_path / "incidents.csv"
    source.write_text(incident_csv(), encoding="utf-8")

    def onto_a_full_device(self, data, encoding=None, errors=None, newline=None):
        with open("/dev/full", "w", encoding=encoding, newline=newline) as fh:
            fh.write(data)  # ENOSPC, as from a full disk, when the buffer is flushed

    monkeypatch.setattr(Path, "write_text", onto_a_full_device)
    code = main(["ingest", "generic", str(source), "--data", str(tmp_path / "wb"), *GENERIC])
    monkeypatch.undo()
    assert code == 1
    assert capsys.readouterr().err.splitlines() == [
        f"impactbook: error: {tmp_path / 'wb' / 'outcomes.csv'}: No space left on device"]
    assert not (tmp_path / "wb" / "outcomes.csv").exists()
