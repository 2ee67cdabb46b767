"""Workbook + estimate -> value for money: the programme's costs over the estimate's window.

The CLI's ``estimate --json`` and a report ask the same function, so both show the same figures.
A programme without rows in costs.csv gets no value for money at all (None): no figure, no
section.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from impactbook.effects.estimate import Estimate
from impactbook.effects.rollout_panel import parse_label
from impactbook.effects.value import UnitCost, ValueForMoney, value_for_money
from impactbook.workbook import CITYWIDE, Workbook, split_list
from impactbook.workbook.costs import cpi_u, default_unit_costs
from impactbook.workbook.periods import format_period


def unit_cost_for(workbook: Workbook, outcome: str) -> UnitCost | None:
    """The workbook's unit cost of ``outcome``, else the shipped default, else None."""
    for table, origin in ((workbook.unit_costs, "workbook"),
                          (default_unit_costs(), "impactbook default")):
        if table.empty:
            continue
        rows = table[table["outcome"] == outcome]
        if len(rows):
            row = rows.iloc[0]
            return UnitCost(outcome=outcome, cost_per_event=float(row["cost_per_event"]),
                            currency=str(row["currency"]), price_year=int(row["price_year"]),
                            what=str(row["what"]), source=str(row["source"]),
                            confidence=str(row["confidence"]), origin=origin)
    return None


def estimate_window(estimate: Estimate) -> tuple[str, str]:
    """The first and last month of an estimate's post window (a quarter is its 3 months)."""
    first = estimate.start
    last = first + (int(estimate.post_periods) - 1)
    return (format_period(first.asfreq("M", how="start")),
            format_period(last.asfreq("M", how="end")))


def coverage(programme: Mapping[str, Any], areas: tuple[str, ...]) -> str:
    """Which costs the total is, in words: costs.csv has no per-area split."""
    programme_areas = split_list(programme.get("area", ""))
    if set(areas) < set(programme_areas):
        return (f"the whole programme ({len(programme_areas)} areas) while the events averted "
                f"are those of {' + '.join(areas)} only: costs.csv has no per-area split, so "
                "the cost per event is overstated")
    if CITYWIDE in programme_areas or len(programme_areas) > 1:
        return "the whole programme (costs.csv has no per-area split)"
    return "the whole programme"


def value_for(workbook: Workbook, programme: Mapping[str, Any] | None,
              areas: tuple[str, ...], estimate: Estimate) -> ValueForMoney | None:
    """Value for money of ``programme`` (a row of interventions.csv) for ``estimate``, or None
    when the programme has no costs in costs.csv."""
    if programme is None or workbook.costs.empty:
        return None
    rows = workbook.costs[workbook.costs["programme"] == programme["id"]]
    if rows.empty:
        return None
    first, last = estimate_window(estimate)
    return value_for_money(
        pd.DataFrame(rows), programme=str(programme["id"]),
        programme_name=str(programme.get("programme") or ""), outcome=str(estimate.outcome),
        window_first=first, window_last=last, events_averted=estimate.events_averted,
        unit_cost=unit_cost_for(workbook, str(estimate.outcome)), cpi=cpi_u(),
        covers=coverage(programme, areas))


def value_of(workbook: Workbook, estimate) -> ValueForMoney | None:
    """Value for money of any estimate of ``workbook`` (``wb.value_for_money(result)``): its
    programme is the one the estimate's city, area and start name; None without costs."""
    if hasattr(estimate, "programme_id"):  # a RolloutEstimate
        return rollout_value(workbook, estimate)
    from impactbook.analysis import make_request, resolve_request

    request = make_request(city=estimate.city, outcome=estimate.outcome, area=estimate.area,
                           start=format_period(estimate.start))
    resolved = resolve_request(workbook, request)
    return value_for(workbook, resolved.programme, resolved.areas, estimate)


def rollout_value(workbook: Workbook, estimate) -> ValueForMoney | None:
    """Value for money of a rollout estimate (:class:`RolloutEstimate`), or None without costs.

    The window is every month from the first treated unit's start to the end of the estimate's
    data: the months in which the programme ran somewhere in the estimate. Its events averted
    are the overall aggregate's (all treated units and periods), with their 95% interval.
    """
    programmes = workbook.interventions
    rows = programmes[programmes["id"] == estimate.programme_id]
    if rows.empty or workbook.costs.empty:
        return None
    costs = workbook.costs[workbook.costs["programme"] == estimate.programme_id]
    if costs.empty:
        return None
    starts = [unit["start"] for unit in estimate.units if unit.get("start")]
    # Each start in the model's periods (a weekly start's quarter, when pooled by quarter).
    first = min(parse_label(s).asfreq(estimate.window[1].freq) for s in starts)
    first_month = max(first, estimate.window[0]).asfreq("M", how="start")
    covers = (f"the whole programme's budget over the months its {len(starts)} treated units "
              "ran (costs.csv has no per-unit split)")
    # A budget that begins after the first unit started (a site funded from elsewhere before
    # the programme's budget existed) is costed from its first month, and the figure says so:
    # the events averted still include the earlier months, so the cost per event is a little
    # low, never missing.
    first_costed = min(pd.Period(str(s), freq="M") for s in costs["start"])
    if first_costed > first_month:
        covers += (f"; costs.csv starts at {format_period(first_costed)}, after the first unit "
                   f"began ({format_period(first_month)}), so the months before it are not "
                   "costed and the cost per event averted is understated")
        first_month = first_costed
    low, high = estimate.overall.events_averted_interval
    return value_for_money(
        pd.DataFrame(costs), programme=str(estimate.programme_id),
        programme_name=str(rows.iloc[0].get("programme") or ""), outcome=str(estimate.outcome),
        window_first=format_period(first_month),
        window_last=format_period(estimate.window[1].asfreq("M", how="end")),
        events_averted=(estimate.overall.events_averted, low, high),
        unit_cost=unit_cost_for(workbook, str(estimate.outcome)), cpi=cpi_u(), covers=covers)
