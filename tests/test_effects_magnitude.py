"""Events averted, the detectable change and the autocorrelation check."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from impactbook.effects import estimate_comparison, estimate_its, estimate_prepost
from tests.effects_sim import simulate_series

SIMULATIONS = 400


def test_events_averted_is_counterfactual_minus_observed():
    series = simulate_series(n_pre=60, base=30, rate_ratio=0.7, seed=4)
    est = estimate_its(series, "2015-01")
    observed = series.loc[series.index >= pd.Period("2015-01", "M"), "count"].sum()
    expected = est.counterfactual["mean"].sum()
    averted, low, high = est.events_averted
    assert averted == pytest.approx(expected - observed, rel=1e-6)
    assert low < averted < high and low > 0  # a clear fall: the interval excludes zero
    record = est.to_dict()
    assert record["events_averted"] == averted  # unrounded: rounding is presentation
    assert record["events_averted_per_100k"] is None  # no population in the series


def test_events_averted_per_100k_when_population_is_known():
    series = simulate_series(n_pre=60, base=30, rate_ratio=0.7, seed=4, population=250_000)
    est = estimate_its(series, "2015-01")
    per = est.details["events_averted_per_100k"]
    assert per[0] == pytest.approx(est.events_averted[0] / 2.5)
    assert est.to_dict()["events_averted_per_100k"] == per[0]  # unrounded


def test_prepost_and_comparison_carry_the_same_fields():
    series = simulate_series(n_pre=60, base=30, rate_ratio=0.7, seed=5)
    pre = estimate_prepost(series, "2015-01")
    observed = series.loc[series.index >= pd.Period("2015-01", "M"), "count"].sum()
    # Pre/post: the counterfactual is the pre-window mean carried forward.
    assert pre.events_averted[0] == pytest.approx(pre.pre_mean * 24 - observed, rel=1e-6)
    rows = []
    for area, ratio, seed in (("T", 0.7, 5), ("C1", 1.0, 6), ("C2", 1.0, 7)):
        s = simulate_series(n_pre=60, base=30, rate_ratio=ratio, seed=seed)
        rows.append(s.assign(area=area, is_treated=area == "T").rename_axis("period")
                    .reset_index())
    did = estimate_comparison(pd.concat(rows), "2015-01")
    for est in (pre, did):
        record = est.to_dict()
        assert record["detectable_change_pct"] < 0 and record["autocorrelation"] is not None
        assert record["events_averted_low"] < record["events_averted"] \
            < record["events_averted_high"]
    assert did.to_dict()["design"] == "comparison areas"


def _simulate_power(est: object, ratio: float, seed: int, runs: int = SIMULATIONS) -> float:
    """Share of simulated series (the estimate's own no-programme means and dispersion, with
    a level change of ``ratio``) whose 95% interval excludes no change."""
    rng = np.random.default_rng(seed)
    fitted = est.fitted.to_numpy()
    is_post = (est.fitted.index >= est.start)
    mu = np.where(is_post, fitted / est.rate_ratio * ratio, fitted)
    extra = max(est.dispersion - 1.0, 1e-6)
    rejected = 0
    for _ in range(runs):
        # Negative binomial with variance dispersion * mu (the quasi-Poisson variance).
        counts = rng.poisson(rng.gamma(shape=mu / extra, scale=extra))
        series = pd.DataFrame({"count": counts.astype(float)}, index=est.fitted.index)
        sim = estimate_its(series, est.start, check_guardrails=False)
        rejected += sim.ci_high < 1 or sim.ci_low > 1
    return rejected / runs


def test_simulated_power_at_the_detectable_change_is_80_percent():
    series = simulate_series(n_pre=48, base=12, alpha=0.08, seed=21)
    est = estimate_its(series, "2015-01")
    assert est.interval_source == "model" and est.dispersion > 1.2
    ratio = est.detectable_rate_ratio
    assert 0.5 < ratio < 0.9
    # 400 runs: the Monte Carlo standard error of a power near 80% is 2 points.
    assert _simulate_power(est, ratio, seed=1) == pytest.approx(0.80, abs=0.05)
    # and a change half as large (on the log scale) is detected far less often
    assert _simulate_power(est, np.sqrt(ratio), seed=2, runs=SIMULATIONS // 4) < 0.5


def test_small_counts_need_a_large_change():
    small = estimate_its(simulate_series(n_pre=36, base=2, seed=8), "2015-01")
    large = estimate_its(simulate_series(n_pre=36, base=200, seed=8), "2015-01")
    assert small.detectable_change_pct < -50 < large.detectable_change_pct < -5


def test_sicily_residuals_are_autocorrelated_and_the_model_interval_stays():
    raw = pd.read_csv(Path(__file__).parent / "fixtures" / "effects" / "sicily.csv.gz")
    index = pd.PeriodIndex([pd.Period(year=y, month=m, freq="M")
                            for y, m in zip(raw["year"], raw["month"], strict=True)])
    series = pd.DataFrame({"count": raw["aces"].astype(float).to_numpy(),
                           "population": raw["stdpop"].to_numpy()}, index=index)
    est = estimate_its(series, "2005-01")
    test = est.autocorrelation
    assert test["lags"] == 12 and test["is_detected"]
    assert test["p_value"] == pytest.approx(0.0048, abs=0.0005)
    # Newey-West is narrower here, so the headline keeps the tutorial's model interval.
    assert est.interval_source == "model" and round(est.ci_low, 3) == 0.839
    assert any("autocorrelated" in w and "no wider" in w for w in est.warnings)


def test_autocorrelated_series_gets_the_wider_newey_west_interval():
    rng = np.random.default_rng(5)
    n = 96
    ar = np.zeros(n)
    for i in range(1, n):  # a slowly wandering level: strongly autocorrelated residuals
        ar[i] = 0.8 * ar[i - 1] + rng.normal(0, 0.2)
    index = pd.period_range("2009-01", periods=n, freq="M")
    series = pd.DataFrame({"count": rng.poisson(40 * np.exp(ar)).astype(float)}, index=index)
    est = estimate_its(series, "2014-01")
    assert est.autocorrelation["is_detected"]
    assert est.interval_source == "newey-west"
    assert est.se_log_rate_ratio > est.details["model_se_log_rate_ratio"]
    assert est.to_dict()["interval"] == "Newey-West (wider than the model's)"
    assert any("wider Newey-West" in w for w in est.warnings)


def test_comparison_model_widens_to_a_panel_newey_west_interval():
    rng = np.random.default_rng(5)
    n = 96
    parts = []
    for area, is_treated in (("T", True), ("C1", False), ("C2", False)):
        ar = np.zeros(n)
        for i in range(1, n):
            ar[i] = 0.85 * ar[i - 1] + rng.normal(0, 0.2)
        parts.append(pd.DataFrame({
            "period": pd.period_range("2009-01", periods=n, freq="M"),
            "count": rng.poisson(40 * np.exp(ar)).astype(float), "area": area,
            "is_treated": is_treated}))
    est = estimate_comparison(pd.concat(parts), "2014-01")
    assert est.autocorrelation["is_detected"] and est.interval_source == "newey-west"
    assert est.se_log_rate_ratio == pytest.approx(est.autocorrelation["newey_west_se"])
    assert est.se_log_rate_ratio > est.details["model_se_log_rate_ratio"]
