"""Value for money: what a programme cost over an estimate's window, against the events averted.

A pure computation of a programme's cost rows (months, amount, currency, price year), the
estimate's post window, its events averted with their 95% interval and the social cost of one
event (``UnitCost``). The figures:

- ``total_cost``: the cost of the window's months; a cost period that straddles an edge of the
  window counts pro rata by month (an amount covers each of its months equally). USD amounts of
  different price years are expressed in the latest price year of the rows used, with CPI-U.
- ``break_even_events``: the events the programme must have averted to pay for itself at the
  social cost per event (``total_cost / unit cost``), given whenever a unit cost is known.
- ``cost_per_event_averted`` (``total_cost / averted``) with the interval
  ``total_cost / averted_high .. total_cost / averted_low``, and ``benefit_cost_ratio``
  (``averted x unit cost / total_cost``) with ``averted_low .. averted_high`` likewise, **only**
  when the events-averted interval excludes no change (``averted_low > 0``). Otherwise there is
  no point figure, because a cost per event of an effect that may be nil or harmful is a number
  without meaning, and ``reason`` says why in words.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

from impactbook.workbook.costs import CPI_CURRENCY

#: What every value-for-money figure leaves out, said wherever the figures are shown.
LEAVES_OUT: tuple[str, ...] = (
    "costs borne by others (police, courts, hospitals, volunteers' time) unless costs.csv "
    "lists them",
    "benefits other than the averted events of this outcome (other outcomes, participants' "
    "jobs, schooling and health)",
    "displacement of violence to other places or times, and diffusion of benefits to them",
)


@dataclass(frozen=True)
class UnitCost:
    """The social cost of one event of an outcome, as published (before any conversion)."""

    outcome: str
    cost_per_event: float
    currency: str
    price_year: int
    what: str = ""
    source: str = ""
    confidence: str = ""
    #: "workbook" (its unit_costs.csv) or "impactbook default" (the shipped table).
    origin: str = "workbook"


@dataclass(frozen=True)
class ValueForMoney:
    """Value for money of one programme and outcome over an estimate's window; unrounded."""

    programme: str
    outcome: str
    window_first: str
    window_last: str
    window_months: int
    #: None when costs.csv leaves some month of the window without an amount (``reason``).
    total_cost: float | None
    currency: str
    price_year: int | None
    events_averted: tuple[float, float, float]
    cost_per_event_averted: float | None
    cost_per_event_averted_low: float | None
    cost_per_event_averted_high: float | None
    #: Why there is no cost per event averted (None when there is one).
    reason: str | None
    break_even_events: float | None
    benefit_cost_ratio: float | None
    benefit_cost_ratio_low: float | None
    benefit_cost_ratio_high: float | None
    #: Why there is no benefit-cost ratio (no unit cost, no conversion, or ``reason``).
    benefit_cost_reason: str | None
    unit_cost: UnitCost | None
    #: The unit cost in ``currency`` and ``price_year`` (None when it cannot be converted).
    unit_cost_converted: float | None
    #: Which costs the total is: the programme's areas in the estimate, or the whole system.
    covers: str
    leaves_out: tuple[str, ...] = LEAVES_OUT
    #: The programme's name as interventions.csv writes it (headings); its id when not given.
    programme_name: str = ""

    @property
    def shown_name(self) -> str:
        return self.programme_name or self.programme

    @property
    def has_figures(self) -> bool:
        return self.cost_per_event_averted is not None

    def to_dict(self) -> dict[str, Any]:
        """The ``value`` object of ``impactbook estimate --json``, unrounded (as every estimate's
        JSON: rounding is for reading)."""
        def money(value: float | None) -> float | None:
            return None if value is None else float(value) + 0.0

        ratio = money

        unit = None
        if self.unit_cost is not None:
            unit = {**asdict(self.unit_cost),
                    "cost_per_event_converted": money(self.unit_cost_converted)}
        return {
            "programme": self.programme,
            "programme_name": self.shown_name,
            "outcome": self.outcome,
            "total_cost": money(self.total_cost),
            "currency": self.currency,
            "price_year": self.price_year,
            "window": {"first": self.window_first, "last": self.window_last,
                       "months": self.window_months},
            "covers": self.covers,
            "cost_per_event_averted": money(self.cost_per_event_averted),
            "cost_per_event_averted_low": money(self.cost_per_event_averted_low),
            "cost_per_event_averted_high": money(self.cost_per_event_averted_high),
            "reason": self.reason,
            "break_even_events": ratio(self.break_even_events),
            "benefit_cost_ratio": ratio(self.benefit_cost_ratio),
            "benefit_cost_ratio_low": ratio(self.benefit_cost_ratio_low),
            "benefit_cost_ratio_high": ratio(self.benefit_cost_ratio_high),
            "benefit_cost_reason": self.benefit_cost_reason,
            "unit_cost": unit,
            "leaves_out": list(self.leaves_out),
        }


def months_between(first: str, last: str) -> pd.PeriodIndex:
    """Every month from ``first`` to ``last`` (``YYYY-MM``), inclusive."""
    return pd.period_range(pd.Period(first, "M"), pd.Period(last, "M"), freq="M")


def window_cost(costs: pd.DataFrame, first: str, last: str, cpi: Mapping[int, float],
                ) -> tuple[float | None, int | None, list[str]]:
    """``(total, price_year, months without an amount)`` of the months ``first..last``.

    ``costs`` has ``first_month, last_month, amount, currency, price_year`` (one programme, one
    currency, no month twice: the workbook's rules). Each row's amount is spread evenly over its
    months. The total is None when a month has no amount.
    """
    window = months_between(first, last)
    paid: dict[pd.Period, tuple[float, int]] = {}
    for row_first, row_last, amount, price_year in costs[
            ["first_month", "last_month", "amount", "price_year"]].itertuples(index=False):
        months = months_between(row_first, row_last)
        for month in months.intersection(window):
            paid[month] = (float(amount) / len(months), int(price_year))
    missing = [str(m) for m in window if m not in paid]
    if missing or not paid:
        return None, None, missing
    price_year = max(year for _, year in paid.values())
    currency = str(costs["currency"].iloc[0])
    total = 0.0
    for amount, year in paid.values():
        total += amount if currency != CPI_CURRENCY else amount * cpi[price_year] / cpi[year]
    return total, price_year, []


def convert_unit_cost(unit: UnitCost, currency: str, price_year: int,
                      cpi: Mapping[int, float]) -> tuple[float | None, str | None]:
    """The unit cost in ``currency`` at ``price_year`` prices, or None and why not."""
    if unit.currency != currency:
        return None, (f"the unit cost of {unit.outcome} is in {unit.currency} and the costs in "
                      f"{currency}; no exchange rate is applied")
    if unit.price_year == price_year:
        return unit.cost_per_event, None
    if currency != CPI_CURRENCY:
        return None, (f"the unit cost is in {unit.price_year} {currency} and the costs in "
                      f"{price_year} {currency}; only USD is converted between price years "
                      "(CPI-U)")
    return unit.cost_per_event * cpi[price_year] / cpi[unit.price_year], None


def _span(missing: list[str]) -> str:
    shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
    return f"{len(missing)} month(s) ({shown})"


def no_interval_reason(averted: tuple[float, float, float]) -> str | None:
    """Why events averted cannot carry a cost per event, or None when they can."""
    point, low, high = averted
    if not (math.isfinite(low) and math.isfinite(high)):
        return ("the design gives no 95% interval for events averted (a synthetic control "
                "has a permutation p-value instead), so no cost per event averted is given")
    if low <= 0:
        return (f"the 95% interval of events averted ({low:,.1f} to {high:,.1f}) does not "
                "exclude no change: the programme may have averted nothing, so a cost per "
                "event averted would be a number without meaning")
    return None


def value_for_money(costs: pd.DataFrame, *, programme: str, outcome: str, window_first: str,
                    window_last: str, events_averted: tuple[float, float, float],
                    unit_cost: UnitCost | None, cpi: Mapping[int, float],
                    covers: str, programme_name: str = "") -> ValueForMoney:
    """Cost, cost per event averted, break-even and benefit-cost ratio (see the module)."""
    currency = str(costs["currency"].iloc[0])
    total, price_year, missing = window_cost(costs, window_first, window_last, cpi)
    averted = tuple(float(v) for v in events_averted)
    months = len(months_between(window_first, window_last))
    per_event = (None, None, None)
    ratios = (None, None, None)
    converted, unit_reason, break_even = None, None, None
    if total is None:
        reason = (f"costs.csv has no amount for {_span(missing)} of the {months}-month window, "
                  "so the cost of the window is not known")
        unit_reason = reason
    else:
        if unit_cost is None:
            unit_reason = (f"no social cost per event is known for {outcome} (add it to "
                           "unit_costs.csv)")
        else:
            converted, unit_reason = convert_unit_cost(unit_cost, currency, price_year, cpi)
        if converted is not None:
            break_even = total / converted
        reason = no_interval_reason(averted)
        if reason is None and total <= 0:
            reason = "the costs of the window add up to 0"
        if reason is None:
            point, low, high = averted
            per_event = (total / point, total / high, total / low)
            if converted is not None:
                ratios = tuple(v * converted / total for v in (point, low, high))
        unit_reason = unit_reason or reason
    return ValueForMoney(
        programme=programme, programme_name=programme_name, outcome=outcome,
        window_first=window_first,
        window_last=window_last, window_months=months, total_cost=total, currency=currency,
        price_year=price_year, events_averted=averted,
        cost_per_event_averted=per_event[0], cost_per_event_averted_low=per_event[1],
        cost_per_event_averted_high=per_event[2], reason=reason,
        break_even_events=break_even, benefit_cost_ratio=ratios[0],
        benefit_cost_ratio_low=ratios[1], benefit_cost_ratio_high=ratios[2],
        benefit_cost_reason=unit_reason if ratios[0] is None else None,
        unit_cost=unit_cost, unit_cost_converted=converted, covers=covers)
