"""The content of an intervention summary, as plain data.

``build_intervention_summary`` takes every programme of one intervention type, estimates
each outcome on the path a city report uses (:func:`impactbook.report.content.outcome_result`)
and pools each outcome across programmes. A staggered rollout is weighed once for the sites it
covers (:mod:`impactbook.report.summary_rollouts`). Display lives in
:mod:`impactbook.report.sections`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from impactbook import __version__, effects
from impactbook.analysis.programmes import programme_request
from impactbook.analysis.store import EstimateStore, active_store
from impactbook.contracts import ReportKind
from impactbook.defaults import DEFAULT_POST_PERIODS
from impactbook.errors import ImpactbookError, ParameterError
from impactbook.report.content import outcome_result, report_workbook, require_complete
from impactbook.workbook import Workbook, split_list, unknown_value
from impactbook.workbook.digest import shown_digest
from impactbook.workbook.periods import format_period
from impactbook.workbook.rollouts import is_rollout


@dataclass(frozen=True)
class InterventionSummary:
    """Every programme's estimates for one intervention type, pooled one outcome at a time.

    ``pooled`` maps an outcome to its pooled result (outcomes measured by at least
    :data:`~impactbook.effects.pooled.MIN_PROGRAMMES` programmes with an estimate);
    ``pooling_notes`` says for every other outcome why there is no pooled number.
    """

    intervention: str
    rows: pd.DataFrame
    pooled: dict[str, effects.PooledResult]
    pooling_notes: dict[str, str]
    news_counts: pd.DataFrame
    news: pd.DataFrame
    data_hash: str
    generated: str
    version: str = __version__
    programmes: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: Each staggered rollout's sentence: whether it leads for its sites, and why not.
    rollout_findings: tuple[str, ...] = ()

    @property
    def main_outcome(self) -> str | None:
        """The pooled outcome with the most programmes (the summary's headline)."""
        if not self.pooled:
            return None
        return max(self.pooled, key=lambda outcome: self.pooled[outcome].k)

    @property
    def key_findings(self) -> list[str]:
        found = [effects.describe_pooled(result, self.intervention, outcome)
                 for outcome, result in self.pooled.items()]
        return (found + list(self.rollout_findings)
                + [f"{outcome}: {note}" for outcome, note in self.pooling_notes.items()])


def build_intervention_summary(data_dir: Path | str, intervention: str, *,
                               post_periods: int = DEFAULT_POST_PERIODS, pooling: str = "reml",
                               today: dt.date | None = None,
                               allow_incomplete: bool = False,
                               store: EstimateStore | None = None) -> InterventionSummary:
    """Every programme's model estimate for one intervention type, pooled per outcome.

    Each estimate is read from ``store`` (:mod:`impactbook.analysis.store`; default the
    batch's, none outside a batch) when a city report of the run kept it there, so a summary
    after its city reports costs its pooling; what is not there is computed and kept.

    Shootings and shooting victims are two views of the same events, so outcomes are never
    pooled together: each outcome is pooled over the programmes that measure it (each
    programme once), by random effects (``pooling`` ``"reml"`` with Hartung-Knapp intervals,
    or ``"dl"``: DerSimonian-Laird with normal intervals), when at least three programmes
    have an estimate. Every outcome is still shown in the table and plot.
    """
    from impactbook.news.link import count_tags_by_period, news_for_intervention

    if pooling not in ("reml", "dl"):
        raise ParameterError("pooling", pooling, "reml or dl")
    workbook = report_workbook(data_dir, ReportKind.INTERVENTION, intervention)
    store = store if store is not None else active_store()
    table = workbook.interventions
    programmes = table[table["intervention"] == intervention]
    if programmes.empty:
        raise unknown_value("intervention", intervention, table["intervention"])
    from impactbook.report.summary_rollouts import is_covered, weigh_summary_rollout

    rows, failures, covered_rows = [], [], []
    by_outcome: dict[str, list[effects.Estimate]] = {}
    rollouts = [weigh_summary_rollout(workbook, p, store)
                for p in programmes.to_dict("records") if is_rollout(p)]
    for rollout in rollouts:  # a leading rollout is pooled once for the sites it covers
        est = rollout.estimate
        if rollout.is_leading:
            rows.append({"city": rollout.programme["city"],
                         "programme": rollout.programme["programme"], "area": est.area,
                         "outcome": rollout.outcome, "start": format_period(est.start),
                         "confidence": rollout.programme.get("confidence", ""),
                         **{k: est.to_dict()[k] for k in (
                             "rate_ratio", "ci_low", "ci_high", "percent_change", "p_value",
                             "pre_periods", "post_periods")},
                         "warnings": len(est.warnings), "caveats": list(est.warnings),
                         "error": ""})
            by_outcome.setdefault(rollout.outcome, []).append(est)
    for programme in programmes.to_dict("records"):
        if is_rollout(programme):  # weighed above, as one estimate of many units
            continue
        for outcome in split_list(programme["outcomes"]):
            est, errors = _programme_its(workbook, programme, outcome, post_periods, store)
            rows.append({
                "city": programme["city"], "programme": programme["programme"],
                "area": est.area if est else programme["area"], "outcome": outcome,
                "start": programme["start"], "confidence": programme.get("confidence", ""),
                **({k: est.to_dict()[k] for k in ("rate_ratio", "ci_low", "ci_high",
                                                   "percent_change", "p_value",
                                                   "pre_periods", "post_periods")}
                   if est else {}),
                "warnings": len(est.warnings) if est else 0,
                "caveats": list(est.warnings) if est else [],
                "error": "; ".join(errors) if est is None else "",
            })
            by_outcome.setdefault(outcome, [])
            if any(is_covered(r, programme["city"], programme["area"], outcome)
                   for r in rollouts):
                covered_rows.append(len(rows) - 1)  # shown, but pooled through its rollout
            elif est is not None:
                by_outcome[outcome].append(est)
            else:
                failures.append((programme["programme"], outcome, errors))
    require_complete(failures, intervention, allow_incomplete)
    pooled: dict[str, effects.PooledResult] = {}
    notes: dict[str, str] = {}
    interval = "hartung-knapp" if pooling == "reml" else "wald"
    for outcome, estimates in by_outcome.items():
        try:
            pooled[outcome] = effects.pool_random_effects(estimates, method=pooling,
                                                          interval=interval)
        except ImpactbookError as exc:
            notes[outcome] = _pooling_note(estimates, exc)
    frame = pd.DataFrame(rows)
    if not frame.empty:
        has_estimate = frame["rate_ratio"].notna() if "rate_ratio" in frame else False
        in_pooled = frame["outcome"].isin(pooled) & has_estimate
        in_pooled[frame.index.isin(covered_rows)] = False
        frame.insert(4, "in_pooled", in_pooled)
    news = news_for_intervention(workbook.news, intervention)
    return InterventionSummary(
        intervention=intervention, rows=frame, pooled=pooled, pooling_notes=notes,
        news_counts=count_tags_by_period(news, freq="Y"), news=news,
        data_hash=shown_digest(workbook.digest), generated=(today or dt.date.today()).isoformat(),
        programmes=programmes, rollout_findings=tuple(r.finding for r in rollouts))


def _programme_its(workbook: Workbook, programme: dict, outcome: str, post_periods: int,
                   store: EstimateStore | None) -> tuple[effects.Estimate | None, tuple]:
    """The programme's interrupted time series (the estimate a summary pools) and, when it
    has none, every design's error as a city report lists them."""
    if store is not None:
        found = store.find(workbook, programme, programme_request(
            programme, outcome, "its", post_periods=post_periods))
        if found is not None:
            return found, ()
    result = outcome_result(workbook, programme, outcome, post_periods,
                            with_placebo=False, with_synth=False, store=store)
    return result.its, result.errors


def _pooling_note(estimates: list[effects.Estimate], exc: ImpactbookError) -> str:
    if len(estimates) < effects.MIN_PROGRAMMES:
        places = effects.describe_places([e.city for e in estimates])
        return (f"too few programmes to pool (estimates from {places}; at least "
                f"{effects.MIN_PROGRAMMES} needed)")
    return f"no pooled estimate ({exc})"
