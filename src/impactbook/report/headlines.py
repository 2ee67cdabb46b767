"""A report's headline as the plain data every reader-facing path formats.

One outcome's headline is an *item* (see :mod:`impactbook.report.format`): its design, its
unrounded percent change and interval (or permutation p), whether it is clear, and its caveats
in a few words. A city's headline is the programme whose headline design is strongest, with
every outcome it measures, so one outcome never stands for the others; it travels in the
manifest to the index and the funders' emails.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from impactbook.designs import DESIGN_NAMES
from impactbook.effects import describe_caveats
from impactbook.report.format import headline_line
from impactbook.report.value_section import TITLE


def caveat_labels(result) -> list[str]:
    """The caveats of ``result``'s headline (an OutcomeResult) in a few words each."""
    headline = result.headline
    if headline is None:
        return []
    text = describe_caveats(headline.warnings, headline.percent_change)
    labels = [label for label in text.split("; ") if label]
    if result.choice.designs_disagree:
        labels.append("the designs disagree")
    return labels


def _unrounded_pct(ratio: float) -> float | None:
    return (ratio - 1) * 100 if math.isfinite(ratio) else None


def outcome_item(result) -> dict | None:
    """``result``'s headline as an item; percentages unrounded (rounded once, when shown)."""
    est = result.headline
    if est is None:
        return None
    return {"outcome": est.outcome, "area": est.area, "design": est.design,
            "percent_change": est.percent_change,
            "ci_low_pct": _unrounded_pct(est.ci_low), "ci_high_pct": _unrounded_pct(est.ci_high),
            "permutation_p": est.p_value if est.method == "synth" else None,
            "excludes_no_change": bool(est.excludes_no_change),
            "caveats": caveat_labels(result)}


def value_items(report) -> list[dict]:
    """Each costed programme x outcome's value-for-money line (page one, manifest, index and
    email say the same): ``programme_id``, ``programme`` and ``line``. Where the figure rests
    on a design that is not the headline (a rollout whose pre-trend test fails), the line
    says so."""
    from impactbook.report.value_section import value_summary_line

    items = []
    for value in getattr(report, "values", ()):
        result = _result_of(report, value)
        line = " ".join(filter(None, (value_summary_line(value), value_caveat(report, value))))
        items.append({"programme_id": value.programme,
                      "programme": result.programme if result else value.programme,
                      "line": line})
    return items


def _result_of(report, value):
    return next((r for r in report.results if r.programme_id == value.programme
                 and r.outcome == value.outcome), None)


def value_caveat(report, value) -> str:
    """Where a value for money rests on a design passed over for the headline, that and why
    in one sentence ("" otherwise)."""
    result = _result_of(report, value)
    if result is None or result.headline is not None:
        return ""
    return " ".join(f"It rests on the {DESIGN_NAMES[method]}'s events averted, which are not "
                    f"the headline: {why.split(':')[0]}."
                    for method, why in result.choice.passed_over)


def city_headline(results: Sequence, design_rank: Mapping[str, int],
                  rule: str, value_lines: Sequence[dict] = ()) -> dict | None:
    """The figure for the index and the emails: the result whose headline design is the
    strongest, the first in interventions.csv order (and each programme's first listed outcome)
    on ties, with every outcome of its programme. Never the narrowest interval: that would let
    any added row with more events take over. ``value_lines`` (:func:`value_items`) travel
    with it as ``value_for_money``, each line naming its programme."""
    ranked = [(design_rank[r.choice.method], n, r) for n, r in enumerate(results)
              if r.headline is not None]
    if not ranked:
        return None
    _, _, result = min(ranked, key=lambda entry: entry[:2])
    est = result.headline
    record = est.to_dict()
    item = outcome_item(result)
    headline = {
        "outcome": est.outcome, "area": est.area,
        "programme": result.programme, "intervention": result.intervention,
        "design": est.design, "how_chosen": rule,
        **{k: v for k, v in item.items() if k not in ("outcome", "area", "design")},
        "designs_disagree": result.choice.designs_disagree,
        "events_averted": record["events_averted"],
        "events_averted_low": record["events_averted_low"],
        "events_averted_high": record["events_averted_high"],
        "outcomes": [outcome_item(r) for r in results
                     if r.programme_id == result.programme_id and r.headline is not None],
    }
    headline["value_for_money"] = [
        f"{TITLE}, {item['programme']}: {item['line'].removeprefix(TITLE + ': ')}"
        for item in value_lines]
    return {"text": headline_line(headline), **headline}
