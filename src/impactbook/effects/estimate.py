"""The :class:`Estimate` every estimator returns, and its JSON form.

``Estimate.to_dict()`` is the DESIGN.md contract: those keys first, then the fields every
design adds (:data:`EXTRA_KEYS`: the design's name, events averted with its interval, the
detectable change, the autocorrelation test and which interval the headline uses), plain JSON
values (``None`` instead of NaN), rounded for reading. Everything else a report needs (slope change,
dispersion parameter, comparison areas, placebo check) lives in ``details``, and the frames a
chart needs (observed, fitted, counterfactual) ride along on the object but not in the JSON.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from impactbook.report.format import DESIGN_NAMES, is_clear_p
from impactbook.workbook.periods import format_period

#: The keys of the DESIGN.md estimate JSON, in contract order.
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
class Estimate:
    """One programme effect estimate for one place and outcome.

    ``rate_ratio`` is the multiplicative change attributed to the start (level change for
    ``its``, ratio of window means for ``prepost``, ratio of rate ratios for ``comparison``);
    ``ci_low``/``ci_high`` its 95% interval. ``log_rate_ratio``/``se_log_rate_ratio`` are the
    unrounded model coefficient and standard error (what pooling uses).

    Frames (not in the JSON): ``observed`` (the input counts, all periods), ``fitted`` (model
    fitted values over the pre+post window), ``counterfactual`` (columns ``mean, low, high``
    over the post window: what the pre-programme model projects without the programme, with its
    95% confidence band). Some are ``None`` where a method has no such frame.
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
        significance rule (:func:`impactbook.report.format.is_clear_p`).
        """
        if self.method == "synth":
            return is_clear_p(self.p_value)
        return self.ci_high < 1.0 or self.ci_low > 1.0

    def to_dict(self, *, with_details: bool = False) -> dict[str, Any]:
        """The DESIGN.md JSON object (plus ``details`` when asked), JSON-safe and rounded."""
        out: dict[str, Any] = {
            "city": self.city,
            "area": self.area,
            "outcome": self.outcome,
            "start": format_period(self.start),
            "method": self.method,
            "model": self.model,
            "pre_periods": int(self.pre_periods),
            "post_periods": int(self.post_periods),
            "pre_mean": round_or_none(self.pre_mean, 2),
            "post_mean": round_or_none(self.post_mean, 2),
            "raw_percent_change": round_or_none(self.raw_percent_change, 1),
            "rate_ratio": round_or_none(self.rate_ratio, 4),
            "ci_low": round_or_none(self.ci_low, 4),
            "ci_high": round_or_none(self.ci_high, 4),
            "percent_change": round_or_none(self.percent_change, 1),
            "p_value": significant_or_none(self.p_value, 3),
            "dispersion": round_or_none(self.dispersion, 3),
            "warnings": list(self.warnings),
            "design": self.design,
            "interval": INTERVAL_NAMES.get(self.interval_source, self.interval_source),
            "events_averted": round_or_none(self.events_averted[0], 1),
            "events_averted_low": round_or_none(self.events_averted[1], 1),
            "events_averted_high": round_or_none(self.events_averted[2], 1),
            "events_averted_per_100k": round_or_none(
                (self.details.get("events_averted_per_100k") or [None])[0], 2),
            "detectable_change_pct": round_or_none(self.detectable_change_pct, 1),
            "autocorrelation": to_json_safe(self.autocorrelation),
        }
        if with_details:
            out["details"] = to_json_safe(self.details)
        return out

    def with_details(self, **extra: Any) -> Estimate:
        """A copy with ``extra`` merged into ``details`` (e.g. ``placebo=result.to_dict()``)."""
        return dataclasses.replace(self, details={**self.details, **extra})


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
        return significant_or_none(value, 6)
    return value
