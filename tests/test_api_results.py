"""The results protocol: every design's result answers like a statsmodels results object."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from scipy import stats

from impactbook.analysis import estimate_for, make_request, run_estimate
from impactbook.effects import (
    check_placebo_in_time,
    describe_finding,
    describe_pooled,
    estimate_its,
    estimate_synth,
    pool_random_effects,
)
from impactbook.effects.results import ResultSummary
from impactbook.errors import EstimationError, ParameterError
from impactbook.workbook import load_workbook

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
WHERE = {"city": "New York", "area": "Precinct 77", "outcome": "shootings"}
MODEL_DESIGNS = ("its", "prepost", "comparison")


@pytest.fixture(scope="module")
def workbook():
    return load_workbook(DATA)


@pytest.fixture(scope="module")
def results(workbook):
    return {method: estimate_for(workbook, make_request(**WHERE, method=method))
            for method in (*MODEL_DESIGNS, "synth")}


def _width(frame: pd.DataFrame) -> float:
    return float(frame.loc["rate_ratio", "upper"] - frame.loc["rate_ratio", "lower"])


@pytest.mark.parametrize("method", MODEL_DESIGNS)
def test_conf_int_is_the_reported_interval_at_95_and_narrows_at_90(results, method):
    result = results[method]
    at_95 = result.conf_int()
    assert list(at_95.columns) == ["lower", "upper"] and list(at_95.index) == ["rate_ratio"]
    assert at_95.loc["rate_ratio", "lower"] == pytest.approx(result.ci_low, rel=1e-12)
    assert at_95.loc["rate_ratio", "upper"] == pytest.approx(result.ci_high, rel=1e-12)
    at_90 = result.conf_int(0.10)
    assert _width(at_90) < _width(at_95)
    assert at_90.loc["rate_ratio", "lower"] > at_95.loc["rate_ratio", "lower"]


@pytest.mark.parametrize("method", MODEL_DESIGNS)
def test_the_statsmodels_fit_is_kept_and_gives_the_interval(results, method):
    result = results[method]
    fit = result.model_result
    assert fit is not None and hasattr(fit, "conf_int")
    assert float(fit.params[result.effect_term]) == pytest.approx(result.log_rate_ratio,
                                                                    rel=1e-12)
    low, high = np.exp(fit.conf_int(alpha=0.2).loc[result.effect_term])
    at_80 = result.conf_int(0.2)
    assert at_80.loc["rate_ratio", "lower"] == pytest.approx(low, rel=1e-12)
    assert at_80.loc["rate_ratio", "upper"] == pytest.approx(high, rel=1e-12)
    assert "model_result" not in json.dumps(result.to_dict(with_details=True))


@pytest.mark.parametrize("method", (*MODEL_DESIGNS, "synth"))
def test_params_to_frame_and_to_dict_are_unrounded(results, method):
    result = results[method]
    assert result.params["rate_ratio"] == result.rate_ratio
    frame = result.to_frame()
    assert len(frame) == 1
    for column in ("rate_ratio", "ci_low", "ci_high", "p_value"):
        assert column in frame.columns
    assert frame.loc[0, "rate_ratio"] == result.rate_ratio
    assert frame.loc[0, "p_value"] == result.p_value
    assert frame.loc[0, "method"] == method
    record = result.to_dict()
    # Rounded to 4 decimals (the old JSON) these would differ in the last digits.
    assert record["rate_ratio"] == result.rate_ratio
    assert record["p_value"] == result.p_value
    assert record["pre_mean"] == result.pre_mean
    if method != "synth":
        assert record["ci_low"] == result.ci_low and record["ci_high"] == result.ci_high


@pytest.mark.parametrize("method", (*MODEL_DESIGNS, "synth"))
def test_summary_prints_and_displays_as_a_table(results, method):
    result = results[method]
    summary = result.summary()
    assert isinstance(summary, ResultSummary)
    text = str(summary)
    assert result.design.capitalize() in text and "New York, Precinct 77" in text
    assert result.describe() in text
    html = result._repr_html_()
    assert html.startswith("<div") and "<table" in html and "rate_ratio" in html
    if method != "synth":
        assert "95% lower" in text and "90% lower" in str(result.summary(alpha=0.1))


@pytest.mark.parametrize("method", (*MODEL_DESIGNS, "synth"))
def test_plot_is_the_report_chart_and_describe_the_report_finding(results, method):
    result = results[method]
    figure = result.plot()
    assert isinstance(figure, Figure) and figure.axes
    assert result.describe() == describe_finding(result)


def _permutation_p(est, theta: float) -> float:
    """The two-sided placebo-in-space p of the hypothesis "every post-period count was
    multiplied by ``theta``", computed directly from the gaps the estimate carries."""
    n_pre = est.pre_periods
    gaps = est.placebo_gaps.to_numpy(float)
    placebo = np.sqrt((gaps[n_pre:] ** 2).mean(0)) / np.sqrt((gaps[:n_pre] ** 2).mean(0))
    observed, synthetic = est.observed.to_numpy(float), est.fitted.to_numpy(float)
    pre = np.sqrt(((observed[:n_pre] - synthetic[:n_pre]) ** 2).mean())
    own = np.sqrt(((observed[n_pre:] / theta - synthetic[n_pre:]) ** 2).mean()) / pre
    return (1 + np.sum(placebo >= own)) / (len(placebo) + 1)


def test_a_synthetic_control_interval_is_its_permutation_test_inverted(results):
    synth = results["synth"]
    assert synth.model_result is None and math.isnan(synth.ci_low)  # no model interval
    assert _permutation_p(synth, 1.0) == pytest.approx(synth.p_value)
    grid = np.exp(np.linspace(np.log(0.3), np.log(4.0), 4001))
    for alpha in (0.05, 0.10, 0.20):
        low, high = synth.conf_int(alpha).loc["rate_ratio"]
        kept = grid[[_permutation_p(synth, t) > alpha for t in grid]]
        assert low == pytest.approx(kept.min(), rel=2e-3)
        assert min(high, 4.0) == pytest.approx(kept.max(), rel=2e-3)
        assert (low < 1 < high) == (synth.p_value > alpha)
    assert _width(synth.conf_int(0.10)) < _width(synth.conf_int(0.05))
    assert "permutation test does not reject" in str(synth.summary())


def test_a_built_in_fall_is_inside_the_synthetic_interval_and_no_change_outside():
    from tests.test_effects_synth import _panel

    est = estimate_synth(_panel(20, effect=0.5), "Programme", "2013-01", post_periods=24)
    low, high = est.conf_int(0.10).loc["rate_ratio"]
    assert low < 0.5 < high < 1.0


def test_a_micro_synthetic_control_says_why_it_has_no_interval():
    est = run_estimate(DATA, make_request(city="Seattle", outcome="felony offenses",
                                          method="synth", placebos=9))
    with pytest.raises(EstimationError, match="t statistics") as caught:
        est.conf_int(0.1)
    assert "Seattle" in str(caught.value)
    assert "No interval:" in str(est.summary())


def test_alpha_outside_zero_to_one_is_refused(results):
    for alpha in (0, 1, 1.5, -0.1, "wide"):
        with pytest.raises(ParameterError, match="alpha"):
            results["its"].conf_int(alpha)


def _autocorrelated_series() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    n = 96
    ar = np.zeros(n)
    for i in range(1, n):  # a slowly wandering level: strongly autocorrelated residuals
        ar[i] = 0.8 * ar[i - 1] + rng.normal(0, 0.2)
    index = pd.period_range("2009-01", periods=n, freq="M")
    return pd.DataFrame({"count": rng.poisson(40 * np.exp(ar)).astype(float)}, index=index)


def test_a_widened_newey_west_interval_is_recomputed_from_its_standard_error():
    est = estimate_its(_autocorrelated_series(), "2014-01")
    assert est.interval_source == "newey-west"
    at_95 = est.conf_int()
    assert at_95.loc["rate_ratio", "lower"] == pytest.approx(est.ci_low, rel=1e-9)
    assert at_95.loc["rate_ratio", "upper"] == pytest.approx(est.ci_high, rel=1e-9)
    z = stats.norm.ppf(0.95)
    at_90 = est.conf_int(0.1)
    assert at_90.loc["rate_ratio", "upper"] == pytest.approx(
        math.exp(est.log_rate_ratio + z * est.se_log_rate_ratio), rel=1e-12)
    # Not the narrower model interval the kept fit would give.
    model_high = math.exp(est.model_result.conf_int(0.1).loc[est.effect_term].iloc[1])
    assert at_90.loc["rate_ratio", "upper"] > model_high


def test_negative_binomial_interval_comes_from_the_discrete_model():
    from tests.effects_sim import simulate_series

    est = estimate_its(simulate_series(alpha=0.05, seed=3), "2015-01",
                       family="negative-binomial")
    assert type(est.model_result).__name__.startswith("NegativeBinomial")
    assert _width(est.conf_int(0.1)) < _width(est.conf_int(0.05))


def test_pooled_result_follows_the_protocol():
    frame = pd.DataFrame({"label": ["a", "b", "c", "d"], "city": ["X", "Y", "Y", "Z"],
                          "log_rate_ratio": [-0.3, -0.1, 0.05, -0.2],
                          "se": [0.1, 0.15, 0.12, 0.2]})
    pooled = pool_random_effects(frame)
    at_95 = pooled.conf_int()
    assert at_95.loc["rate_ratio", "lower"] == pytest.approx(pooled.ci_low, rel=1e-12)
    assert at_95.loc["rate_ratio", "upper"] == pytest.approx(pooled.ci_high, rel=1e-12)
    assert _width(pooled.conf_int(0.1)) < _width(at_95)
    t = stats.t.ppf(0.95, 3)  # Hartung-Knapp: t with k - 1 degrees of freedom
    assert pooled.conf_int(0.1).loc["rate_ratio", "upper"] == pytest.approx(
        math.exp(pooled.log_rate_ratio + t * pooled.se), rel=1e-12)
    tidy = pooled.to_frame()
    assert len(tidy) == 5 and tidy["is_pooled"].tolist() == [False] * 4 + [True]
    assert tidy.loc[4, "rate_ratio"] == pooled.rate_ratio
    assert {"rate_ratio", "ci_low", "ci_high", "p_value"} <= set(tidy.columns)
    assert pooled.to_dict()["rate_ratio"] == pooled.rate_ratio
    assert isinstance(pooled.plot(), Figure)
    assert pooled.describe() == describe_pooled(pooled)
    assert "<table" in pooled._repr_html_() and "Random-effects pooling of 4" in str(
        pooled.summary())


def test_placebo_result_follows_the_protocol():
    from tests.effects_sim import simulate_series

    series = simulate_series(n_pre=60, rate_ratio=0.7, seed=2)
    placebo = check_placebo_in_time(series, "2015-01")
    with pytest.raises(EstimationError, match="ranks the real change"):
        placebo.conf_int()
    assert placebo.params["rate_ratio"] == pytest.approx(math.exp(placebo.real_log_rate_ratio))
    assert len(placebo.to_frame()) == placebo.n
    assert placebo.to_dict()["p_value"] == placebo.p_value
    assert isinstance(placebo.plot(), Figure)
    assert placebo.describe() == placebo.interpretation
    assert "Rank p" in str(placebo.summary()) and "<table" in placebo._repr_html_()


def test_estimate_json_from_the_command_line_is_unrounded(results):
    out = subprocess.run(
        [sys.executable, "-m", "impactbook.cli", "estimate", "--data", str(DATA),
         "--city", "New York", "--area", "Precinct 77", "--outcome", "shootings", "--json"],
        capture_output=True, text=True, check=True)
    record = json.loads(out.stdout)
    its = results["its"]
    assert record["rate_ratio"] == its.rate_ratio
    assert record["ci_low"] == its.ci_low and record["p_value"] == its.p_value


def test_estimate_text_output_rounds_for_reading(results):
    out = subprocess.run(
        [sys.executable, "-m", "impactbook.cli", "estimate", "--data", str(DATA),
         "--city", "New York", "--area", "Precinct 77", "--outcome", "shootings"],
        capture_output=True, text=True, check=True)
    shown = {line.split()[0]: line.split()[1] for line in out.stdout.splitlines()[1:]
             if line.startswith("  ") and not line.startswith("  warning")}
    assert shown["rate_ratio"] == f"{results['its'].rate_ratio:.4g}"
    assert shown["p_value"] == f"{results['its'].p_value:.4g}"
