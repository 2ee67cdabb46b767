"""A city report's staggered-rollout section: content and display.

For each rollout programme of the city (a row of interventions.csv with area ``rollout``), its
primary (first) outcome: the overall effect in words with its interval and events averted, the
pre-trend test, the event-study chart (never-treated controls, so the leads before the start
show), the cohort table, and the static two-way estimate beside it with its caveat. The
notebook calls :func:`show_rollouts`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from impactbook.analysis import make_request
from impactbook.analysis.rollout import rollout_estimate, rollout_programmes
from impactbook.effects.estimate import Z_95
from impactbook.effects.rollout_result import STATIC_CAVEAT, RolloutEstimate
from impactbook.effects.rollout_words import FREQ_WORDS, describe_rollout
from impactbook.errors import ImpactbookError
from impactbook.report.format import (
    MISSING,
    format_change,
    format_count,
    format_interval,
    format_number,
)
from impactbook.workbook import Workbook, split_list

#: A group's (or a single-group cohort's) count under this is not printed in a report.
MIN_SHOWN_GROUP_COUNT = 5
ASSUMPTIONS = (
    "What the design assumes: without the programme, each treated unit's counts would have "
    "moved by the same ratio as the controls' (parallel trends on the ratio scale); the "
    "programme did not change the controls' counts (no spillover, such as violence displaced "
    "into or calmed in neighbouring units); and nothing changed before a start beyond the "
    "periods allowed for anticipation. What it does not show: which part of a programme "
    "worked, effects on the people reached rather than on the units' counts, or whether the "
    "change lasts beyond the data."
)


@dataclass(frozen=True)
class RolloutResult:
    """One rollout programme and outcome: the estimate, the event study, or why not."""

    programme: dict
    outcome: str
    estimate: RolloutEstimate | None = None
    event_study: RolloutEstimate | None = None
    is_group: bool = False
    errors: tuple[str, ...] = field(default=())


def build_rollout_results(workbook: Workbook, city: str) -> list[RolloutResult]:
    """Every rollout of ``city``: the first outcome with its event study, the others alone."""
    results = []
    for programme in rollout_programmes(workbook, city).to_dict("records"):
        units = set(workbook.rollouts.loc[workbook.rollouts["programme"] == programme["id"],
                                          "unit"])
        is_group = not units <= set(workbook.index.areas(city))
        # The primary outcome only: each fit costs seconds; the others are one command away.
        for n, outcome in enumerate(split_list(programme["outcomes"])[:1]):
            asked = dict(city=city, outcome=outcome, method="rollout", programme=programme["id"])
            errors, estimate, study = [], None, None
            try:
                estimate = rollout_estimate(workbook, make_request(**asked))
                if n == 0 and estimate.control_units:
                    study = rollout_estimate(workbook, make_request(
                        **asked, controls="never", cohort_bin=estimate.cohort_bin),
                        companion=estimate)
            except ImpactbookError as exc:
                errors.append(str(exc))
            results.append(RolloutResult(programme, outcome, estimate, study, is_group,
                                         tuple(errors)))
    return results


def _suppressed(value: float, is_group: bool, units: int) -> str:
    """A count as printed: a group's small count is not (it could identify people)."""
    if is_group and units == 1 and value < MIN_SHOWN_GROUP_COUNT:
        return f"<{MIN_SHOWN_GROUP_COUNT}"
    return format_count(value)


def cohort_table(result: RolloutResult) -> pd.DataFrame:
    """One row per start cohort: units, change, interval, events averted."""
    est = result.estimate
    events = est.cells[est.cells["e"] >= 0].groupby("cohort")["events"].sum()
    rows = []
    for aggregate in est.by_cohort:
        observed = float(events.get(aggregate.key, float("nan")))
        small = result.is_group and aggregate.treated_units == 1 and (
            observed < MIN_SHOWN_GROUP_COUNT)
        low, high = aggregate.events_averted_interval
        rows.append({
            "start cohort": aggregate.key, "units": aggregate.treated_units,
            f"{est.outcome} from the start": _suppressed(observed, result.is_group,
                                                         aggregate.treated_units),
            "change": format_change(aggregate.rate_ratio),
            # One unit's interval rests on one cluster: not shown as if it were reliable.
            "95% interval": "one unit: none" if aggregate.is_single_unit else format_interval(
                aggregate.ci_low, aggregate.ci_high),
            "events averted (95% interval)": MISSING if small else (
                format_number(aggregate.events_averted, 0) if aggregate.is_single_unit else
                f"{format_number(aggregate.events_averted, 0)} ({format_number(low, 0)} to "
                f"{format_number(high, 0)})"),
        })
    return pd.DataFrame(rows)


def caveats(result: RolloutResult) -> list[str]:
    """The estimate's warnings, then the programme's own notes, said once."""
    est = result.estimate
    # The pre-trend test is said with the effect, above the list.
    found = [w for w in est.warnings if not est.pretrend or w != est.pretrend.text]
    single = est.single_unit_cohorts
    if single and not any("single unit" in w for w in found):
        found.append(f"Cohorts of a single unit: {', '.join(map(str, single))}.")
    found.append("Treatment that switches off is analysed as intention to treat: a unit "
                  "counts as treated from its start to the end of the data, also after a "
                  "programme there stopped.")
    if result.programme.get("notes"):
        found.append(f"From the workbook: {result.programme['notes']}")
    for item in est.dropped:
        where = item.get("unit") or " x ".join(str(item[k]) for k in ("cohort", "period")
                                                if k in item)
        found.append(f"Left out: {item['what']} {where} ({item['reason']}).")
    return found


def show_rollouts(data_dir: Path | str, city: str, report=None) -> list[RolloutResult]:
    """Display the city's rollout section (nothing when the city has no rollout); with the
    city ``report`` (a CityReport), its rollouts as the report weighed them (no second fit)."""
    from impactbook.report.content import report_workbook

    if report is not None:
        results = list(report.rollouts)
        if results:
            _show_section(results)
        return results
    workbook = report_workbook(data_dir, "city", city)
    if rollout_programmes(workbook, city).empty:
        return []
    results = build_rollout_results(workbook, city)
    _show_section(results)
    return results


def _show_section(results: list[RolloutResult]) -> None:
    from impactbook.report import sections
    from impactbook.report.rollout_chart import plot_event_study

    @sections.section("Staggered rollout")
    def show() -> None:
        e = sections.escape_html
        failed = [r for r in results if r.errors]
        for result in results:
            est = result.estimate
            name = f"{result.programme['programme']} ({result.programme['id']})"
            if est is None:
                continue
            parts = [f"<h3>{e(name)}: {e(result.outcome)}</h3>",
                     f"<p>{e(describe_rollout(est))}</p>"]
            if result.event_study is not None:
                study = result.event_study
                unit = FREQ_WORDS.get(study.freq, "period")
                hidden = sum(1 for a in study.by_event_time if not a.is_drawn)
                caption = (f"{e(result.outcome.capitalize())} in the treated units against units "
                           f"never treated within the data, by {unit}s since each unit's start, "
                           f"with 95% intervals; the reference {unit} (the one before the start) "
                           "is 0 by construction. The numbers under the axis are the treated "
                           "units behind each point. This chart checks the trends before the "
                           "start; the overall effect above compares with units not yet "
                           "treated, so its figure can differ from these points.")
                if hidden:
                    caption += (f" {hidden} event time(s) with fewer than 5 control units or a "
                                "single treated unit are not drawn.")
                # The title says the comparison: the points sit under a headline that uses
                # not-yet-treated units, and a funder reading the chart alone took them for it.
                title = (f"Event study against never-treated units: {result.outcome} by "
                         f"{unit} since the start")
                parts.append(sections.figure_html(plot_event_study(study, title=title), caption,
                                                  title))
                parts.append(sections.html_table(cohort_table(result),
                                             f"{result.outcome.capitalize()}: effect by start "
                                             "cohort (not-yet-treated controls)",
                                             text_columns=1))
            static = (f"For reference, the static two-way fixed-effects estimate that older "
                      f"evaluations report: {_static_text(est)}. {STATIC_CAVEAT}")
            parts.append(f"<p>{e(static)}</p>")
            others = split_list(result.programme["outcomes"])[1:]
            if others:
                parts.append(f"<p>{e('Other outcomes of this programme (' + ', '.join(others))}"
                             f"{e(') are estimated the same way by impactbook estimate --method ')}"
                             f"{e('rollout --outcome NAME.')}</p>")
            if result.event_study is not None:
                parts.append(f"<p>{e(ASSUMPTIONS)}</p>")
                parts.append(sections.html_list(caveats(result), "ib-caveats"))
            sections.show_html("".join(parts))
        if failed:
            raise ImpactbookError("; ".join(f"{r.programme['id']} / {r.outcome}: "
                                            f"{' | '.join(r.errors)}" for r in failed))

    show()


def _static_text(est: RolloutEstimate) -> str:
    ratio = math.exp(est.static_log_ratio)
    low = math.exp(est.static_log_ratio - Z_95 * est.static_se)
    high = math.exp(est.static_log_ratio + Z_95 * est.static_se)
    return (f"{format_change(ratio)} ({format_interval(low, high)}; log ratio "
            f"{est.static_log_ratio:.3f}, SE {est.static_se:.3f} clustered by unit)")
