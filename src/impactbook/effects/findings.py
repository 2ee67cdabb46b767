"""Plain-language findings a funder can read, generated from an estimate.

A few sentences each: where and what, the design, direction and size with the 95% interval in
words, events averted in counts, and what the design could have detected. Wording never claims
more than the design supports: an interval that includes no change is "no clear change" (with
the smallest change the counts could have shown, so it is not read as "no effect"), and one
that excludes it is "evidence of a fall/rise", not proof the programme caused it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from impactbook.effects.estimate import Estimate
from impactbook.effects.pooled import PooledResult
from impactbook.report.format import describe_change_pct, describe_interval, format_p
from impactbook.workbook.periods import QUARTERLY, frequency_of


def describe_finding(estimate: Estimate) -> str:
    """Plain sentences for a funder. With an interval that includes no change:

    "In Precinct 77 (New York), monthly shootings showed no clear change against what the
    pre-programme trend projected in the 24 months from January 2010 (18% lower, 95% interval
    31% lower to 2% higher; interrupted time series). Only a fall of 45% or more could have
    been detected with these counts (80% power), so this is not evidence of no effect."

    With one that excludes it: "... were 25% lower than ... (95% interval 38% to 10% lower;
    interrupted time series): about 60 fewer shootings than expected (95% interval 20 to 95).
    This is evidence of a fall, though this design alone cannot rule out other causes."
    """
    freq = frequency_of(estimate.start)
    unit = "quarter" if freq == QUARTERLY else "month"
    units = unit + ("s" if estimate.post_periods != 1 else "")
    when = estimate.start.strftime("%B %Y") if freq != QUARTERLY else (
        f"Q{estimate.start.quarter} {estimate.start.year}")
    subject = _subject(estimate, "quarterly" if freq == QUARTERLY else "monthly")
    change = describe_change_pct(estimate.percent_change)
    span = f"in the {estimate.post_periods} {units} from {when}"
    interval = describe_interval(estimate.ci_low, estimate.ci_high)
    is_clear = estimate.excludes_no_change
    if estimate.method == "comparison":
        areas = ", ".join(estimate.details.get("comparison_areas", [])) or "the comparison areas"
        against = f"the change in the comparison areas ({areas}) implies"
    elif estimate.method == "prepost":
        against = (f"in the {estimate.pre_periods} {unit}s before (a naive before/after "
                   "comparison that ignores trends)")
    elif estimate.method == "synth":
        against = "the synthetic control (a weighted mix of the city's other areas) implies"
    else:
        against = "the pre-programme trend projected"
    if estimate.method == "synth":
        return _describe_synth(estimate, subject, change, span, against)
    # Which estimates use the wider Newey-West interval is said once, in the methods notes.
    bracket = f"95% interval {interval}; {estimate.design}"
    if not is_clear:
        if estimate.method == "prepost":
            body = (f"{subject} showed no clear change {span} compared with the "
                    f"{estimate.pre_periods} {unit}s before ({change}, {bracket}; a naive "
                    "before/after comparison that ignores trends)")
        else:
            body = (f"{subject} showed no clear change against what {against} {span} "
                    f"({change}, {bracket})")
        verdict = describe_power(estimate)
    else:
        body = (f"{subject} were {change} than {against} {span} ({bracket})"
                if estimate.method != "prepost" else
                f"{subject} were {change} {span} than {against} ({bracket})")
        events = describe_events(estimate)
        if events:
            body += f": {events}"
        direction = "fall" if estimate.ci_high < 1 else "rise"
        verdict = (f"This is evidence of a {direction}, though this design alone cannot rule "
                   "out other causes.")
    caveats = describe_caveats(estimate.warnings, estimate.percent_change)
    caution = f" Caution: {caveats}." if caveats else ""
    return f"{_place(estimate)}, {body}. {verdict}{caution}"


def describe_plain_finding(estimate: Estimate) -> str:
    """One plain sentence for a funder's first page, with the caveats in a few words:

    "In Precinct 77 (New York), shootings showed no clear change against the synthetic
    control in the 24 months from January 2010 (6% lower; permutation p 0.83). Caution:
    small counts."
    """
    freq = frequency_of(estimate.start)
    when = estimate.start.strftime("%B %Y") if freq != QUARTERLY else (
        f"Q{estimate.start.quarter} {estimate.start.year}")
    unit = "quarter" if freq == QUARTERLY else "month"
    span = f"in the {estimate.post_periods} {unit}{'s' if estimate.post_periods != 1 else ''}"
    span += f" from {when}"
    against = {"synth": "the synthetic control", "comparison": "the comparison areas",
               "prepost": "the same number of periods before (naive before/after)"}.get(
        estimate.method, "the pre-programme trend")
    change = describe_change_pct(estimate.percent_change)
    certainty = (f"permutation p {format_p(estimate.p_value)}" if estimate.method == "synth"
                 else f"95% interval {describe_interval(estimate.ci_low, estimate.ci_high)}")
    what = estimate.outcome or "counts"
    if estimate.excludes_no_change:
        body = f"{what} were {change} than expected from {against} {span} ({certainty})"
    else:
        body = (f"{what} showed no clear change against {against} {span} ({change}; "
                f"{certainty})")
    caveats = describe_caveats(estimate.warnings, estimate.percent_change)
    caution = f" Caution: {caveats}." if caveats else ""
    return f"{_place(estimate)}, {body}.{caution}"


def describe_permutation(estimate: Estimate) -> str:
    """The permutation result in words: where the real gap falls among the placebos'."""
    details = estimate.details
    n = details.get("placebos", 0)
    lower = details.get("p_value_lower", math.nan)
    return (f"against {n} placebos (areas or groups given the programme's start as if "
            f"treated), a fall this large or larger has permutation p {format_p(lower)} "
            f"(one-sided), and a change this far from the synthetic control either way "
            f"p {format_p(estimate.p_value)}; no p can be below 1/{n + 1} = "
            f"{format_p(1 / (n + 1))}")


def _describe_synth(estimate: Estimate, subject: str, change: str, span: str,
                    against: str) -> str:
    is_fall = estimate.excludes_no_change and estimate.rate_ratio < 1
    is_rise = estimate.excludes_no_change and estimate.rate_ratio > 1
    n = estimate.details.get("placebos", 0)
    test = f"{n} placebos, permutation p {format_p(estimate.p_value)}"
    averted = estimate.events_averted[0]
    what = estimate.outcome or "events"
    # The sentence already says what the change is against: the count alone, once.
    events = (f"about {_about(abs(averted))} {'fewer' if averted >= 0 else 'more'} {what}"
              if math.isfinite(averted) else "")
    if is_fall or is_rise:
        body = f"{subject} were {change} than {against} {span} ({estimate.design}: {events})"
        verdict = (f"The permutation test puts this among the most extreme of the placebos "
                   f"({test}): evidence of a {'fall' if is_fall else 'rise'}, though the "
                   "design alone cannot rule out other causes.")
    else:
        body = (f"{subject} showed no clear change against what {against} {span} ({change}, "
                f"{estimate.design}: {events})")
        verdict = (f"The permutation test does not set this apart from the placebos ({test}), "
                   "so this is not evidence of an effect, nor of none.")
    caveats = describe_caveats(estimate.warnings, estimate.percent_change)
    caution = f" Caution: {caveats}." if caveats else ""
    return f"{_place(estimate)}, {body}. {verdict}{caution}"


def describe_events(estimate: Estimate) -> str:
    """``about 60 fewer shooting victims than expected (95% interval 20 to 95)``."""
    averted, low, high = estimate.events_averted
    if not all(math.isfinite(v) for v in (averted, low, high)):
        return ""
    what = estimate.outcome or "events"
    if averted >= 0:
        word, lo, hi = "fewer", low, high
    else:
        word, lo, hi = "more", -high, -low
    if lo >= 0:
        span = f"{_about(lo)} to {_about(hi)}"
    else:  # the interval crosses zero: name both sides
        other = "more" if word == "fewer" else "fewer"
        span = f"{_about(-lo)} {other} to {_about(hi)} {word}"
    text = f"about {_about(abs(averted))} {word} {what} than expected (95% interval {span})"
    per = estimate.details.get("events_averted_per_100k")
    if per and per[0] is not None and math.isfinite(per[0]):
        text += f", {abs(per[0]):.1f} {word} per 100,000 residents"
    return text


def describe_power(estimate: Estimate) -> str:
    """What a "no clear change" can and cannot say, from the detectable change."""
    ratio = estimate.detectable_rate_ratio
    if not math.isfinite(ratio):
        return ("With counts this small no fall of any size could reliably have been detected "
                "(80% power, 5% level), so this is not evidence of no effect.")
    fall = (1 - ratio) * 100
    lead = "With counts this small only" if fall >= 30 else "Only"
    return (f"{lead} a fall of {fall:.0f}% or more could have been detected with 80% power "
            "(5% level), so this is not evidence of no effect.")


def _about(value: float) -> str:
    """Whole numbers under 100, two significant figures above (the interval is wide)."""
    if value < 100:
        return f"{value:.0f}"
    return f"{float(f'{value:.2g}'):,.0f}"


# Short names for the guardrail warnings, so a funder's sentence carries the caveats that
# matter without the full explanation (which the report's notes give).
_CAVEATS = (
    ("larger than every donor", "the area is larger than every donor (biased upwards)"),
    ("fits the pre-period poorly", "a poor pre-period fit"),
    ("donor areas (fewer than", "few donor areas"),
    # Said once in the methods notes, not on every finding: the permutation floor and
    # Monte Carlo error, donors or placebo groups left out.
    ("permutation p-value cannot go below", None),
    ("donor areas with missing periods", None),
    ("could not be matched exactly", None),
    ("pandemic", "the window overlaps the 2020-21 pandemic shift"),
    ("short baseline", "a short pre-programme baseline"),
    ("post-period is shorter", "a shorter follow-up than asked"),
    ("pre-period is shorter", "a shorter baseline than asked"),
    ("diluted", "the area is larger than where the programme ran"),
    ("unusual high", "the start follows an unusual high (regression to the mean)"),
    ("counts are small", "small counts"),
    ("trending differently", "the areas' trends differed before the start"),
    ("autocorrelated", "autocorrelated residuals"),
    ("missing", "missing periods"),
    ("with no count", "missing periods"),
    ("partial", "partial periods"),
)


#: Regression to the mean pulls counts down after a high: it can explain a fall, not a rise.
_SPIKE_BEFORE_RISE = "the start follows an unusual high (so the rise may be understated)"


def describe_caveats(warnings, percent_change: float | None = None) -> str:
    """The guardrail warnings as a short ``;``-joined list (empty when there are none),
    worded for the direction of ``percent_change`` when given."""
    found: list[str] = []
    is_rise = percent_change is not None and percent_change > 0
    for warning in warnings:
        text = warning.lower()
        label = next((label for key, label in _CAVEATS if key in text),
                     "other data warnings (see the notes)")
        if is_rise and "unusual high" in text:
            label = _SPIKE_BEFORE_RISE
        if label is None:
            continue
        if label not in found:  # a second warning of a known kind adds nothing new
            found.append(label)
    return "; ".join(found)


def describe_places(cities: Sequence[str | None]) -> str:
    """``3 programmes, all in New York`` / ``4 programmes in 3 cities (A, B, C)``."""
    n = len(cities)
    noun = "programme" if n == 1 else "programmes"
    distinct = list(dict.fromkeys(c for c in cities if c))
    if not distinct:
        return f"{n} {noun}"
    if len(distinct) == 1:
        where = {1: "in", 2: "both in"}.get(n, "all in")
        return f"{n} {noun}, {where} {distinct[0]}"
    return f"{n} {noun} in {len(distinct)} cities ({', '.join(distinct)})"


def describe_pooled(pooled: PooledResult, intervention: str | None = None,
                    outcome: str | None = None) -> str:
    """One plain sentence about a pooled estimate, its spread and what a new programme
    might show, e.g. "Across 3 programmes, all in New York, with Cure Violence, shootings
    showed no clear change overall (pooled 12% lower, 95% interval ...)"."""
    places = describe_places(list(pooled.studies["city"]))
    what = f", with {intervention}," if intervention else ","
    subject = outcome or "the outcome"
    interval = describe_interval(pooled.ci_low, pooled.ci_high)
    change = describe_change_pct(pooled.percent_change)
    if pooled.excludes_no_change:
        body = (f"{subject} were {change} overall (95% interval {interval}), evidence of a "
                f"{'fall' if pooled.ci_high < 1 else 'rise'} across these programmes")
    else:
        body = (f"{subject} showed no clear change overall (pooled {change}, 95% interval "
                f"{interval})")
    i2 = 100 * pooled.i2
    spread = ("little" if i2 < 25 else "moderate" if i2 < 50 else "substantial"
              if i2 < 75 else "considerable")
    return (f"Across {places}{what} {body}; random effects ({pooled.method}, "
            f"{pooled.interval} interval), with {spread} variation between programmes "
            f"(I-squared {i2:.0f}%); a new programme like these might show anything from "
            f"{describe_interval(pooled.pi_low, pooled.pi_high)} (95% prediction interval).")


def _place(estimate: Estimate) -> str:
    area, city = estimate.area, estimate.city
    if area and str(area).lower() != "citywide":
        return f"In {area} ({city})" if city else f"In {area}"
    if city:
        return f"In {city}"
    return "Here"


def _subject(estimate: Estimate, adjective: str) -> str:
    outcome = estimate.outcome or "counts"
    if outcome.endswith("s"):
        return f"{adjective} {outcome}"
    return f"{adjective} counts of {outcome}"
