"""Each guardrail is tripped by a series built to trip it, and quiet on a clean series."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from impactbook.effects import estimate_its, estimate_prepost
from impactbook.effects.guardrails import warn_dilution, warn_pandemic_overlap
from tests.effects_sim import simulate_series


def has(estimate, text: str) -> bool:
    return any(text in w for w in estimate.warnings)


def test_clean_series_has_no_warnings():
    assert estimate_its(simulate_series(seed=21), "2015-01").warnings == ()


def test_fewer_than_24_pre_periods():
    est = estimate_its(simulate_series(n_pre=18, seed=2), "2015-01")
    assert has(est, "Only 18 months before the start are used (fewer than 24)")


def test_post_shorter_than_asked():
    est = estimate_its(simulate_series(n_post=10, seed=2), "2015-01", post_periods=24)
    assert est.post_periods == 10
    assert has(est, "Only 10 months from the start onwards are in the data (24 asked)")


def test_missing_period_inside_window():
    series = simulate_series(seed=2)
    series.loc[pd.Period("2014-05", "M"), "count"] = np.nan
    assert has(estimate_its(series, "2015-01"), "1 missing month inside the window (2014-05)")


def test_partial_period_flag_is_left_out():
    series = simulate_series(seed=2)
    series["is_partial"] = False
    series.loc[series.index[-1], "is_partial"] = True
    est = estimate_its(series, "2015-01")
    assert has(est, "partial month") and est.details["observed_periods"] == 83


def test_trailing_missing_periods_shorten_the_post_period():
    series = simulate_series(seed=2)
    series.loc[series.index[-4:], "count"] = np.nan
    est = estimate_its(series, "2015-01")
    assert est.post_periods == 20 and has(est, "post-period is shorter")


def test_small_counts():
    est = estimate_its(simulate_series(base=3.0, seed=2), "2015-01")
    assert has(est, "Counts are small (mean")


def test_spike_before_start():
    series = simulate_series(seed=2, seasonal_amplitude=0.0)
    for period in ("2014-11", "2014-12"):
        series.loc[pd.Period(period, "M"), "count"] = 80.0
    est = estimate_its(series, "2015-01")
    assert has(est, "regression to the mean") and has(est, "2014-11, 2014-12")
    assert has(estimate_prepost(series, "2015-01"), "regression to the mean")


def test_pandemic_window():
    est = estimate_its(simulate_series(start="2019-06", seed=2), "2019-06")
    assert has(est, "March 2020 to December 2021")
    quarterly = pd.Period("2021Q4", "Q-DEC")
    assert warn_pandemic_overlap(quarterly - 8, quarterly) is not None
    assert warn_pandemic_overlap(pd.Period("2016-01", "M"), pd.Period("2020-02", "M")) is None
    assert warn_pandemic_overlap(pd.Period("2022-01", "M"), pd.Period("2023-12", "M")) is None


@pytest.mark.parametrize(
    ("area", "programme_area", "flag", "fires"),
    [("citywide", "District 11", False, True),
     ("citywide", "citywide", False, False),
     ("District 11", None, True, True),
     ("District 11", "District 11", False, False)],
)
def test_dilution(area, programme_area, flag, fires):
    assert (warn_dilution(area, programme_area, flag) is not None) is fires


def test_dilution_reaches_the_estimate():
    est = estimate_its(simulate_series(seed=2), "2015-01",
                       labels={"city": "Chicago", "area": "citywide", "outcome": "homicides"},
                       programme_area="District 11")
    assert has(est, "programme ran in a smaller area (District 11)")
