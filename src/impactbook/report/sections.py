"""Report sections: each ``show_*`` displays one section of a notebook.

These are the notebook's edge: they turn the plain data of
:mod:`impactbook.report.content` into HTML and figures. Every piece of text that
came from a data file is escaped. A section that fails shows a visible
failure box naming what went wrong, never a silent gap, and never stops the
sections after it.
"""

from __future__ import annotations

import pandas as pd
from IPython.display import display

from impactbook import effects
from impactbook.contracts import findings_output
from impactbook.designs import DESIGN_NAMES
from impactbook.report import tables
from impactbook.report.blocks import (  # noqa: F401 - the notebooks' edge reuses them
    TOC_SLOT,
    drop_pending_heading,
    escape_html,
    figure_html,
    html_list,
    html_table,
    section,
    show_html,
)
from impactbook.report.content import (
    PLACEBO_CHECK,
    CityReport,
    OutcomeResult,
)
from impactbook.report.format import (
    format_change,
    format_interval,
    format_p,
)
from impactbook.report.methods import show_methods  # noqa: F401 - the notebooks call it here
from impactbook.report.page_one import (  # noqa: F401 - the notebooks call them here
    by_programme,
    show_summary_title,
    show_title,
    source_numbers,
)
from impactbook.report.summary_content import InterventionSummary
from impactbook.workbook.rollouts import is_rollout


def _findings_payload(report) -> dict:
    return {"key_findings": report.key_findings, "estimates": report.estimates(),
            "headline": report.headline()}


@section("Key findings")
def show_key_findings(report: CityReport) -> None:
    items = "".join(f"<li>{escape_html(s)}</li>" for s in report.key_findings)
    show_html(f"<div class='ib-findings'><ul>{items}</ul></div>")
    payload = _findings_payload(report)
    # A machine-readable copy for the batch manifest and the funders' emails.
    display(findings_output(**payload, text=f"{len(payload['key_findings'])} key finding(s)"),
            raw=True)


#: What each design compares the programme area with, in a few words.
_AGAINST = {"synth": "a weighted mix of other areas",
            "comparison": "the change in the comparison areas",
            "prepost": "the same number of periods before",
            "its": "the area's own trend"}


def _headline_note(result: OutcomeResult, shown: effects.Estimate) -> str:
    """Where a chart shows a design other than the headline's: which leads, with its figure,
    and why the two numbers differ (said in the caption, beside the other number)."""
    headline = result.headline
    if headline is None or headline is shown:
        return "The headline design for this outcome."
    return (f"Not the headline: the {DESIGN_NAMES[headline.method]} leads "
            f"({format_change(headline.rate_ratio)}, against {_AGAINST[headline.method]}; "
            f"this chart is against {_AGAINST[shown.method]}).")


def _chart_caption(result: OutcomeResult) -> str:
    est = result.its
    unit = "quarters" if str(est.start.freqstr).startswith("Q") else "months"
    return (f"Interrupted time series. {escape_html(result.outcome.capitalize())} in "
            f"{escape_html(tables.place_label(est.area, est.city))}"
            f", {est.pre_periods} {unit} before and {est.post_periods} after the start "
            f"({escape_html(est.to_dict()['start'])}). Dashed line and grey band: what the "
            "pre-programme trend and season project without the programme, with its 95% "
            "band. Model change " + escape_html(format_change(est.rate_ratio)) + " (95% interval "
            + escape_html(format_interval(est.ci_low, est.ci_high)) + "). "
            + escape_html(_headline_note(result, est)))


def _placebo_caption(result: OutcomeResult) -> str:
    return (f"False-start check for {escape_html(result.outcome)}: the model re-fitted at "
            "every false start date before the real one (bars), and the real start's change "
            "(red line). "
            f"{escape_html(result.placebo.interpretation)}")


def _not_run_note(error: str) -> str:
    """``placebo check: <series>: too few periods ...`` -> ``False-start check not run: too
    few periods ...`` (the series is already named by the chart above)."""
    what, _, reason = error.partition(": ")
    series, _, after = reason.partition(": ")
    if " / " in series and after:  # "City / area / outcome: reason"
        reason = after
    label = "False-start check" if what == PLACEBO_CHECK else "Synthetic control"
    return f"{label} not run: {reason}"


@section("Outcomes, one chart each")
def show_outcome_charts(report: CityReport) -> None:
    from impactbook.report.plots import plot_outcome_series, plot_placebo, plot_synth

    for programme, results in by_programme(report):
        if is_rollout(programme):  # charted in its own section (report.rollout_section)
            continue
        name = tables.programme_label(programme["programme"], programme["intervention"])
        heading = f"<h3>{escape_html(name)}</h3>"
        for result in results:
            if result.its is None:
                show_html(heading + f"<div class='ib-failure'>No model estimate for "
                          f"{escape_html(result.outcome)}: "
                          f"{escape_html('; '.join(result.errors))}</div>")
                heading = ""
                continue
            fig = plot_outcome_series(result.its, comparison=result.comparison_series or None,
                                      is_headline=result.headline is result.its)
            show_html(heading + figure_html(fig, _chart_caption(result),
                                    f"{result.outcome} over time"))
            heading = ""
            placebo = result.placebo
            if placebo is not None and not placebo.is_skipped:
                show_html(figure_html(plot_placebo(placebo.placebo_log_rate_ratios,
                                           result.its.log_rate_ratio),
                              _placebo_caption(result), "false-start check"))
            elif placebo is not None:
                show_html(f"<p class='ib-note'>{escape_html(placebo.interpretation)}</p>")
            if result.synth is not None:
                show_html(figure_html(plot_synth(result.synth,
                                         is_headline=result.headline is result.synth),
                              _synth_caption(result.synth) + " "
                              + escape_html(_headline_note(result, result.synth)),
                              f"{result.outcome}: observed against the synthetic control"))
            errors = [e for e in result.errors if not e.startswith("its:")]
            for note in [e for e in errors if e.startswith((PLACEBO_CHECK, "synth:"))]:
                # A check or design the data cannot support is a caveat, said in words.
                show_html(f"<p class='ib-note'>{escape_html(_not_run_note(note))}</p>")
            errors = [e for e in errors if not e.startswith((PLACEBO_CHECK, "synth:"))]
            if errors:
                show_html("<div class='ib-failure'>" + "<br>".join(escape_html(e) for e in errors)
                      + "</div>")
        caveats = [str(c) for c in tables.result_caveats(results)] + [
            f"{r.outcome}: {d}." for r in results for d in r.choice.disagreements]
        if caveats:
            show_html(heading + "<div class='ib-caveat-list'><p><strong>Caveats for "
                  f"{escape_html(programme['programme'])}</strong></p>"
                  + html_list(caveats, "ib-warnings") + "</div>")


def _synth_caption(est: effects.Estimate) -> str:
    """The permutation result in a few words, the totals, and the top donors when identified
    (how the permutation test works is said once, in the methods notes)."""
    details = est.details
    text = (f"Synthetic control ({escape_html(est.model)}), {details['donors']:,} donors. Observed "
            f"{details['observed_total']:.0f} against synthetic "
            f"{details['synthetic_total']:.1f} after the start; among "
            f"{details.get('placebos', 0)} placebos, permutation p "
            f"{escape_html(format_p(est.p_value))} (two-sided), "
            f"{escape_html(format_p(details['p_value_lower']))} for a fall this large "
            "(one-sided). ")
    if details.get("weights"):
        donors = ", ".join(f"{escape_html(w['area'])} {w['weight']:.2f}"
                           for w in details["weights"][:5])
        return text + f"Top donors: {donors}."
    return text + f"Donor weights {escape_html(details.get('weights_note', ''))}."


@section("Estimates")
def show_estimates_table(report: CityReport) -> None:
    shown = 0
    for programme, results in by_programme(report):
        if is_rollout(programme):  # its tables are in its own section
            continue
        frame = tables.estimates_table(results)
        if frame.empty:
            continue
        shown += 1
        where = tables.place_label(programme["area"], report.city)
        show_html(html_table(frame, f"Estimates for {programme['programme']} ({where}, from "
                            f"{programme['start']}).", text_columns=2))
    if not shown:
        show_html("<p>The staggered rollouts' estimates are in their own section.</p>"
              if report.rollouts else "<p>No estimates could be computed.</p>")
        return
    show_html("<p class='ib-note'>Change is against what each design expects without the "
          "programme; the interval is 95%; p is the two-sided p-value. The naive before/after "
          "figure compares mean counts over equal windows and ignores trend and season; the "
          "interrupted time series (a count model with trend and season) and the comparison "
          "areas design (difference in differences against the listed areas: a ratio of rate "
          "ratios) are the model figures. The headline of each outcome is the strongest design "
          "its data support (the methods notes give the rule and each outcome's reason). "
          "Events averted: expected minus observed over the post window (negative: more than "
          "expected). Detectable change: "
          "the smallest fall the design detects with 80% power at the 5% level. False starts "
          "as large: of the false start dates before the real one, how many give a change at "
          "least as large (and the rank p-value).</p>")


@section("News coverage")
def show_news(news: pd.DataFrame) -> None:
    from impactbook.news.html_list import render_news_html

    show_html(render_news_html(news, empty_message="The workbook has no news items for this "
                                                "report."))


def _sources_html(programmes: pd.DataFrame) -> str:
    numbers = source_numbers(programmes)
    records = programmes.to_dict("records")
    items = []
    for source, number in numbers.items():
        cited_for = [f"{p['programme']} ({p['city']})" for p in records
                     if p.get("source") == source]
        items.append(f"<li value='{number}'>[{number}] {escape_html(source)}. Cited for: "
                     f"{escape_html('; '.join(cited_for))}.</li>")
    uncited = [f"{p['programme']} ({p['city']})" for p in records
               if not str(p.get("source") or "").strip()]
    notes = (f"<p>No source is recorded for: {escape_html('; '.join(uncited))}.</p>"
             if uncited else "")
    return (f"<ol class='ib-sources'>{''.join(items)}</ol>{notes}<p class='ib-note'>Programme "
            "details (start, area, outcomes) come from the workbook's interventions.csv, whose "
            "source column is cited above; the outcome counts come from its outcomes.csv, "
            "whose origin (the police and crime data releases) is described in the workbook's "
            "SOURCES.md.</p>")


@section("Sources")
def show_sources(report: CityReport | InterventionSummary) -> None:
    show_html(_sources_html(report.programmes))


@section("Pooled estimates")
def show_pooled(summary: InterventionSummary) -> None:
    from impactbook.report.plots import plot_forest

    findings = summary.key_findings
    payload = {"key_findings": findings, "estimates": summary.rows.to_dict("records"),
               "headline": _pooled_headline(summary)}
    display(findings_output(**payload, text="pooled estimate"), raw=True)
    # The pooled sentences lead the summary; this section shows where they come from.
    if "rate_ratio" not in summary.rows or summary.rows["rate_ratio"].isna().all():
        show_html(html_list(findings, "ib-findings") or "<p>No estimates could be computed.</p>")
        return
    for outcome, rows in summary.rows.dropna(subset=["rate_ratio"]).groupby("outcome",
                                                                            sort=False):
        labels = [f"{r['city']}, {tables.area_label(r['area'])}: {r['programme']}"
                  for r in rows.to_dict("records")]
        pooled = summary.pooled.get(outcome)
        note = summary.pooling_notes.get(outcome)
        show_html(figure_html(plot_forest(rows.assign(label=labels), pooled,
                                  title=f"{summary.intervention}: {outcome}, by programme"),
                      f"{escape_html(outcome.capitalize())}: each programme's model estimate "
                      "with its 95% interval (squares)"
                      + ("; diamond: the random-effects pooled estimate (Hartung-Knapp "
                         "interval)." if pooled is not None
                         else f"; not pooled: {escape_html(note or 'too few programmes')}."),
                      f"forest plot of {outcome}"))


def _pooled_headline(summary: InterventionSummary) -> dict | None:
    outcome = summary.main_outcome
    if outcome is None:
        return None
    pooled = summary.pooled[outcome]
    return {"text": effects.describe_pooled(pooled, summary.intervention, outcome),
            "outcome": outcome, "area": "pooled", "design": "random-effects pooling",
            "programme": summary.intervention, "intervention": summary.intervention,
            "places": effects.describe_places(list(pooled.studies["city"])),
            # Unrounded: the index rounds once, through report.format, as the report does.
            "percent_change": (pooled.rate_ratio - 1) * 100,
            "ci_low_pct": (pooled.ci_low - 1) * 100, "ci_high_pct": (pooled.ci_high - 1) * 100,
            "excludes_no_change": bool(pooled.excludes_no_change)}


@section("Estimates by programme")
def show_summary_table(summary: InterventionSummary) -> None:
    frame = tables.summary_table(summary.rows)
    if frame.empty:
        show_html("<p>No estimates could be computed.</p>")
        return
    show_html(html_table(frame, f"Every programme's interrupted time series estimate for "
                        f"{summary.intervention}, by outcome. Pooled: whether the row enters "
                        "its outcome's pooled estimate. Source: how well the programme's "
                        "details are verified against its cited source.", text_columns=3))
    caveats = []
    records = summary.rows.to_dict("records")
    for programme in summary.programmes.to_dict("records"):
        mine = [r for r in records if r["programme"] == programme["programme"]
                and r["city"] == programme["city"]]
        found = [(r["outcome"], w) for r in mine for w in r.get("caveats") or []]
        for caveat in tables.merge_caveats(found, [r["outcome"] for r in mine]):
            caveats.append(f"{programme['programme']} ({programme['city']}): {caveat}")
    if caveats:
        show_html("<div class='ib-caveat-list'><p><strong>Caveats, by programme</strong></p>"
              + html_list(caveats, "ib-warnings") + "</div>")
    notes = [f"{outcome}: random-effects pooling ({p.method}, {p.interval} interval) of "
             f"{effects.describe_places(list(p.studies['city']))}: tau-squared {p.tau2:.4f}, "
             f"I-squared {p.i2 * 100:.0f}%, Q {p.q:.2f}, 95% prediction interval "
             f"{format_interval(p.pi_low, p.pi_high)}." for outcome, p in summary.pooled.items()]
    notes += [f"{outcome}: {note}." for outcome, note in summary.pooling_notes.items()]
    notes.append("Outcomes are pooled one at a time (shootings and shooting victims count the "
                 "same events), each programme once, and only when at least "
                 f"{effects.MIN_PROGRAMMES} programmes have an estimate. Programmes in the same "
                 "city share its trends and are not fully independent; treat a pooled figure "
                 "as a summary of these evaluations, not a trial result.")
    show_html(html_list(notes, "ib-notes"))


@section("News coverage over time")
def show_news_counts(summary: InterventionSummary) -> None:
    from impactbook.report.plots import plot_tag_counts

    if summary.news_counts.empty:
        # Nothing to count: the news list that follows says so, under one heading only.
        drop_pending_heading()
        return
    show_html(figure_html(plot_tag_counts(summary.news_counts,
                                  title=f"News items tagged {summary.intervention}, by year"),
                  "News items in the workbook, counted by tag and year.", "news counts"))
