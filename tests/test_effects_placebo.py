"""Placebo-in-time: false starts in the pre-period only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from impactbook.effects import check_placebo_in_time, estimate_its
from impactbook.errors import EstimationError
from tests.effects_sim import simulate_series


def test_real_drop_is_unusual_against_placebos():
    series = simulate_series(n_pre=96, rate_ratio=0.6, seed=11)
    result = check_placebo_in_time(series, "2015-01")
    # false starts from pre-start + 12 to the last that leaves a full 24-period placebo window
    assert result.n == 96 - 12 - 24 + 1 and result.failed == 0
    assert result.post_periods == 24
    assert result.n_as_large == 0 and result.percentile == 100.0
    assert result.p_value == pytest.approx(1 / (result.n + 1))
    assert "unusual for this series" in result.interpretation
    assert result.placebo_starts[0] == pd.Period("2008-01", "M")
    assert result.placebo_starts[-1] == pd.Period("2013-01", "M")


def test_placebos_never_see_post_start_data():
    series = simulate_series(n_pre=60, seed=12)
    first = check_placebo_in_time(series, "2015-01")
    changed = series.copy()
    changed.loc[changed.index >= pd.Period("2015-01", "M"), "count"] *= 3
    second = check_placebo_in_time(changed, "2015-01")
    np.testing.assert_allclose(first.placebo_log_rate_ratios, second.placebo_log_rate_ratios)
    assert first.real_log_rate_ratio != pytest.approx(second.real_log_rate_ratio)


def test_no_effect_is_not_flagged_as_unusual():
    series = simulate_series(n_pre=96, rate_ratio=1.0, seed=13)
    real = estimate_its(series, "2015-01")
    result = check_placebo_in_time(series, "2015-01", real=real)
    assert result.n_as_large > 0 and result.p_value > 0.05
    assert "not unusual" in result.interpretation
    assert set(result.to_dict()) >= {"n_placebos", "percentile", "interpretation", "position"}
    assert result.position_text.startswith(f"{result.n_as_large} of {result.n} placebos")
    assert len(result.to_frame()) == result.n


def test_short_pre_period_skips_the_check_with_a_note():
    result = check_placebo_in_time(simulate_series(n_pre=38, seed=1), "2015-01")
    assert result.n == 3 and result.is_skipped and not result.is_unusual
    assert result.interpretation.startswith("Placebo check skipped: only 3 false start dates")
    assert result.position_text.startswith("skipped")


def test_verdict_follows_the_rank_p():
    # 13 placebos: even none as large gives rank p 1/14 = 0.071, which is not "unusual".
    series = simulate_series(n_pre=48, rate_ratio=0.5, seed=11)
    result = check_placebo_in_time(series, "2015-01")
    assert result.n == 13 and result.n_as_large == 0
    assert result.p_value == pytest.approx(1 / 14) and not result.is_unusual
    assert "cannot show the change is unusual" in result.interpretation
    assert "so a change this size is unusual" not in result.interpretation
    assert "descriptive rank, not an exact test" in result.interpretation


def test_pre_period_too_short_for_any_placebo_raises():
    with pytest.raises(EstimationError, match="placebo"):
        check_placebo_in_time(simulate_series(n_pre=10, seed=1), "2015-01")
