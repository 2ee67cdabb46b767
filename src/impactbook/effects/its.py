"""Interrupted time series: a segmented count regression around the programme start.

The docs/DESIGN.md model: ``log E[count] = b0 + b1 * post + b2 * t (+ b3 * post * t) + Fourier
terms + log(population)``, fitted as a quasi-Poisson GLM (Pearson chi-square scale) or a
negative binomial with its dispersion estimated. ``exp(b1)`` is the level change at the
start, reported as a rate ratio. This reproduces Bernal, Cummins & Gasparrini (2017)'s Sicily
tutorial: 0.885 (0.839 to 0.933) with two Fourier pairs, 0.894 without.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from impactbook.defaults import DEFAULT_POST_PERIODS, MIN_PRE_OBSERVED
from impactbook.effects._fit import fit_count_model
from impactbook.effects._threads import single_blas_thread
from impactbook.effects._window import Labels, Window, fourier_terms, make_window
from impactbook.effects.diagnostics import headline_interval
from impactbook.effects.estimate import Z_95, Estimate
from impactbook.effects.guardrails import collect_guardrail_warnings
from impactbook.effects.magnitude import effect_summary, events_averted
from impactbook.workbook.periods import QUARTERLY


def default_fourier_pairs(freq: str) -> int:
    """Two annual sine/cosine pairs for monthly data, one for quarterly (docs/DESIGN.md)."""
    return 1 if freq == QUARTERLY else 2


def build_its_design(
    frame: pd.DataFrame, freq: str, *, fourier_pairs: int, slope_change: bool
) -> pd.DataFrame:
    """The segmented-regression design for a window frame (columns ``t`` and ``is_post``)."""
    exog = pd.DataFrame(
        {"const": 1.0, "level_change": frame["is_post"], "trend": frame["t"]}, index=frame.index
    )
    if slope_change:
        exog["slope_change"] = frame["is_post"] * frame["t"]
    if fourier_pairs:
        exog = exog.join(fourier_terms(frame.index, freq, fourier_pairs))
    return exog


@single_blas_thread
def estimate_its(
    series: pd.DataFrame,
    start: pd.Period | str,
    *,
    pre_periods: int | None = None,
    post_periods: int | None = DEFAULT_POST_PERIODS,
    slope_change: bool = False,
    family: str = "quasi-poisson",
    robust: str = "none",
    hac_lags: int | None = None,
    fourier_pairs: int | None = None,
    labels: Mapping[str, str] | None = None,
    programme_area: str | None = None,
    is_area_larger_than_programme: bool = False,
    check_guardrails: bool = True,
) -> Estimate:
    """Estimate the level change at ``start`` with a segmented count regression.

    Parameters
    ----------
    series : DataFrame indexed by a full PeriodIndex ('M' or 'Q-DEC') with columns ``count``
        (NaN = missing, dropped from the fit with a warning), ``population`` (optional, used
        as a log offset when present) and optionally ``is_partial`` (bool; such periods are
        left out with a warning).
    start : first period of the programme (``pd.Period`` or a label such as ``"2010-01"``).
    pre_periods : periods before the start to use (default: all).
    post_periods : periods from the start to use (default 24; fewer with a warning when the
        data end sooner; ``None`` = all).
    slope_change : also fit a change in trend after the start (reported in ``details``).
    family : ``"quasi-poisson"`` (Pearson chi-square scale) or ``"negative-binomial"`` (NB2,
        alpha estimated by maximum likelihood, reported in ``details['alpha']``).
    robust : ``"none"`` or ``"hac"`` (Newey-West intervals, ``hac_lags`` default
        floor(4 (n/100)^(2/9))).
    fourier_pairs : annual sine/cosine pairs (default 2 monthly, 1 quarterly; 0 = none).
    labels : ``{"city", "area", "outcome"}`` carried into the result and error messages.
    programme_area, is_area_larger_than_programme : for the dilution guardrail.
    check_guardrails : run the guardrail checks, the residual autocorrelation test, events
        averted and the detectable change (the placebo check turns them off).

    Raises
    ------
    EstimationError : start outside the data, too few periods, or a model that did not
        converge; the message names city / area / outcome.
    """
    names = Labels.from_mapping(labels)
    window = make_window(series, start, pre_periods=pre_periods, post_periods=post_periods,
                         labels=names)
    pairs = default_fourier_pairs(window.freq) if fourier_pairs is None else int(fourier_pairs)
    max_pairs = 1 if window.freq == QUARTERLY else 5
    if not 0 <= pairs <= max_pairs:
        raise ValueError(f"fourier_pairs must be 0-{max_pairs} for this frequency, got {pairs}")
    frame = window.frame
    observed = window.observed
    pre_obs = observed[observed["t"] < 0]
    post_obs = observed[observed["t"] >= 0]
    if len(pre_obs) < MIN_PRE_OBSERVED:
        raise names.error(
            f"too few periods to fit: {len(pre_obs)} observed {window.unit} before the start "
            f"(at least {MIN_PRE_OBSERVED} needed)"
        )
    if pre_obs["count"].sum() <= 0 or post_obs["count"].sum() <= 0:
        side = "before" if pre_obs["count"].sum() <= 0 else "after"
        raise names.error(f"no events {side} the start: a rate ratio cannot be estimated")
    exog = build_its_design(frame, window.freq, fourier_pairs=pairs, slope_change=slope_change)
    offset = np.log(frame["population"].to_numpy()) if window.has_population else None
    rows = frame["count"].notna().to_numpy()
    fit = fit_count_model(
        frame["count"][rows], exog[rows], None if offset is None else offset[rows],
        family=family, robust=robust, labels=names, hac_lags=hac_lags,
    )
    interval = headline_interval(fit, "level_change", check=check_guardrails)
    post = frame["t"].to_numpy() >= 0
    counterfactual_exog = exog[post].copy()
    counterfactual_exog["level_change"] = 0.0
    if slope_change:
        counterfactual_exog["slope_change"] = 0.0
    counterfactual = fit.predict_linear(
        counterfactual_exog, None if offset is None else offset[post]
    )
    fitted = fit.predict_mean(exog, offset)

    details = _its_details(fit, window, pairs, slope_change, exog, offset)
    warnings = (
        collect_guardrail_warnings(
            window, area=names.area, programme_area=programme_area,
            is_area_larger_than_programme=is_area_larger_than_programme,
        )
        if check_guardrails else list(window.warnings)
    )
    if interval.warning:
        warnings.append(interval.warning)
    shared: dict = {}
    if check_guardrails:  # placebo fits read only the level change
        shared = effect_summary(
            fit, exog[rows].to_numpy(), fitted.to_numpy()[rows], "level_change", interval,
            observed_post_total=float(post_obs["count"].sum()),
            population=(float(frame["population"][post].mean()) if window.has_population
                        else None))
        details.update(shared.pop("details"))
        if slope_change:
            shared["events_averted"] = _averted_with_slope_change(
                fit, exog, offset, post, rows, float(post_obs["count"].sum()),
                shared["se_log_rate_ratio"] / interval.model_se)
            details["events_expected"] = float(post_obs["count"].sum()
                                               + shared["events_averted"][0])
    else:
        shared = {"rate_ratio": float(np.exp(interval.log_rate_ratio)),
                  "ci_low": float(np.exp(interval.ci_low)),
                  "ci_high": float(np.exp(interval.ci_high)), "p_value": interval.p_value,
                  "log_rate_ratio": interval.log_rate_ratio, "se_log_rate_ratio": interval.se}
    return Estimate(
        city=names.city, area=names.area, outcome=names.outcome, start=window.start,
        method="its", model=family, pre_periods=window.pre_periods,
        post_periods=window.post_periods, pre_mean=float(pre_obs["count"].mean()),
        post_mean=float(post_obs["count"].mean()), dispersion=fit.dispersion,
        warnings=tuple(warnings), details=details,
        observed=series["count"].astype(float).rename("observed"),
        fitted=fitted, counterfactual=counterfactual, **shared,
    )


def _averted_with_slope_change(fit, exog: pd.DataFrame, offset, post: np.ndarray,
                               rows: np.ndarray, observed_total: float,
                               se_inflation: float) -> tuple[float, float, float]:
    """Events averted when the trend changes too: the post window's counterfactual total
    (level and slope change set to 0) minus the observed, with a delta-method interval on
    log(fitted total / counterfactual total)."""
    keep = post & rows
    x_fit = exog[keep].to_numpy(dtype=float)
    x_cf = exog[keep].copy()
    x_cf[["level_change", "slope_change"]] = 0.0
    x_cf = x_cf.to_numpy(dtype=float)
    beta = np.asarray(fit.result.params, dtype=float)[:x_fit.shape[1]]
    shift = np.zeros(keep.sum()) if offset is None else offset[keep]
    mu_fit, mu_cf = np.exp(x_fit @ beta + shift), np.exp(x_cf @ beta + shift)
    log_ratio = float(np.log(mu_fit.sum() / mu_cf.sum()))
    gradient = (mu_fit @ x_fit) / mu_fit.sum() - (mu_cf @ x_cf) / mu_cf.sum()
    cov = np.asarray(fit.result.cov_params())[:x_fit.shape[1], :x_fit.shape[1]]
    se = float(np.sqrt(gradient @ cov @ gradient)) * se_inflation
    return events_averted(observed_total, float(np.exp(log_ratio)),
                          float(np.exp(log_ratio - Z_95 * se)),
                          float(np.exp(log_ratio + Z_95 * se)))


def _its_details(fit, window: Window, pairs: int, slope_change: bool,
                 exog: pd.DataFrame, offset) -> dict:
    details: dict = {
        "fourier_pairs": pairs,
        "population_offset": window.has_population,
        "robust": fit.robust,
        "observed_periods": int(window.frame["count"].notna().sum()),
        "trend_ratio_per_year": float(
            np.exp(fit.result.params["trend"] * (4 if window.freq == QUARTERLY else 12))
        ),
    }
    if fit.robust == "hac":
        details["hac_lags"] = int(fit.result.cov_kwds["maxlags"])
    if fit.alpha is not None:
        details["alpha"] = fit.alpha
    if fit.solver_note:
        details["fit_note"] = fit.solver_note
    if slope_change:
        est, _, low, high, p = fit.coefficient("slope_change")
        details["slope_change_ratio_per_period"] = float(np.exp(est))
        details["slope_change_ci"] = [float(np.exp(low)), float(np.exp(high))]
        details["slope_change_p_value"] = p
        # The effect at the last post period combines level and slope change.
        contrast = np.zeros(len(fit.result.params))
        names = list(fit.result.params.index)
        last_t = float(window.post_periods - 1)
        contrast[names.index("level_change")] = 1.0
        contrast[names.index("slope_change")] = last_t
        test = fit.result.t_test(contrast)
        ci = np.asarray(test.conf_int(alpha=0.05)).ravel()
        details["rate_ratio_end_of_post"] = float(np.exp(np.asarray(test.effect).ravel()[0]))
        details["rate_ratio_end_of_post_ci"] = [float(np.exp(ci[0])), float(np.exp(ci[1]))]
    return details
