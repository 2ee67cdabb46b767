"""The glue between workbook names and estimators, and the `estimate` CLI contract."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from impactbook import effects
from impactbook.analysis import (
    combined_series,
    estimate_for,
    make_request,
    resolve_request,
    run_estimate,
)
from impactbook.cli import main
from impactbook.effects import ESTIMATE_KEYS
from impactbook.errors import ParameterError
from impactbook.workbook import load_workbook

from .workbooks import build_workbook, monthly_rows


def test_request_rejects_unknown_keys_and_bad_values():
    with pytest.raises(ParameterError, match="colour"):
        make_request(city="A", outcome="b", colour="red")
    with pytest.raises(ParameterError, match="start"):
        make_request(city="A", outcome="b", start="2010-13")
    with pytest.raises(ParameterError, match="method"):
        make_request(city="A", outcome="b", method="magic")
    assert make_request(city="A", outcome="b", comparison_areas="X; Y").comparison_areas == (
        "X", "Y")


def test_defaults_come_from_the_programme(tiny_workbook):
    wb = load_workbook(tiny_workbook)
    resolved = resolve_request(wb, make_request(city="Springfield", outcome="shootings"))
    assert resolved.areas == ("District 1",)
    assert str(resolved.start) == "2017-01"
    assert resolved.comparison_areas == ("citywide",)
    assert not resolved.is_diluted
    citywide = resolve_request(wb, make_request(city="Springfield", outcome="shootings",
                                                area="citywide"))
    assert citywide.is_diluted


def test_start_of_the_wrong_frequency_is_refused(tiny_workbook):
    wb = load_workbook(tiny_workbook)
    with pytest.raises(ParameterError, match="month"):
        resolve_request(wb, make_request(city="Springfield", outcome="shootings",
                                         start="2017-Q1"))


def test_combined_series_keeps_a_period_missing_in_any_area():
    outcomes = pd.DataFrame({
        "city": "C", "area": ["A", "A", "A", "B", "B"], "outcome": "o",
        "period": ["2010-01", "2010-02", "2010-03", "2010-01", "2010-03"],
        "count": [1, 2, 3, 10, 30], "population": np.nan})
    series = combined_series(outcomes, "C", ("A", "B"), "o")
    assert list(series["count"].iloc[[0, 2]]) == [11, 33]
    assert np.isnan(series["count"].iloc[1])


def _its_workbook(tmp_path, effect=0.6, seed=3):
    rng = np.random.default_rng(seed)
    t = np.arange(72)
    mu = 40 * np.exp(0.002 * t) * np.where(t >= 48, effect, 1.0)
    treated = rng.poisson(mu)
    control = rng.poisson(40 * np.exp(0.002 * t), size=(2, 72))
    rows = monthly_rows("Springfield", "District 1", "shootings", 2014, list(treated))
    rows += monthly_rows("Springfield", "District 2", "shootings", 2014, list(control[0]))
    rows += monthly_rows("Springfield", "District 3", "shootings", 2014, list(control[1]))
    return build_workbook(tmp_path / "sim", rows, tags=None)


def test_estimate_for_matches_the_estimator_called_directly(tmp_path):
    folder = _its_workbook(tmp_path)
    wb = load_workbook(folder)
    request = make_request(city="Springfield", area="District 1", outcome="shootings",
                           start="2018-01")
    via_names = estimate_for(wb, request)
    series = combined_series(wb.outcomes, "Springfield", ("District 1",), "shootings")
    direct = effects.estimate_its(series, pd.Period("2018-01", "M"))
    assert via_names.rate_ratio == pytest.approx(direct.rate_ratio, rel=1e-12)
    assert via_names.ci_low < 0.6 < via_names.ci_high


@pytest.mark.parametrize("method", ["its", "prepost", "comparison"])
def test_cli_estimate_json_contract(tmp_path, capsys, method):
    folder = _its_workbook(tmp_path)
    argv = ["estimate", "--data", str(folder), "--city", "Springfield", "--area", "District 1",
            "--outcome", "shootings", "--start", "2018-01", "--method", method, "--json"]
    if method == "comparison":
        argv += ["--comparison-areas", "District 2;District 3"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    record = json.loads(out)
    assert tuple(record) == ESTIMATE_KEYS
    assert record["method"] == method
    assert record["percent_change"] == pytest.approx((record["rate_ratio"] - 1) * 100, abs=0.06)
    assert record["ci_low"] < record["rate_ratio"] < record["ci_high"]
    expected = run_estimate(folder, dict(city="Springfield", area="District 1",
                                         outcome="shootings", start="2018-01", method=method,
                                         comparison_areas="District 2;District 3"))
    assert record == expected.to_dict()


def test_cli_estimate_errors_are_one_line(tmp_path, capsys):
    folder = _its_workbook(tmp_path)
    code = main(["estimate", "--data", str(folder), "--city", "Shelbyville", "--outcome",
                 "shootings", "--start", "2018-01", "--json"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1 and "Shelbyville" in err and "Springfield" in err
    code = main(["estimate", "--data", str(folder), "--city", "Springfield", "--area",
                 "District 1", "--outcome", "shootings", "--start", "2030-01"])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err and "2030-01" in err


def test_comparison_needs_areas(tmp_path):
    folder = _its_workbook(tmp_path)
    with pytest.raises(ParameterError, match="comparison_areas"):
        run_estimate(folder, dict(city="Springfield", area="District 1", outcome="shootings",
                                  start="2018-01", method="comparison"))
