"""Comparison areas: a difference-in-differences count model.

``log E[count_it] = area_i + period_t + b * treated_i * post_t (+ log population_it)``,
fitted as a quasi-Poisson GLM. Area effects absorb fixed differences in level, period effects
absorb everything the areas share (trend, season, citywide shocks), so ``exp(b)`` is the ratio
of the treated areas' rate ratio to the comparison areas' (the ratio of ratios). Works for
monthly precincts and for quarterly block groups alike (aggregate many small blocks into a
few areas first: the model has one parameter per area and per period).
"""

from __future__ import annotations

import warnings as pywarnings
from collections.abc import Mapping

import numpy as np
import pandas as pd
import statsmodels.api as sm

from impactbook.defaults import DEFAULT_POST_PERIODS
from impactbook.effects._fit import fit_count_model, numerical_notes
from impactbook.effects._threads import single_blas_thread
from impactbook.effects._window import Labels, make_window
from impactbook.effects.diagnostics import headline_interval
from impactbook.effects.estimate import Z_95, Estimate
from impactbook.effects.guardrails import collect_guardrail_warnings
from impactbook.effects.magnitude import effect_summary
from impactbook.workbook.periods import QUARTERLY, parse_period

PRE_TREND_ALPHA = 0.05
REQUIRED_COLUMNS = ("area", "period", "count", "is_treated")


@single_blas_thread
@numerical_notes
def estimate_comparison(
    panel: pd.DataFrame,
    start: pd.Period | str,
    *,
    pre_periods: int | None = None,
    post_periods: int | None = DEFAULT_POST_PERIODS,
    labels: Mapping[str, str] | None = None,
    programme_area: str | None = None,
    is_area_larger_than_programme: bool = False,
) -> Estimate:
    """Difference-in-differences of the treated area(s) against the comparison areas.

    Parameters
    ----------
    panel : long frame with columns ``area`` (str), ``period`` (``pd.Period`` or a label),
        ``count`` (NaN = missing, dropped with a warning), ``is_treated`` (bool, constant within
        an area) and optionally ``population`` (log offset).
    start, pre_periods, post_periods : as :func:`~impactbook.effects.estimate_its`; the window
        is laid on the treated areas' summed series.
    labels : ``city``/``area``/``outcome``; ``area`` defaults to the treated areas joined by
        ``"; "``.

    The result's ``pre_mean``/``post_mean`` are the treated areas' summed counts; ``details``
    holds the comparison areas' means and raw change, the treated-vs-comparison pre-trend test
    and the area lists. ``counterfactual`` is the treated total the model expects had the
    treated areas moved like the comparison areas.
    """
    frame = _normalise_panel(panel, Labels.from_mapping(labels))
    treated_areas = sorted(frame.loc[frame["is_treated"], "area"].unique())
    comparison_areas = sorted(frame.loc[~frame["is_treated"], "area"].unique())
    given = dict(labels or {})
    given.setdefault("area", "; ".join(treated_areas))
    names = Labels.from_mapping(given)
    treated_series = _sum_series(frame[frame["is_treated"]])
    window = make_window(treated_series, start, pre_periods=pre_periods,
                         post_periods=post_periods, labels=names)
    first, last = window.frame.index[0], window.frame.index[-1]
    rows = frame[(frame["period"] >= first) & (frame["period"] <= last)].copy()
    rows["is_post"] = (rows["period"] >= window.start).astype(float)
    warnings = collect_guardrail_warnings(
        window, area=names.area, programme_area=programme_area,
        is_area_larger_than_programme=is_area_larger_than_programme,
    )
    missing = rows[rows["count"].isna() & ~rows["is_treated"]]
    if len(missing):
        warnings.append(
            f"{len(missing)} comparison-area periods with no count were left out "
            f"({', '.join(sorted(missing['area'].unique()))})."
        )
    rows = rows[rows["count"].notna()]
    comparison_rows = rows[~rows["is_treated"]]
    if comparison_rows.empty or comparison_rows["count"].sum() <= 0:
        raise names.error("the comparison areas have no events in the window")
    for side, part in (("before", comparison_rows["is_post"] == 0),
                       ("after", comparison_rows["is_post"] == 1)):
        if comparison_rows.loc[part, "count"].sum() <= 0:
            raise names.error(f"the comparison areas have no events {side} the start")
    if window.observed[window.observed["t"] >= 0]["count"].sum() <= 0:
        raise names.error("no events after the start in the treated areas")

    has_population = bool(rows["population"].notna().all())
    if not has_population and rows["population"].notna().any():
        warnings.append("Population is known for some areas or periods but not all, so the "
                        "comparison model uses counts without a population offset.")
    exog = build_comparison_design(rows)
    offset = np.log(rows["population"].to_numpy()) if has_population else None
    fit = fit_count_model(rows["count"], exog, offset, family="quasi-poisson", robust="none",
                          labels=names)
    treated_rows = rows["is_treated"].to_numpy()
    interval = headline_interval(
        fit, "treated_post", series_rows=treated_rows,
        panel={"groups": pd.factorize(rows["area"])[0],
               "time": np.array([p.ordinal for p in rows["period"]])})

    counterfactual, fitted = _treated_projection(fit, rows, exog, offset)
    pre_trend = _pre_trend_test(rows, window.freq, names, start_from=fit.result.params)
    if pre_trend is not None and pre_trend["p_value"] < PRE_TREND_ALPHA:
        warnings.append(
            "Before the start the treated areas were already trending differently from the "
            f"comparison areas ({100 * (pre_trend['ratio_per_year'] - 1):+.0f}% a year relative,"
            f" p = {pre_trend['p_value']:.2g}): the comparison may not show what would "
            "have happened without the programme."
        )
    if interval.warning:
        warnings.append(interval.warning)
    treated_post = window.observed[window.observed["t"] >= 0]
    population = (float(rows.loc[treated_rows & (rows["is_post"] == 1).to_numpy(), "population"]
                        .groupby(rows["period"]).sum().mean()) if has_population else None)
    shared = effect_summary(fit, exog.to_numpy(), fit.predict_mean(exog, offset).to_numpy(),
                            "treated_post", interval,
                            observed_post_total=float(treated_post["count"].sum()),
                            population=population)
    comparison_total = comparison_rows.groupby("period")["count"].sum()
    comparison_post = comparison_total[comparison_total.index >= window.start]
    comparison_pre = comparison_total[comparison_total.index < window.start]
    treated_obs = window.observed
    details = {
        "treated_areas": treated_areas,
        "comparison_areas": comparison_areas,
        "comparison_pre_mean": float(comparison_pre.mean()),
        "comparison_post_mean": float(comparison_post.mean()),
        "comparison_raw_percent_change": float(
            100 * (comparison_post.mean() / comparison_pre.mean() - 1)
        ),
        "population_offset": has_population,
        "rows": len(rows),
        "pre_trend": pre_trend,
        "is_pre_trend_parallel": (pre_trend is not None
                                  and pre_trend["p_value"] >= PRE_TREND_ALPHA),
        **shared.pop("details"),
    }
    return Estimate(
        city=names.city, area=names.area, outcome=names.outcome, start=window.start,
        method="comparison", model="quasi-poisson difference-in-differences",
        pre_periods=window.pre_periods, post_periods=window.post_periods,
        pre_mean=float(treated_obs[treated_obs["t"] < 0]["count"].mean()),
        post_mean=float(treated_obs[treated_obs["t"] >= 0]["count"].mean()),
        dispersion=fit.dispersion, warnings=tuple(warnings), details=details,
        observed=treated_series["count"].rename("observed"), fitted=fitted,
        counterfactual=counterfactual, **shared,
    )


def build_comparison_design(rows: pd.DataFrame) -> pd.DataFrame:
    """Intercept, area and period indicators (first level dropped) and ``treated_post``."""
    area = pd.get_dummies(rows["area"], prefix="area", drop_first=True, dtype=float)
    period = pd.get_dummies(rows["period"].astype(str), prefix="period", drop_first=True,
                            dtype=float)
    exog = pd.concat([pd.Series(1.0, index=rows.index, name="const"), area, period], axis=1)
    exog["treated_post"] = rows["is_treated"].astype(float) * rows["is_post"]
    return exog


def _normalise_panel(panel: pd.DataFrame, labels: Labels) -> pd.DataFrame:
    if not isinstance(panel, pd.DataFrame):
        raise labels.error("the comparison panel must be a DataFrame")
    absent = [c for c in REQUIRED_COLUMNS if c not in panel.columns]
    if absent:
        raise labels.error(f"the comparison panel lacks columns {absent}")
    frame = panel.copy()
    if not all(isinstance(p, pd.Period) for p in frame["period"]):
        try:
            frame["period"] = [p if isinstance(p, pd.Period) else parse_period(p)
                               for p in frame["period"]]
        except ValueError as exc:
            raise labels.error(f"comparison panel, column 'period': {exc}") from None
    frame["count"] = pd.to_numeric(frame["count"], errors="coerce").astype(float)
    if (frame["count"] < 0).any():
        raise labels.error("the comparison panel has negative counts")
    frame["is_treated"] = frame["is_treated"].astype(bool)
    mixed = frame.groupby("area")["is_treated"].nunique()
    if (mixed > 1).any():
        raise labels.error(
            f"areas {sorted(mixed[mixed > 1].index)} are marked both treated and not treated"
        )
    if not frame["is_treated"].any() or frame["is_treated"].all():
        raise labels.error(
            "the comparison panel needs at least one treated and one comparison area"
        )
    duplicated = frame.duplicated(["area", "period"])
    if duplicated.any():
        first = frame[duplicated].iloc[0]
        raise labels.error(f"area {first['area']!r} repeats period {first['period']}")
    if "population" not in frame.columns:
        frame["population"] = np.nan
    frame["population"] = pd.to_numeric(frame["population"], errors="coerce").astype(float)
    return frame


def _sum_series(rows: pd.DataFrame) -> pd.DataFrame:
    """Treated areas summed per period; a period is missing if any treated area is missing."""
    grouped = rows.groupby("period")
    counts = grouped["count"].sum(min_count=1)
    counts[rows["count"].isna().groupby(rows["period"]).any()] = np.nan
    index = pd.PeriodIndex(counts.index)
    full = pd.period_range(index.min(), index.max(), freq=index.freq)
    population = grouped["population"].sum(min_count=1)
    return pd.DataFrame({"count": counts.to_numpy(), "population": population.to_numpy()},
                        index=index).reindex(full)


def _treated_projection(fit, rows: pd.DataFrame, exog: pd.DataFrame, offset):
    """Treated totals per period: fitted, and post-period counterfactual with a 95% band.

    The band is the delta method on the log of the summed expected counts (a sum over treated
    areas has no statsmodels prediction helper).
    """
    treated = rows["is_treated"].to_numpy()
    fitted_rows = fit.predict_mean(exog, offset)
    fitted = fitted_rows[treated].groupby(rows.loc[treated, "period"].to_numpy()).sum()
    fitted.index = pd.PeriodIndex(fitted.index)
    post = treated & (rows["is_post"].to_numpy() == 1)
    x_cf = exog[post].copy()
    x_cf["treated_post"] = 0.0
    mu = np.asarray(fit.result.predict(x_cf, offset=None if offset is None else offset[post]))
    periods = rows.loc[post, "period"].to_numpy()
    cov = np.asarray(fit.result.cov_params())
    x = x_cf.to_numpy()
    out = []
    for period in pd.unique(periods):
        sel = periods == period
        total = mu[sel].sum()
        gradient = (mu[sel, None] * x[sel]).sum(axis=0) / total
        se_log = float(np.sqrt(gradient @ cov @ gradient))
        out.append((period, total, total * np.exp(-Z_95 * se_log), total * np.exp(Z_95 * se_log)))
    counterfactual = pd.DataFrame(out, columns=["period", "mean", "low", "high"]).set_index(
        "period")
    counterfactual.index = pd.PeriodIndex(counterfactual.index)
    return counterfactual, fitted.rename("fitted")


def _pre_trend_test(rows: pd.DataFrame, freq: str, names: Labels,
                    start_from: pd.Series | None = None) -> dict | None:
    """Do treated and comparison areas trend alike before the start? (treated x time term).

    ``start_from`` (the full model's coefficients) starts the fit near its answer: the area and
    period effects before the start barely move, so IRLS needs about half the iterations.
    """
    pre = rows[rows["is_post"] == 0]
    if pre["period"].nunique() < 6:
        return None
    area = pd.get_dummies(pre["area"], prefix="area", drop_first=True, dtype=float)
    period = pd.get_dummies(pre["period"].astype(str), prefix="period", drop_first=True,
                            dtype=float)
    t = np.array([p.ordinal for p in pre["period"]], dtype=float)
    exog = pd.concat([pd.Series(1.0, index=pre.index, name="const"), area, period], axis=1)
    exog["treated_trend"] = pre["is_treated"].astype(float) * (t - t.mean())
    offset = np.log(pre["population"].to_numpy()) if pre["population"].notna().all() else None
    with pywarnings.catch_warnings(), np.errstate(all="ignore"):
        pywarnings.simplefilter("ignore")
        model = sm.GLM(pre["count"], exog, family=sm.families.Poisson(), offset=offset)
        start = None if start_from is None else (
            start_from.reindex(exog.columns).fillna(0.0).to_numpy(dtype=float))
        try:
            result = model.fit(scale="X2", start_params=start)
            if start is not None and not result.converged:
                result = model.fit(scale="X2")  # from statsmodels' own start, as before
        except (np.linalg.LinAlgError, ValueError):
            return None
    if not result.converged or not np.isfinite(result.bse["treated_trend"]):
        return None
    per_year = 4 if freq == QUARTERLY else 12
    return {
        "ratio_per_year": float(np.exp(per_year * result.params["treated_trend"])),
        "p_value": float(result.pvalues["treated_trend"]),
    }
