"""Many ITS fits on windows of one series, without rebuilding the window each time.

The placebo check fits the ITS model at every false start in the pre-period. Going through
:func:`~impactbook.effects.estimate_its` each time re-validates the series, rebuilds the
window and the design in pandas and computes predictions and guardrails that the placebo
never reads: about 30 ms a fit, of which the model itself is a few. :class:`SeriesDesign`
builds the per-period columns once and, for each false start, slices them into exactly the
arrays ``estimate_its`` would fit (same rows, same column order), then fits them with the
lean, warm-started IRLS of :mod:`._irls` (the same log rate ratio to far below ``1e-6``
relative), falling back to the same :func:`fit_count_model` for anything unusual, so every
refusal (too few periods, no events, no convergence) is the same.

Only the simple, common case is handled: a quasi-Poisson model on a series with no partial
periods and a population that is either absent or known and positive in every period from the
first observed one. Anything else (:meth:`SeriesDesign.from_series` returns ``None``) goes
through ``estimate_its`` as before.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from impactbook.effects._fit import fit_count_model
from impactbook.effects._irls import fit_poisson_irls
from impactbook.effects._window import Labels, fourier_terms, normalise_series, unit_name
from impactbook.effects.its import MIN_PRE_OBSERVED, default_fourier_pairs
from impactbook.workbook.periods import QUARTERLY


@dataclass(frozen=True)
class SeriesDesign:
    """Per-period arrays of a normalised series, positioned by period ordinal."""

    first_ordinal: int  # ordinal of position 0
    first_usable: int  # position of the first observed count
    last_usable: int  # position of the last observed count
    counts: np.ndarray
    log_population: np.ndarray | None
    fourier: np.ndarray  # (periods, 2 * pairs), columns sin1, cos1, sin2, ...
    slope_change: bool
    freq: str
    labels: Labels
    # The last window's coefficients: the next false start, one period on, starts from them.
    warm_start: list = field(default_factory=list, compare=False, repr=False)

    @classmethod
    def from_series(cls, series: pd.DataFrame, *, family: str, fourier_pairs: int | None,
                    slope_change: bool, labels: Labels) -> SeriesDesign | None:
        """The design of ``series``, or ``None`` when the fast path does not apply."""
        if family != "quasi-poisson":
            return None
        frame = normalise_series(series, labels)
        freq = frame.attrs["freq"]
        pairs = default_fourier_pairs(freq) if fourier_pairs is None else int(fourier_pairs)
        if not 0 <= pairs <= (1 if freq == QUARTERLY else 5):
            return None  # estimate_its raises the ValueError
        if frame["is_partial"].any():
            return None
        counts = frame["count"].to_numpy(dtype=float)
        usable = np.flatnonzero(~np.isnan(counts))
        if len(usable) == 0:
            return None
        first, last = int(usable[0]), int(usable[-1])
        population = frame["population"].to_numpy(dtype=float)[first:last + 1]
        if np.isnan(population).all():
            log_population = None
        elif np.isfinite(population).all() and (population > 0).all():
            log_population = np.full(len(counts), np.nan)
            log_population[first:last + 1] = np.log(population)
        else:
            return None  # gaps are interpolated per window, bad values raise: slow path
        fourier = (fourier_terms(frame.index, freq, pairs).to_numpy(dtype=float)
                   if pairs else np.empty((len(counts), 0)))
        return cls(first_ordinal=frame.index[0].ordinal, first_usable=first, last_usable=last,
                   counts=counts, log_population=log_population, fourier=fourier,
                   slope_change=slope_change, freq=freq, labels=labels)

    def level_change(self, start: pd.Period, post_periods: int) -> float:
        """``estimate_its(series, start, post_periods=post_periods).log_rate_ratio``.

        Raises EstimationError where ``estimate_its`` would (the message may be shorter).
        """
        names = self.labels
        at = start.ordinal - self.first_ordinal
        if at <= self.first_usable or at > self.last_usable:
            raise names.error("start outside the observed periods")
        n_pre = at - self.first_usable
        n_post = min(int(post_periods), self.last_usable - at + 1)
        rows = slice(self.first_usable, at + n_post)
        # As make_window and build_its_design: t from -n_pre, level change from t = 0.
        t = np.arange(-n_pre, n_post, dtype=float)
        is_post = (t >= 0).astype(float)
        columns = [np.ones_like(t), is_post, t]
        if self.slope_change:
            columns.append(is_post * t)
        exog = np.column_stack(columns + [self.fourier[rows]])
        counts = self.counts[rows]
        observed = ~np.isnan(counts)
        pre_counts = counts[observed & (t < 0)]
        if len(pre_counts) < MIN_PRE_OBSERVED:
            raise names.error(f"too few observed {unit_name(self.freq)} before the start")
        if pre_counts.sum() <= 0 or counts[observed & (t >= 0)].sum() <= 0:
            raise names.error("no events on one side of the start")
        offset = None if self.log_population is None else self.log_population[rows][observed]
        y, x = counts[observed], exog[observed]
        if len(y) - x.shape[1] >= 2:  # else fit_count_model gives its refusal
            params = fit_poisson_irls(y, x, offset, self.warm_start[-1] if self.warm_start
                                      else None)
            if params is not None:
                self.warm_start[:] = [params]
                return float(params[1])
        # Column-major, as a pandas design arrives in statsmodels: BLAS sums in a different
        # order for row-major arrays, which moves the result in the 14th digit.
        fit = fit_count_model(y, np.asfortranarray(x), offset,
                              family="quasi-poisson", robust="none", labels=names)
        return float(np.asarray(fit.result.params)[1])
