"""The report's tables and caveat lists, in words a funder reads.

Pure functions from a report's content to plain frames (column names in words, every number
written by :mod:`impactbook.report.format`) and to lists of sentences; displaying them is
:mod:`impactbook.report.sections`' job.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pandas as pd

from impactbook.designs import DESIGN_NAMES, finite_number
from impactbook.report.format import (
    format_change,
    format_interval,
    format_number,
    format_p,
    format_pct,
    ratio_to_pct,
)

#: How each design is named in tables and caveat lists: the formatter's one name for it.
DESIGN_LABELS = DESIGN_NAMES
DESIGNS = ("prepost", "its", "comparison", "synth")
CONFIDENCE_LABELS = {"V": "verified", "P": "partly verified", "U": "unverified"}


def place_label(area: str | None, city: str | None = None) -> str:
    """``District 15`` or ``Chicago as a whole`` (never ``in citywide``)."""
    if area and str(area).strip().lower() != "citywide":
        return str(area)
    return f"{city} as a whole" if city else "the whole city"


def area_label(area: str | None) -> str:
    """An area as a table cell shows it: ``District 15`` or ``citywide``."""
    return str(area) if area and str(area).strip().lower() != "citywide" else "citywide"


def programme_label(programme: str, intervention: str) -> str:
    """The programme's name, with its type when the name does not already say it."""
    if intervention and intervention.lower() not in programme.lower():
        return f"{programme}, a {intervention} programme"
    return programme


def confidence_label(code: object) -> str:
    return CONFIDENCE_LABELS.get(str(code or "").strip().upper(), "not given")


def data_span(series: pd.Series | None) -> tuple[str, str] | None:
    """First and last period with a count in ``series`` (a PeriodIndex), or None."""
    if series is None:
        return None
    observed = series.dropna()
    if observed.empty:
        return None
    return str(observed.index.min()), str(observed.index.max())


def _period_unit(estimate) -> str:
    return "quarter" if str(estimate.start.freqstr).startswith("Q") else "month"


def placebo_text(placebo) -> str:
    if placebo is None:
        return ""
    if placebo.n == 0:
        return "no false start could be fitted"
    if getattr(placebo, "is_skipped", False):
        return f"skipped ({placebo.n} fitted)"
    return f"{placebo.n_as_large} of {placebo.n} (p {format_p(placebo.p_value)})"


def _events_averted(est) -> str:
    """Expected minus observed over the post window, with its interval: ``12 (-3 to 25)``."""
    middle, low, high = getattr(est, "events_averted", (None, None, None))
    if finite_number(middle) is None:
        return ""
    text = format_number(middle, 0)
    if finite_number(low) is not None and finite_number(high) is not None:
        text += f" ({format_number(low, 0)} to {format_number(high, 0)})"
    return text


def _detectable_fall(est) -> str:
    """The smallest fall the design detects with 80% power: ``45%``; ``none`` if no size."""
    ratio = finite_number(getattr(est, "detectable_rate_ratio", None))
    if ratio is None:
        return "none"
    return format_pct(ratio_to_pct(ratio), signed=False)


def estimates_table(results: Sequence) -> pd.DataFrame:
    """One row per outcome and design of one programme's results."""
    rows = []
    for result in results:
        for design in DESIGNS:
            est = getattr(result, design)
            if est is None:
                continue
            unit = _period_unit(est)
            rows.append({
                "Outcome": result.outcome,
                "Design": DESIGN_LABELS[design] + (" (headline)" if est is result.headline
                                                   else ""),
                f"{unit.capitalize()}s before / after": f"{est.pre_periods} / {est.post_periods}",
                f"Mean a {unit}, before / after": (f"{format_number(est.pre_mean)} / "
                                                  f"{format_number(est.post_mean)}"),
                "Change": format_change(est.rate_ratio),
                # A synthetic control has no interval: p is its permutation test.
                "95% interval": ("none (permutation test)" if est.method == "synth"
                                 else format_interval(est.ci_low, est.ci_high)),
                "p": format_p(est.p_value),
                "Events averted (95%)": _events_averted(est),
                "Detectable fall": "" if est.method == "synth" else _detectable_fall(est),
                "False starts as large": placebo_text(result.placebo) if design == "its" else "",
            })
        if all(getattr(result, d) is None for d in DESIGNS):
            rows.append({"Outcome": result.outcome,
                         "Design": "no estimate: " + "; ".join(result.errors)})
    frame = pd.DataFrame(rows).fillna("")
    for column in ("False starts as large", "Events averted (95%)"):
        if column in frame and not frame[column].any():
            frame = frame.drop(columns=column)
    return frame


def summary_table(rows: pd.DataFrame) -> pd.DataFrame:
    """The intervention summary's rows (one per city, programme and outcome) in words."""
    out = []
    for row in rows.to_dict("records"):
        has_estimate = pd.notna(row.get("rate_ratio"))
        out.append({
            "City": row["city"],
            "Programme": row["programme"],
            "Outcome (area)": f"{row['outcome']} ({area_label(row['area'])})",
            "Start": row["start"],
            "Source": confidence_label(row.get("confidence")),
            "Change": format_change(row.get("rate_ratio")) if has_estimate else "",
            "95% interval": (format_interval(row.get("ci_low"), row.get("ci_high"))
                             if has_estimate else ""),
            "p": format_p(row.get("p_value")) if has_estimate else "",
            "Pooled": "yes" if row.get("in_pooled") else "no",
            "Note": "" if has_estimate else f"no estimate: {row.get('error') or 'not computed'}",
        })
    frame = pd.DataFrame(out)
    if not frame.empty and not frame["Note"].any():
        frame = frame.drop(columns="Note")
    return frame


@dataclass(frozen=True)
class Caveat:
    """One warning, said once for a programme, with where it applies (empty: everywhere)."""

    text: str
    where: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"{self.text} ({'; '.join(self.where)})" if self.where else self.text


_NUMBERED_ASIDE = re.compile(r"\s*\([^()]*\d[^()]*\)")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def _caveat_key(text: str) -> str:
    return _NUMBER.sub("#", _NUMBERED_ASIDE.sub("", text)).strip().lower()


def merge_caveats(found: Iterable[tuple[object, str]],
                  scope: Sequence[object] | None = None) -> list[Caveat]:
    """Warnings of many estimates said once each: ``found`` is (where, warning) pairs and
    ``scope`` every estimate's ``where`` (default: those in ``found``).

    Warnings that differ only in their numbers (``mean 2.2 a month`` / ``mean 3.1 a month``)
    are one caveat; its numbered aside is dropped when the numbers differ, and ``where``
    lists the estimates it applies to unless it applies to all of them.
    """
    found = list(found)
    everywhere = set(scope) if scope is not None else {where for where, _ in found}
    groups: dict[str, dict] = {}
    for where, text in found:
        group = groups.setdefault(_caveat_key(text), {"texts": [], "where": []})
        if text not in group["texts"]:
            group["texts"].append(text)
        if where not in group["where"]:
            group["where"].append(where)
    caveats = []
    for group in groups.values():
        texts = group["texts"]
        text = texts[0] if len(texts) == 1 else _NUMBERED_ASIDE.sub("", texts[0])
        where = () if len(group["where"]) == len(everywhere) else tuple(group["where"])
        caveats.append(Caveat(text=" ".join(text.split()), where=where))
    return caveats


def _compact_where(where: Sequence[tuple[str, str]],
                   scope: Sequence[tuple[str, str]]) -> tuple[str, ...]:
    """(outcome, design) pairs as ``shootings`` (every design) or ``shootings (naive
    before/after)``."""
    compact = []
    for outcome in dict.fromkeys(o for o, _ in where):
        designs = [d for o, d in where if o == outcome]
        if len(designs) == sum(1 for o, _ in scope if o == outcome):
            compact.append(outcome)
        else:
            compact.append(f"{outcome} ({', '.join(designs)})")
    return tuple(compact)


def result_caveats(results: Iterable) -> list[Caveat]:
    """Every warning of a programme's estimates, said once (see :func:`merge_caveats`)."""
    found, scope = [], []
    for result in results:
        for design in DESIGNS:
            est = getattr(result, design)
            if est is not None:
                label = (result.outcome, DESIGN_LABELS[design])
                scope.append(label)
                found.extend((label, warning) for warning in est.warnings)
    return [Caveat(c.text, _compact_where(c.where, scope) if c.where else ())
            for c in merge_caveats(found, scope)]
