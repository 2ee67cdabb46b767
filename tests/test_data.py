from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from impactbook.errors import DataError, ParameterError
from impactbook.workbook import load_workbook, select_series, split_list, validate_workbook

from .workbooks import build_workbook, monthly_rows, write_workbook


def test_tiny_workbook_loads_with_types(tiny_workbook):
    wb = load_workbook(tiny_workbook)
    assert wb.cities == ["Springfield"]
    assert wb.outcomes["count"].dtype == "int64"
    assert set(wb.outcomes["freq"]) == {"M"}
    assert wb.programme_cities == ["Springfield"]
    assert validate_workbook(tiny_workbook) == []


def test_select_series_keeps_gaps_missing(tiny_workbook):
    path = tiny_workbook / "outcomes.csv"
    lines = path.read_text().splitlines()
    # Drop 2015-03 of the citywide series: it must come back as NaN, not 0.
    kept = [line for line in lines if "citywide,shootings,2015-03" not in line]
    path.write_text("\n".join(kept) + "\n")
    series = select_series(load_workbook(tiny_workbook).outcomes, "Springfield", "citywide",
                           "shootings")
    assert len(series) == 48
    assert pd.isna(series.loc[pd.Period("2015-03", "M"), "count"])
    assert series.loc[pd.Period("2015-04", "M"), "count"] == 13


def test_select_series_unknown_names_say_what_exists(tiny_workbook):
    outcomes = load_workbook(tiny_workbook).outcomes
    with pytest.raises(ParameterError, match="'Shelbyville'.*Springfield"):
        select_series(outcomes, "Shelbyville", "citywide", "shootings")
    with pytest.raises(ParameterError, match="outcome.*homicides.*shootings"):
        select_series(outcomes, "Springfield", "citywide", "homicides")


def test_every_problem_reported_with_file_row_column(tmp_path):
    folder = write_workbook(
        tmp_path / "bad",
        outcomes=("city,area,outcome,period,count\n"
                  "Springfield,citywide,shootings,2015-01,4\n"
                  "Springfield,citywide,shootings,2015-13,4\n"
                  "Springfield,citywide,shootings,2015-02,-1\n"
                  "Springfield,citywide,shootings,2015-03,2.5\n"
                  "Springfield,citywide,shootings,2015-04,NA\n"
                  "Springfield,citywide,shootings,2015-01,3\n"
                  "Springfield,citywide,shootings,2015-Q2,3\n"),
        tags="tag,kind\nGVI,intervention\nX,planet\n",
    )
    with pytest.raises(DataError) as info:
        load_workbook(folder)
    lines = info.value.lines
    expected = [
        ("outcomes.csv, row 3, column 'period'", "not 01-12"),
        ("outcomes.csv, row 4, column 'count'", "negative count -1"),
        ("outcomes.csv, row 5, column 'count'", "fractional count 2.5"),
        ("outcomes.csv, row 6, column 'count'", "missing count 'NA'"),
        ("outcomes.csv, row 7, column 'period'", "duplicate row"),
        ("outcomes.csv, row 8, column 'period'", "mixes monthly"),
        ("tags.csv, row 3, column 'kind'", "unknown kind 'planet'"),
    ]
    for where, what in expected:
        assert any(x.startswith(where) and what in x for x in lines), (where, what, lines)


def test_intervention_references_checked(tiny_workbook):
    (tiny_workbook / "interventions.csv").write_text(
        "id,city,intervention,programme,area,start,outcomes,comparison_areas\n"
        "a,Springfield,Ceasefire,P,District 9,2017-01,homicides,District 1\n"
        "b,Shelbyville,Group Violence Intervention,P,citywide,2017-01,shootings,\n"
        "c,Springfield,Group Violence Intervention,P,citywide,2030-01,shootings,\n")
    with pytest.raises(DataError) as info:
        load_workbook(tiny_workbook)
    text = str(info.value)
    assert "row 2, column 'intervention': intervention type 'Ceasefire'" in text
    assert "row 2, column 'area': area 'District 9' has no data" in text
    assert "row 2, column 'outcomes': outcome 'homicides' has no data" in text
    assert "row 3, column 'city': city 'Shelbyville' has no rows" in text
    assert "row 4, column 'start': start '2030-01' is outside the data" in text


@pytest.mark.parametrize("content, message", [
    ("", "empty"),
    ("<!DOCTYPE html><html><body>Sign in</body></html>", "HTML"),
    ("version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 10\n", "Git LFS"),
    ("city,area,outcome,cnt\nA,b,c,1\n", "missing required column(s) 'period', 'count'"),
])
def test_files_that_are_not_tables(tmp_path, content, message):
    folder = write_workbook(tmp_path / "wb", outcomes=content)
    with pytest.raises(DataError, match="outcomes.csv") as info:
        load_workbook(folder)
    assert message in str(info.value)


def test_latin1_bytes_name_the_line(tmp_path):
    folder = tmp_path / "wb"
    folder.mkdir()
    (folder / "outcomes.csv").write_bytes(
        b"city,area,outcome,period,count\nSpringfield,citywide,shootings,2015-01,4\n"
        b"Bogot\xe1,citywide,shootings,2015-01,4\n")
    with pytest.raises(DataError,
                       match=r"outcomes.csv, row 3, column .city.: not UTF-8 text \(byte 0xe1"):
        load_workbook(folder)


def test_bom_and_crlf_are_accepted(tmp_path):
    folder = tmp_path / "wb"
    folder.mkdir()
    (folder / "outcomes.csv").write_bytes(
        b"\xef\xbb\xbfcity,area,outcome,period,count\r\nSpringfield,citywide,shootings,2015-01,4")
    wb = load_workbook(folder)
    assert list(wb.outcomes["count"]) == [4]


def test_split_list():
    assert split_list(" a; b ;;c ") == ["a", "b", "c"]
    assert split_list("") == []


def _scanned_series(outcomes: pd.DataFrame, city: str, area: str, outcome: str) -> pd.Series:
    """The series by a plain scan of the frame: the reference for the index."""
    rows = outcomes[(outcomes["city"] == city) & (outcomes["area"] == area)
                    & (outcomes["outcome"] == outcome)]
    counts = pd.Series(rows["count"].astype(float).to_numpy(),
                       index=pd.PeriodIndex([pd.Period(p, "M") for p in rows["period"]]))
    counts = counts.sort_index()
    return counts.reindex(pd.period_range(counts.index.min(), counts.index.max(), freq="M"))


def test_series_index_answers_as_a_scan_does(tmp_path):
    lines = []
    for city in ("Springfield", "Shelbyville", "Ogdenville"):
        for area in ("citywide", "District 1"):
            for offset, outcome in enumerate(("shootings", "homicides")):
                counts = [(7 * i + offset + len(city)) % 13 for i in range(30)]
                rows = monthly_rows(city, area, outcome, 2016, counts).splitlines()
                lines += [r for i, r in enumerate(rows) if i not in (4, 5, 17)]  # gaps
    # Shuffled so a series' rows are neither adjacent nor in period order.
    lines = [lines[(i * 37) % len(lines)] for i in range(len(lines))]
    assert len(set(lines)) == len(lines)
    folder = build_workbook(tmp_path / "wb", "\n".join(lines) + "\n")
    wb = load_workbook(folder)
    for city in ("Springfield", "Shelbyville", "Ogdenville"):
        assert wb.frequency(city) == "M"
        for area in ("citywide", "District 1"):
            for outcome in ("shootings", "homicides"):
                got = select_series(wb, city, area, outcome)["count"]
                want = _scanned_series(wb.outcomes, city, area, outcome)
                assert got.isna().sum() == 3
                pd.testing.assert_series_equal(got, want, check_names=False,
                                               check_freq=False)
    assert wb.index.period_span("Ogdenville") == ("2016-01", "2018-06")
    assert wb.cities == ["Ogdenville", "Shelbyville", "Springfield"]
    # A copy: changing a selected series leaves the next selection intact.
    changed = select_series(wb, "Springfield", "citywide", "shootings")
    changed.loc[:, "count"] = 0.0
    assert select_series(wb, "Springfield", "citywide", "shootings")["count"].max() > 0
    # A view with other interventions shares the index; other outcomes get their own.
    assert dataclasses.replace(wb, interventions=wb.interventions.head(0)).index is wb.index
    fewer = wb.outcomes[wb.outcomes["city"] == "Springfield"].reset_index(drop=True)
    assert dataclasses.replace(wb, outcomes=fewer).cities == ["Springfield"]
