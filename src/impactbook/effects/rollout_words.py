"""A staggered-rollout estimate in plain words (the CLI's text and the report's sentences)."""

from __future__ import annotations

import math

from impactbook.effects.findings import describe_change_pct, describe_interval
from impactbook.effects.rollout_result import STATIC_CAVEAT, Aggregate, RolloutEstimate

CONTROL_WORDS = {"notyet": "units not yet treated at the time (and never-treated ones)",
                 "never": "units never treated within the data"}
FREQ_WORDS = {"M": "month", "Q": "quarter", "W": "week", "Y": "year"}


def _whole(value: float) -> str:
    """Whole numbers under 100, two significant figures above (the interval is wide)."""
    value = abs(value)
    return f"{value:.0f}" if value < 100 else f"{float(f'{value:.2g}'):,.0f}"


def describe_cs_view(view) -> str:
    """The linear view in one line: its simple ATT per unit-period on its scale, the interval,
    the rough percent and the lead test (``None`` said as no test)."""
    simple = view.simple
    per = "rate per 100,000" if view.scale.startswith("rate") else "events"
    pretest = view.event_time_pretest or view.pretest
    from impactbook.report.format import format_p  # the one way a p-value is written

    shown = format_p(pretest.p_value) if pretest is not None else ""
    leads = (f"leads p {shown if shown.startswith('<') else '= ' + shown} ({pretest.kind})"
             if pretest is not None else "no lead test")
    percent = view.simple_percent
    rough = (f", about {describe_change_pct(percent)} than the treated units' counterfactual "
             "mean" if math.isfinite(percent) else "")
    return (f"simple ATT {simple.att:+.3g} {per} per unit and period (95% interval "
            f"{simple.ci_low:+.3g} to {simple.ci_high:+.3g}){rough}; {leads}; linear, "
            "a second view (the count model leads)")


def describe_averted(aggregate: Aggregate, outcome: str) -> str:
    """``about 310 fewer shootings than without the programme (95% interval 90 to 530)``."""
    low, high = aggregate.events_averted_interval
    if not all(math.isfinite(v) for v in (aggregate.events_averted, low, high)):
        return ""
    word = "fewer" if aggregate.events_averted >= 0 else "more"
    if low >= 0 or high <= 0:
        span = f"{_whole(min(abs(low), abs(high)))} to {_whole(max(abs(low), abs(high)))}"
    else:
        span = f"{_whole(low)} more to {_whole(high)} fewer"
    return (f"about {_whole(aggregate.events_averted)} {word} {outcome} than without the "
            f"programme (95% interval {span})")


def describe_rollout(est: RolloutEstimate, *, detailed: bool = False) -> str:
    """The overall effect in words, with its interval, events averted and the pre-trend test;
    ``detailed`` adds the static estimate and the warnings (the CLI's text output)."""
    outcome = est.outcome or "events"
    overall = est.overall
    n_units = len(est.units)
    cohorts = len(est.by_cohort)
    change = describe_change_pct(overall.percent_change)
    interval = describe_interval(overall.ci_low, overall.ci_high)
    where = f"{est.city}, " if est.city else ""
    lead = (f"{where}{est.programme_id or 'the rollout'}: in the {n_units} treated units "
            f"({cohorts} start cohort{'s' if cohorts != 1 else ''}), {outcome}")
    against = f"compared with {CONTROL_WORDS[est.controls]}"
    if overall.excludes_no_change:
        text = (f"{lead} were {change} after the starts {against} (95% interval {interval}; "
                "staggered-rollout design)")
    else:
        text = (f"{lead} showed no clear change after the starts {against} ({change}, 95% "
                f"interval {interval}; staggered-rollout design)")
    averted = describe_averted(overall, outcome)
    text += f": {averted}." if averted else "."
    text += " " + (est.pretrend.text if est.pretrend else
                   "There is no pre-trend test (no never-treated units before the starts).")
    if not detailed:
        return text
    static = est.static_log_ratio
    lines = [text, "", f"  cohorts pooled      {est.cohort_bin} ({est.cohort_bin_reason})",
             f"  model periods       {FREQ_WORDS.get(est.freq, est.freq)}s, "
             f"{est.to_dict()['window']['first']} to {est.to_dict()['window']['last']}",
             f"  controls            {est.controls} ({len(est.control_units)} units never "
             "treated within the data)",
             f"  static TWFE         {describe_change_pct((math.exp(static) - 1) * 100)} "
             f"(log ratio {static:.3f}, SE {est.static_se:.3f})",
             f"  note                {STATIC_CAVEAT}"]
    if est.callaway_santanna is not None:
        lines.append(f"  Callaway-Sant'Anna  {describe_cs_view(est.callaway_santanna)}")
    for item in est.dropped:
        lines.append(f"  dropped             {item}")
    for warning in est.warnings:
        lines.append(f"  warning: {warning}")
    return "\n".join(lines)
