"""What a staggered-rollout estimate is: :class:`RolloutEstimate`, its aggregates, its JSON.

Fields are unrounded; ``to_dict()`` is the JSON contract (unrounded too: rounding is for
reading; ``None`` for missing values), as :class:`~impactbook.effects.estimate.Estimate` does.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from impactbook.effects.estimate import Z_95, to_json_safe
from impactbook.effects.estimate import finite_or_none as plain_number
from impactbook.effects.rollout_panel import label_period

if TYPE_CHECKING:
    from impactbook.effects.rollout_cs import CallawaySantAnna

#: A pre-trend test below this p-value casts doubt on parallel trends.
PRETREND_ALPHA = 0.05
STATIC_CAVEAT = (
    "The static two-way fixed-effects estimate compares units that started later with units "
    "that started earlier as if the earlier ones were untreated; when effects grow or fade "
    "with time since the start, it is biased and can even take the wrong sign."
)


@dataclass(frozen=True)
class Aggregate:
    """One aggregation of the cell effects on the log scale (a weighted mean of cells, weights
    the treated observations of each), with events averted (counterfactual minus observed)."""

    log_ratio: float
    se: float
    events_averted: float
    events_averted_se: float
    treated_units: int
    key: Any = None  # the cohort, period or event time (None for the overall effect)
    control_units: int = 0  # the fewest control units at any period of it
    is_drawn: bool = True  # enough control units at every period to show it

    @property
    def rate_ratio(self) -> float:
        return math.exp(self.log_ratio)

    @property
    def ci_low(self) -> float:
        return math.exp(self.log_ratio - Z_95 * self.se)

    @property
    def ci_high(self) -> float:
        return math.exp(self.log_ratio + Z_95 * self.se)

    @property
    def percent_change(self) -> float:
        return (self.rate_ratio - 1.0) * 100.0

    @property
    def events_averted_interval(self) -> tuple[float, float]:
        half = Z_95 * self.events_averted_se
        return self.events_averted - half, self.events_averted + half

    @property
    def excludes_no_change(self) -> bool:
        return self.ci_high < 1.0 or self.ci_low > 1.0

    @property
    def is_single_unit(self) -> bool:
        """One treated unit: its cluster-robust interval rests on one cluster."""
        return self.treated_units == 1

    def to_dict(self, key_name: str | None = None) -> dict[str, Any]:
        low, high = self.events_averted_interval
        out: dict[str, Any] = {}
        if key_name:
            out[key_name] = to_json_safe(self.key)
        out.update({
            "log_ratio": plain_number(self.log_ratio), "se": plain_number(self.se),
            "rate_ratio": plain_number(self.rate_ratio),
            "ci_low": plain_number(self.ci_low), "ci_high": plain_number(self.ci_high),
            "percent_change": plain_number(self.percent_change),
            "events_averted": plain_number(self.events_averted),
            "events_averted_low": plain_number(low),
            "events_averted_high": plain_number(high),
        })
        if key_name:
            out["treated_units"] = int(self.treated_units)
            out["is_single_unit"] = self.is_single_unit
            out["control_units"] = int(self.control_units)
            out["is_drawn"] = bool(self.is_drawn)
        return out


@dataclass(frozen=True)
class PretrendTest:
    """Joint Wald test that the leads (event times before the reference period) are zero."""

    statistic: float
    df: int
    p_value: float
    controls: str
    event_times: tuple[int, ...]

    @property
    def is_passed(self) -> bool:
        return self.p_value >= PRETREND_ALPHA

    @property
    def text(self) -> str:
        from impactbook.report.format import format_p  # the one way a p-value is written

        shown = format_p(self.p_value)
        numbers = (f"chi-square {self.statistic:.1f} on {self.df} degrees of freedom, "
                   f"p {shown if shown.startswith('<') else '= ' + shown}")
        if self.is_passed:
            return (f"Before the starts, the treated units moved with the never-treated ones: "
                    f"the {self.df} leads are jointly consistent with no pre-trend ({numbers}). "
                    "This supports, but cannot prove, parallel trends after the starts.")
        return (f"Before the starts, the treated units did not move with the never-treated "
                f"ones: the leads differ from zero ({numbers}), so parallel trends are in doubt "
                "and the effect may partly reflect trends that were there already.")

    def to_dict(self) -> dict[str, Any]:
        return {"statistic": plain_number(self.statistic), "df": int(self.df),
                "p_value": plain_number(self.p_value), "controls": self.controls,
                "event_times": list(self.event_times), "is_passed": self.is_passed,
                "text": self.text}


@dataclass(frozen=True)
class RolloutEstimate:
    """A count-data staggered-adoption estimate (extended two-way fixed effects, Poisson)."""

    city: str | None
    outcome: str | None
    programme_id: str | None
    controls: str
    cohort_bin: str
    cohort_bin_reason: str
    anticipation: int
    freq: str
    window: tuple[pd.Period, pd.Period]
    overall: Aggregate
    by_cohort: tuple[Aggregate, ...]
    by_period: tuple[Aggregate, ...]
    by_event_time: tuple[Aggregate, ...]
    units: tuple[Mapping[str, Any], ...]
    control_units: tuple[str, ...]
    dropped: tuple[Mapping[str, Any], ...]
    pretrend: PretrendTest | None
    static_log_ratio: float
    static_se: float
    warnings: tuple[str, ...] = ()
    n_obs: int = 0
    #: The cell table (cohort, period, event time, units, events, effect, se): for charts.
    cells: pd.DataFrame | None = field(default=None, repr=False, compare=False)
    #: The linear Callaway and Sant'Anna view (``effects.rollout_cs``), when asked for.
    callaway_santanna: CallawaySantAnna | None = field(default=None, repr=False, compare=False)

    method = "rollout"
    design = "staggered rollout (extended two-way fixed effects, Poisson)"

    @property
    def reference_event_time(self) -> int | None:
        """The event time every lead and lag is relative to (never-treated controls)."""
        return -1 - self.anticipation if self.controls == "never" else None

    @property
    def single_unit_cohorts(self) -> tuple[Any, ...]:
        return tuple(a.key for a in self.by_cohort if a.treated_units == 1)

    def to_dict(self) -> dict[str, Any]:
        static = {"log_ratio": plain_number(self.static_log_ratio),
                  "se": plain_number(self.static_se),
                  "rate_ratio": plain_number(math.exp(self.static_log_ratio)),
                  "note": STATIC_CAVEAT}
        return {
            "city": self.city, "outcome": self.outcome, "programme": self.programme_id,
            "method": self.method, "design": self.design, "model": "poisson",
            "controls": self.controls, "cohort_bin": self.cohort_bin,
            "cohort_bin_reason": self.cohort_bin_reason, "anticipation": self.anticipation,
            "window": {"first": label_period(self.window[0]),
                       "last": label_period(self.window[1]), "frequency": self.freq,
                       "observations": int(self.n_obs)},
            "overall": self.overall.to_dict(),
            "by_cohort": [a.to_dict("cohort") for a in self.by_cohort],
            "by_period": [a.to_dict("period") for a in self.by_period],
            "by_event_time": [a.to_dict("event_time") for a in self.by_event_time],
            "reference_event_time": self.reference_event_time,
            "units": [to_json_safe(u) for u in self.units],
            "control_units": list(self.control_units),
            "dropped": [to_json_safe(d) for d in self.dropped],
            "pretrend": self.pretrend.to_dict() if self.pretrend else None,
            "static": static,
            "warnings": list(self.warnings),
            **({"callaway_santanna": self.callaway_santanna.to_dict()}
               if self.callaway_santanna is not None else {}),
        }
