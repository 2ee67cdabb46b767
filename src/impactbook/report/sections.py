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

import pandas as pd
from IPython.display import HTML, display

from impactbook import effects
from impactbook.contracts import findings_output
from impactbook.defaults import SECTION_FAILURE_MIME
from impactbook.effects.findings import describe_caveats
from impactbook.fsutil import slugify
from impactbook.report import tables
from impactbook.report.content import (
    PLACEBO_CHECK,
    CityReport,
    InterventionSummary,
    OutcomeResult,
    rounded_change_pct,
)
from impactbook.report.format import (
    MISSING,
    format_change,
    format_interval,
    format_number,
    format_p,
    format_pct,
    ratio_to_pct,
)

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


def show_html(markup: str) -> None:
    """Display one block of report HTML in the current section (for a section defined in
    another module, with :func:`section`)."""
    _show(markup)


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
                # ... and the renderer marks the report failed: a report missing a section
                # (a chart, say) is never recorded or mailed as a good one.
                error = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
                display({SECTION_FAILURE_MIME: {"section": title, "error": error},
                         "text/plain": f"section {title!r} failed"}, raw=True)
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
    interval = format_interval(est.ci_low, est.ci_high)
    if interval != MISSING:
        certainty = f" (95% interval {interval})"
    elif est.method == "synth" and est.p_value is not None:  # a permutation test instead
        certainty = f" (permutation p = {format_p(est.p_value)})"
    else:
        certainty = ""
    return (f"{result.outcome} in {tables.place_label(est.area, est.city)}: "
            f"{format_change(est.rate_ratio)}{certainty}, {design}")


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
        # The finding ends with its own design's cautions: the line below names the others.
        said = {describe_caveats([w]) for w in (lead.headline.warnings if lead.headline
                                                else ())} - {""}
        caveats = "; ".join(label for label in labels if label and label not in said)
        caveats_title = "Other caveats" if said else "Caveats"
        blocks.append(
            "<div class='ib-headline'>"
            f"<h3>{_e(p['programme'])}</h3>"
            f"<p class='ib-headline-figure'>{_e(_headline_line(lead))}</p>"
            f"<p>{_e(lead.finding)}</p>"
            + (f"<p class='ib-caveats'><strong>{caveats_title}:</strong> {_e(caveats)}.</p>"
               if caveats else "") + "</div>")
    _show(
        f"<h1 class='ib-title'>{_e(report.city)}: programme evaluation report</h1>"
        f"<p class='ib-provenance'>Generated {_e(report.generated)} by impactbook "
        f"{_e(report.version)}; input data hash {_e(report.data_hash)}.</p>"
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
    display(findings_output(**payload, text=f"{len(payload['key_findings'])} key finding(s)"),
            raw=True)


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
            if placebo is not None and not placebo.is_skipped:
                _show(_figure(plot_placebo(placebo.placebo_log_rate_ratios,
                                           result.its.log_rate_ratio),
                              _placebo_caption(result), "false-start check"))
            elif placebo is not None:
                _show(f"<p class='ib-note'>{_e(placebo.interpretation)}</p>")
            if result.synth is not None:
                _show(_figure(plot_synth(result.synth), _synth_caption(result.synth),
                              f"{result.outcome}: observed against the synthetic control"))
            errors = [e for e in result.errors if not e.startswith("its:")]
            for note in [e for e in errors if e.startswith((PLACEBO_CHECK, "synth:"))]:
                # A check or design the data cannot support is a caveat, said in words.
                _show(f"<p class='ib-note'>{_e(_not_run_note(note))}</p>")
            errors = [e for e in errors if not e.startswith((PLACEBO_CHECK, "synth:"))]
            if errors:
                _show("<div class='ib-failure'>" + "<br>".join(_e(e) for e in errors)
                      + "</div>")
        caveats = [str(c) for c in tables.result_caveats(results)] + [
            f"{r.outcome}: {d}." for r in results for d in r.choice.disagreements]
        if caveats:
            _show(heading + "<div class='ib-caveat-list'><p><strong>Caveats for "
                  f"{_e(programme['programme'])}</strong></p>"
                  + _list(caveats, "ib-warnings") + "</div>")


def _synth_caption(est: effects.Estimate) -> str:
    """The permutation result in words, the fit, and the top donors when identified."""
    details = est.details
    test = effects.describe_permutation(est)
    text = (f"Dashed: the synthetic control ({_e(est.model)}), {details['donors']:,} donors. "
            f"Observed {details['observed_total']:.0f} against synthetic "
            f"{details['synthetic_total']:.1f} after the start. "
            + _e(test[:1].upper() + test[1:]) + ". ")
    if details.get("weights"):
        donors = ", ".join(f"{_e(w['area'])} {w['weight']:.2f}" for w in details["weights"])
        return text + f"Top donors: {donors}."
    return text + f"Donor weights {_e(details.get('weights_note', ''))}."


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
          "ratios) are the model figures. The headline of each outcome is the strongest design "
          "its data support (comparison areas that pass the pre-trend check, then the "
          "interrupted time series, then before/after). Events averted: expected minus "
          "observed over the post window (negative: more than expected). Detectable change: "
          "the smallest fall the design detects with 80% power at the 5% level. False starts "
          "as large: of the false start dates before the real one, how many give a change at "
          "least as large (and the rank p-value).</p>")


@section("News coverage")
def show_news(news: pd.DataFrame) -> None:
    from impactbook.news.html_list import render_news_html

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
        "Synthetic control: donor weights (non-negative, summing to one) chosen so the "
        "weighted donors reproduce the programme area's pre-period; for many small blocks "
        "(micro-synthetic control, as R's microsynth) every pre-period of all the programme's "
        "outcomes and the block covariates are matched exactly. Its p-values come from "
        "placebos given the same start: (1 + placebos at least as extreme) / (1 + placebos), "
        "so none is below 1/(placebos + 1), and with randomly drawn placebo groups the p-value "
        "itself varies from run to run (about +/-0.01 near p = 0.02 with 250 draws).",
        "A missing month in the workbook is missing, never zero; a month not yet complete "
        "in the source was dropped at ingest.",
        "The false-start (placebo-in-time) check re-estimates the model at false start dates "
        "before the real one and ranks the real change among them (rank p = (placebos as "
        "large + 1) / (placebos + 1)); it is a descriptive rank, not an exact test, because the "
        "placebo windows overlap. It is skipped with fewer than 10 false starts; a real change "
        "that is not unusual among them is weak evidence.",
        "The caveats of each programme's estimates are listed once, after its charts.",
    ]
    for programme, results in _by_programme(report):
        note = _dispersion_note(programme, results)
        if note:
            notes.append(note)
        for result in results:
            choice = result.choice
            if choice.method is not None:
                notes.append(f"{result.programme}, {result.outcome}: the headline is "
                             f"{choice.reason}.")
            for est in result.estimates_by_method.values():
                if est is not None:
                    notes.append(f"{result.programme}, {result.outcome} "
                                 f"({tables.DESIGN_LABELS.get(est.method, est.method)}): "
                                 + _diagnostics_note(est))
        if str(programme.get("notes") or "").strip():
            notes.append(f"{programme['programme']}, as recorded in the workbook: "
                         f"{programme['notes']}")
    _show(_list(notes, "ib-notes"))


def _diagnostics_note(est: effects.Estimate) -> str:
    """The residual test, the interval used and the detectable change, in one note."""
    if est.method == "synth":  # no model: the fit before the start is what to judge
        d = est.details
        ratio = d.get("post_pre_rmspe_ratio")
        return (f"pre-period RMSPE {d['pre_rmspe']:.2f} ({100 * d['pre_rmspe_relative']:.0f}% "
                f"of the pre-period mean; {'good' if d['is_good_fit'] else 'poor'} fit), "
                + (f"post/pre RMSPE ratio {ratio:.2f}, " if ratio is not None else "")
                + f"{d['placebos']} placebos; interval: {est.to_dict()['interval']}.")
    test = est.autocorrelation
    parts = []
    if test is not None:
        parts.append(f"Ljung-Box test of the Pearson residuals at {test['lags']} lags p "
                     f"{format_p(test['p_value'])} ("
                     + ("autocorrelation detected" if test["is_detected"] else "none detected")
                     + ")")
    parts.append(f"interval: {est.to_dict()['interval']}")
    ratio = est.detectable_rate_ratio
    parts.append("detectable change at 80% power and the 5% level: "
                 + (f"a fall of {format_pct(ratio_to_pct(ratio), signed=False)}"
                    if ratio == ratio else "no fall of any size"))
    fit_note = est.details.get("fit_note")
    if fit_note:
        parts.append(f"negative binomial fitted by {fit_note}" if "maximum" in fit_note
                     else fit_note)
    return "; ".join(parts) + "."


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
    """The title and a one-page summary: the pooled findings, every programme's headline."""
    rows = tables.summary_table(summary.rows)
    has_estimate = (summary.rows["rate_ratio"].notna().to_numpy()
                    if "rate_ratio" in summary.rows else [False] * len(rows))
    shown = rows[has_estimate] if not rows.empty else rows
    columns = [c for c in ("City", "Programme", "Outcome (area)", "Change", "95% interval")
               if c in shown.columns]
    findings = "".join(f"<li>{_e(f)}</li>" for f in summary.key_findings)
    _show(
        f"<h1 class='ib-title'>{_e(summary.intervention)}: results by programme</h1>"
        f"<p class='ib-provenance'>Generated {_e(summary.generated)} by impactbook "
        f"{_e(summary.version)}; input data hash {_e(summary.data_hash)}.</p>"
        "<div class='ib-summary'><h2 class='ib-summary-title'>Summary</h2>"
        + (f"<div class='ib-findings'><ul>{findings}</ul></div>" if findings else "")
        + (_table(shown[columns], "Each programme's estimate for each outcome: interrupted "
                  "time series against the pre-programme trend.", text_columns=3)
           if not shown.empty else "")
        + "<p class='ib-caveats'><strong>Caveats:</strong> each figure is a police-area or "
        "citywide count, which dilutes programmes aimed at a few groups or blocks; programmes "
        "in one city share its trends; see each city's report for its own caveats.</p>"
        "</div>" + TOC_SLOT)


@section("Pooled estimates")
def show_pooled(summary: InterventionSummary) -> None:
    from impactbook.report.plots import plot_forest

    findings = summary.key_findings
    payload = {"key_findings": findings, "estimates": summary.rows.to_dict("records"),
               "headline": _pooled_headline(summary)}
    display(findings_output(**payload, text="pooled estimate"), raw=True)
    # The pooled sentences lead the summary; this section shows where they come from.
    if "rate_ratio" not in summary.rows or summary.rows["rate_ratio"].isna().all():
        _show(_list(findings, "ib-findings") or "<p>No estimates could be computed.</p>")
        return
    for outcome, rows in summary.rows.dropna(subset=["rate_ratio"]).groupby("outcome",
                                                                            sort=False):
        labels = [f"{r['city']}, {tables.area_label(r['area'])}: {r['programme']}"
                  for r in rows.to_dict("records")]
        pooled = summary.pooled.get(outcome)
        note = summary.pooling_notes.get(outcome)
        _show(_figure(plot_forest(rows.assign(label=labels), pooled,
                                  title=f"{summary.intervention}: {outcome}, by programme"),
                      f"{_e(outcome.capitalize())}: each programme's model estimate with its "
                      "95% interval (squares)"
                      + ("; diamond: the random-effects pooled estimate (Hartung-Knapp "
                         "interval)." if pooled is not None
                         else f"; not pooled: {_e(note or 'too few programmes')}."),
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
            "percent_change": round((pooled.rate_ratio - 1) * 100, 1),
            "ci_low_pct": rounded_change_pct(pooled.ci_low),
            "ci_high_pct": rounded_change_pct(pooled.ci_high),
            "excludes_no_change": bool(pooled.excludes_no_change)}


@section("Estimates by programme")
def show_summary_table(summary: InterventionSummary) -> None:
    frame = tables.summary_table(summary.rows)
    if frame.empty:
        _show("<p>No estimates could be computed.</p>")
        return
    _show(_table(frame, f"Every programme's interrupted time series estimate for "
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
        _show("<div class='ib-caveat-list'><p><strong>Caveats, by programme</strong></p>"
              + _list(caveats, "ib-warnings") + "</div>")
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
    _show(_list(notes, "ib-notes"))


@section("News coverage over time")
def show_news_counts(summary: InterventionSummary) -> None:
    from impactbook.report.plots import plot_tag_counts

    if summary.news_counts.empty:
        _show(f"<p>The workbook has no news items tagged {_e(summary.intervention)}.</p>")
        return
    _show(_figure(plot_tag_counts(summary.news_counts,
                                  title=f"News items tagged {summary.intervention}, by year"),
                  "News items in the workbook, counted by tag and year.", "news counts"))
