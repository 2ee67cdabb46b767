"""From a workbook and a request to an estimate: the one path the CLI, notebooks and batch share.

The estimators in :mod:`impactbook.effects` take plain series; this module
resolves names (city, area, outcome, programme start, comparison areas)
against the workbook, so that ``impactbook estimate --json`` and the numbers
in a report are computed by exactly the same calls. :mod:`.value` adds a programme's value
for money (its costs against the estimate's events averted) on the same path; :mod:`.store`
keeps a run's estimates, each computed once and read by every later report that shows it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from impactbook import effects
from impactbook.defaults import DEFAULT_POST_PERIODS
from impactbook.errors import ParameterError
from impactbook.workbook import (
    CITYWIDE,
    INTERVENTIONS,
    OUTCOMES,
    TAGS,
    Workbook,
    load_workbook,
    select_series,
    split_list,
    unknown_value,
)
from impactbook.workbook.periods import WEEKLY, frequency_of, parse_period
from impactbook.workbook.schema import COSTS, ROLLOUT_AREA, ROLLOUTS, UNIT_COSTS

Method = Literal["its", "prepost", "comparison", "synth", "rollout"]


class EstimateRequest(BaseModel):
    """What to estimate. Immutable; unknown keys are rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    city: str = Field(min_length=1, max_length=200)
    outcome: str = Field(min_length=1, max_length=200)
    area: str | None = None
    start: str | None = None
    pre_periods: int | None = Field(default=None, ge=2, le=10_000)
    post_periods: int | None = Field(default=None, ge=1, le=10_000)
    method: Method = "its"
    comparison_areas: tuple[str, ...] | None = None
    # synth: the donor pool (default every other area of the city) and micro-synthetic
    # control's number of placebo groups (default defaults.DEFAULT_PLACEBOS).
    donors: tuple[str, ...] | None = None
    placebos: int | None = Field(default=None, ge=0, le=10_000)
    slope_change: bool = False
    family: Literal["quasi-poisson", "negative-binomial"] = "quasi-poisson"
    robust: Literal["none", "hac"] = "none"
    # rollout: which rollout programme (when a city has several), the control units (not yet
    # or never treated), how start dates are pooled, anticipation periods, units left out.
    programme: str | None = None
    controls: Literal["notyet", "never"] = "notyet"
    cohort_bin: Literal["auto", "none", "quarter", "year"] = "auto"
    anticipation: int = Field(default=0, ge=0, le=24)
    exclude_controls: tuple[str, ...] | None = None
    # rollout: also the linear Callaway and Sant'Anna view (seconds of CPU on a monthly city
    # panel, so only when asked for).
    include_cs: bool = False

    @field_validator("comparison_areas", "donors", "exclude_controls", mode="before")
    @classmethod
    def _split_areas(cls, value):
        if isinstance(value, str):
            return tuple(split_list(value)) or None
        return value

    @field_validator("include_cs")
    @classmethod
    def _check_include_cs(cls, value, info):
        if value and info.data.get("method") != "rollout":
            raise ValueError("false unless method is rollout (the Callaway and Sant'Anna view "
                             "is a view of a rollout)")
        return value

    @field_validator("start")
    @classmethod
    def _check_start(cls, value):
        if value is not None:
            try:
                parse_period(value)
            except ValueError as exc:  # becomes a pydantic error naming 'start'
                raise ValueError(f"a period YYYY-MM or YYYY-Qn ({exc})") from None
        return value


def make_request(**fields) -> EstimateRequest:
    """Build a request, turning validation failures into one :class:`ParameterError`."""
    from pydantic import ValidationError

    try:
        return EstimateRequest(**fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(p) for p in first["loc"]) or "request"
        expected = first["msg"].removeprefix("Input should be ").removeprefix("Value error, ")
        raise ParameterError(name, first.get("input"), expected) from None


@dataclass(frozen=True)
class Resolved:
    """A request with every name checked and every default filled in."""

    city: str
    outcome: str
    areas: tuple[str, ...]
    start: pd.Period
    comparison_areas: tuple[str, ...]
    programme: dict | None
    is_diluted: bool
    programme_area: str | None

    @property
    def area_label(self) -> str:
        return " + ".join(self.areas)


def _matching_programmes(workbook: Workbook, request: EstimateRequest) -> pd.DataFrame:
    table = workbook.interventions
    measures = [request.outcome in split_list(v) for v in table["outcomes"]]
    rows = table[(table["city"] == request.city).to_numpy(bool) & pd.Series(measures, dtype=bool)
                 .to_numpy()]
    if request.area is not None and request.area != CITYWIDE:
        rows = rows[[request.area in split_list(v) for v in rows["area"]]]
    # A rollout's units are in rollouts.csv: it is estimated by --method rollout only.
    if rows.empty:
        return rows
    return rows.loc[pd.Series([ROLLOUT_AREA not in split_list(v) for v in rows["area"]],
                              index=rows.index, dtype=bool)]


def check_names(workbook: Workbook, request: EstimateRequest) -> None:
    """Every name the request gives exists in the data, so the error names the option at
    fault (not a missing --start that a typo in --area made look necessary)."""
    index = workbook.index
    if not index.has_city(request.city):
        raise unknown_value("city", request.city, workbook.cities)
    areas = index.areas(request.city)
    city_outcomes = {o for area in areas for o in index.outcomes(request.city, area)}
    if request.outcome not in city_outcomes:
        raise unknown_value("outcome", request.outcome, city_outcomes,
                            what=f"an outcome with data for {request.city}")
    if request.area is not None and request.area not in areas:
        raise unknown_value("area", request.area, areas,
                            what=f"an area with data for {request.city}")
    for area in request.comparison_areas or ():
        if area in areas:
            continue
        if "," in area:
            raise ParameterError("comparison_areas", area, "areas separated by ';' (e.g. "
                                 f"\"{';'.join(a.strip() for a in area.split(','))}\")")
        raise unknown_value("comparison_areas", area, areas,
                            what=f"areas with data for {request.city}, separated by ';'")


def resolve_request(workbook: Workbook, request: EstimateRequest) -> Resolved:
    """Fill area, start and comparison areas from interventions.csv where not given."""
    check_names(workbook, request)
    programme = None
    if request.start is None or request.area is None or (
            request.method == "comparison" and not request.comparison_areas):
        rows = _matching_programmes(workbook, request)
        if len(rows) > 1 and request.start is not None:
            rows = rows[rows["start"] == request.start]  # the start names the programme
        if len(rows) > 1 and request.start is None:
            ids = ", ".join(rows["id"])
            raise ParameterError("start", None, f"--start or --area to choose among the "
                                 f"programmes of {request.city} measuring {request.outcome} "
                                 f"({ids})")
        if len(rows) == 1:
            programme = rows.iloc[0].to_dict()
        elif request.start is None:
            raise ParameterError("start", None, f"a start period: {request.city} has no "
                                 f"programme measuring {request.outcome!r} in interventions.csv")
    elif not workbook.interventions.empty:
        # Area and start given: the programme row they name (if one) still says where the
        # programme ran, so `estimate` warns of dilution exactly as the report does.
        rows = _matching_programmes(workbook, request)
        rows = rows[rows["start"] == request.start]
        if len(rows) == 1:
            programme = rows.iloc[0].to_dict()
    areas = (request.area,) if request.area else (
        tuple(split_list(programme["area"])) if programme else (CITYWIDE,))
    start = parse_period(request.start if request.start else programme["start"])
    freq = workbook.frequency(request.city)
    if freq == WEEKLY:
        raise ParameterError("method", request.method, f"rollout: {request.city}'s series are "
                             "weekly (YYYY-Www), which only the staggered rollout analyses")
    if frequency_of(start) != freq:
        unit = "quarter (YYYY-Qn)" if freq == "Q" else "month (YYYY-MM)"
        raise ParameterError("start", request.start, f"a {unit} like the data of {request.city}")
    comparison = tuple(request.comparison_areas or ())
    if not comparison and programme is not None:
        comparison = tuple(split_list(programme.get("comparison_areas", "")))
    if request.method == "comparison" and not comparison:
        raise ParameterError("comparison_areas", None,
                             "one or more areas (\"A;B\") to compare the programme area with")
    programme_areas = set(split_list(programme["area"])) if programme else set(areas)
    target = (programme.get("target_area") or "").strip() if programme else ""
    # The workbook says where the programme actually ran when the analysed area is larger.
    is_diluted = bool(target) or (CITYWIDE in areas and CITYWIDE not in programme_areas)
    where = target or (programme["area"] if programme else None)
    return Resolved(request.city, request.outcome, areas, start, comparison, programme,
                    is_diluted, where)


def combined_series(source: Workbook | pd.DataFrame, city: str, areas: tuple[str, ...],
                    outcome: str) -> pd.DataFrame:
    """The sum of several areas' series; a period missing in any area stays missing."""
    frames = [select_series(source, city, area, outcome) for area in areas]
    if len(frames) == 1:
        return frames[0]
    joined = pd.concat(frames, axis=1, keys=range(len(frames)), join="outer")
    counts = joined.xs("count", axis=1, level=1).sum(axis=1, min_count=len(frames))
    population = joined.xs("population", axis=1, level=1).sum(axis=1, min_count=len(frames))
    return pd.DataFrame({"count": counts, "population": population})


def comparison_panel(source: Workbook | pd.DataFrame, resolved: Resolved) -> pd.DataFrame:
    """Long frame (area, period, count, population, is_treated) for the DiD model."""
    parts = []
    treated = combined_series(source, resolved.city, resolved.areas, resolved.outcome)
    parts.append(treated.assign(area=resolved.area_label, is_treated=True))
    for area in resolved.comparison_areas:
        if area in resolved.areas:
            raise ParameterError("comparison_areas", area, "areas other than the programme's")
        series = select_series(source, resolved.city, area, resolved.outcome)
        parts.append(series.assign(area=area, is_treated=False))
    panel = pd.concat(parts)
    panel.index.name = "period"
    return panel.reset_index()


def estimate_resolved(workbook: Workbook, resolved: Resolved,
                      request: EstimateRequest) -> effects.Estimate:
    labels = {"city": resolved.city, "area": resolved.area_label, "outcome": resolved.outcome}
    if request.method == "synth":
        from impactbook.analysis.synth import synth_estimate

        return synth_estimate(workbook, resolved, request)
    if request.method == "comparison":
        panel = comparison_panel(workbook, resolved)
        return effects.estimate_comparison(
            panel, resolved.start, pre_periods=request.pre_periods,
            post_periods=request.post_periods or DEFAULT_POST_PERIODS, labels=labels,
            programme_area=resolved.programme_area,
            is_area_larger_than_programme=resolved.is_diluted)
    series = combined_series(workbook, resolved.city, resolved.areas, resolved.outcome)
    if request.method == "prepost":
        return effects.estimate_prepost(
            series, resolved.start, pre_periods=request.pre_periods,
            post_periods=request.post_periods or DEFAULT_POST_PERIODS, labels=labels,
            programme_area=resolved.programme_area,
            is_area_larger_than_programme=resolved.is_diluted)
    return effects.estimate_its(
        series, resolved.start, pre_periods=request.pre_periods,
        post_periods=request.post_periods or DEFAULT_POST_PERIODS,
        slope_change=request.slope_change,
        family=request.family, robust=request.robust, labels=labels,
        programme_area=resolved.programme_area,
        is_area_larger_than_programme=resolved.is_diluted)


def open_workbook(path: Path | str = "data") -> Workbook:
    """The validated workbook of folder ``path``: the library's entry point.

    Every table is validated as ``impactbook validate`` does (a :class:`DataError` lists every
    problem); the result displays as a short summary and answers ``wb.estimate(...)`` and
    ``wb.estimates()`` through this module, the path the CLI, notebooks and batch share.
    """
    return load_workbook(path)


def estimate_for(workbook: Workbook, request: EstimateRequest):
    """The estimate a request asks for: an :class:`effects.Estimate`, or for ``rollout`` a
    :class:`~impactbook.effects.rollout_result.RolloutEstimate`."""
    if request.method == "rollout":
        from impactbook.analysis.rollout import rollout_estimate

        estimate = rollout_estimate(workbook, request)
        return _with_callaway_santanna(workbook, request, estimate) if request.include_cs else (
            estimate)
    return estimate_resolved(workbook, resolve_request(workbook, request), request)


def _with_callaway_santanna(workbook: Workbook, request: EstimateRequest, estimate):
    """The rollout ``estimate`` with its Callaway and Sant'Anna view, on the count model's
    panel: its units, cohort bin, anticipation and controls."""
    from dataclasses import replace

    from impactbook.analysis.rollout import find_programme, rollout_panel
    from impactbook.effects.rollout_cs import rollout_view

    programme = find_programme(workbook, request.city, request.outcome, request.programme)
    long, starts, _, _ = rollout_panel(workbook, programme, request.outcome)
    units = {u["unit"] for u in estimate.units} | set(estimate.control_units)
    view = rollout_view(long, {u: s for u, s in starts.items() if u in units},
                        controls=request.controls, cohort_bin=estimate.cohort_bin,
                        anticipation=request.anticipation, units=units)
    return replace(estimate, callaway_santanna=view)


#: What an estimate and its value for money read: news, funders and areas are left unread
#: (areas.csv, which synthetic control's covariates come from, is read on demand).
ESTIMATE_TABLES = (OUTCOMES, INTERVENTIONS, TAGS, COSTS, UNIT_COSTS)


def estimate_workbook(data_dir: Path | str, require: tuple[str, ...], method: str) -> Workbook:
    """The tables of ``data_dir`` an estimate by ``method`` uses, validated."""
    tables = ESTIMATE_TABLES + ((ROLLOUTS,) if method == "rollout" else ())
    return load_workbook(data_dir, require=require, tables=tables)


def _request_and_workbook(data_dir: Path, request: EstimateRequest | dict,
                          ) -> tuple[EstimateRequest, Workbook]:
    if isinstance(request, dict):
        request = make_request(**request)
    needs = (OUTCOMES,) if request.start and request.method != "rollout" else (
        OUTCOMES, INTERVENTIONS)
    return request, estimate_workbook(data_dir, needs, request.method)


def run_estimate(data_dir: Path, request: EstimateRequest | dict):
    """Load what the request needs from ``data_dir`` and estimate."""
    request, workbook = _request_and_workbook(data_dir, request)
    return estimate_for(workbook, request)


def run_estimate_with_value(data_dir: Path, request: EstimateRequest | dict):
    """:func:`run_estimate`, and the programme's value for money (``ValueForMoney``) when
    costs.csv has its costs (else None), from one read of the workbook."""
    from impactbook.analysis.value import rollout_value, value_for

    request, workbook = _request_and_workbook(data_dir, request)
    if request.method == "rollout":
        estimate = estimate_for(workbook, request)
        return estimate, rollout_value(workbook, estimate)
    resolved = resolve_request(workbook, request)
    estimate = estimate_resolved(workbook, resolved, request)
    return estimate, value_for(workbook, resolved.programme, resolved.areas, estimate)
