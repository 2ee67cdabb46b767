"""Fit a count GLM (quasi-Poisson or negative binomial) and refuse silent failures.

Every estimator goes through :func:`fit_count_model`, so non-convergence, perfect separation
and non-finite coefficients are turned into :class:`~impactbook.errors.EstimationError` in one
place instead of leaking out as a number nobody should trust.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.api as sm
from statsmodels.tools.sm_exceptions import (
    ConvergenceWarning,
    HessianInversionWarning,
    PerfectSeparationWarning,
)

from impactbook.effects._window import Labels

FAMILIES = ("quasi-poisson", "negative-binomial")
ROBUST = ("none", "hac")
_FAILURE_WARNINGS = (ConvergenceWarning, HessianInversionWarning, PerfectSeparationWarning)


@dataclass(frozen=True)
class CountFit:
    """A fitted count model with the pieces the estimators read."""

    result: Any  # statsmodels results object
    family: str
    robust: str
    dispersion: float  # Pearson chi-square / residual df
    alpha: float | None  # negative binomial dispersion parameter, when fitted

    def coefficient(self, name: str) -> tuple[float, float, float, float, float]:
        """``(estimate, se, ci_low, ci_high, p_value)`` of one coefficient (log scale)."""
        ci = self.result.conf_int(alpha=0.05).loc[name]
        return (float(self.result.params[name]), float(self.result.bse[name]),
                float(ci.iloc[0]), float(ci.iloc[1]), float(self.result.pvalues[name]))

    def predict_linear(self, exog: pd.DataFrame, offset: np.ndarray | None) -> pd.DataFrame:
        """Mean on the count scale with a 95% band computed on the log scale (never < 0)."""
        pred = self.result.get_prediction(exog=exog, offset=offset, which="linear")
        frame = pred.summary_frame(alpha=0.05)
        columns = list(frame.columns)
        # GLM and discrete models name the columns differently; order is the same.
        mean, low, high = (frame[columns[0]], frame[columns[2]], frame[columns[3]])
        return pd.DataFrame(
            {"mean": np.exp(mean.to_numpy()), "low": np.exp(low.to_numpy()),
             "high": np.exp(high.to_numpy())},
            index=exog.index,
        )

    def predict_mean(self, exog: pd.DataFrame, offset: np.ndarray | None) -> pd.Series:
        return pd.Series(
            np.asarray(self.result.predict(exog, offset=offset)), index=exog.index, name="fitted"
        )


def _nb_start(y: pd.Series, exog: pd.DataFrame, offset: np.ndarray | None) -> np.ndarray:
    """Poisson coefficients plus a moment estimate of alpha: Newton from statsmodels' own
    default start wanders into negative alpha on large counts (e.g. Sicily)."""
    poisson = sm.GLM(y, exog, family=sm.families.Poisson(), offset=offset).fit()
    mu = np.asarray(poisson.mu)
    alpha = float(np.sum(((np.asarray(y) - mu) ** 2 - mu) / mu**2) / poisson.df_resid)
    return np.append(np.asarray(poisson.params), max(alpha, 1e-3))


def default_hac_lags(n_obs: int) -> int:
    """Newey and West's (1994) rule of thumb, floor(4 (n/100)^(2/9))."""
    return max(1, int(math.floor(4.0 * (n_obs / 100.0) ** (2.0 / 9.0))))


def fit_count_model(
    y: pd.Series,
    exog: pd.DataFrame,
    offset: np.ndarray | None,
    *,
    family: str,
    robust: str,
    labels: Labels,
    hac_lags: int | None = None,
) -> CountFit:
    """Fit ``y ~ exog`` (log link) and raise EstimationError instead of returning junk."""
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")
    if robust not in ROBUST:
        raise ValueError(f"robust must be one of {ROBUST}, got {robust!r}")
    n_obs, n_params = exog.shape
    if n_obs - n_params < 2:
        raise labels.error(
            f"too few periods to fit: {n_obs} observed periods for {n_params} model terms"
        )
    fit_kwargs: dict[str, Any] = {}
    if robust == "hac":
        lags = default_hac_lags(n_obs) if hac_lags is None else int(hac_lags)
        fit_kwargs = {"cov_type": "HAC", "cov_kwds": {"maxlags": lags}}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if family == "quasi-poisson":
                model = sm.GLM(y, exog, family=sm.families.Poisson(), offset=offset)
                result = model.fit(scale="X2", **fit_kwargs)
                converged = bool(result.converged)
            else:
                model = sm.NegativeBinomial(y, exog, offset=offset, loglike_method="nb2")
                result = model.fit(start_params=_nb_start(y, exog, offset), disp=0,
                                   maxiter=1000, method="bfgs", **fit_kwargs)
                converged = bool(result.mle_retvals.get("converged", False))
        except (np.linalg.LinAlgError, ValueError, OverflowError) as exc:
            raise labels.error(f"the {family} model could not be fitted ({exc})") from None
    failures = [w for w in caught if issubclass(w.category, _FAILURE_WARNINGS)]
    if not converged or failures:
        why = f": {failures[0].message}" if failures else ""
        raise labels.error(f"the {family} model did not converge{why}")
    params = np.asarray(result.params, dtype=float)
    bse = np.asarray(result.bse, dtype=float)
    if not (np.all(np.isfinite(params)) and np.all(np.isfinite(bse))):
        raise labels.error(f"the {family} model gave non-finite coefficients or standard errors")
    mu = np.asarray(result.predict(exog, offset=offset), dtype=float)
    observed = np.asarray(y, dtype=float)
    alpha = None
    if family == "negative-binomial":
        alpha = float(result.params["alpha"])
        variance = mu + alpha * mu**2
        df_resid = n_obs - n_params
    else:
        variance = mu
        df_resid = n_obs - n_params
    dispersion = float(np.sum((observed - mu) ** 2 / variance) / df_resid)
    return CountFit(result=result, family=family, robust=robust, dispersion=dispersion,
                    alpha=alpha)
