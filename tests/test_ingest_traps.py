"""Ingest on data unlike the demo: writing targets, typed settings, names, whole numbers, stray
and ambiguous dates, sparse areas, incident keys across periods, quarterly counts."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from impactbook.cli import main
from impactbook.errors import DataError
from impactbook.ingest.sources import ingest_file, ingest_into_workbook

FIXTURES = Path(__file__).parent / "fixtures" / "ingest"
NYPD = FIXTURES / "nypd_2019q4.csv.gz"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def write_list(path: Path, rows: list[tuple], header: str = "Date,Beat,Victims") -> Path:
    path.write_text(header + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows),
                    encoding="utf-8")
    return path


def monthly_list(first_year: int, last_year: int, per_month: int = 3) -> list[tuple]:
    """A dense month-first list: ``per_month`` events a month (days 3, 17, 28 in turn)."""
    days = (3, 17, 28)
    return [(f"{m}/{days[i % 3]}/{y}", 1 + i % 2, 1)
            for y in range(first_year, last_year + 1) for m in range(1, 13)
            for i in range(per_month)]


GENERIC = {"city": "Springfield", "outcome": "shootings", "date_column": "Date"}


# --- 9. writing commands need an explicit --data --------------------------------------------

@pytest.mark.parametrize("argv", [["ingest", "nypd-shootings", str(NYPD)],
                                  ["news", "import", "items.csv"]])
def test_writing_commands_refuse_the_default_workbook(tmp_path, monkeypatch, capsys, argv):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "items.csv").write_text("date,title,url\n", encoding="utf-8")
    code, _, err = run(capsys, *argv)
    assert code == 1
    assert err.startswith("impactbook: error: parameter 'data': got None, expected the "
                          "workbook folder")
    assert "(--data DIR)" in err and err.count("\n") == 1
    assert list((tmp_path / "data").iterdir()) == []


# --- 4. the mapping is typed strictly -------------------------------------------------------

def ingest_errors(path: Path, **kwargs) -> list[str]:
    with pytest.raises(DataError) as info:
        ingest_file("generic", path, **kwargs)
    return info.value.lines


@pytest.fixture()
def incidents(tmp_path) -> Path:
    return write_list(tmp_path / "incidents.csv", monthly_list(2019, 2020))


def test_wrong_types_are_refused_not_coerced(incidents, tmp_path):
    mapping = tmp_path / "m.json"
    mapping.write_text(json.dumps({**GENERIC, "city": {"a": 1}, "strip_utc_offset": "false",
                                   "partial_tolerance_days": "7", "area_column": ["Beat"]}))
    where = str(mapping)
    assert ingest_errors(incidents, mapping=mapping) == [
        f"{where}: setting 'city' (--city): got {{'a': 1}} (object), expected a text",
        f"{where}: setting 'area_column' (--area-column): got ['Beat'] (list), expected a text",
        f"{where}: setting 'partial_tolerance_days': got '7' (text), expected a whole number "
        "of days from 0 to 366",
        f"{where}: setting 'strip_utc_offset': got 'false' (text), expected true or false "
        "(not in quotes)"]


@pytest.mark.parametrize("name, content, message", [
    ("list.json", b'[{"city": "S"}]', 'expected an object of settings ({"city": ...}), got a list'),
    ("latin1.toml", b'city = "Caf\xe9"\n', "not UTF-8 text (byte 0xe9 at offset 11); save the "
                                           "TOML mapping as UTF-8"),
    ("latin1.json", b'{"city": "Caf\xe9"}', "not UTF-8 text (byte 0xe9 at offset 13); save the "
                                            "JSON mapping as UTF-8"),
    ("nan.json", b'{"city": "S", "outcome": "s", "date_column": "Date", '
                 b'"partial_tolerance_days": NaN}', "not valid JSON: NaN is not a number a "
                                                    "setting can hold"),
])
def test_unreadable_mappings_are_one_line_naming_the_file(incidents, tmp_path, capsys, name,
                                                         content, message):
    mapping = tmp_path / name
    mapping.write_bytes(content)
    code, _, err = run(capsys, "ingest", "generic", str(incidents), "--mapping", str(mapping),
                       "--data", str(tmp_path / "wb"))
    assert (code, err) == (1, f"impactbook: error: {mapping}: {message}\n")


def test_settings_model_is_immutable_and_strict():
    from pydantic import ValidationError

    from impactbook.ingest.mapping import MappingSettings

    settings = MappingSettings.model_validate({**GENERIC, "partial_tolerance_days": 5})
    with pytest.raises(ValidationError):
        settings.city = "Shelbyville"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        MappingSettings.model_validate({**GENERIC, "partial_tolerance_days": 5.5})
    with pytest.raises(ValidationError):
        MappingSettings.model_validate({**GENERIC, "strip_utc_offset": 1})


# --- 3. names pass the workbook's cell rules on the way in ----------------------------------

@pytest.mark.parametrize("settings, message", [
    ({"city": "Spring;field"}, "setting 'city' (--city): name 'Spring;field' contains ';', "
                               "which separates list items"),
    ({"city": "x" * 250}, "setting 'city' (--city): name '" + "x" * 77 + "...' is 250 "
                          "characters long; names are at most 200"),
    ({"outcome": "shoot\tings"}, "setting 'outcome' (--outcome): name 'shoot\\tings' contains "
                                 "a line break, a control character or an invisible character "
                                 "that changes how text displays (such as a right-to-left "
                                 "override)"),
])
def test_names_the_workbook_refuses_are_refused_before_writing(incidents, tmp_path, settings,
                                                               message):
    wb = tmp_path / "wb"
    with pytest.raises(DataError) as info:
        ingest_into_workbook("generic", incidents, wb, settings={**GENERIC, **settings})
    assert info.value.lines == [f"options: {message}"]
    assert not (wb / "outcomes.csv").exists()


def test_spaces_around_a_name_are_not_part_of_it(incidents, tmp_path):
    wb = tmp_path / "wb"
    ingest_into_workbook("generic", incidents, wb, settings=GENERIC)
    ingest_into_workbook("generic", incidents, wb, settings={**GENERIC, "city": "Springfield ",
                                                             "area_column": "Beat",
                                                             "area_prefix": " Beat "})
    written = pd.read_csv(wb / "outcomes.csv", dtype=str, keep_default_na=False)
    assert set(written["city"]) == {"Springfield"}
    assert set(written["area"]) == {"citywide", "Beat 1", "Beat 2"}
    assert not written.duplicated(["city", "area", "outcome", "period"]).any()
    assert validate_outcomes_only(wb) == []


def validate_outcomes_only(wb: Path) -> list[str]:
    """The workbook loader's problems with the written outcomes.csv (other tables absent)."""
    from impactbook.ingest.sources import read_outcomes

    try:
        read_outcomes(wb)
    except DataError as exc:
        return exc.lines
    return []


def test_area_names_from_the_file_are_checked_with_their_row(tmp_path):
    rows = [(d, b, 1) for d, b, _ in monthly_list(2019, 2020)]
    rows[4] = (rows[4][0], "Up;town", 1)
    path = write_list(tmp_path / "areas.csv", rows)
    assert ingest_errors(path, settings={**GENERIC, "area_column": "Beat"}) == [
        f"{path}, row 6, column 'Beat': area name 'Up;town' contains ';', which separates "
        "list items"]


# --- 2. sum-of counts plain whole numbers only ----------------------------------------------

@pytest.mark.parametrize("value", ["3.5", "1e3", "0x10", "+2"])
def test_sum_of_refuses_what_is_not_a_plain_whole_number(tmp_path, value):
    """Only digits count (``3.0``, as a spreadsheet exports a whole number, is 3)."""
    rows = monthly_list(2019, 2020)
    rows[2] = (rows[2][0], 1, " 3.0 ")
    path = write_list(tmp_path / "victims.csv", rows)
    settings = {**GENERIC, "count": ["sum-of", "Victims"]}
    out = ingest_file("generic", path, settings=settings).outcomes
    assert out.loc[(out["area"] == "citywide") & (out["period"] == "2019-01"), "count"].item() == 5
    rows[2] = (rows[2][0], 1, f'"{value}"')
    write_list(path, rows)
    assert ingest_errors(path, settings=settings) == [
        f"{path}, row 4, column 'Victims': {value!r} is not a non-negative whole number (the "
        "count to sum)"]


# --- 1. a date far from the rest of the list ------------------------------------------------

def test_a_mistyped_year_is_set_aside_and_named_not_decades_of_zeros(tmp_path):
    rows = monthly_list(2018, 2020)
    rows[40] = ("2/27/2091", 2, 1)  # 2091 for 2019 (late in the month: not a partial month)
    path = write_list(tmp_path / "incidents.csv", rows)
    result = ingest_file("generic", path, settings={**GENERIC, "area_column": "Beat"})
    periods = sorted(result.outcomes["period"].unique())
    assert (periods[0], periods[-1], len(periods)) == ("2018-01", "2020-12", 36)
    city = result.outcomes[result.outcomes["area"] == "citywide"].set_index("period")["count"]
    assert city["2019-02"] == 2 and city["2020-02"] == 3 and city.sum() == len(rows) - 1
    stray = [n for n in result.notes if "set aside" in n]
    assert stray == [f"generic: set aside 1 row(s) of {path}, column 'Date', dated more than 3 "
                     "years from any other event (the list runs 2018-01-03 to 2020-12-28; a "
                     "mistyped year?): row 42 '2/27/2091'. They are not counted; correct them "
                     "and ingest again to count them."]


def test_a_list_in_separate_stretches_is_refused(tmp_path):
    rows = monthly_list(2008, 2008) + monthly_list(2018, 2020)
    path = write_list(tmp_path / "incidents.csv", rows)
    assert ingest_errors(path, settings=GENERIC) == [
        f"{path}, column 'Date': the dates fall in stretches more than 3 years apart with no "
        "event between them: 2008-01-03..2008-12-28 (36 rows), 2018-01-03..2020-12-28 (108 "
        "rows); a list is counted over one unbroken stretch (zeros between would be "
        "invented): check the dates, or ingest each stretch from its own file"]


# --- 7. slash dates that fit both orders ----------------------------------------------------

def day_first_small_days(path: Path) -> Path:
    """A day-first list whose days are all 12 or less: it reads as month first without error."""
    rows = [(f"{day:02d}/{month:02d}/{year}", 1, 1) for year in (2019, 2020)
            for month in range(1, 13) for day in (1, 5, 12)]
    return write_list(path, rows)


def test_slash_dates_that_fit_both_orders_are_refused(tmp_path, capsys):
    path = day_first_small_days(tmp_path / "dayfirst.csv")
    code, _, err = run(capsys, "ingest", "generic", str(path), "--data", str(tmp_path / "wb"),
                       "--city", "Springfield", "--outcome", "shootings", "--date-column", "Date")
    assert code == 1
    assert err == (f"impactbook: error: {path}, row 2, column 'Date': the 72 slash dates (e.g. "
                   "'01/01/2019') fit both orders: no first number above 12 shows the day comes "
                   "first and no second number above 12 shows the month does; give the order: "
                   "--date-format MM/DD/YYYY or DD/MM/YYYY (date_format in a mapping)\n")
    assert not (tmp_path / "wb" / "outcomes.csv").exists()
    out = ingest_file("generic", path, settings=GENERIC, date_format="DD/MM/YYYY").outcomes
    # Read day first, each month has its 3 events (December 2020 ends on the 12th: partial).
    assert (out["count"] == 3).all() and list(out["period"])[::11] == ["2019-01", "2019-12",
                                                                        "2020-11"]


# --- 6. "did not exist" only where the evidence supports it ---------------------------------

def test_sparse_areas_keep_their_zeros_at_the_edges(tmp_path):
    """The rule once blanked years of every area with a single incident (and of a real
    comparison area with 15), so they fell out of the donor pool."""
    rows = [(d, "Busy", 1) for d, _, _ in monthly_list(2016, 2020)]
    rows += [(f"{m}/14/2019", f"Quiet {m}", 1) for m in range(1, 7)]  # one incident each
    rows += [(f"{m}/20/{y}", "Comparison", 1) for y, m in
             [(2018, m) for m in range(4, 13)] + [(2019, m) for m in range(1, 7)]]
    path = write_list(tmp_path / "sparse.csv", rows)
    result = ingest_file("generic", path, settings={**GENERIC, "area_column": "Beat"})
    n_periods = result.outcomes.groupby("area")["period"].nunique()
    assert (n_periods == 60).all(), n_periods.to_dict()
    assert result.outcomes.loc[result.outcomes["area"] == "Quiet 1", "count"].sum() == 1
    assert [n for n in result.notes if "evidence" in n] == [
        "generic: 7 area(s) silent for 12 months or more at an edge have fewer than 20 events "
        "(Comparison, Quiet 1, Quiet 2, Quiet 3, Quiet 4, ...): too little evidence that they "
        "did not exist, so those periods stay zeros."]
    assert not any("left missing" in n for n in result.notes)


# --- 5. one incident key in two months or two areas -----------------------------------------

def test_a_key_in_two_months_and_two_areas_is_said(tmp_path):
    rows = [(d, b, f"K{i}") for i, (d, b, _) in enumerate(monthly_list(2019, 2020))]
    rows[5] = (rows[5][0], 1, "K1")  # K1 (January, beat 2) again in February, beat 1
    rows[8] = (rows[8][0], 1, "K7")  # K7 (March, beat 2) again in March, beat 1
    path = write_list(tmp_path / "keys.csv", rows, header="Date,Beat,Case")
    result = ingest_file("generic", path, settings={**GENERIC, "area_column": "Beat",
                                                    "key_column": "Case"})
    city = result.outcomes[result.outcomes["area"] == "citywide"].set_index("period")["count"]
    assert city[["2019-01", "2019-02", "2019-03"]].tolist() == [3, 3, 2]  # K1 in both
    assert [n for n in result.notes if "incident keys" in n] == [
        "generic: incident keys ('Case') with rows in different places or times: 1 in more "
        "than one month and 2 in more than one area (e.g. 'K1', 'K7'); each is counted once "
        "in every month and area it has rows in, so a sum over them counts it more than once."]


# --- 8. quarterly counts, and a hint when monthly counts are sparse -------------------------

def test_frequency_quarter_counts_per_quarter(tmp_path, capsys):
    wb = tmp_path / "wb"
    code, _, err = run(capsys, "ingest", "nypd-shootings", str(NYPD), "--data", str(wb),
                       "--frequency", "quarter")
    assert code == 0, err
    quarterly = pd.read_csv(wb / "outcomes.csv", dtype={"period": str})
    monthly = ingest_file("nypd-shootings", NYPD).outcomes
    assert set(quarterly["period"]) == {"2019-Q4"}
    by_series = monthly.groupby(["area", "outcome"])["count"].sum()
    assert quarterly.set_index(["area", "outcome"])["count"].sort_index().equals(
        by_series.sort_index())
    code, _, err = run(capsys, "ingest", "rtci", str(FIXTURES / "rtci_agencies.csv.gz"),
                       "--data", str(wb), "--frequency", "quarter")
    assert (code, err) == (1, "impactbook: error: parameter 'frequency': got 'quarter', "
                              "expected month for source rtci: only an incident list is "
                              "counted per quarter\n")


def test_sparse_monthly_series_suggest_quarters(tmp_path):
    rows = [(d, b, 1) for d, b, _ in monthly_list(2019, 2020)]
    rows += [(f"{m}/11/{y}", 3, 1) for y in (2019, 2020) for m in (2, 7, 11)]
    path = write_list(tmp_path / "sparse.csv", rows)
    result = ingest_file("generic", path, settings={**GENERIC, "area_column": "Beat",
                                                    "area_prefix": "Beat "})
    assert [n for n in result.notes if "quarter" in n] == [
        "generic: 1 of 4 shootings series (citywide: 3.2 a month) average under 1 event a "
        "month (e.g. Beat 3 (0.25)): monthly counts that small are mostly zeros; consider "
        "--frequency quarter."]
    quarterly = ingest_file("generic", path, settings={**GENERIC, "area_column": "Beat"},
                            frequency="quarter")
    assert not any("consider --frequency" in n for n in quarterly.notes)


def test_messages_name_only_options_the_command_has(capsys):
    from impactbook.ingest.mapping import COMMAND_LINE_KEYS, MAPPING_KEYS, option_name

    with pytest.raises(SystemExit):
        main(["ingest", "--help"])
    usage = capsys.readouterr().out.split("generic settings")[0]
    for key in MAPPING_KEYS:
        assert (f"{option_name(key)} " in usage) == (key in COMMAND_LINE_KEYS), key


def test_agency_names_from_an_aggregate_table_pass_the_same_rule(tmp_path):
    import gzip

    text = gzip.decompress((FIXTURES / "rtci_agencies.csv.gz").read_bytes()).decode("utf-8")
    path = tmp_path / "rtci.csv"
    path.write_text(text.replace('"Baltimore"', '"Balti;more"'), encoding="utf-8")
    assert ingest_errors_for("rtci", path) == [
        f"{path}: city name 'Balti;more' contains ';', which separates list items"]


def ingest_errors_for(source: str, path: Path) -> list[str]:
    with pytest.raises(DataError) as info:
        ingest_file(source, path)
    return info.value.lines
