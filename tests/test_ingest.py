"""Ingest: raw incident lists and agency tables -> outcome counts, on slices of the real files.

Fixtures in tests/fixtures/ingest/ are byte-exact row slices of data/raw (make_fixtures.py).
Each count is checked against an independent pandas count on the same slice.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd
import pytest

from impactbook.errors import DataError, ParameterError
from impactbook.ingest.default_workbook import build_outcomes_text
from impactbook.ingest.sources import (
    OUTCOME_COLUMNS,
    IngestResult,
    ingest_file,
    merge_outcomes,
    read_outcomes,
    write_outcomes,
)

FIXTURES = Path(__file__).parent / "fixtures" / "ingest"
REPO = Path(__file__).resolve().parents[1]
CHICAGO = FIXTURES / "chicago_2023.csv.gz"
NYPD = FIXTURES / "nypd_2019q4.csv.gz"
PHILLY = FIXTURES / "philadelphia_2022_12.csv.gz"
RTCI = FIXTURES / "rtci_agencies.csv.gz"
SEATTLE = FIXTURES / "seattle_dmi_blocks.csv.gz"


def series(frame: pd.DataFrame, outcome: str, area: str = "citywide") -> pd.Series:
    rows = frame[(frame["outcome"] == outcome) & (frame["area"] == area)]
    return rows.set_index("period")["count"]


def write_gz(path: Path, text: str) -> Path:
    path.write_bytes(gzip.compress(text.encode("utf-8")))
    return path


def raw_lines(path: Path) -> list[str]:
    return gzip.decompress(path.read_bytes()).decode("utf-8").splitlines(keepends=True)


# --- Chicago ---------------------------------------------------------------------------------

def test_chicago_counts_victims_per_month_and_district():
    result = ingest_file("chicago-homicides", CHICAGO)
    assert isinstance(result, IngestResult)
    out = result.outcomes
    assert list(out.columns) == OUTCOME_COLUMNS
    assert out["count"].dtype == "int64"
    raw = pd.read_csv(CHICAGO)
    month = pd.to_datetime(raw["Date"], format="%m/%d/%Y %I:%M:%S %p").dt.strftime("%Y-%m")
    expected = raw.groupby(month).size()
    got = series(out, "homicides")
    assert got.to_dict() == expected.drop("2023-07").to_dict()
    # IDs written as floats (17.0) become "District 17", never "District 17.0".
    assert "District 17" in set(out["area"])
    assert not out["area"].str.contains(r"\.").any()
    by_district = raw.assign(month=month).groupby(["District", "month"]).size()
    expected_d11 = by_district.get((11.0, "2023-05"), 0)
    assert series(out, "homicides", "District 11")["2023-05"] == expected_d11


def test_chicago_partial_last_month_is_dropped_and_noted():
    result = ingest_file("chicago-homicides", CHICAGO)
    assert "2023-07" not in set(result.outcomes["period"])
    assert ("dropped 2023-07 for Chicago: last incident 2023-07-19, month incomplete."
            in result.notes)


def test_chicago_blank_district_counts_citywide_only(tmp_path):
    lines = raw_lines(CHICAGO)
    header = lines[0].rstrip("\r\n").split(",")
    col = header.index("District")
    for i in (1, 2):  # both rows are in 2023-06 (the file is newest first)
        fields = lines[i].split(",")
        fields[col] = ""
        lines[i] = ",".join(fields)
    path = write_gz(tmp_path / "chicago.csv.gz", "".join(lines))
    blanked = ingest_file("chicago-homicides", path)
    original = ingest_file("chicago-homicides", CHICAGO)
    assert series(blanked.outcomes, "homicides").equals(series(original.outcomes, "homicides"))
    districts = blanked.outcomes[blanked.outcomes["area"] != "citywide"]
    citywide_total = series(blanked.outcomes, "homicides").sum()
    assert districts["count"].sum() == citywide_total - 2
    assert any("2 rows with a blank 'District' are counted citywide only" in n
               for n in blanked.notes)


# --- NYPD ------------------------------------------------------------------------------------

def test_nypd_incidents_are_unique_keys_and_victims_are_rows():
    assert b"\r\n" in gzip.decompress(NYPD.read_bytes())[:2000]  # the real file's CRLF
    out = ingest_file("nypd-shootings", NYPD).outcomes
    raw = pd.read_csv(NYPD)
    month = pd.to_datetime(raw["OCCUR_DATE"], format="%m/%d/%Y").dt.strftime("%Y-%m")
    incidents = raw.groupby(month)["INCIDENT_KEY"].nunique()
    assert series(out, "shootings").to_dict() == incidents.to_dict()
    assert series(out, "shooting victims").to_dict() == raw.groupby(month).size().to_dict()
    assert (series(out, "shootings") < series(out, "shooting victims")).any()
    per_precinct = raw.assign(month=month).groupby(["PRECINCT", "month"])["INCIDENT_KEY"].nunique()
    got = series(out, "shootings", "Precinct 75")
    for period in ("2019-10", "2019-11", "2019-12"):
        assert got[period] == per_precinct.get((75, period), 0)


def test_incident_list_months_without_rows_are_zero_for_every_area():
    out = ingest_file("nypd-shootings", NYPD).outcomes
    periods = sorted(out["period"].unique())
    assert periods == ["2019-10", "2019-11", "2019-12"]
    per_area = out.groupby(["outcome", "area"])["period"].nunique()
    assert (per_area == 3).all()
    assert (out["count"] == 0).any()


def test_an_area_silent_for_years_at_an_edge_is_missing_not_zero(tmp_path):
    """NYPD's 121st precinct opened in 2013: before its first event it had no data at all."""
    header = gzip.decompress(NYPD.read_bytes()).decode().splitlines()[0]
    lines = [header]
    key = 1
    for year in range(2010, 2014):
        for month in range(1, 13):
            for day in (1, 15, 28):  # Precinct 120: 3 a month, every month, edge to edge
                lines.append(f"{key},{month:02d}/{day:02d}/{year},12:00:00,STATEN ISLAND,120,"
                             + "," * 13)
                key += 1
            if year >= 2012:  # Precinct 121 appears in 2012, 2 a month
                for _ in range(2):
                    lines.append(f"{key},{month:02d}/10/{year},12:00:00,STATEN ISLAND,121,"
                                 + "," * 13)
                    key += 1
    path = write_gz(tmp_path / "nypd.csv.gz", "\r\n".join(lines) + "\r\n")
    result = ingest_file("nypd-shootings", path)
    p121 = series(result.outcomes, "shootings", "Precinct 121")
    assert list(p121.index) == [f"{y}-{m:02d}" for y in (2012, 2013) for m in range(1, 13)]
    assert (p121 == 2).all()
    assert len(series(result.outcomes, "shootings", "Precinct 120")) == 48
    assert any("Precinct 121 has no events before 2012-01" in n and "missing" in n
               for n in result.notes)


# --- Philadelphia ----------------------------------------------------------------------------

def test_philadelphia_uses_date_not_year_and_counts_dc_keys():
    result = ingest_file("philadelphia-shootings", PHILLY)
    out = result.outcomes
    raw = pd.read_csv(PHILLY)
    assert raw["date_"].str.endswith("+00").all()
    dates = pd.to_datetime(raw["date_"].str.slice(0, 10))
    month = dates.dt.strftime("%Y-%m")
    assert (dates.dt.year != raw["year"]).sum() == 1
    assert any("1 rows have a 'year' that disagrees" in n for n in result.notes)
    assert series(out, "shootings")["2022-12"] == raw[month == "2022-12"]["dc_key"].nunique()
    assert series(out, "shooting victims")["2022-12"] == (month == "2022-12").sum()
    assert "District 12" in set(out["area"])
    # Data end 2023-01-20: January is partial and dropped.
    assert set(out["period"]) == {"2022-12"}
    assert any(n.startswith("dropped 2023-01 for Philadelphia: last incident 2023-01-20")
               for n in result.notes)


# --- RTCI ------------------------------------------------------------------------------------

def test_rtci_counts_and_city_names():
    out = ingest_file("rtci", RTCI).outcomes
    raw = pd.read_csv(RTCI)
    baltimore = raw[raw["agency_name"] == "Baltimore"]
    expected = dict(zip(baltimore["date"].str.slice(0, 7), baltimore["murder"], strict=True))
    assert series(out[out["city"] == "Baltimore"], "murders").to_dict() == expected
    cities = set(out["city"])
    assert {"Newark, New Jersey", "Newark, Ohio", "Lee's Summit", "Escondido"} <= cities
    assert "Full Sample" not in cities and "Full Sample, Nationwide" not in cities
    assert set(out["area"]) == {"citywide"}


def test_rtci_negative_and_na_counts_are_missing_and_reported():
    result = ingest_file("rtci", RTCI)
    out = result.outcomes
    escondido = series(out[out["city"] == "Escondido"], "murders")
    assert "2019-02" not in escondido.index and "2022-04" not in escondido.index
    assert "2019-03" in escondido.index
    assert any("Escondido in 2019-02 is -1" in n for n in result.notes)
    assert any("2 negative murders counts reported as missing" in n for n in result.notes)
    lamesa = series(out[out["city"] == "La Mesa"], "aggravated assaults")
    assert "2019-04" not in lamesa.index
    raw = pd.read_csv(RTCI, keep_default_na=False, dtype=str)
    kettering_na = raw[(raw["agency_name"] == "Kettering") & (raw["murder"] == "NA")]
    kettering = series(out[out["city"] == "Kettering"], "murders")
    assert len(kettering_na) > 0
    assert not set(kettering_na["date"].str.slice(0, 7)) & set(kettering.index)
    assert len(kettering) == (raw["agency_name"] == "Kettering").sum() - len(kettering_na)
    assert any(n.startswith("rtci: murders for Kettering is NA in") for n in result.notes)
    assert (out["count"] >= 0).all()


def test_rtci_missing_rows_stay_missing(tmp_path):
    lines = raw_lines(RTCI)
    kept = [line for line in lines if not line.startswith('2019-05-01,"Baltimore"')]
    assert len(kept) == len(lines) - 1
    out = ingest_file("rtci", write_gz(tmp_path / "rtci.csv.gz", "".join(kept))).outcomes
    baltimore = series(out[out["city"] == "Baltimore"], "murders")
    assert "2019-05" not in baltimore.index  # no zero filled in
    assert {"2019-04", "2019-06"} <= set(baltimore.index)


def test_rtci_agency_filter():
    out = ingest_file("rtci", RTCI, agencies=["Baltimore", "Newark, Ohio"]).outcomes
    assert set(out["city"]) == {"Baltimore", "Newark, Ohio"}
    with pytest.raises(DataError, match="agency 'Baltimor' not in the file"):
        ingest_file("rtci", RTCI, agencies=["Baltimor"])


# --- Seattle ---------------------------------------------------------------------------------

def test_seattle_quarters_areas_and_population():
    result = ingest_file("seattle-dmi", SEATTLE)
    out = result.outcomes
    assert list(out.columns) == [*OUTCOME_COLUMNS, "population"]
    raw = pd.read_csv(SEATTLE)
    treated = raw.groupby("ID")["Intervention"].max() == 1
    assert treated.sum() == 39
    is_dmi = raw["ID"].isin(treated[treated].index)
    drugs = series(out, "drug offenses", "DMI blocks")
    assert drugs["2013-Q1"] == raw[is_dmi & (raw["time"] == 13)]["i_drugs"].sum()
    assert drugs["2010-Q1"] == raw[is_dmi & (raw["time"] == 1)]["i_drugs"].sum()
    assert sorted(out["period"].unique())[-1] == "2013-Q4"
    assert len(out["period"].unique()) == 16
    felony = out[(out["outcome"] == "felony offenses") & (out["period"] == "2012-Q2")]
    by_area = felony.set_index("area")["count"]
    assert by_area["citywide"] == by_area["DMI blocks"] + by_area["Rest of Seattle"]
    pop = out[(out["area"] == "DMI blocks")]["population"].unique()
    assert list(pop) == [raw[is_dmi & (raw["time"] == 1)]["TotalPop"].sum()]
    assert any("time 13 = 2013-Q1" in n and "ASSUMPTION" in n for n in result.notes)


# --- bad input -------------------------------------------------------------------------------

def test_html_page_saved_as_csv_is_recognised(tmp_path):
    page = tmp_path / "shootings.csv"
    page.write_text("<!DOCTYPE html>\n<html><head><title>GitHub</title></head></html>\n")
    with pytest.raises(DataError, match="HTML web page") as info:
        ingest_file("nypd-shootings", page)
    assert info.value.problems[0].file == str(page)


def test_git_lfs_pointer_is_recognised(tmp_path):
    pointer = tmp_path / "homicides.csv"
    pointer.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 12\n")
    with pytest.raises(DataError, match="Git LFS pointer"):
        ingest_file("chicago-homicides", pointer)


def test_missing_column_names_file_and_column(tmp_path):
    lines = raw_lines(NYPD)
    lines[0] = lines[0].replace("PRECINCT", "PCT")
    path = write_gz(tmp_path / "nypd.csv.gz", "".join(lines))
    with pytest.raises(DataError) as info:
        ingest_file("nypd-shootings", path)
    problem = info.value.problems[0]
    assert problem.file == str(path) and problem.column == "PRECINCT" and problem.row == 1
    assert "needs columns OCCUR_DATE, INCIDENT_KEY, PRECINCT" in problem.message


def test_unreadable_date_names_the_row(tmp_path):
    lines = raw_lines(NYPD)
    lines[5] = lines[5].replace(lines[5].split(",")[1], "13/45/2019", 1)
    path = write_gz(tmp_path / "nypd.csv.gz", "".join(lines))
    with pytest.raises(DataError) as info:
        ingest_file("nypd-shootings", path)
    problem = info.value.problems[0]
    assert (problem.row, problem.column) == (6, "OCCUR_DATE")
    assert "13/45/2019" in problem.message


def test_empty_and_missing_files(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataError, match="empty"):
        ingest_file("chicago-homicides", empty)
    with pytest.raises(DataError, match="not found"):
        ingest_file("chicago-homicides", tmp_path / "nope.csv")
    with pytest.raises(ParameterError):
        ingest_file("boston", CHICAGO)


# --- generic ---------------------------------------------------------------------------------

def test_generic_mapping_reproduces_a_named_source(tmp_path):
    mapping = tmp_path / "nypd.json"
    mapping.write_text(json.dumps({
        "city": "New York", "outcome": "shootings", "rows_outcome": "shooting victims",
        "date_column": "OCCUR_DATE", "date_format": "%m/%d/%Y", "key_column": "INCIDENT_KEY",
        "area_column": "PRECINCT", "area_prefix": "Precinct "}))
    generic = ingest_file("generic", NYPD, mapping=mapping).outcomes
    named = ingest_file("nypd-shootings", NYPD).outcomes
    pd.testing.assert_frame_equal(generic, named)


def test_generic_toml_mapping_with_filter_and_quarters(tmp_path):
    mapping = tmp_path / "bronx.toml"
    mapping.write_text('city = "New York"\noutcome = "bronx shooting victims"\n'
                       'date_column = "OCCUR_DATE"\ndate_format = "%m/%d/%Y"\n'
                       'filter_column = "BORO"\nfilter_value = "BRONX"\nfrequency = "quarterly"\n'
                       "partial_tolerance_days = 7\n")
    result = ingest_file("generic", NYPD, mapping=mapping)
    raw = pd.read_csv(NYPD)
    assert series(result.outcomes, "bronx shooting victims").to_dict() == {
        "2019-Q4": int((raw["BORO"] == "BRONX").sum())}
    assert any("excluded by the filter BORO" in n for n in result.notes)


def test_generic_mapping_errors(tmp_path):
    mapping = tmp_path / "bad.json"
    mapping.write_text(json.dumps({"city": "X", "outcome": "y", "date_colum": "d"}))
    with pytest.raises(DataError) as info:
        ingest_file("generic", NYPD, mapping=mapping)
    messages = " ".join(info.value.lines)
    assert "missing setting 'date_column'" in messages
    assert "unknown setting 'date_colum'" in messages


# --- merge and write -------------------------------------------------------------------------

def test_merge_replaces_whole_series_and_sorts(tmp_path):
    old = pd.DataFrame({"city": ["New York"] * 3 + ["Chicago"], "area": ["citywide"] * 4,
                        "outcome": ["shootings"] * 3 + ["homicides"],
                        "period": ["2019-09", "2019-10", "2019-11", "2001-01"],
                        "count": [1, 2, 3, 4]})
    new = ingest_file("nypd-shootings", NYPD).outcomes
    merged = merge_outcomes(old, new)
    ny = series(merged[merged["city"] == "New York"], "shootings")
    assert "2019-09" not in ny.index  # replaced whole, no stale rows
    assert ny.equals(series(new, "shootings"))
    assert merged.iloc[0]["city"] == "Chicago"
    assert merge_outcomes(merged.sample(frac=1, random_state=1), new).equals(merged)
    areas = merged[merged["city"] == "New York"]["area"].drop_duplicates().tolist()
    numbers = [int(a.split()[1]) for a in areas[1:]]
    assert areas[0] == "citywide" and numbers == sorted(numbers) and len(numbers) > 10
    path = write_outcomes(tmp_path, merged)
    assert path == tmp_path / "outcomes.csv"
    back = read_outcomes(tmp_path)
    assert (back[OUTCOME_COLUMNS].astype(str).values.tolist()
            == merged[OUTCOME_COLUMNS].astype(str).values.tolist())


def test_merge_refuses_mixed_frequencies_in_a_city():
    monthly = ingest_file("seattle-dmi", SEATTLE).outcomes.head(2).assign(
        outcome="x", period=["2013-01", "2013-02"])
    with pytest.raises(DataError, match="mix monthly and quarterly"):
        merge_outcomes(ingest_file("seattle-dmi", SEATTLE).outcomes, monthly)


# --- the committed default workbook ----------------------------------------------------------

def test_committed_outcomes_equal_the_build_from_raw():
    csv_text, notes_text = build_outcomes_text(REPO / "data" / "raw")
    assert (REPO / "data" / "outcomes.csv").read_text(encoding="utf-8") == csv_text
    assert (REPO / "data" / "raw" / "INGEST_NOTES.txt").read_text(encoding="utf-8") == notes_text


def test_committed_block_tables_equal_the_build_from_raw():
    from impactbook.ingest.sources import unit_tables_text

    raw = REPO / "data" / "raw" / "seattle_dmi_microsynth_block_quarter.csv.gz"
    tables = unit_tables_text("seattle-dmi", raw)
    for name in ("areas.csv", "unit_outcomes.csv"):
        assert (REPO / "data" / name).read_text(encoding="utf-8") == tables[name], name
    areas = tables["areas.csv"].splitlines()
    assert len(areas) == 1 + 9642 and sum(",DMI blocks," in a for a in areas) == 39


def test_ingest_into_workbook_merges_and_dry_run_writes_nothing(tmp_path):
    from impactbook.ingest.sources import ingest_into_workbook

    dry = ingest_into_workbook("nypd-shootings", NYPD, tmp_path, dry_run=True)
    assert not (tmp_path / "outcomes.csv").exists() and not dry.written
    first = ingest_into_workbook("nypd-shootings", NYPD, tmp_path)
    assert first.rows_replaced == 0 and first.rows_total == first.rows_new
    ingest_into_workbook("rtci", RTCI, tmp_path, agencies=["Baltimore"])
    again = ingest_into_workbook("nypd-shootings", NYPD, tmp_path)
    assert again.rows_replaced == again.rows_new
    back = read_outcomes(tmp_path)
    assert set(back["city"]) == {"New York", "Baltimore"}
    assert "New York" in again.describe() and "rows" in again.describe()


@pytest.mark.parametrize("source, fixture", [("nypd-shootings", NYPD), ("rtci", RTCI)])
def test_ragged_row_is_located(tmp_path, source, fixture):
    lines = raw_lines(fixture)
    lines[3] = lines[3].rstrip("\r\n") + ",surplus,fields\n"
    path = write_gz(tmp_path / "ragged.csv.gz", "".join(lines))
    with pytest.raises(DataError) as info:
        ingest_file(source, path)
    assert info.value.problems[0].row == 4
    assert "fields, the header has" in info.value.problems[0].message


def test_ingest_seattle_writes_the_block_tables(tmp_path):
    from impactbook.ingest.sources import ingest_into_workbook

    raw = REPO / "data" / "raw" / "seattle_dmi_microsynth_block_quarter.csv.gz"
    summary = ingest_into_workbook("seattle-dmi", raw, tmp_path)
    assert summary.written and (tmp_path / "outcomes.csv").exists()
    areas = pd.read_csv(tmp_path / "areas.csv")
    assert list(areas.columns[:4]) == ["city", "area", "population", "within"]
    assert len(areas) == 9642 and (areas["within"] == "DMI blocks").sum() == 39
    units = pd.read_csv(tmp_path / "unit_outcomes.csv", nrows=5)
    assert list(units.columns) == ["city", "area", "outcome", "period", "count"]
