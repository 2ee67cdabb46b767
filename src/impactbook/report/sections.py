"""Report sections: each ``show_*`` displays one section of a notebook.

These are the notebook's edge: they turn the plain data of
:mod:`impactbook.report.content` into HTML and figures. Every piece of text that
came from a data file is escaped. A section that fails shows a visible
failure box naming what went wrong, never a silent gap, and never stops the
sections after it.
"""

from __future__ import annotations

import contextvars
import functools
import html
import json

import pandas as pd
from IPython.display import HTML, display

from impactbook import effects
from impactbook.defaults import FINDINGS_MIME
from impactbook.effects.findings import describe_caveats
from impactbook.fsutil import slugify
from impactbook.report import tables
from impactbook.report.content import CityReport, InterventionSummary, OutcomeResult, _pct
from impactbook.report.format import format_change, format_interval, format_number

#: Where the export puts the table of contents (the section headings it finds).
TOC_SLOT = "<div class='ib-toc'></div>"

# A section's heading waits to be shown with the section's first block, so that a page break
# can never fall between a heading and what it introduces.
_PENDING_HEADING: contextvars.ContextVar[str] = contextvars.ContextVar("heading", default="")


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _show(markup: str) -> None:
    """Display one block of report HTML, headed by the section heading if still pending."""
    heading = _PENDING_HEADING.get()
    _PENDING_HEADING.set("")
    display(HTML(heading + markup))


def section(title: str):
    """Head the section with ``title``, run it, and show a failure box if it raises."""

    def wrap(func):
        @functools.wraps(func)
        def run(*args, **kwargs):
            _PENDING_HEADING.set(f"<h2 class='ib-section' id='{_e(slugify(title))}'>"
                                 f"{_e(title)}</h2>")
            try:
                return func(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - a report shows its failures
                _show("<div class='ib-failure'><strong>This section could not be produced."
                      f"</strong> {_e(type(exc).__name__)}: {_e(exc)}</div>")
                return None
            finally:
                if _PENDING_HEADING.get():
                    _show("")

        return run

    return wrap


def _figure(fig, caption_html: str, alt: str) -> str:
    """A chart and its caption as one block (the export numbers the captions)."""
    from impactbook.report.plots import figure_data_uri

    return (f"<figure class='ib-figure'><img src='{figure_data_uri(fig)}' alt='{_e(alt)}'>"
            f"<figcaption>{caption_html}</figcaption></figure>")


def _table(frame: pd.DataFrame, caption: str, *, text_columns: int = 1) -> str:
    """A table with a caption (numbered by the export); the first ``text_columns`` columns
    are text (left-aligned), the others figures (right-aligned)."""
    def cell(tag: str, i: int, value: object) -> str:
        css = " class='ib-text'" if i < text_columns else ""
        scope = " scope='col'" if tag == "th" else ""
        return f"<{tag}{scope}{css}>{_e(value)}</{tag}>"

    head = "".join(cell("th", i, c) for i, c in enumerate(frame.columns))
    body = "".join("<tr>" + "".join(cell("td", i, v) for i, v in enumerate(row)) + "</tr>"
                   for row in frame.itertuples(index=False))
    return (f"<table class='ib-table'><caption>{_e(caption)}</caption><thead><tr>{head}"
            f"</tr></thead><tbody>{body}</tbody></table>")


def _list(items, css: str) -> str:
    if not items:
        return ""
    return f"<ul class='{css}'>" + "".join(f"<li>{_e(i)}</li>" for i in items) + "</ul>"


def _by_programme(report: CityReport) -> list[tuple[dict, list[OutcomeResult]]]:
    """Each programme row with its results, in the report's order."""
    return [(p, [r for r in report.results if r.programme_id == p["id"]])
            for p in report.programmes.to_dict("records")]


def _source_numbers(programmes: pd.DataFrame) -> dict[str, int]:
    """Each distinct cited source (the workbook's ``source`` column) and its number."""
    numbers: dict[str, int] = {}
    for source in programmes.get("source", pd.Series(dtype=str)).fillna(""):
        if str(source).strip() and source not in numbers:
            numbers[source] = len(numbers) + 1
    return numbers


def _data_span_text(results: list[OutcomeResult]) -> str:
    spans = [tables.data_span(r.its.observed) for r in results if r.its is not None]
    spans = [s for s in spans if s]
    if not spans:
        return ""
    return f"{min(s[0] for s in spans)} to {max(s[1] for s in spans)}"


def _headline_line(result: OutcomeResult) -> str:
    est = result.headline
    if est is None:
        return f"{result.outcome}: no estimate"
    design = tables.DESIGN_LABELS.get(est.method, est.method)
    return (f"{result.outcome} in {tables.place_label(est.area, est.city)}: "
            f"{format_change(est.rate_ratio)} (95% interval "
            f"{format_interval(est.ci_low, est.ci_high)}), {design}")


def show_title(report: CityReport) -> None:
    """The title and a one-page summary: the programmes, each one's headline with its design
    and what it means, the caveats that matter; then the table of contents."""
    sources = _source_numbers(report.programmes)
    frame = pd.DataFrame([{
        "Programme": p["programme"], "Type": p["intervention"],
        "Area": tables.place_label(p["area"], report.city), "Start": p["start"],
        "Outcome data": _data_span_text(results),
        "Source": (f"[{sources[p['source']]}] " if p.get("source") in sources else "")
        + tables.confidence_label(p.get("confidence")),
    } for p, results in _by_programme(report)])
    blocks = []
    for p, results in _by_programme(report):
        if not results:
            continue
        lead = results[0]  # the programme's primary (first listed) outcome
        # Each warning's short label once (one at a time: the same kind of warning from two
        # designs must not read as a second, unnamed caveat).
        labels = dict.fromkeys(
            describe_caveats([w]) for r in results for d in tables.DESIGNS
            if getattr(r, d) is not None for w in getattr(r, d).warnings)
        caveats = "; ".join(label for label in labels if label)
        blocks.append(
            "<div class='ib-headline'>"
            f"<h3>{_e(p['programme'])}</h3>"
            f"<p class='ib-headline-figure'>{_e(_headline_line(lead))}</p>"
            f"<p>{_e(lead.finding)}</p>"
            + (f"<p class='ib-caveats'><strong>Caveats:</strong> {_e(caveats)}.</p>"
               if caveats else "") + "</div>")
    _show(
        f"<h1 class='ib-title'>{_e(report.city)}: programme evaluation report</h1>"
        f"<p class='ib-provenance'>Generated {_e(report.generated)} by impactbook "
        f"{_e(report.version)} from the workbook with data hash {_e(report.data_hash)}.</p>"
        "<div class='ib-summary'><h2 class='ib-summary-title'>Summary</h2>"
        + _table(frame, "Programmes evaluated: where and when each began, the outcome data "
                 "used, and how well the programme's details are verified against its source "
                 "(numbered under Sources).", text_columns=3)
        + "".join(blocks) + "</div>" + TOC_SLOT)


def _findings_payload(report) -> dict:
    return {"key_findings": report.key_findings, "estimates": report.estimates(),
            "headline": report.headline()}


@section("Key findings")
def show_key_findings(report: CityReport) -> None:
    items = "".join(f"<li>{_e(s)}</li>" for s in report.key_findings)
    _show(f"<div class='ib-findings'><ul>{items}</ul></div>")
    payload = _findings_payload(report)
    # A machine-readable copy for the batch manifest and the funders' emails.
    display({FINDINGS_MIME: json.loads(json.dumps(payload, allow_nan=False)),
             "text/plain": f"{len(payload['key_findings'])} key finding(s)"}, raw=True)


def _chart_caption(result: OutcomeResult) -> str:
    est = result.its
    unit = "quarters" if str(est.start.freqstr).startswith("Q") else "months"
    return (f"{_e(result.outcome.capitalize())} in {_e(tables.place_label(est.area, est.city))}"
            f", {est.pre_periods} {unit} before and {est.post_periods} after the start "
            f"({_e(est.to_dict()['start'])}). Dashed line and grey band: what the "
            "pre-programme trend and season project without the programme, with its 95% "
            "band. Model change " + _e(format_change(est.rate_ratio)) + " (95% interval "
            + _e(format_interval(est.ci_low, est.ci_high)) + ").")


def _placebo_caption(result: OutcomeResult) -> str:
    return (f"False-start check for {_e(result.outcome)}: the model re-fitted at every false "
            "start date before the real one (bars), and the real start's change (red line). "
            f"{_e(result.placebo.interpretation)}")


@section("Outcomes, one chart each")
def show_outcome_charts(report: CityReport) -> None:
    from impactbook.report.plots import plot_outcome_series, plot_placebo

    for programme, results in _by_programme(report):
        name = tables.programme_label(programme["programme"], programme["intervention"])
        heading = f"<h3>{_e(name)}</h3>"
        for result in results:
            if result.its is None:
                _show(heading + f"<div class='ib-failure'>No model estimate for "
                      f"{_e(result.outcome)}: {_e('; '.join(result.errors))}</div>")
                heading = ""
                continue
            fig = plot_outcome_series(result.its, comparison=result.comparison_series or None)
            _show(heading + _figure(fig, _chart_caption(result),
                                    f"{result.outcome} over time"))
            heading = ""
            placebo = result.placebo
            if placebo is not None and len(placebo.placebo_log_rate_ratios):
                _show(_figure(plot_placebo(placebo.placebo_log_rate_ratios,
                                           result.its.log_rate_ratio),
                              _placebo_caption(result), "false-start check"))
            errors = [e for e in result.errors if not e.startswith("its:")]
            if errors:
                _show("<div class='ib-failure'>" + "<br>".join(_e(e) for e in errors)
                      + "</div>")
        caveats = tables.result_caveats(results)
        if caveats:
            _show(heading + "<div class='ib-caveat-list'><p><strong>Caveats for "
                  f"{_e(programme['programme'])}</strong></p>"
                  + _list([str(c) for c in caveats], "ib-warnings") + "</div>")


@section("Estimates")
def show_estimates_table(report: CityReport) -> None:
    shown = 0
    for programme, results in _by_programme(report):
        frame = tables.estimates_table(results)
        if frame.empty:
            continue
        shown += 1
        where = tables.place_label(programme["area"], report.city)
        _show(_table(frame, f"Estimates for {programme['programme']} ({where}, from "
                            f"{programme['start']}).", text_columns=2))
    if not shown:
        _show("<p>No estimates could be computed.</p>")
        return
    _show("<p class='ib-note'>Change is against what each design expects without the "
          "programme; the interval is 95%; p is the two-sided p-value. The naive before/after "
          "figure compares mean counts over equal windows and ignores trend and season; the "
          "interrupted time series (a count model with trend and season) and the comparison "
          "areas design (difference in differences against the listed areas: a ratio of rate "
          "ratios) are the model figures. False starts as large: of the false start dates "
          "before the real one, how many give a change at least as large (and the "
          "permutation p-value).</p>")


@section("News coverage")
def show_news(news: pd.DataFrame) -> None:
    from impactbook.news.items import render_news_html

    _show(render_news_html(news))


def _dispersion_note(programme: dict, results: list[OutcomeResult]) -> str | None:
    values = [f"{r.outcome} {format_number(r.its.dispersion, 2)}" for r in results
              if r.its is not None]
    if not values:
        return None
    return (f"{programme['programme']}: overdispersion (Pearson chi-square scale; 1 means "
            f"Poisson-like) {', '.join(values)}.")


@section("Methods and data notes")
def show_methods(report: CityReport) -> None:
    notes = [
        "Model: segmented quasi-Poisson regression of the counts (log link) with a linear "
        "trend, a level change at the programme start and annual Fourier terms (two pairs "
        "for monthly data, one for quarterly); overdispersion is the Pearson chi-square "
        "scale. The change is a rate ratio with its 95% interval.",
        "Counts are for police areas (precincts, districts) or the whole city. Programmes "
        "usually target smaller areas or specific groups, so area-level counts dilute any "
        "effect; published evaluations of these programmes measured smaller areas or groups.",
        "A missing month in the workbook is missing, never zero; a month not yet complete "
        "in the source was dropped at ingest.",
        "The false-start (placebo-in-time) check re-estimates the model at false start dates "
        "before the real one; a real change that is not unusual among them is weak evidence.",
        "The caveats of each programme's estimates are listed once, after its charts.",
    ]
    for programme, results in _by_programme(report):
        note = _dispersion_note(programme, results)
        if note:
            notes.append(note)
        if str(programme.get("notes") or "").strip():
            notes.append(f"{programme['programme']}, as recorded in the workbook: "
                         f"{programme['notes']}")
    _show(_list(notes, "ib-notes"))


def _sources_html(programmes: pd.DataFrame) -> str:
    numbers = _source_numbers(programmes)
    records = programmes.to_dict("records")
    items = []
    for source, number in numbers.items():
        cited_for = [f"{p['programme']} ({p['city']})" for p in records
                     if p.get("source") == source]
        items.append(f"<li value='{number}'>[{number}] {_e(source)}. Cited for: "
                     f"{_e('; '.join(cited_for))}.</li>")
    uncited = [f"{p['programme']} ({p['city']})" for p in records
               if not str(p.get("source") or "").strip()]
    notes = (f"<p>No source is recorded for: {_e('; '.join(uncited))}.</p>" if uncited else "")
    return (f"<ol class='ib-sources'>{''.join(items)}</ol>{notes}<p class='ib-note'>Programme "
            "details (start, area, outcomes) come from the workbook's interventions.csv, whose "
            "source column is cited above; the outcome counts come from its outcomes.csv, "
            "whose origin (the police and crime data releases) is described in the workbook's "
            "SOURCES.md.</p>")


@section("Sources")
def show_sources(report: CityReport | InterventionSummary) -> None:
    _show(_sources_html(report.programmes))


def show_summary_title(summary: InterventionSummary) -> None:
    """The title and a one-page summary: the pooled finding, every programme's headline."""
    rows = tables.summary_table(summary.rows)
    pooled = (effects.describe_pooled(summary.pooled) if summary.pooled is not None
              else summary.pooled_error)
    primary = rows[summary.rows["in_pooled"].to_numpy()] if not rows.empty else rows
    columns = [c for c in ("City", "Programme", "Outcome (area)", "Change", "95% interval")
               if c in primary.columns]
    _show(
        f"<h1 class='ib-title'>{_e(summary.intervention)}: results across cities</h1>"
        f"<p class='ib-provenance'>Generated {_e(summary.generated)} by impactbook "
        f"{_e(summary.version)} from the workbook with data hash {_e(summary.data_hash)}.</p>"
        "<div class='ib-summary'><h2 class='ib-summary-title'>Summary</h2>"
        f"<div class='ib-findings'><p>{_e(pooled)}</p></div>"
        + (_table(primary[columns], "Each programme's headline: its primary outcome, "
                  "interrupted time series against the pre-programme trend.", text_columns=3)
           if not primary.empty else "")
        + "<p class='ib-caveats'><strong>Caveats:</strong> each figure is a police-area or "
        "citywide count, which dilutes programmes aimed at a few groups or blocks; programmes "
        "in one city share its trends; see each city's report for its own caveats.</p>"
        "</div>" + TOC_SLOT)


@section("Pooled estimate")
def show_pooled(summary: InterventionSummary) -> None:
    from impactbook.report.plots import plot_forest

    if summary.pooled is None:
        _show(f"<p>{_e(summary.pooled_error)}</p>")
    # The pooled sentence leads the summary; this section shows where it comes from.
    payload = {"key_findings": [effects.describe_pooled(summary.pooled)]
               if summary.pooled is not None else [summary.pooled_error],
               "estimates": summary.rows.to_dict("records"),
               "headline": _pooled_headline(summary)}
    display({FINDINGS_MIME: json.loads(json.dumps(payload, allow_nan=False, default=str)),
             "text/plain": "pooled estimate"}, raw=True)
    rows = summary.rows.dropna(subset=["rate_ratio"]) if "rate_ratio" in summary.rows else None
    if rows is not None and not rows.empty:
        labels = [f"{r['city']}, {tables.area_label(r['area'])}: {r['outcome']}"
                  for r in rows.to_dict("records")]
        _show(_figure(plot_forest(rows.assign(label=labels), summary.pooled,
                                  title=f"{summary.intervention}: change by city and outcome"),
                      "Squares: each city's model estimate with its 95% interval; diamond: "
                      "the random-effects pooled estimate of each programme's primary "
                      "outcome.", "forest plot"))


def _pooled_headline(summary: InterventionSummary) -> dict | None:
    pooled = summary.pooled
    if pooled is None:
        return None
    return {"text": effects.describe_pooled(pooled), "outcome": "pooled",
            "programme": summary.intervention, "intervention": summary.intervention,
            "percent_change": round((pooled.rate_ratio - 1) * 100, 1),
            "ci_low_pct": _pct(pooled.ci_low), "ci_high_pct": _pct(pooled.ci_high),
            "excludes_no_change": bool(pooled.ci_high < 1 or pooled.ci_low > 1)}


@section("Estimates by city")
def show_summary_table(summary: InterventionSummary) -> None:
    frame = tables.summary_table(summary.rows)
    if frame.empty:
        _show("<p>No estimates could be computed.</p>")
        return
    _show(_table(frame, f"Every city's interrupted time series estimate for "
                        f"{summary.intervention}, by programme and outcome. Pooled: whether "
                        "the row is the programme's primary outcome, the one that enters the "
                        "pooled estimate. Source: how well the programme's details are "
                        "verified against its cited source.", text_columns=3))
    caveats = []
    for programme in summary.programmes.to_dict("records"):
        found = [(r["outcome"], w) for r in summary.rows.to_dict("records")
                 if r["programme"] == programme["programme"] and r["city"] == programme["city"]
                 for w in r.get("caveats") or []]
        scope = [r["outcome"] for r in summary.rows.to_dict("records")
                 if r["programme"] == programme["programme"]
                 and r["city"] == programme["city"]]
        for caveat in tables.merge_caveats(found, scope):
            caveats.append(f"{programme['programme']} ({programme['city']}): {caveat}")
    if caveats:
        _show("<div class='ib-caveat-list'><p><strong>Caveats, by programme</strong></p>"
              + _list(caveats, "ib-warnings") + "</div>")
    if summary.pooled is not None:
        p = summary.pooled
        _show(f"<p class='ib-note'>Random-effects pooling ({_e(p.method)}) of {p.k} "
              f"programmes, each with its primary outcome: tau-squared {p.tau2:.4f}, "
              f"I-squared {p.i2 * 100:.0f}%, Q {p.q:.2f}. Programmes in the same city share "
              "its trends and are not fully independent; treat the pooled figure as a "
              "summary of these evaluations, not a trial result.</p>")


@section("News coverage over time")
def show_news_counts(summary: InterventionSummary) -> None:
    from impactbook.report.plots import plot_tag_counts

    if summary.news_counts.empty:
        _show(f"<p>The workbook has no news items tagged {_e(summary.intervention)}.</p>")
        return
    _show(_figure(plot_tag_counts(summary.news_counts,
                                  title=f"News items tagged {summary.intervention}, by year"),
                  "News items in the workbook, counted by tag and year.", "news counts"))
