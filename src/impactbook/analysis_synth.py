"""Workbook -> synthetic-control inputs: the donor pool, and the blocks of a micro design.

A programme area with units ``within`` it in areas.csv (Seattle's 39 DMI blocks) gets the
micro-synthetic control: its units against every other unit of the city, all the programme's
outcomes and the covariates of areas.csv matched jointly. Any other area gets the classic
synthetic control against the city's other areas for the same outcome. ``--donors`` restricts
the pool (area names, or for a micro design units or the areas they lie ``within``).
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pandas as pd

from impactbook import effects
from impactbook.defaults import DEFAULT_PLACEBOS, DEFAULT_POST_PERIODS, PLACEBO_SEED
from impactbook.effects._window import Labels
from impactbook.effects.synth import MicroFit, estimate_microsynth, fit_microsynth
from impactbook.errors import EstimationError, ParameterError
from impactbook.workbook import CITYWIDE, Workbook, split_list, unknown_value
from impactbook.workbook.areas import covariate_columns
from impactbook.workbook.loader import load_area_attributes, load_unit_outcomes

# A report asks for each outcome of one programme in turn: the joint fit is done once.
_MICRO_FITS: OrderedDict[tuple, MicroFit] = OrderedDict()
_MICRO_FITS_KEPT = 2


def units_within(workbook: Workbook, city: str, areas: tuple[str, ...]) -> list[str]:
    table = load_area_attributes(workbook)
    if table.empty:
        return []
    rows = table[(table["city"] == city) & table["within"].isin(areas)]
    return sorted(rows["area"])


def _check_donors(donors: tuple[str, ...], known: set[str], treated: set[str]) -> None:
    for name in donors:
        if name in treated:
            raise ParameterError("donors", name, "areas other than the programme's own")
        if name not in known:
            raise unknown_value("donors", name, known)


def synth_estimate(workbook: Workbook, resolved, request) -> effects.Estimate:
    """The ``--method synth`` estimate for a resolved request (see the module docstring)."""
    labels = {"city": resolved.city, "area": resolved.area_label, "outcome": resolved.outcome}
    common = dict(labels=labels, programme_area=resolved.programme_area,
                  is_area_larger_than_programme=resolved.is_diluted)
    if CITYWIDE in resolved.areas:
        raise EstimationError(
            "a citywide series has no donor pool inside its own city: synthetic control "
            "needs other areas like the programme area, so none is fitted", **labels)
    units = units_within(workbook, resolved.city, resolved.areas)
    if units:
        fit = _micro_fit(workbook, resolved, request, units)
        return estimate_microsynth(fit, resolved.outcome, resolved.start, **common)
    outcomes = workbook.outcomes
    rows = outcomes[(outcomes["city"] == resolved.city)
                    & (outcomes["outcome"] == resolved.outcome) & (outcomes["area"] != CITYWIDE)]
    panel = rows.pivot(index="period", columns="area", values="count").astype(float)
    panel.index = pd.PeriodIndex(panel.index, freq=resolved.start.freq)
    panel = panel.reindex(pd.period_range(panel.index.min(), panel.index.max(),
                                          freq=resolved.start.freq))
    treated = resolved.area_label
    panel[treated] = panel[list(resolved.areas)].sum(axis=1, min_count=len(resolved.areas))
    known = set(panel.columns) - set(resolved.areas) - {treated}
    donors = tuple(request.donors or ())
    _check_donors(donors, known, set(resolved.areas))
    chosen = list(donors) if donors else sorted(known)
    return effects.estimate_synth(
        panel[[treated, *chosen]], treated, resolved.start, pre_periods=request.pre_periods,
        post_periods=request.post_periods or DEFAULT_POST_PERIODS, **common)


def _micro_fit(workbook: Workbook, resolved, request, treated_units: list[str]) -> MicroFit:
    programme = resolved.programme or {}
    matched = tuple(split_list(programme.get("outcomes", ""))) or (resolved.outcome,)
    if resolved.outcome not in matched:
        matched = (*matched, resolved.outcome)
    placebos = DEFAULT_PLACEBOS if request.placebos is None else request.placebos
    key = (workbook.digest, resolved.city, tuple(treated_units), tuple(request.donors or ()),
           str(resolved.start), matched, request.pre_periods,
           request.post_periods or DEFAULT_POST_PERIODS, placebos)
    if key in _MICRO_FITS:
        return _MICRO_FITS[key]
    labels = {"city": resolved.city, "area": resolved.area_label,
              "outcome": resolved.outcome}
    table = load_area_attributes(workbook)
    areas = table[table["city"] == resolved.city].set_index("area")
    units_known = set(areas.index[areas["within"] != ""])
    donors = _donor_units(areas, units_known, set(treated_units), tuple(request.donors or ()))
    units = [*treated_units, *donors]
    covariates = ["population", *covariate_columns(areas.reset_index())]
    values = areas.loc[units, covariates]
    values = values.loc[:, ~values.isna().all()]  # a column nobody filled is not a covariate
    missing = values.index[values.isna().any(axis=1)]
    if len(missing):
        raise EstimationError(
            f"covariates are missing for {len(missing)} of the {len(units):,} units in areas.csv "
            f"({', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''}): fill them in, "
            "or leave a covariate column out for every unit", **labels)
    series = load_unit_outcomes(workbook)
    series = series[(series["city"] == resolved.city) & series["area"].isin(units)
                    & series["outcome"].isin(matched)]
    cube = series.pivot_table(index="area", columns=["outcome", "period"], values="count",
                              aggfunc="first")
    periods = sorted(cube.columns.get_level_values("period").unique())
    cube = cube.reindex(index=units, columns=pd.MultiIndex.from_product([matched, periods]))
    if cube.isna().any().any():
        absent = cube.index[cube.isna().any(axis=1)]
        raise EstimationError(
            f"unit_outcomes.csv lacks some periods or outcomes for {len(absent)} units "
            f"({', '.join(absent[:5])}): micro-synthetic control needs every unit's full series",
            **labels)
    index = pd.PeriodIndex(periods, freq=resolved.start.freq)
    window = _window_positions(index, resolved.start, request)
    outcomes = cube.to_numpy(float).reshape(len(units), len(matched), len(periods))
    outcomes = outcomes.transpose(0, 2, 1)[:, window]
    is_treated = np.zeros(len(units), bool)
    is_treated[:len(treated_units)] = True
    n_pre = int((index[window] < resolved.start).sum())
    fit = fit_microsynth(outcomes, values.to_numpy(float), is_treated, index[window], n_pre,
                         matched, placebos=placebos, seed=PLACEBO_SEED,
                         labels=Labels.from_mapping(labels))
    _MICRO_FITS[key] = fit
    while len(_MICRO_FITS) > _MICRO_FITS_KEPT:
        _MICRO_FITS.popitem(last=False)
    return fit


def _donor_units(areas: pd.DataFrame, units: set[str], treated: set[str],
                 donors: tuple[str, ...]) -> list[str]:
    """Every other unit, or those named (a unit, or an area units lie ``within``)."""
    groups = set(areas["within"]) - {""}
    _check_donors(donors, units | groups, treated)
    if not donors:
        return sorted(units - treated)
    chosen = {d for d in donors if d in units}
    chosen |= set(areas.index[areas["within"].isin(donors)])
    return sorted(chosen - treated)


def _window_positions(index: pd.PeriodIndex, start: pd.Period, request) -> np.ndarray:
    """Positions of the pre- and post-periods asked for (all when not limited)."""
    position = np.arange(len(index))
    is_pre = index < start
    keep = np.ones(len(index), bool)
    if request.pre_periods is not None:
        keep &= ~is_pre | (position >= is_pre.sum() - request.pre_periods)
    post = request.post_periods or DEFAULT_POST_PERIODS
    keep &= is_pre | (position < is_pre.sum() + post)
    return position[keep]
