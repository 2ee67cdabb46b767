"""Guardrails: plain-sentence warnings about designs a reviewer would question.

Each ``warn_*`` function returns one sentence or ``None``; :func:`collect_guardrail_warnings`
runs the ones that apply to a pre/post window. Window-level warnings (post shorter than asked,
missing or partial periods) come from the window itself; model non-convergence is an
:class:`~impactbook.errors.EstimationError`, never a warning.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from impactbook.effects._window import Window, fourier_terms, list_periods, unit_name
from impactbook.workbook.periods import format_period, period_word

MIN_PRE_PERIODS = 24
MIN_MEAN_COUNT = 5.0
PANDEMIC_FIRST = pd.Timestamp("2020-03-01")
PANDEMIC_LAST = pd.Timestamp("2021-12-31 23:59:59")
#: A spike is the last 1-3 pre periods this far above the trend (ratio and Pearson z).
SPIKE_MAX_PERIODS = 3
SPIKE_MIN_RATIO = 1.25
SPIKE_MIN_Z = 3.0
SPIKE_MIN_BASELINE = 12


def warn_short_pre(n_pre: int, freq: str) -> str | None:
    if n_pre >= MIN_PRE_PERIODS:
        return None
    return (
        f"Only {n_pre} {unit_name(freq, n_pre)} before the start are used (fewer than "
        f"{MIN_PRE_PERIODS}): a short baseline pins down the trend and seasonality poorly and is "
        "easily distorted by chance."
    )


def warn_low_counts(mean_count: float, freq: str) -> str | None:
    if not np.isfinite(mean_count) or mean_count >= MIN_MEAN_COUNT:
        return None
    per = period_word(freq)
    return (
        f"Counts are small (mean {mean_count:.1f} a {per}, under {MIN_MEAN_COUNT:g}): "
        "percent changes swing widely from chance alone."
    )


def warn_pandemic_overlap(first: pd.Period, last: pd.Period) -> str | None:
    if first.start_time > PANDEMIC_LAST or last.end_time < PANDEMIC_FIRST:
        return None
    return (
        f"The window ({format_period(first)} to {format_period(last)}) overlaps March 2020 to "
        "December 2021, when violence shifted nationally with the pandemic: the change may "
        "reflect that shift rather than the programme."
    )


def warn_dilution(
    area: str | None, programme_area: str | None, is_area_larger_than_programme: bool = False
) -> str | None:
    """Warn when the outcome area is larger than where the programme ran."""
    ran_smaller = (
        programme_area is not None
        and str(area).strip().lower() == "citywide"
        and str(programme_area).strip().lower() != "citywide"
    )
    if not (is_area_larger_than_programme or ran_smaller):
        return None
    where = f" ({programme_area})" if programme_area else ""
    return (
        f"The outcome is measured for {area or 'an area'} but the programme ran in a smaller "
        f"area{where}: any effect there is diluted by places it did not reach."
    )


def warn_spike_before_start(window: Window) -> str | None:
    """Flag a start chosen right after an unusual high (regression to the mean).

    Fits the pre-trend (linear trend, Fourier terms, offset) on the pre-period *without* its
    last three periods, projects those periods, and warns when the last 1, 2 or 3 of them
    together are well above the projection (ratio >= 1.25 and Pearson z >= 3; a looser
    z fires on about one plain Poisson series in twenty).
    """
    # Imported here: the other warnings (a rollout's) need no statsmodels, a second to import.
    import statsmodels.api as sm

    pre = window.frame[window.frame["t"] < 0]
    baseline = pre.iloc[:-SPIKE_MAX_PERIODS]
    tail = pre.iloc[-SPIKE_MAX_PERIODS:]
    observed_baseline = baseline[baseline["count"].notna()]
    if len(observed_baseline) < SPIKE_MIN_BASELINE or observed_baseline["count"].sum() <= 0:
        return None
    pairs = 1 if len(observed_baseline) >= 24 else 0
    exog = _trend_design(pre, window.freq, pairs)
    offset = np.log(pre["population"].to_numpy()) if window.has_population else None
    rows = pre["count"].notna().to_numpy() & (pre["t"] < -SPIKE_MAX_PERIODS).to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            fit = sm.GLM(pre["count"][rows], exog[rows], family=sm.families.Poisson(),
                         offset=None if offset is None else offset[rows]).fit(scale="X2")
        except (np.linalg.LinAlgError, ValueError):
            return None
    if not fit.converged:
        return None
    tail_rows = ~(pre["t"] < -SPIKE_MAX_PERIODS).to_numpy()
    expected = np.asarray(fit.predict(exog[tail_rows],
                                      offset=None if offset is None else offset[tail_rows]))
    counts = tail["count"].to_numpy()
    scale = max(float(fit.scale), 1.0)
    best: tuple[float, int, float] | None = None  # (z, k, ratio) of the strongest spike
    for k in range(1, SPIKE_MAX_PERIODS + 1):
        obs, exp = counts[-k:], expected[-k:]
        keep = ~np.isnan(obs)
        if not keep.any():
            continue
        o, e = obs[keep].sum(), exp[keep].sum()
        z = (o - e) / np.sqrt(scale * e)
        if e > 0 and o / e >= SPIKE_MIN_RATIO and z >= SPIKE_MIN_Z and (best is None
                                                                         or z > best[0]):
            best = (z, k, o / e)
    if best is None:
        return None
    _, k, ratio = best
    return (
        f"The start follows an unusual high: {list_periods(tail.index[-k:])} ran "
        f"{100 * (ratio - 1):.0f}% above the pre-programme trend: counts tend to fall back "
        "after a high, so a fall after the start may partly be regression to the mean rather "
        "than the programme, and a rise may be understated."
    )


def _trend_design(frame: pd.DataFrame, freq: str, pairs: int) -> pd.DataFrame:
    exog = pd.DataFrame({"const": 1.0, "trend": frame["t"]}, index=frame.index)
    if pairs:
        exog = exog.join(fourier_terms(frame.index, freq, pairs))
    return exog


def collect_guardrail_warnings(
    window: Window,
    *,
    area: str | None,
    programme_area: str | None = None,
    is_area_larger_than_programme: bool = False,
) -> list[str]:
    """All guardrail warnings for one window, window warnings first, in a stable order."""
    observed = window.observed
    found = [
        warn_short_pre(window.pre_periods, window.freq),
        warn_low_counts(float(observed["count"].mean()), window.freq),
        warn_spike_before_start(window),
        warn_pandemic_overlap(window.frame.index[0], window.frame.index[-1]),
        warn_dilution(area, programme_area, is_area_larger_than_programme),
    ]
    return list(window.warnings) + [w for w in found if w]
