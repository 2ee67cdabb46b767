"""The content of a city report and of an intervention summary, as plain data.

``build_city_report`` and ``build_intervention_summary`` compute every number
a report shows (through :mod:`impactbook.analysis`, the path the CLI uses),
and keep a failure per outcome as text instead of raising, so one bad
series shows as a visible failure in its section rather than a lost report.
Display lives in :mod:`impactbook.report.sections`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from impactbook import __version__, effects
from impactbook.analysis import combined_series, estimate_resolved, make_request, resolve_request
from impactbook.defaults import DEFAULT_POST_PERIODS
from impactbook.errors import EstimationError, ImpactbookError, ParameterError
from impactbook.workbook import (
    INTERVENTIONS,
    OUTCOMES,
    TAGS,
    Workbook,
    load_workbook,
    programmes_for_city,
    select_series,
    split_list,
    unknown_value,
)
from impactbook.workbook.digest import shown_digest

PLACEBO_CHECK = "placebo check"


@dataclass(frozen=True)
class OutcomeResult:
    """Every estimate for one programme and one outcome, or the reason there is none."""

    programme_id: str
    programme: str
    intervention: str
    outcome: str
    area: str
    start: str
    its: effects.Estimate | None = None
    prepost: effects.Estimate | None = None
    comparison: effects.Estimate | None = None
    placebo: object | None = None
    comparison_series: dict[str, pd.Series] = field(default_factory=dict)
    errors: tuple[str, ...] = ()
    method: str = "its"

    @property
    def failed_designs(self) -> tuple[str, ...]:
        """Errors of the estimates themselves; a placebo check that the data are too short
        for is a caveat the report states, not a missing section."""
        return tuple(e for e in self.errors if not e.startswith(PLACEBO_CHECK))

    @property
    def headline(self) -> effects.Estimate | None:
        """The estimate of the report's chosen design; the model when that one is absent."""
        return getattr(self, self.method) or self.its

    @property
    def finding(self) -> str:
        if self.headline is None:
            return (f"{self.programme}: no estimate for {self.outcome} "
                    f"({'; '.join(self.errors) or 'not computed'}).")
        return f"{self.programme}: {effects.describe_finding(self.headline)}"


@dataclass(frozen=True)
class CityReport:
    city: str
    programmes: pd.DataFrame
    results: tuple[OutcomeResult, ...]
    news: pd.DataFrame
    data_period: tuple[str, str]
    data_hash: str
    generated: str
    version: str = __version__

    @property
    def key_findings(self) -> list[str]:
        return [r.finding for r in self.results]

    def estimates(self) -> list[dict]:
        """Every estimate as its DESIGN.md JSON (the numbers the report prints)."""
        rows = []
        for result in self.results:
            for estimate in (result.its, result.prepost, result.comparison):
                if estimate is not None:
                    rows.append({"programme_id": result.programme_id, **estimate.to_dict()})
        return rows

    def headline(self) -> dict | None:
        """The strongest-evidence figure (narrowest interval) for an index or email."""
        best = None
        for result in self.results:
            est = result.headline
            if est is None or est.ci_low is None:
                continue
            width = est.ci_high / est.ci_low
            if best is None or width < best[0]:
                best = (width, result, est)
        if best is None:
            return None
        _, result, est = best
        record = est.to_dict()
        return {
            "text": result.finding, "outcome": est.outcome, "area": est.area,
            "programme": result.programme, "intervention": result.intervention,
            "percent_change": record["percent_change"],
            "ci_low_pct": _pct(record["ci_low"]), "ci_high_pct": _pct(record["ci_high"]),
            "excludes_no_change": bool(est.excludes_no_change),
        }


def _pct(ratio: float | None) -> float | None:
    return None if ratio is None else round((ratio - 1) * 100, 1)


def _select_programmes(workbook: Workbook, city: str,
                       interventions: list[str] | str | None) -> pd.DataFrame:
    rows = programmes_for_city(workbook, city)
    if interventions in (None, "", "*", []):
        return rows
    wanted = set(split_list(interventions) if isinstance(interventions, str) else interventions)
    chosen = rows[rows["id"].isin(wanted) | rows["intervention"].isin(wanted)]
    if chosen.empty:
        raise unknown_value("interventions", ";".join(sorted(wanted)),
                            list(rows["id"]) + list(rows["intervention"]))
    return chosen


def _outcome_result(workbook: Workbook, programme: dict, outcome: str,
                    post_periods: int, method: str = "its", *,
                    with_placebo: bool = True) -> OutcomeResult:
    base = dict(programme_id=programme["id"], programme=programme["programme"],
                intervention=programme["intervention"], outcome=outcome,
                area=programme["area"], start=programme["start"])
    common = dict(city=programme["city"], outcome=outcome, area=None,
                  start=programme["start"], post_periods=post_periods)
    # The same programme row resolves area, start and comparisons for every method.
    scoped = workbook_with_one_programme(workbook, programme)
    errors: list[str] = []
    results: dict[str, object] = {}
    for design in ("its", "prepost", "comparison"):
        if design == "comparison" and not split_list(programme.get("comparison_areas", "")):
            continue
        try:
            request = make_request(method=design, **common)
            resolved = resolve_request(scoped, request)
            results[design] = estimate_resolved(scoped, resolved, request)
        except ImpactbookError as exc:
            errors.append(f"{design}: {exc}")
    placebo = None
    its = results.get("its")
    comparison_series: dict[str, pd.Series] = {}
    # The placebo check is most of the work and only the city report shows it.
    if its is not None and with_placebo:
        try:
            resolved = resolve_request(scoped, make_request(method="its", **common))
            series = combined_series(workbook.outcomes, resolved.city, resolved.areas, outcome)
            placebo = effects.check_placebo_in_time(
                series, resolved.start, post_periods=post_periods,
                labels={"city": resolved.city, "area": resolved.area_label, "outcome": outcome},
                real=its)
            for area in resolved.comparison_areas:
                comparison_series[area] = select_series(
                    workbook.outcomes, resolved.city, area, outcome)["count"]
        except ImpactbookError as exc:
            errors.append(f"{PLACEBO_CHECK}: {exc}")
    return OutcomeResult(**base, its=results.get("its"), prepost=results.get("prepost"),
                         comparison=results.get("comparison"), placebo=placebo,
                         comparison_series=comparison_series, errors=tuple(errors),
                         method=method)


def workbook_with_one_programme(workbook: Workbook, programme: dict) -> Workbook:
    """The workbook as if ``programme`` were the city's only one (so defaults resolve to it)."""
    table = workbook.interventions
    return Workbook(root=workbook.root, outcomes=workbook.outcomes,
                    interventions=table[table["id"] == programme["id"]],
                    news=workbook.news, tags=workbook.tags, funders=workbook.funders,
                    digest=workbook.digest, warnings=workbook.warnings)


INCOMPLETE_HINT = ("fix the data or the programme row, or render with --allow-incomplete "
                   "(notebook parameter allow_incomplete = True) to publish it with them "
                   "marked missing")


def require_complete(failures: list[tuple[str, str, tuple[str, ...]]], report: str,
                     allow_incomplete: bool) -> None:
    """A report with a section that could not be computed fails (so no half-empty report
    reaches a funder) unless the user asked to publish it anyway.

    ``failures`` are ``(programme, outcome, errors)``."""
    if not failures or allow_incomplete:
        return
    listed = "; ".join(f"{programme} / {outcome}: {' | '.join(errors)}"
                       for programme, outcome, errors in failures)
    raise EstimationError(f"{len(failures)} section(s) of the report for {report} cannot be "
                          f"computed ({INCOMPLETE_HINT}): {listed}")


def build_city_report(data_dir: Path | str, city: str, *,
                      interventions: list[str] | str | None = None,
                      post_periods: int = DEFAULT_POST_PERIODS,
                      method: str = "its", today: dt.date | None = None,
                      allow_incomplete: bool = False) -> CityReport:
    """Compute everything the city report shows; raise EstimationError when a section cannot
    be computed, unless ``allow_incomplete``."""
    from impactbook.news.items import news_for_city

    if method not in ("its", "prepost", "comparison"):
        raise ParameterError("method", method, "its, prepost or comparison")
    workbook = load_workbook(data_dir, require=(OUTCOMES, INTERVENTIONS, TAGS))
    programmes = _select_programmes(workbook, city, interventions)
    results = []
    for programme in programmes.to_dict("records"):
        for outcome in split_list(programme["outcomes"]):
            results.append(_outcome_result(workbook, programme, outcome, post_periods, method))
    require_complete([(r.programme, r.outcome, r.failed_designs) for r in results
                      if r.failed_designs], city, allow_incomplete)
    city_rows = workbook.outcomes[workbook.outcomes["city"] == city]
    periods = sorted(city_rows["period"])
    news = news_for_city(workbook.news, workbook.tags, workbook.interventions, city)
    return CityReport(
        city=city, programmes=programmes, results=tuple(results), news=news,
        data_period=(periods[0], periods[-1]), data_hash=shown_digest(workbook.digest),
        generated=(today or dt.date.today()).isoformat())


@dataclass(frozen=True)
class InterventionSummary:
    intervention: str
    rows: pd.DataFrame
    pooled: object | None
    pooled_error: str | None
    news_counts: pd.DataFrame
    news: pd.DataFrame
    data_hash: str
    generated: str
    version: str = __version__


def build_intervention_summary(data_dir: Path | str, intervention: str, *,
                               post_periods: int = DEFAULT_POST_PERIODS,
                               today: dt.date | None = None,
                               allow_incomplete: bool = False) -> InterventionSummary:
    """Every city's model estimate for one intervention type, pooled by random effects.

    Each programme enters the pooled estimate once, with its first listed (primary) outcome:
    a programme's shootings and shooting victims are two views of the same events, and
    pooling both would count it twice. Every outcome is still shown in the table and plot.
    """
    from impactbook.news.items import count_tags_by_period, news_for_intervention

    workbook = load_workbook(data_dir, require=(OUTCOMES, INTERVENTIONS, TAGS))
    table = workbook.interventions
    programmes = table[table["intervention"] == intervention]
    if programmes.empty:
        raise unknown_value("intervention", intervention, table["intervention"])
    rows, estimates, failures = [], [], []
    for programme in programmes.to_dict("records"):
        for position, outcome in enumerate(split_list(programme["outcomes"])):
            result = _outcome_result(workbook, programme, outcome, post_periods,
                                     with_placebo=False)
            est = result.its
            is_pooled = position == 0 and est is not None
            rows.append({
                "city": programme["city"], "programme": programme["programme"],
                "area": est.area if est else programme["area"], "outcome": outcome,
                "in_pooled": is_pooled,
                "start": programme["start"], "confidence": programme.get("confidence", ""),
                **({k: est.to_dict()[k] for k in ("rate_ratio", "ci_low", "ci_high",
                                                   "percent_change", "p_value",
                                                   "pre_periods", "post_periods")}
                   if est else {}),
                "warnings": len(est.warnings) if est else 0,
                "error": "; ".join(result.errors) if est is None else "",
            })
            if is_pooled:
                estimates.append(est)
            if est is None:
                failures.append((programme["programme"], outcome, result.errors))
    require_complete(failures, intervention, allow_incomplete)
    pooled, pooled_error = None, None
    if len(estimates) >= 2:
        try:
            pooled = effects.pool_random_effects(estimates)
        except ImpactbookError as exc:
            pooled_error = str(exc)
    else:
        pooled_error = (f"pooling needs at least two programmes; {len(estimates)} with an "
                        f"estimate for {intervention}")
    news = news_for_intervention(workbook.news, intervention)
    return InterventionSummary(
        intervention=intervention, rows=pd.DataFrame(rows), pooled=pooled,
        pooled_error=pooled_error, news_counts=count_tags_by_period(news, freq="Y"),
        news=news, data_hash=shown_digest(workbook.digest),
        generated=(today or dt.date.today()).isoformat())
