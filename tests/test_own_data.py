"""Bringing a team's own data: init, errors that point at the option at fault, the checks that
keep a half-computable report from reaching a funder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from impactbook.choices import close_matches, list_choices, unknown_choice
from impactbook.cli import main
from impactbook.errors import EstimationError, ParameterError
from impactbook.report import build_city_report, build_intervention_summary
from impactbook.workbook import validate_workbook
from impactbook.workbook.starter import STARTER_TAGS, init_workbook

from .workbooks import build_workbook, monthly_rows

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# --- one style of naming choices ----------------------------------------------------------

def test_close_matches_ignore_case_and_prefer_the_exact_name():
    assert close_matches("chicago", ["Chicago", "Baltimore"]) == ["Chicago"]
    assert close_matches("precinct 77", ["Precinct 77", "Precinct 7", "Precinct 79"]) == [
        "Precinct 77"]
    assert close_matches("shooting", ["shootings", "shooting victims", "homicides"]) == [
        "shootings", "shooting victims"]
    assert close_matches("zzz", ["Chicago"]) == []


def test_choices_are_listed_in_natural_order_and_capped():
    assert list_choices(["Precinct 10", "Precinct 9", "citywide"]) == (
        "citywide, Precinct 9, Precinct 10")
    many = [f"District {i}" for i in range(1, 31)]
    assert list_choices(many, limit=3) == "District 1, District 2, District 3, ... (30 in all)"
    assert str(unknown_choice("city", "chicago", ["Chicago", "Seattle"])) == (
        "parameter 'city': got 'chicago', expected one of: Chicago, Seattle; did you mean "
        "'Chicago'?")


# --- estimate: the option at fault ---------------------------------------------------------

def test_estimate_city_typo_suggests_the_city(capsys):
    code, _, err = run(capsys, "estimate", "--data", str(DATA), "--city", "chicago",
                       "--outcome", "homicides")
    assert code == 1
    assert err == ("impactbook: error: parameter 'city': got 'chicago', expected one of: "
                   "Baltimore, Chicago, New York, Philadelphia, Seattle; did you mean "
                   "'Chicago'?\n")


def test_estimate_area_typo_blames_area_not_start(capsys):
    _, _, err = run(capsys, "estimate", "--data", str(DATA), "--city", "New York",
                    "--area", "Precinct 777", "--outcome", "shootings")
    assert err.startswith("impactbook: error: parameter 'area': got 'Precinct 777', expected "
                          "an area with data for New York: citywide, Precinct 1, Precinct 5,")
    assert err.endswith("(77 in all); did you mean 'Precinct 77' or 'Precinct 7' or "
                        "'Precinct 79'?\n")


def test_estimate_outcome_typo_blames_outcome_not_start(capsys):
    _, _, err = run(capsys, "estimate", "--data", str(DATA), "--city", "New York",
                    "--area", "Precinct 77", "--outcome", "shooting")
    assert err == ("impactbook: error: parameter 'outcome': got 'shooting', expected an "
                   "outcome with data for New York: shooting victims, shootings; did you mean "
                   "'shootings' or 'shooting victims'?\n")


def test_comparison_areas_with_commas_name_the_separator(capsys):
    _, _, err = run(capsys, "estimate", "--data", str(DATA), "--city", "New York",
                    "--area", "Precinct 77", "--outcome", "shootings", "--method",
                    "comparison", "--comparison-areas", "Precinct 71, Precinct 73")
    assert err == ("impactbook: error: parameter 'comparison_areas': got 'Precinct 71, "
                   "Precinct 73', expected areas separated by ';' (e.g. "
                   "\"Precinct 71;Precinct 73\")\n")


def test_unknown_comparison_area_is_blamed_on_comparison_areas(capsys):
    _, _, err = run(capsys, "estimate", "--data", str(DATA), "--city", "New York",
                    "--area", "Precinct 77", "--outcome", "shootings", "--start", "2010-01",
                    "--method", "comparison", "--comparison-areas", "Precinct 71;Precinct 733")
    assert err.startswith("impactbook: error: parameter 'comparison_areas': got "
                          "'Precinct 733', expected areas with data for New York, separated "
                          "by ';': citywide,")
    assert err.endswith("did you mean 'Precinct 73' or 'Precinct 33' or 'Precinct 7'?\n")


# --- render: which cities are offered --------------------------------------------------------

def test_render_refuses_a_city_with_data_but_no_programme(capsys, tmp_path):
    # The default workbook without its Seattle programme: Seattle keeps its data.
    data = tmp_path / "data"
    data.mkdir()
    for name in ("outcomes.csv", "news.csv", "tags.csv", "funders.csv", "rollouts.csv"):
        (data / name).write_bytes((DATA / name).read_bytes())
    rows = (DATA / "interventions.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    (data / "interventions.csv").write_text(
        "".join(r for r in rows if not r.startswith("seattle-dmi,")), encoding="utf-8")
    code, _, err = run(capsys, "render", "--data", str(data), "--city", "Seattle", "--out",
                       str(tmp_path / "run"))
    assert code == 1
    assert err == ("impactbook: error: parameter 'city': got 'Seattle', expected a city with a "
                   "programme: Seattle has data but no row in interventions.csv, and a report "
                   "evaluates programmes; cities with one: Baltimore, Chicago, New York, "
                   "Philadelphia\n")
    assert not (tmp_path / "run").exists()  # refused before anything ran or was written


def test_render_help_says_which_cities_are_rendered(capsys):
    with pytest.raises(SystemExit):
        main(["render", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert ("a city with a programme in interventions.csv (a city with data but no programme "
            "is not rendered: a report evaluates programmes)") in help_text
    assert "--allow-incomplete" in help_text


# --- a section that cannot be computed -----------------------------------------------------

def _all_zero_area(tmp_path: Path) -> Path:
    """Valid, but District 1 has no events at all: no rate ratio can be estimated there."""
    counts = [10 + (i % 5) for i in range(48)]
    return build_workbook(
        tmp_path / "wb",
        monthly_rows("Springfield", "citywide", "shootings", 2015, counts)
        + monthly_rows("Springfield", "District 1", "shootings", 2015, [0] * 48),
        "spr-gvi,Springfield,Group Violence Intervention,Springfield GVI,District 1,2017-01,"
        "shootings\n",
        news="", funders="")


def test_a_section_that_cannot_be_computed_fails_the_report(tmp_path):
    folder = _all_zero_area(tmp_path)
    assert validate_workbook(folder) == []
    with pytest.raises(EstimationError) as info:
        build_city_report(folder, "Springfield")
    assert str(info.value) == (
        "1 section(s) of the report for Springfield cannot be computed (fix the data or the "
        "programme row, or render with --allow-incomplete (notebook parameter "
        "allow_incomplete = True) to publish it with them marked missing): Springfield GVI / "
        "shootings: its: Springfield / District 1 / shootings: no events before the start: a "
        "rate ratio cannot be estimated | prepost: Springfield / District 1 / shootings: no "
        "events before the start: a rate ratio cannot be estimated")
    allowed = build_city_report(folder, "Springfield", allow_incomplete=True)
    assert allowed.results[0].its is None and allowed.results[0].failed_designs
    with pytest.raises(EstimationError, match="report for Group Violence Intervention"):
        build_intervention_summary(folder, "Group Violence Intervention")
    summary = build_intervention_summary(folder, "Group Violence Intervention",
                                         allow_incomplete=True)
    assert summary.rows["error"].iloc[0]


# --- init ------------------------------------------------------------------------------------

def test_init_writes_an_empty_valid_workbook(tmp_path, capsys):
    folder = tmp_path / "new"
    code, out, _ = run(capsys, "init", str(folder))
    assert code == 0 and str(folder / "README.md") in out
    assert sorted(p.name for p in folder.iterdir()) == [
        "README.md", "costs.csv", "funders.csv", "interventions.csv", "news.csv",
        "outcomes.csv", "rollouts.csv", "tags.csv"]
    assert (folder / "outcomes.csv").read_text() == "city,area,outcome,period,count,population\n"
    tags = (folder / "tags.csv").read_text().splitlines()
    assert tags[0] == "tag,kind" and len(tags) == 1 + len(STARTER_TAGS)
    assert "Group Violence Intervention,intervention" in tags
    readme = (folder / "README.md").read_text()
    for table in ("outcomes.csv", "interventions.csv", "news.csv", "tags.csv", "funders.csv"):
        assert f"## {table}" in readme
    assert "| `comparison_areas` | no |" in readme
    assert validate_workbook(folder) == [
        "outcomes.csv has no rows yet; add counts with 'impactbook ingest'"]
    code, out, err = run(capsys, "validate", "--data", str(folder))
    assert code == 0 and "workbook is valid" in out


def test_init_never_overwrites(tmp_path):
    folder = tmp_path / "new"
    init_workbook(folder)
    (folder / "outcomes.csv").write_text("city,area,outcome,period,count\nX,citywide,y,2020-01,1\n")
    with pytest.raises(ParameterError) as info:
        init_workbook(folder)
    assert "it already has README.md, costs.csv, funders.csv" in str(info.value)
    assert "X,citywide" in (folder / "outcomes.csv").read_text()


@pytest.mark.slow
def test_render_of_an_incomplete_report_fails_loudly(tmp_path, capsys):
    folder = _all_zero_area(tmp_path)
    run_dir = tmp_path / "run"
    code, _, err = run(capsys, "render", "--data", str(folder), "--city", "Springfield",
                       "--out", str(run_dir), "--formats", "html,pdf")
    assert code == 1
    assert err.startswith("impactbook: error: report 'Springfield': EstimationError")
    assert "1 section(s) of the report for Springfield cannot be computed" in err
    assert sorted(p.name for p in (run_dir / "springfield").iterdir()) == [
        "springfield.failed.ipynb"]  # no HTML or PDF carrying raw error text
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    assert [(r["name"], r["status"]) for r in manifest["reports"]] == [("Springfield", "failed")]
    assert "Failed reports" in (run_dir / "index.html").read_text(encoding="utf-8")
    code, out, _ = run(capsys, "render", "--data", str(folder), "--city", "Springfield",
                       "--out", str(run_dir), "--formats", "html", "--allow-incomplete")
    assert code == 0
    assert sorted(p.name for p in (run_dir / "springfield").iterdir()) == [
        "springfield.html", "springfield.ipynb"]


def test_init_readme_explains_every_column():
    from impactbook.workbook.schema import OPTIONAL, REQUIRED
    from impactbook.workbook.starter import COLUMN_MEANINGS

    for table, required in REQUIRED.items():
        assert set(COLUMN_MEANINGS[table]) == {*required, *OPTIONAL[table]}, table


@pytest.mark.slow
def test_batch_fails_incomplete_reports_unless_allowed(tmp_path, capsys):
    folder = _all_zero_area(tmp_path)
    common = ["batch", "--data", str(folder), "--formats", "html", "--workers", "1", "--quiet"]
    code, _, _ = run(capsys, *common, "--out", str(tmp_path / "strict"))
    assert code == 1
    manifest = json.loads((tmp_path / "strict" / "manifest.json").read_text(encoding="utf-8"))
    assert {r["name"]: r["status"] for r in manifest["reports"]} == {
        "Springfield": "failed", "Group Violence Intervention": "failed"}
    code, _, _ = run(capsys, *common, "--out", str(tmp_path / "allowed"), "--allow-incomplete")
    assert code == 0
    manifest = json.loads((tmp_path / "allowed" / "manifest.json").read_text(encoding="utf-8"))
    assert {r["status"] for r in manifest["reports"]} == {"ok"}
