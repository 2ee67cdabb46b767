"""Placebo-in-time check: is the real change unusual for this series?

The ITS model is re-fitted with false start dates inside the pre-period, using only data from
before the real start, so no placebo sees the programme. Each placebo keeps at least
``min_pre_periods`` periods before its false start and a post window as long as the real one
(shorter only when the pre-period cannot hold it). The real log rate ratio is then ranked
against the placebo distribution by absolute size.

Long pre-periods give many false starts (61 for eight years of monthly data); ``max_placebos``
caps them at that many evenly spaced starts, first and last included, for batch runs. Every
placebo is still a full fit on the pre-period data, so the distribution is as honest as the
full one, only coarser: with ``n`` placebos the smallest possible p-value is ``1 / (n + 1)``.
The interpretation says how many of the possible starts were used.

The rank is descriptive, not an exact test: neighbouring placebo windows share most of their
data, so the placebos are not independent draws. The verdict follows the rank p-value
``(n_as_large + 1) / (n + 1)`` (unusual only when it is at most 5%), and with fewer than
:data:`MIN_PLACEBOS` false starts fitted the check is skipped with a note.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from impactbook.defaults import DEFAULT_POST_PERIODS
from impactbook.designs import is_clear_p
from impactbook.effects._its_slices import SeriesDesign
from impactbook.effects._threads import single_blas_thread
from impactbook.effects._window import Labels, coerce_start, normalise_series, unit_name
from impactbook.effects.estimate import Estimate, finite_or_none
from impactbook.effects.its import estimate_its
from impactbook.effects.results import ResultsMixin
from impactbook.errors import EstimationError
from impactbook.workbook.periods import format_period

MIN_PLACEBO_PRE_PERIODS = 12
MIN_PLACEBOS = 10


@dataclass(frozen=True)
class PlaceboResult(ResultsMixin):
    """The placebo distribution and where the real estimate falls in it.

    ``share_as_large`` is the share of placebos whose absolute log rate ratio is at least the
    real one's (a permutation-style p-value, ``(count + 1) / (n + 1)``, is ``p_value``);
    ``percentile`` is the share of placebos strictly smaller in absolute size (0-100).

    It follows the results protocol (:mod:`impactbook.effects.results`): ``params`` is the
    real rate ratio being ranked, ``to_frame()`` one row per placebo estimate; a rank has no
    interval, so ``conf_int`` raises and says so.
    """

    no_interval_reason = ("a placebo-in-time check ranks the real change among changes at "
                          "false starts (its p_value is that rank); it has no interval: the "
                          "real estimate's interval is the ITS result's conf_int")

    real_log_rate_ratio: float
    placebo_starts: tuple[pd.Period, ...]
    placebo_log_rate_ratios: tuple[float, ...]
    post_periods: int
    failed: int
    n_as_large: int
    percentile: float
    p_value: float
    interpretation: str
    freq: str = field(default="M", repr=False)

    @property
    def n(self) -> int:
        return len(self.placebo_log_rate_ratios)

    @property
    def is_skipped(self) -> bool:
        """Too few false starts fitted to rank the real change (no verdict)."""
        return self.n < MIN_PLACEBOS

    @property
    def is_unusual(self) -> bool:
        return not self.is_skipped and is_clear_p(self.p_value)

    @property
    def position_text(self) -> str:
        """A table-cell summary, e.g. ``0 of 61 placebos as large (rank p 0.016)``."""
        if self.is_skipped:
            return f"skipped: {self.n} false starts fitted (at least {MIN_PLACEBOS} needed)"
        return f"{self.n_as_large} of {self.n} placebos as large (rank p {self.p_value:.2g})"

    def to_frame(self) -> pd.DataFrame:
        """One row per placebo: ``start``, ``log_rate_ratio``, ``rate_ratio``."""
        values = np.asarray(self.placebo_log_rate_ratios, dtype=float)
        return pd.DataFrame({"start": list(self.placebo_starts), "log_rate_ratio": values,
                             "rate_ratio": np.exp(values)})

    def to_dict(self) -> dict[str, Any]:
        """The JSON view, unrounded."""
        return {
            "n_placebos": self.n,
            "failed": self.failed,
            "post_periods": self.post_periods,
            "real_rate_ratio": finite_or_none(np.exp(self.real_log_rate_ratio)),
            "n_as_large": self.n_as_large,
            "percentile": finite_or_none(self.percentile),
            "p_value": finite_or_none(self.p_value),
            "placebo_starts": [format_period(p) for p in self.placebo_starts],
            "placebo_rate_ratios": [finite_or_none(np.exp(v))
                                    for v in self.placebo_log_rate_ratios],
            "position": self.position_text,
            "is_skipped": self.is_skipped,
            "is_unusual": self.is_unusual,
            "interpretation": self.interpretation,
        }

    @property
    def params(self) -> pd.Series:
        """The real rate ratio the placebos are ranked against, unrounded."""
        return pd.Series({"rate_ratio": float(np.exp(self.real_log_rate_ratio))},
                         name="placebo in time")

    def _p_values(self) -> dict[str, float]:
        return {"rate_ratio": self.p_value}

    def plot(self):
        """The report's chart: the false starts' changes with the real one marked."""
        from impactbook.report.plots import plot_placebo

        return plot_placebo(self.placebo_log_rate_ratios, self.real_log_rate_ratio)

    def describe(self) -> str:
        return self.interpretation

    def _summary_title(self) -> str:
        return "Placebo-in-time check"

    def _summary_info(self) -> list[tuple[str, str]]:
        from impactbook.report.format import format_p

        return [("False starts fitted", str(self.n)), ("Fits that failed", str(self.failed)),
                ("Post window", f"{self.post_periods} {unit_name(self.freq, self.post_periods)}"),
                ("As large as the real change", str(self.n_as_large)),
                ("Rank p", format_p(self.p_value)),
                ("Verdict", "skipped" if self.is_skipped else
                 "unusual" if self.is_unusual else "not unusual")]


@single_blas_thread
def check_placebo_in_time(
    series: pd.DataFrame,
    start: pd.Period | str,
    *,
    real: Estimate | None = None,
    post_periods: int | None = DEFAULT_POST_PERIODS,
    min_pre_periods: int = MIN_PLACEBO_PRE_PERIODS,
    step: int = 1,
    max_placebos: int | None = None,
    family: str = "quasi-poisson",
    slope_change: bool = False,
    fourier_pairs: int | None = None,
    labels: Mapping[str, str] | None = None,
) -> PlaceboResult:
    """Re-estimate the ITS level change at false starts before ``start``.

    ``real`` is the estimate to rank (fitted here with the same options when not given).
    ``step`` thins the false starts (every ``step`` periods) for long series;
    ``max_placebos`` then keeps at most that many, evenly spaced (first and last kept).
    Placebos whose model cannot be fitted are counted in ``failed``, not silently dropped.
    Raises EstimationError when the pre-period is too short for any placebo.
    """
    if max_placebos is not None and (not isinstance(max_placebos, (int, np.integer))
                                     or max_placebos < 2):
        raise ValueError(f"max_placebos must be a whole number >= 2, got {max_placebos!r}")
    names = Labels.from_mapping(labels)
    if real is None:
        real = estimate_its(series, start, post_periods=post_periods, family=family,
                            slope_change=slope_change, fourier_pairs=fourier_pairs,
                            labels=labels, check_guardrails=False)
    frame = normalise_series(series, names)
    freq = frame.attrs["freq"]
    start = coerce_start(start, frame, names)
    before = frame[frame.index < start]
    observed = before.index[before["count"].notna()]
    if len(observed) == 0:
        raise names.error("no observed periods before the start for a placebo check")
    first = observed[0]
    available = start.ordinal - first.ordinal
    length = min(real.post_periods, available - min_pre_periods)
    if length < 1:
        raise names.error(
            f"too few periods before the start for a placebo check: {available} "
            f"{unit_name(freq)}, need more than {min_pre_periods}"
        )
    pre_only = series[series.index < start]
    false_starts = [first + k for k in range(min_pre_periods, available - length + 1, step)]
    possible = len(false_starts)
    false_starts = _spread(false_starts, max_placebos)
    # One design for the whole pre-period, sliced per false start (same numbers as
    # estimate_its, a fraction of the time); None when the series needs the general path.
    design = SeriesDesign.from_series(pre_only, family=family, fourier_pairs=fourier_pairs,
                                      slope_change=slope_change, labels=names)
    starts, values, failed = [], [], 0
    for false_start in false_starts:
        try:
            if design is not None:
                value = design.level_change(false_start, length)
            else:
                value = estimate_its(pre_only, false_start, post_periods=length, family=family,
                                     slope_change=slope_change, fourier_pairs=fourier_pairs,
                                     labels=labels, check_guardrails=False).log_rate_ratio
        except EstimationError:
            failed += 1
            continue
        starts.append(false_start)
        values.append(value)
    magnitudes = np.abs(np.asarray(values, dtype=float))
    real_size = abs(real.log_rate_ratio)
    n_as_large = int(np.sum(magnitudes >= real_size))
    n = len(values)
    percentile = float(100.0 * np.mean(magnitudes < real_size)) if n else float("nan")
    p_value = (n_as_large + 1) / (n + 1)
    interpretation = _interpret(real, n, n_as_large, p_value, length, freq,
                                possible if len(false_starts) < possible else None)
    return PlaceboResult(
        real_log_rate_ratio=real.log_rate_ratio, placebo_starts=tuple(starts),
        placebo_log_rate_ratios=tuple(float(v) for v in values), post_periods=length,
        failed=failed, n_as_large=n_as_large, percentile=percentile, p_value=p_value,
        interpretation=interpretation, freq=freq,
    )


def _spread(false_starts: list[pd.Period], limit: int | None) -> list[pd.Period]:
    """At most ``limit`` of ``false_starts``, evenly spaced, the first and last kept."""
    if limit is None or len(false_starts) <= limit:
        return false_starts
    positions = np.unique(np.round(np.linspace(0, len(false_starts) - 1, limit)).astype(int))
    return [false_starts[i] for i in positions]


def _interpret(real: Estimate, n: int, n_as_large: int, p_value: float, length: int,
               freq: str, possible: int | None = None) -> str:
    size = f"{abs(real.percent_change):.0f}%"
    # Said only when the starts were thinned, so unthinned text is unchanged.
    spread = f" (evenly spaced over the {possible} possible)" if possible else ""
    if n < MIN_PLACEBOS:
        return (f"Placebo check skipped: only {n} false start dates{spread} fit before the "
                f"programme (at least {MIN_PLACEBOS} needed) to rank the real change of "
                f"{size} against.")
    window = f"{length} {unit_name(freq, length)}"
    how_many = (f"None of {n} placebo start dates{spread} before the programme gave"
                if n_as_large == 0 else
                f"{n_as_large} of {n} placebo start dates{spread} before the programme "
                f"({100.0 * n_as_large / n:.0f}%) gave")
    rank = f"rank p = {p_value:.2g}"
    if is_clear_p(p_value):
        verdict = f"so a change this size is unusual for this series ({rank})"
    elif n_as_large == 0:
        verdict = (f"but with {n} placebos the rank p can be no smaller than {p_value:.2g}, so "
                   "this check cannot show the change is unusual for this series")
    else:
        verdict = f"so a change this size is not unusual for this series ({rank})"
    return (f"{how_many} a change at least as large as the real {size} (over {window}), "
            f"{verdict}. This is a descriptive rank, not an exact test: the placebo windows "
            "overlap.")
