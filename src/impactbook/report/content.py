"""The content of a city report, as plain data.

``build_city_report`` computes every number a city report shows (through
:mod:`impactbook.analysis`, the path the CLI uses), and keeps a failure per outcome as
text instead of raising, so one bad series shows as a visible failure in its section
rather than a lost report.
Display lives in :mod:`impactbook.report.sections`; an intervention summary's content in
:mod:`impactbook.report.summary_content`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from impactbook import __version__, effects
from impactbook.analysis import EstimateRequest, combined_series, make_request, resolve_request
from impactbook.analysis.programmes import (
    estimate_programme,
    programme_request,
    workbook_with_one_programme,
)
from impactbook.analysis.store import EstimateStore, active_store
from impactbook.contracts import ReportKind
from impactbook.defaults import DEFAULT_POST_PERIODS, HEADLINE_RULE
from impactbook.errors import EstimationError, ImpactbookError, ParameterError
from impactbook.report import headlines
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
from impactbook.workbook.prepared import read_prepared
from impactbook.workbook.rollouts import is_rollout

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
    #: The synthetic control: it leads the headline when it passes its test
    #: (:mod:`impactbook.effects.leading`).
    synth: effects.Estimate | None = None
    #: A programme opened unit by unit: its overall effect, weighed like the other designs.
    rollout: effects.Estimate | None = None
    placebo: object | None = None
    comparison_series: dict[str, pd.Series] = field(default_factory=dict)
    errors: tuple[str, ...] = ()
    method: str = "auto"

    @property
    def estimates_by_method(self) -> dict[str, effects.Estimate | None]:
        return {"its": self.its, "prepost": self.prepost, "comparison": self.comparison,
                "synth": self.synth, "rollout": self.rollout}

    @property
    def choice(self) -> effects.HeadlineChoice:
        """Which design leads (the strongest the data support, unless one was asked for)."""
        weighed = effects.choose_headline(self.estimates_by_method)
        if self.method == "auto" or self.method == weighed.method:
            return weighed
        asked = self.estimates_by_method.get(self.method)
        if asked is None:
            return weighed
        return dataclasses.replace(weighed, method=self.method,
                                   reason=f"the {asked.design}, as the report asks")

    @property
    def failed_designs(self) -> tuple[str, ...]:
        """Errors of the estimates themselves; a placebo check that the data are too short
        for is a caveat the report states, not a missing section."""
        # A synthetic control is tried wherever donors might exist; when it cannot be fitted
        # (too few donors, no exact match) the report says why, as for the placebo check.
        # A rollout that fails shows its failure in its own section (report.rollout_section).
        return tuple(e for e in self.errors
                     if not e.startswith(PLACEBO_CHECK) and not e.startswith("synth:")
                     and not e.startswith("rollout:"))

    @property
    def headline(self) -> effects.Estimate | None:
        method = self.choice.method
        return None if method is None else self.estimates_by_method[method]

    @property
    def warnings(self) -> tuple[str, ...]:
        """The headline estimate's warnings, then any disagreement between the designs."""
        headline = self.headline
        own = headline.warnings if headline is not None else ()
        return tuple(own) + tuple(d[0].upper() + d[1:] + "." for d in self.choice.disagreements)

    @property
    def caveat_labels(self) -> list[str]:
        """The headline's caveats in a few words each (for its card and its line)."""
        return headlines.caveat_labels(self)

    def item(self) -> dict | None:
        """The headline as the plain dict every reader-facing path formats."""
        return headlines.outcome_item(self)

    @property
    def passed_over_finding(self) -> str:
        """Each design passed over, its figure and why, in one sentence each ("" if none)."""
        return " ".join(effects.describe_passed_over(self.estimates_by_method[method], why)
                        for method, why in self.choice.passed_over)

    @property
    def plain_finding(self) -> str:
        """One plain sentence for page one (the detail is in the key findings and notes)."""
        if self.headline is None and self.choice.passed_over:
            said = self.passed_over_finding
            return f"{self.outcome[:1].upper() + self.outcome[1:]}: {said[:1].lower() + said[1:]}"
        if self.headline is None:
            return f"{self.outcome}: no estimate ({'; '.join(self.errors) or 'not computed'})."
        text = effects.describe_plain_finding(self.headline)
        if self.choice.designs_disagree:
            text += " The designs disagree (see the key findings)."
        return text

    @property
    def finding(self) -> str:
        if self.headline is None and self.choice.passed_over:
            said = self.passed_over_finding
            return f"{self.programme}: {self.outcome}: {said[:1].lower() + said[1:]}"
        if self.headline is None:
            return (f"{self.programme}: no estimate for {self.outcome} "
                    f"({'; '.join(self.errors) or 'not computed'}).")
        text = f"{self.programme}: {effects.describe_finding(self.headline)}"
        if self.choice.designs_disagree:
            text += (" The designs disagree, so the evidence on this outcome is mixed: "
                     + "; ".join(d.removeprefix("designs disagree: ")
                                 for d in self.choice.disagreements) + ".")
        return text


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
    #: Value for money of each programme x outcome with costs in costs.csv (headline design;
    #: a rollout's own figure, said when it is not the headline).
    values: tuple = ()
    #: Each rollout programme's section content (report.rollout_section.RolloutResult).
    rollouts: tuple = ()

    @property
    def key_findings(self) -> list[str]:
        return [r.finding for r in self.results]

    def estimates(self) -> list[dict]:
        """Every estimate as its docs/DESIGN.md JSON (the numbers the report prints)."""
        rows = []
        for result in self.results:
            for estimate in (result.its, result.prepost, result.comparison, result.synth):
                if estimate is not None:
                    rows.append({"programme_id": result.programme_id, **estimate.to_dict()})
        return rows

    def headline(self) -> dict | None:
        """The figure for the index and the emails: the result whose headline design is the
        strongest (synthetic control, comparison areas, ITS, pre/post), the first in
        interventions.csv order (and each programme's first listed outcome) on ties. Never
        the narrowest interval: that would let any added row with more events take over."""
        return headlines.city_headline(self.results, DESIGN_RANK, HEADLINE_RULE,
                                       value_lines=headlines.value_items(self))


#: How a report's headline is picked (shown on the index page).
DESIGN_RANK = {method: rank for rank, (method, _) in enumerate(effects.DESIGN_ORDER)}


def rounded_change_pct(ratio: float | None) -> float | None:
    """A rate ratio as a percent change rounded to a tenth, as the findings payload holds it."""
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


def outcome_result(workbook: Workbook, programme: dict, outcome: str,
                    post_periods: int, method: str = "auto", *,
                    with_placebo: bool = True, with_synth: bool = True,
                    placebos: int | None = None,
                    store: EstimateStore | None = None) -> OutcomeResult:
    """Every design of ``programme`` for ``outcome``; the interrupted time series, the one
    an intervention summary pools, is kept in ``store`` for the summaries of the run."""
    base = dict(programme_id=programme["id"], programme=programme["programme"],
                intervention=programme["intervention"], outcome=outcome,
                area=programme["area"], start=programme["start"])
    common = dict(city=programme["city"], outcome=outcome, area=None,
                  start=programme["start"], post_periods=post_periods)
    scoped = workbook_with_one_programme(workbook, programme)
    results, errors = estimate_programme(workbook, programme, outcome,
                                         post_periods=post_periods, with_synth=with_synth,
                                         placebos=placebos)
    placebo = None
    its = results.get("its")
    if store is not None and its is not None:
        store.keep(workbook, programme, programme_request(
            programme, outcome, "its", post_periods=post_periods), its)
    comparison_series: dict[str, pd.Series] = {}
    # The placebo check is most of the work and only the city report shows it.
    if its is not None and with_placebo:
        try:
            resolved = resolve_request(scoped, make_request(method="its", **common))
            series = combined_series(workbook, resolved.city, resolved.areas, outcome)
            placebo = effects.check_placebo_in_time(
                series, resolved.start, post_periods=post_periods,
                labels={"city": resolved.city, "area": resolved.area_label, "outcome": outcome},
                real=its)
            for area in resolved.comparison_areas:
                comparison_series[area] = select_series(
                    workbook, resolved.city, area, outcome)["count"]
        except ImpactbookError as exc:
            errors.append(f"{PLACEBO_CHECK}: {exc}")
    return OutcomeResult(**base, its=results.get("its"), prepost=results.get("prepost"),
                         comparison=results.get("comparison"), synth=results.get("synth"),
                         placebo=placebo,
                         comparison_series=comparison_series, errors=tuple(errors),
                         method=method)



def _rollout_results(workbook: Workbook, city: str, programmes: pd.DataFrame,
                     store: EstimateStore | None = None) -> tuple:
    """The rollout sections' content for the report's rollout programmes (each fit once);
    each overall effect, the one a summary weighs, is kept in ``store``."""
    from impactbook.effects.rollout_headline import rollout_as_estimate
    from impactbook.report.rollout_section import build_rollout_results

    chosen = {p["id"] for p in programmes.to_dict("records") if is_rollout(p)}
    if not chosen:
        return ()
    found = tuple(r for r in build_rollout_results(workbook, city)
                  if r.programme["id"] in chosen)
    for r in found:
        if store is not None and r.estimate is not None:
            store.keep(workbook, r.programme, rollout_request(r.programme, r.outcome),
                       rollout_as_estimate(r.estimate))
    return found


def rollout_request(programme: dict, outcome: str) -> EstimateRequest:
    """The request of a rollout's overall effect, as its report section and a summary ask it."""
    return make_request(city=programme["city"], outcome=outcome, method="rollout",
                        programme=programme["id"])


def _rollout_outcome_result(rollout) -> OutcomeResult:
    """A rollout programme's outcome as the report weighs it: the rollout's overall effect."""
    from impactbook.effects.rollout_headline import rollout_as_estimate

    programme = rollout.programme
    return OutcomeResult(
        programme_id=programme["id"], programme=programme["programme"],
        intervention=programme["intervention"], outcome=rollout.outcome,
        area=programme["area"], start=programme["start"],
        rollout=rollout_as_estimate(rollout.estimate) if rollout.estimate else None,
        errors=tuple(f"rollout: {e}" for e in rollout.errors))


def report_workbook(data_dir: Path | str, kind: str, name: str) -> Workbook:
    """The validated workbook a report reads: the slice its batch prepared, else the folder."""
    prepared = read_prepared(data_dir, kind, name)
    if prepared is not None:
        return prepared
    return load_workbook(data_dir, require=(OUTCOMES, INTERVENTIONS, TAGS))


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
                      method: str = "auto", today: dt.date | None = None,
                      allow_incomplete: bool = False,
                      placebos: int | None = None,
                      store: EstimateStore | None = None) -> CityReport:
    """Compute everything the city report shows; raise EstimationError when a section cannot
    be computed, unless ``allow_incomplete``.

    ``store``: where to keep the estimates an intervention summary of the same run reads
    (:mod:`impactbook.analysis.store`); default the batch's, none outside a batch.

    ``placebos`` sets the number of placebo groups of a micro-synthetic control (default
    :data:`~impactbook.defaults.DEFAULT_PLACEBOS`).

    ``method`` ``"auto"`` (the default) leads each outcome with the strongest design its data
    support; ``its``, ``prepost`` or ``comparison`` lead with that design where it exists.
    """
    from impactbook.news.link import news_for_city

    if method not in ("auto", "its", "prepost", "comparison", "synth"):
        raise ParameterError("method", method, "auto, its, prepost, comparison or synth")
    workbook = report_workbook(data_dir, ReportKind.CITY, city)
    store = store if store is not None else active_store()
    programmes = _select_programmes(workbook, city, interventions)
    results = []
    rollouts = _rollout_results(workbook, city, programmes, store)
    for programme in programmes.to_dict("records"):
        if is_rollout(programme):  # weighed here; its detail in its own section
            results.extend(_rollout_outcome_result(r) for r in rollouts
                           if r.programme["id"] == programme["id"])
            continue
        for outcome in split_list(programme["outcomes"]):
            results.append(outcome_result(workbook, programme, outcome, post_periods, method,
                                          placebos=placebos, store=store))
    require_complete([(r.programme, r.outcome, r.failed_designs) for r in results
                      if r.failed_designs], city, allow_incomplete)
    first, last = workbook.index.period_span(city)
    news = news_for_city(workbook.news, workbook.tags, workbook.interventions, city)
    from impactbook.analysis.value import rollout_value
    from impactbook.report.value_section import report_values

    # A rollout's value for money is over the months its units ran (rollout_value), from the
    # workbook read above (its slice holds costs.csv whole): the folder is not read again.
    values = report_values(workbook, programmes, [r for r in results if r.rollout is None]) + tuple(
        value for r in rollouts if r.estimate is not None
        for value in [rollout_value(workbook, r.estimate)] if value is not None)
    return CityReport(
        city=city, programmes=programmes, results=tuple(results), news=news,
        data_period=(first, last), data_hash=shown_digest(workbook.digest),
        generated=(today or dt.date.today()).isoformat(),
        values=values, rollouts=rollouts)
