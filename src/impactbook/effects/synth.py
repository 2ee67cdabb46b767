"""Synthetic control: the programme area against a weighted mix of the city's other areas.

Two designs share one :class:`~impactbook.effects.Estimate` (method ``"synth"``):

* **Classic** (Abadie & Gardeazabal 2003; Abadie, Diamond & Hainmueller 2010) for one
  programme area (a precinct, a district) against the city's other areas: non-negative donor
  weights summing to one (pysyncon's problem, solved with Clarabel) so that the weighted donors
  reproduce the area's pre-period. Predictors are the pre-period yearly means of the outcome
  with equal importance (a fixed V): pysyncon's nested search for V takes ~15 s a fit, which
  the placebo test would repeat for every donor, and with the outcome's own history as the only
  predictor equal weights are the usual choice. The fit is then judged on every pre-period.
  When the area lies inside its donors' range the optimum is a face, not a point: of the
  equally good weightings the one closest to equal weights (least ``sum w^2``) is taken, so
  the synthetic series after the start does not depend on a solver's path
  (:mod:`.synth_weights`).
* **Micro** (:mod:`.microsynth`) for many small treated units (census blocks), matching every
  pre-period of all the programme's outcomes and the block covariates exactly.

The effect is observed / synthetic over the post-period; the p-values are placebo-in-space
permutation tests: two-sided on the post/pre RMSPE ratio (classic) or the |t| statistic
(micro), and one-sided for a reduction (``details["p_value_lower"]``), all of the form
``(1 + placebos at least as extreme) / (1 + placebos)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from impactbook.defaults import DEFAULT_POST_PERIODS
from impactbook.effects import microsynth
from impactbook.effects._synth_result import (
    fit_quality,
    noise_ratios,
    synth_estimate,
    synth_warnings,
)
from impactbook.effects._threads import single_blas_thread
from impactbook.effects._window import Labels, make_window
from impactbook.effects.estimate import Estimate
from impactbook.effects.synth_weights import simplex_least_squares
from impactbook.workbook.periods import QUARTERLY

MODEL_CLASSIC = "synthetic control (pysyncon, yearly-mean predictors, equal V)"
MODEL_MICRO = "micro-synthetic control (microsynth calibration)"


def _yearly_means(Y: pd.DataFrame, per_year: int) -> pd.DataFrame:
    """Predictors (rows) x units: means of consecutive ``per_year``-period blocks."""
    starts = range(0, len(Y), per_year)
    names = [f"mean {Y.index[i]}..{Y.index[min(i + per_year, len(Y)) - 1]}" for i in starts]
    return pd.DataFrame(_block_means(Y.to_numpy(float), per_year), index=names,
                        columns=Y.columns)


def _block_means(values: np.ndarray, per_year: int) -> np.ndarray:
    return np.vstack([values[i:i + per_year].mean(axis=0)
                      for i in range(0, len(values), per_year)])


def fit_classic(Y_pre: pd.DataFrame, treated: str, donors: Sequence[str],
                per_year: int) -> pd.Series:
    """Donor weights (non-negative, summing to one) for a fixed, equal V.

    The problem is pysyncon's inner one (``Synth.w_optimize``: minimise
    ``0.5 w'Pw - q'w`` with ``P = X0'VX0``, ``q = X1'VX0`` over the simplex), solved exactly
    in the space of the predictors with the least-norm tie-break of :mod:`.synth_weights`
    (a test checks it against ``pysyncon.Synth.fit``): about 0.3 ms a fit instead of SLSQP's
    80 ms or Clarabel's 2 ms, which the placebo-in-space test pays once for every donor.
    """
    donors = list(donors)
    predictors = _block_means(Y_pre[[treated, *donors]].to_numpy(float), per_year)
    return pd.Series(_weights(predictors[:, 1:], predictors[:, 0]), index=donors,
                     name="weight")


def _weights(X0: np.ndarray, X1: np.ndarray) -> np.ndarray:
    """Equal-V weights of donor predictors ``X0`` (predictors x donors) for target ``X1``."""
    return simplex_least_squares(X0, X1)


@dataclass(frozen=True)
class PlaceboInSpace:
    gaps: pd.DataFrame           # periods x placebo areas
    p_two_sided: float
    p_lower: float


def placebo_in_space(Y: pd.DataFrame, treated: str, donors: Sequence[str], n_pre: int,
                     per_year: int, treated_gap: pd.Series) -> PlaceboInSpace:
    """Each donor in turn treated as the programme area, its donors the other donors.

    Two-sided: the post/pre RMSPE ratio. Lower: the mean post gap over the pre RMSPE (a
    standardised fall), counted as extreme when at or below the programme area's.
    """
    # One predictor matrix for all donors, then plain arrays: the loop runs once per donor.
    values = Y[list(donors)].to_numpy(float)
    predictors = _block_means(values[:n_pre], per_year)
    gap_values = np.empty_like(values)
    for j in range(len(donors)):
        others = np.r_[0:j, j + 1:len(donors)]
        weights = _weights(predictors[:, others], predictors[:, j])
        gap_values[:, j] = values[:, j] - values[:, others] @ weights
    gaps = pd.DataFrame(gap_values, index=Y.index, columns=list(donors))

    def stats(gap: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        pre = np.sqrt((gap.iloc[:n_pre] ** 2).mean())
        post = np.sqrt((gap.iloc[n_pre:] ** 2).mean())
        with np.errstate(divide="ignore", invalid="ignore"):
            return (post / pre).to_numpy(), (gap.iloc[n_pre:].mean() / pre).to_numpy()

    ratio, fall = stats(gaps)
    own_ratio, own_fall = stats(treated_gap.to_frame())
    n = len(donors)
    p_two = (1 + np.sum(ratio >= own_ratio[0])) / (n + 1)
    p_lower = (1 + np.sum(fall <= own_fall[0])) / (n + 1)
    return PlaceboInSpace(gaps, float(p_two), float(p_lower))


@single_blas_thread
def estimate_synth(
    panel: pd.DataFrame,
    treated: str,
    start: pd.Period | str,
    *,
    pre_periods: int | None = None,
    post_periods: int | None = DEFAULT_POST_PERIODS,
    labels: Mapping[str, str] | None = None,
    programme_area: str | None = None,
    is_area_larger_than_programme: bool = False,
) -> Estimate:
    """Classic synthetic control of column ``treated`` of ``panel`` (periods x areas, counts).

    Every other column is a donor; donors with a missing period in the window are left out
    (with a warning), as is a programme area larger than every donor (no weighted average of
    the donors can reach it). Raises EstimationError when fewer than two donors remain.
    """
    names = Labels.from_mapping(labels)
    series = pd.DataFrame({"count": panel[treated]})
    window = make_window(series, start, pre_periods=pre_periods, post_periods=post_periods,
                         labels=names)
    Y = panel.reindex(window.frame.index).astype(float)
    if Y[treated].isna().any():
        raise names.error("the programme area has missing periods in the window; a synthetic "
                          "control needs every period")
    candidates = [c for c in Y.columns if c != treated]
    is_complete = Y[candidates].notna().all()  # one pass, not a Series per donor
    donors = [c for c in candidates if is_complete[c]]
    notes = []
    is_above_donors = False
    if len(donors) < len(candidates):
        left_out = sorted(set(candidates) - set(donors))
        notes.append(f"{len(left_out)} donor areas with missing periods in the window were left "
                     f"out ({', '.join(left_out[:6])}{', ...' if len(left_out) > 6 else ''}).")
    n_pre = window.pre_periods
    pre_means = Y.iloc[:n_pre].mean()
    if len(donors) and pre_means[treated] > pre_means[donors].max():
        is_above_donors = True
        notes.append(
            f"The programme area ({pre_means[treated]:.1f} a period before the start) is larger "
            f"than every donor (largest {pre_means[donors].max():.1f}): a weighted average of "
            "the other areas cannot reach its level, so the synthetic control sits below it "
            "and the gap after the start is biased upwards.")
    if len(donors) < 2:
        raise names.error(f"a synthetic control needs at least two donor areas; {len(donors)} "
                          "remain")
    per_year = 4 if window.freq == QUARTERLY else 12
    weights = fit_classic(Y.iloc[:n_pre], treated, donors, per_year)
    synthetic = Y[donors] @ weights
    gap = Y[treated] - synthetic
    placebos = placebo_in_space(Y[[treated, *donors]], treated, donors, n_pre, per_year, gap)
    fit = fit_quality(Y[treated].iloc[:n_pre], gap.iloc[:n_pre],
                      noise_ratios(Y[donors].iloc[:n_pre], placebos.gaps.iloc[:n_pre]))
    warnings = synth_warnings(window, names, n_donors=len(donors), n_placebos=len(donors),
                              fit=fit, programme_area=programme_area,
                              is_diluted=is_area_larger_than_programme,
                              p_lower=placebos.p_lower, is_random_draw=False) + notes
    return synth_estimate(
        labels=names, window=window, observed=Y[treated], synthetic=synthetic,
        placebo_gaps=placebos.gaps, p_two_sided=placebos.p_two_sided,
        p_lower=placebos.p_lower, weights=weights, model=MODEL_CLASSIC,
        weights_note="donor weights (non-negative, summing to one) of the areas that make up "
                     "the synthetic control", n_donors=len(donors), warnings=warnings, fit=fit,
        extra={"is_larger_than_every_donor": is_above_donors})


@dataclass(frozen=True)
class MicroFit:
    """The joint micro-synthetic fit of all outcomes, and its placebo groups."""

    periods: pd.PeriodIndex
    n_pre: int
    outcomes: tuple[str, ...]
    main: microsynth.GroupFit
    placebos: tuple[microsynth.GroupFit, ...]
    n_infeasible: int
    n_treated: int
    n_donors: int


def fit_microsynth(outcomes: np.ndarray, covariates: np.ndarray, is_treated: np.ndarray,
                   periods: pd.PeriodIndex, n_pre: int, outcome_names: Sequence[str], *,
                   placebos: int, seed: int = 1, labels: Labels | None = None) -> MicroFit:
    """Weights matching all ``outcome_names`` (units x periods x outcomes) and covariates.

    Placebo groups of ``is_treated.sum()`` units are drawn from all units with ``seed``.
    """
    names = labels or Labels()
    main = microsynth.fit_group(outcomes, covariates, is_treated, n_pre)
    if main is None:
        raise names.error("no non-negative weighting of the donor units matches the treated "
                          "units' pre-period counts and covariates (microsynth's exact match "
                          "is infeasible)")
    groups = microsynth.draw_placebo_groups(len(is_treated), int(is_treated.sum()), placebos,
                                            seed)
    fits = microsynth.fit_placebos(outcomes, covariates, n_pre, groups)
    kept = tuple(f for f in fits if f is not None)
    return MicroFit(periods, n_pre, tuple(outcome_names), main, kept, len(fits) - len(kept),
                    int(is_treated.sum()), int((~is_treated).sum()))


def estimate_microsynth(fit: MicroFit, outcome: str, start: pd.Period | str, *,
                        labels: Mapping[str, str] | None = None,
                        programme_area: str | None = None,
                        is_area_larger_than_programme: bool = False) -> Estimate:
    """The Estimate for one ``outcome`` of a joint :class:`MicroFit`."""
    names = Labels.from_mapping(labels)
    j = fit.outcomes.index(outcome)
    observed = pd.Series(fit.main.treated_series[:, j], index=fit.periods)
    synthetic = pd.Series(fit.main.synthetic_series[:, j], index=fit.periods)
    window = make_window(pd.DataFrame({"count": observed}), start, pre_periods=None,
                         post_periods=None, labels=names)
    gaps = pd.DataFrame({f"placebo {i + 1}": p.treated_series[:, j] - p.synthetic_series[:, j]
                         for i, p in enumerate(fit.placebos)}, index=fit.periods)
    t_placebo = np.array([[p.t_values[j]] for p in fit.placebos]).reshape(-1, 1)
    p_two, p_lower = microsynth.permutation_p_values(np.array([fit.main.t_values[j]]),
                                                     t_placebo)
    quality = fit_quality(observed.iloc[:fit.n_pre], (observed - synthetic).iloc[:fit.n_pre])
    warnings = synth_warnings(window, names, n_donors=fit.n_donors,
                              n_placebos=len(fit.placebos), fit=quality,
                              programme_area=programme_area,
                              is_diluted=is_area_larger_than_programme, p_lower=float(p_lower[0]),
                              is_random_draw=True)
    if fit.n_infeasible:
        warnings.append(f"{fit.n_infeasible} placebo groups could not be matched exactly and "
                        "were left out of the permutation test.")
    positive = int((fit.main.weights > 0).sum()) - fit.n_treated
    return synth_estimate(
        labels=names, window=window, observed=observed, synthetic=synthetic,
        placebo_gaps=gaps, p_two_sided=float(p_two[0]), p_lower=float(p_lower[0]),
        weights=None, model=MODEL_MICRO,
        weights_note=(f"not identified: with {fit.n_donors:,} donor units many weightings match "
                      f"the {fit.n_treated} treated units' past equally well ({positive:,} "
                      "have a positive weight in microsynth's choice, the one closest to equal "
                      "weights); the synthetic series is what the estimate rests on"),
        n_donors=fit.n_donors, warnings=warnings, fit=quality,
        extra={"treated_units": fit.n_treated, "t_value": float(fit.main.t_values[j]),
               "matched_outcomes": list(fit.outcomes), "solver": fit.main.solver})
