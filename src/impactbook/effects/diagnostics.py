"""Residual autocorrelation of the time-series models, and the interval it calls for.

Counts a month apart are rarely independent, and a count model that assumes they are gives
intervals that are too narrow when the residuals are autocorrelated. Every model is checked
with a Ljung-Box test on its Pearson residuals (12 lags, the test Bernal et al. recommend for
segmented regressions; on the Sicily tutorial data p is about 0.005). When the test detects
autocorrelation the headline interval is the wider of the model's and the Newey-West
(heteroskedasticity and autocorrelation consistent) one, and a warning says which was used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats
from statsmodels.stats.diagnostic import acorr_ljungbox

from impactbook.effects._fit import CountFit, default_hac_lags
from impactbook.effects.estimate import Z_95

LJUNG_BOX_LAGS = 12
AUTOCORRELATION_ALPHA = 0.05
#: Fewer residuals than this and 12 lags say little; the test is not run.
MIN_RESIDUALS = 2 * LJUNG_BOX_LAGS


@dataclass(frozen=True)
class Interval:
    """The effect on the log scale with the interval the headline uses."""

    log_rate_ratio: float
    se: float
    ci_low: float  # log scale
    ci_high: float
    p_value: float
    source: str  # "model", "newey-west" or "newey-west (asked)"
    model_se: float
    autocorrelation: dict[str, Any] | None
    warning: str | None


def ljung_box(residuals: np.ndarray, lags: int = LJUNG_BOX_LAGS) -> dict[str, Any] | None:
    """Ljung-Box test of ``residuals`` (time order) at ``lags``; ``None`` when too short."""
    values = np.asarray(residuals, dtype=float)
    values = values[np.isfinite(values)]
    if len(values) < MIN_RESIDUALS:
        return None
    table = acorr_ljungbox(values, lags=[lags])
    p_value = float(table["lb_pvalue"].iloc[0])
    return {"test": "Ljung-Box on Pearson residuals", "lags": lags,
            "statistic": float(table["lb_stat"].iloc[0]), "p_value": p_value,
            "is_detected": bool(p_value < AUTOCORRELATION_ALPHA)}


def headline_interval(fit: CountFit, effect: str, *, series_rows: np.ndarray | None = None,
                      panel: dict | None = None, check: bool = True) -> Interval:
    """The effect ``effect`` of ``fit`` with the interval a headline should carry.

    ``series_rows`` selects the fitted rows that form one time series in time order (the
    treated area's, for a panel); default all rows. ``panel`` (``groups`` and ``time``
    arrays) makes the Newey-West covariance a panel one (``hac-panel``) for the comparison
    model. With ``check=False`` (placebo fits) no test is run.
    """
    log_rr, se, low, high, p_value = fit.coefficient(effect)
    source = "newey-west (asked)" if fit.robust == "hac" else "model"
    if not check:
        return Interval(log_rr, se, low, high, p_value, source, se, None, None)
    residuals = fit.pearson_residuals
    if residuals is not None and series_rows is not None:
        residuals = residuals[series_rows]
    test = ljung_box(residuals) if residuals is not None else None
    if test is None or not test["is_detected"]:
        return Interval(log_rr, se, low, high, p_value, source, se, test, None)
    said = (f"The model's residuals are autocorrelated (Ljung-Box p = {test['p_value']:.2g} "
            f"at {test['lags']} lags)")
    if fit.robust == "hac":
        return Interval(log_rr, se, low, high, p_value, source, se, test,
                        said + ": the interval is the Newey-West one, as asked.")
    n_obs = int(fit.result.nobs)
    lags = default_hac_lags(n_obs if panel is None else len(set(panel["time"])))
    if panel is None:
        nw_se = fit.refit_se(effect, "HAC", {"maxlags": lags})
    else:
        nw_se = fit.refit_se(effect, "hac-panel", {"groups": panel["groups"],
                                                   "time": panel["time"], "maxlags": lags})
    test = {**test, "newey_west_lags": lags,
            "newey_west_se": nw_se if nw_se is None else float(nw_se)}
    if nw_se is None or nw_se <= se:
        return Interval(log_rr, se, low, high, p_value, source, se, test,
                        said + ": the Newey-West interval is no wider, so the model's is "
                        "shown.")
    p_nw = float(2 * stats.norm.sf(abs(log_rr) / nw_se))
    return Interval(log_rr, nw_se, log_rr - Z_95 * nw_se, log_rr + Z_95 * nw_se, p_nw,
                    "newey-west", se, test,
                    said + ": the interval shown is the wider Newey-West one "
                    f"({lags} lags).")


