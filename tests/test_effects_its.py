"""Interrupted time series: the Sicily reference, simulated truths, options and failures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from impactbook.effects import ESTIMATE_KEYS, estimate_its
from impactbook.errors import EstimationError
from tests.effects_sim import simulate_series

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "effects"
SICILY_LABELS = {"city": "Sicily", "area": "citywide", "outcome": "acute coronary events"}


@pytest.fixture(scope="module")
def sicily() -> pd.DataFrame:
    raw = pd.read_csv(FIXTURES / "sicily.csv.gz")
    index = pd.PeriodIndex([pd.Period(year=y, month=m, freq="M")
                            for y, m in zip(raw["year"], raw["month"], strict=True)])
    return pd.DataFrame({"count": raw["aces"].astype(float).to_numpy(),
                         "population": raw["stdpop"].to_numpy()}, index=index)


def test_sicily_with_seasonality_matches_tutorial(sicily):
    est = estimate_its(sicily, pd.Period("2005-01", "M"), labels=SICILY_LABELS)
    assert round(est.rate_ratio, 3) == 0.885
    assert round(est.ci_low, 3) == 0.839
    assert round(est.ci_high, 3) == 0.933
    assert est.details["fourier_pairs"] == 2 and est.details["population_offset"]


def test_sicily_without_fourier_terms_matches_tutorial(sicily):
    est = estimate_its(sicily, "2005-01", fourier_pairs=0, labels=SICILY_LABELS)
    assert round(est.rate_ratio, 3) == 0.894


def test_sicily_json_has_exactly_the_contract_keys(sicily):
    est = estimate_its(sicily, "2005-01", labels=SICILY_LABELS)
    data = est.to_dict()
    assert tuple(data) == ESTIMATE_KEYS
    text = json.dumps(data, allow_nan=False)
    assert json.loads(text)["start"] == "2005-01"
    assert data["method"] == "its" and data["model"] == "quasi-poisson"
    assert data["pre_periods"] == 36 and data["post_periods"] == 23
    assert data["percent_change"] == pytest.approx((data["rate_ratio"] - 1) * 100, abs=0.06)
    assert data["dispersion"] == pytest.approx(2.262, abs=1e-3)
    # The data end after 23 months, one short of the default 24.
    assert any("post-period is shorter" in w for w in data["warnings"])
    assert "details" in est.to_dict(with_details=True)


def test_quasi_poisson_matches_a_directly_written_glm(sicily):
    t = np.arange(len(sicily), dtype=float)
    post = (sicily.index >= pd.Period("2005-01", "M")).astype(float)
    exog = np.column_stack([np.ones(len(t)), post, t] + [
        f(2 * np.pi * k * sicily.index.month.to_numpy() / 12)
        for k in (1, 2) for f in (np.sin, np.cos)])
    ref = sm.GLM(sicily["count"].to_numpy(), exog, family=sm.families.Poisson(),
                 offset=np.log(sicily["population"].to_numpy())).fit(scale="X2")
    est = estimate_its(sicily, "2005-01")
    assert est.log_rate_ratio == pytest.approx(ref.params[1], rel=1e-8)
    assert est.se_log_rate_ratio == pytest.approx(ref.bse[1], rel=1e-6)
    assert est.p_value == pytest.approx(ref.pvalues[1], rel=1e-6)


def test_counterfactual_and_fitted_frames_cover_the_window(sicily):
    est = estimate_its(sicily, "2005-01")
    cf = est.counterfactual
    assert list(cf.columns) == ["mean", "low", "high"]
    assert cf.index[0] == pd.Period("2005-01", "M") and len(cf) == 23
    assert (cf["low"] < cf["mean"]).all() and (cf["mean"] < cf["high"]).all()
    assert len(est.fitted) == 59 and est.fitted.index.equals(sicily.index)
    # Fitted over the post period = counterfactual x the level change.
    post_fit = est.fitted[est.fitted.index >= pd.Period("2005-01", "M")]
    np.testing.assert_allclose(post_fit.to_numpy(), cf["mean"].to_numpy() * est.rate_ratio)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_simulated_level_change_is_recovered_within_interval(seed):
    series = simulate_series(rate_ratio=0.7, seed=seed, trend_per_period=0.003)
    est = estimate_its(series, "2015-01")
    assert est.ci_low < 0.7 < est.ci_high
    assert est.ci_high < 1.0 and est.p_value < 0.01
    assert est.pre_periods == 60 and est.post_periods == 24
    assert est.warnings == ()


def test_no_effect_gives_an_interval_containing_one():
    est = estimate_its(simulate_series(rate_ratio=1.0, seed=5), "2015-01")
    assert est.ci_low < 1.0 < est.ci_high
    assert est.p_value > 0.05
    assert est.dispersion == pytest.approx(1.0, abs=0.5)


def test_intervals_cover_truth_at_about_the_nominal_rate():
    covered = 0
    for seed in range(40):
        est = estimate_its(simulate_series(rate_ratio=0.8, seed=100 + seed), "2015-01")
        covered += est.ci_low < 0.8 < est.ci_high
    assert covered >= 34  # 95% nominal; 34/40 leaves room for chance


def test_negative_binomial_estimates_alpha():
    series = simulate_series(rate_ratio=0.7, alpha=0.1, seed=7, n_pre=96, base=30)
    est = estimate_its(series, "2015-01", family="negative-binomial")
    assert est.model == "negative-binomial"
    assert 0.03 < est.details["alpha"] < 0.25
    assert est.ci_low < 0.7 < est.ci_high


def test_hac_changes_the_interval_not_the_estimate(sicily):
    plain = estimate_its(sicily, "2005-01")
    hac = estimate_its(sicily, "2005-01", robust="hac")
    assert hac.rate_ratio == pytest.approx(plain.rate_ratio)
    assert hac.se_log_rate_ratio != pytest.approx(plain.se_log_rate_ratio)
    assert hac.details["hac_lags"] == 3  # floor(4 (59/100)^(2/9))


def test_slope_change_is_reported_in_details():
    series = simulate_series(rate_ratio=0.8, seed=3)
    est = estimate_its(series, "2015-01", slope_change=True)
    assert {"slope_change_ratio_per_period", "slope_change_ci",
            "rate_ratio_end_of_post"} <= set(est.details)
    low, high = est.details["slope_change_ci"]
    assert low < 1.0 < high  # no slope change was simulated


def test_quarterly_series_uses_one_fourier_pair():
    series = simulate_series(n_pre=32, n_post=8, start="2013-01", freq="Q-DEC", base=60,
                             rate_ratio=0.7, seed=4)
    est = estimate_its(series, pd.Period("2013Q1", "Q-DEC"))
    assert est.details["fourier_pairs"] == 1
    assert est.post_periods == 8 and est.to_dict()["start"] == "2013-Q1"
    assert est.ci_low < 0.7 < est.ci_high


def test_missing_periods_are_dropped_and_named():
    series = simulate_series(seed=2)
    series.loc[pd.Period("2013-03", "M"), "count"] = np.nan
    series.loc[pd.Period("2015-06", "M"), "count"] = np.nan
    est = estimate_its(series, "2015-01")
    assert est.details["observed_periods"] == 82
    assert any("2013-03, 2015-06" in w and "missing" in w for w in est.warnings)
    assert np.isfinite(est.rate_ratio)


def test_pre_periods_limits_the_window():
    est = estimate_its(simulate_series(seed=2), "2015-01", pre_periods=30)
    assert est.pre_periods == 30 and len(est.fitted) == 54


def test_start_outside_the_data_names_the_series():
    labels = {"city": "Springfield", "area": "citywide", "outcome": "shootings"}
    with pytest.raises(EstimationError, match="Springfield / citywide / shootings.*after the"):
        estimate_its(simulate_series(), "2030-01", labels=labels)
    with pytest.raises(EstimationError, match="no pre-period"):
        estimate_its(simulate_series(), "2000-01", labels=labels)


def test_too_few_periods_to_fit_raises():
    series = simulate_series(n_pre=4, n_post=3)
    with pytest.raises(EstimationError, match="too few periods"):
        estimate_its(series, "2015-01")


def test_no_events_after_start_raises():
    series = simulate_series()
    series.loc[series.index >= pd.Period("2015-01", "M"), "count"] = 0.0
    with pytest.raises(EstimationError, match="no events after"):
        estimate_its(series, "2015-01")


def test_non_convergence_is_an_error_not_a_number(monkeypatch):
    import impactbook.effects._fit as fit_module

    class OneStepGLM(sm.GLM):
        def fit(self, *args, **kwargs):
            return super().fit(*args, maxiter=1, **kwargs)

    monkeypatch.setattr(fit_module.sm, "GLM", OneStepGLM)
    with pytest.raises(EstimationError, match="did not converge"):
        estimate_its(simulate_series(), "2015-01", labels={"city": "Springfield"})


def test_negative_counts_are_rejected():
    series = simulate_series()
    series.iloc[3, 0] = -2.0
    with pytest.raises(EstimationError, match="negative counts"):
        estimate_its(series, "2015-01")
