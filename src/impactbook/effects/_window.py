"""Turn an input series and a start period into the pre/post window a model fits.

Shared by the ITS, pre/post and placebo estimators so they agree on what "the pre-period",
"the post-period" and "a missing period" mean. Guardrail warnings about the window itself
(post shorter than asked, missing or partial periods, population gaps) are produced here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from impactbook.errors import EstimationError
from impactbook.workbook.periods import (
    QUARTERLY,
    WEEKLY,
    format_period,
    frequency_of,
    parse_period,
    period_word,
)

MAX_LISTED_PERIODS = 6


@dataclass(frozen=True)
class Labels:
    city: str | None = None
    area: str | None = None
    outcome: str | None = None

    @classmethod
    def from_mapping(cls, labels: Mapping[str, str] | None) -> Labels:
        labels = labels or {}
        unknown = set(labels) - {"city", "area", "outcome"}
        if unknown:
            raise ValueError(
                f"labels: unknown keys {sorted(unknown)}; expected city, area, outcome"
            )
        return cls(labels.get("city"), labels.get("area"), labels.get("outcome"))

    def error(self, message: str) -> EstimationError:
        return EstimationError(message, city=self.city, area=self.area, outcome=self.outcome)


@dataclass(frozen=True)
class Window:
    """The periods a model sees: ``frame`` has columns ``count, population, is_post, t``.

    ``t`` is the period number relative to the start (0 at the start, -1 the period before).
    Missing and partial periods stay in ``frame`` with ``count`` NaN; ``observed`` drops them.
    """

    freq: str
    start: pd.Period
    frame: pd.DataFrame
    pre_periods: int
    post_periods: int
    warnings: tuple[str, ...]
    has_population: bool

    @property
    def observed(self) -> pd.DataFrame:
        return self.frame[self.frame["count"].notna()]

    @property
    def unit(self) -> str:
        return unit_name(self.freq)


def unit_name(freq: str, n: int = 2) -> str:
    word = period_word(freq)
    return word if n == 1 else word + "s"


def list_periods(periods: pd.Index) -> str:
    """``2011-03, 2011-04`` (and how many more, for long lists)."""
    shown = [format_period(p) for p in periods[:MAX_LISTED_PERIODS]]
    more = len(periods) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def normalise_series(series: pd.DataFrame, labels: Labels) -> pd.DataFrame:
    """Check the input frame and return it over a full, sorted PeriodIndex (gaps as NaN)."""
    if not isinstance(series, pd.DataFrame) or "count" not in series.columns:
        raise labels.error("the series must be a DataFrame with a 'count' column")
    if not isinstance(series.index, pd.PeriodIndex):
        raise labels.error("the series must be indexed by a PeriodIndex (monthly or quarterly)")
    if series.index.has_duplicates:
        dup = series.index[series.index.duplicated()]
        raise labels.error(f"the series repeats periods {list_periods(dup)}")
    if len(series) == 0:
        raise labels.error("the series is empty")
    freq = frequency_of(series.index[0])
    if freq == WEEKLY:
        # Seasonality, windows and guardrails here are written for months and quarters.
        raise labels.error("weekly series (YYYY-Www) are analysed only as a staggered rollout "
                           "(method 'rollout'); this design needs monthly or quarterly counts")
    frame = series.sort_index()
    full = pd.period_range(frame.index[0], frame.index[-1], freq=frame.index.freq)
    frame = frame.reindex(full)
    counts = pd.to_numeric(frame["count"], errors="coerce").astype(float)
    negative = frame.index[counts < 0]
    if len(negative):
        raise labels.error(f"negative counts in {list_periods(negative)}; counts must be >= 0")
    out = pd.DataFrame({"count": counts}, index=full)
    if "population" in frame.columns:
        out["population"] = pd.to_numeric(frame["population"], errors="coerce").astype(float)
    else:
        out["population"] = np.nan
    partial = frame["is_partial"] if "is_partial" in frame.columns else None
    out["is_partial"] = (
        partial.fillna(False).astype(bool) if partial is not None else False
    )
    out.attrs["freq"] = freq
    return out


def coerce_start(start: pd.Period | str, frame: pd.DataFrame, labels: Labels) -> pd.Period:
    """The start as a period of the series' frequency."""
    if isinstance(start, str):
        try:
            start = parse_period(start)
        except ValueError as exc:
            raise labels.error(f"start: {exc}") from None
    if not isinstance(start, pd.Period):
        raise labels.error(f"start must be a period such as 2010-01, got {start!r}")
    target = frame.index.freq
    if start.freqstr != frame.index[0].freqstr:
        start = start.asfreq(target, how="start")
    return start


def make_window(
    series: pd.DataFrame,
    start: pd.Period | str,
    *,
    pre_periods: int | None,
    post_periods: int | None,
    labels: Labels,
) -> Window:
    """Select the pre and post periods around ``start`` and collect window warnings."""
    frame = normalise_series(series, labels)
    freq = frame.attrs["freq"]
    start = coerce_start(start, frame, labels)
    usable = frame["count"].notna() & ~frame["is_partial"]
    if not usable.any():
        raise labels.error("the series has no observed counts")
    first, last = frame.index[usable.argmax()], frame.index[len(usable) - 1 - usable[::-1].argmax()]
    if start <= first:
        raise labels.error(
            f"start {format_period(start)} is not after the first observed period "
            f"{format_period(first)}, so there is no pre-period"
        )
    if start > last:
        raise labels.error(
            f"start {format_period(start)} is after the last observed period "
            f"{format_period(last)}, so there is no post-period"
        )
    for name, value in (("pre_periods", pre_periods), ("post_periods", post_periods)):
        if value is not None and (not isinstance(value, (int, np.integer)) or value < 1):
            raise labels.error(f"{name} must be a positive whole number, got {value!r}")
    unit = unit_name(freq)
    warnings: list[str] = []
    available_pre = start.ordinal - first.ordinal
    n_pre = available_pre if pre_periods is None else min(int(pre_periods), available_pre)
    if pre_periods is not None and pre_periods > available_pre:
        warnings.append(
            f"Only {available_pre} {unit} before the start are in the data "
            f"({pre_periods} asked): the pre-period is shorter than asked."
        )
    available_post = last.ordinal - start.ordinal + 1
    n_post = available_post if post_periods is None else min(int(post_periods), available_post)
    if post_periods is not None and post_periods > available_post:
        warnings.append(
            f"Only {available_post} {unit} from the start onwards are in the data "
            f"({post_periods} asked): the post-period is shorter than asked."
        )
    window = frame.loc[start - n_pre: start + (n_post - 1)].copy()
    # Partial periods are named even when they sit at the very end of the data (the usual
    # case: an extract pulled mid-month), where they shorten the post-period.
    asked_last = start + ((n_post if post_periods is None else int(post_periods)) - 1)
    asked = frame.loc[start - n_pre: asked_last]
    partial = asked.index[asked["is_partial"].to_numpy()]
    if len(partial):
        warnings.append(
            f"{len(partial)} partial {unit_name(freq, len(partial))} ({list_periods(partial)}) "
            "left out of the fit: a part-period count would look like a drop."
        )
        window.loc[window["is_partial"], "count"] = np.nan
    missing = window.index[window["count"].isna() & ~window["is_partial"]]
    if len(missing):
        warnings.append(
            f"{len(missing)} missing {unit_name(freq, len(missing))} inside the window "
            f"({list_periods(missing)}) were left out of the fit."
        )
    has_population = bool(window["population"].notna().any())
    if has_population:
        population = window["population"]
        if (population <= 0).any():
            bad = window.index[population <= 0]
            raise labels.error(f"population must be positive; it is not in {list_periods(bad)}")
        gaps = window.index[population.isna()]
        if len(gaps):
            # Population moves slowly; interpolating a few gaps beats dropping the offset.
            window["population"] = population.interpolate(limit_direction="both")
            warnings.append(
                f"Population was missing in {list_periods(gaps)} and was interpolated."
            )
    window["t"] = np.arange(-n_pre, n_post, dtype=float)
    window["is_post"] = (window["t"] >= 0).astype(float)
    window = window.drop(columns="is_partial")
    return Window(
        freq=freq, start=start, frame=window, pre_periods=n_pre, post_periods=n_post,
        warnings=tuple(warnings), has_population=has_population,
    )


def season_position(index: pd.PeriodIndex, freq: str) -> np.ndarray:
    """Month (1-12) or quarter (1-4) of each period, for the Fourier terms."""
    return np.asarray(index.quarter if freq == QUARTERLY else index.month, dtype=float)


def fourier_terms(index: pd.PeriodIndex, freq: str, pairs: int) -> pd.DataFrame:
    """``pairs`` annual sine/cosine pairs (as tsModel's ``harmonic(month, pairs, 12)``)."""
    per_year = 4 if freq == QUARTERLY else 12
    position = season_position(index, freq)
    columns = {}
    for k in range(1, pairs + 1):
        angle = 2.0 * np.pi * k * position / per_year
        columns[f"sin{k}"] = np.sin(angle)
        columns[f"cos{k}"] = np.cos(angle)
    return pd.DataFrame(columns, index=index)
