"""Whether a design is good enough to lead the headline: every design's test, in one place.

A design leads only when its own check passes *and* none of its own warnings says its number
is biased. Otherwise it is passed over and :func:`why_not_lead` says why in words, so the
report can print the reason beside the design that leads instead.

- **Synthetic control**: at least :data:`MIN_DONORS` donors; the programme area is not larger
  than every donor (a weighted average of smaller areas sits below it, so the gap is biased
  upwards); and a good pre-period fit (:func:`judge_synth_fit`).
- **Staggered rollout** (a programme opened unit by unit): its pre-trend test passes
  (``details["is_pretrend_passed"]``) and its overall effect is computable
  (``details["is_overall_computable"]``).
- **Comparison areas**: the areas were not trending differently before the start (the
  pre-trend test, ``details["is_pre_trend_parallel"]``, needs enough periods to run).
- **Interrupted time series**: the model every programme has; it leads when nothing stronger
  passes, with its caveats on the card.
- **Naive pre/post**: only when no model gave an estimate.

The synthetic control's fit rule. A perfect synthetic control of Poisson counts still misses
each period by about sqrt(mean), so a fit is judged against that noise: its pre-period RMSPE
over sqrt(pre mean) (the *noise ratio*, about 1 for a fit as good as the counts allow). At a
mean under 1 a period that test alone passes anything (a synthetic control of zeros misses by
about sqrt(mean) too), so the fit must also be no worse than most placebo areas' fits, each
measured against its own noise: the programme area's donors must reproduce its past at least
as well as they reproduce each other's. That part discriminates at any mean; an exact match
(micro-synthetic control) passes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from impactbook.report.format import format_p

MIN_DONORS = 10
#: A pre-period RMSPE below this share of the pre mean is an exact match (solver rounding).
EXACT_FIT = 1e-9
#: Within the counting noise: RMSPE at most this multiple of sqrt(pre mean) ...
MAX_NOISE_RATIO = 1.5
#: ... or at most this share of the pre mean (a busy area fitted closely).
MAX_RELATIVE_RMSPE = 0.10
#: ... and no worse than this share of the placebo areas' noise ratios.
MAX_PLACEBO_SHARE_WORSE_FIT = 0.8


def judge_synth_fit(pre_mean: float, pre_rmspe: float,
                    placebo_noise_ratios: Sequence[float] = ()) -> dict:
    """The pre-period fit judged against the counts' noise and the placebos' fits.

    Returns ``pre_rmspe`` (0 for an exact match), ``pre_rmspe_relative`` (to the pre mean),
    ``noise_ratio`` (RMSPE / sqrt(pre mean)), ``placebo_share_better`` (the share of placebo
    areas fitted better, relative to their own noise; None without placebos), ``is_good_fit``
    and ``fit_problem`` (why the fit is poor, in words; None when good).
    """
    if pre_rmspe <= EXACT_FIT * max(pre_mean, 1.0):
        pre_rmspe = 0.0
    relative = pre_rmspe / pre_mean if pre_mean > 0 else math.inf
    noise_ratio = pre_rmspe / math.sqrt(pre_mean) if pre_mean > 0 else math.inf
    ratios = np.asarray([r for r in placebo_noise_ratios if math.isfinite(r)], dtype=float)
    share_better = float(np.mean(ratios < noise_ratio)) if ratios.size else None
    problem = None
    if pre_rmspe > 0:
        if noise_ratio > MAX_NOISE_RATIO and relative > MAX_RELATIVE_RMSPE:
            problem = (f"its pre-period fit is poor: it misses by {pre_rmspe:.2f} a period "
                       f"({100 * relative:.0f}% of the pre-period mean), more than "
                       f"{MAX_NOISE_RATIO:g} times the counts' own noise")
        elif share_better is not None and share_better > MAX_PLACEBO_SHARE_WORSE_FIT:
            problem = (f"its pre-period fit is poor for these counts: it misses by "
                       f"{pre_rmspe:.2f} a period ({100 * relative:.0f}% of the pre-period "
                       f"mean), worse than {100 * share_better:.0f}% of the placebo areas' "
                       "fits")
    return {"pre_rmspe": pre_rmspe, "pre_rmspe_relative": relative, "noise_ratio": noise_ratio,
            "placebo_share_better": share_better, "is_good_fit": problem is None,
            "fit_problem": problem}


def why_not_lead(method: str, details: Mapping) -> str | None:
    """Why the design with these ``details`` may not lead (None: it may)."""
    if method == "synth":
        reasons = []
        if details.get("is_larger_than_every_donor"):
            reasons.append("the programme area is larger than every donor, so the synthetic "
                           "control sits below it and the gap after the start is biased "
                           "upwards")
        donors = details.get("donors")
        if donors is not None and donors < MIN_DONORS:
            reasons.append(f"it has only {donors} donors (fewer than {MIN_DONORS})")
        if details.get("fit_problem"):
            reasons.append(details["fit_problem"])
        elif not details.get("is_good_fit", False) and not reasons:
            reasons.append("its pre-period fit is poor")
        return "; ".join(reasons) or None
    if method == "rollout":
        return _why_not_rollout(details)
    if method == "comparison" and not details.get("is_pre_trend_parallel", False):
        return ("the comparison areas were trending differently before the start, or there "
                "were too few periods to check")
    return None


def _why_not_rollout(details: Mapping) -> str | None:
    if not details.get("is_overall_computable", False):
        return "its overall effect could not be computed"
    if details.get("is_pretrend_passed", False):
        return None
    p_value = details.get("pretrend_p")
    if p_value is None:
        return ("it has no pre-trend test (too few periods before the starts), so nothing "
                "checks that the treated and control units were moving alike")
    # What a failed pre-trend test means, in words a funder can act on.
    return (f"its pre-trend test fails (p = {format_p(p_value)}): before their starts the "
            "treated units were already moving differently from the controls, so the figure "
            "may partly reflect trends that were there already")
