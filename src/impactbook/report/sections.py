"""Report sections: each ``show_*`` displays one section of a notebook.

These are the notebook's edge: they turn the plain data of
:mod:`impactbook.report.content` into HTML and figures. Every piece of text that
came from a data file is escaped. A section that fails shows a visible
failure box naming what went wrong, never a silent gap, and never stops the
sections after it.
"""

from __future__ import annotations

import functools
import html
import json

import pandas as pd
from IPython.display import HTML, display

from impactbook import effects
from impactbook.defaults import FINDINGS_MIME
from impactbook.report.content import CityReport, InterventionSummary, OutcomeResult, _pct


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def section(title: str):
    """Display a heading, run the section, and show a failure box if it raises."""

    def wrap(func):
        @functools.wraps(func)
        def run(*args, **kwargs):
            display(HTML(f"<h2 class='ib-section'>{_e(title)}</h2>"))
            try:
                return func(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - a report shows its failures
                display(HTML(
                    "<div class='ib-failure'><strong>This section could not be produced.</strong>"
                    f" {_e(type(exc).__name__)}: {_e(exc)}</div>"))
                return None

        return run

    return wrap


def _figure(fig, caption_html: str, alt: str) -> None:
    """A chart and its caption as one block, so a page break cannot separate them."""
    from impactbook.report.plots import figure_data_uri

    display(HTML(f"<figure class='ib-figure'><img src='{figure_data_uri(fig)}' alt='{_e(alt)}'>"
                 f"<figcaption>{caption_html}</figcaption></figure>"))


def _warnings_html(warnings) -> str:
    if not warnings:
        return ""
    items = "".join(f"<li>{_e(w)}</li>" for w in warnings)
    return f"<ul class='ib-warnings'>{items}</ul>"


def show_title(report: CityReport) -> None:
    progs = report.programmes
    rows = "".join(
        f"<tr><td>{_e(p['programme'])}</td><td>{_e(p['intervention'])}</td>"
        f"<td>{_e(p['area'])}</td><td>{_e(p['start'])}</td>"
        f"<td>{_e(p.get('confidence', ''))}</td></tr>" for p in progs.to_dict("records"))
    display(HTML(
        f"<h1 class='ib-title'>{_e(report.city)}: programme evaluation report</h1>"
        "<table class='ib-meta'><thead><tr><th>programme</th><th>intervention</th>"
        "<th>area</th><th>start</th><th>confidence</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
        f"<p class='ib-provenance'>Outcome data {_e(report.data_period[0])} to "
        f"{_e(report.data_period[1])}. Generated {_e(report.generated)} by impactbook "
        f"{_e(report.version)}; input data hash {_e(report.data_hash)}. Confidence: "
        "V verified against the cited source, P partly verified, U unverified. Each "
        "programme's published source is under Methods and data notes; the outcome data's "
        "origin is in the workbook's SOURCES.md.</p>"))


def _findings_payload(report) -> dict:
    return {"key_findings": report.key_findings, "estimates": report.estimates(),
            "headline": report.headline()}


@section("Key findings")
def show_key_findings(report: CityReport) -> None:
    items = "".join(f"<li>{_e(s)}</li>" for s in report.key_findings)
    display(HTML(f"<div class='ib-findings'><ul>{items}</ul></div>"))
    payload = _findings_payload(report)
    # A machine-readable copy for the batch manifest and the funders' emails.
    display({FINDINGS_MIME: json.loads(json.dumps(payload, allow_nan=False)),
             "text/plain": f"{len(payload['key_findings'])} key finding(s)"}, raw=True)


def _chart_caption(result: OutcomeResult) -> str:
    est = result.its
    record = est.to_dict()
    return (f"{_e(result.programme)} ({_e(result.intervention)}): {_e(result.outcome)} in "
            f"{_e(est.area)}, {record['pre_periods']} periods before and "
            f"{record['post_periods']} after {_e(record['start'])}. Dashed line and band: what "
            "the pre-programme trend and season project without the programme (95% band).")


@section("Outcomes, one chart each")
def show_outcome_charts(report: CityReport) -> None:
    from impactbook.report.plots import plot_outcome_series, plot_placebo

    for result in report.results:
        display(HTML(f"<h3>{_e(result.programme)}: {_e(result.outcome)}</h3>"))
        if result.its is None:
            display(HTML(f"<div class='ib-failure'>No model estimate: "
                         f"{_e('; '.join(result.errors))}</div>"))
            continue
        fig = plot_outcome_series(result.its, programme=result.programme,
                                  comparison=result.comparison_series or None)
        _figure(fig, _chart_caption(result), f"{result.outcome} over time")
        placebo = result.placebo
        if placebo is not None and len(placebo.placebo_log_rate_ratios):
            _figure(plot_placebo(placebo.placebo_log_rate_ratios, result.its.log_rate_ratio),
                    _e(placebo.interpretation), "placebo-in-time check")
        display(HTML(_warnings_html(result.its.warnings)))
        if result.errors:
            display(HTML("<div class='ib-failure'>" + "<br>".join(_e(e) for e in result.errors)
                         + "</div>"))


def _estimate_row(result: OutcomeResult, label: str, est: effects.Estimate | None) -> dict:
    if est is None:
        return {}
    r = est.to_dict()
    placebo = ""
    if label.startswith("model") and result.placebo is not None:
        placebo = result.placebo.position_text
    return {
        "programme": result.programme, "outcome": result.outcome, "area": r["area"],
        "design": label, "pre / post periods": f"{r['pre_periods']} / {r['post_periods']}",
        "pre / post mean": f"{r['pre_mean']} / {r['post_mean']}",
        "change %": r["percent_change"],
        "95% interval %": f"{_pct(r['ci_low'])} to {_pct(r['ci_high'])}",
        "p": r["p_value"], "dispersion": r["dispersion"], "placebo check": placebo,
        "warnings": len(r["warnings"]),
    }


@section("Estimates")
def show_estimates_table(report: CityReport) -> None:
    rows = []
    for result in report.results:
        rows.append(_estimate_row(result, "naive pre/post", result.prepost))
        rows.append(_estimate_row(result, "model (ITS)", result.its))
        rows.append(_estimate_row(result, "comparison areas (DiD)", result.comparison))
    frame = pd.DataFrame([r for r in rows if r])
    if frame.empty:
        display(HTML("<p>No estimates could be computed.</p>"))
        return
    display(HTML(frame.to_html(index=False, escape=True, classes="ib-table", na_rep="")))
    display(HTML("<p class='ib-caption'>Naive pre/post compares mean counts over equal "
                 "windows and ignores trend and season; the model (interrupted time series) "
                 "is the headline figure; the comparison design is a difference-in-differences "
                 "count model against the listed comparison areas (ratio of rate ratios).</p>"))


@section("News coverage")
def show_news(news: pd.DataFrame) -> None:
    from impactbook.news.items import render_news_html

    display(HTML(render_news_html(news)))


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
        "The placebo-in-time check re-estimates the model at false start dates before the "
        "real one; a real change that is not unusual among them is weak evidence.",
    ]
    for result in report.results:
        for est in (result.its, result.prepost, result.comparison):
            if est is not None:
                notes.extend(f"{result.programme}, {result.outcome} ({est.method}): {w}"
                             for w in est.warnings)
    for p in report.programmes.to_dict("records"):
        notes.append(f"{p['programme']}: source {p.get('source', '')}. {p.get('notes', '')}")
    display(HTML("<ul class='ib-notes'>" + "".join(f"<li>{_e(n)}</li>" for n in notes)
                 + "</ul>"))


def show_summary_title(summary: InterventionSummary) -> None:
    display(HTML(
        f"<h1 class='ib-title'>{_e(summary.intervention)}: results across cities</h1>"
        f"<p class='ib-provenance'>Generated {_e(summary.generated)} by impactbook "
        f"{_e(summary.version)}; input data hash {_e(summary.data_hash)}.</p>"))


@section("Pooled estimate")
def show_pooled(summary: InterventionSummary) -> None:
    from impactbook.report.plots import plot_forest

    if summary.pooled is None:
        display(HTML(f"<p>{_e(summary.pooled_error)}</p>"))
    else:
        display(HTML(f"<div class='ib-findings'><p>{_e(effects.describe_pooled(summary.pooled))}"
                     "</p></div>"))
    payload = {"key_findings": [effects.describe_pooled(summary.pooled)]
               if summary.pooled is not None else [summary.pooled_error],
               "estimates": summary.rows.to_dict("records"),
               "headline": _pooled_headline(summary)}
    display({FINDINGS_MIME: json.loads(json.dumps(payload, allow_nan=False, default=str)),
             "text/plain": "pooled estimate"}, raw=True)
    rows = summary.rows.dropna(subset=["rate_ratio"]) if "rate_ratio" in summary.rows else None
    if rows is not None and not rows.empty:
        labels = rows["city"] + ", " + rows["area"] + ": " + rows["outcome"]
        _figure(plot_forest(rows.assign(label=labels), summary.pooled,
                            title=f"{summary.intervention}: change by city and outcome"),
                "Squares: each city's model estimate with its 95% interval; diamond: the "
                "random-effects pooled estimate.", "forest plot")


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
    display(HTML(summary.rows.to_html(index=False, escape=True, classes="ib-table", na_rep="")))
    if summary.pooled is not None:
        p = summary.pooled
        display(HTML(f"<p class='ib-caption'>Random-effects pooling (DerSimonian-Laird) of "
                     f"{p.k} programmes, each with its primary outcome (in_pooled): tau-squared "
                     f"{p.tau2:.4f}, I-squared {p.i2 * 100:.0f}%, Q {p.q:.2f}. Programmes in "
                     "the same city share its trends and are not fully independent; treat the "
                     "pooled figure as a summary of these evaluations, not a trial result."
                     "</p>"))


@section("News coverage over time")
def show_news_counts(summary: InterventionSummary) -> None:
    from impactbook.report.plots import plot_tag_counts

    _figure(plot_tag_counts(summary.news_counts,
                            title=f"News items tagged {summary.intervention}, by year"),
            "News items in the workbook, counted by tag and year.", "news counts")
