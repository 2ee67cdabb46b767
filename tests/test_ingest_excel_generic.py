"""Excel workbooks in, and the generic source described by options alone."""

from __future__ import annotations

import datetime as dt
import gzip
import io
import re
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from impactbook.cli import main
from impactbook.errors import DataError, ParameterError
from impactbook.ingest.sources import ingest_file

FIXTURES = Path(__file__).parent / "fixtures" / "ingest"
NYPD = FIXTURES / "nypd_2019q4.csv.gz"


def nypd_rows() -> tuple[list[str], list[list[str]]]:
    text = gzip.decompress(NYPD.read_bytes()).decode("utf-8")
    frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    return list(frame.columns), frame.values.tolist()


def nypd_workbook(path: Path) -> Path:
    """A two-sheet workbook: a notes sheet first, then the NYPD rows with real date cells."""
    header, rows = nypd_rows()
    book = openpyxl.Workbook()
    notes = book.active
    notes.title = "Read me"
    notes.append(["Exported from the NYPD portal", "2020-01-05"])
    sheet = book.create_sheet("Shootings")
    sheet.append(header)
    date_col, precinct_col = header.index("OCCUR_DATE"), header.index("PRECINCT")
    for row in rows:
        cells: list[object] = list(row)
        cells[date_col] = dt.datetime.strptime(row[date_col], "%m/%d/%Y")
        cells[precinct_col] = int(row[precinct_col])  # a number cell, not text
        sheet.append(cells)
    book.save(path)
    return path


def test_xlsx_sheet_gives_the_same_counts_as_the_csv(tmp_path):
    book = nypd_workbook(tmp_path / "nypd.xlsx")
    from_csv = ingest_file("nypd-shootings", NYPD)
    from_xlsx = ingest_file("nypd-shootings", book, sheet="Shootings")
    pd.testing.assert_frame_equal(from_xlsx.outcomes, from_csv.outcomes)


def test_xlsx_first_sheet_by_default_and_sheet_named_in_errors(tmp_path):
    book = nypd_workbook(tmp_path / "nypd.xlsx")
    with pytest.raises(DataError) as info:
        ingest_file("nypd-shootings", book)  # the first sheet is the notes
    problem = info.value.problems[0]
    assert problem.file == f"{book}, sheet 'Read me'"
    assert problem.row == 1 and problem.column == "OCCUR_DATE"
    assert problem.message.endswith(
        "(the first sheet; the workbook also has Shootings: --sheet NAME)")


def test_xlsx_bad_cell_is_named_by_sheet_and_row(tmp_path):
    book_path = nypd_workbook(tmp_path / "nypd.xlsx")
    book = openpyxl.load_workbook(book_path)
    sheet = book["Shootings"]
    header = [c.value for c in sheet[1]]
    sheet.cell(row=7, column=header.index("OCCUR_DATE") + 1, value="sometime")
    book.save(book_path)
    with pytest.raises(DataError) as info:
        ingest_file("nypd-shootings", book_path, sheet="Shootings")
    first = info.value.problems[0]
    assert str(first) == (f"{book_path}, sheet 'Shootings', row 7, column 'OCCUR_DATE': cannot "
                          "read date 'sometime'; expected YYYY-MM-DD (with or without a time "
                          "and zone), M/D/YYYY, M/D/YY, an Excel serial day number")


def test_xlsx_unknown_sheet_suggests_the_close_one(tmp_path):
    book = nypd_workbook(tmp_path / "nypd.xlsx")
    with pytest.raises(ParameterError) as info:
        ingest_file("nypd-shootings", book, sheet="shootings")
    assert str(info.value) == ("parameter 'sheet': got 'shootings', expected a sheet of "
                               "nypd.xlsx: Read me, Shootings; did you mean 'Shootings'?")


def test_sheet_option_on_a_csv_is_refused():
    with pytest.raises(ParameterError, match="not an .xlsx workbook"):
        ingest_file("nypd-shootings", NYPD, sheet="Shootings")


# --- generic by options ------------------------------------------------------------------

SPRINGFIELD = ("Case No,Occurred On,Beat,Victims\n"
               "A1,01/03/2021 10:00 PM,7,1\n"
               "A2,01/15/2021 01:00 AM,07,2\n"
               "A3,01/31/2021 11:00 PM,8,1\n"
               "A3,01/31/2021 11:00 PM,8,1\n"
               "A4,02/03/2021 09:00 AM,,3\n"
               "A5,02/28/2021 09:00 AM,8,1\n")


@pytest.fixture()
def springfield(tmp_path) -> Path:
    path = tmp_path / "springfield.csv"
    path.write_text(SPRINGFIELD, encoding="utf-8")
    return path


def counts(result, area="citywide"):
    frame = result.outcomes
    return frame[frame["area"] == area].set_index("period")["count"].to_dict()


def test_generic_by_options_rows_incidents_and_sums(springfield):
    base = {"city": "Springfield", "outcome": "shootings", "date_column": "Occurred On",
            "area_column": "Beat", "area_prefix": "Beat "}
    rows = ingest_file("generic", springfield, settings=base)
    assert counts(rows) == {"2021-01": 4, "2021-02": 2}
    assert counts(rows, "Beat 7") == {"2021-01": 2, "2021-02": 0}
    incidents = ingest_file("generic", springfield, settings={
        **base, "count": ["incidents"], "key_column": "Case No"})
    assert counts(incidents) == {"2021-01": 3, "2021-02": 2}
    victims = ingest_file("generic", springfield, settings={**base, "count": ["sum-of",
                                                                              "Victims"]})
    assert counts(victims) == {"2021-01": 5, "2021-02": 4}
    assert set(victims.outcomes["area"]) == {"citywide", "Beat 7", "Beat 8"}


def test_generic_options_win_over_the_mapping(springfield, tmp_path):
    mapping = tmp_path / "m.json"
    mapping.write_text('{"city": "Shelbyville", "outcome": "shootings", '
                       '"date_column": "Occurred On"}')
    result = ingest_file("generic", springfield, mapping=mapping,
                         settings={"city": "Springfield"})
    assert set(result.outcomes["city"]) == {"Springfield"}


def test_generic_errors_name_the_option_and_the_real_columns(springfield):
    with pytest.raises(DataError) as info:
        ingest_file("generic", springfield, settings={"city": "Springfield"})
    assert info.value.lines == [
        "options: missing setting 'outcome' (--outcome); required: --city, --outcome, "
        "--date-column",
        "options: missing setting 'date_column' (--date-column); required: --city, "
        "--outcome, --date-column"]
    with pytest.raises(DataError) as info:
        ingest_file("generic", springfield, settings={
            "city": "Springfield", "outcome": "shootings", "date_column": "Occured On"})
    assert info.value.lines == [
        f"{springfield}, row 1, column 'Occured On': missing column 'Occured On'; did you "
        "mean 'Occurred On'?; the settings name columns Occured On; the file has Beat, "
        "Case No, Occurred On, Victims"]
    with pytest.raises(DataError) as info:
        ingest_file("generic", springfield, settings={
            "city": "S", "outcome": "s", "date_column": "Occurred On", "count": ["incidents"]})
    assert info.value.lines == [
        "options: setting 'count' (--count) incidents needs setting 'key_column' "
        "(--key-column): the column whose unique values are incidents"]
    with pytest.raises(DataError) as info:
        ingest_file("generic", springfield, settings={
            "city": "S", "outcome": "s", "date_column": "Occurred On", "count": ["sum-of",
                                                                                 "Case No"]})
    assert info.value.lines[0] == (f"{springfield}, row 2, column 'Case No': 'A1' is not a "
                                   "non-negative whole number (the count to sum)")


def test_generic_options_are_refused_for_a_named_source(springfield):
    with pytest.raises(ParameterError) as info:
        ingest_file("nypd-shootings", springfield, settings={"city": "Springfield"})
    assert str(info.value) == ("parameter 'city': got 'Springfield', expected nothing for "
                               "source nypd-shootings: this option is for generic")


def test_cli_generic_flags_only(springfield, tmp_path, capsys):
    code = main(["ingest", "generic", str(springfield), "--data", str(tmp_path / "wb"),
                 "--city", "Springfield", "--outcome", "shooting victims",
                 "--date-column", "Occurred On", "--area-column", "Beat",
                 "--area-prefix", "Beat ", "--count", "sum-of", "Victims"])
    assert code == 0
    written = pd.read_csv(tmp_path / "wb" / "outcomes.csv", dtype={"period": str})
    city = written[written["area"] == "citywide"].set_index("period")["count"]
    assert city.to_dict() == {"2021-01": 5, "2021-02": 4}


def test_ingest_help_lists_every_mapping_key(capsys):
    from impactbook.ingest.mapping import MAPPING_KEYS

    with pytest.raises(SystemExit):
        main(["ingest", "--help"])
    out = capsys.readouterr().out
    for key in MAPPING_KEYS:
        assert f"  {key} " in out
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    for key in MAPPING_KEYS:
        assert f"`{key}`" in readme


# --- what the sheet shows: formulas, merged areas, the 1904 date system -------------------

SPRINGFIELD_SETTINGS = {"city": "Springfield", "outcome": "shootings", "date_column": "Date",
                        "area_column": "Area"}


def spread_dates(n: int) -> list[dt.date]:
    """``n`` dates covering 2021-01-01 to 2021-03-31 (whole months: none is dropped)."""
    return [dt.date(2021, 1, 1) + dt.timedelta(days=i % 90 if n >= 90 else i * 89 // (n - 1))
            for i in range(n)]


def expected_counts(dates: list[dt.date], areas: list[str]) -> dict[tuple[str, str], int]:
    """Counts per (area, month) computed here, independently of ingest."""
    counts: dict[tuple[str, str], int] = {}
    for day, area in zip(dates, areas):
        for key in ((area, f"{day:%Y-%m}"), ("citywide", f"{day:%Y-%m}")):
            counts[key] = counts.get(key, 0) + 1
    return counts


def ingested_counts(result) -> dict[tuple[str, str], int]:
    frame = result.outcomes
    return {(a, p): int(c) for a, p, c in zip(frame["area"], frame["period"], frame["count"])
            if c}


def incident_book(path: Path, dates: list[object], areas: list[str], *,
                  date1904: bool = False) -> openpyxl.Workbook:
    book = openpyxl.Workbook()
    if date1904:
        book.epoch = openpyxl.utils.datetime.CALENDAR_MAC_1904
    sheet = book.active
    sheet.title = "Incidents"
    sheet.append(["Date", "Area"])
    for day, area in zip(dates, areas):
        sheet.append([day, area])
    return book


def test_formulas_give_their_saved_value_and_one_saved_without_is_refused(tmp_path):
    dates = spread_dates(60)
    areas = [f"Beat {i % 3}" for i in range(60)]
    book = incident_book(tmp_path / "formulas.xlsx", dates, areas)
    sheet = book.active
    for row in (5, 9):  # as openpyxl and scripts save them: a formula with no value
        sheet.cell(row=row, column=1, value=f"=DATE({dates[row - 2]:%Y,%-m,%-d})")
        sheet.cell(row=row, column=1).number_format = "yyyy-mm-dd"
    sheet["C1"], sheet["C2"] = "Note", '=IF(B2="Beat 0","","x")'
    path = tmp_path / "formulas.xlsx"
    book.save(path)
    with pytest.raises(DataError) as info:
        ingest_file("generic", path, settings=SPRINGFIELD_SETTINGS)
    cells = [(2, "C", "Note", 'IF(B2="Beat 0","","x")')] + [
        (row, "A", "Date", f"DATE({dates[row - 2]:%Y,%-m,%-d})") for row in (5, 9)]
    assert info.value.lines == [
        f"{path}, sheet 'Incidents', row {row}, column '{name}': cell {letter}{row} holds the "
        f"formula ={formula} saved without its value, so its value is unknown here; open the "
        "file in Excel or LibreOffice and save it, which stores the values"
        for row, letter, name, formula in cells]
    # Saved by a spreadsheet, each formula keeps its value: that value is what is counted.
    with zipfile.ZipFile(path) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    # openpyxl writes an empty value as <v /> or <v/> (with lxml installed): one spelling here.
    sheet_xml = re.sub(r"<v\s*/>|<v></v>", "<v />", parts["xl/worksheets/sheet1.xml"].decode())
    for row in (5, 9):
        serial = (dates[row - 2] - dt.date(1899, 12, 30)).days
        formula = f"<f>DATE({dates[row - 2]:%Y,%-m,%-d})</f>"
        assert formula + "<v />" in sheet_xml
        sheet_xml = sheet_xml.replace(formula + "<v />", f"{formula}<v>{serial}</v>")
    # A formula whose result is the empty text: saved as t="str" with an empty value.
    note = '<c r="C2"><f>IF(B2="Beat 0","","x")</f><v />'
    assert note in sheet_xml.replace("&quot;", '"')
    sheet_xml = sheet_xml.replace("&quot;", '"').replace(
        note, '<c r="C2" t="str"><f>IF(B2="Beat 0","","x")</f><v></v>')
    parts["xl/worksheets/sheet1.xml"] = sheet_xml.encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    result = ingest_file("generic", path, settings=SPRINGFIELD_SETTINGS)
    assert ingested_counts(result) == expected_counts(dates, areas)


def test_merged_area_cells_hold_the_top_left_value_and_the_summary_says_so(tmp_path, capsys):
    dates = spread_dates(800)
    areas = ["Beat 1"] * 400 + ["Beat 2"] * 400
    book = incident_book(tmp_path / "merged.xlsx", dates, areas)
    book.active.merge_cells("B2:B401")  # keeps only B2, as Excel's Merge does
    book.active.merge_cells("B402:B801")
    path = tmp_path / "merged.xlsx"
    book.save(path)
    result = ingest_file("generic", path, settings=SPRINGFIELD_SETTINGS)
    assert ingested_counts(result) == expected_counts(dates, areas)
    assert result.notes[0] == (
        f"{path}, sheet 'Incidents': 2 merged area(s) (B2:B401, B402:B801) read as the sheet "
        "shows them: their top-left value filled 798 cells.")
    assert main(["ingest", "generic", str(path), "--data", str(tmp_path / "wb"), "--city",
                 "Springfield", "--outcome", "shootings", "--date-column", "Date",
                 "--area-column", "Area"]) == 0
    assert f"note: {result.notes[0]}" in capsys.readouterr().err


def serial_1904(day: dt.date) -> int:
    return (day - dt.date(1904, 1, 1)).days


def test_a_1904_workbook_reads_plain_serial_days_in_its_own_date_system(tmp_path):
    dates = spread_dates(90)
    areas = [f"Beat {i % 2}" for i in range(90)]
    # Most cells are date cells; every third lost its format and holds the bare serial day.
    cells = [serial_1904(day) if i % 3 == 0 else dt.datetime.combine(day, dt.time())
             for i, day in enumerate(dates)]
    path = tmp_path / "mac.xlsx"
    incident_book(path, cells, areas, date1904=True).save(path)
    result = ingest_file("generic", path, settings=SPRINGFIELD_SETTINGS)
    assert ingested_counts(result) == expected_counts(dates, areas)


def test_a_1904_workbook_with_only_plain_numbers_for_dates_is_refused(tmp_path):
    dates = spread_dates(90)
    path = tmp_path / "mac.xlsx"
    incident_book(path, [serial_1904(d) for d in dates], ["Beat 1"] * 90,
                  date1904=True).save(path)
    with pytest.raises(DataError) as info:
        ingest_file("generic", path, settings=SPRINGFIELD_SETTINGS)
    assert info.value.lines == [
        f"{path}, sheet 'Incidents', row 2, column 'Date': the workbook counts dates from 1904 "
        "(the date system of older Excel for Mac) and this column holds plain numbers with no "
        "date format; read as dates they would be 4 years and a day early: format the column "
        "as dates in Excel or LibreOffice (as text if it is not a date) and save"]
