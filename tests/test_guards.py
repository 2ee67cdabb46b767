"""Guards at the edges: count and parameter ranges, init faults, folder names, validate help,
numerical warnings, and a Dask batch that cannot hang."""

from __future__ import annotations

import pytest

from impactbook.cli import main
from impactbook.errors import DataError, ParameterError
from impactbook.render.plan import CITY, plan_batch
from impactbook.workbook import load_workbook

from .conftest import ROOT, TAGS, monthly_rows, write_workbook

DATA = ROOT / "data"


@pytest.fixture
def no_kernel(monkeypatch):
    """Fail the test if anything tries to start a kernel."""

    def refuse(*args, **kwargs):
        raise AssertionError("a kernel was started")

    monkeypatch.setattr("impactbook.render.kernel.KernelSession.__init__", refuse)

OUTCOMES_HEADER = "city,area,outcome,period,count\n"


# --- counts are under 10 million (README, "Counts") -----------------------------------------

@pytest.mark.parametrize(("count", "is_accepted"), [(9_999_999, True), (10_000_000, False)])
def test_a_count_must_be_under_ten_million(tmp_path, count, is_accepted):
    counts = [10] * 24
    counts[3] = count
    folder = write_workbook(tmp_path / "wb", tags=TAGS, outcomes=OUTCOMES_HEADER + monthly_rows(
        "Springfield", "citywide", "shootings", 2015, counts))
    if is_accepted:
        load_workbook(folder)
        return
    with pytest.raises(DataError) as info:
        load_workbook(folder)
    [problem] = info.value.problems
    assert (problem.row, problem.column) == (5, "count")
    assert "10,000,000 or more" in problem.message


# --- parameter ranges ------------------------------------------------------------------------

@pytest.mark.parametrize(("argv", "expected"), [
    (["render", "--city", "Seattle", "-p", "placebos", "10000000"],
     "'-p placebos': got 10000000, expected a whole number from 0 to 10000"),
    (["render", "--city", "Seattle", "-p", "placebos", "-1"], "from 0 to 10000"),
    (["render", "--city", "Chicago", "-p", "post_periods", "0"],
     "'-p post_periods': got 0, expected a whole number from 1 to 10000"),
    (["batch", "-p", "post_periods", "20000"], "from 1 to 10000"),
])
def test_a_parameter_outside_its_range_is_refused_before_any_kernel_starts(
        tmp_path, capsys, no_kernel, argv, expected):
    out = tmp_path / "run"
    assert main([*argv, "--data", str(DATA), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert expected in err and err.count("\n") == 1 and "Traceback" not in err, err
    assert not out.exists()


def test_parameter_ranges_are_the_estimate_requests(tmp_path):
    """The library path (plan_batch, render_report) refuses what the request refuses, with
    the request's own bounds: placebos 10,000 is accepted, 10,001 is not."""
    from impactbook.analysis import EstimateRequest

    high = next(rule.le for rule in EstimateRequest.model_fields["placebos"].metadata
                if hasattr(rule, "le"))
    plan_batch(DATA, tmp_path / "ok", cities=["Seattle"], interventions=[],
               parameters={CITY: {"placebos": high}})
    with pytest.raises(ParameterError) as info:
        plan_batch(DATA, tmp_path / "no", cities=["Seattle"], interventions=[],
                   parameters={CITY: {"placebos": high + 1}})
    assert info.value.parameter == "placebos" and f"to {high}" in info.value.expected


# --- validate suggests names, as the CLI does ------------------------------------------------

def _programmes(tmp_path, *rows: str):
    counts = [10 + (i % 5) for i in range(48)]
    outcomes = OUTCOMES_HEADER + monthly_rows(
        "Springfield", "citywide", "shootings", 2015, counts) + monthly_rows(
        "Springfield", "District 1", "shootings", 2015, [c // 2 for c in counts])
    return write_workbook(tmp_path / "wb", outcomes=outcomes, tags=TAGS, interventions=(
        "id,city,intervention,programme,area,start,outcomes,comparison_areas,confidence,"
        "source\n" + "".join(f"{row}\n" for row in rows)))


def test_validate_suggests_close_names_in_interventions_csv(tmp_path, capsys):
    folder = _programmes(
        tmp_path,
        "a,Springfield,Group Violence Intervention,A,District1,2017-01,shooting,Citywide,V,t",
        "b,Springfeld,Group Violence Intervention,B,citywide,2017-01,shootings,,V,t",
        "c,Springfield,Violence Interrupters,C,citywide,2017-01,shootings,,V,t",
        "d,Springfield,group violence intervention,D,citywide,2017-01,shootings,,V,t")
    assert main(["validate", "--data", str(folder)]) != 0
    err = capsys.readouterr().err
    lines = {line.split("error: ")[1].split(": ")[0]: line for line in err.splitlines()}
    assert "did you mean 'District 1'?" in lines["interventions.csv, row 2, column 'area'"]
    assert "did you mean 'citywide'?" in lines[
        "interventions.csv, row 2, column 'comparison_areas'"]
    assert "did you mean 'shootings'?" in lines["interventions.csv, row 2, column 'outcomes'"]
    assert "did you mean 'Springfield'?" in lines["interventions.csv, row 3, column 'city'"]
    unknown = lines["interventions.csv, row 4, column 'intervention'"]
    assert "'Violence Interrupters' is not a tag of kind 'intervention'" in unknown
    assert "tags.csv row 'Violence Interrupters,intervention'" in unknown
    assert "did you mean 'Group Violence Intervention'?" in lines[
        "interventions.csv, row 5, column 'intervention'"]
