"""The panel of a staggered rollout: units, model periods, cohorts and the cohort x period cells.

Pure functions of frames. A unit's *cohort* is the model period its programme started in
(``None``: not treated within the data, a control throughout). The model's periods are the
data's (``cohort_bin="none"``) or coarser (``"quarter"``, ``"year"``): binning pools the start
dates of a bin into one cohort *and* sums the counts into periods of that length, so a cohort x
period cell holds enough events to be fitted. A cell whose treated counts are all zero cannot be
fitted by a Poisson model (its coefficient runs to minus infinity and libraries drop it,
silently removing a programme's best periods): :func:`zero_cells` finds them so the caller can
coarsen, and whatever is still left out is listed, never hidden.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from impactbook.errors import EstimationError, ParameterError
from impactbook.workbook.periods import format_period, parse_period

COHORT_BINS = ("none", "quarter", "year")
CONTROLS = ("notyet", "never")
#: Fewer control units than this at a cell's period and its event time is not drawn.
MIN_CONTROL_UNITS = 5
#: A point resting on one treated unit has no cluster-robust variance: it is not drawn either.
MIN_TREATED_UNITS = 2
_BIN_FREQ = {"quarter": "Q", "year": "Y"}
_NEVER = np.iinfo(np.int64).max // 4  # cohort index of a unit not treated within the data


def model_freq(data_freq: str, cohort_bin: str) -> str:
    """The model's period frequency: the data's, or the bin's when coarser."""
    if cohort_bin not in COHORT_BINS:
        raise ParameterError("cohort_bin", cohort_bin, " or ".join(COHORT_BINS))
    if cohort_bin == "none" or (cohort_bin == "quarter" and data_freq == "Q"):
        return data_freq
    return _BIN_FREQ[cohort_bin]


def coarsen(long: pd.DataFrame, freq: str, covariates: tuple[str, ...] = ()) -> pd.DataFrame:
    """Sum ``count`` (and ``exposure``) of each unit into periods of ``freq``.

    A coarse period is kept only when every period inside it has data (a missing month stays
    missing, never zero); partial first and last bins go with it. A week belongs to the
    quarter or year of its last day (Sunday), so a quarter holds 13 or 14 weeks.
    """
    if long.empty or long["period"].iloc[0].freqstr[0] == freq[0]:
        return long.copy()
    fine = pd.PeriodIndex(long["period"])
    coarse = long.assign(period=fine.asfreq(freq))
    # How many data periods each coarse period holds (weeks per quarter vary).
    first, last = coarse["period"].min(), coarse["period"].max()
    every = pd.period_range(first.start_time, last.end_time, freq=fine.freq)
    per_bin = pd.Series(every.asfreq(freq)).value_counts()
    grouped = coarse.groupby(["unit", "period"], sort=True)
    out = grouped.agg(count=("count", "sum"), n=("count", "size"),
                      exposure=("exposure", "sum"), n_exposure=("exposure", "count"),
                      **{x: (x, "mean") for x in covariates})
    # An exposure missing for part of a bin is missing for the bin.
    out["exposure"] = out["exposure"].where(out["n_exposure"] == out["n"])
    out = out.reset_index()
    out = out[out["n"].to_numpy() == out["period"].map(per_bin).to_numpy()].drop(
        columns=["n", "n_exposure"]).reset_index(drop=True)
    return out


@dataclass(frozen=True)
class Panel:
    """The model panel: one row per unit and model period, with integer time and cohort.

    ``frame`` columns: ``unit, period, count, exposure, t`` (0 = the first period),
    ``g`` (cohort index on the same scale; a large sentinel when not treated within the data).
    ``cohort_of`` maps every unit to its cohort period (``None``: not treated in the window).
    """

    frame: pd.DataFrame
    freq: str
    periods: pd.PeriodIndex
    cohort_of: Mapping[str, pd.Period | None]
    anticipation: int = 0
    dropped: tuple[dict, ...] = field(default=())

    @property
    def never_units(self) -> list[str]:
        return sorted(u for u, c in self.cohort_of.items() if c is None)

    @property
    def treated_units(self) -> list[str]:
        return sorted(u for u, c in self.cohort_of.items() if c is not None)

    def period_label(self, t: int) -> pd.Period:
        return self.periods[int(t)]

    def label(self, t: int) -> str:
        """The label of model period ``t`` (``2015``, ``2015-Q2`` or ``2015-05``)."""
        return label_period(self.periods[int(t)])


def label_period(period: pd.Period | None) -> str | None:
    """A period's label; years (the coarsest bin) read as ``2015``."""
    if period is None:
        return None
    return str(period.year) if period.freqstr[0] in ("Y", "A") else format_period(period)


def parse_label(label: str) -> pd.Period:
    """The period of a :func:`label_period` label (a year, or a workbook period)."""
    text = str(label)
    return pd.Period(year=int(text), freq="Y") if text.isdigit() and len(text) == 4 else (
        parse_period(text))


def build_panel(long: pd.DataFrame, starts: Mapping[str, pd.Period | None], *,
                cohort_bin: str = "none", anticipation: int = 0,
                covariates: tuple[str, ...] = ()) -> Panel:
    """The model panel of ``long`` (``unit, period, count`` and optional ``exposure``).

    ``starts`` gives each unit's first treated period in the data's frequency (``None`` for
    a unit never treated); units absent from ``starts`` are not in the panel. A start before
    the first model period is refused (the unit has no period before it); a start after the
    last is a unit not treated within the data. ``anticipation`` K moves every start K model
    periods earlier, so the K periods before a start are not used as untreated.
    """
    if anticipation < 0:
        raise ParameterError("anticipation", anticipation, "0 or more periods")
    long = long[long["unit"].isin(list(starts))].copy()
    if "exposure" not in long:
        long["exposure"] = np.nan
    if long.empty:
        raise EstimationError("no outcome data for the rollout's units")
    data_freq = long["period"].iloc[0].freqstr[0]
    freq = model_freq(data_freq, cohort_bin)
    frame = coarsen(long[["unit", "period", "count", "exposure", *covariates]], freq,
                    covariates)
    periods = pd.period_range(frame["period"].min(), frame["period"].max(), freq=freq)
    position = {p: i for i, p in enumerate(periods)}
    cohort_of: dict[str, pd.Period | None] = {}
    dropped: list[dict] = []
    g_index: dict[str, int] = {}
    for unit, start in starts.items():
        if start is None:
            cohort_of[unit], g_index[unit] = None, _NEVER
            continue
        cohort = start.asfreq(freq) - anticipation if freq[0] != data_freq else (
            start - anticipation)
        if cohort <= periods[0]:
            dropped.append({"what": "unit", "unit": unit, "reason": "starts at or before the "
                            "first period of the data (no period before it to compare with)"})
            continue
        if cohort > periods[-1]:
            cohort_of[unit], g_index[unit] = None, _NEVER
        else:
            cohort_of[unit], g_index[unit] = cohort, position[cohort]
    frame = frame[frame["unit"].isin(list(cohort_of))].copy()
    frame["t"] = frame["period"].map(position).astype("int64")
    frame["g"] = frame["unit"].map(g_index).astype("int64")
    return Panel(frame.reset_index(drop=True), freq, periods, cohort_of, anticipation,
                 tuple(dropped))


def assign_cells(panel: Panel, controls: str) -> tuple[pd.Series, pd.DataFrame]:
    """Each row's cohort x period cell (-1: none, the row is a control observation) and the
    cell table (``cell, g, t, e, n, units, events, controls_at_t``).

    ``notyet``: a cell for every treated period of a cohort (t >= g); the untreated periods of
    every unit are the controls. Without never-treated units the last cohort is the reference:
    its periods from its start on leave the model. ``never``: a cell for every period of a
    treated cohort except the one before its start (the reference), so the leads show
    pre-trends; only never-treated units are controls.
    """
    if controls not in CONTROLS:
        raise ParameterError("controls", controls, "notyet (not yet treated) or never")
    frame = panel.frame
    g, t = frame["g"].to_numpy(), frame["t"].to_numpy()
    is_never = g == _NEVER
    if controls == "never":
        if not is_never.any():
            raise EstimationError("never-treated controls were asked for, but every unit is "
                                  "treated within the data; use not-yet-treated controls")
        in_cell = ~is_never & (t != g - 1)
    else:
        in_cell = ~is_never & (t >= g)
    key = np.where(in_cell, g * 100_000 + t, -1)
    # Cells numbered in (cohort, period) order; -1 (no cell) sorts first when present.
    uniques, code = np.unique(key, return_inverse=True)
    code = code.reshape(-1) - int((uniques < 0).any())
    cell = pd.Series(code.astype("int64"), index=frame.index)
    rows = frame.assign(cell=cell)[cell >= 0]
    table = rows.groupby("cell").agg(g=("g", "first"), t=("t", "first"),
                                     n=("unit", "size"), units=("unit", "nunique"),
                                     events=("count", "sum")).reset_index()
    table["e"] = table["t"] - table["g"]
    untreated_at = frame.assign(is_control=(frame["g"] > frame["t"]) if controls == "notyet"
                                else is_never)
    controls_by_t = untreated_at[untreated_at["is_control"]].groupby("t")["unit"].nunique()
    table["controls_at_t"] = table["t"].map(controls_by_t).fillna(0).astype("int64")
    return cell, table


def last_cohort_reference(panel: Panel, controls: str) -> int | None:
    """Without never-treated units (not-yet controls), the index of the last cohort: from its
    start on no unit is untreated, so those periods cannot be compared and leave the model."""
    if controls != "notyet" or (panel.frame["g"] == _NEVER).any():
        return None
    return int(panel.frame["g"].max())


def zero_cells(cells: pd.DataFrame) -> pd.DataFrame:
    """Cells whose treated counts are all zero: a Poisson model cannot fit them."""
    return cells[cells["events"] == 0]


def is_never(g: np.ndarray | int) -> np.ndarray | bool:
    return np.asarray(g) == _NEVER
