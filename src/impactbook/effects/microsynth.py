"""Micro-synthetic control: many small treated units (blocks) against thousands of controls.

This is the default analysis of R's ``microsynth`` (Robbins, Saunders & Kilmer 2017; Robbins &
Davenport 2021, J. Stat. Software 97(2)), reproduced on its own Seattle Drug Market
Intervention data (``tests/fixtures/synth/`` holds R's numbers and the script that made them):

* **Weights.** microsynth's default ``calfun="linear", bounds=c(0, Inf)`` calibration from equal
  weights is the quadratic programme ``min ||w||^2 s.t. C'w = t, w >= 0``: ``C`` has one column
  for the intercept, each covariate and each outcome in each pre-period, ``t`` the treated
  units' totals of the same columns. Every pre-period of every outcome is matched exactly, so
  the synthetic series equals the treated one before the start. It is solved by scipy's
  Newton steps on the convex dual (as ``survey::grake`` calibrates by Newton-Raphson on the
  dual), with Clarabel on the primal when the dual's balance is not exact.
* **Effect.** Sums over the post-period: observed (treated) against synthetic (weighted
  controls); percent change = observed / synthetic - 1.
* **Permutation test.** Placebo groups of as many units as are treated, drawn from *all* units
  (as microsynth does), are re-weighted identically; the statistic is microsynth's default
  (``use.survey=TRUE``): the t value of ``treat`` in ``svyglm(y ~ treat + factor(time) - 1)``
  on the stacked post-periods with the weights (row-level linearisation, n/(n-1)).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from impactbook.effects._threads import blas_controller

#: Balance error (relative to each target) above which the dual solution is not accepted.
BALANCE_RTOL = 1e-7
#: Norm of the dual's gradient (the balance error in scaled columns) at which Newton stops.
DUAL_GTOL = 1e-11
#: Threads for the placebo fits: numpy releases the GIL in the matrix products they spend
#: their time in, and each thread keeps BLAS on one thread. As many as the cores this process
#: may use (a batch worker pinned to fewer cores gets fewer threads), at most 8.
PLACEBO_THREADS = max(1, min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                             else (os.cpu_count() or 1)))


def design_matrix(outcomes_pre: np.ndarray, covariates: np.ndarray) -> np.ndarray:
    """Constraint columns per unit: intercept, covariates, every outcome in every pre-period.

    ``outcomes_pre`` is units x pre-periods x outcomes, ``covariates`` units x covariates.
    """
    n = outcomes_pre.shape[0]
    return np.column_stack([np.ones(n), covariates, outcomes_pre.reshape(n, -1)]).astype(float)


def _clarabel_weights(C: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, bool]:
    """The primal QP with Clarabel (interior point), columns scaled to one."""
    import clarabel

    n, m = C.shape
    scale = np.maximum(np.abs(C).max(axis=0), 1.0)  # same feasible set, better conditioned
    P = sp.identity(n, format="csc") * 2.0
    A = sp.vstack([sp.csc_matrix((C / scale).T), -sp.identity(n)], format="csc")
    b = np.concatenate([targets / scale, np.zeros(n)])
    settings = clarabel.DefaultSettings()
    settings.verbose = False
    settings.tol_gap_abs = settings.tol_gap_rel = settings.tol_feas = 1e-10
    cones = [clarabel.ZeroConeT(m), clarabel.NonnegativeConeT(n)]
    solution = clarabel.DefaultSolver(P, np.zeros(n), A, b, cones, settings).solve()
    return np.maximum(np.asarray(solution.x), 0.0), str(solution.status).startswith("Solved")


def balance_error(C: np.ndarray, targets: np.ndarray, weights: np.ndarray) -> float:
    """Largest |weighted control total - target|, relative to the target (at least 1)."""
    return float(np.max(np.abs(C.T @ weights - targets) / np.maximum(np.abs(targets), 1.0)))


def calibration_weights(C: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray | None, str]:
    """microsynth's weights for controls ``C`` (units x columns) and treated totals ``targets``.

    Returns ``(weights, solver)``; ``weights`` is None when no non-negative weighting of the
    controls matches every target (microsynth then reports the model infeasible).
    """
    C = np.asarray(C, float)
    targets = np.asarray(targets, float)
    scale = np.maximum(np.abs(C).max(axis=0), 1.0)
    Cs, ts = C / scale, targets / scale
    start = np.zeros(C.shape[1])
    start[0] = targets[0] / C.shape[0] * scale[0]  # equal weights n_treated / n_controls
    weights = newton_dual_weights(Cs, ts, start)
    if weights is not None and balance_error(C, targets, weights) <= BALANCE_RTOL:
        return weights, "Newton on the dual"
    weights, is_solved = _clarabel_weights(C, targets)
    if is_solved and balance_error(C, targets, weights) <= 1e-6:
        return weights, "clarabel (primal)"
    return None, "infeasible"


def newton_dual_weights(Cs: np.ndarray, ts: np.ndarray, start: np.ndarray, *,
                        gtol: float = DUAL_GTOL, max_iter: int = 200) -> np.ndarray | None:
    """``w = max(Cs @ lam, 0)`` at the minimum of the dual ``0.5 ||w||^2 - ts @ lam``.

    The dual of ``min ||w||^2 s.t. Cs'w = ts, w >= 0`` is convex and piecewise quadratic; its
    gradient ``Cs'w - ts`` is the balance error, its Hessian ``A'A`` over the rows ``A`` of
    ``Cs`` with positive weight. Newton steps with a backtracking (Armijo) line search find it
    in about a dozen steps, as ``survey::grake`` calibrates by Newton-Raphson; once the set of
    positive weights is right a step lands on the optimum. None if the gradient does not fall
    below ``gtol`` (a singular Hessian, where a column is zero on every weighted row, is solved
    by least squares).
    """
    lam = np.array(start, float)
    u = Cs @ lam
    w = np.maximum(u, 0.0)
    f = 0.5 * w @ w - ts @ lam
    hessian = _gram(Cs[u > 0])
    for _ in range(max_iter):
        gradient = Cs.T @ w - ts
        if np.linalg.norm(gradient) <= gtol:
            return w
        try:
            step = np.linalg.solve(hessian, -gradient)
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(hessian, -gradient, rcond=None)[0]
        slope = gradient @ step
        if not slope < 0:  # a singular Hessian's step may not descend: the gradient does
            step, slope = -gradient, -(gradient @ gradient)
        t = 1.0
        while True:
            lam_next = lam + t * step
            u_next = Cs @ lam_next
            w_next = np.maximum(u_next, 0.0)
            f_next = 0.5 * w_next @ w_next - ts @ lam_next
            if f_next <= f + 1e-4 * t * slope or t < 1e-12:
                break
            t *= 0.5
        lam, u, w, f = lam_next, u_next, w_next, f_next
        hessian = _gram(Cs[u > 0])
    return None


def _gram(rows: np.ndarray) -> np.ndarray:
    return rows.T @ rows


def survey_t_values(outcomes_post: np.ndarray, is_treated: np.ndarray,
                    weights: np.ndarray) -> np.ndarray:
    """t value of ``treat`` in ``svyglm(y ~ treat + factor(time) - 1)``, one per outcome.

    ``outcomes_post`` is units x post-periods x outcomes; ``weights`` one per unit (1 for the
    treated), repeated over the periods as microsynth stacks them.
    """
    n, k, v = outcomes_post.shape
    row_weights = np.tile(weights, k)  # rows ordered period-major
    X = np.zeros((n * k, 1 + k))
    X[:, 0] = np.tile(is_treated.astype(float), k)
    X[np.arange(n * k), 1 + np.repeat(np.arange(k), n)] = 1.0
    Y = outcomes_post.transpose(1, 0, 2).reshape(n * k, v)
    keep = row_weights > 0  # rows of weight zero add nothing
    Xk, Yk, wk = X[keep], Y[keep], row_weights[keep]
    bread = np.linalg.pinv(Xk.T @ (Xk * wk[:, None]))
    beta = bread @ (Xk.T @ (Yk * wk[:, None]))
    residuals = Yk - Xk @ beta
    rows = n * k  # every stacked row is its own sampling unit (ids = ~0)
    out = np.empty(v)
    for j in range(v):
        influence = (Xk * (wk * residuals[:, j])[:, None]) @ bread
        influence = influence - influence.sum(0) / rows
        variance = (influence[:, 0] @ influence[:, 0]) * rows / (rows - 1)
        out[j] = beta[0, j] / np.sqrt(variance)
    return out


@dataclass(frozen=True)
class GroupFit:
    """One treated (or placebo) group against the weighted other units."""

    treated_series: np.ndarray    # periods x outcomes: the group's totals
    synthetic_series: np.ndarray  # periods x outcomes: weighted controls' totals
    t_values: np.ndarray          # outcomes
    weights: np.ndarray           # one per unit: 1 in the group, calibration weight otherwise
    solver: str


def fit_group(outcomes: np.ndarray, covariates: np.ndarray, in_group: np.ndarray,
              n_pre: int, design: np.ndarray | None = None) -> GroupFit | None:
    """Weights, series and t values for the units ``in_group``; None when infeasible.

    ``outcomes`` is units x periods x outcomes (the first ``n_pre`` periods are matched);
    ``design`` their :func:`design_matrix`, if the caller has it already.
    """
    C = design_matrix(outcomes[:, :n_pre], covariates) if design is None else design
    weights, solver = calibration_weights(C[~in_group], C[in_group].sum(axis=0))
    if weights is None:
        return None
    all_weights = np.ones(len(in_group))
    all_weights[~in_group] = weights
    treated = outcomes[in_group].sum(axis=0)
    synthetic = np.tensordot(weights, outcomes[~in_group], axes=1)
    t_values = survey_t_values(outcomes[:, n_pre:], in_group, all_weights)
    return GroupFit(treated, synthetic, t_values, all_weights, solver)


def draw_placebo_groups(n_units: int, group_size: int, placebos: int,
                        seed: int) -> list[np.ndarray]:
    """``placebos`` groups of ``group_size`` unit positions drawn from all units."""
    rng = np.random.default_rng(seed)
    return [np.sort(rng.choice(n_units, group_size, replace=False)) for _ in range(placebos)]


def fit_placebos(outcomes: np.ndarray, covariates: np.ndarray, n_pre: int,
                 groups: Sequence[np.ndarray]) -> list[GroupFit | None]:
    """Each placebo group fitted as if treated (None where its match is infeasible)."""

    design = design_matrix(outcomes[:, :n_pre], covariates)  # the same for every group

    def one(positions: np.ndarray) -> GroupFit | None:
        in_group = np.zeros(outcomes.shape[0], bool)
        in_group[positions] = True
        return fit_group(outcomes, covariates, in_group, n_pre, design)

    with blas_controller().limit(limits=1, user_api="blas"):
        if PLACEBO_THREADS <= 1 or len(groups) < 2:
            return [one(g) for g in groups]
        with ThreadPoolExecutor(PLACEBO_THREADS) as pool:
            return list(pool.map(one, groups))


def permutation_share_below(observed: np.ndarray, placebos: np.ndarray) -> np.ndarray:
    """microsynth's ``test="lower"`` p: the share of placebo statistics below the observed.

    ``placebos`` is groups x outcomes. No +1: this is microsynth's own figure, kept to check
    against it; the estimate reports :func:`permutation_p_values`.
    """
    return (observed[None, :] > placebos).mean(axis=0)


def permutation_p_values(observed: np.ndarray, placebos: np.ndarray
                         ) -> tuple[np.ndarray, np.ndarray]:
    """(two-sided, lower) permutation p-values counting the real group as one of the draws.

    ``p = (1 + placebos at least as extreme) / (1 + placebos)``, so no p is below
    ``1 / (placebos + 1)``.
    """
    n = placebos.shape[0]
    lower = (1 + (placebos <= observed[None, :]).sum(axis=0)) / (n + 1)
    both = (1 + (np.abs(placebos) >= np.abs(observed)[None, :]).sum(axis=0)) / (n + 1)
    return both, lower
