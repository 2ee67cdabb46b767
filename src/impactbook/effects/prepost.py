"""Naive pre/post comparison: mean counts over equal windows before and after the start.

Shown beside the model as the figure a reader would compute by hand. It ignores trend and
seasonality, so it is labelled "naive pre/post". The rate ratio and its interval come from a
quasi-Poisson GLM of the counts on a post indicator (its coefficient is exactly the log ratio
of the two window means; the Pearson scale widens the interval for overdispersion).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from impactbook.defaults import DEFAULT_POST_PERIODS
from impactbook.effects._fit import fit_count_model
from impactbook.effects._threads import single_blas_thread
from impactbook.effects._window import Labels, make_window, unit_name
from impactbook.effects.diagnostics import headline_interval
from impactbook.effects.estimate import Estimate
from impactbook.effects.guardrails import collect_guardrail_warnings
from impactbook.effects.magnitude import effect_summary
from impactbook.workbook.periods import format_period


@single_blas_thread
def estimate_prepost(
    series: pd.DataFrame,
    start: pd.Period | str,
    *,
    window: int | None = None,
    pre_periods: int | None = None,
    post_periods: int = DEFAULT_POST_PERIODS,
    labels: Mapping[str, str] | None = None,
    programme_area: str | None = None,
    is_area_larger_than_programme: bool = False,
) -> Estimate:
    """Compare mean counts over ``window`` periods before and ``window`` from the start.

    ``window`` defaults to min(periods available before (at most ``pre_periods`` when given),
    periods available from the start, ``post_periods``). Missing periods inside the windows
    are left out (with a warning), so the means are over observed periods. No population
    offset: this is the raw-count figure.
    Raises EstimationError when the start is outside the data or a window has no events.
    """
    names = Labels.from_mapping(labels)
    # A first pass with no limits finds how much data lies on each side of the start.
    full = make_window(series, start, pre_periods=None, post_periods=None, labels=names)
    available_pre = full.pre_periods if pre_periods is None else min(int(pre_periods),
                                                                      full.pre_periods)
    available = min(available_pre, full.post_periods)
    size = min(available, int(post_periods)) if window is None else int(window)
    if size < 1:
        raise names.error(f"window must be a positive whole number, got {window!r}")
    win = make_window(series, start, pre_periods=size, post_periods=size, labels=names)
    frame = win.frame
    observed = win.observed
    pre = observed[observed["t"] < 0]["count"]
    post = observed[observed["t"] >= 0]["count"]
    if len(pre) == 0 or len(post) == 0 or pre.sum() <= 0 or post.sum() <= 0:
        side = "before" if len(pre) == 0 or pre.sum() <= 0 else "after"
        raise names.error(f"no events {side} the start: a rate ratio cannot be estimated")
    exog = pd.DataFrame({"const": 1.0, "post": observed["is_post"]}, index=observed.index)
    fit = fit_count_model(observed["count"], exog, None, family="quasi-poisson", robust="none",
                          labels=names)
    interval = headline_interval(fit, "post")
    warnings = collect_guardrail_warnings(
        win, area=names.area, programme_area=programme_area,
        is_area_larger_than_programme=is_area_larger_than_programme,
    )
    if window is None and size < post_periods:
        side, n = (("before", available_pre) if available_pre <= full.post_periods
                   else ("from", full.post_periods))
        warnings.insert(0, (
            f"Only {n} {unit_name(win.freq, n)} {side} the start are used: the "
            f"before/after windows are {size} {unit_name(win.freq, size)}, not {post_periods}."
        ))
    if interval.warning:
        warnings.append(interval.warning)
    shared = effect_summary(fit, exog.to_numpy(), fit.predict_mean(exog, None).to_numpy(),
                            "post", interval, observed_post_total=float(post.sum()),
                            population=None)
    means = pd.Series(np.where(frame["t"] < 0, pre.mean(), post.mean()), index=frame.index,
                      name="fitted")
    details = {
        "window": size,
        "pre_window": [format_period(frame.index[0]), format_period(win.start - 1)],
        "post_window": [format_period(win.start), format_period(frame.index[-1])],
        **shared.pop("details"),
    }
    return Estimate(
        city=names.city, area=names.area, outcome=names.outcome, start=win.start,
        method="prepost", model="naive pre/post", pre_periods=win.pre_periods,
        post_periods=win.post_periods, pre_mean=float(pre.mean()), post_mean=float(post.mean()),
        dispersion=fit.dispersion, warnings=tuple(warnings), details=details,
        observed=series["count"].astype(float).rename("observed"), fitted=means,
        counterfactual=None, **shared,
    )
