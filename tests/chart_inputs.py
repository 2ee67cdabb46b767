"""Small, seeded inputs for every chart kind of the report: the pixel test draws them and
compares the drawings to reference images (``tests/fixtures/charts/``)."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace

import numpy as np
import pandas as pd

from impactbook.effects import estimate_its, estimate_synth
from impactbook.effects.rollout import estimate_rollout
from impactbook.report import plots, rollout_chart

from .effects_sim import simulate_series

LABELS = {"city": "Town", "area": "Precinct 77", "outcome": "non-fatal shooting victims"}


def _its():
    series = simulate_series(seed=2, start="2015-01", rate_ratio=0.8, trend_per_period=0.004)
    return series, estimate_its(series, "2015-01", labels=LABELS)


def outcome_series():
    return plots.plot_outcome_series(_its()[1], is_headline=True)


def outcome_with_comparison():
    series, est = _its()
    comparison = {name: simulate_series(seed=seed, start="2015-01", base=base)["count"]
                  for name, seed, base in (("Precinct 73", 3, 30.0), ("Precinct 75", 4, 55.0))}
    return plots.plot_outcome_series(est, comparison=comparison)


def placebo():
    return plots.plot_placebo(np.log(np.linspace(0.7, 1.4, 19)), np.log(0.82))


def synth():
    rng = np.random.default_rng(5)
    periods = pd.period_range("2010-01", periods=60, freq="M")
    panel = pd.DataFrame({f"Area {i}": rng.poisson(8 + i, len(periods)) for i in range(12)},
                         index=periods).astype(float)
    panel.insert(0, "Precinct 77", panel["Area 3"])
    est = estimate_synth(panel, "Precinct 77", "2013-01", post_periods=24, labels=LABELS)
    return plots.plot_synth(est)


def forest():
    rows = pd.DataFrame({
        "label": ["New York, Precinct 77: Save Our Streets (SOS) Crown Heights",
                  "New York, Precinct 75: Man Up! East New York",
                  "Chicago, District 15: homicides"],
        "rate_ratio": [1.16, 0.77, 0.47], "ci_low": [0.7, 0.58, 0.34],
        "ci_high": [1.93, 1.03, 0.67]})
    pooled = SimpleNamespace(rate_ratio=0.73, ci_low=0.25, ci_high=2.17)
    return plots.plot_forest(rows, pooled, title="Cure Violence: shootings, by programme")


def tag_counts():
    counts = pd.DataFrame({"shooting": [3, 5, 2, 7], "programme": [1, 0, 4, 2]},
                          index=pd.period_range("2019-01", periods=4, freq="Q"))
    return plots.plot_tag_counts(counts)


def event_study():
    rng = np.random.default_rng(7)
    rows, starts = [], {}
    for group, (cohort, n) in enumerate(((2003, 8), (2006, 8), (None, 12))):
        for k in range(n):
            unit = f"U{group}{k:02d}"
            starts[unit] = None if cohort is None else pd.Period(str(cohort), freq="Y")
            level = rng.normal(3.5, 0.4)
            for year in range(2000, 2010):
                effect = -0.1 * (year - cohort + 1) if cohort and year >= cohort else 0.0
                rows.append((unit, pd.Period(str(year), freq="Y"),
                             rng.poisson(np.exp(level + effect))))
    long = pd.DataFrame(rows, columns=["unit", "period", "count"])
    est = estimate_rollout(long, starts, cohort_bin="none")
    return rollout_chart.plot_event_study(est)


def counts():
    series = simulate_series(seed=9, start="2016-01", n_pre=30, n_post=12)
    return plots.plot_counts(series, title="Shootings in Precinct 77",
                             start=pd.Period("2016-01", freq="M"))


#: Every chart kind, by the name of its reference image.
CHARTS: dict[str, Callable] = {
    "outcome_series": outcome_series, "outcome_with_comparison": outcome_with_comparison,
    "placebo": placebo, "synth": synth, "forest": forest, "tag_counts": tag_counts,
    "event_study": event_study, "counts": counts,
}
