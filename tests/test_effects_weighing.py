"""Designs weighed: the strongest design the data support leads, and disagreement is said."""

from __future__ import annotations

import dataclasses

import numpy as np

from impactbook.effects import choose_headline, designs_disagree, estimate_its
from impactbook.report import content as report
from tests.effects_sim import simulate_series
from tests.workbooks import build_workbook, monthly_rows

BASE = estimate_its(simulate_series(seed=2), "2015-01")


def _est(method: str, ratio: float, low: float, high: float, **details):
    return dataclasses.replace(BASE, method=method, rate_ratio=ratio, ci_low=low, ci_high=high,
                               details={**BASE.details, **details})


def test_comparison_passing_the_pre_trend_check_leads():
    its = _est("its", 0.8, 0.7, 0.9)
    did = _est("comparison", 0.85, 0.7, 1.05, is_pre_trend_parallel=True)
    choice = choose_headline({"its": its, "comparison": did, "prepost": None})
    assert choice.method == "comparison" and not choice.designs_disagree
    assert choice.design == "comparison areas"


def test_comparison_failing_the_pre_trend_check_gives_way_to_the_time_series():
    its = _est("its", 0.8, 0.7, 0.9)
    did = _est("comparison", 0.85, 0.7, 1.05, is_pre_trend_parallel=False)
    choice = choose_headline({"its": its, "comparison": did})
    assert choice.method == "its"
    assert "trending differently before the start" in choice.reason
    prepost_only = choose_headline({"prepost": _est("prepost", 0.9, 0.8, 1.0)})
    assert prepost_only.method == "prepost"


def test_a_good_synthetic_control_leads_and_a_poor_one_does_not():
    its = _est("its", 0.8, 0.7, 0.9)
    assert choose_headline({"its": its, "synth": _est("synth", 0.8, 0.7, 0.95,
                                                      is_good_fit=True)}).method == "synth"
    poor = choose_headline({"its": its, "synth": _est("synth", 0.8, 0.7, 0.95)})
    assert poor.method == "its" and "pre-period fit is poor" in poor.reason


def test_disagreement_rules():
    fall = _est("its", 0.5, 0.35, 0.7)
    assert designs_disagree(fall, _est("comparison", 1.5, 1.03, 2.2))  # opposite, clear
    assert designs_disagree(fall, _est("comparison", 1.2, 0.9, 1.6))  # opposite, one clear
    assert designs_disagree(fall, _est("comparison", 0.85, 0.75, 0.95))  # no overlap
    assert not designs_disagree(fall, _est("comparison", 0.8, 0.6, 1.05))
    assert not designs_disagree(_est("its", 0.9, 0.7, 1.1), _est("comparison", 1.1, 0.9, 1.3))


def test_report_says_when_the_designs_disagree(tmp_path):
    # The programme area falls 30% at the start while its comparison areas fall 60%: the time
    # series sees a fall, the comparison sees the programme area doing worse.
    rng = np.random.default_rng(3)
    t = np.arange(72)
    rows = ""
    for area, drop in (("District 1", 0.7), ("District 2", 0.4), ("District 3", 0.4)):
        rows += monthly_rows("Springfield", area, "shootings", 2014,
                             list(rng.poisson(60 * np.where(t >= 48, drop, 1.0))))
    folder = build_workbook(
        tmp_path / "wb", rows,
        "p1,Springfield,Cure Violence,P,District 1,2018-01,shootings,District 2;District 3\n",
        tags="Cure Violence,intervention\n",
        columns={"interventions": "id,city,intervention,programme,area,start,outcomes,"
                                  "comparison_areas"})
    city = report.build_city_report(folder, "Springfield")
    (result,) = city.results
    assert result.its.ci_high < 1 and result.comparison.ci_low > 1
    assert result.choice.method == "comparison" and result.choice.designs_disagree
    assert any(w.startswith("Designs disagree: the interrupted time series gives")
               for w in result.warnings)
    finding = city.key_findings[0]
    assert "The designs disagree, so the evidence on this outcome is mixed" in finding
    assert city.headline()["designs_disagree"] is True


def test_small_counts_report_says_what_could_have_been_detected(tmp_path):
    rng = np.random.default_rng(4)
    rows = monthly_rows(
        "Springfield", "District 1", "homicides", 2014, list(rng.poisson(1.5, size=72)))
    folder = build_workbook(
        tmp_path / "wb", rows, "p1,Springfield,Cure Violence,P,District 1,2018-01,homicides\n",
        tags="Cure Violence,intervention\n")
    city = report.build_city_report(folder, "Springfield")
    (result,) = city.results
    assert not result.its.excludes_no_change and result.its.detectable_change_pct < -50
    finding = city.key_findings[0]
    assert "showed no clear change" in finding and "95% interval" in finding
    assert "With counts this small only a fall of" in finding
    assert "not evidence of no effect" in finding


def test_an_added_row_with_a_narrower_interval_does_not_take_the_headline(tmp_path):
    rng = np.random.default_rng(5)
    t = np.arange(72)
    rows = monthly_rows("Springfield", "District 1", "homicides", 2014,
                        list(rng.poisson(8 * np.where(t >= 48, 0.8, 1.0))))
    rows += monthly_rows("Springfield", "District 2", "shootings", 2014,
                         list(rng.poisson(300 * np.where(t >= 48, 0.9, 1.0))))
    folder = build_workbook(
        tmp_path / "wb", rows,
        "first,Springfield,Cure Violence,First,District 1,2018-01,homicides\n"
        "trial,Springfield,Cure Violence,Trial,District 2,2018-01,shootings\n",
        tags="Cure Violence,intervention\n")
    city = report.build_city_report(folder, "Springfield")
    first, trial = city.results
    assert trial.its.ci_high / trial.its.ci_low < first.its.ci_high / first.its.ci_low
    headline = city.headline()
    assert headline["programme"] == "First" and "strongest design" in headline["how_chosen"]
