"""The library's entry point: open_workbook, the workbook's summary, estimate and estimates."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import impactbook
from impactbook.analysis import estimate_for, make_request
from impactbook.analysis.programmes import programme_designs
from impactbook.effects import Estimate
from impactbook.errors import ParameterError
from impactbook.report import build_city_report
from impactbook.workbook import Workbook, split_list

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"


@pytest.fixture(scope="module")
def wb() -> Workbook:
    return impactbook.open_workbook(DATA)


def test_open_workbook_is_the_validated_workbook(wb):
    assert isinstance(wb, Workbook)
    assert wb.cities == ["Baltimore", "Chicago", "New York", "Philadelphia", "Seattle"]
    assert len(wb.outcomes) > 10_000


def test_the_workbook_displays_as_a_short_summary(wb):
    text = repr(wb)
    lines = text.splitlines()
    assert lines[0].startswith("Workbook ") and "5 cities" in lines[0]
    assert f"{len(wb.interventions)} programmes" in lines[0]
    assert len(lines) == 1 + len(wb.cities)  # one line per city, never the tables
    ny = (wb.interventions["city"] == "New York").sum()  # 5 with its Cure Violence rollout
    assert any(line.strip().startswith(f"New York: {ny} programmes") for line in lines)
    assert "Seattle" in text and "quarterly" in text
    html = wb._repr_html_()
    assert "<table" in html and html.count("<tr") == 1 + len(wb.cities)  # header + cities
    assert len(html) < 5_000


def test_estimate_is_the_same_call_the_cli_makes(wb):
    result = wb.estimate(city="New York", area="Precinct 77", outcome="shootings",
                         method="its", start="2010-01", post_periods=24)
    direct = estimate_for(wb, make_request(city="New York", area="Precinct 77",
                                           outcome="shootings", start="2010-01"))
    assert isinstance(result, Estimate) and result.method == "its"
    assert result.rate_ratio == direct.rate_ratio and result.ci_low == direct.ci_low
    did = wb.estimate("New York", "shootings", area="Precinct 77", method="comparison",
                      comparison_areas="Precinct 71;Precinct 73")
    assert did.details["comparison_areas"] == ["Precinct 71", "Precinct 73"]


def test_estimate_refuses_an_unknown_option_or_name(wb):
    with pytest.raises(ParameterError, match="colour"):
        wb.estimate(city="Chicago", outcome="homicides", colour="red")
    with pytest.raises(ParameterError, match="did you mean 'Chicago'"):
        wb.estimate(city="chicago", outcome="homicides")


def test_estimates_are_the_numbers_the_city_report_shows(wb):
    table = wb.estimates(city="Chicago")
    report = build_city_report(DATA, "Chicago")
    expected = []
    for result in report.results:
        for method, est in result.estimates_by_method.items():
            if est is not None:
                expected.append((result.programme_id, result.outcome, method, est.rate_ratio,
                                 est.p_value, method == result.choice.method))
    got = [(r.programme_id, r.outcome, r.method, r.rate_ratio, r.p_value, r.is_headline)
           for r in table.itertuples()]
    assert got == expected
    assert table["is_headline"].sum() == len(report.results)
    assert {"rate_ratio", "ci_low", "ci_high", "p_value", "design", "error"} <= set(table)


def test_estimates_of_an_unknown_city_name_the_choices(wb):
    with pytest.raises(ParameterError, match="did you mean 'New York'"):
        wb.estimates(city="New Yrok")


@pytest.mark.slow
def test_estimates_of_every_city_have_one_row_per_programme_outcome_and_design(wb):
    table = wb.estimates()
    expected = sum(len(split_list(p["outcomes"])) * len(programme_designs(p))
                   for p in wb.interventions.to_dict("records"))
    assert isinstance(table, pd.DataFrame) and len(table) == expected
    assert not table.duplicated(["programme_id", "outcome", "method"]).any()
    assert set(table["city"]) == set(wb.programme_cities)


def test_python_dash_m_impactbook_is_the_command():
    out = subprocess.run([sys.executable, "-m", "impactbook", "--version"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"impactbook {impactbook.__version__}"
    bad = subprocess.run([sys.executable, "-m", "impactbook", "validate", "--data",
                          str(ROOT / "no-such-folder")], capture_output=True, text=True)
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
