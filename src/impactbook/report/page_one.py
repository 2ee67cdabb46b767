"""A report's first page: what a funder reads before anything else.

For a city report, each programme gets a card: its headline in a few words (every outcome's,
or a stated summary such as "3 of 4 outcomes fell; drug offenses showed no clear change" when
it has several, never one outcome standing for all), then one plain sentence per outcome and
the caveats of those headlines in a few words. The detail (permutation tests, the Monte Carlo
floor, Newey-West intervals, the designs passed over) is in the key findings and the methods
notes. For an intervention summary, the pooled findings and each programme's estimate, with
the design the summary pools and why a city report may lead with another.
"""

from __future__ import annotations

import pandas as pd

from impactbook.designs import DESIGN_NAMES
from impactbook.report import headlines, tables
from impactbook.report.blocks import TOC_SLOT, escape_html, html_table, show_html
from impactbook.report.content import CityReport, OutcomeResult
from impactbook.report.format import outcome_figure, summarize_outcomes
from impactbook.report.summary_content import InterventionSummary


def by_programme(report: CityReport) -> list[tuple[dict, list[OutcomeResult]]]:
    """Each programme row with its results, in the report's order."""
    return [(p, [r for r in report.results if r.programme_id == p["id"]])
            for p in report.programmes.to_dict("records")]


def source_numbers(programmes: pd.DataFrame) -> dict[str, int]:
    """Each distinct cited source (the workbook's ``source`` column) and its number."""
    numbers: dict[str, int] = {}
    for source in programmes.get("source", pd.Series(dtype=str)).fillna(""):
        if str(source).strip() and source not in numbers:
            numbers[source] = len(numbers) + 1
    return numbers


def _data_span_text(results: list[OutcomeResult]) -> str:
    spans = [tables.data_span(r.its.observed) for r in results if r.its is not None]
    spans += [r.rollout.details["data_span"] for r in results if r.rollout is not None]
    spans = [s for s in spans if s]
    if not spans:
        return ""
    return f"{min(s[0] for s in spans)} to {max(s[1] for s in spans)}"


def _area_label(programme: dict, results: list[OutcomeResult], city: str) -> str:
    """Where the programme ran; a rollout by its units ("staggered rollout, 21 treated
    units"), never the bare word of the workbook's area column."""
    rollouts = [r.rollout for r in results if r.rollout is not None]
    if rollouts:
        return f"staggered rollout, {rollouts[0].area}"
    return tables.place_label(programme["area"], city)


def programme_card(programme: dict, results: list[OutcomeResult],
                   value_lines: list[str] | tuple[str, ...] = ()) -> str:
    """One programme's card: its headline figure(s), a sentence per outcome, its caveats, and
    its value for money in one line where it has costs."""
    items = [r.item() for r in results if r.headline is not None]
    if len(items) > 1:  # the sentences below give each outcome's figure and design
        figure = summarize_outcomes(items)
        figure_html = (f"<p class='ib-headline-figure'>"
                       f"{escape_html(figure[:1].upper() + figure[1:])}.</p>")
    elif items:
        figure_html = f"<p class='ib-headline-figure'>{escape_html(outcome_figure(items[0]))}</p>"
    elif passed := [method for r in results for method, _ in r.choice.passed_over]:
        figure_html = (f"<p class='ib-headline-figure'>No headline figure: the "
                       f"{escape_html(DESIGN_NAMES[passed[0]])} does not pass its test "
                       "(below).</p>")
    else:
        figure_html = "<p class='ib-headline-figure'>No estimate.</p>"
    sentences = "".join(f"<li>{escape_html(r.plain_finding)}</li>" for r in results)
    values = "".join(f"<p class='ib-value-line'>{escape_html(line)}</p>" for line in value_lines)
    return (f"<div class='ib-headline'><h3>{escape_html(programme['programme'])}</h3>{figure_html}"
            f"<ul class='ib-plain-findings'>{sentences}</ul>{values}</div>")


def show_title(report: CityReport) -> None:
    """The title and a one-page summary: the programmes, each one's headline with its design
    and what it means, the caveats that matter; then the table of contents."""
    sources = source_numbers(report.programmes)
    frame = pd.DataFrame([{
        "Programme": p["programme"], "Type": p["intervention"],
        "Area": _area_label(p, results, report.city), "Start": p["start"],
        "Outcome data": _data_span_text(results),
        "Source": (f"[{sources[p['source']]}] " if p.get("source") in sources else "")
        + tables.confidence_label(p.get("confidence")),
    } for p, results in by_programme(report)])
    values = headlines.value_items(report)
    cards = [programme_card(p, results, [v["line"] for v in values
                                         if v["programme_id"] == p["id"]])
             for p, results in by_programme(report) if results]
    show_html(
        f"<h1 class='ib-title'>{escape_html(report.city)}: programme evaluation report</h1>"
        f"<p class='ib-provenance'>Generated {escape_html(report.generated)} by impactbook "
        f"{escape_html(report.version)}; input data hash {escape_html(report.data_hash)}.</p>"
        "<div class='ib-summary'><h2 class='ib-summary-title'>Summary</h2>"
        + html_table(frame, "Programmes evaluated: where and when each began, the outcome data "
                 "used, and how well the programme's details are verified against its source "
                 "(numbered under Sources).", text_columns=3)
        + "".join(cards)
        + "<p class='ib-note'>Each figure is the outcome's headline: the strongest design its "
        "data support, named after it (the methods notes say why each leads). \"No clear "
        "change\" means the design cannot tell the change from chance; it is not evidence of "
        "no effect.</p></div>" + TOC_SLOT)


#: Why a summary pools the interrupted time series, said where the pooled figures are.
POOLED_DESIGN_NOTE = (
    "The summary pools each programme's interrupted time series: the one design every "
    "programme has with a standard error to pool (a synthetic control has only a permutation "
    "test, and comparison areas exist for a few). A city report leads each outcome with the "
    "strongest design its data support, so its headline can differ from the figure here.")


def show_summary_title(summary: InterventionSummary) -> None:
    """The title and a one-page summary: the pooled findings, every programme's headline."""
    rows = tables.summary_table(summary.rows)
    has_estimate = (summary.rows["rate_ratio"].notna().to_numpy()
                    if "rate_ratio" in summary.rows else [False] * len(rows))
    shown = rows[has_estimate] if not rows.empty else rows
    columns = [c for c in ("City", "Programme", "Outcome (area)", "Change", "95% interval")
               if c in shown.columns]
    findings = "".join(f"<li>{escape_html(f)}</li>" for f in summary.key_findings)
    show_html(
        f"<h1 class='ib-title'>{escape_html(summary.intervention)}: results by programme</h1>"
        f"<p class='ib-provenance'>Generated {escape_html(summary.generated)} by impactbook "
        f"{escape_html(summary.version)}; input data hash {escape_html(summary.data_hash)}.</p>"
        "<div class='ib-summary'><h2 class='ib-summary-title'>Summary</h2>"
        + (f"<div class='ib-findings'><ul>{findings}</ul></div>" if findings else "")
        + (html_table(shown[columns], "Each programme's estimate for each outcome: interrupted "
                  "time series against the pre-programme trend.", text_columns=3)
           if not shown.empty else "")
        + f"<p class='ib-note'>{escape_html(POOLED_DESIGN_NOTE)}</p>"
        + "<p class='ib-caveats'><strong>Caveats:</strong> each figure is a police-area or "
        "citywide count, which dilutes programmes aimed at a few groups or blocks; programmes "
        "in one city share its trends; see each city's report for its own caveats.</p>"
        "</div>" + TOC_SLOT)
