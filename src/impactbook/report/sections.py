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
    from impactbook.report.plots import plot_outcome_series, plot_placebo, plot_synth

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
        if placebo is not None and not placebo.is_skipped:
            _figure(plot_placebo(placebo.placebo_log_rate_ratios, result.its.log_rate_ratio),
                    _e(placebo.interpretation), "placebo-in-time check")
        elif placebo is not None:
            display(HTML(f"<p class='ib-caption'>{_e(placebo.interpretation)}</p>"))
        if result.synth is not None:
            _figure(plot_synth(result.synth), _synth_caption(result.synth),
                    f"{result.outcome}: observed against the synthetic control")
        display(HTML(_warnings_html(result.warnings)))
        if result.errors:
            display(HTML("<div class='ib-failure'>" + "<br>".join(_e(e) for e in result.errors)
                         + "</div>"))


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def _synth_caption(est: effects.Estimate) -> str:
    """The permutation result in words, the fit, and the top donors when identified."""
    details = est.details
    text = (f"Dashed: the synthetic control ({_e(est.model)}), {details['donors']:,} donors. "
            f"Observed {details['observed_total']:.0f} against synthetic "
            f"{details['synthetic_total']:.1f} after the start. "
            + _e(_capitalised(effects.describe_permutation(est))) + ". ")
    if details.get("weights"):
        donors = ", ".join(f"{_e(w['area'])} {w['weight']:.2f}" for w in details["weights"])
        text += f"Top donors: {donors}."
    else:
        text += f"Donor weights {_e(details.get('weights_note', ''))}."
    return text


def _estimate_row(result: OutcomeResult, label: str, est: effects.Estimate | None) -> dict:
    if est is None:
        return {}
    r = est.to_dict()
    placebo = ""
    if label.startswith("model") and result.placebo is not None:
        placebo = result.placebo.position_text
    if est.method == result.choice.method:
        label += " (headline)"
    averted = ("" if r["events_averted"] is None else
               f"{r['events_averted']:.0f}" if r["events_averted_low"] is None else
               f"{r['events_averted']:.0f} ({r['events_averted_low']:.0f} to "
               f"{r['events_averted_high']:.0f})")
    return {
        "programme": result.programme, "outcome": result.outcome, "area": r["area"],
        "design": label, "pre / post periods": f"{r['pre_periods']} / {r['post_periods']}",
        "pre / post mean": f"{r['pre_mean']} / {r['post_mean']}",
        "change %": r["percent_change"],
        "95% interval %": f"{_pct(r['ci_low'])} to {_pct(r['ci_high'])}",
        "p": r["p_value"], "events averted (95%)": averted,
        "detectable change %": r["detectable_change_pct"], "dispersion": r["dispersion"],
        "placebo check": placebo, "warnings": len(r["warnings"]),
    }


@section("Estimates")
def show_estimates_table(report: CityReport) -> None:
    rows = []
    for result in report.results:
        rows.append(_estimate_row(result, "naive pre/post", result.prepost))
        rows.append(_estimate_row(result, "model (ITS)", result.its))
        rows.append(_estimate_row(result, "comparison areas (DiD)", result.comparison))
        rows.append(_estimate_row(result, "synthetic control", result.synth))
    frame = pd.DataFrame([r for r in rows if r])
    if frame.empty:
        display(HTML("<p>No estimates could be computed.</p>"))
        return
    display(HTML(frame.to_html(index=False, escape=True, classes="ib-table", na_rep="")))
    display(HTML("<p class='ib-caption'>Naive pre/post compares mean counts over equal "
                 "windows and ignores trend and season; the model is an interrupted time "
                 "series; the comparison design is a difference-in-differences count model "
                 "against the listed comparison areas (ratio of rate ratios); the synthetic "
                 "control weighs the city's other areas (or blocks) to match the programme "
                 "area's past and has no interval: its p is a placebo-in-space permutation "
                 "test. The headline of each outcome is the strongest design its data support "
                 "(a synthetic control with a good pre-period fit, comparison areas that pass "
                 "the pre-trend check, then the interrupted time series, then pre/post). "
                 "Events averted: expected minus observed over the post window "
                 "(negative: more than expected). Detectable change: the smallest fall the "
                 "design detects with 80% power at the 5% level.</p>"))


@section("News coverage")
def show_news(news: pd.DataFrame) -> None:
    from impactbook.news.html_list import render_news_html

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
        "Synthetic control: donor weights (non-negative, summing to one) chosen so the "
        "weighted donors reproduce the programme area's pre-period; for many small blocks "
        "(micro-synthetic control, as R's microsynth) every pre-period of all the programme's "
        "outcomes and the block covariates are matched exactly. Its p-values come from "
        "placebos given the same start: (1 + placebos at least as extreme) / (1 + placebos), "
        "so none is below 1/(placebos + 1), and with randomly drawn placebo groups the p-value "
        "itself varies from run to run (about +/-0.01 near p = 0.02 with 250 draws).",
        "A missing month in the workbook is missing, never zero; a month not yet complete "
        "in the source was dropped at ingest.",
        "The placebo-in-time check re-estimates the model at false start dates before the "
        "real one and ranks the real change among them (rank p = (placebos as large + 1) / "
        "(placebos + 1)); it is a descriptive rank, not an exact test, because the placebo "
        "windows overlap. It is skipped with fewer than 10 false starts; a real change that is "
        "not unusual among them is weak evidence.",
    ]
    for result in report.results:
        choice = result.choice
        if choice.method is not None:
            notes.append(f"{result.programme}, {result.outcome}: the headline is {choice.reason}.")
        notes.extend(f"{result.programme}, {result.outcome}: {d}." for d in choice.disagreements)
        for est in (result.its, result.prepost, result.comparison, result.synth):
            if est is not None:
                notes.append(f"{result.programme}, {result.outcome} ({est.method}): "
                             + _diagnostics_note(est))
                notes.extend(f"{result.programme}, {result.outcome} ({est.method}): {w}"
                             for w in est.warnings)
    for p in report.programmes.to_dict("records"):
        notes.append(f"{p['programme']}: source {p.get('source', '')}. {p.get('notes', '')}")
    display(HTML("<ul class='ib-notes'>" + "".join(f"<li>{_e(n)}</li>" for n in notes)
                 + "</ul>"))


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
        parts.append(f"Ljung-Box test of the Pearson residuals at {test['lags']} lags p = "
                     f"{test['p_value']:.2g} ("
                     + ("autocorrelation detected" if test["is_detected"] else "none detected")
                     + ")")
    parts.append(f"interval: {est.to_dict()['interval']}")
    ratio = est.detectable_rate_ratio
    parts.append("detectable change at 80% power and the 5% level: "
                 + (f"a fall of {(1 - ratio) * 100:.0f}%" if ratio == ratio else
                    "no fall of any size"))
    fit_note = est.details.get("fit_note")
    if fit_note:
        parts.append(f"negative binomial fitted by {fit_note}" if "maximum" in fit_note
                     else fit_note)
    return "; ".join(parts) + "."


def show_summary_title(summary: InterventionSummary) -> None:
    display(HTML(
        f"<h1 class='ib-title'>{_e(summary.intervention)}: results by programme</h1>"
        f"<p class='ib-provenance'>Generated {_e(summary.generated)} by impactbook "
        f"{_e(summary.version)}; input data hash {_e(summary.data_hash)}.</p>"))


@section("Pooled estimate")
def show_pooled(summary: InterventionSummary) -> None:
    from impactbook.report.plots import plot_forest

    findings = summary.key_findings
    display(HTML("<div class='ib-findings'><ul>" + "".join(f"<li>{_e(f)}</li>" for f in findings)
                 + "</ul></div>"))
    payload = {"key_findings": findings, "estimates": summary.rows.to_dict("records"),
               "headline": _pooled_headline(summary)}
    display({FINDINGS_MIME: json.loads(json.dumps(payload, allow_nan=False, default=str)),
             "text/plain": "pooled estimate"}, raw=True)
    if "rate_ratio" not in summary.rows:
        return
    for outcome, rows in summary.rows.dropna(subset=["rate_ratio"]).groupby("outcome",
                                                                            sort=False):
        labels = rows["city"] + ", " + rows["area"] + ": " + rows["programme"]
        pooled = summary.pooled.get(outcome)
        _figure(plot_forest(rows.assign(label=labels), pooled,
                            title=f"{summary.intervention}: {outcome}, by programme"),
                "Squares: each programme's model estimate with its 95% interval"
                + ("; diamond: the random-effects pooled estimate (Hartung-Knapp interval)."
                   if pooled is not None else "; too few programmes to pool."),
                f"forest plot of {outcome}")


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
            "ci_low_pct": _pct(pooled.ci_low), "ci_high_pct": _pct(pooled.ci_high),
            "excludes_no_change": bool(pooled.excludes_no_change)}


@section("Estimates by programme")
def show_summary_table(summary: InterventionSummary) -> None:
    display(HTML(summary.rows.to_html(index=False, escape=True, classes="ib-table", na_rep="")))
    for outcome, p in summary.pooled.items():
        display(HTML(f"<p class='ib-caption'>{_e(outcome)}: random-effects pooling "
                     f"({_e(p.method)}, {_e(p.interval)} interval) of "
                     f"{_e(effects.describe_places(list(p.studies['city'])))}: tau-squared "
                     f"{p.tau2:.4f}, I-squared {p.i2 * 100:.0f}%, Q {p.q:.2f}, 95% prediction "
                     f"interval {_pct(p.pi_low)}% to {_pct(p.pi_high)}%. Programmes in the "
                     "same city share its trends and are not fully independent; treat the "
                     "pooled figure as a summary of these evaluations, not a trial result."
                     "</p>"))
    display(HTML("<p class='ib-caption'>Outcomes are pooled one at a time (shootings and "
                 "shooting victims count the same events), each programme once, and only "
                 f"when at least {effects.MIN_PROGRAMMES} programmes have an estimate.</p>"))


@section("News coverage over time")
def show_news_counts(summary: InterventionSummary) -> None:
    from impactbook.report.plots import plot_tag_counts

    _figure(plot_tag_counts(summary.news_counts,
                            title=f"News items tagged {summary.intervention}, by year"),
            "News items in the workbook, counted by tag and year.", "news counts")
