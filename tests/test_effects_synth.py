"""Synthetic control: the engines against independent references, guardrails and bad input.

References (tests/fixtures/synth/, see SOURCES.txt there):
- R microsynth 2.0.51 on its own Seattle DMI data (ref_microsynth.R / .Rout): the joint match
  of four outcomes and nine census covariates, and the 250 placebo groups that run drew with
  their t statistics, so the permutation p-values can be replayed exactly.
- pysyncon's Basque Country example (Abadie & Gardeazabal 2003), the weights its own test
  suite asserts.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import ThreadpoolController

from impactbook.analysis import make_request, run_estimate
from impactbook.effects import estimate_synth, microsynth
from impactbook.errors import DataError, EstimationError, ParameterError
from impactbook.ingest.sources import unit_tables_text
from impactbook.workbook import validate_workbook

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures" / "synth"
SEATTLE_RAW = REPO / "data" / "raw" / "seattle_dmi_microsynth_block_quarter.csv.gz"
R_OUTCOMES = ["i_felony", "i_misdemea", "i_drugs", "any_crime"]
COVARIATES = ["TotalPop", "BLACK", "HISPANIC", "Males_1521", "HOUSEHOLDS", "FAMILYHOUS",
              "FEMALE_HOU", "RENTER_HOU", "VACANT_HOU"]
# ref_microsynth.Rout: Con and Pct.Chng, and Perm.pVal of the run whose groups are stored.
R_SYNTHETIC = {"i_felony": 68.22239, "i_misdemea": 71.80012, "i_drugs": 23.75882,
               "any_crime": 986.43897}
R_PCT = {"i_felony": -32.57345, "i_misdemea": -37.32601, "i_drugs": -15.82074,
         "any_crime": -20.11670}
R_PERM_P = {"i_felony": 0.016, "i_misdemea": 0.020, "i_drugs": 0.296, "any_crime": 0.004}
WORKBOOK_OUTCOMES = {"i_felony": "felony offenses", "i_misdemea": "misdemeanor offenses",
                     "i_drugs": "drug offenses", "any_crime": "any crime"}


@pytest.fixture(scope="module")
def seattle_cube():
    frame = pd.read_csv(SEATTLE_RAW).sort_values(["ID", "time"])
    ids = frame["ID"].unique()
    outcomes = frame[R_OUTCOMES].to_numpy(float).reshape(len(ids), 16, len(R_OUTCOMES))
    by_block = frame.groupby("ID")
    covariates = by_block[COVARIATES].first().loc[ids].to_numpy(float)
    treated = by_block["Intervention"].max().loc[ids].to_numpy(bool)
    return ids, outcomes, covariates, treated


def test_microsynth_weights_reproduce_r(seattle_cube):
    _, outcomes, covariates, treated = seattle_cube
    fit = microsynth.fit_group(outcomes, covariates, treated, 12)
    C = microsynth.design_matrix(outcomes[:, :12], covariates)
    assert C.shape[1] == 1 + 9 + 4 * 12
    assert microsynth.balance_error(C[~treated], C[treated].sum(0), fit.weights[~treated]) < 1e-7
    synthetic = fit.synthetic_series[12:].sum(0)
    observed = fit.treated_series[12:].sum(0)
    assert observed.tolist() == [46, 45, 20, 788]
    for j, name in enumerate(R_OUTCOMES):
        assert synthetic[j] == pytest.approx(R_SYNTHETIC[name], abs=0.02)
        assert 100 * (observed[j] / synthetic[j] - 1) == pytest.approx(R_PCT[name], abs=0.05)
    # the primal solver agrees with the dual
    primal, ok = microsynth._clarabel_weights(C[~treated], C[treated].sum(0))
    assert ok and np.max(np.abs(primal - fit.weights[~treated])) < 1e-6


@pytest.mark.slow
def test_microsynth_replays_r_placebo_groups_exactly(seattle_cube):
    ids, outcomes, covariates, treated = seattle_cube
    groups = pd.read_csv(FIXTURES / "r_perm_groups.csv.gz")
    position = pd.Series(np.arange(len(ids)), index=ids)
    drawn = [np.sort(position.loc[[int(x) for x in g.split()]].to_numpy()) for g in groups["ids"]]
    fits = microsynth.fit_placebos(outcomes, covariates, 12, drawn)
    assert all(f is not None for f in fits)
    t_placebo = np.array([f.t_values for f in fits])
    r_t = pd.read_csv(FIXTURES / "r_perm_tstats.csv.gz").set_index("row")
    assert np.max(np.abs(t_placebo - r_t.loc[groups["perm"], R_OUTCOMES].to_numpy())) < 1e-3
    main = microsynth.fit_group(outcomes, covariates, treated, 12)
    assert main.t_values == pytest.approx(r_t.loc["Main", R_OUTCOMES].to_numpy(), abs=1e-3)
    share = microsynth.permutation_share_below(main.t_values, t_placebo)
    assert share.tolist() == [R_PERM_P[name] for name in R_OUTCOMES]
    both, lower = microsynth.permutation_p_values(main.t_values, t_placebo)
    assert np.all(lower >= 1 / 251) and np.all(lower == (1 + share * 250) / 251)
    # The report's p is two-sided: on R's own groups it equals microsynth's one-sided share
    # (plus the real group) for the three outcomes that fell, and is near double for drugs.
    assert np.round(both * 251).astype(int).tolist() == [5, 6, 129, 3]


def test_basque_weights_match_pysyncon_test_suite():
    from pysyncon import Dataprep, Synth

    df = pd.read_csv(FIXTURES / "basque.csv.gz")
    treated = "Basque Country (Pais Vasco)"
    controls = [u for u in df["regionname"].unique() if u != treated]  # as pysyncon's test
    prep = Dataprep(
        foo=df, predictors=["school.illit", "school.prim", "school.med", "school.high",
                            "school.post.high", "invest"],
        predictors_op="mean", time_predictors_prior=range(1964, 1970),
        special_predictors=[
            ("gdpcap", range(1960, 1970), "mean"),
            ("sec.agriculture", range(1961, 1970, 2), "mean"),
            ("sec.energy", range(1961, 1970, 2), "mean"),
            ("sec.industry", range(1961, 1970, 2), "mean"),
            ("sec.construction", range(1961, 1970, 2), "mean"),
            ("sec.services.venta", range(1961, 1970, 2), "mean"),
            ("sec.services.nonventa", range(1961, 1970, 2), "mean"),
            ("popdens", [1969], "mean"),
        ],
        dependent="gdpcap", unit_variable="regionname", time_variable="year",
        treatment_identifier=treated, controls_identifier=controls,
        time_optimize_ssr=range(1960, 1970))
    fit = Synth()
    with ThreadpoolController().limit(limits=1, user_api="blas"):  # 10x faster on a busy box
        fit.fit(dataprep=prep, optim_method="Nelder-Mead", optim_initial="equal")
    weights = fit.weights(round=4)
    assert weights["Cataluna"] == pytest.approx(0.8508, abs=1e-3)
    assert weights["Madrid (Comunidad De)"] == pytest.approx(0.1492, abs=1e-3)


# --- classic synthetic control on frames ----------------------------------------------------

def _panel(n_donors: int, seed: int = 3, effect: float = 1.0, scale: float = 20.0):
    rng = np.random.default_rng(seed)
    periods = pd.period_range("2010-01", periods=60, freq="M")
    base = {f"Area {i}": scale * (0.5 + i / n_donors) for i in range(n_donors)}
    panel = pd.DataFrame({a: rng.poisson(level, len(periods)) for a, level in base.items()},
                         index=periods).astype(float)
    treated = 0.5 * panel["Area 1"] + 0.5 * panel["Area 2"]
    treated.iloc[36:] *= effect
    panel.insert(0, "Programme", np.round(treated))
    return panel


def test_synth_finds_a_built_in_fall_and_its_donors():
    est = estimate_synth(_panel(20, effect=0.5), "Programme", "2013-01", post_periods=24)
    assert est.method == "synth" and est.rate_ratio == pytest.approx(0.5, abs=0.1)
    assert est.details["p_value_lower"] == pytest.approx(1 / 21)
    assert est.details["is_good_fit"] and est.details["placebos"] == 20
    shown = {w["area"] for w in est.details["weights"][:3]}
    assert shown & {"Area 1", "Area 2"}
    assert est.details["events_averted"] == pytest.approx(
        est.details["synthetic_total"] - est.details["observed_total"])
    record = est.to_dict(with_details=True)
    assert record["ci_low"] is None and json.dumps(record, allow_nan=False)


def test_synth_guardrails_few_donors_floor_and_larger_than_every_donor():
    panel = _panel(6, effect=1.0)
    panel["Programme"] = panel.drop(columns="Programme").sum(axis=1)  # bigger than any donor
    est = estimate_synth(panel, "Programme", "2013-01", post_periods=24)
    text = " ".join(est.warnings)
    assert "Only 6 donor areas" in text
    assert "cannot go below 1/7" in text
    assert "larger than every donor" in text
    assert not est.details["is_good_fit"] and "fits the pre-period poorly" in text


def test_synth_needs_two_donors():
    with pytest.raises(EstimationError, match="at least two donor"):
        estimate_synth(_panel(3)[["Programme", "Area 1"]], "Programme", "2013-01")


# --- through the workbook -------------------------------------------------------------------

def test_citywide_programme_is_refused():
    with pytest.raises(EstimationError, match="citywide series has no donor pool"):
        run_estimate(REPO / "data", make_request(city="New York", outcome="shootings",
                                                 area="citywide", start="2014-12",
                                                 method="synth"))


def test_donor_list_naming_no_area_and_treated_donor_are_refused():
    base = dict(city="Chicago", outcome="homicides", method="synth")
    with pytest.raises(ParameterError, match="donors"):
        run_estimate(REPO / "data", make_request(donors="District 1;Nowhere", **base))
    with pytest.raises(ParameterError, match="other than the programme"):
        run_estimate(REPO / "data", make_request(donors="District 1;District 15", **base))


def test_chicago_district_against_the_other_districts():
    est = run_estimate(REPO / "data", make_request(city="Chicago", outcome="homicides",
                                                   method="synth"))
    assert est.area == "District 15" and est.details["donors"] == 21
    assert est.placebo_gaps.shape[1] == 21 and abs(sum(
        w["weight"] for w in est.details["weights"]) - 1) < 0.05


@pytest.fixture(scope="module")
def small_seattle(tmp_path_factory):
    """A Seattle workbook of the 39 DMI blocks and 400 other blocks (real data)."""
    root = tmp_path_factory.mktemp("seattle")
    for name in ("outcomes.csv", "interventions.csv", "tags.csv", "news.csv", "funders.csv"):
        shutil.copy(REPO / "data" / name, root / name)
    tables = unit_tables_text("seattle-dmi", SEATTLE_RAW)
    areas = pd.read_csv(pd.io.common.StringIO(tables["areas.csv"]), dtype=str,
                        keep_default_na=False)
    keep = pd.concat([areas[areas["within"] == "DMI blocks"],
                      areas[areas["within"] != "DMI blocks"].iloc[::24]])
    keep.to_csv(root / "areas.csv", index=False)
    units = pd.read_csv(pd.io.common.StringIO(tables["unit_outcomes.csv"]), dtype=str,
                        keep_default_na=False)
    units[units["area"].isin(keep["area"])].to_csv(root / "unit_outcomes.csv", index=False)
    return root


def test_micro_synth_through_the_workbook():
    request = make_request(city="Seattle", outcome="felony offenses", method="synth",
                           placebos=9)
    est = run_estimate(REPO / "data", request)
    assert est.model.startswith("micro-synthetic") and est.details["treated_units"] == 39
    assert est.percent_change == pytest.approx(R_PCT["i_felony"], abs=0.5)
    assert est.details["pre_rmspe"] == 0 and est.details["is_good_fit"]
    assert est.details["weights"] is None and "not identified" in est.details["weights_note"]
    assert est.details["placebos"] == 9 and est.placebo_gaps.shape == (16, 9)
    text = " ".join(est.warnings)
    assert "Only 12 quarters before the start" in text and "cannot go below 1/10" in text


def test_micro_synth_says_when_no_exact_match_exists(small_seattle):
    with pytest.raises(EstimationError, match="exact match is infeasible"):
        run_estimate(small_seattle, make_request(city="Seattle", outcome="drug offenses",
                                                 method="synth", placebos=0))


def test_covariates_missing_for_some_blocks_are_named(small_seattle, tmp_path):
    for name in ("outcomes.csv", "interventions.csv", "tags.csv", "news.csv", "funders.csv",
                 "unit_outcomes.csv"):
        shutil.copy(small_seattle / name, tmp_path / name)
    areas = pd.read_csv(small_seattle / "areas.csv", dtype=str, keep_default_na=False)
    areas.loc[[3, 50], "BLACK"] = ""
    areas.to_csv(tmp_path / "areas.csv", index=False)
    validate_workbook(tmp_path)  # blank means "not known": valid, but micro cannot use it
    with pytest.raises(EstimationError, match="covariates are missing for 2 "):
        run_estimate(tmp_path, make_request(city="Seattle", outcome="drug offenses",
                                            method="synth", placebos=0))


def test_areas_table_is_validated(small_seattle, tmp_path):
    for name in ("outcomes.csv", "interventions.csv", "tags.csv", "news.csv", "funders.csv"):
        shutil.copy(small_seattle / name, tmp_path / name)
    areas = pd.read_csv(small_seattle / "areas.csv", dtype=str, keep_default_na=False).head(5)
    areas.loc[0, "BLACK"] = "lots"
    areas.loc[1, "within"] = "Nowhere"
    areas.loc[2, "population"] = "-3"
    areas.loc[4, "area"] = areas.loc[3, "area"]
    areas.to_csv(tmp_path / "areas.csv", index=False)
    with pytest.raises(DataError) as info:
        validate_workbook(tmp_path)
    text = str(info.value)
    for expected in ("row 2, column 'BLACK'", "row 3, column 'within'",
                     "row 4, column 'population'", "row 6, column 'area'"):
        assert expected in text


@pytest.mark.slow
def test_seattle_estimates_match_microsynth():
    """`impactbook estimate --method synth` on the default workbook, fresh placebo draws."""
    for name, outcome in WORKBOOK_OUTCOMES.items():
        est = run_estimate(REPO / "data", make_request(city="Seattle", outcome=outcome,
                                                       method="synth"))
        assert est.percent_change == pytest.approx(R_PCT[name], abs=0.5)
        assert est.details["synthetic_total"] == pytest.approx(R_SYNTHETIC[name], abs=0.05)
        assert est.details["placebos"] == 250
        is_significant = est.details["p_value_lower"] < 0.05
        assert is_significant == (name != "i_drugs"), (name, est.details["p_value_lower"])


def test_cli_prints_the_synth_fields_and_refuses_citywide_in_one_line(capsys):
    from impactbook.cli import main

    assert main(["estimate", "--data", str(REPO / "data"), "--city", "Chicago", "--outcome",
                 "homicides", "--method", "synth", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["method"] == "synth" and record["design"] == "synthetic control"
    for key in ("p_value_lower", "placebos", "pre_rmspe", "pre_rmspe_relative",
                "post_pre_rmspe_ratio", "observed_total", "synthetic_total", "events_averted",
                "weights", "weights_note"):
        assert key in record["details"], key
    assert record["rate_ratio"] == pytest.approx(
        record["details"]["observed_total"] / record["details"]["synthetic_total"], rel=1e-3)
    assert main(["estimate", "--data", str(REPO / "data"), "--city", "Baltimore", "--outcome",
                 "murders", "--method", "synth", "--json"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "citywide series has no donor pool" in err[0]


def test_index_shows_a_synth_headline_by_its_permutation_p():
    from impactbook.report.index_page import _impact_item

    def item(p, excludes):
        headline = {"percent_change": -33.0, "ci_low_pct": None, "ci_high_pct": None,
                    "excludes_no_change": excludes, "permutation_p": p,
                    "design": "synthetic control", "outcome": "felony offenses",
                    "area": "DMI blocks", "programme": "DMI", "intervention": "DMI"}
        return _impact_item({"kind": "city", "name": "Seattle", "headline": headline})

    assert "33% lower" in item(0.02, True) and "permutation p 0.02" in item(0.02, True)
    quiet = item(0.4, False)
    assert "No clear change" in quiet and "not set apart from the placebos" in quiet


def test_classic_weights_solve_pysyncons_own_problem():
    """fit_classic solves pysyncon's inner problem (Synth.fit with a custom V) exactly
    (effects/synth_weights.py): the same weights where the optimum is unique, and never a worse
    objective."""
    from pysyncon import Synth

    from impactbook.effects.synth import _yearly_means, fit_classic

    rng = np.random.default_rng(11)
    periods = pd.period_range("2008-01", periods=48, freq="M")
    donors = [f"Area {i}" for i in range(12)]
    Y = pd.DataFrame(rng.poisson(rng.uniform(5, 40, len(donors)), (len(periods), len(donors))),
                     index=periods, columns=donors).astype(float)
    # Outside the donors' hull (above every donor early, mid-range later): a unique optimum.
    Y["Treated"] = 0.6 * Y["Area 3"] + 0.4 * Y["Area 7"] + np.linspace(8, 0, len(periods))
    predictors = _yearly_means(Y, 12)
    v = np.full(len(predictors), 1.0 / len(predictors))
    ours = fit_classic(Y, "Treated", donors, 12).to_numpy()
    theirs = Synth()
    theirs.fit(X0=predictors[donors], X1=predictors["Treated"], Z0=Y[donors], Z1=Y["Treated"],
               custom_V=v)
    theirs_w = np.asarray(theirs.W, float)
    X0, X1 = predictors[donors].to_numpy(), predictors["Treated"].to_numpy()

    def loss(w):
        return float(((X1 - X0 @ w) ** 2) @ v)

    assert ours.min() >= 0 and ours.sum() == pytest.approx(1.0)
    assert loss(ours) <= loss(theirs_w) * (1 + 1e-6) + 1e-9
    assert np.abs(ours - theirs_w).max() < 5e-3  # SLSQP stops at its own ftol; ours is lower


def _calibration_problem(seed: int, n: int = 400, zero_column: bool = False):
    rng = np.random.default_rng(seed)
    C = np.column_stack([np.ones(n), rng.poisson(4, (n, 6)), rng.uniform(0, 50, n)])
    if zero_column:
        C[:, 3] = 0.0
    treated = rng.choice(n, 12, replace=False)
    return np.delete(C, treated, axis=0), C[treated].sum(axis=0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_newton_calibration_is_clarabels_optimum_with_exact_balance(seed):
    """The dual Newton weights are the primal QP's optimum (checked with Clarabel's interior
    point), and balance every target to rounding."""
    C, targets = _calibration_problem(seed)
    weights, solver = microsynth.calibration_weights(C, targets)
    assert solver == "Newton on the dual"
    reference, is_solved = microsynth._clarabel_weights(C, targets)
    assert is_solved
    assert np.abs(weights - reference).max() < 1e-6
    assert microsynth.balance_error(C, targets, weights) < 1e-12
    assert weights @ weights <= reference @ reference * (1 + 1e-9)  # the smaller norm


def test_newton_calibration_with_a_column_zero_everywhere_and_an_unreachable_target():
    C, targets = _calibration_problem(4, zero_column=True)
    weights, solver = microsynth.calibration_weights(C, targets)  # singular Hessian: lstsq
    assert solver == "Newton on the dual" and microsynth.balance_error(C, targets, weights) < 1e-9
    unreachable = targets.copy()
    unreachable[1] = -5.0  # counts are non-negative: no non-negative weights reach this
    assert microsynth.calibration_weights(C, unreachable) == (None, "infeasible")
    assert microsynth.newton_dual_weights(C, unreachable, np.zeros(C.shape[1]),
                                          max_iter=50) is None
