"""The methods and data notes of a city report: each general note once, diagnostics as a table.

What the findings leave out so a funder can read them (how the permutation p-values work and
their floor, the Newey-West intervals, which designs were passed over and why) is said here,
once. The per-estimate diagnostics (the residual test, the interval used, the detectable
change, a synthetic control's fit) are one small table, not a bullet per programme, outcome
and design.
"""

from __future__ import annotations

import pandas as pd

from impactbook import effects
from impactbook.report import tables
from impactbook.report.blocks import html_list, html_table, section, show_html
from impactbook.report.content import CityReport, OutcomeResult
from impactbook.report.format import (
    MISSING,
    format_number,
    format_p,
    format_pct,
    ratio_to_pct,
)
from impactbook.report.page_one import by_programme

GENERAL_NOTES = (
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
    "before the real one and ranks the real change among them (rank p = (placebos as "
    "large + 1) / (placebos + 1)); it is a descriptive rank, not an exact test, because the "
    "placebo windows overlap. It is skipped with fewer than 10 false starts; a real change "
    "that is not unusual among them is weak evidence.",
    "Which design leads each outcome: a synthetic control whose pre-period fit is within the "
    "counts' own noise and no worse than most placebo areas' fits, from at least 10 donors, "
    "and not larger than every donor; then comparison areas that pass the pre-trend check; "
    "then the interrupted time series; then the naive before/after figure. The reason for "
    "each outcome is listed below.",
    "The caveats of each programme's estimates are listed once, after its charts.",
)

SYNTH_NOTE = (
    "Synthetic control: donor weights (non-negative, summing to one) chosen so the "
    "weighted donors reproduce the programme area's pre-period; for many small blocks "
    "(micro-synthetic control, as R's microsynth) every pre-period of all the programme's "
    "outcomes and the block covariates are matched exactly. It has no interval: its p-value "
    "is a permutation test against placebos given the same start, (1 + placebos at least as "
    "extreme) / (1 + placebos), two-sided (the one-sided p for a fall is in the chart's "
    "caption), so no p is below 1/(placebos + 1), and with randomly drawn placebo groups the "
    "p-value itself varies from run to run (about +/-0.01 near p = 0.02 with 250 draws).")

NEWEY_WEST_NOTE = (
    "Where the Ljung-Box test finds autocorrelated residuals, the interval is the wider of the "
    "model's and the Newey-West (autocorrelation-robust) one: {which}.")


def _dispersion_note(programme: dict, results: list[OutcomeResult]) -> str | None:
    values = [f"{r.outcome} {format_number(r.its.dispersion, 2)}" for r in results
              if r.its is not None]
    if not values:
        return None
    return (f"{programme['programme']}: overdispersion (Pearson chi-square scale; 1 means "
            f"Poisson-like) {', '.join(values)}.")


def diagnostics_table(report: CityReport) -> pd.DataFrame:
    """One row per programme, outcome and model design (the naive before/after figure has no
    model to diagnose): residual test, interval, detectable fall, a synthetic control's fit."""
    rows = []
    for result in report.results:
        for method, est in result.estimates_by_method.items():
            if est is None or method == "prepost":  # no model, nothing to diagnose
                continue
            if method == "rollout":  # diagnosed in its own section (the pre-trend test)
                continue
            rows.append({"Programme": result.programme, "Outcome": result.outcome,
                         "Design": tables.DESIGN_LABELS[method]
                         + (" (headline)" if est is result.headline else ""),
                         "Residual autocorrelation (Ljung-Box p)": _ljung_box(est),
                         "Interval": _interval_used(est),
                         "Detectable fall (80% power)": _detectable(est),
                         "Pre-period fit": _fit(est)})
    return pd.DataFrame(rows)


def _ljung_box(est: effects.Estimate) -> str:
    test = est.autocorrelation
    if test is None:
        return MISSING
    return f"{'detected' if test['is_detected'] else 'none'} ({format_p(test['p_value'])})"


def _interval_used(est: effects.Estimate) -> str:
    if est.method == "synth":
        return "none (permutation test)"
    return {"model": "model", "newey-west": "Newey-West (wider)",
            "newey-west (asked)": "Newey-West"}.get(est.interval_source, est.interval_source)


def _detectable(est: effects.Estimate) -> str:
    if est.method == "synth":
        return MISSING
    ratio = est.detectable_rate_ratio
    return format_pct(ratio_to_pct(ratio), signed=False) if ratio == ratio else "none"


def _fit(est: effects.Estimate) -> str:
    if est.method != "synth":
        return ""
    d = est.details
    verdict = "good" if d.get("is_good_fit") else "poor"
    return (f"{verdict}: RMSPE {d['pre_rmspe']:.2f} "
            f"({format_pct(100 * d['pre_rmspe_relative'], signed=False)} of the mean)")


@section("Methods and data notes")
def show_methods(report: CityReport) -> None:
    notes = list(GENERAL_NOTES)
    estimates = [e for r in report.results for e in r.estimates_by_method.values()
                 if e is not None]
    if any(e.method == "synth" for e in estimates):
        notes.append(SYNTH_NOTE)
    widened = [f"{r.outcome} ({tables.DESIGN_LABELS[m]})" for r in report.results
               for m, e in r.estimates_by_method.items()
               if e is not None and e.interval_source == "newey-west"]
    if widened:
        notes.append(NEWEY_WEST_NOTE.format(which="; ".join(dict.fromkeys(widened))))
    for programme, results in by_programme(report):
        note = _dispersion_note(programme, results)
        if note:
            notes.append(note)
        for result in results:
            choice = result.choice
            if choice.method is not None:
                notes.append(f"{result.programme}, {result.outcome}: the headline is "
                             f"{choice.reason}.")
            elif choice.passed_over:
                notes.append(f"{result.programme}, {result.outcome}: {choice.reason}.")
        if str(programme.get("notes") or "").strip():
            notes.append(f"{programme['programme']}, as recorded in the workbook: "
                         f"{programme['notes']}")
    show_html(html_list(notes, "ib-notes"))
    frame = diagnostics_table(report)
    if not frame.empty:
        show_html(html_table(frame, "Diagnostics of every estimate: the Ljung-Box test of the "
                            "model's residuals at 12 lags (p in brackets), the interval "
                            "used, the smallest fall the design detects with 80% power at "
                            "the 5% level, and a synthetic control's pre-period fit.",
                     text_columns=3, is_long=True))
