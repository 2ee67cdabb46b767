"""Which design may lead: fit and bias rules that hold on sparse counts as on busy ones."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from impactbook.effects import estimate_synth
from impactbook.effects.leading import judge_synth_fit, why_not_lead
from impactbook.report import content as report
from tests.workbooks import build_workbook, monthly_rows


def test_a_fit_within_noise_at_a_sparse_mean_fails_when_placebos_fit_better():
    # The case from a city's own incident list: 0.4 shootings a month, the synthetic control
    # missing by 184% of the mean. sqrt(0.4) * 1.5 = 0.95 > 0.74, so "within noise" alone
    # would call it good; the donors reproduce each other's past far better.
    pre_mean, pre_rmspe = 0.4, 1.84 * 0.4
    fit = judge_synth_fit(pre_mean, pre_rmspe, placebo_noise_ratios=[0.6] * 9 + [1.5])
    assert fit["noise_ratio"] < 1.5 and not fit["is_good_fit"]
    assert "worse than 90% of the placebo areas' fits" in fit["fit_problem"]
    # The same miss among placebos that fit no better is as good as these counts allow:
    # the rule can pass at a mean under 1.
    fair = judge_synth_fit(pre_mean, pre_rmspe, placebo_noise_ratios=list(np.linspace(1, 1.6, 10)))
    assert fair["is_good_fit"] and fair["fit_problem"] is None


def test_a_busy_series_is_judged_by_its_noise():
    # 40 a month: noise sqrt(40) = 6.3; a miss of 6 is as good as the counts allow, 15 is not.
    assert judge_synth_fit(40.0, 6.0, [1.0, 1.1, 0.9])["is_good_fit"]
    poor = judge_synth_fit(40.0, 15.0, [1.0, 1.1, 0.9])
    assert not poor["is_good_fit"] and "more than 1.5 times the counts' own noise" in (
        poor["fit_problem"])
    exact = judge_synth_fit(40.0, 1e-12, [3.0])
    assert exact["pre_rmspe"] == 0 and exact["is_good_fit"]


def test_a_synthetic_control_flagged_as_biased_never_leads():
    details = {"is_good_fit": True, "donors": 20, "is_larger_than_every_donor": True}
    assert "biased upwards" in why_not_lead("synth", details)
    assert why_not_lead("synth", {**details, "is_larger_than_every_donor": False}) is None
    assert "only 6 donors" in why_not_lead("synth", {"is_good_fit": True, "donors": 6})
    assert why_not_lead("its", {}) is None
    assert "trending differently" in why_not_lead("comparison", {})


def _sparse_city(tmp_path, treated_mean: float, donor_means: list[float], seed: int):
    """A city of sparse areas: the programme area, its donors and a one-incident area."""
    rng = np.random.default_rng(seed)
    rows = monthly_rows("Springfield", "Precinct 1", "shootings", 2014,
                        list(rng.poisson(treated_mean, 72)))
    for i, mean in enumerate(donor_means, start=2):
        rows += monthly_rows("Springfield", f"Precinct {i}", "shootings", 2014,
                             list(rng.poisson(mean, 72)))
    one = [0] * 72
    one[30] = 1  # an area with a single incident in six years
    rows += monthly_rows("Springfield", "Precinct 99", "shootings", 2014, one)
    return build_workbook(tmp_path / "wb", rows,
                          "p1,Springfield,Cure Violence,P,Precinct 1,2018-01,shootings\n",
                          tags="Cure Violence,intervention\n")


def test_sparse_list_a_programme_area_larger_than_every_donor_does_not_lead(tmp_path):
    folder = _sparse_city(tmp_path, 0.45, [0.1] * 6 + [0.15] * 6, seed=11)
    (result,) = report.build_city_report(folder, "Springfield").results
    synth = result.synth
    assert synth is not None and synth.pre_mean < 1
    assert any("larger than every donor" in w for w in synth.warnings)
    assert result.choice.method == "its"
    assert "synthetic control was passed over" in result.choice.reason
    assert "biased upwards" in result.choice.reason


def test_sparse_list_a_typical_area_may_still_lead(tmp_path):
    # Every area alike at 0.5 a month: the programme area's fit is as good as the donors'
    # fits of one another, so sparse counts alone do not keep the synthetic control out.
    folder = _sparse_city(tmp_path, 0.5, [0.5] * 14, seed=5)
    (result,) = report.build_city_report(folder, "Springfield").results
    details = result.synth.details
    assert result.synth.pre_mean < 1 and not details["is_larger_than_every_donor"]
    assert details["placebo_share_better"] <= 0.8
    assert result.choice.method == "synth"


def test_classic_synth_records_the_placebo_relative_fit():
    rng = np.random.default_rng(1)
    periods = pd.period_range("2010-01", periods=60, freq="M")
    panel = pd.DataFrame({f"Area {i}": rng.poisson(0.4 + 0.02 * i, 60) for i in range(15)},
                         index=periods).astype(float)
    # A programme area with a trend its donors lack: the donors cannot follow it.
    panel.insert(0, "Programme", rng.poisson(np.linspace(0.05, 0.8, 60)).astype(float))
    est = estimate_synth(panel, "Programme", "2014-01", post_periods=12)
    details = est.details
    assert est.pre_mean < 1 and math.isfinite(details["noise_ratio"])
    assert details["placebo_share_better"] is not None
    assert details["is_good_fit"] == (details["fit_problem"] is None)
    assert details["is_larger_than_every_donor"] is False
