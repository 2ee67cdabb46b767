"""Workbook -> staggered-rollout inputs: the programme, its units and starts, the controls.

A rollout is a row of interventions.csv whose ``area`` is ``rollout``; its units and starts
are its rows of rollouts.csv. Units are areas of outcomes.csv (precincts) or groups of
unit_outcomes.csv (gangs, crews: codes a team keeps itself, with an exposure such as roster
size in the ``population`` column, used as an offset). The controls are the city's other
units of the same kind with data for the outcome, less ``--exclude-controls``.
"""

from __future__ import annotations

import pandas as pd

from impactbook.effects.guardrails import warn_dilution
from impactbook.effects.rollout import estimate_rollout
from impactbook.effects.rollout_result import RolloutEstimate
from impactbook.errors import DataError, EstimationError, ParameterError, Problem
from impactbook.workbook import CITYWIDE, Workbook, split_list, unknown_value
from impactbook.workbook.loader import load_unit_outcomes
from impactbook.workbook.periods import frequency_of, parse_period, period_word
from impactbook.workbook.schema import OUTCOMES, ROLLOUT_AREA, ROLLOUTS, UNIT_OUTCOMES


def rollout_programmes(workbook: Workbook, city: str, outcome: str | None = None
                       ) -> pd.DataFrame:
    """The city's rollout programmes (measuring ``outcome`` when given)."""
    table = workbook.interventions
    rows = table[(table["city"] == city)
                 & table["area"].map(lambda v: ROLLOUT_AREA in split_list(v))]
    if outcome is not None:
        rows = rows[[outcome in split_list(v) for v in rows["outcomes"]]]
    return rows


def find_programme(workbook: Workbook, city: str, outcome: str, programme: str | None) -> dict:
    rows = rollout_programmes(workbook, city, outcome)
    if programme is not None:
        chosen = rows[rows["id"] == programme]
        if chosen.empty:
            raise unknown_value("programme", programme, list(rows["id"]),
                                what=f"a rollout programme of {city} measuring {outcome}")
        return chosen.iloc[0].to_dict()
    if rows.empty:
        raise ParameterError("programme", None, f"a programme of {city} with area "
                             f"'{ROLLOUT_AREA}' measuring {outcome!r} in interventions.csv "
                             "(its units and starts in rollouts.csv)")
    if len(rows) > 1:
        raise ParameterError("programme", None, "--programme ID to choose among the rollouts "
                             f"of {city} measuring {outcome} ({', '.join(rows['id'])})")
    return rows.iloc[0].to_dict()


def rollout_panel(workbook: Workbook, programme: dict, outcome: str
                  ) -> tuple[pd.DataFrame, dict, dict, bool]:
    """The long panel (``unit, period, count, exposure``), starts, ends, and whether the
    units are groups of unit_outcomes.csv."""
    city = programme["city"]
    units = workbook.rollouts[workbook.rollouts["programme"] == programme["id"]]
    if units.empty:
        raise EstimationError(f"programme {programme['id']!r} has no units in rollouts.csv")
    area_names = set(workbook.index.areas(city))
    is_group = not set(units["unit"]) <= area_names
    if is_group:
        source = load_unit_outcomes(workbook)
        rows = source[(source["city"] == city) & (source["outcome"] == outcome)]
    else:
        rows = workbook.outcomes[(workbook.outcomes["city"] == city)
                                 & (workbook.outcomes["outcome"] == outcome)
                                 & (workbook.outcomes["area"] != CITYWIDE)]
    missing = sorted(set(units["unit"]) - set(rows["area"]))
    if missing:
        raise EstimationError(f"unit(s) {', '.join(missing)} of {programme['id']} have no "
                              f"{outcome} data")
    # Each label parsed once: a weekly panel holds thousands of rows per unit.
    periods = {label: parse_period(label) for label in rows["period"].unique()}
    long = pd.DataFrame({"unit": rows["area"].to_numpy(),
                         "period": rows["period"].map(periods).to_numpy(),
                         "count": rows["count"].to_numpy(dtype=float),
                         "exposure": rows["population"].to_numpy(dtype=float)})
    starts: dict = {u: None for u in long["unit"].unique()}
    ends: dict = {}
    data_freq = frequency_of(long["period"].iloc[0])
    wrong = []
    for unit, start, end in units[["unit", "start", "end"]].itertuples(index=False):
        starts[unit] = parse_period(start)
        ends[unit] = parse_period(end) if end else None
        if frequency_of(starts[unit]) != data_freq:
            wrong.append(Problem(ROLLOUTS, f"start {start!r} of {unit!r} is not of its data's "
                                 f"period frequency ({period_word(data_freq)}s in "
                                 f"{UNIT_OUTCOMES if is_group else OUTCOMES})", None, "start"))
    if wrong:  # found here when unit_outcomes.csv was not scanned at load (validate finds it)
        raise DataError(wrong)
    return long, starts, ends, is_group


def rollout_estimate(workbook: Workbook, request,
                     companion: RolloutEstimate | None = None) -> RolloutEstimate:
    """The rollout estimate a request asks for (``request.method == "rollout"``);
    ``companion``: the same rollout with other controls (its pre-trend test and static
    estimate are reused)."""
    if not workbook.index.has_city(request.city):
        raise unknown_value("city", request.city, workbook.cities)
    programme = find_programme(workbook, request.city, request.outcome, request.programme)
    long, starts, ends, is_group = rollout_panel(workbook, programme, request.outcome)
    excluded = tuple(request.exclude_controls or ())
    for name in excluded:
        if name not in starts:
            raise unknown_value("exclude_controls", name, sorted(starts),
                                what=f"units with {request.outcome} data, separated by ';'")
    target = (programme.get("target_area") or "").strip()
    dilution = warn_dilution("each unit" if not is_group else "each group", target or None,
                             is_area_larger_than_programme=not is_group or bool(target))
    return estimate_rollout(
        long, starts, ends=ends, controls=request.controls, cohort_bin=request.cohort_bin,
        anticipation=request.anticipation, exclude_controls=excluded,
        labels={"city": request.city, "outcome": request.outcome,
                "programme": programme["id"]},
        extra_warnings=[w for w in (dilution,) if w], companion=companion)
