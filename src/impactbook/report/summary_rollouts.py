"""An intervention summary's staggered rollouts: where one leads, it stands for its sites.

A rollout (a row of interventions.csv with area ``rollout``) covers many units of one city. Its
primary outcome's overall effect is weighed by the headline rules
(:func:`impactbook.effects.choose_headline`: it leads only when its pre-trend test passes).
Where it leads, it is the estimate the summary pools for that outcome in place of the
interrupted time series of the same city's programmes whose area is one of its units (the
same sites, counted once). Where it does not, the summary pools what it pooled without it and
says why in one sentence.
"""

from __future__ import annotations

from dataclasses import dataclass

from impactbook import effects
from impactbook.analysis.rollout import rollout_estimate
from impactbook.analysis.store import EstimateStore
from impactbook.effects.rollout_headline import rollout_as_estimate
from impactbook.errors import ImpactbookError
from impactbook.report.content import rollout_request
from impactbook.workbook import Workbook, split_list


@dataclass(frozen=True)
class SummaryRollout:
    """One rollout of the summary: its estimate (None when it failed), whether it leads, the
    sites it stands for (areas of the same city), and its sentence for the key findings."""

    programme: dict
    outcome: str
    estimate: effects.Estimate | None
    is_leading: bool
    sites: frozenset[str]
    finding: str


def weigh_summary_rollout(workbook: Workbook, programme: dict,
                          store: EstimateStore | None = None) -> SummaryRollout:
    """The rollout's primary outcome, weighed for the summary (its overall effect read from
    ``store`` when the city's report kept it there, else fitted and kept)."""
    outcome = split_list(programme["outcomes"])[0]
    units = workbook.rollouts.loc[workbook.rollouts["programme"] == programme["id"], "unit"]
    sites = frozenset(units)
    name = f"{programme['programme']} ({programme['city']})"
    request = rollout_request(programme, outcome)
    try:
        estimate = store.find(workbook, programme, request) if store is not None else None
        if estimate is None:
            estimate = rollout_as_estimate(rollout_estimate(workbook, request))
            if store is not None:
                store.keep(workbook, programme, request, estimate)
    except ImpactbookError as exc:
        return SummaryRollout(programme, outcome, None, False, sites,
                              f"{outcome}: {name}, a staggered rollout, has no estimate ({exc}); "
                              "the summary pools its sites' own interrupted time series.")
    choice = effects.choose_headline({"rollout": estimate})
    if choice.method == "rollout":
        return SummaryRollout(programme, outcome, estimate, True, sites,
                              f"{outcome}: {name}: the staggered rollout is the strongest "
                              f"design for the {programme['city']} sites it covers, so the "
                              "summary pools it in place of their interrupted time series.")
    sentence = " ".join(effects.describe_passed_over(estimate, why)
                        for _, why in choice.passed_over)
    return SummaryRollout(programme, outcome, estimate, False, sites,
                          f"{outcome}: {name}: {sentence[:1].lower() + sentence[1:]} The "
                          f"summary pools each {programme['city']} site's interrupted time "
                          "series instead.")


def is_covered(rollout: SummaryRollout, city: str, area: str, outcome: str) -> bool:
    """Whether a programme's estimate is one of the sites a leading rollout stands for."""
    return (rollout.is_leading and city == rollout.programme["city"]
            and outcome == rollout.outcome and bool(set(split_list(area)) & rollout.sites))
