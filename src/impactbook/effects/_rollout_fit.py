"""Fit Wooldridge's extended two-way fixed effects Poisson model with pyfixest.

One coefficient per cohort x period cell (the cells of
:func:`~impactbook.effects.rollout_panel.assign_cells`), unit and period effects, standard
errors clustered by unit; the solver is pyfixest's ``fepois``. ``effects="cohort"`` is the
specification R's ``etwfe`` fits for a Poisson family (cohort and period dummies instead of
unit effects, each covariate entered with its cohort and period interactions and, demeaned
within cohort, interacted with the cells), kept so the estimator can be checked against
``etwfe``'s published numbers.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from impactbook.effects._threads import blas_controller
from impactbook.errors import EstimationError


@dataclass(frozen=True)
class CellFit:
    """The link-scale effect of every cell and their covariance (cluster-robust)."""

    effects: np.ndarray
    vcov: np.ndarray
    n_obs: int
    n_clusters: int


def _pyfixest():
    # pyfixest is imported only when a rollout is estimated: it costs a second at import.
    import pyfixest as pf

    return pf


#: IRLS iterations allowed (pyfixest's default of 25 can stop short on sparse panels).
MAX_ITERATIONS = 100


def _check_converged(fit, what: str) -> None:
    # pyfixest stops after its last iteration without raising: a fit that did not converge
    # would give a number, so it is an error here.
    if not getattr(fit, "convergence", False):
        raise EstimationError(f"the {what} did not converge (IRLS); pool start dates "
                              "(--cohort-bin) or check the counts")


def _fepois(formula: str, data: pd.DataFrame, frame: pd.DataFrame, has_offset: bool,
            max_iterations: int, what: str):
    """pyfixest's Poisson fit clustered by unit (log exposure as offset when there is one);
    a failed or unconverged fit is an :class:`EstimationError` naming ``what``."""
    kwargs = {}
    if has_offset:
        data["log_exposure"] = np.log(frame["exposure"].to_numpy(dtype=float))
        kwargs["offset"] = "log_exposure"
    pf = _pyfixest()  # first, so that the BLAS it loads is among those limited below
    try:
        # One BLAS thread, as for the other estimators (effects/_threads.py): the IRLS steps
        # solve a few-hundred-column system each, and threaded OpenBLAS spent more time handing
        # off than computing (New York: 3.2 s of CPU for the cell model, 0.5 s on one thread).
        with warnings.catch_warnings(), blas_controller().limit(limits=1, user_api="blas"):
            warnings.simplefilter("ignore")
            fit = pf.fepois(formula, data=data, vcov={"CRV1": "unit"},
                            iwls_maxiter=max_iterations, **kwargs)
    except Exception as exc:  # pyfixest raises plain exceptions on a failed fit
        raise EstimationError(f"the {what} could not be fitted ({exc})") from None
    _check_converged(fit, what)
    return fit


def fit_cells(frame: pd.DataFrame, cell: pd.Series, n_cells: int, *, effects: str = "unit",
              covariates: tuple[str, ...] = (), has_offset: bool = False,
              max_iterations: int = MAX_ITERATIONS) -> CellFit:
    """Fit the model on ``frame`` (``unit, t, g, count``, optional ``exposure`` and the
    ``covariates``); ``cell`` is each row's cell (-1 for control rows)."""
    cells = cell.to_numpy()
    names = [f"d{k}" for k in range(n_cells)]
    dummies = np.zeros((len(frame), n_cells))
    dummies[np.flatnonzero(cells >= 0), cells[cells >= 0]] = 1.0
    data = pd.DataFrame({"y": frame["count"].to_numpy(dtype=float),
                         "unit": frame["unit"].astype(str).to_numpy(),
                         "t": frame["t"].astype(str).to_numpy()})
    if (cells < 0).any():
        # One categorical term for the cells (the same columns as one dummy per cell, named
        # cell::k): a formula of hundreds of dummy names took a quarter of the fit to parse.
        data["cell"] = cells
        terms, fitted_names = ["i(cell, ref=-1)"], [f"cell::{k}" for k in range(n_cells)]
    else:  # no control row to be the reference level: the dummies themselves
        data = pd.concat([data, pd.DataFrame(dummies, columns=names)], axis=1)
        terms, fitted_names = list(names), list(names)
    demeaned_means = np.zeros((n_cells, len(covariates)))
    if covariates and effects != "cohort":
        raise EstimationError("covariates are supported with cohort effects only")
    fixed = "unit + t"
    if effects == "cohort":
        fixed = None
        cohort = frame["g"].to_numpy()
        never = cohort.max()  # the reference cohort: not treated within the data
        periods = np.sort(frame["t"].unique())
        cohort_cols = {f"c{int(g)}": (cohort == g).astype(float)
                       for g in np.unique(cohort) if g != never}
        period_cols = {f"p{int(t)}": (frame["t"].to_numpy() == t).astype(float)
                       for t in periods[1:]}
        extra = {**cohort_cols, **period_cols}
        terms += list(cohort_cols) + list(period_cols)
        for j, x in enumerate(covariates):
            values = frame[x].to_numpy(dtype=float)
            by_cohort = pd.Series(values).groupby(cohort).transform("mean").to_numpy()
            centred = values - by_cohort
            extra[f"x{j}"] = values
            terms.append(f"x{j}")
            for name, column in {**cohort_cols, **period_cols}.items():
                extra[f"x{j}_{name}"] = values * column
                terms.append(f"x{j}_{name}")
            for k, name in enumerate(names):
                extra[f"x{j}_{name}"] = dummies[:, k] * centred
                terms.append(f"x{j}_{name}")
                rows = dummies[:, k] > 0
                demeaned_means[k, j] = centred[rows].mean()
        data = pd.concat([data, pd.DataFrame(extra)], axis=1)
    formula = "y ~ " + " + ".join(terms) + (f" | {fixed}" if fixed else "")
    fit = _fepois(formula, data, frame, has_offset, max_iterations, "rollout model")
    coefs = fit.coef()
    missing = [n for n in fitted_names if n not in coefs.index]
    if missing:
        raise EstimationError(f"{len(missing)} cohort x period cell(s) could not be estimated "
                              "(collinear or separated); bin the cohorts (--cohort-bin)")
    order = list(coefs.index)
    vcov = np.asarray(fit._vcov)
    theta_names = fitted_names + [f"x{j}_{n}" for j in range(len(covariates)) for n in names]
    index = [order.index(n) for n in theta_names]
    theta = coefs.to_numpy()[index]
    sub = vcov[np.ix_(index, index)]
    # The link-scale effect of cell k at its rows' mean covariates: tau_k + sum_j delta_jk m_jk.
    mix = np.zeros((n_cells, len(theta_names)))
    mix[:, :n_cells] = np.eye(n_cells)
    for j in range(len(covariates)):
        mix[:, n_cells * (j + 1):n_cells * (j + 2)] = np.diag(demeaned_means[:, j])
    if not np.all(np.isfinite(theta)) or not np.all(np.isfinite(sub)):
        raise EstimationError("the rollout model gave no finite estimate (a cell with too few "
                              "events); bin the cohorts (--cohort-bin)")
    return CellFit(mix @ theta, mix @ sub @ mix.T, int(fit._N), int(data["unit"].nunique()))


def fit_static(frame: pd.DataFrame, is_treated: np.ndarray, *,
               has_offset: bool = False) -> tuple[float, float]:
    """The static two-way fixed-effects Poisson estimate (one coefficient for "treated"),
    clustered by unit: what older evaluations report."""
    data = pd.DataFrame({"y": frame["count"].to_numpy(dtype=float),
                         "unit": frame["unit"].astype(str).to_numpy(),
                         "t": frame["t"].astype(str).to_numpy(),
                         "treated": is_treated.astype(float)})
    fit = _fepois("y ~ treated | unit + t", data, frame, has_offset, MAX_ITERATIONS,
                  "static model")
    return float(fit.coef()["treated"]), float(fit.se()["treated"])
