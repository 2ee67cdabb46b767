"""The Callaway and Sant'Anna view of a rollout (``effects/rollout_cs.py``, csdid).

References: R ``did`` 2.5.1 on ``mpdta`` (``tests/fixtures/rollout/ref_aggte.csv`` and
``ref_pretest.csv``, sources in ``tests/fixtures/rollout/SOURCES.md``). R computes the same
analytic influence-function standard errors (``bstrap = FALSE``) with the same formula, so
points and SEs are held to 1e-9 (the differences seen are below 1e-15, rounding).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from impactbook.analysis import make_request, run_estimate
from impactbook.cli import main
from impactbook.effects.rollout_cs import RATE_PER, att_gt_view, rollout_view
from impactbook.errors import EstimationError, ParameterError
from tests.workbooks import TAGS, write_workbook

FIXTURES = Path(__file__).parent / "fixtures" / "rollout"
TOLERANCE = 1e-9
SCENARIOS = {"mpdta_nev_dr": "never", "mpdta_nyt_dr": "notyet"}


@pytest.fixture(scope="module")
def mpdta() -> pd.DataFrame:
    data = pd.read_csv(FIXTURES / "mpdta.csv.gz")
    return pd.DataFrame({"unit": data["countyreal"], "time": data["year"],
                         "cohort": data["first.treat"], "y": data["lemp"]})


@pytest.fixture(scope="module")
def views(mpdta) -> dict:
    return {scenario: att_gt_view(mpdta, controls=controls)
            for scenario, controls in SCENARIOS.items()}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_aggregation_matches_r_did(views, scenario):
    view = views[scenario]
    reference = pd.read_csv(FIXTURES / "ref_aggte.csv")
    reference = reference[reference["scenario"] == scenario]
    parts = {"simple": (view.simple, ()), "dynamic": (view.dynamic, view.by_event_time),
             "group": (view.group, view.by_cohort), "calendar": (view.calendar, view.by_period)}
    for kind, (overall, components) in parts.items():
        rows = reference[reference["type"] == kind]
        assert overall.att == pytest.approx(rows["overall_att"].iloc[0], abs=TOLERANCE)
        assert overall.se == pytest.approx(rows["overall_se"].iloc[0], abs=TOLERANCE)
        if kind == "simple":
            continue
        assert [e.key for e in components] == [int(k) for k in rows["egt"]]
        for effect, row in zip(components, rows.itertuples(), strict=True):
            assert effect.att == pytest.approx(row.att_egt, abs=TOLERANCE)
            assert effect.se == pytest.approx(row.se_egt, abs=TOLERANCE)
            assert effect.ci_low == pytest.approx(row.att_egt - 1.959963984540054 * row.se_egt)


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_group_time_effect_matches_r_did(views, scenario):
    reference = pd.read_csv(FIXTURES / "ref_attgt.csv")
    reference = reference[reference["scenario"] == scenario]
    ours = views[scenario].attgt
    assert list(zip(ours["cohort"], ours["period"], strict=True)) == list(
        zip(reference["group"], reference["t"], strict=True))
    np.testing.assert_allclose(ours["att"], reference["att"], rtol=0, atol=TOLERANCE)
    np.testing.assert_allclose(ours["se"], reference["se"], rtol=0, atol=TOLERANCE)


def test_headline_numbers_of_the_issue(views):
    view = views["mpdta_nev_dr"]
    assert view.simple.att == pytest.approx(-0.0399513, abs=5e-8)
    assert view.simple.se == pytest.approx(0.0120340, abs=5e-8)
    assert view.dynamic.att == pytest.approx(-0.0772398, abs=5e-8)
    assert view.dynamic.se == pytest.approx(0.0199650, abs=5e-8)


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_pretest_matches_r_did(views, scenario):
    reference = pd.read_csv(FIXTURES / "ref_pretest.csv").set_index("scenario").loc[scenario]
    pretest = views[scenario].pretest
    assert pretest.statistic == pytest.approx(reference["W"], abs=TOLERANCE)
    assert pretest.p_value == reference["Wpval"]  # R rounds it to 5 places, as csdid does
    assert pretest.df == 5  # 3 + 2 + 0 pre-start cells of the cohorts 2007, 2006, 2004


def test_event_time_pretest_of_one_lead_is_its_squared_z(mpdta):
    # With anticipation 2, only event time -3 is a lead: the test is its own z squared.
    view = att_gt_view(mpdta, controls="never", anticipation=2)
    lead = next(e for e in view.by_event_time if e.key == -3)
    test = view.event_time_pretest
    assert test.df == 1
    assert test.statistic == pytest.approx((lead.att / lead.se) ** 2, rel=1e-9)


def test_never_treated_controls_need_never_treated_units(mpdta):
    treated_only = mpdta[mpdta["cohort"] > 0]
    with pytest.raises(EstimationError, match="never-treated"):
        att_gt_view(treated_only, controls="never")


def _linear_panel(*, with_population: bool, effect_per_100k: float = -30.0):
    """Twelve units x 24 months; four start in month 9, four in month 15, four never. Rates
    follow unit + month effects exactly, plus ``effect_per_100k`` from the start on."""
    starts, rows = {}, []
    periods = pd.period_range("2018-01", periods=24, freq="M")
    for k in range(12):
        unit = f"U{k:02d}"
        start = periods[8] if k < 4 else periods[14] if k < 8 else None
        starts[unit] = start
        population = 50_000.0 + 10_000 * k
        for i, period in enumerate(periods):
            rate = 100.0 + 5 * k + 2 * i + (effect_per_100k if start and period >= start else 0)
            rows.append({"unit": unit, "period": period, "count": rate * population / RATE_PER,
                         "exposure": population if with_population else np.nan})
    return pd.DataFrame(rows), starts


def test_a_rate_effect_is_recovered_exactly_on_noise_free_rates():
    long, starts = _linear_panel(with_population=True)
    view = rollout_view(long, starts, controls="notyet")
    assert view.scale == "rate per 100,000"
    for effect in (view.simple, view.dynamic, view.group, view.calendar):
        assert effect.att == pytest.approx(-30.0, abs=1e-8)
    assert [e.key for e in view.by_cohort] == ["2018-09", "2019-03"]
    assert view.units == 12 and view.treated_units == 8
    assert not any("No population" in w for w in view.warnings)


def test_without_population_the_view_is_on_counts_and_says_so():
    long, starts = _linear_panel(with_population=False)
    view = rollout_view(long, starts, controls="notyet")
    assert view.scale == "count"
    assert any("No population" in w for w in view.warnings)


def test_a_unit_missing_periods_is_left_out_and_listed():
    long, starts = _linear_panel(with_population=True)
    long = long[~((long["unit"] == "U09") & (long["period"] < pd.Period("2018-04", "M")))]
    view = rollout_view(long, starts, controls="notyet")
    assert view.units == 11
    assert [(d["unit"], d["periods"]) for d in view.dropped] == [("U09", 21)]
    assert view.simple.att == pytest.approx(-30.0, abs=1e-8)


def _crews_workbook(tmp_path: Path) -> Path:
    """Crews of Springfield: six start in 2017 or 2018, ten never; their rosters (the
    exposure) double at the start while the rate per member stays the same."""
    rng = np.random.default_rng(11)
    starts = {f"C{k:02d}": ("2017-01" if k < 3 else "2018-01" if k < 6 else "")
              for k in range(16)}
    lines = ["city,area,outcome,period,count,population"]
    for crew, start in starts.items():
        for i in range(60):  # 2015-01 .. 2019-12
            period = f"{2015 + i // 12}-{i % 12 + 1:02d}"
            roster = 20.0 * (2 if start and period >= start else 1)
            lines.append(f"Springfield,{crew},shootings,{period},{rng.poisson(0.4 * roster)},"
                         f"{roster}")
    outcomes = "city,area,outcome,period,count\n" + "".join(
        f"Springfield,citywide,shootings,{2015 + i // 12}-{i % 12 + 1:02d},{50 + i % 7}\n"
        for i in range(60))
    programmes = ("id,city,intervention,programme,area,start,outcomes,confidence\n"
                  "spr-gvi,Springfield,Group Violence Intervention,Springfield GVI call-ins,"
                  "rollout,2017-01,shootings,P\n")
    rollouts = "programme,unit,start,end,announced,source,confidence,notes\n" + "".join(
        f"spr-gvi,{crew},{start},,,call-in list,V,\n" for crew, start in starts.items() if start)
    return write_workbook(tmp_path / "wb", outcomes=outcomes, unit_outcomes="\n".join(lines)
                          + "\n", interventions=programmes, rollouts=rollouts, tags=TAGS,
                          news="date,title,outlet,tags\n",
                          funders="funder,email,cities,interventions\n")


def test_the_rollout_json_gains_the_view_only_when_asked(tmp_path, capsys):
    folder = _crews_workbook(tmp_path)
    asked = dict(city="Springfield", outcome="shootings", method="rollout", cohort_bin="none")
    plain = run_estimate(folder, asked)
    assert plain.callaway_santanna is None
    assert "callaway_santanna" not in plain.to_dict()
    with_view = run_estimate(folder, {**asked, "include_cs": True})
    record = json.loads(json.dumps(with_view.to_dict(), allow_nan=False))
    view = record["callaway_santanna"]
    assert view["scale"] == "rate per 100,000" and view["controls"] == "notyet"
    assert view["units"] == 16 and view["treated_units"] == 6
    # Twice the members, twice the shootings, the same rate per member: no change found.
    assert view["simple"]["ci_low"] < 0 < view["simple"]["ci_high"]
    assert {"simple", "dynamic", "by_event_time", "group", "by_cohort", "calendar",
            "by_period", "pretest", "event_time_pretest", "dropped", "warnings"} <= set(view)
    # The count model's own numbers are those of the request without the view.
    assert record["overall"] == plain.to_dict()["overall"]
    assert main(["estimate", "--data", str(folder), "--city", "Springfield", "--outcome",
                 "shootings", "--method", "rollout", "--cohort-bin", "none", "--json"]) == 0
    assert "callaway_santanna" not in json.loads(capsys.readouterr().out)


def test_single_unit_cohorts_are_named():
    long, starts = _linear_panel(with_population=True)
    starts = {**starts, "U01": pd.Period("2018-05", "M")}  # leaves the month-9 cohort
    view = rollout_view(long, starts, controls="notyet")
    assert [w for w in view.warnings if "single unit" in w] == [
        "1 cohort(s) hold a single unit (2018-05): each such effect is one unit's, and its "
        "analytic standard error sees only the controls' variation, so its interval is too "
        "narrow and the pre-tests reject too easily."]


def test_the_view_is_asked_for_only_with_a_rollout():
    with pytest.raises(ParameterError, match="include_cs.*method is rollout"):
        make_request(city="New York", outcome="shootings", method="its", include_cs=True)
    assert make_request(city="New York", outcome="shootings", method="rollout",
                        include_cs=True).include_cs


def test_cli_text_output_carries_the_view_in_one_line(tmp_path, capsys):
    """``--callaway-santanna`` reaches the request, and the text output says the view's
    simple effect with its interval and lead test, marked as the second view."""
    folder = _crews_workbook(tmp_path)
    assert main(["estimate", "--data", str(folder), "--city", "Springfield", "--outcome",
                 "shootings", "--method", "rollout", "--cohort-bin", "none",
                 "--callaway-santanna"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines()
                if x.strip().startswith("Callaway-Sant'Anna"))
    assert "simple ATT" in line and "95% interval" in line and "count model leads" in line
    assert main(["estimate", "--data", str(folder), "--city", "Springfield", "--outcome",
                 "shootings", "--method", "rollout", "--cohort-bin", "none"]) == 0
    assert "Callaway-Sant'Anna" not in capsys.readouterr().out
