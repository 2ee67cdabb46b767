"""The one date reader of every ingest source: each form exports write, and the refusals."""

from __future__ import annotations

import datetime as dt
import gzip
import random
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from impactbook.errors import DataError, ParameterError
from impactbook.ingest.dates import DateFormatError, date_sql, in_range_sql, to_strftime
from impactbook.ingest.sources import ingest_file

REPO = Path(__file__).resolve().parents[1]
NYPD_RAW = REPO / "data" / "raw" / "nypd_shooting_incidents_historic_2006_2019.csv.gz"


def read_date(value: str, *formats: str) -> dt.date | None:
    sql = (f"SELECT {in_range_sql('d')} FROM (SELECT {date_sql('v', formats)} AS d "
           "FROM (SELECT CAST(? AS VARCHAR) AS v))")
    with duckdb.connect() as con:
        return con.execute(sql, [value]).fetchone()[0]


@pytest.mark.parametrize("value, expected", [
    ("2019-08-23", dt.date(2019, 8, 23)),
    ("2019-08-23T22:10:00", dt.date(2019, 8, 23)),
    ("2019-08-23T22:10:00.000", dt.date(2019, 8, 23)),
    ("2019-08-23T22:10:00Z", dt.date(2019, 8, 23)),
    ("2021-08-01 00:00:00+00", dt.date(2021, 8, 1)),
    ("2021-08-01T23:30:00-05:00", dt.date(2021, 8, 1)),  # the local date, not converted
    ("8/27/2006", dt.date(2006, 8, 27)),
    ("08/27/2006", dt.date(2006, 8, 27)),
    ("01/05/2023 10:00:00 PM", dt.date(2023, 1, 5)),
    ("8/27/06", dt.date(2006, 8, 27)),
    ("1/1/29", dt.date(2029, 1, 1)),   # 00-29: 2000s, as Excel reads them
    ("1/1/30", dt.date(1930, 1, 1)),   # 30-99: 1900s (DuckDB alone would say 2030)
    ("12/31/68", dt.date(1968, 12, 31)),
    ("12/31/99", dt.date(1999, 12, 31)),
    ("43700", dt.date(2019, 8, 23)),   # Excel serial day number
    ("43700.9167", dt.date(2019, 8, 23)),
    ("  2019-08-23 ", dt.date(2019, 8, 23)),
])
def test_automatic_forms(value, expected):
    assert read_date(value) == expected


@pytest.mark.parametrize("value", ["13/01/2010", "2019-13-01", "8/27/206", "0006-01-01",
                                   "yesterday", "2019/08/23", "123", "2/30/2019"])
def test_unreadable_or_out_of_range_is_null(value):
    assert read_date(value) is None


@pytest.mark.parametrize("words, codes", [
    ("DD/MM/YYYY", "%d/%m/%Y"), ("MM/DD/YY", "%m/%d/%y"), ("yyyy-mm-dd", "%Y-%m-%d"),
    ("D.M.YYYY", "%d.%m.%Y"), ("DD-MMM-YYYY", "%d-%b-%Y"), ("%d/%m/%Y", "%d/%m/%Y"),
    ("%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %I:%M:%S %p"),
])
def test_plain_words_and_strftime_codes(words, codes):
    assert to_strftime(words) == codes


@pytest.mark.parametrize("bad, message", [
    ("DD/MM", "does not name a year, a month and a day"),
    ("%d/%q/%Y", "unknown strftime code(s) %q"),
    ("day/month/year", "neither plain words"),
    ("", "an empty date format"),
])
def test_bad_formats_say_why(bad, message):
    with pytest.raises(DateFormatError, match=message.replace("(", r"\(").replace(")", r"\)")):
        to_strftime(bad)


@pytest.mark.parametrize("value, words, expected", [
    ("04/01/2010", "DD/MM/YYYY", dt.date(2010, 1, 4)),
    ("4/1/10", "DD/MM/YY", dt.date(2010, 1, 4)),
    ("4/1/45", "DD/MM/YY", dt.date(1945, 1, 4)),   # the spreadsheet pivot with %y too
    ("04/01/2010 10:30", "DD/MM/YYYY", dt.date(2010, 1, 4)),  # time after the date ignored
    ("27.08.2006", "DD.MM.YYYY", dt.date(2006, 8, 27)),
    ("27-Aug-2006", "DD-MMM-YYYY", dt.date(2006, 8, 27)),
    ("08/27/2006 10:15:00 PM", "%m/%d/%Y %I:%M:%S %p", dt.date(2006, 8, 27)),
])
def test_explicit_formats(value, words, expected):
    assert read_date(value, to_strftime(words)) == expected


def test_explicit_format_refuses_the_other_order():
    assert read_date("01/13/2010", to_strftime("DD/MM/YYYY")) is None


def test_iso_dates_are_read_beside_an_explicit_day_first_format():
    # An .xlsx date cell arrives as ISO text whatever the text cells' format.
    assert read_date("2010-01-04 10:30:00", to_strftime("DD/MM/YYYY")) == dt.date(2010, 1, 4)


# --- through a real ingest ---------------------------------------------------------------

def _write(path: Path, dates: list[str]) -> Path:
    lines = ["Case,Occurred"] + [f"C{i},{d}" for i, d in enumerate(dates)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _generic(path: Path, **settings) -> pd.Series:
    result = ingest_file("generic", path, settings={
        "city": "Springfield", "outcome": "shootings", "date_column": "Occurred", **settings})
    return result.outcomes.set_index("period")["count"]


def _days(first: str, last: str, fmt: str) -> list[str]:
    return [d.strftime(fmt) for d in pd.date_range(first, last, freq="D")]


def test_day_first_file_is_refused_with_the_rows_that_prove_it(tmp_path):
    path = _write(tmp_path / "dm.csv", _days("2019-01-01", "2019-03-31", "%d/%m/%Y"))
    with pytest.raises(DataError) as info:
        _generic(path)
    first = info.value.problems[0]
    # Rows 2..13 are 01/01..12/01 (readable either way); row 14 holds 13/01/2019.
    assert (first.row, first.column) == (14, "Occurred")
    assert first.message == (
        "cannot read date '13/01/2019': the first number is above 12, so this file writes the "
        "day first; give the date format DD/MM/YYYY (--date-format, or date_format in a "
        "mapping)")
    assert [p.row for p in info.value.problems[:5]] == [14, 15, 16, 17, 18]
    counts = _generic(path, date_format="DD/MM/YYYY")
    assert counts.to_dict() == {"2019-01": 31, "2019-02": 28, "2019-03": 31}


def test_first_bad_rows_are_named_when_every_row_fails(tmp_path):
    path = _write(tmp_path / "dm.csv", ["04/01/2010", "05/01/2010", "06/01/2010"])
    with pytest.raises(DataError) as info:
        _generic(path, date_format="%Y-%m-%d")
    assert [(p.row, p.message) for p in info.value.problems] == [
        (2, "cannot read date '04/01/2010'; expected YYYY-MM-DD (%Y-%m-%d)"),
        (3, "cannot read date '05/01/2010'; expected YYYY-MM-DD (%Y-%m-%d)"),
        (4, "cannot read date '06/01/2010'; expected YYYY-MM-DD (%Y-%m-%d)"),
        (None, "none of the 3 dates could be read; expected YYYY-MM-DD (%Y-%m-%d)"),
    ]


def test_words_format_from_the_issue_is_accepted(tmp_path):
    path = _write(tmp_path / "dm.csv", _days("2010-01-01", "2010-02-28", "%d/%m/%Y"))
    assert _generic(path, date_format="DD/MM/YYYY").to_dict() == {"2010-01": 31, "2010-02": 28}
    bad = _write(tmp_path / "bad.csv", ["04/01/2010", "4 Jan 2010"])
    with pytest.raises(DataError) as info:
        _generic(bad, date_format="DD/MM/YYYY")
    assert str(info.value.problems[0]) == (
        f"{bad}, row 3, column 'Occurred': cannot read date '4 Jan 2010'; expected DD/MM/YYYY "
        "(%d/%m/%Y)")


def test_bad_date_format_option_is_named(tmp_path):
    path = _write(tmp_path / "d.csv", ["2010-01-01"])
    with pytest.raises(DataError) as info:
        _generic(path, date_format="DD/MM")
    assert info.value.lines == [
        "options: setting 'date_format' (--date-format): 'DD/MM' does not name a year, a "
        "month and a day"]
    with pytest.raises(ParameterError, match="parameter 'date-format'"):
        ingest_file("nypd-shootings", path, date_format="DD/MM")


def test_mixed_forms_in_one_column(tmp_path):
    dates = (_days("2019-01-01", "2019-01-31", "%Y-%m-%d")
             + _days("2019-02-01", "2019-02-28", "%-m/%-d/%y")
             + [str((d - pd.Timestamp("1899-12-30")).days)
                for d in pd.date_range("2019-03-01", "2019-03-31")])
    assert _generic(_write(tmp_path / "m.csv", dates)).to_dict() == {
        "2019-01": 31, "2019-02": 28, "2019-03": 31}


def spreadsheet_saved(raw: Path, target: Path) -> Path:
    """The file as Excel re-saves it: BOM, M/D/YY dates, LF line ends, no final newline,
    rows in another order."""
    lines = gzip.decompress(raw.read_bytes()).decode("utf-8").splitlines()
    header, rows = lines[0], lines[1:]
    random.Random(14).shuffle(rows)
    out = []
    for row in rows:
        fields = row.split(",")
        month, day, year = fields[1].split("/")
        fields[1] = f"{int(month)}/{int(day)}/{year[2:]}"
        out.append(",".join(fields))
    target.write_bytes(b"\xef\xbb\xbf" + "\n".join([header, *out]).encode("utf-8"))
    return target


def test_spreadsheet_saved_nypd_export_gives_the_same_counts(tmp_path):
    saved = spreadsheet_saved(NYPD_RAW, tmp_path / "NYPD_Shooting_Incident_Data.csv")
    text = saved.read_bytes()
    assert text.startswith(b"\xef\xbb\xbf") and b"\r\n" not in text and not text.endswith(b"\n")
    assert b",8/27/06," in text or b",1/1/06," in text
    original = ingest_file("nypd-shootings", NYPD_RAW)
    resaved = ingest_file("nypd-shootings", saved)
    pd.testing.assert_frame_equal(resaved.outcomes, original.outcomes)
    assert resaved.notes == original.notes


def test_aggregate_tables_use_the_same_reader(tmp_path):
    rtci = Path(__file__).parent / "fixtures" / "ingest" / "rtci_agencies.csv.gz"
    lines = gzip.decompress(rtci.read_bytes()).decode("utf-8").splitlines()
    resaved = [lines[0]]
    for line in lines[1:]:
        iso, rest = line.split(",", 1)
        year, month, day = iso.split("-")
        resaved.append(f"{int(month)}/{int(day)}/{year[2:]},{rest}")
    path = tmp_path / "rtci.csv"
    path.write_text("\n".join(resaved), encoding="utf-8")
    pd.testing.assert_frame_equal(ingest_file("rtci", path).outcomes,
                                  ingest_file("rtci", rtci).outcomes)
    day_first = [resaved[0]]
    for line in resaved[1:]:
        date, rest = line.split(",", 1)
        month, day, year = date.split("/")
        day_first.append(f"{day}/{month}/{year},{rest}")
    resaved[3] = "13/01/19," + resaved[3].split(",", 1)[1]
    path.write_text("\n".join(resaved), encoding="utf-8")
    with pytest.raises(DataError) as info:
        ingest_file("rtci", path)
    assert str(info.value.problems[0]) == (
        f"{path}, row 4, column 'date': cannot read date '13/01/19': the first number is above "
        "12, so this file writes the day first; give the date format DD/MM/YY (--date-format, "
        "or date_format in a mapping)")
    path.write_text("\n".join(day_first), encoding="utf-8")
    pd.testing.assert_frame_equal(ingest_file("rtci", path, date_format="DD/MM/YY").outcomes,
                                  ingest_file("rtci", rtci).outcomes)
