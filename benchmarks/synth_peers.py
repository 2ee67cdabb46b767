"""Synthetic controls against peer packages: CPU time and agreement, for `make bench`.

Two comparisons, each a function returning a dict of plain numbers (and, where a peer cannot
be compared, a sentence saying why); ``benchmarks/run.py`` calls them, and this module runs
alone: ``.venv/bin/python benchmarks/synth_peers.py`` prints both.

- :func:`classic_vs_pysyncon`: impactbook's classic synthetic control of one New York
  precinct (Crown Heights, Precinct 77, shootings, from 2010-01) with its 74 placebo fits,
  against pysyncon's ``Synth`` fitted 75 times on the same problems (the programme area, then
  each donor as a placebo against the other donors): yearly-mean predictors, equal V passed
  as ``custom_V`` so pysyncon solves only the weights (its inner SLSQP), as impactbook does.
  pysyncon divides each predictor row by its standard deviation before weighting, so with
  equal V its objective weighs the years slightly differently; where the optimum is an exact
  fit (the area inside its donors' hull) both problems have many optimal weightings and each
  picks its own. The agreement reported is the synthetic series (every month of the window).
- :func:`micro_vs_mlsynth`: Seattle's micro-synthetic control (the 39 DMI blocks, four
  outcomes matched jointly with nine census covariates, 250 placebo groups) against mlsynth's
  ``MicroSynth`` (panel method, microsynth's), one fit per outcome with its own 250 placebo
  groups, and whether each reproduces the published figures (R microsynth 2.0.51 on the
  same data, ``tests/fixtures/synth/ref_microsynth.Rout``).

CPU time is user + system seconds of this process (``time.process_time``, every thread),
the least of ``runs`` runs, with BLAS on one thread for both sides (as impactbook's
estimators run). The peers are in the ``bench`` extra (``pip install -e ".[bench]"``).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data"
SEATTLE_RAW = DATA / "raw" / "seattle_dmi_microsynth_block_quarter.csv.gz"

# The classic case: the Crown Heights programme of data/interventions.csv.
CLASSIC = {"city": "New York", "area": "Precinct 77", "outcome": "shootings",
           "start": "2010-01"}

# Seattle: R microsynth 2.0.51 (ref_microsynth.Rout): synthetic post-period totals, percent
# changes and one-sided (lower) permutation p of the run whose groups are stored.
SEATTLE_OUTCOMES = {"i_felony": "felony offenses", "i_misdemea": "misdemeanor offenses",
                    "i_drugs": "drug offenses", "any_crime": "any crime"}
SEATTLE_COVARIATES = ["TotalPop", "BLACK", "HISPANIC", "Males_1521", "HOUSEHOLDS",
                      "FAMILYHOUS", "FEMALE_HOU", "RENTER_HOU", "VACANT_HOU"]
R_SYNTHETIC = {"i_felony": 68.22239, "i_misdemea": 71.80012, "i_drugs": 23.75882,
               "any_crime": 986.43897}
R_PCT = {"i_felony": -32.57345, "i_misdemea": -37.32601, "i_drugs": -15.82074,
         "any_crime": -20.11670}
R_PERM_P = {"i_felony": 0.016, "i_misdemea": 0.020, "i_drugs": 0.296, "any_crime": 0.004}
# "Reproduces" means: percent change within half a point of R's (the tolerance of
# tests/test_effects_synth.py) and the same verdict at 5% on the one-sided permutation p.
PCT_TOLERANCE = 0.5


def _least_cpu_s(function: Callable[[], object], runs: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(runs):
        start = time.process_time()
        result = function()
        best = min(best, time.process_time() - start)
    return best, result


def _load_avg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# --- classic synthetic control against pysyncon ----------------------------------------------

def _classic_panel() -> tuple[pd.DataFrame, str, pd.Period, int]:
    """The estimate's own window (periods x areas) and its pre-period length."""
    from impactbook.analysis import make_request, run_estimate
    from impactbook.effects import synth

    seen = {}
    original = synth.estimate_synth

    def spy(panel, treated, start, **kwargs):  # the panel exactly as the analysis builds it
        seen.update(panel=panel, treated=treated, start=start, kwargs=kwargs)
        return original(panel, treated, start, **kwargs)

    import impactbook.effects as effects
    effects.estimate_synth = spy
    try:
        est = run_estimate(DATA, make_request(method="synth", **CLASSIC))
    finally:
        effects.estimate_synth = original
    window = est.observed.index
    panel = seen["panel"].reindex(window).astype(float)
    panel = panel[[seen["treated"]] + [c for c in panel.columns
                                       if c != seen["treated"] and panel[c].notna().all()]]
    return panel, seen["treated"], seen["start"], est.pre_periods


def classic_vs_pysyncon(runs: int = 3, peer_runs: int = 1) -> dict:
    """impactbook's classic synthetic control with placebos against pysyncon fitted 75 times."""
    from pysyncon import Synth

    from impactbook.effects import synth

    panel, treated, start, n_pre = _classic_panel()
    donors = [c for c in panel.columns if c != treated]
    per_year = 12
    pre = panel.iloc[:n_pre]

    def ours():
        return synth.estimate_synth(panel, treated, start, post_periods=len(panel) - n_pre)

    # pysyncon's predictors: the means of consecutive years of the pre-period (predictors x
    # units), the blocks impactbook's fit_classic averages.
    X = pre.groupby(np.arange(n_pre) // per_year).mean()
    equal_v = np.full(len(X), 1.0 / len(X))

    def theirs():
        series = {}
        for unit in [treated, *donors]:
            pool = [d for d in donors if d != unit]
            fit = Synth()
            fit.fit(X0=X[pool], X1=X[unit], Z0=panel[pool], Z1=panel[unit], custom_V=equal_v)
            series[unit] = np.asarray(fit.W, float)
        return series

    with threadpool_limits(limits=1, user_api="blas"):
        ours_s, est = _least_cpu_s(ours, runs)
        theirs_s, peer = _least_cpu_s(theirs, peer_runs)
    # Per fit (the area, then each donor as placebo): the synthetic series and the fitted
    # yearly means by each package, and whether the optimum is an exact fit (not a point).
    diff_series, diff_predictors, is_exact = [], [], []
    same_series, loss_ratio = [], []
    for unit in [treated, *donors]:
        pool = [d for d in donors if d != unit]
        w_ours = synth.fit_classic(pre, unit, pool, per_year).to_numpy()
        w_peer = peer[unit]
        diff_series.append(np.abs(panel[pool].to_numpy() @ (w_ours - w_peer)).max())
        diff_predictors.append(np.abs(X[pool].to_numpy() @ (w_ours - w_peer)).max())
        is_exact.append(np.abs(X[pool].to_numpy() @ w_ours - X[unit].to_numpy()).max() < 1e-9)
        # pysyncon's own weight solver on the unscaled problem (exactly impactbook's): where
        # the optimum is a point both must find it; everywhere ours must fit no worse.
        X0u, X1u = X[pool].to_numpy(), X[unit].to_numpy()
        w_same, _ = Synth.w_optimize(V_mat=np.diag(equal_v), X0=X0u, X1=X1u)
        same_series.append(np.abs(panel[pool].to_numpy() @ (w_ours - w_same)).max())
        loss_ratio.append((((X1u - X0u @ w_ours) ** 2).sum() + 1e-12)
                          / (((X1u - X0u @ w_same) ** 2).sum() + 1e-12))
    diff_series, diff_predictors = np.array(diff_series), np.array(diff_predictors)
    same_series, loss_ratio = np.array(same_series), np.array(loss_ratio)
    is_exact = np.array(is_exact)
    synthetic_ours = est.fitted.to_numpy(float)
    synthetic_peer = panel[donors].to_numpy() @ peer[treated]
    return {
        "case": f"{CLASSIC['city']}, {CLASSIC['area']}, {CLASSIC['outcome']} from "
                f"{CLASSIC['start']}: {len(donors)} donors, {n_pre} pre-periods "
                f"({len(X)} yearly-mean predictors), {len(panel) - n_pre} post-periods",
        "fits": 1 + len(donors),
        "impactbook_cpu_s": ours_s,
        "pysyncon_cpu_s": theirs_s,
        "ratio": theirs_s / ours_s,
        "max_abs_diff_synthetic": float(np.abs(synthetic_ours - synthetic_peer).max()),
        "max_abs_diff_synthetic_all_fits": float(diff_series.max()),
        "median_abs_diff_synthetic_all_fits": float(np.median(diff_series)),
        "fits_with_exact_fit_optimum": int(is_exact.sum()),
        "max_abs_diff_synthetic_point_optimum": float(diff_series[~is_exact].max(initial=0)),
        "max_abs_diff_fitted_yearly_means": float(diff_predictors.max()),
        "max_abs_diff_fitted_yearly_means_exact_fit": float(
            diff_predictors[is_exact].max(initial=0)),
        "unscaled_problem_max_abs_diff_synthetic_point_optimum": float(
            same_series[~is_exact].max(initial=0)),
        "unscaled_problem_max_abs_diff_synthetic_exact_fit": float(
            same_series[is_exact].max(initial=0)),
        "unscaled_problem_max_loss_ratio_ours_to_pysyncon": float(loss_ratio.max()),
        "unscaled_problem_median_loss_ratio_ours_to_pysyncon": float(np.median(loss_ratio)),
        "treated_pre_mean_per_period": float(panel[treated].iloc[:n_pre].mean()),
        "impactbook_rate_ratio": float(est.rate_ratio),
        "pysyncon_rate_ratio": float(panel[treated].iloc[n_pre:].sum()
                                     / synthetic_peer[n_pre:].sum()),
        "load_avg": _load_avg(),
    }


# --- micro-synthetic control against mlsynth -------------------------------------------------

def _seattle_frame() -> pd.DataFrame:
    return pd.read_csv(SEATTLE_RAW).sort_values(["ID", "time"]).reset_index(drop=True)


def _ours_micro(frame: pd.DataFrame) -> dict:
    from impactbook.effects.synth import estimate_microsynth, fit_microsynth

    ids = frame["ID"].unique()
    names = list(SEATTLE_OUTCOMES)
    outcomes = frame[names].to_numpy(float).reshape(len(ids), 16, len(names))
    by_block = frame.groupby("ID")
    covariates = by_block[SEATTLE_COVARIATES].first().loc[ids].to_numpy(float)
    is_treated = by_block["Intervention"].max().loc[ids].to_numpy(bool)
    periods = pd.period_range("2010Q1", periods=16, freq="Q")
    fit = fit_microsynth(outcomes, covariates, is_treated, periods, 12, names, placebos=250,
                         seed=1)
    out = {}
    for name in names:
        est = estimate_microsynth(fit, name, periods[12])
        out[name] = {"percent_change": float(est.percent_change),
                     "synthetic_total": float(est.details["synthetic_total"]),
                     "p_lower": float(est.details["p_value_lower"])}
    return out


def _mlsynth_micro(frame: pd.DataFrame, placebos: int) -> dict:
    import warnings

    from mlsynth import MicroSynth

    out = {}
    for name in SEATTLE_OUTCOMES:
        with warnings.catch_warnings():  # cvxpy's "solution may be inaccurate", per placebo
            warnings.simplefilter("ignore", UserWarning)
            result = MicroSynth({
                "df": frame, "outcome": name, "treat": "Intervention", "unitid": "ID",
                "time": "time", "covariates": SEATTLE_COVARIATES,
                "outcome_lag_periods": list(range(1, 13)),
                "match_outcomes": list(SEATTLE_OUTCOMES), "weight_method": "panel",
                "n_permutations": placebos, "permutation_test": "lower", "seed": 1,
                "display_graphs": False,
            }).fit()
        synthetic = float(np.sum(result.counterfactual_post))
        observed = float(frame.loc[(frame["Intervention"] == 1), name].sum())
        out[name] = {"percent_change": 100 * (observed / synthetic - 1),
                     "synthetic_total": synthetic,
                     "p_lower": float(result.inference_detail.p_value)}
    return out


def _reproduces(figures: dict, placebos: int = 250) -> dict:
    """Per outcome: does it give R microsynth's percent change and significance verdict?

    With fewer than R's 250 placebo groups the p-value cannot be judged (its floor
    ``1 / (placebos + 1)`` may lie above 5%): then only the percent change is.
    """
    verdict = {}
    for name, got in figures.items():
        is_close = abs(got["percent_change"] - R_PCT[name]) <= PCT_TOLERANCE
        same_call = (got["p_lower"] < 0.05) == (R_PERM_P[name] < 0.05)
        verdict[name] = bool(is_close and (same_call or placebos < 250))
    return verdict


def micro_vs_mlsynth(runs: int = 2, peer_runs: int = 1, mlsynth_placebos: int = 250) -> dict:
    """Seattle's micro-synthetic control (250 placebos) against mlsynth's MicroSynth.

    mlsynth solves each placebo group's QP with cvxpy (a few seconds each for 9,600 weights),
    one fit per outcome: 1,004 solves for the four outcomes. ``mlsynth_placebos`` below 250
    measures fewer and adds ``mlsynth_cpu_s_250_extrapolated`` (its fits without placebos
    plus 250 times the measured cost of one), clearly marked as such.
    """
    frame = _seattle_frame()
    result: dict = {"case": "Seattle DMI: 39 treated blocks of 9,642, four outcomes matched "
                            "jointly with nine covariates, 12 pre-quarters, 250 placebo groups",
                    "published": {name: {"percent_change": R_PCT[name],
                                         "synthetic_total": R_SYNTHETIC[name],
                                         "p_lower": R_PERM_P[name]} for name in R_PCT}}
    with threadpool_limits(limits=1, user_api="blas"):
        ours_s, ours = _least_cpu_s(lambda: _ours_micro(frame), runs)
    result.update(impactbook_cpu_s=ours_s, impactbook=ours,
                  impactbook_reproduces=_reproduces(ours))
    try:
        import mlsynth  # noqa: F401
    except ImportError as exc:
        result.update(mlsynth_cpu_s=None, ratio=None,
                      mlsynth_note=f"mlsynth is not installed ({exc}); `make bench` installs "
                                   "it with the bench extra")
        result["load_avg"] = _load_avg()
        return result
    try:
        with threadpool_limits(limits=1, user_api="blas"):
            theirs_s, theirs = _least_cpu_s(lambda: _mlsynth_micro(frame, mlsynth_placebos),
                                            peer_runs)
            if mlsynth_placebos < 250:
                bare_s, _ = _least_cpu_s(lambda: _mlsynth_micro(frame, 0), peer_runs)
    except Exception as exc:  # a peer's failure is a finding, not a crash of the benchmark
        result.update(mlsynth_cpu_s=None, ratio=None,
                      mlsynth_note=f"mlsynth's MicroSynth failed: {type(exc).__name__}: {exc}")
        result["load_avg"] = _load_avg()
        return result
    result.update(mlsynth_placebos=mlsynth_placebos, mlsynth_cpu_s=theirs_s, mlsynth=theirs)
    if mlsynth_placebos < 250:
        per_placebo_s = (theirs_s - bare_s) / max(mlsynth_placebos, 1)
        extrapolated_s = bare_s + 250 * per_placebo_s
        result.update(mlsynth_cpu_s_no_placebos=bare_s,
                      mlsynth_cpu_s_250_extrapolated=extrapolated_s,
                      ratio_extrapolated=extrapolated_s / ours_s, ratio=None)
    else:
        result["ratio"] = theirs_s / ours_s
    reproduces = _reproduces(theirs, mlsynth_placebos)
    result["mlsynth_reproduces"] = reproduces
    if mlsynth_placebos < 250:
        result["mlsynth_reproduces_note"] = (
            f"percent changes only: {mlsynth_placebos} placebo groups cannot judge p at 5%")
    if not all(reproduces.values()):
        result["mlsynth_note"] = _why_not(theirs, reproduces, mlsynth_placebos)
    result["load_avg"] = _load_avg()
    return result


def _why_not(figures: dict, reproduces: dict, placebos: int) -> str:
    misses = [f"{name}: {figures[name]['percent_change']:+.2f}% (R {R_PCT[name]:+.2f}%), "
              f"p lower {figures[name]['p_lower']:.3f} (R {R_PERM_P[name]:.3f})"
              for name, ok in reproduces.items() if not ok]
    return ("does not reproduce the published figures for " + "; ".join(misses)
            + ". Its panel method fits the pre-period outcomes by least squares under a ridge "
              "(panel_ridge) and matches only the intercept and covariates exactly, where "
              "microsynth calibrates every pre-period of every outcome exactly; its "
              "permutation statistic is the placebo groups' effect (drawn among the controls), "
              "not microsynth's survey t value (drawn among all blocks)"
            + (f"; and only {placebos} placebo groups were drawn" if placebos < 250 else "")
            + ".")


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mlsynth-placebos", type=int, default=250,
                        help="placebo groups mlsynth draws per outcome (each a cvxpy solve of a "
                             "few seconds; below 250 the 250 figure is extrapolated)")
    args = parser.parse_args()
    print(json.dumps({"classic_vs_pysyncon": classic_vs_pysyncon(),
                      "micro_vs_mlsynth": micro_vs_mlsynth(
                          mlsynth_placebos=args.mlsynth_placebos)}, indent=2))


if __name__ == "__main__":
    main()
