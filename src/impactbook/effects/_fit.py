"""Fit a count GLM (quasi-Poisson or negative binomial) and refuse silent failures.

Every estimator goes through :func:`fit_count_model`, so non-convergence, perfect separation
and non-finite coefficients are turned into :class:`~impactbook.errors.EstimationError` in one
place instead of leaking out as a number nobody should trust.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

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
# numpy's floating-point errors, in plain words for a report's reader.
_NUMERICAL_ERRORS = {"overflow": "a number too large to compute",
                     "invalid value": "an undefined value",
                     "divide by zero": "a division by zero"}
F = TypeVar("F", bound=Callable)


def numerical_notes(estimator: F) -> F:
    """Decorator: numpy's floating-point errors inside ``estimator`` (an overflow on huge or
    very unequal counts, ...) become one sentence of the returned estimate's ``warnings``
    instead of a RuntimeWarning on the user's terminal or in the report.

    The model fits ignore such errors on their own (a failed fit is caught by its
    convergence checks); what is noted is arithmetic on a fitted model, such as a band that
    overflows. ``np.errstate`` is per thread, so parallel estimates do not mix their notes.
    """

    @functools.wraps(estimator)
    def run(*args, **kwargs):
        kinds: list[str] = []
        with np.errstate(over="call", invalid="call", divide="call",
                         call=lambda kind, _flag: kinds.append(kind)):
            estimate = estimator(*args, **kwargs)
        if not kinds:
            return estimate
        what = " and ".join(dict.fromkeys(_NUMERICAL_ERRORS.get(k, k) for k in kinds))
        note = (f"Part of the model's arithmetic met {what} (very large or very unequal "
                "counts), so an interval or band may be infinite or missing: read this "
                "estimate with caution.")
        return dataclasses.replace(estimate, warnings=(*estimate.warnings, note))

    return run  # type: ignore[return-value]


@dataclass(frozen=True)
class CountFit:
    """A fitted count model with the pieces the estimators read."""

    result: Any  # statsmodels results object
    family: str
    robust: str
    dispersion: float  # Pearson chi-square / residual df
    alpha: float | None  # negative binomial dispersion parameter, when fitted
    #: How the negative binomial was fitted, or why it reduced to Poisson (a methods note).
    solver_note: str | None = None
    #: (observed - fitted) / sqrt(model variance), in the order of the fitted rows.
    pearson_residuals: np.ndarray | None = None

    def variance_weights(self, mu: np.ndarray) -> np.ndarray:
        """IRLS weights ``mu / Var(y)`` of the fitted model at means ``mu`` (log link):
        ``mu / dispersion`` for quasi-Poisson, ``mu / (1 + alpha mu)`` for NB2."""
        if self.alpha is None:
            return mu / self.dispersion
        return mu / (1.0 + self.alpha * mu)

    def refit_se(self, name: str, cov_type: str, cov_kwds: dict) -> float | None:
        """The standard error of ``name`` with a robust covariance (e.g. Newey-West: the same
        estimates, refitted with ``cov_type="HAC"``); ``None`` when it cannot be computed."""
        model = self.result.model
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            try:
                if isinstance(model, sm.GLM):
                    scale = "X2" if self.family == "quasi-poisson" else 1.0
                    refit = model.fit(scale=scale, cov_type=cov_type, cov_kwds=cov_kwds)
                else:
                    refit = model.fit(start_params=np.asarray(self.result.params), disp=0,
                                      method="newton", maxiter=100, cov_type=cov_type,
                                      cov_kwds=cov_kwds)
            except (np.linalg.LinAlgError, ValueError, KeyError, TypeError):
                return None
        names = list(self.result.params.index)
        value = float(np.asarray(refit.bse)[names.index(name)])
        return value if np.isfinite(value) and value > 0 else None

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
    solver_note, alpha = None, None
    if family == "quasi-poisson":
        result, converged, failures = _fit_quasi_poisson(y, exog, offset, fit_kwargs, labels)
    elif not is_overdispersed(y, exog, offset):
        # The likelihood peaks at alpha = 0, where the negative binomial is the Poisson model:
        # an optimiser chasing log(alpha) to minus infinity "does not converge", but the
        # answer exists and is the Poisson fit.
        result, converged, failures = _fit_poisson(y, exog, offset, fit_kwargs, labels)
        solver_note = ("no overdispersion: alpha is estimated at 0, so the negative binomial "
                       "is the Poisson model")
        alpha = 0.0
    else:
        result, converged, failures, solver_note = _fit_negative_binomial(
            y, exog, offset, fit_kwargs, labels)
    if not converged or failures:
        why = f": {failures[0].message}" if failures else ""
        raise labels.error(f"the {family} model did not converge{why}")
    params = np.asarray(result.params, dtype=float)
    bse = np.asarray(result.bse, dtype=float)
    if not (np.all(np.isfinite(params)) and np.all(np.isfinite(bse))):
        raise labels.error(f"the {family} model gave non-finite coefficients or standard errors")
    mu = np.asarray(result.predict(exog, offset=offset), dtype=float)
    observed = np.asarray(y, dtype=float)
    if family == "negative-binomial" and alpha is None:
        alpha = float(result.params["alpha"])
    variance = mu if alpha is None else mu + alpha * mu**2
    dispersion = float(np.sum((observed - mu) ** 2 / variance) / (n_obs - n_params))
    return CountFit(result=result, family=family, robust=robust, dispersion=dispersion,
                    alpha=alpha, solver_note=solver_note,
                    pearson_residuals=(observed - mu) / np.sqrt(variance))


def is_overdispersed(y: pd.Series, exog: pd.DataFrame, offset: np.ndarray | None) -> bool:
    """Does the NB2 likelihood rise as alpha leaves 0? (Its score at the Poisson fit.)

    At alpha = 0 the derivative of the NB2 log-likelihood in alpha is
    ``sum(((y - mu)^2 - y) / mu^2) / 2`` with ``mu`` the Poisson fit (Cameron & Trivedi);
    when it is not positive the maximum is on the boundary alpha = 0.
    """
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        poisson = sm.GLM(y, exog, family=sm.families.Poisson(), offset=offset).fit()
    mu = np.asarray(poisson.mu)
    counts = np.asarray(y, dtype=float)
    return bool(np.sum(((counts - mu) ** 2 - counts) / mu**2) > 0)


def _caught(call):
    """Run ``call()`` recording warnings; return (result, failure warnings)."""
    # numpy's floating-point errors inside a fit are ignored, as they always were here.
    with warnings.catch_warnings(record=True) as caught, np.errstate(all="ignore"):
        warnings.simplefilter("always")
        result = call()
    return result, [w for w in caught if issubclass(w.category, _FAILURE_WARNINGS)]


def _fit_quasi_poisson(y, exog, offset, fit_kwargs, labels: Labels):
    model = sm.GLM(y, exog, family=sm.families.Poisson(), offset=offset)
    try:
        result, failures = _caught(lambda: model.fit(scale="X2", **fit_kwargs))
    except (np.linalg.LinAlgError, ValueError, OverflowError) as exc:
        raise labels.error(f"the quasi-poisson model could not be fitted ({exc})") from None
    return result, bool(result.converged), failures


def _fit_poisson(y, exog, offset, fit_kwargs, labels: Labels):
    model = sm.GLM(y, exog, family=sm.families.Poisson(), offset=offset)
    try:
        result, failures = _caught(lambda: model.fit(**fit_kwargs))
    except (np.linalg.LinAlgError, ValueError, OverflowError) as exc:
        raise labels.error(f"the negative-binomial model could not be fitted ({exc})") from None
    return result, bool(result.converged), failures


def _fit_negative_binomial(y, exog, offset, fit_kwargs, labels: Labels):
    """NB2 by maximum likelihood: BFGS, then Newton from the same start when BFGS stops early.

    BFGS (on log alpha) stops with precision loss on some long series whose maximum exists
    (NYC and Philadelphia citywide shooting victims); Newton from the same start reaches R
    MASS::glm.nb's estimates there. Standard errors are from the observed information.
    """
    model = sm.NegativeBinomial(y, exog, offset=offset, loglike_method="nb2")
    start = _nb_start(y, exog, offset)
    failures: list = []
    for method in ("bfgs", "newton"):
        try:
            result, failures = _caught(lambda m=method: model.fit(
                start_params=start, disp=0, maxiter=1000 if m == "bfgs" else 100, method=m,
                **fit_kwargs))
        except (np.linalg.LinAlgError, ValueError, OverflowError) as exc:
            if method == "newton":
                raise labels.error(
                    f"the negative-binomial model could not be fitted ({exc})") from None
            continue
        converged = bool(result.mle_retvals.get("converged", False))
        alpha = float(np.asarray(result.params)[-1])
        if converged and not failures and np.isfinite(alpha) and alpha > 0:
            note = ("maximum likelihood (BFGS)" if method == "bfgs" else
                    "maximum likelihood (Newton, after BFGS stopped short)")
            return result, True, [], note + "; standard errors from the observed information"
    return result, False, failures, None
