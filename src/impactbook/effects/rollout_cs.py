"""A second view of a staggered rollout: Callaway and Sant'Anna's group-time effects (csdid).

The count model (:mod:`impactbook.effects.rollout`, Poisson, ratio scale) leads; this view is
the linear difference-in-differences of Callaway & Sant'Anna (2021, "Difference-in-Differences
with multiple time periods"), as the ``csdid`` package (a port of R ``did``) computes it: for
every cohort ``g`` and period ``t`` an ATT(g,t), the cohort's change from its last untreated
period compared with the same change among never- or not-yet-treated units (doubly robust, no
covariates), then aggregated four ways (``simple``, ``dynamic`` by event time, ``group`` by
cohort, ``calendar`` by period). It is on the rate per 100,000 when every row has a population
(exposure), else on the counts themselves (said in ``scale``): a difference per unit and
period, not a ratio. Standard errors are csdid's analytic influence-function ones (R ``did``'s
``bstrap = FALSE``): the multiplier bootstrap adds cost and random draws for no change in what
is estimated. Each ATT(g,t) is a small regression, so the cost grows with cohorts x periods
(New York monthly: 2,000 cells and seconds of CPU): the view is computed only when asked for.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from impactbook.effects.estimate import Z_95, to_json_safe
from impactbook.effects.estimate import finite_or_none as plain_number
from impactbook.effects.rollout_panel import CONTROLS, Panel, build_panel, is_never
from impactbook.errors import EstimationError, ParameterError

#: Rates are per this many residents (or members, for groups).
RATE_PER = 100_000
#: Leads (event times before the start) the event-time pre-test looks at, as the count model.
MAX_LEADS = 8
_CSDID_CONTROLS = {"notyet": "notyettreated", "never": "nevertreated"}
DESIGN = ("Callaway and Sant'Anna group-time ATT (csdid, doubly robust, no covariates, "
          "analytic standard errors)")


@dataclass(frozen=True)
class CSEffect:
    """One aggregation: an average treatment effect on the treated (linear scale)."""

    att: float
    se: float
    key: Any = None  # the cohort, period or event time (None for an overall effect)

    @property
    def ci_low(self) -> float:
        return self.att - Z_95 * self.se

    @property
    def ci_high(self) -> float:
        return self.att + Z_95 * self.se

    def to_dict(self, key_name: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {key_name: to_json_safe(self.key)} if key_name else {}
        out.update({"att": plain_number(self.att), "se": plain_number(self.se),
                    "ci_low": plain_number(self.ci_low), "ci_high": plain_number(self.ci_high)})
        return out


@dataclass(frozen=True)
class CSPretest:
    """A Wald test that pre-start effects are zero (``kind``: which ones)."""

    statistic: float
    df: int
    p_value: float
    kind: str

    def to_dict(self) -> dict[str, Any]:
        return {"statistic": plain_number(self.statistic), "df": int(self.df),
                "p_value": plain_number(self.p_value), "kind": self.kind}


@dataclass(frozen=True)
class CallawaySantAnna:
    """The Callaway and Sant'Anna view of a rollout; every number unrounded."""

    scale: str  # "rate per 100,000" or "count"
    controls: str
    anticipation: int
    simple: CSEffect
    dynamic: CSEffect  # the mean of the event-time effects from the start on
    by_event_time: tuple[CSEffect, ...]
    group: CSEffect
    by_cohort: tuple[CSEffect, ...]
    calendar: CSEffect
    by_period: tuple[CSEffect, ...]
    #: csdid's own test of every pre-start ATT(g,t) (R ``did``'s W), None when it gives none.
    pretest: CSPretest | None
    #: The joint test of the event-time leads (up to MAX_LEADS before the start).
    event_time_pretest: CSPretest | None
    treated_post_mean: float  # the treated units' mean outcome in the cells ``simple`` averages
    units: int
    treated_units: int
    cells: int
    dropped: tuple[Mapping[str, Any], ...] = ()
    warnings: tuple[str, ...] = ()
    #: Every ATT(g,t) (``cohort, period, event_time, att, se``), for charts; not in the JSON.
    attgt: pd.DataFrame | None = field(default=None, repr=False, compare=False)

    design = DESIGN

    @property
    def simple_percent(self) -> float:
        """``simple`` as a percent of the treated units' counterfactual mean (observed minus
        the effect): a rough bridge to the count model's percent change, not a ratio estimate."""
        counterfactual = self.treated_post_mean - self.simple.att
        return 100.0 * self.simple.att / counterfactual if counterfactual > 0 else float("nan")

    def to_dict(self) -> dict[str, Any]:
        return {
            "design": self.design, "scale": self.scale, "controls": self.controls,
            "anticipation": self.anticipation, "standard_errors": "analytic",
            "simple": self.simple.to_dict(),
            "simple_percent": plain_number(self.simple_percent),
            "treated_post_mean": plain_number(self.treated_post_mean),
            "dynamic": self.dynamic.to_dict(),
            "by_event_time": [e.to_dict("event_time") for e in self.by_event_time],
            "group": self.group.to_dict(),
            "by_cohort": [e.to_dict("cohort") for e in self.by_cohort],
            "calendar": self.calendar.to_dict(),
            "by_period": [e.to_dict("period") for e in self.by_period],
            "pretest": self.pretest.to_dict() if self.pretest else None,
            "event_time_pretest": (self.event_time_pretest.to_dict()
                                   if self.event_time_pretest else None),
            "units": int(self.units), "treated_units": int(self.treated_units),
            "cells": int(self.cells),
            "dropped": [to_json_safe(d) for d in self.dropped],
            "warnings": list(self.warnings),
        }


def att_gt_view(data: pd.DataFrame, *, controls: str = "notyet", anticipation: int = 0,
                scale: str = "as given", label=None, dropped: Iterable[Mapping] = (),
                ) -> CallawaySantAnna:
    """The view of ``data`` (``unit``, ``time`` and ``cohort`` integers, ``y``): a balanced
    panel, ``cohort`` the first treated ``time`` (0: not treated within the data).

    ``label`` turns a time (or cohort) integer into the label the result shows (default: the
    integer itself).
    """
    if controls not in CONTROLS:
        raise ParameterError("controls", controls, "notyet (not yet treated) or never")
    label = label or (lambda k: int(k))
    if not (data["cohort"] > 0).any():
        raise EstimationError("no unit starts within the data: nothing to estimate")
    if controls == "never" and not (data["cohort"] == 0).any():
        raise EstimationError("never-treated controls were asked for, but every unit is "
                              "treated within the data; use not-yet-treated controls")
    from csdid.att_gt import ATTgt  # imported here: only a request for the view pays for it

    found: list[str] = []
    # csdid prints every summary and warns in its own words (small groups, a singular pre-test,
    # an unbalanced panel); the view says each of those itself (warnings, dropped), so both
    # are kept out of the CLI's output.
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        try:
            fit = ATTgt(yname="y", tname="time", idname="unit", gname="cohort",
                        data=data[["unit", "time", "cohort", "y"]],
                        control_group=_CSDID_CONTROLS[controls],
                        anticipation=anticipation).fit(est_method="dr", bstrap=False)
            aggregated = {kind: fit.aggte(typec=kind).atte
                          for kind in ("simple", "dynamic", "group", "calendar")}
        except (ValueError, ArithmeticError, LookupError, np.linalg.LinAlgError) as exc:
            raise EstimationError(f"csdid could not estimate the view: {exc}") from None
    found += _single_unit_warning(data, label)
    att = np.asarray(fit.results["att"], dtype=float)
    groups = np.asarray(fit.results["group"])
    times = np.asarray(fit.results["year"])
    dynamic = aggregated["dynamic"]
    pretest = None
    if fit.MP["W"] is not None:
        se = np.asarray(fit.results["se"], dtype=float)
        pretest = CSPretest(float(fit.MP["W"]), int(np.sum(
            (groups - anticipation > times) & np.isfinite(se))), float(fit.MP["Wpval"]),
            "every ATT(g,t) before the start (csdid / R did)")
    else:
        why = next((str(w.message).split(". ")[0] for w in said
                    if "pre-test" in str(w.message) or "Wald" in str(w.message)), "")
        found.append("csdid gives no joint test of the pre-start ATT(g,t)"
                     + (f" ({why[0].lower()}{why[1:].rstrip('.')})" if why else "")
                     + "; see the event-time pre-test.")
    return CallawaySantAnna(
        scale=scale, controls=controls, anticipation=anticipation,
        simple=_overall(aggregated["simple"]),
        dynamic=_overall(dynamic),
        by_event_time=_parts(dynamic, lambda e: int(e)),
        group=_overall(aggregated["group"]),
        by_cohort=_parts(aggregated["group"], label),
        calendar=_overall(aggregated["calendar"]),
        by_period=_parts(aggregated["calendar"], label),
        pretest=pretest,
        event_time_pretest=_event_time_pretest(dynamic, anticipation),
        treated_post_mean=_treated_post_mean(data, groups, times, att),
        units=int(data["unit"].nunique()),
        treated_units=int(data.loc[data["cohort"] > 0, "unit"].nunique()),
        cells=int(np.isfinite(att).sum()), dropped=tuple(dropped), warnings=tuple(found),
        attgt=pd.DataFrame({"cohort": [label(g) for g in groups],
                            "period": [label(t) for t in times], "event_time": times - groups,
                            "att": att, "se": np.asarray(fit.results["se"], dtype=float)}))


def _single_unit_warning(data: pd.DataFrame, label) -> list[str]:
    sizes = data[data["cohort"] > 0].groupby("cohort")["unit"].nunique()
    single = [str(label(g)) for g in sizes[sizes == 1].index]
    if not single:
        return []
    return [f"{len(single)} cohort(s) hold a single unit ({', '.join(single)}): each such "
            "effect is one unit's, and its analytic standard error sees only the controls' "
            "variation, so its interval is too narrow and the pre-tests reject too easily."]


def _overall(aggregate: Mapping) -> CSEffect:
    return CSEffect(float(aggregate["overall_att"]), float(aggregate["overall_se"]))


def _parts(aggregate: Mapping, label) -> tuple[CSEffect, ...]:
    se = np.asarray(aggregate["se_egt"], dtype=float).reshape(-1)
    return tuple(CSEffect(float(a), float(s), label(k)) for k, a, s in
                 zip(aggregate["egt"], aggregate["att_egt"], se, strict=True))


def _event_time_pretest(dynamic: Mapping, anticipation: int) -> CSPretest | None:
    """Wald test that the event-time effects before the start (at most MAX_LEADS, those not
    excused by anticipation) are jointly zero, from the aggregated influence functions (the
    covariance behind the analytic SEs): a test that stays defined with few units and many
    periods, where the cell-level one is singular."""
    event_times = np.asarray(dynamic["egt"])
    chosen = np.flatnonzero((event_times < -anticipation)
                            & (event_times >= -anticipation - MAX_LEADS))
    if chosen.size == 0:
        return None
    influence = np.asarray(dynamic["inf_function"]["dynamic_inf_func_e"], dtype=float)
    values = np.asarray(dynamic["att_egt"], dtype=float)[chosen]
    n = influence.shape[0]
    covariance = influence[:, chosen].T @ influence[:, chosen] / n**2
    if not np.all(np.isfinite(covariance)) or np.linalg.matrix_rank(covariance) < chosen.size:
        return None
    statistic = float(values @ np.linalg.solve(covariance, values))
    return CSPretest(statistic, int(chosen.size), float(stats.chi2.sf(statistic, chosen.size)),
                     f"event-time leads {int(event_times[chosen][0])} to "
                     f"{int(event_times[chosen][-1])}")


def _treated_post_mean(data: pd.DataFrame, groups, times, att) -> float:
    """The mean outcome over the treated observations of the cells ``simple`` averages (its
    weights are the cohorts' sizes, so it is the mean over those unit-periods)."""
    kept = {(int(g), int(t)) for g, t, a in zip(groups, times, att, strict=True)
            if t >= g and np.isfinite(a)}
    rows = data[data["cohort"] > 0]
    is_kept = [(g, t) in kept for g, t in zip(rows["cohort"], rows["time"], strict=True)]
    return float(rows.loc[is_kept, "y"].mean())


def panel_view(panel: Panel, *, controls: str = "notyet", anticipation: int = 0,
               units: Iterable[str] | None = None) -> CallawaySantAnna:
    """The view on a rollout's model panel (:func:`~impactbook.effects.rollout_panel.
    build_panel`, built without anticipation: csdid applies it), limited to ``units`` (those
    of the count model, so both views rest on the same units)."""
    frame = panel.frame
    if units is not None:
        frame = frame[frame["unit"].isin(set(units))]
    dropped: list[dict] = []
    # csdid needs a balanced panel (it would drop the others with a terse message).
    counts = frame.groupby("unit")["t"].nunique()
    partial = sorted(counts[counts < frame["t"].nunique()].index)
    for unit in partial:
        dropped.append({"what": "unit", "unit": unit, "periods": int(counts[unit]),
                        "reason": "not observed in every period of the window (the Callaway "
                        "and Sant'Anna view needs a balanced panel)"})
    frame = frame[~frame["unit"].isin(partial)]
    exposure = frame["exposure"]
    has_rate = bool(exposure.notna().all() and (exposure > 0).all())
    y = frame["count"] / exposure * RATE_PER if has_rate else frame["count"]
    codes = {u: i + 1 for i, u in enumerate(sorted(frame["unit"].unique()))}
    data = pd.DataFrame({
        "unit": frame["unit"].map(codes).to_numpy(),
        # csdid's cohort 0 means never treated, so model periods count from 1.
        "time": frame["t"].to_numpy() + 1,
        "cohort": np.where(is_never(frame["g"]), 0, frame["g"] + 1),
        "y": y.to_numpy(dtype=float)})
    view = att_gt_view(data, controls=controls, anticipation=anticipation,
                       scale=f"rate per {RATE_PER:,}" if has_rate else "count",
                       label=lambda k: panel.label(int(k) - 1), dropped=dropped)
    if not has_rate:
        view = _with_warning(view, "No population for every unit and period: the view is on "
                             "counts per unit and period, so larger units weigh more.")
    return view


def rollout_view(long: pd.DataFrame, starts: Mapping[str, pd.Period | None], *,
                 controls: str = "notyet", cohort_bin: str = "none", anticipation: int = 0,
                 units: Iterable[str] | None = None) -> CallawaySantAnna:
    """The view of a rollout from the count model's inputs (``long``: ``unit, period, count``,
    optional ``exposure``; ``starts``; the model's ``cohort_bin``, never ``auto``)."""
    panel = build_panel(long, starts, cohort_bin=cohort_bin)
    return panel_view(panel, controls=controls, anticipation=anticipation, units=units)


def _with_warning(view: CallawaySantAnna, text: str) -> CallawaySantAnna:
    from dataclasses import replace

    return replace(view, warnings=(*view.warnings, text))
