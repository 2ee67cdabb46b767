"""Value for money: every figure checked by hand on small workbooks (pro-rating by month, a
price-year conversion with CPI-U, the "no point figure" rule) and the estimate JSON's ``value``."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from impactbook.analysis import make_request, run_estimate_with_value
from impactbook.cli import main
from impactbook.effects.value import UnitCost, value_for_money, window_cost
from impactbook.report.value_section import (
    format_money,
    value_section_html,
    value_summary_line,
)
from impactbook.workbook.costs import cpi_u

from .workbooks import build_workbook, monthly_rows, write_workbook

# CPI-U annual averages (BLS CUUR0000SA0) written out here, not read from the package.
CPI_2010, CPI_2017, CPI_2018 = 218.056, 245.120, 251.107
COSTS = ("programme,start,end,amount,currency,price_year,source\n"
         "spr-cv,2016-07,2017-06,1200000,USD,2017,city budget FY17\n"
         "spr-cv,2017-07,2018-06,2400000,USD,2018,city budget FY18\n")


def _workbook(tmp_path: Path, counts: list[int], *, costs: str = COSTS,
              unit_costs: str | None = "shootings,100000,USD,2010,a test figure,test,U\n",
              areas: str = "District 1") -> Path:
    folder = build_workbook(
        tmp_path / "wb",
        monthly_rows("Springfield", "District 1", "shootings", 2014, counts)
        + monthly_rows("Springfield", "District 2", "shootings", 2014, counts),
        f"spr-cv,Springfield,Cure Violence,Springfield CV,{areas},2017-01,shootings\n",
        unit_costs=unit_costs)
    return write_workbook(folder, costs=costs)  # whole text: the tests vary its columns


def _falling() -> list[int]:
    rng = np.random.default_rng(1)
    return [int(c) for c in np.r_[rng.poisson(30, 36), rng.poisson(18, 24)]]


def _flat() -> list[int]:
    rng = np.random.default_rng(2)
    return [int(c) for c in rng.poisson(30, 60)]


def _estimate(folder: Path, **extra):
    return run_estimate_with_value(folder, make_request(
        city="Springfield", outcome="shootings", area="District 1", post_periods=12, **extra))


def test_every_figure_by_hand_with_pro_rating_and_a_price_year(tmp_path):
    estimate, value = _estimate(_workbook(tmp_path, _falling()))
    # The window is 2017-01..2017-12: half of FY17 (2017 dollars) and half of FY18 (2018
    # dollars); the total is in the latest price year, 2018.
    total = 1_200_000 * 6 / 12 * CPI_2018 / CPI_2017 + 2_400_000 * 6 / 12
    unit = 100_000 * CPI_2018 / CPI_2010
    averted, low, high = estimate.events_averted
    assert low > 0  # the interval excludes no change: every figure is given
    assert (value.window_first, value.window_last, value.window_months) == (
        "2017-01", "2017-12", 12)
    assert (value.currency, value.price_year) == ("USD", 2018)
    assert value.total_cost == pytest.approx(total, rel=1e-12)
    assert value.unit_cost_converted == pytest.approx(unit, rel=1e-12)
    assert value.break_even_events == pytest.approx(total / unit, rel=1e-12)
    assert value.cost_per_event_averted == pytest.approx(total / averted, rel=1e-12)
    assert value.cost_per_event_averted_low == pytest.approx(total / high, rel=1e-12)
    assert value.cost_per_event_averted_high == pytest.approx(total / low, rel=1e-12)
    assert value.benefit_cost_ratio == pytest.approx(averted * unit / total, rel=1e-12)
    assert value.benefit_cost_ratio_low == pytest.approx(low * unit / total, rel=1e-12)
    assert value.benefit_cost_ratio_high == pytest.approx(high * unit / total, rel=1e-12)
    assert value.reason is None and value.benefit_cost_reason is None
    assert value.unit_cost.origin == "workbook" and value.unit_cost.price_year == 2010


def test_no_point_figure_when_the_interval_includes_no_change(tmp_path):
    estimate, value = _estimate(_workbook(tmp_path, _flat()))
    averted, low, high = estimate.events_averted
    assert low < 0 < high
    assert value.cost_per_event_averted is None and value.cost_per_event_averted_low is None
    assert value.benefit_cost_ratio is None and value.benefit_cost_ratio_high is None
    assert "does not exclude no change" in value.reason
    assert value.benefit_cost_reason == value.reason
    # Break-even needs no effect estimate: it is still given.
    total = 1_200_000 / 2 * CPI_2018 / CPI_2017 + 2_400_000 / 2
    assert value.break_even_events == pytest.approx(total / (100_000 * CPI_2018 / CPI_2010))
    line = value_summary_line(value)
    assert "no cost per event averted: the 95% interval of events averted" in line
    assert "benefit-cost ratio" not in line


def test_estimate_json_carries_value_only_for_a_programme_with_costs(tmp_path, capsys):
    folder = _workbook(tmp_path, _falling())
    argv = ["estimate", "--data", str(folder), "--city", "Springfield", "--outcome",
            "shootings", "--area", "District 1", "--post-periods", "12", "--json"]
    assert main(argv) == 0
    record = json.loads(capsys.readouterr().out)
    value = record["value"]
    total = 1_200_000 / 2 * CPI_2018 / CPI_2017 + 2_400_000 / 2
    assert value["total_cost"] == pytest.approx(total, rel=1e-12)  # unrounded, as all the JSON
    assert value["window"] == {"first": "2017-01", "last": "2017-12", "months": 12}
    assert value["currency"] == "USD" and value["price_year"] == 2018
    assert value["cost_per_event_averted"] == pytest.approx(
        total / record["events_averted"], rel=1e-12)
    assert value["unit_cost"]["source"] == "test" and value["unit_cost"]["confidence"] == "U"
    assert set(value) >= {"cost_per_event_averted_low", "cost_per_event_averted_high", "reason",
                          "break_even_events", "benefit_cost_ratio", "benefit_cost_ratio_low",
                          "benefit_cost_ratio_high", "leaves_out"}
    assert main(argv[:-1]) == 0  # text output: 1,200,000 / 2 x 251.107 / 245.120 + 2,400,000 / 2
    assert capsys.readouterr().out.splitlines()[-1].startswith(
        "  value          Value for money: cost $1,814,655 (2018 USD) over 2017-01 to 2017-12;")
    (folder / "costs.csv").write_text("programme,start,end,amount,currency,price_year\n")
    assert main(argv) == 0
    assert "value" not in json.loads(capsys.readouterr().out)


def test_shipped_default_unit_cost_is_used_without_a_workbook_row(tmp_path):
    _, value = _estimate(_workbook(tmp_path, _falling(), unit_costs=None))
    assert value.unit_cost.origin == "impactbook default"
    assert value.unit_cost.cost_per_event == 107_020 and value.unit_cost.price_year == 2008
    assert value.unit_cost_converted == pytest.approx(107_020 * CPI_2018 / 215.303)


def test_a_window_without_costs_for_every_month_gives_no_total(tmp_path):
    costs = ("programme,start,end,amount,currency,price_year\n"
             "spr-cv,2016-07,2017-06,1200000,USD,2017\n")
    _, value = _estimate(_workbook(tmp_path, _falling(), costs=costs))
    assert value.total_cost is None and value.break_even_events is None
    assert value.reason.startswith("costs.csv has no amount for 6 month(s) (2017-07, 2017-08, "
                                   "2017-09 and 3 more) of the 12-month window")


def test_a_part_of_the_programme_is_charged_the_whole_system(tmp_path):
    _, value = _estimate(_workbook(tmp_path, _falling(), areas="District 1;District 2"))
    assert value.covers.startswith("the whole programme (2 areas) while the events averted are "
                                   "those of District 1 only")


def _costs_frame(currency: str, *years: int) -> pd.DataFrame:
    return pd.DataFrame({"first_month": [f"{y}-01" for y in years],
                         "last_month": [f"{y}-12" for y in years],
                         "amount": [1200.0] * len(years), "currency": currency,
                         "price_year": list(years)})


def _value(costs: pd.DataFrame, unit: UnitCost | None, averted=(10.0, 4.0, 16.0),
           first="2016-01", last="2016-12"):
    return value_for_money(costs, programme="p", outcome="shootings", window_first=first,
                           window_last=last, events_averted=averted, unit_cost=unit,
                           cpi=cpi_u(), covers="the whole programme")


def test_other_currencies_only_where_price_years_match():
    euros = _costs_frame("EUR", 2016)
    same = _value(euros, UnitCost("shootings", 600.0, "EUR", 2016))
    assert (same.total_cost, same.break_even_events, same.benefit_cost_ratio) == (
        1200.0, 2.0, 5.0)
    assert (same.benefit_cost_ratio_low, same.benefit_cost_ratio_high) == (2.0, 8.0)
    other_year = _value(euros, UnitCost("shootings", 600.0, "EUR", 2010))
    assert other_year.cost_per_event_averted == 120.0  # needs no unit cost
    assert other_year.benefit_cost_ratio is None and other_year.break_even_events is None
    assert "only USD is converted between price years" in other_year.benefit_cost_reason
    dollars = _value(euros, UnitCost("shootings", 600.0, "USD", 2016))
    assert "no exchange rate is applied" in dollars.benefit_cost_reason


def test_a_design_without_an_interval_gives_no_cost_per_event():
    value = _value(_costs_frame("USD", 2016), None, averted=(12.0, math.nan, math.nan))
    assert value.cost_per_event_averted is None
    assert "gives no 95% interval for events averted" in value.reason
    assert value.benefit_cost_reason.startswith("no social cost per event is known")


def test_the_report_part_shows_figures_with_intervals_and_caveats(tmp_path):
    _, value = _estimate(_workbook(tmp_path, _falling()))
    section = value_section_html(value)
    # The heading names the programme as interventions.csv does, not by its id.
    assert section.startswith('<section class="value-for-money"><h3>Value for money: '
                              'Springfield CV, shootings</h3>')
    assert value.to_dict()["programme"] == "spr-cv"
    for text in (format_money(value.total_cost, "USD"),
                 format_money(value.cost_per_event_averted_low, "USD"),
                 format_money(value.cost_per_event_averted_high, "USD"),
                 "Break-even", "Benefit-cost ratio (95% CI)", "source: test (unverified, workbook)",
                 "displacement of violence"):
        assert text in section, text
    assert value_summary_line(value).startswith(
        f"Value for money: cost {format_money(value.total_cost, 'USD')} (2018 USD) over 2017-01 "
        "to 2017-12")
    assert value_section_html(None) == "" and value_summary_line(None) == ""
    assert format_money(12_700_000, "USD") == "$12.7 million"
    assert format_money(950, "CHF") == "950 CHF"


def test_a_city_report_carries_values_also_from_a_prepared_slice(tmp_path, monkeypatch):
    from impactbook.report import build_city_report
    from impactbook.report.value_section import show_value_for_money, value_lines
    from impactbook.workbook import load_workbook
    from impactbook.workbook.prepared import PREPARED_ENV, read_prepared, write_prepared

    folder = _workbook(tmp_path, _falling())
    (folder / "news.csv").write_text("date,title,outlet,tags\n")
    (folder / "funders.csv").write_text("funder,email,cities,interventions\n")
    report = build_city_report(folder, "Springfield", post_periods=12)
    [value] = report.values
    headline = next(r.headline for r in report.results if r.outcome == "shootings")
    _, direct = run_estimate_with_value(folder, make_request(
        city="Springfield", outcome="shootings", method=headline.method, post_periods=12))
    assert value == direct  # the report's figures are the CLI's for the same design
    assert value_lines(report) == [value_summary_line(value)]
    shown = []
    monkeypatch.setattr("impactbook.report.blocks.display", lambda obj, **k: shown.append(obj))
    show_value_for_money(report)
    [block] = shown
    assert block.data == ("<h2 class='ib-section' id='value-for-money'>Value for money</h2>"
                          + value_section_html(value))
    workbook = load_workbook(folder)
    prepared = write_prepared(workbook, tmp_path / "prepared" / workbook.digest,
                              [("city", "Springfield")])
    sliced = read_prepared(folder, "city", "Springfield", {PREPARED_ENV: str(prepared)})
    pd.testing.assert_frame_equal(sliced.costs, workbook.costs)
    pd.testing.assert_frame_equal(sliced.unit_costs, workbook.unit_costs)


def test_no_section_and_no_line_without_costs(tmp_path, monkeypatch):
    from impactbook.report import build_city_report, value_section

    folder = _workbook(tmp_path, _falling(), costs="programme,start,end,amount,currency,"
                       "price_year\n")
    (folder / "news.csv").write_text("date,title,outlet,tags\n")
    (folder / "funders.csv").write_text("funder,email,cities,interventions\n")
    report = build_city_report(folder, "Springfield", post_periods=12)
    assert report.values == () and value_section.value_lines(report) == []
    shown = []
    monkeypatch.setattr("impactbook.report.blocks.display", lambda *a, **k: shown.append(a))
    value_section.show_value_for_money(report)
    assert shown == []  # not even a heading


@settings(max_examples=40, deadline=None)
@given(lengths=st.lists(st.integers(1, 15), min_size=1, max_size=5),
       amounts=st.lists(st.integers(0, 10_000_000), min_size=5, max_size=5),
       years=st.lists(st.integers(2000, 2024), min_size=5, max_size=5),
       cut=st.floats(0, 1), edges=st.tuples(st.floats(0, 1), st.floats(0, 1)))
def test_pro_rating_adds_up_over_any_split_of_the_window(lengths, amounts, years, cut, edges):
    """The cost of a window is the sum of the costs of any two windows that split it, and the
    whole covered span costs the sum of its amounts in one price year."""
    start = pd.Period("2010-01", "M")
    rows, month = [], start
    for length, amount, year in zip(lengths, amounts, years, strict=False):
        rows.append((str(month), str(month + length - 1), float(amount), year))
        month += length
    costs = pd.DataFrame(rows, columns=["first_month", "last_month", "amount", "price_year"])
    costs["currency"] = "USD"
    cpi = cpi_u()
    last = month - 1
    span = (last - start).n
    low, high = sorted(int(e * span) for e in edges)
    first_m, last_m = start + low, start + high
    middle = first_m + int(cut * (last_m - first_m).n)
    whole, year, _ = window_cost(costs, str(first_m), str(last_m), cpi)

    def at(total, from_year):
        return total * cpi[year] / cpi[from_year]  # into the whole window's price year

    left, left_year, _ = window_cost(costs, str(first_m), str(middle), cpi)
    if middle < last_m:
        right, right_year, _ = window_cost(costs, str(middle + 1), str(last_m), cpi)
        # each part is in its own (latest) price year: bring both to the whole's
        assert at(left, left_year) + at(right, right_year) == pytest.approx(whole, rel=1e-9)
    else:
        assert left == pytest.approx(whole, rel=1e-9)
    everything, top, missing = window_cost(costs, str(start), str(last), cpi)
    assert missing == [] and top == max(years[:len(lengths)])
    assert everything == pytest.approx(
        sum(a * cpi[top] / cpi[y] for _, _, a, y in rows), rel=1e-9, abs=1e-6)


def test_the_library_gives_the_same_value_for_a_result(tmp_path):
    import impactbook

    folder = _workbook(tmp_path, _falling())
    wb = impactbook.open_workbook(folder)
    result = wb.estimate(city="Springfield", outcome="shootings", area="District 1",
                         post_periods=12)
    _, direct = run_estimate_with_value(folder, make_request(
        city="Springfield", outcome="shootings", area="District 1", post_periods=12))
    assert direct is not None and wb.value_for_money(result) == direct
    bare = _workbook(tmp_path / "no-costs", _falling(), costs=COSTS.splitlines()[0] + "\n")
    wb = impactbook.open_workbook(bare)
    assert wb.value_for_money(wb.estimate(city="Springfield", outcome="shootings",
                                          area="District 1", post_periods=12)) is None
