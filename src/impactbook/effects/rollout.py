"""Staggered rollouts: a count-data staggered-adoption estimator (Wooldridge's extended TWFE).

Each unit (a precinct, a gang) starts in its own period. The model is a Poisson regression
with unit and period effects and one coefficient per cohort x period cell (cohort = the units
starting in one period), standard errors clustered by unit (Wooldridge 2023, "Simple approaches
to nonlinear difference-in-differences with panel data"; R's ``etwfe``). Each cell compares a
cohort's treated periods with the units not yet treated (default) or never treated at the
same time, so a later unit is never compared with an earlier one as if it were untreated,
the flaw of the static two-way estimate (reported beside it for reference).

Aggregations follow ``etwfe``'s ``emfx(..., predict = "link")``: the mean of the cell
coefficients weighted by each cell's treated observations, overall, by cohort, by calendar
period and by event time (periods since the start); events averted are counterfactual minus
observed events in the treated cells (the fitted cell totals equal the observed ones, so the
counterfactual of a cell is its observed total times ``exp(-effect)``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd
from scipy import stats

from impactbook.effects._rollout_fit import CellFit, fit_cells, fit_static
from impactbook.effects.guardrails import warn_low_counts, warn_pandemic_overlap
from impactbook.effects.rollout_panel import (
    COHORT_BINS,
    MIN_CONTROL_UNITS,
    MIN_TREATED_UNITS,
    Panel,
    assign_cells,
    build_panel,
    is_never,
    label_period,
    last_cohort_reference,
    zero_cells,
)
from impactbook.effects.rollout_result import Aggregate, PretrendTest, RolloutEstimate
from impactbook.errors import EstimationError, ParameterError

AUTO_BIN = "auto"
#: Leads (periods before the reference period) kept in a never-treated model and tested.
MAX_LEADS = 8


def _fit_panel(panel: Panel, controls: str, *, effects: str, covariates: tuple[str, ...],
               has_offset: bool, is_pre_only: bool = False,
               ) -> tuple[pd.DataFrame, pd.DataFrame, CellFit, list[dict]]:
    """Rows used, their cell table (with effect and se), the fit, and what was left out.

    ``is_pre_only`` keeps only the treated units' periods before their start (the pre-trend
    model: the leads need nothing after the start, and it is a fraction of the cells)."""
    dropped: list[dict] = []
    frame = panel.frame
    if is_pre_only:
        frame = frame[is_never(frame["g"]) | (frame["t"] < frame["g"])]
    last = last_cohort_reference(panel, controls)
    if last is not None:
        frame = frame[frame["t"] < last]
        dropped.append({"what": "periods", "from": panel.label(last),
                        "reason": "every unit is treated from the last cohort's start on: no "
                        "untreated unit is left to compare with (no never-treated units)"})
    if controls == "never":
        # The event window: far leads add a coefficient each and little information, and a
        # test of dozens of leads on as many clusters is degenerate.
        far = ~is_never(frame["g"]) & (frame["t"] - frame["g"] < -(MAX_LEADS + 1))
        if far.any():
            frame = frame[~far]
            dropped.append({"what": "leads", "rows": int(far.sum()),
                            "reason": f"treated units' periods more than {MAX_LEADS} before "
                            "the reference period (the period before the start) are left out "
                            "of the never-treated model: the event window"})
    work = Panel(frame.reset_index(drop=True), panel.freq, panel.periods, panel.cohort_of,
                 panel.anticipation)
    cell, cells = assign_cells(work, controls)
    zero = zero_cells(cells)
    if not zero.empty:
        for row in zero.itertuples():
            dropped.append({"what": "cell", "cohort": panel.label(row.g),
                            "period": panel.label(row.t),
                            "event_time": int(row.e), "units": int(row.units),
                            "reason": "no events in the cell: a Poisson model cannot fit it"})
        keep = ~cell.isin(set(zero["cell"]))
        work = Panel(work.frame[keep].reset_index(drop=True), panel.freq, panel.periods,
                     panel.cohort_of, panel.anticipation)
        cell, cells = assign_cells(work, controls)
    if cells.empty:
        raise EstimationError("no treated unit has a period from its start on in the data")
    fit = fit_cells(work.frame, cell, len(cells), effects=effects, covariates=covariates,
                    has_offset=has_offset)
    cells = cells.assign(effect=fit.effects, se=np.sqrt(np.diag(fit.vcov)))
    return work.frame.assign(cell=cell.to_numpy()), cells, fit, dropped


def _aggregate(rows: pd.DataFrame, cells: pd.DataFrame, fit: CellFit, mask: np.ndarray,
               key=None) -> Aggregate:
    """The weighted mean (weights: treated observations) of the masked cells' effects."""
    chosen = np.flatnonzero(mask)
    weights = np.zeros(len(cells))
    weights[chosen] = cells["n"].to_numpy()[chosen] / cells["n"].to_numpy()[chosen].sum()
    log_ratio = float(weights @ fit.effects)
    se = float(np.sqrt(weights @ fit.vcov @ weights))
    events = cells["events"].to_numpy(dtype=float)
    factor = np.where(mask, np.exp(-fit.effects), 0.0)
    averted = float((events * (factor - 1.0))[mask].sum())
    gradient = np.where(mask, -events * factor, 0.0)
    averted_se = float(np.sqrt(gradient @ fit.vcov @ gradient))
    units = rows.loc[rows["cell"].isin(set(cells["cell"].to_numpy()[chosen])), "unit"].nunique()
    controls = int(cells["controls_at_t"].to_numpy()[chosen].min())
    return Aggregate(log_ratio, se, averted, averted_se, int(units), key, controls,
                     controls >= MIN_CONTROL_UNITS and units >= MIN_TREATED_UNITS)


def _aggregates(panel: Panel, rows: pd.DataFrame, cells: pd.DataFrame, fit: CellFit,
                ) -> tuple[Aggregate, list, list, list]:
    post = (cells["e"] >= 0).to_numpy()
    overall = _aggregate(rows, cells, fit, post)
    by_cohort = [_aggregate(rows, cells, fit, post & (cells["g"] == g).to_numpy(),
                            panel.label(g)) for g in sorted(cells.loc[post, "g"].unique())]
    by_period = [_aggregate(rows, cells, fit, post & (cells["t"] == t).to_numpy(),
                            panel.label(t)) for t in sorted(cells.loc[post, "t"].unique())]
    # Event times count from the start itself, also when anticipation moved the cohort.
    by_event = [_aggregate(rows, cells, fit, (cells["e"] == e).to_numpy(),
                           int(e) - panel.anticipation) for e in sorted(cells["e"].unique())]
    return overall, by_cohort, by_period, by_event


def pretrend_test(cells: pd.DataFrame, fit: CellFit, *, anticipation: int = 0
                  ) -> PretrendTest | None:
    """Wald test that every drawn lead (event times before the reference) is zero."""
    leads = sorted(e for e in cells["e"].unique() if e < -1)
    rows, tested = [], []
    for e in leads:
        mask = (cells["e"] == e).to_numpy()
        if cells.loc[mask, "controls_at_t"].min() < MIN_CONTROL_UNITS:
            continue
        weights = np.where(mask, cells["n"], 0.0)
        rows.append(weights / weights.sum())
        tested.append(int(e) - anticipation)
    if not rows:
        return None
    matrix = np.vstack(rows)
    values = matrix @ fit.effects
    covariance = matrix @ fit.vcov @ matrix.T
    statistic = float(values @ np.linalg.pinv(covariance) @ values)
    df = len(rows)
    return PretrendTest(statistic, df, float(stats.chi2.sf(statistic, df)), "never",
                        tuple(tested))


#: Why ``auto`` does not fit weekly cells (measured on tests/test_rollout_weekly.py's panel:
#: true ratio 0.60, weekly cells 0.54 with an interval excluding it, quarterly 0.60).
WEEKLY_CELLS_NOTE = ("weekly cells hold a few events each, and the mean of their log ratios is "
                     "biased toward a larger reduction")


def choose_bin(panel_for, controls: str, asked: str, *, is_weekly: bool = False,
               ) -> tuple[str, str, Panel]:
    """The cohort bin to use: the one asked for, or (``auto``) the finest whose treated cells
    all hold events, so no programme period is dropped for having none (for weekly data, no
    finer than quarters: :data:`WEEKLY_CELLS_NOTE`)."""
    if asked != AUTO_BIN:
        if asked not in COHORT_BINS:
            raise ParameterError("cohort_bin", asked, "auto, " + ", ".join(COHORT_BINS))
        return asked, "asked for", panel_for(asked)
    tried = [f"none: {WEEKLY_CELLS_NOTE}"] if is_weekly else []
    for option in COHORT_BINS[1:] if is_weekly else COHORT_BINS:
        panel = panel_for(option)
        _, cells = assign_cells(panel, controls)
        zero = zero_cells(cells)
        if zero.empty:
            why = ("the finest pooling whose cohort x period cells all hold events" if tried else
                   "every cohort x period cell holds events")
            if tried:
                why += " (" + "; ".join(tried) + ")"
            return option, why, panel
        tried.append(f"{option}: {len(zero)} of {len(cells)} cells without events")
    return option, ("even yearly cells include some without events, which are left out and "
                    "listed (" + "; ".join(tried) + ")"), panel


def estimate_rollout(long: pd.DataFrame, starts: Mapping[str, pd.Period | None], *,
                     ends: Mapping[str, pd.Period | None] | None = None,
                     controls: str = "notyet", cohort_bin: str = AUTO_BIN,
                     anticipation: int = 0, exclude_controls: Iterable[str] = (),
                     labels: Mapping[str, str | None] | None = None,
                     effects: str = "unit", covariates: tuple[str, ...] = (),
                     extra_warnings: Iterable[str] = (),
                     companion: RolloutEstimate | None = None) -> RolloutEstimate:
    """Estimate a staggered rollout from ``long`` (``unit, period, count``, optional
    ``exposure`` used as an offset, and ``covariates``).

    ``starts`` maps every unit of the analysis to its first treated period (``None``: never
    treated); ``ends`` the last period where a unit stopped (kept treated: intention to treat).
    ``companion`` is an estimate of the same panel with the other controls: its pre-trend
    test and static estimate do not depend on the controls, so they are taken from it.
    """
    labels = dict(labels or {})
    excluded = set(exclude_controls)
    last = long["period"].max()  # a unit starting after the data is a control here
    treated_excluded = sorted(u for u in excluded
                              if starts.get(u) is not None and starts[u] <= last)
    if treated_excluded:
        raise ParameterError("exclude_controls", ";".join(treated_excluded),
                             "control units (these start within the rollout)")
    starts = {u: s for u, s in starts.items() if u not in excluded}
    has_offset = "exposure" in long and bool(long["exposure"].notna().all()) and bool(
        (long["exposure"] > 0).all())

    def panel_for(option: str) -> Panel:
        return build_panel(long, starts, cohort_bin=option, anticipation=anticipation,
                           covariates=covariates)

    is_weekly = long["period"].iloc[0].freqstr[0] == "W"
    used_bin, reason, panel = choose_bin(panel_for, controls, cohort_bin, is_weekly=is_weekly)
    dropped = list(panel.dropped)
    silent = panel.frame.groupby("unit")["count"].sum()
    silent = sorted(silent[silent == 0].index)
    for unit in silent:  # a unit without any event has no level to compare with
        dropped.append({"what": "unit", "unit": unit, "reason": "no events in the window"})
    frame = panel.frame[~panel.frame["unit"].isin(silent)].reset_index(drop=True)
    panel = Panel(frame, panel.freq, panel.periods, panel.cohort_of, anticipation)
    if not panel.treated_units or not (~is_never(panel.frame["g"])).any():
        raise EstimationError("no unit starts within the data: nothing to estimate")
    rows, cells, fit, left_out = _fit_panel(panel, controls, effects=effects,
                                            covariates=covariates, has_offset=has_offset)
    dropped += left_out
    overall, by_cohort, by_period, by_event = _aggregates(panel, rows, cells, fit)
    pretrend = None
    is_twin = companion is not None and (companion.cohort_bin, companion.anticipation,
                                         companion.window) == (
        used_bin, anticipation, (panel.periods[0], panel.periods[-1]))
    if is_twin:
        pretrend = companion.pretrend
    elif panel.never_units:
        try:
            _, lead_cells, lead_fit, _ = _fit_panel(panel, "never", effects=effects,
                                                    covariates=covariates, has_offset=has_offset,
                                                    is_pre_only=True)
            pretrend = pretrend_test(lead_cells, lead_fit, anticipation=anticipation)
        except EstimationError:
            pretrend = None
    g, t = panel.frame["g"].to_numpy(), panel.frame["t"].to_numpy()
    static = (companion.static_log_ratio, companion.static_se) if is_twin else fit_static(
        panel.frame, ~is_never(g) & (t >= g), has_offset=has_offset)
    cell_frame = cells.assign(
        cohort=[panel.label(x) for x in cells["g"]],
        period=[panel.label(x) for x in cells["t"]],
        event_time=cells["e"] - anticipation)
    units = _unit_records(starts, ends or {}, panel)
    warnings = _warnings(long, panel, by_cohort, pretrend, ends or {}, dropped, used_bin,
                         controls) + list(extra_warnings)
    return RolloutEstimate(
        city=labels.get("city"), outcome=labels.get("outcome"),
        programme_id=labels.get("programme"), controls=controls, cohort_bin=used_bin,
        cohort_bin_reason=reason, anticipation=anticipation, freq=panel.freq,
        window=(panel.periods[0], panel.periods[-1]), overall=overall,
        by_cohort=tuple(by_cohort), by_period=tuple(by_period), by_event_time=tuple(by_event),
        units=tuple(units), control_units=tuple(panel.never_units), dropped=tuple(dropped),
        pretrend=pretrend, static_log_ratio=static[0], static_se=static[1],
        warnings=tuple(warnings), n_obs=fit.n_obs, cells=cell_frame)


def _unit_records(starts: Mapping[str, pd.Period | None], ends: Mapping[str, pd.Period | None],
                  panel: Panel) -> list[dict]:
    records = []
    for unit in panel.treated_units:
        end = ends.get(unit)
        cohort = panel.cohort_of[unit]
        records.append({"unit": unit, "start": label_period(starts[unit]),
                        "start_used": label_period(cohort + panel.anticipation),
                        "treated_from": label_period(cohort), "end": label_period(end)})
    return records


def _warnings(long: pd.DataFrame, panel: Panel, by_cohort: list[Aggregate],
              pretrend: PretrendTest | None, ends: Mapping[str, pd.Period | None],
              dropped: list[dict], used_bin: str, controls: str) -> list[str]:
    found: list[str] = []
    treated = long[long["unit"].isin(panel.treated_units)]
    data_freq = long["period"].iloc[0].freqstr[0]
    found.append(warn_low_counts(float(treated["count"].mean()), data_freq))
    found.append(warn_pandemic_overlap(panel.periods[0].asfreq(data_freq, "start"),
                                       panel.periods[-1].asfreq(data_freq, "end")))
    single = [a.key for a in by_cohort if a.treated_units == 1]
    if single:
        coarser = {"none": " (pool start dates with --cohort-bin quarter or year)",
                   "quarter": " (pool start dates with --cohort-bin year)"}.get(used_bin, "")
        found.append(f"{len(single)} cohort(s) hold a single unit ({', '.join(single)}): each "
                     "such result is one unit's, with no other unit starting then to average "
                     "out its chance ups and downs, and its interval, resting on one cluster, "
                     f"is not reliable{coarser}.")
    stopped = sorted(u for u, end in ends.items() if end is not None and u in panel.cohort_of
                     and panel.cohort_of[u] is not None and end <= panel.periods[-1].asfreq(
                         data_freq, "end"))
    if stopped:
        found.append(f"{len(stopped)} unit(s) stopped within the data ({', '.join(stopped)}) "
                     "and are kept as treated after their end: the estimate is of the intention "
                     "to treat, which dilutes the effect of the programme while it ran.")
    if used_bin == "none" and data_freq == "W":
        found.append(f"The model's cells are weeks: {WEEKLY_CELLS_NOTE}; pool start dates "
                     "(--cohort-bin quarter) for the headline figure.")
    if used_bin != "none":
        found.append(f"Start dates are pooled by {used_bin} and counts summed into {used_bin}s: "
                     f"the part of a start {used_bin} before the start counts as treated, which "
                     "pulls the estimate toward no change.")
    cells_left = [d for d in dropped if d["what"] == "cell"]
    if cells_left:
        found.append(f"{len(cells_left)} cohort x period cell(s) without any event were left out "
                     "(a Poisson model cannot fit them); they are the programme's best periods, "
                     "so the estimate is biased toward no change or harm (see 'dropped').")
    if pretrend is None:
        found.append("No pre-trend test: it needs never-treated units with data before the "
                     "starts.")
    elif not pretrend.is_passed:
        found.append(pretrend.text)
    if controls == "notyet" and not panel.never_units:
        found.append("No unit stays untreated through the data: the last cohort serves only as "
                     "a control and its own effect is not estimated.")
    return [w for w in found if w]
