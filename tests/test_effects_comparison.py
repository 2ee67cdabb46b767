"""Difference-in-differences against comparison areas, checked against a direct formula GLM."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf

from impactbook.effects import ESTIMATE_KEYS, estimate_comparison
from impactbook.errors import EstimationError

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "effects"


@pytest.fixture(scope="module")
def brooklyn() -> pd.DataFrame:
    panel = pd.read_csv(FIXTURES / "nypd_brooklyn_precinct_shootings_monthly.csv")
    panel["period"] = [pd.Period(p, "M") for p in panel["period"]]
    panel["is_treated"] = panel["area"] == "Precinct 77"
    return panel


@pytest.fixture(scope="module")
def seattle() -> pd.DataFrame:
    panel = pd.read_csv(FIXTURES / "seattle_dmi_quarterly.csv")
    panel["period"] = [pd.Period(p.replace("-", ""), "Q-DEC") for p in panel["period"]]
    panel["is_treated"] = panel["area"] == "DMI blocks"
    return panel.rename(columns={"drug offenses": "count"})[
        ["area", "period", "count", "is_treated", "population"]]


def reference_glm(panel: pd.DataFrame, start: pd.Period, first: pd.Period, last: pd.Period,
                  offset: bool = False):
    rows = panel[(panel["period"] >= first) & (panel["period"] <= last)].copy()
    rows["treated_post"] = (rows["is_treated"] & (rows["period"] >= start)).astype(float)
    rows["period_label"] = rows["period"].astype(str)
    return smf.glm(
        "count ~ C(area) + C(period_label) + treated_post", data=rows,
        family=sm.families.Poisson(),
        offset=np.log(rows["population"]) if offset else None,
    ).fit(scale="X2")


def test_precinct_77_matches_a_directly_written_glm(brooklyn):
    start = pd.Period("2010-01", "M")
    est = estimate_comparison(brooklyn, start, labels={"city": "New York",
                                                       "outcome": "shootings"})
    ref = reference_glm(brooklyn, start, pd.Period("2006-01", "M"), pd.Period("2011-12", "M"))
    assert est.log_rate_ratio == pytest.approx(ref.params["treated_post"], rel=1e-7)
    assert est.se_log_rate_ratio == pytest.approx(ref.bse["treated_post"], rel=1e-6)
    low, high = np.exp(ref.conf_int().loc["treated_post"])
    assert est.ci_low == pytest.approx(low) and est.ci_high == pytest.approx(high)
    assert est.p_value == pytest.approx(ref.pvalues["treated_post"], rel=1e-6)
    assert est.area == "Precinct 77" and est.pre_periods == 48 and est.post_periods == 24
    assert est.details["comparison_areas"] == ["Precinct 71", "Precinct 73", "Precinct 79",
                                               "Precinct 81"]
    data = est.to_dict()
    assert tuple(data) == ESTIMATE_KEYS and data["method"] == "comparison"


def test_two_area_interaction_is_the_ratio_of_raw_ratios():
    # With one treated and one comparison area, conditioning on period totals makes the Poisson
    # DiD estimate exactly (T_post / T_pre) / (C_post / C_pre) of the window sums.
    rng = np.random.default_rng(8)
    periods = pd.period_range("2012-01", periods=36, freq="M")
    start = pd.Period("2013-07", "M")
    rows = [{"area": area, "period": p, "is_treated": treated,
             "count": float(rng.poisson(level * (after if p >= start else 1.0)))}
            for area, treated, level, after in (("T", True, 20, 0.5), ("C", False, 50, 0.8))
            for p in periods]
    panel = pd.DataFrame(rows)
    est = estimate_comparison(panel, start, post_periods=18)
    sums = panel.assign(post=panel["period"] >= start).groupby(["area", "post"])["count"].sum()
    expected = (sums["T", True] / sums["T", False]) / (sums["C", True] / sums["C", False])
    assert est.rate_ratio == pytest.approx(expected, rel=1e-6)
    assert est.ci_low < 0.5 / 0.8 < est.ci_high


def test_seattle_quarterly_blocks_with_population_offset(seattle):
    start = pd.Period("2013Q1", "Q-DEC")
    est = estimate_comparison(seattle, start, labels={"city": "Seattle",
                                                      "outcome": "drug offenses"})
    ref = reference_glm(seattle, start, pd.Period("2010Q1", "Q-DEC"),
                        pd.Period("2013Q4", "Q-DEC"), offset=True)
    assert est.log_rate_ratio == pytest.approx(ref.params["treated_post"], rel=1e-7)
    assert est.se_log_rate_ratio == pytest.approx(ref.bse["treated_post"], rel=1e-6)
    assert est.pre_periods == 12 and est.post_periods == 4
    assert est.to_dict()["start"] == "2013-Q1"
    assert any("post-period is shorter" in w for w in est.warnings)
    assert len(est.counterfactual) == 4


def test_counterfactual_band_contains_its_mean(brooklyn):
    est = estimate_comparison(brooklyn, "2010-01")
    cf = est.counterfactual
    assert len(cf) == 24 and (cf["low"] < cf["mean"]).all() and (cf["mean"] < cf["high"]).all()
    post_fit = est.fitted[est.fitted.index >= pd.Period("2010-01", "M")]
    np.testing.assert_allclose(post_fit.to_numpy(), cf["mean"].to_numpy() * est.rate_ratio)


def test_diverging_pre_trends_are_flagged():
    rng = np.random.default_rng(3)
    periods = pd.period_range("2010-01", periods=72, freq="M")
    rows = []
    for area, treated, slope in (("T", True, 0.02), ("C1", False, 0.0), ("C2", False, 0.0)):
        for i, p in enumerate(periods):
            rows.append({"area": area, "period": p, "is_treated": treated,
                         "count": float(rng.poisson(40 * np.exp(slope * i)))})
    est = estimate_comparison(pd.DataFrame(rows), "2014-01")
    assert any("trending differently" in w for w in est.warnings)
    assert est.details["pre_trend"]["p_value"] < 0.05


def test_panel_problems_are_clear_errors(brooklyn):
    with pytest.raises(EstimationError, match="lacks columns"):
        estimate_comparison(brooklyn.drop(columns="is_treated"), "2010-01")
    with pytest.raises(EstimationError, match="at least one treated and one comparison"):
        estimate_comparison(brooklyn.assign(is_treated=True), "2010-01")
    with pytest.raises(EstimationError, match="after the last observed period"):
        estimate_comparison(brooklyn, "2025-01", labels={"city": "New York"})


def test_partial_population_drops_the_offset_with_a_warning(seattle):
    panel = seattle.copy()
    panel.loc[panel["area"] == "Rest of Seattle", "population"] = np.nan
    est = estimate_comparison(panel, "2013-Q1")
    assert est.details["population_offset"] is False
    assert any("without a population offset" in w for w in est.warnings)


def test_warm_started_pre_trend_equals_the_plain_statsmodels_fit(brooklyn):
    """The pre-trend test, started from the full model, gives the cold-started GLM's numbers."""
    start = pd.Period("2010-01", "M")
    est = estimate_comparison(brooklyn, start, labels={"city": "New York",
                                                       "outcome": "shootings"})
    rows = brooklyn[(brooklyn["period"] >= pd.Period("2006-01", "M"))
                    & (brooklyn["period"] < start)].copy()
    t = np.array([p.ordinal for p in rows["period"]], dtype=float)
    rows["treated_trend"] = rows["is_treated"].astype(float) * (t - t.mean())
    rows["period_label"] = rows["period"].astype(str)
    plain = smf.glm("count ~ C(area) + C(period_label) + treated_trend", data=rows,
                    family=sm.families.Poisson()).fit(scale="X2")
    pre_trend = est.details["pre_trend"]
    assert pre_trend["ratio_per_year"] == pytest.approx(
        np.exp(12 * plain.params["treated_trend"]), rel=1e-9)
    assert pre_trend["p_value"] == pytest.approx(plain.pvalues["treated_trend"], rel=1e-7)
