"""What both synthetic-control designs report: the Estimate, its details and guardrails.

A synthetic control has no model interval: its uncertainty is the permutation test (placebo
in space). So ``ci_low``/``ci_high`` are missing, ``p_value`` is the two-sided permutation
p-value and ``details`` carries the one-sided ``p_value_lower`` (a reduction), the number of
placebos, the pre-period fit and the donor weights where they are identified.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from impactbook.effects._window import Labels, Window, unit_name
from impactbook.effects.estimate import Estimate
from impactbook.effects.guardrails import collect_guardrail_warnings
from impactbook.effects.leading import MIN_DONORS, judge_synth_fit

#: Weights shown as "top donors": the largest, at least this big.
MIN_SHOWN_WEIGHT = 0.01
MAX_SHOWN_DONORS = 10


NO_INTERVAL = "none: a permutation test (placebo in space) instead"


def rmspe(gap: pd.Series) -> float:
    return float(np.sqrt(np.mean(np.square(gap.to_numpy(float))))) if len(gap) else math.nan


def fit_quality(observed_pre: pd.Series, gap_pre: pd.Series,
                placebo_noise_ratios: list[float] | None = None) -> dict:
    """The pre-period fit judged by :func:`~impactbook.effects.leading.judge_synth_fit`."""
    return judge_synth_fit(float(observed_pre.mean()), rmspe(gap_pre),
                           placebo_noise_ratios or ())


def noise_ratios(values_pre: pd.DataFrame, gaps_pre: pd.DataFrame) -> list[float]:
    """Each placebo's pre-period RMSPE over sqrt(its own pre mean), as the fit rule wants."""
    means = values_pre.mean().to_numpy(float)
    errors = np.sqrt((gaps_pre.to_numpy(float) ** 2).mean(axis=0))
    return [float(e / math.sqrt(m)) if m > 0 else math.inf
            for e, m in zip(errors, means, strict=True)]


def top_weights(weights: pd.Series) -> list[dict]:
    shown = weights[weights >= MIN_SHOWN_WEIGHT].sort_values(ascending=False)
    return [{"area": str(area), "weight": float(w)} for area, w in
            shown.head(MAX_SHOWN_DONORS).items()]


def synth_warnings(window: Window, labels: Labels, *, n_donors: int, n_placebos: int,
                   fit: dict, programme_area: str | None, is_diluted: bool,
                   p_lower: float, is_random_draw: bool) -> list[str]:
    warnings = collect_guardrail_warnings(window, area=labels.area, programme_area=programme_area,
                                          is_area_larger_than_programme=is_diluted)
    if n_donors < MIN_DONORS:
        warnings.append(f"Only {n_donors} donor areas (fewer than {MIN_DONORS}): a synthetic "
                        "control built from so few places can rarely match the programme area, "
                        "and the permutation test has few placebos.")
    if not fit["is_good_fit"]:
        per = unit_name(window.freq, 1)
        warnings.append(
            f"The synthetic control fits the pre-period poorly (RMSPE {fit['pre_rmspe']:.2f} a "
            f"{per}, {100 * fit['pre_rmspe_relative']:.0f}% of the pre-period mean"
            + (f", worse than {100 * fit['placebo_share_better']:.0f}% of the placebo areas' "
               "fits" if (fit.get("placebo_share_better") or 0) > 0.5 else "")
            + "): the donors do not reproduce the programme area's past, so the gap after "
            "the start is not a trustworthy effect.")
    floor = 1.0 / (n_placebos + 1)
    if n_placebos > 0 and (floor >= 0.01 or p_lower <= floor):
        drawn = ("; drawn at random, it also carries Monte Carlo error" if is_random_draw
                 else "")
        warnings.append(f"With {n_placebos} placebos the permutation p-value cannot go below "
                        f"1/{n_placebos + 1} = {floor:.3f}{drawn}.")
    return warnings


def synth_estimate(*, labels: Labels, window: Window, observed: pd.Series,
                   synthetic: pd.Series, placebo_gaps: pd.DataFrame, p_two_sided: float,
                   p_lower: float, weights: pd.Series | None, weights_note: str, model: str,
                   n_donors: int, warnings: list[str], fit: dict,
                   extra: dict | None = None) -> Estimate:
    """The Estimate of a fitted synthetic control over ``window``'s periods.

    ``observed``/``synthetic`` span the window (pre and post); ``placebo_gaps`` has one column
    per placebo (observed minus synthetic), same index.
    """
    is_post = observed.index >= window.start
    observed_post = float(observed[is_post].sum())
    synthetic_post = float(synthetic[is_post].sum())
    if synthetic_post <= 0:
        raise labels.error("the synthetic control expects no events after the start: a rate "
                           "ratio cannot be estimated")
    gap = observed - synthetic
    pre_rmspe = fit["pre_rmspe"]
    post_rmspe = rmspe(gap[is_post])
    ratio = observed_post / synthetic_post
    details = {
        "variant": model,
        "p_value_lower": p_lower,
        "placebos": int(placebo_gaps.shape[1]),
        "donors": int(n_donors),
        "pre_rmspe": pre_rmspe,
        "pre_rmspe_relative": fit["pre_rmspe_relative"],
        "noise_ratio": fit["noise_ratio"],
        "placebo_share_better": fit["placebo_share_better"],
        "fit_problem": fit["fit_problem"],
        # An exact pre-period match (micro) has no ratio: the test uses t values instead.
        "post_pre_rmspe_ratio": post_rmspe / pre_rmspe if pre_rmspe > 0 else None,
        # What lets it lead the headline: a good fit from a pool large enough to test.
        "is_good_fit": bool(fit["is_good_fit"]) and n_donors >= MIN_DONORS,
        "observed_total": observed_post,
        "synthetic_total": synthetic_post,
        "events_averted": synthetic_post - observed_post,
        "weights": top_weights(weights) if weights is not None else None,
        "weights_note": weights_note,
        **(extra or {}),
    }
    pre = observed[~is_post]
    return Estimate(
        city=labels.city, area=labels.area, outcome=labels.outcome, start=window.start,
        method="synth", model=model, pre_periods=int((~is_post).sum()),
        post_periods=int(is_post.sum()), pre_mean=float(pre.mean()),
        post_mean=float(observed[is_post].mean()), rate_ratio=ratio, ci_low=math.nan,
        ci_high=math.nan, p_value=p_two_sided, dispersion=math.nan,
        log_rate_ratio=math.log(ratio) if ratio > 0 else -math.inf,
        se_log_rate_ratio=math.nan, warnings=tuple(warnings), details=details,
        events_averted=(synthetic_post - observed_post, math.nan, math.nan),
        observed=observed.rename("observed"), fitted=synthetic.rename("synthetic"),
        counterfactual=pd.DataFrame({"mean": synthetic[is_post], "low": math.nan,
                                     "high": math.nan}),
        placebo_gaps=placebo_gaps, interval_source=NO_INTERVAL,
    )


def permutation_interval(estimate: Estimate, alpha: float) -> tuple[float, float]:
    """The rate ratios a classic synthetic control's permutation test does not reject at level
    ``alpha``: its ``1 - alpha`` confidence set, by inverting the test (Firpo & Possebom 2018).

    Under the hypothesis that the programme multiplied every post-period count by the same
    ratio ``theta``, the programme area without it would have had ``observed / theta`` after
    the start. The donor weights and the placebos' statistics come from the pre-period and the
    donors only, so they do not move; the programme area's post/pre RMSPE ratio does, and
    ``theta`` is kept when its two-sided permutation p, ``(1 + placebos at least as extreme) /
    (1 + placebos)``, is above ``alpha`` (at ``theta = 1`` that p is the reported
    ``p_value``). The post RMSPE is a quadratic in ``1 / theta``, so the set is an interval.
    With ``n`` placebos p moves in steps of ``1 / (n + 1)``, so levels between two steps give
    the same interval. Raises EstimationError for the micro-synthetic control (its test is on
    a t statistic) and when no ratio is kept.
    """
    labels = Labels(estimate.city, estimate.area, estimate.outcome)
    if "t_value" in estimate.details or estimate.placebo_gaps is None:
        raise labels.error(
            "the micro-synthetic control's permutation test compares t statistics across "
            "placebo groups and is not inverted into an interval: read its p_value "
            f"({estimate.p_value:.4g}, two-sided) and details['p_value_lower']")
    n_pre = estimate.pre_periods
    gaps = estimate.placebo_gaps.to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        placebo_ratios = (np.sqrt(np.mean(gaps[n_pre:] ** 2, axis=0))
                          / np.sqrt(np.mean(gaps[:n_pre] ** 2, axis=0)))
    n = len(placebo_ratios)
    observed = estimate.observed.to_numpy(float)
    synthetic = estimate.fitted.to_numpy(float)
    pre_rmspe = rmspe(pd.Series(observed[:n_pre] - synthetic[:n_pre]))
    # theta is kept when at least k placebos are as extreme: (1 + k) / (n + 1) > alpha.
    k = math.floor(alpha * (n + 1) - 1) + 1
    if k <= 0:
        return (0.0, math.inf)  # below 1 / (n + 1) no ratio can be rejected
    ranked = np.sort(placebo_ratios[~np.isnan(placebo_ratios)])[::-1]
    if k > len(ranked) or not pre_rmspe > 0:
        raise labels.error(f"no constant rate ratio is kept by the permutation test at level "
                           f"{alpha:g}")
    limit = float(ranked[k - 1]) * pre_rmspe  # the largest post RMSPE kept
    post_observed, post_synthetic = observed[n_pre:], synthetic[n_pre:]
    # mean((u * observed - synthetic)^2) <= limit^2 with u = 1 / theta: a * u^2 - 2 b u + c <= 0
    a = float(np.mean(post_observed ** 2))
    b = float(np.mean(post_observed * post_synthetic))
    c = float(np.mean(post_synthetic ** 2)) - limit ** 2
    discriminant = b * b - a * c
    if a <= 0 or discriminant < 0 or b + math.sqrt(discriminant) <= 0:
        raise labels.error(f"no constant rate ratio is kept by the permutation test at level "
                           f"{alpha:g}: the gap after the start does not look like one")
    u_low = (b - math.sqrt(discriminant)) / a
    u_high = (b + math.sqrt(discriminant)) / a
    return (1.0 / u_high, 1.0 / u_low if u_low > 0 else math.inf)
