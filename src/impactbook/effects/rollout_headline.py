"""A staggered rollout as an :class:`~impactbook.effects.estimate.Estimate`, so it is weighed
for the headline by the same rules as every other design (:mod:`impactbook.effects.weighing`).

The overall effect (every treated unit and period) is the figure; ``details`` carries what its
test of being good enough to lead reads (:func:`impactbook.effects.leading.why_not_lead`):
``is_pretrend_passed``, ``pretrend_p`` and ``is_overall_computable``. The units are the area.
"""

from __future__ import annotations

import math

import pandas as pd
from scipy.stats import norm

from impactbook.effects.estimate import Estimate
from impactbook.effects.rollout_panel import parse_label
from impactbook.effects.rollout_result import RolloutEstimate
from impactbook.workbook.periods import format_period


def _first_start(est: RolloutEstimate) -> pd.Period:
    # A start in the model's periods (a weekly start's quarter when pooled by quarter).
    starts = [parse_label(u["start"]).asfreq(est.window[1].freq)
              for u in est.units if u.get("start")]
    return min(starts) if starts else est.window[0]


def rollout_as_estimate(est: RolloutEstimate) -> Estimate:
    """The rollout's overall effect as an Estimate (method ``rollout``), unrounded."""
    overall = est.overall
    is_computable = all(math.isfinite(v) for v in (overall.log_ratio, overall.se)) \
        and overall.se > 0
    z = overall.log_ratio / overall.se if is_computable else math.nan
    start = _first_start(est)
    treated = sum(1 for u in est.units if u.get("start"))
    low, high = overall.events_averted_interval
    return Estimate(
        city=est.city, area=f"{treated} treated units", outcome=est.outcome, start=start,
        method="rollout", model="poisson",
        pre_periods=max(0, (start - est.window[0]).n),
        post_periods=max(0, (est.window[1] - start).n + 1),
        pre_mean=math.nan, post_mean=math.nan,
        rate_ratio=overall.rate_ratio if is_computable else math.nan,
        ci_low=overall.ci_low if is_computable else math.nan,
        ci_high=overall.ci_high if is_computable else math.nan,
        p_value=float(2 * norm.sf(abs(z))) if is_computable else math.nan,
        dispersion=math.nan, log_rate_ratio=overall.log_ratio, se_log_rate_ratio=overall.se,
        warnings=tuple(est.warnings),
        details={"is_pretrend_passed": bool(est.pretrend and est.pretrend.is_passed),
                 "pretrend_p": est.pretrend.p_value if est.pretrend else None,
                 "pretrend_controls": est.pretrend.controls if est.pretrend else None,
                 "is_overall_computable": is_computable, "programme": est.programme_id,
                 "treated_units": treated, "control_units": len(est.control_units),
                 "freq": est.freq,
                 "data_span": (format_period(est.window[0].asfreq("M", how="start")),
                               format_period(est.window[1].asfreq("M", how="end")))},
        events_averted=(overall.events_averted, low, high))
