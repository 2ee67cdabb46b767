"""The :class:`Estimate` every estimator returns, and its JSON form.

``Estimate.to_dict()`` is the docs/DESIGN.md contract: those keys first, then the fields every
design adds (:data:`EXTRA_KEYS`: the design's name, events averted with its interval, the
detectable change, the autocorrelation test and which interval the headline uses), plain JSON
values (``None`` instead of NaN), unrounded: rounding is presentation, done where a number is
written for reading (:mod:`impactbook.report.format`). Everything else a report needs (slope
change, dispersion parameter, comparison areas, placebo check) lives in ``details``, and the
frames a chart needs (observed, fitted, counterfactual) and the fitted statsmodels model
(``model_result``) ride along on the object but not in the JSON.

An Estimate follows the results protocol of :mod:`impactbook.effects.results`: ``params``,
``conf_int(alpha)``, ``summary()``, ``plot()``, ``describe()``, ``to_frame()``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from impactbook.designs import DESIGN_NAMES, is_clear_p
from impactbook.effects.results import (
    ResultsMixin,
    check_alpha,
    interval_frame,
    normal_interval,
)
from impactbook.errors import EstimationError
from impactbook.workbook.periods import format_period

#: The keys of the docs/DESIGN.md estimate JSON, in contract order.
CONTRACT_KEYS: tuple[str, ...] = (
    "city", "area", "outcome", "start", "method", "model", "pre_periods", "post_periods",
    "pre_mean", "post_mean", "raw_percent_change", "rate_ratio", "ci_low", "ci_high",
    "percent_change", "p_value", "dispersion", "warnings",
)
#: The keys every design adds after the contract's.
EXTRA_KEYS: tuple[str, ...] = (
    "design", "interval", "events_averted", "events_averted_low", "events_averted_high",
    "events_averted_per_100k", "detectable_change_pct", "autocorrelation",
)
ESTIMATE_KEYS: tuple[str, ...] = CONTRACT_KEYS + EXTRA_KEYS

INTERVAL_NAMES = {"model": "model", "newey-west": "Newey-West (wider than the model's)",
                  "newey-west (asked)": "Newey-West"}

Z_95 = 1.959963984540054  # two-sided 95% normal quantile


@dataclass(frozen=True)
class Estimate(ResultsMixin):
    """One programme effect estimate for one place and outcome.

    ``rate_ratio`` is the multiplicative change attributed to the start (level change for
    ``its``, ratio of window means for ``prepost``, ratio of rate ratios for ``comparison``);
    ``ci_low``/``ci_high`` its 95% interval. ``log_rate_ratio``/``se_log_rate_ratio`` are the
    unrounded model coefficient and standard error (what pooling uses).

    Frames (not in the JSON): ``observed`` (the input counts, all periods), ``fitted`` (model
    fitted values over the pre+post window), ``counterfactual`` (columns ``mean, low, high``
    over the post window: what the pre-programme model projects without the programme, with its
    95% confidence band). Some are ``None`` where a method has no such frame.

    ``model_result`` is the fitted statsmodels results object (``None`` for a synthetic
    control) and ``effect_term`` the name of the effect's coefficient in it.
    """

    city: str | None
    area: str | None
    outcome: str | None
    start: pd.Period
    method: str
    model: str
    pre_periods: int
    post_periods: int
    pre_mean: float
    post_mean: float
    rate_ratio: float
    ci_low: float
    ci_high: float
    p_value: float
    dispersion: float
    log_rate_ratio: float
    se_log_rate_ratio: float
    warnings: tuple[str, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)
    #: Expected minus observed events over the post window: (estimate, 95% low, 95% high).
    events_averted: tuple[float, float, float] = (math.nan, math.nan, math.nan)
    #: Rate ratio of the smallest fall detectable with 80% power at the 5% level.
    detectable_rate_ratio: float = math.nan
    #: Ljung-Box test of the residuals (``test, lags, statistic, p_value, is_detected``).
    autocorrelation: Mapping[str, Any] | None = None
    #: Which interval ``ci_low``/``ci_high`` are: "model", "newey-west", "newey-west (asked)".
    interval_source: str = "model"
    observed: pd.Series | None = field(default=None, repr=False, compare=False)
    fitted: pd.Series | None = field(default=None, repr=False, compare=False)
    counterfactual: pd.DataFrame | None = field(default=None, repr=False, compare=False)
    #: Synthetic control only: observed minus synthetic per period, one column per placebo.
    placebo_gaps: pd.DataFrame | None = field(default=None, repr=False, compare=False)
    model_result: Any = field(default=None, repr=False, compare=False)
    effect_term: str | None = field(default=None, repr=False, compare=False)

    @property
    def percent_change(self) -> float:
        return (self.rate_ratio - 1.0) * 100.0

    @property
    def raw_percent_change(self) -> float:
        if not self.pre_mean or not np.isfinite(self.pre_mean):
            return math.nan
        return (self.post_mean / self.pre_mean - 1.0) * 100.0

    @property
    def design(self) -> str:
        return DESIGN_NAMES.get(self.method, self.method)

    @property
    def detectable_change_pct(self) -> float:
        """The detectable fall as a percent change (e.g. -45.0)."""
        return (self.detectable_rate_ratio - 1.0) * 100.0

    @property
    def excludes_no_change(self) -> bool:
        """True when the 95% interval lies wholly above or wholly below a ratio of 1.

        A synthetic control has no interval: its two-sided permutation p decides, by the one
        significance rule (:func:`impactbook.designs.is_clear_p`).
        """
        if self.method == "synth":
            return is_clear_p(self.p_value)
        return self.ci_high < 1.0 or self.ci_low > 1.0

    def to_dict(self, *, with_details: bool = False) -> dict[str, Any]:
        """The docs/DESIGN.md JSON object (plus ``details`` when asked), JSON-safe, unrounded."""
        out: dict[str, Any] = {
            "city": self.city,
            "area": self.area,
            "outcome": self.outcome,
            "start": format_period(self.start),
            "method": self.method,
            "model": self.model,
            "pre_periods": int(self.pre_periods),
            "post_periods": int(self.post_periods),
            "pre_mean": finite_or_none(self.pre_mean),
            "post_mean": finite_or_none(self.post_mean),
            "raw_percent_change": finite_or_none(self.raw_percent_change),
            "rate_ratio": finite_or_none(self.rate_ratio),
            "ci_low": finite_or_none(self.ci_low),
            "ci_high": finite_or_none(self.ci_high),
            "percent_change": finite_or_none(self.percent_change),
            "p_value": finite_or_none(self.p_value),
            "dispersion": finite_or_none(self.dispersion),
            "warnings": list(self.warnings),
            "design": self.design,
            "interval": INTERVAL_NAMES.get(self.interval_source, self.interval_source),
            "events_averted": finite_or_none(self.events_averted[0]),
            "events_averted_low": finite_or_none(self.events_averted[1]),
            "events_averted_high": finite_or_none(self.events_averted[2]),
            "events_averted_per_100k": finite_or_none(
                (self.details.get("events_averted_per_100k") or [None])[0]),
            "detectable_change_pct": finite_or_none(self.detectable_change_pct),
            "autocorrelation": to_json_safe(self.autocorrelation),
        }
        if with_details:
            out["details"] = to_json_safe(self.details)
        return out

    def with_details(self, **extra: Any) -> Estimate:
        """A copy with ``extra`` merged into ``details`` (e.g. ``placebo=result.to_dict()``)."""
        return dataclasses.replace(self, details={**self.details, **extra})

    # -- the results protocol (impactbook.effects.results) ------------------------------

    @property
    def params(self) -> pd.Series:
        """The estimate, unrounded: ``rate_ratio`` (the multiplicative change)."""
        return pd.Series({"rate_ratio": float(self.rate_ratio)}, name=self.design)

    def conf_int(self, alpha: float = 0.05) -> pd.DataFrame:
        """The ``1 - alpha`` interval of the rate ratio (columns ``lower``, ``upper``).

        Where the headline interval is the model's (or a Newey-West one that was asked for),
        it is statsmodels' own ``conf_int(alpha)`` of the kept fit; where it is the wider
        Newey-West interval chosen for autocorrelated residuals, it is that standard error
        with a normal quantile. At ``alpha=0.05`` it equals ``ci_low``/``ci_high``.

        A synthetic control has no model interval (``ci_low``/``ci_high`` stay missing): here
        it is the set of rate ratios its permutation test does not reject at ``alpha``,
        assuming the programme changed every post-period count by the same ratio (see
        :func:`~impactbook.effects._synth_result.permutation_interval`); the
        micro-synthetic control raises :class:`~impactbook.errors.EstimationError` saying why.
        """
        alpha = check_alpha(alpha)
        if self.method == "synth":
            from impactbook.effects._synth_result import permutation_interval

            return interval_frame(["rate_ratio"], [permutation_interval(self, alpha)])
        is_model_interval = self.interval_source in ("model", "newey-west (asked)")
        if self.model_result is not None and self.effect_term and is_model_interval:
            low, high = self.model_result.conf_int(alpha=alpha).loc[self.effect_term]
        else:
            low, high = normal_interval(self.log_rate_ratio, self.se_log_rate_ratio, alpha)
        return interval_frame(["rate_ratio"], [(math.exp(float(low)), math.exp(float(high)))])

    def _p_values(self) -> dict[str, float]:
        return {"rate_ratio": self.p_value}

    def to_frame(self) -> pd.DataFrame:
        """One row: the estimate with its labels, interval and what every design adds."""
        row = {
            "city": self.city, "area": self.area, "outcome": self.outcome,
            "start": format_period(self.start), "method": self.method, "design": self.design,
            "model": self.model, "rate_ratio": self.rate_ratio, "ci_low": self.ci_low,
            "ci_high": self.ci_high, "percent_change": self.percent_change,
            "p_value": self.p_value, "log_rate_ratio": self.log_rate_ratio,
            "se_log_rate_ratio": self.se_log_rate_ratio,
            "interval": INTERVAL_NAMES.get(self.interval_source, self.interval_source),
            "pre_periods": self.pre_periods, "post_periods": self.post_periods,
            "pre_mean": self.pre_mean, "post_mean": self.post_mean,
            "raw_percent_change": self.raw_percent_change, "dispersion": self.dispersion,
            "events_averted": self.events_averted[0],
            "events_averted_low": self.events_averted[1],
            "events_averted_high": self.events_averted[2],
            "detectable_change_pct": self.detectable_change_pct,
            "n_warnings": len(self.warnings),
        }
        return pd.DataFrame([row])

    def plot(self):
        """The report's chart: observed, fitted and the counterfactual with its band (the
        synthetic control: observed against synthetic, and the gaps with the placebos')."""
        from impactbook.report.plots import plot_outcome_series, plot_synth

        return plot_synth(self) if self.method == "synth" else plot_outcome_series(self)

    def describe(self) -> str:
        """The finding in plain words, as the report prints it."""
        from impactbook.effects.findings import describe_finding

        return describe_finding(self)

    def _summary_title(self) -> str:
        where = ", ".join(str(x) for x in (self.city, self.area, self.outcome) if x)
        return f"{self.design.capitalize()}: {where}"

    def _summary_info(self) -> list[tuple[str, str]]:
        from impactbook.report.format import format_count, format_number, format_pct

        unit = "quarters" if self.start.freqstr.startswith("Q") else "months"
        info = [("Design", self.design), ("Model", self.model),
                ("Start", format_period(self.start)),
                (f"{unit.capitalize()} before / after",
                 f"{self.pre_periods} / {self.post_periods}"),
                ("Mean before / after",
                 f"{format_number(self.pre_mean, 2)} / {format_number(self.post_mean, 2)}"),
                ("Change", format_pct(self.percent_change))]
        if math.isfinite(self.dispersion):
            info.append(("Dispersion", format_number(self.dispersion, 3)))
        info.append(("Interval", "the permutation test inverted (see the notes)"
                     if self.method == "synth" else
                     INTERVAL_NAMES.get(self.interval_source, self.interval_source)))
        averted = self.events_averted
        if math.isfinite(averted[0]):
            span = (f" ({format_count(averted[1])} to {format_count(averted[2])})"
                    if math.isfinite(averted[1]) and math.isfinite(averted[2]) else "")
            info.append(("Events averted", format_count(averted[0]) + span))
        if math.isfinite(self.detectable_rate_ratio):
            info.append(("Detectable fall (80% power)", format_pct(self.detectable_change_pct)))
        return info

    def _summary_notes(self) -> list[str]:
        notes = [self.describe(), *(f"warning: {w}" for w in self.warnings)]
        if self.method == "synth":
            try:
                self.conf_int()
                notes.append("The interval is the set of rate ratios the permutation test does "
                             "not reject (the test inverted, assuming one ratio for every "
                             "post-period); there is no model interval.")
            except EstimationError as exc:
                notes.append(f"No interval: {exc}")
        return notes


def finite_or_none(value: Any) -> float | None:
    """``value`` as a plain float, unrounded, or ``None`` for missing/non-finite values."""
    if value is None:
        return None
    value = float(value)
    if not math.isfinite(value):
        return None
    return value + 0.0  # + 0.0 turns -0.0 into 0.0


def round_or_none(value: Any, digits: int) -> float | None:
    """``round(value, digits)`` as a plain float, or ``None`` for missing/non-finite values."""
    if value is None:
        return None
    value = float(value)
    if not math.isfinite(value):
        return None
    return round(value, digits) + 0.0  # + 0.0 turns -0.0 into 0.0


def significant_or_none(value: Any, digits: int) -> float | None:
    """``value`` to ``digits`` significant figures (p-values span many magnitudes)."""
    if value is None:
        return None
    value = float(value)
    if not math.isfinite(value):
        return None
    return float(f"{value:.{digits}g}")


def to_json_safe(value: Any) -> Any:
    """Recursively turn numpy scalars, Periods and NaN into plain JSON values."""
    if isinstance(value, Mapping):
        return {str(k): to_json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray, pd.Index)):
        return [to_json_safe(v) for v in value]
    if isinstance(value, pd.Period):
        return format_period(value)
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return finite_or_none(value)
    return value
