"""Effects in the units funders use, and the smallest effect a design could have seen.

- :func:`events_averted`: expected minus observed events over the post window, where the
  expected count is what the design's counterfactual implies (observed / rate ratio), with
  the 95% interval carried over from the rate ratio's. For every design here the fitted
  post-window total equals the observed one (the post term is in the log-linear model), so
  ``observed / rate ratio`` *is* the counterfactual total. Positive means fewer than expected.
- :func:`detectable_change`: the minimum detectable change at 80% power and a two-sided 5%
  level, from the model's information matrix (no simulation): the standard error of the
  effect is recomputed with the means the model would expect *under* that change (counts
  fall, so the standard error grows), and the change solves
  ``|log RR| = (z_0.975 + z_0.80) * SE(RR)`` (a one-dimensional root). Checked by
  simulation in the tests.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import optimize, stats

from impactbook.effects._fit import CountFit

POWER = 0.80
LEVEL = 0.05
Z_POWER = float(stats.norm.ppf(POWER)) + float(stats.norm.ppf(1 - LEVEL / 2))
PER_RESIDENTS = 100_000
#: The largest change searched for, on the log scale (a 99.3% fall, a 148-fold rise).
_MAX_LOG_SIZE = 5.0


def events_averted(observed_post_total: float, rate_ratio: float, ci_low: float,
                   ci_high: float) -> tuple[float, float, float]:
    """``(averted, low, high)``: expected minus observed events over the post window."""
    if not (observed_post_total >= 0 and rate_ratio > 0 and ci_low > 0 and ci_high > 0):
        return (math.nan, math.nan, math.nan)
    total = float(observed_post_total)
    return (total / rate_ratio - total, total / ci_high - total, total / ci_low - total)


def per_residents(events: float, population: float | None) -> float:
    """``events`` per 100,000 residents (NaN when the population is unknown)."""
    if population is None or not np.isfinite(population) or population <= 0:
        return math.nan
    return float(events) / float(population) * PER_RESIDENTS


def detectable_change(fit: CountFit, exog: np.ndarray, mu: np.ndarray, effect: str, *,
                      se_inflation: float = 1.0, direction: int = -1) -> float:
    """The rate ratio of the smallest fall (``direction=-1``) or rise (``+1``) the design
    detects with 80% power at the 5% level.

    ``exog``/``mu`` are the fitted rows and their fitted means; the effect column is removed
    from ``mu`` to get the no-programme means, then put back at each candidate size.
    ``se_inflation`` scales the information-based standard error (the headline's standard
    error over the model-information one, e.g. when a Newey-West interval is used).
    """
    names = list(fit.result.params.index)
    column = names.index(effect)
    x = np.asarray(exog, dtype=float)  # regressors only (an NB2 "alpha" comes last)
    mu = np.asarray(mu, dtype=float)
    exposed = x[:, column]
    b_hat = float(np.asarray(fit.result.params)[column])
    mu_null = mu * np.exp(-b_hat * exposed)

    def shortfall(size: float) -> float:
        """Power-equation gap at a change of ``size`` (log scale, in ``direction``)."""
        mu_alt = mu_null * np.exp(direction * size * exposed)
        weights = fit.variance_weights(mu_alt)
        information = (x * weights[:, None]).T @ x
        try:
            variance = float(np.linalg.inv(information)[column, column])
        except np.linalg.LinAlgError:
            return math.inf
        return Z_POWER * se_inflation * math.sqrt(max(variance, 0.0)) - size

    # The gap is positive at no change; the detectable change is where it first turns
    # negative. Start from the no-change answer (Z * SE at no change) and widen. For a fall
    # the standard error grows as counts vanish, so with very small counts the gap may never
    # close: no fall of any size is detected with 80% power (NaN).
    low, high = 0.0, shortfall(0.0)
    if not math.isfinite(high) or high <= 0:
        return math.nan
    while high <= _MAX_LOG_SIZE:
        if shortfall(high) <= 0:
            size = optimize.brentq(shortfall, low, high, xtol=1e-9)
            return float(math.exp(direction * size))
        low, high = high, high * 1.25
    return math.nan


def model_information_se(fit: CountFit, exog: np.ndarray, mu: np.ndarray, effect: str) -> float:
    """The effect's standard error from the model information at the fitted means (what
    :func:`detectable_change` scales by ``se_inflation``)."""
    names = list(fit.result.params.index)
    column = names.index(effect)
    x = np.asarray(exog, dtype=float)
    weights = fit.variance_weights(np.asarray(mu, dtype=float))
    information = (x * weights[:, None]).T @ x
    try:
        return float(math.sqrt(np.linalg.inv(information)[column, column]))
    except (np.linalg.LinAlgError, ValueError):
        return math.nan


def effect_summary(fit: CountFit, exog, mu: np.ndarray, effect: str, interval, *,
                   observed_post_total: float, population: float | None) -> dict:
    """The :class:`~impactbook.effects.Estimate` fields every design shares: the headline
    interval (see :mod:`impactbook.effects.diagnostics`), events averted with its interval,
    per 100,000 residents where ``population`` (mean over the post window) is known, and the
    detectable change."""
    rate_ratio = math.exp(interval.log_rate_ratio)
    ci_low, ci_high = math.exp(interval.ci_low), math.exp(interval.ci_high)
    averted = events_averted(observed_post_total, rate_ratio, ci_low, ci_high)
    base_se = model_information_se(fit, exog, mu, effect)
    inflation = interval.se / base_se if base_se and np.isfinite(base_se) else 1.0
    fall = detectable_change(fit, exog, mu, effect, se_inflation=inflation, direction=-1)
    rise = detectable_change(fit, exog, mu, effect, se_inflation=inflation, direction=1)
    details = {
        "interval_source": interval.source,
        "model_se_log_rate_ratio": interval.model_se,
        "events_expected": observed_post_total / rate_ratio,
        "events_observed": observed_post_total,
        "detectable_rate_ratio_fall": fall,
        "detectable_rate_ratio_rise": rise,
        "power_basis": (f"{POWER:.0%} power, two-sided {LEVEL:.0%} level, from the model "
                        "information at the means expected under the change"),
    }
    if interval.autocorrelation is not None:
        details["autocorrelation"] = interval.autocorrelation
    if population is not None and np.isfinite(population):
        details["post_population_mean"] = float(population)
        details["events_averted_per_100k"] = [per_residents(v, population) for v in averted]
    return {
        "rate_ratio": rate_ratio, "ci_low": ci_low, "ci_high": ci_high,
        "p_value": interval.p_value, "log_rate_ratio": interval.log_rate_ratio,
        "se_log_rate_ratio": interval.se, "events_averted": averted,
        "detectable_rate_ratio": fall, "autocorrelation": interval.autocorrelation,
        "interval_source": interval.source, "details": details,
        # Kept so a result can recompute its interval at any level (results protocol).
        "model_result": fit.result, "effect_term": effect,
    }
