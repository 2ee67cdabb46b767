"""How every number a reader sees is written: one formatter, one rounding, one "clear" rule.

Tables, captions, chart titles, the plain sentences of the findings, the index page and the
funders' emails all write through these functions, so the same figure reads the same
everywhere: ``-25%`` / ``25% lower`` (a real minus sign; both from :func:`rounded_pct`, so a
table's ``-0.4%`` is ``0.4% lower`` in the sentence beside it), ``-46% to +9%``, ``p 0.57`` /
``<0.001``, and each design has one name (:data:`impactbook.designs.DESIGN_NAMES`). Missing
values print as ``n/a``, never as ``nan`` or ``None``.

One significance rule for every design (:func:`impactbook.designs.is_clear_p`): a p-value (a
model's, a permutation test's or the false-start rank) is clear at
:data:`impactbook.designs.SIGNIFICANCE_LEVEL` or below. A model interval that excludes no
change is the same rule for the model's own p. The design names and that rule live in
:mod:`impactbook.designs`, below the estimators, which use them too.
"""

from __future__ import annotations

import math

from impactbook.designs import DESIGN_NAMES, finite_number, is_clear_p

MINUS = "\u2212"
MISSING = "n/a"


def rounded_pct(percent: object) -> str | None:
    """The one rounding of a percentage, unsigned: whole numbers, one decimal under 1%
    (``0.4``), ``0`` for none; halves round away from zero (29.5 -> 30), None when missing."""
    value = finite_number(percent)
    if value is None:
        return None
    size = abs(value)
    if size < 0.95:
        text = f"{math.floor(size * 10 + 0.5) / 10:.1f}"
    else:
        text = f"{math.floor(size + 0.5):d}"
    return "0" if float(text) == 0 else text


def format_pct(percent: object, *, signed: bool = True) -> str:
    """A percentage: whole numbers (``+18%``), one decimal under 1% (``-0.4%``), ``0%``."""
    text = rounded_pct(percent)
    if text is None:
        return MISSING
    if text == "0" or not signed:
        return text + "%"
    return ("+" if float(percent) > 0 else MINUS) + text + "%"


def describe_change_pct(percent: object) -> str:
    """The same figure in words: ``18% lower`` / ``0.4% higher`` / ``about the same`` (what
    :func:`format_pct` writes as ``0%``)."""
    text = rounded_pct(percent)
    if text is None:
        return MISSING
    if text == "0":
        return "about the same"
    return f"{text}% {'lower' if float(percent) < 0 else 'higher'}"


def describe_interval(ci_low: object, ci_high: object) -> str:
    """A 95% rate-ratio interval in words: ``31% lower to 2% higher``, ``20% to 5% lower``."""
    low, high = ratio_to_pct(ci_low), ratio_to_pct(ci_high)
    if low is None or high is None:
        return MISSING
    if rounded_pct(high) != "0" and high < 0:
        return f"{rounded_pct(low)}% to {rounded_pct(high)}% lower"
    if rounded_pct(low) != "0" and low > 0:
        return f"{rounded_pct(low)}% to {rounded_pct(high)}% higher"
    return f"{describe_change_pct(low)} to {describe_change_pct(high)}"


def ratio_to_pct(ratio: object) -> float | None:
    """A rate ratio as a percent change (0.8 -> -20.0)."""
    value = finite_number(ratio)
    return None if value is None else (value - 1) * 100


def format_change(ratio: object) -> str:
    """A rate ratio as a signed percent change: ``0.82`` -> ``-18%``."""
    return format_pct(ratio_to_pct(ratio))


def format_interval(low: object, high: object, *, ratios: bool = True) -> str:
    """A 95% interval as ``-46% to +9%`` (from rate ratios, or percents with ``ratios=False``)."""
    convert = ratio_to_pct if ratios else finite_number
    low_pct, high_pct = convert(low), convert(high)
    if low_pct is None or high_pct is None:
        return MISSING
    return f"{format_pct(low_pct)} to {format_pct(high_pct)}"


def format_p(p_value: object) -> str:
    """A p-value: two decimals (``0.57``), three below 0.01 (``0.004``), else ``<0.001``."""
    value = finite_number(p_value)
    if value is None:
        return MISSING
    if value < 0.001:
        return "<0.001"
    if value < 0.01:
        return f"{value:.3f}"
    return f"{min(value, 1.0):.2f}"


def format_number(value: object, decimals: int = 1) -> str:
    """A mean or a dispersion: fixed decimals, thousands separated, real minus sign."""
    number = finite_number(value)
    if number is None:
        return MISSING
    return f"{number:,.{decimals}f}".replace("-", MINUS)


def format_count(value: object) -> str:
    """A whole count with thousands separated."""
    number = finite_number(value)
    return MISSING if number is None else f"{round(number):,d}"


def format_yes_no(value: object) -> str:
    return "yes" if bool(value) else "no"


def design_title(estimate, is_headline: bool) -> str:
    """A chart title that names its design and says whether it is the headline's: ``Interrupted
    time series (headline): New York, Precinct 77: shootings -18% against the pre-programme
    trend``."""
    design = DESIGN_NAMES.get(estimate.method, estimate.method)
    role = "headline" if is_headline else "not the headline"
    where = estimate.area if estimate.area and estimate.area != "citywide" else "citywide"
    against = {"synth": "the synthetic control", "comparison": "the comparison areas"}.get(
        estimate.method, "the pre-programme trend")
    return (f"{design[:1].upper() + design[1:]} ({role}): {estimate.city}, {where}: "
            f"{estimate.outcome} {format_pct(estimate.percent_change)} against {against}")


# --- Headlines: one line per finding, from the plain dict a report's manifest carries. -------
# An item is ``{"outcome", "area", "design", "percent_change", "ci_low_pct", "ci_high_pct",
# "permutation_p", "excludes_no_change", "caveats"}`` (percentages unrounded, so every path
# rounds them once, here); a report headline adds ``"outcomes"``: every outcome of its
# programme as such items.


def is_clear_item(item: dict) -> bool:
    """Whether a headline item shows a clear change (its interval, or its permutation p)."""
    if finite_number(item.get("ci_low_pct")) is not None:
        return bool(item.get("excludes_no_change"))
    return is_clear_p(item.get("permutation_p"))


def item_certainty(item: dict) -> str:
    """``95% interval -31% to +2%`` or ``permutation p 0.41`` (a synthetic control)."""
    low, high = finite_number(item.get("ci_low_pct")), finite_number(item.get("ci_high_pct"))
    if low is not None and high is not None:
        return f"95% interval {format_interval(low, high, ratios=False)}"
    if finite_number(item.get("permutation_p")) is not None:
        return f"permutation p {format_p(item['permutation_p'])}"
    return "no interval"


def outcome_figure(item: dict, *, is_compact: bool = False) -> str:
    """One outcome's headline in a few words: ``shootings 25% lower than expected (95%
    interval -38% to -10%; interrupted time series)`` or ``drug offenses: no clear change
    (-16%, permutation p 0.30; synthetic control)``."""
    outcome = item.get("outcome") or "the outcome"
    design = item.get("design") or "design not named"
    change = finite_number(item.get("percent_change"))
    if change is None:
        return f"{outcome}: no estimate"
    if is_compact:  # beside a summary that already says which changes are clear
        return f"{outcome} {format_pct(change)} ({item_certainty(item)}; {design})"
    if is_clear_item(item):
        return (f"{outcome} {describe_change_pct(change)} than expected "
                f"({item_certainty(item)}; {design})")
    return f"{outcome}: no clear change ({format_pct(change)}, {item_certainty(item)}; {design})"


def summarize_outcomes(items: list[dict]) -> str:
    """Several outcomes said together, none standing for all: ``3 of 4 outcomes fell;
    drug offenses showed no clear change``."""
    n = len(items)
    fell = [i for i in items if is_clear_item(i) and finite_number(i["percent_change"]) < 0]
    rose = [i for i in items if is_clear_item(i) and finite_number(i["percent_change"]) > 0]
    unclear = [i for i in items if i not in fell and i not in rose]
    parts = []
    if fell:
        parts.append(f"{len(fell)} of {n} outcomes fell")
    if rose:
        parts.append(f"{len(rose)} of {n} outcomes rose")
    if unclear:
        parts.append(f"{join_words([str(i.get('outcome')) for i in unclear])} showed no clear "
                     "change")
    return "; ".join(parts)


def count_changes(items: list[dict]) -> str:
    """The big figure for several outcomes: ``3 of 4 outcomes fell`` (or rose), else ``No
    clear change``; :func:`summarize_outcomes` says the rest."""
    fell = sum(1 for i in items if is_clear_item(i) and finite_number(i["percent_change"]) < 0)
    rose = sum(1 for i in items if is_clear_item(i) and finite_number(i["percent_change"]) > 0)
    if fell >= rose and fell:
        return f"{fell} of {len(items)} outcomes fell"
    if rose:
        return f"{rose} of {len(items)} outcomes rose"
    return "No clear change"


def headline_line(headline: dict | None) -> str:
    """A report's headline (the manifest's ``headline``) as one line, for the index and the
    funders' emails: each outcome of the headline programme, or the pooled figure."""
    if not headline:
        return "no headline estimate"
    where = headline.get("area")
    place = f" in {where}" if where and where not in ("citywide", "pooled") else ""
    who = headline.get("programme") or ""
    items = headline.get("outcomes") or [headline]
    if len(items) > 1:
        figures = "; ".join(outcome_figure(i, is_compact=True) for i in items)
        figures = f"{summarize_outcomes(items)}: {figures}"
    else:
        figures = outcome_figure(items[0])
    caveats = headline.get("caveats") or []
    tail = f" Caveats: {'; '.join(caveats)}." if caveats else ""
    lead = f"{who}{place}: " if who else ""
    return f"{lead}{figures[:1].upper() + figures[1:] if not lead else figures}.{tail}"


def join_words(names: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]
