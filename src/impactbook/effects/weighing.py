"""Which design leads: the strongest the data support, and whether the designs agree.

For one programme and outcome the headline comes from, in order: a synthetic control, a
staggered rollout (a programme opened unit by unit, which has no other design), comparison
areas, the interrupted time series, and the naive pre/post figure, each only when it passes its
own test of being good enough to lead (:mod:`impactbook.effects.leading`: the fit, the pool,
the pre-trend check, and no warning of its own that says it is biased). A design that is
present but fails its test is passed over, and the reason is kept in words so the report can
say why.

Two designs *disagree* when they point in opposite directions and at least one interval
excludes no change, or when their intervals do not overlap. The naive pre/post figure is not
weighed against the models: it ignores trends, so differing from them is expected.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from impactbook.designs import DESIGN_NAMES
from impactbook.effects.estimate import Estimate
from impactbook.effects.leading import why_not_lead
from impactbook.report.format import (
    describe_change_pct,
    describe_interval,
    format_interval,
    format_p,
    format_pct,
)

#: Strongest first; each with the detail key its own check sets (None: none). Whether it may
#: lead is :func:`impactbook.effects.leading.why_not_lead`.
DESIGN_ORDER: tuple[tuple[str, str | None], ...] = (
    ("synth", "is_good_fit"),
    ("rollout", "is_pretrend_passed"),
    ("comparison", "is_pre_trend_parallel"),
    ("its", None),
    ("prepost", None),
)
WEIGHED_DESIGNS = ("synth", "comparison", "its")


@dataclass(frozen=True)
class HeadlineChoice:
    """The design the headline uses, why, and any disagreement between the designs."""

    method: str | None
    reason: str
    disagreements: tuple[str, ...] = ()
    #: Each design present but passed over: ``(method, why in words)`` (also when none leads).
    passed_over: tuple[tuple[str, str], ...] = ()

    @property
    def design(self) -> str | None:
        return DESIGN_NAMES.get(self.method) if self.method else None

    @property
    def designs_disagree(self) -> bool:
        return bool(self.disagreements)


def choose_headline(estimates: Mapping[str, Estimate | None]) -> HeadlineChoice:
    """Pick the headline design among ``estimates`` (method name -> estimate or None)."""
    passed_over: list[tuple[str, str]] = []
    chosen = None
    for method, _ in DESIGN_ORDER:
        est = estimates.get(method)
        if est is None:
            continue
        problem = why_not_lead(method, est.details)
        if problem is not None:
            passed_over.append((method, problem))
            continue
        chosen = method
        break
    said = [f"the {DESIGN_NAMES[method]} was passed over: {why}" for method, why in passed_over]
    if chosen is None:
        if passed_over:
            return HeadlineChoice(None, f"no design may lead ({'; '.join(said)})",
                                  passed_over=tuple(passed_over))
        return HeadlineChoice(None, "no design gave an estimate")
    reason = f"the {DESIGN_NAMES[chosen]}"
    reason += (", the strongest design with an estimate" if not passed_over
               else f" ({'; '.join(said)})")
    disagreements = tuple(
        text for method in WEIGHED_DESIGNS if method != chosen
        for text in [_disagreement(estimates[chosen], estimates.get(method))] if text)
    return HeadlineChoice(chosen, reason, disagreements, tuple(passed_over))


def describe_passed_over(estimate: Estimate, why: str) -> str:
    """One plain sentence: a design's figure, that it is not the headline, and why."""
    figure = (f"{format_pct(estimate.percent_change)}, permutation p "
              f"{format_p(estimate.p_value)}" if estimate.method == "synth" else
              f"{format_pct(estimate.percent_change)}, 95% interval "
              f"{format_interval(estimate.ci_low, estimate.ci_high)}")
    return f"The {estimate.design}'s figure ({figure}) is not the headline because {why}."


def designs_disagree(a: Estimate, b: Estimate) -> bool:
    """Opposite directions with an interval excluding no change, or disjoint intervals."""
    opposite = (a.rate_ratio - 1.0) * (b.rate_ratio - 1.0) < 0
    if opposite and (a.excludes_no_change or b.excludes_no_change):
        return True
    return a.ci_high < b.ci_low or b.ci_high < a.ci_low


def _disagreement(chosen: Estimate, other: Estimate | None) -> str | None:
    if other is None or not designs_disagree(chosen, other):
        return None
    return (f"designs disagree: the {other.design} {_gives(other)} {_said(other)}, while the "
            f"{chosen.design} {_gives(chosen)} {_said(chosen)}")


def _gives(est: Estimate) -> str:
    return "give" if est.design.endswith("areas") else "gives"  # "comparison areas give"


def _said(est: Estimate) -> str:
    if est.method == "synth":  # no interval: its permutation test
        return (f"{describe_change_pct(est.percent_change)} (permutation p "
                f"{format_p(est.p_value)})")
    return (f"{describe_change_pct(est.percent_change)} (95% interval "
            f"{describe_interval(est.ci_low, est.ci_high)})")

