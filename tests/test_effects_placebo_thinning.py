"""Placebo-in-time: thinned false starts and the sliced-design fast path."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from impactbook.effects import check_placebo_in_time, estimate_its
from impactbook.effects._its_slices import SeriesDesign
from impactbook.effects._window import Labels
from impactbook.errors import EstimationError
from tests.effects_sim import simulate_series


def test_thinned_placebos_still_flag_a_real_drop():
    series = simulate_series(n_pre=96, rate_ratio=0.6, seed=11)
    full = check_placebo_in_time(series, "2015-01")
    thinned = check_placebo_in_time(series, "2015-01", max_placebos=20)
    assert thinned.n == 20 and thinned.failed == 0
    # evenly spaced over the 61 possible starts, the first and last kept
    assert thinned.placebo_starts[0] == pd.Period("2008-01", "M")
    assert thinned.placebo_starts[-1] == pd.Period("2013-01", "M")
    gaps = np.diff([p.ordinal for p in thinned.placebo_starts])
    assert gaps.min() >= 3 and gaps.max() <= 4
    # each thinned placebo is the same fit as in the full run (whatever it was warm-started from)
    by_start = dict(zip(full.placebo_starts, full.placebo_log_rate_ratios))
    assert [by_start[p] for p in thinned.placebo_starts] == pytest.approx(
        list(thinned.placebo_log_rate_ratios), rel=1e-9, abs=1e-12)
    assert thinned.n_as_large == 0 and thinned.p_value == pytest.approx(1 / 21)
    assert "None of 20 placebo start dates (evenly spaced over the 61 possible)" in (
        thinned.interpretation)
    assert "unusual for this series" in thinned.interpretation


def test_thinning_keeps_a_null_effect_unremarkable():
    series = simulate_series(n_pre=96, rate_ratio=1.0, seed=13)
    result = check_placebo_in_time(series, "2015-01", max_placebos=24)
    assert result.n == 24 and result.n_as_large > 0 and result.p_value > 0.05
    assert "not unusual" in result.interpretation


def test_no_thinning_when_fewer_starts_than_the_cap():
    series = simulate_series(n_pre=60, seed=12)
    assert (check_placebo_in_time(series, "2015-01", max_placebos=50).placebo_starts
            == check_placebo_in_time(series, "2015-01").placebo_starts)


def test_max_placebos_must_be_at_least_two():
    with pytest.raises(ValueError, match="max_placebos"):
        check_placebo_in_time(simulate_series(n_pre=60, seed=12), "2015-01", max_placebos=1)


def _with_population_and_gaps() -> pd.DataFrame:
    series = simulate_series(n_pre=96, seed=3, trend_per_period=0.005, population=2.5e6)
    series.iloc[[5, 30, 31, 90]] = series.iloc[[5, 30, 31, 90]].assign(count=np.nan)
    return series


@pytest.mark.parametrize("series, options", [
    (_with_population_and_gaps(), {}),
    (simulate_series(n_pre=60, seed=5, base=2.0), {"slope_change": True}),
    (simulate_series(n_pre=40, seed=6, freq="Q-DEC", start="2015Q1"), {}),
    (simulate_series(n_pre=80, seed=8, base=0.3), {"fourier_pairs": 0}),
])
def test_sliced_design_matches_estimate_its_exactly(series, options):
    """The placebo fast path gives estimate_its's number (to 1e-9) and its refusals."""
    start = series.index[-24]
    pre_only = series[series.index < start]
    design = SeriesDesign.from_series(
        pre_only, family="quasi-poisson", fourier_pairs=options.get("fourier_pairs"),
        slope_change=options.get("slope_change", False), labels=Labels())
    assert design is not None
    refused = 0
    for k in range(1, len(pre_only)):
        false_start = pre_only.index[0] + k
        try:
            expected = estimate_its(pre_only, false_start, post_periods=24,
                                    check_guardrails=False, **options).log_rate_ratio
        except EstimationError:
            refused += 1
            with pytest.raises(EstimationError):
                design.level_change(false_start, 24)
            continue
        assert design.level_change(false_start, 24) == pytest.approx(expected, rel=1e-9,
                                                                     abs=1e-12)
    assert refused > 0  # the window edges are refused by both


def test_partial_periods_and_negative_binomial_take_the_general_path():
    series = simulate_series(n_pre=60, seed=12)
    series["is_partial"] = False
    series.iloc[20, series.columns.get_loc("is_partial")] = True
    pre_only = series[series.index < pd.Period("2015-01", "M")]
    assert SeriesDesign.from_series(pre_only, family="quasi-poisson", fourier_pairs=None,
                                    slope_change=False, labels=Labels()) is None
    assert SeriesDesign.from_series(simulate_series(n_pre=60, seed=12),
                                    family="negative-binomial", fourier_pairs=None,
                                    slope_change=False, labels=Labels()) is None
    result = check_placebo_in_time(series, "2015-01")
    assert result.n > 0


@pytest.mark.parametrize("seed, with_offset", [(1, False), (2, True), (3, False)])
def test_lean_irls_equals_the_plain_statsmodels_fit(seed, with_offset):
    """Every coefficient, from a cold start and from a start far from the answer."""
    import statsmodels.api as sm

    from impactbook.effects._irls import fit_poisson_irls

    rng = np.random.default_rng(seed)
    t = np.arange(-36, 24, dtype=float)
    exog = np.column_stack([np.ones_like(t), (t >= 0).astype(float), t,
                            np.sin(2 * np.pi * t / 12), np.cos(2 * np.pi * t / 12)])
    offset = np.log(rng.uniform(1e5, 2e5, len(t))) if with_offset else None
    truth = np.array([-9.0 if with_offset else 2.5, -0.3, 0.004, 0.2, -0.1])
    y = rng.poisson(np.exp(exog @ truth + (0 if offset is None else offset))).astype(float)
    plain = sm.GLM(y, exog, family=sm.families.Poisson(), offset=offset).fit(scale="X2")
    for start in (None, np.asarray(plain.params) + 0.5):
        fast = fit_poisson_irls(y, exog, offset, start)
        assert fast == pytest.approx(np.asarray(plain.params), rel=1e-9, abs=1e-12)


def test_lean_irls_hands_rank_deficient_designs_back():
    from impactbook.effects._irls import fit_poisson_irls

    exog = np.column_stack([np.ones(30), np.ones(30), np.arange(30.0)])
    assert fit_poisson_irls(np.arange(30.0) + 1, exog, None) is None
