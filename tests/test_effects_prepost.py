"""Naive pre/post: equal windows, exact means, a quasi-Poisson interval."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from impactbook.effects import ESTIMATE_KEYS, estimate_prepost
from impactbook.errors import EstimationError
from tests.effects_sim import simulate_series


def test_windows_are_equal_and_means_exact():
    series = simulate_series(n_pre=60, n_post=30, seed=3)
    est = estimate_prepost(series, "2015-01")
    assert est.pre_periods == est.post_periods == 24
    start = pd.Period("2015-01", "M")
    pre = series.loc[start - 24: start - 1, "count"].mean()
    post = series.loc[start: start + 23, "count"].mean()
    assert est.pre_mean == pytest.approx(pre) and est.post_mean == pytest.approx(post)
    assert est.rate_ratio == pytest.approx(post / pre)
    assert est.raw_percent_change == pytest.approx(est.percent_change)
    assert est.ci_low < est.rate_ratio < est.ci_high
    data = est.to_dict()
    assert tuple(data) == ESTIMATE_KEYS
    assert data["method"] == "prepost" and data["model"] == "naive pre/post"


def test_window_is_limited_by_the_shorter_side():
    series = simulate_series(n_pre=18, n_post=30, seed=3)
    est = estimate_prepost(series, "2015-01")
    assert est.pre_periods == est.post_periods == 18
    assert any("used: the before/after windows are 18 months, not 24" in w
               for w in est.warnings)


def test_explicit_window():
    est = estimate_prepost(simulate_series(seed=3), "2015-01", window=12)
    assert est.pre_periods == est.post_periods == 12
    assert est.details["pre_window"] == ["2014-01", "2014-12"]


def test_known_drop_is_in_the_interval():
    series = simulate_series(rate_ratio=0.6, seasonal_amplitude=0.0, seed=9)
    est = estimate_prepost(series, "2015-01")
    assert est.ci_low < 0.6 < est.ci_high and est.ci_high < 1


def test_interval_widens_with_overdispersion():
    calm = estimate_prepost(simulate_series(seed=4, seasonal_amplitude=0.0), "2015-01")
    wild = estimate_prepost(simulate_series(seed=4, alpha=0.3, seasonal_amplitude=0.0),
                            "2015-01")
    width = lambda e: np.log(e.ci_high) - np.log(e.ci_low)  # noqa: E731
    assert wild.dispersion > 2 * calm.dispersion
    assert width(wild) > width(calm)


def test_start_outside_data_raises():
    with pytest.raises(EstimationError, match="after the last observed period"):
        estimate_prepost(simulate_series(), "2031-01", labels={"city": "Springfield"})


def test_pre_periods_caps_the_window():
    est = estimate_prepost(simulate_series(seed=3), "2015-01", pre_periods=12)
    assert est.pre_periods == est.post_periods == 12
    assert any("Only 12 months before the start are used" in w for w in est.warnings)
