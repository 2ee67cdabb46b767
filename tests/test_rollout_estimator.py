"""The staggered-rollout estimator against R's etwfe and on simulated counts with known truth."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from impactbook.effects.estimate import Z_95
from impactbook.effects.rollout import estimate_rollout
from impactbook.errors import ParameterError
from tests.conftest import FIXTURES

# R etwfe 0.6.2, emfx(type = "event", predict = "link"): see tests/fixtures/rollout/SOURCES.md.
ETWFE_EVENT = {0: (-0.0325653634930092, 0.0128503810792558),
               1: (-0.0675071046997911, 0.0183966910997271),
               2: (-0.132971344933511, 0.0237253182969748),
               3: (-0.117022779216096, 0.0225005664705109)}


def _year(y: int) -> pd.Period:
    return pd.Period(str(y), freq="Y")


@pytest.fixture(scope="module")
def mpdta():
    raw = pd.read_csv(FIXTURES / "rollout" / "mpdta.csv.gz")
    long = pd.DataFrame({"unit": raw["countyreal"].astype(str),
                         "period": [_year(y) for y in raw["year"]],
                         "count": np.exp(raw["lemp"]), "lpop": raw["lpop"]})
    first = raw.groupby("countyreal")["first.treat"].first()
    starts = {str(u): (_year(g) if g else None) for u, g in first.items()}
    return long, starts


def test_event_study_matches_r_etwfe_on_mpdta(mpdta):
    long, starts = mpdta
    est = estimate_rollout(long, starts, cohort_bin="none", effects="cohort",
                           covariates=("lpop",))
    found = {a.key: (a.log_ratio, a.se) for a in est.by_event_time}
    assert sorted(found) == sorted(ETWFE_EVENT)
    for event_time, (log_ratio, se) in ETWFE_EVENT.items():
        assert found[event_time][0] == pytest.approx(log_ratio, abs=1e-4)
        assert found[event_time][1] == pytest.approx(se, abs=1e-4)


def test_unit_effects_give_etwfe_points_without_covariates(mpdta):
    # Wooldridge (2023): with Poisson, cohort and unit effects give the same cell estimates.
    long, starts = mpdta
    by_unit = estimate_rollout(long, starts, cohort_bin="none")
    by_cohort = estimate_rollout(long, starts, cohort_bin="none", effects="cohort")
    for a, b in zip(by_unit.by_event_time, by_cohort.by_event_time, strict=True):
        assert a.key == b.key and a.log_ratio == pytest.approx(b.log_ratio, abs=1e-6)


def simulate(seed: int, *, growth: float = -0.1, pretrend: float = 0.0,
             cohorts=(2, 5, 8), per_cohort: int = 10, never: int = 15, years: int = 12):
    """Counts of units starting in three years and units never treated; the effect grows with
    time since the start (log ratio ``growth`` x (event time + 1)); ``pretrend`` tilts the
    treated units before their start. Returns the panel, starts and the true overall log
    ratio (the mean over treated observations, etwfe's weighting)."""
    rng = np.random.default_rng(seed)
    period_effect = rng.normal(0, 0.1, years)
    rows, starts, truth = [], {}, []
    for c_i, (cohort, n) in enumerate([(c, per_cohort) for c in cohorts] + [(None, never)]):
        for k in range(n):
            unit = f"U{c_i}{k:02d}"
            starts[unit] = None if cohort is None else _year(2000 + cohort)
            level = rng.normal(3.5, 0.4)
            for t in range(years):
                e = None if cohort is None else t - cohort
                effect = growth * (e + 1) if e is not None and e >= 0 else 0.0
                tilt = pretrend * t if e is not None and e < 0 else 0.0
                rows.append((unit, _year(2000 + t),
                             rng.poisson(np.exp(level + period_effect[t] + effect + tilt))))
                if e is not None and e >= 0:
                    truth.append(effect)
    return pd.DataFrame(rows, columns=["unit", "period", "count"]), starts, float(np.mean(truth))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rollout_recovers_a_growing_effect_that_the_static_estimate_misses(seed):
    long, starts, truth = simulate(seed)
    est = estimate_rollout(long, starts, cohort_bin="none")
    half = Z_95 * est.overall.se
    assert est.overall.log_ratio - half < truth < est.overall.log_ratio + half
    static_half = Z_95 * est.static_se
    # The static estimate compares later starters with earlier ones as if untreated.
    assert est.static_log_ratio - static_half > truth
    assert est.overall.rate_ratio == pytest.approx(np.exp(est.overall.log_ratio))


def test_pretrend_test_flags_treated_units_drifting_before_their_start():
    tilted = estimate_rollout(*simulate(1, pretrend=0.08)[:2], cohort_bin="none")
    assert tilted.pretrend.p_value < 1e-6 and not tilted.pretrend.is_passed
    assert "parallel trends are in doubt" in tilted.pretrend.text
    assert any("did not move with" in w for w in tilted.warnings)
    level = estimate_rollout(*simulate(1)[:2], cohort_bin="none")
    assert level.pretrend.is_passed and level.pretrend.controls == "never"
    assert level.pretrend.df == len(level.pretrend.event_times) >= 5


def test_never_treated_controls_give_leads_relative_to_the_period_before_the_start():
    long, starts, _ = simulate(2)
    est = estimate_rollout(long, starts, cohort_bin="none", controls="never")
    keys = [a.key for a in est.by_event_time]
    assert -1 not in keys and min(keys) < -1 and est.reference_event_time == -1
    leads = [a for a in est.by_event_time if a.key < -1]
    assert all(abs(a.log_ratio) < 4 * a.se + 0.05 for a in leads)
    assert est.pretrend.event_times == tuple(a.key for a in leads)


def test_events_averted_is_counterfactual_minus_observed():
    long, starts, _ = simulate(0)
    est = estimate_rollout(long, starts, cohort_bin="none")
    cells = est.cells[est.cells["e"] >= 0]
    expected = float((cells["events"] * (np.exp(-cells["effect"]) - 1)).sum())
    assert est.overall.events_averted == pytest.approx(expected)
    assert est.overall.events_averted > 0  # the simulated effect is a fall
    low, high = est.overall.events_averted_interval
    assert low < est.overall.events_averted < high
    assert sum(a.events_averted for a in est.by_cohort) == pytest.approx(expected)


def _sparse_panel():
    """Monthly counts where a single-unit cohort has months without events."""
    rng = np.random.default_rng(3)
    rows, starts = [], {}
    for u in range(12):
        unit = f"P{u}"
        rate = 0.6 if u == 0 else 6.0
        starts[unit] = {0: pd.Period("2012-04", freq="M"), 1: pd.Period("2013-02", freq="M"),
                        2: pd.Period("2013-02", freq="M")}.get(u)
        for p in pd.period_range("2010-01", "2015-12", freq="M"):
            rows.append((unit, p, rng.poisson(rate)))
    return pd.DataFrame(rows, columns=["unit", "period", "count"]), starts


def test_cells_without_events_are_not_silently_dropped():
    long, starts = _sparse_panel()
    monthly = estimate_rollout(long, starts, cohort_bin="none")
    cells = [d for d in monthly.dropped if d["what"] == "cell"]
    assert cells and all(d["cohort"] == "2012-04" for d in cells)
    assert any("without any event were left out" in w for w in monthly.warnings)
    auto = estimate_rollout(long, starts)
    assert auto.cohort_bin in ("quarter", "year") and "cells without events" in \
        auto.cohort_bin_reason
    assert not [d for d in auto.dropped if d["what"] == "cell"]
    assert auto.freq in ("Q", "Y")
    assert any("pooled by" in w for w in auto.warnings)
    assert any("single unit" in w for w in auto.warnings)
    record = json.loads(json.dumps(auto.to_dict()))
    units = {u["unit"]: u for u in record["units"]}
    assert units["P0"]["start"] == "2012-04" and units["P0"]["start_used"] != "2012-04"
    # P0 is a cohort alone: said, and no point resting on one unit is drawn.
    alone = [c for c in record["by_cohort"] if c["treated_units"] == 1]
    assert alone and all(c["is_single_unit"] for c in alone)
    assert all(not e["is_drawn"] for e in record["by_event_time"] if e["treated_units"] == 1)


def test_options_exclude_controls_and_anticipation():
    long, starts, _ = simulate(0)
    dropped = estimate_rollout(long, starts, cohort_bin="none", exclude_controls=["U300"])
    assert "U300" not in dropped.control_units and "U301" in dropped.control_units
    with pytest.raises(ParameterError, match="exclude_controls"):
        estimate_rollout(long, starts, cohort_bin="none", exclude_controls=["U000"])
    later = {**starts, "U301": _year(2020)}  # starts after the data: a control that can go
    assert "U301" in estimate_rollout(long, later, cohort_bin="none").control_units
    assert "U301" not in estimate_rollout(long, later, cohort_bin="none",
                                          exclude_controls=["U301"]).control_units
    early = estimate_rollout(long, starts, cohort_bin="none", anticipation=1)
    assert min(a.key for a in early.by_event_time) == -1
    assert {u["start_used"] for u in early.units} == {"2002", "2005", "2008"}
    assert {u["treated_from"] for u in early.units} == {"2001", "2004", "2007"}


def test_json_has_the_contract_keys():
    long, starts, _ = simulate(0)
    ends = {"U000": _year(2009)}
    record = estimate_rollout(long, starts, ends=ends, cohort_bin="none").to_dict()
    for key in ("overall", "by_cohort", "by_period", "by_event_time", "units", "control_units",
                "window", "dropped", "pretrend", "static", "warnings"):
        assert key in record
    for entry, name in ((record["by_cohort"][0], "cohort"), (record["by_period"][0], "period"),
                        (record["by_event_time"][0], "event_time")):
        for key in (name, "log_ratio", "se", "rate_ratio", "ci_low", "ci_high",
                    "events_averted", "treated_units"):
            assert key in entry
    assert record["window"] == {"first": "2000", "last": "2011", "frequency": "Y",
                                "observations": 540}
    assert set(record["pretrend"]) >= {"statistic", "df", "p_value", "controls"}
    assert set(record["static"]) >= {"log_ratio", "se"}
    assert any("intention to treat" in w for w in record["warnings"])
    json.dumps(record)


def test_a_fit_that_does_not_converge_is_an_error_not_a_number():
    from impactbook.effects._rollout_fit import fit_cells
    from impactbook.effects.rollout_panel import assign_cells, build_panel
    from impactbook.errors import EstimationError

    long, starts, _ = simulate(0)
    panel = build_panel(long, starts)
    cell, cells = assign_cells(panel, "notyet")
    assert fit_cells(panel.frame, cell, len(cells)).effects.shape == (len(cells),)
    with pytest.raises(EstimationError, match="did not converge"):
        fit_cells(panel.frame, cell, len(cells), max_iterations=2)


def test_pretrend_p_is_written_as_every_other_p():
    from impactbook.effects.rollout_result import PretrendTest
    from impactbook.report.format import format_p

    # The page-one sentence and the rollout section once wrote 0.008 as "p = 0.008" and
    # "p < 0.01": one formatter now writes both.
    for p_value in (0.008, 0.34, 0.00001):
        text = PretrendTest(statistic=20.9, df=8, p_value=p_value, controls="never",
                            event_times=(1, 2)).text
        assert format_p(p_value) in text and "p < 0.01" not in text
