"""costs.csv and unit_costs.csv: validated like every table (file, row, column), written by init."""

from __future__ import annotations

from pathlib import Path

import pytest

from impactbook.errors import DataError
from impactbook.workbook import load_workbook, validate_workbook
from impactbook.workbook.costs import cpi_u, default_unit_costs
from impactbook.workbook.starter import init_workbook

from .workbooks import build_workbook, monthly_rows

REPO = Path(__file__).resolve().parents[1]
HEADER = "programme,start,end,amount,currency,price_year,source,confidence,notes\n"


def _workbook(tmp_path: Path, costs: str | None = None, unit_costs: str | None = None) -> Path:
    return build_workbook(
        tmp_path / "wb", monthly_rows("Springfield", "District 1", "shootings", 2014, [20] * 48),
        "spr-cv,Springfield,Cure Violence,Springfield CV,District 1,2016-01,shootings\n"
        "spr-gvi,Springfield,Group Violence Intervention,Springfield GVI,District 1,2016-06,"
        "shootings\n",
        news="", funders="", costs=costs, unit_costs=unit_costs)


def _problems(folder: Path) -> list[tuple[str, int | None, str | None, str]]:
    with pytest.raises(DataError) as info:
        validate_workbook(folder)
    return [(p.file, p.row, p.column, p.message) for p in info.value.problems]


def test_valid_costs_load_with_their_months(tmp_path):
    folder = _workbook(tmp_path, "spr-cv,2015-07,2016-06,1200000,USD,2016,budget,V,\n"
                                 "spr-cv,2016-Q3,2016-Q4,600000,USD,2016,budget,P,\n"
                                 "spr-gvi,2016-01,2016-12,500000,EUR,2016,,,\n")
    assert validate_workbook(folder) == []
    costs = load_workbook(folder).costs
    assert list(costs["first_month"]) == ["2015-07", "2016-07", "2016-01"]
    assert list(costs["last_month"]) == ["2016-06", "2016-12", "2016-12"]  # a quarter's months
    assert list(costs["amount"]) == [1_200_000.0, 600_000.0, 500_000.0]


def test_each_bad_cost_is_named_by_file_row_and_column(tmp_path):
    folder = _workbook(tmp_path, (
        "spr-cv,2015-07,2016-06,-5,USD,2016,,,\n"            # row 2: negative amount
        "spr-cv,2016-01,2016-12,100,USD,2016,,,\n"           # row 3: overlaps row 2
        "spr-gvi,2016-01,2016-12,100,USX,2016,,,\n"          # row 4: unknown currency
        "nobody,2016-01,2016-12,100,USD,2016,,,\n"           # row 5: unknown programme
        "spr-gvi,2017-01,2017-12,1 000,USD,2017,,,\n"        # row 6: not a plain number
        "spr-xyz,2016-01,2015-12,100,USD,2016,,X,\n"         # row 7: backwards, confidence
        "spr-cv,2017-01,2017-12,100,USD,1999,,,\n"))         # row 8: no CPI-U for 1999
    problems = _problems(folder)
    where = {(row, column) for file, row, column, _ in problems if file == "costs.csv"}
    assert {(2, "amount"), (3, "start"), (4, "currency"), (5, "programme"), (6, "amount"),
            (7, "end"), (7, "confidence"), (7, "programme"), (8, "price_year")} <= where
    text = "\n".join(message for *_, message in problems)
    assert "2016-01 to 2016-12 overlaps the period of row 2 (to 2016-06)" in text
    assert "unknown currency 'USX'" in text
    assert "programme 'nobody' is not an id of interventions.csv" in text
    assert "no CPI-U annual average is shipped for 1999" in text


def test_mixed_currencies_and_unconvertible_price_years_are_refused(tmp_path):
    folder = _workbook(tmp_path, "spr-cv,2015-01,2015-12,100,USD,2015,,,\n"
                                 "spr-cv,2016-01,2016-12,100,EUR,2016,,,\n"
                                 "spr-gvi,2015-01,2015-12,100,GBP,2015,,,\n"
                                 "spr-gvi,2016-01,2016-12,100,GBP,2016,,,\n")
    problems = _problems(folder)
    assert ("costs.csv", 3, "currency",
            "programme 'spr-cv' mixes currencies (USD, EUR); expected one currency per "
            "programme (no exchange rates are applied)") in problems
    assert any(row == 5 and column == "price_year" and "only USD is converted" in message
               for _, row, column, message in problems)


def test_unit_costs_are_checked(tmp_path):
    folder = _workbook(tmp_path, unit_costs=("shootings,0,USD,2008,,,\n"
                                             "shootings,5,usd,2008,,,\n"
                                             "homicides,1e6,USD,twenty,,,P\n"))
    where = {(row, column) for file, row, column, _ in _problems(folder)
             if file == "unit_costs.csv"}
    assert where == {(2, "cost_per_event"), (3, "outcome"), (3, "currency"), (4, "price_year")}


def test_shipped_reference_data_pass_the_same_rules():
    defaults = default_unit_costs()
    assert set(defaults["outcome"]) == {"homicides", "murders", "aggravated assaults",
                                        "shootings", "shooting victims"}
    assert set(defaults["confidence"]) == {"P"}  # none is verified against the table itself
    murder = defaults.set_index("outcome").loc["homicides"]
    assert (murder["cost_per_event"], murder["price_year"]) == (8_982_907.0, 2008)
    cpi = cpi_u()
    assert sorted(cpi) == list(range(2000, 2025))
    assert (cpi[2008], cpi[2024]) == (215.303, 313.689)


def test_nyc_cms_budget_is_the_default_workbooks_costs(tmp_path):
    """The default workbook's costs.csv is New York's CMS budget, FY13-FY23, as transcribed."""
    costs = load_workbook(REPO / "data").costs
    assert set(costs["programme"]) == {"nyc-cms"}
    assert len(costs) == 11 and costs["amount"].sum() == 409_951_771
    assert (costs.iloc[0]["first_month"], costs.iloc[-1]["last_month"]) == ("2012-07", "2023-06")


def test_init_writes_a_header_only_costs_table_that_validates(tmp_path):
    folder = tmp_path / "new"
    init_workbook(folder)
    assert (folder / "costs.csv").read_text() == HEADER
    assert not (folder / "unit_costs.csv").exists()  # the shipped defaults apply
    assert "## unit_costs.csv" in (folder / "README.md").read_text()
    assert load_workbook(folder).costs.empty
