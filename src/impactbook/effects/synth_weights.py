"""Classic synthetic-control weights: the simplex least squares and its tie-break.

The problem (pysyncon's inner one with a fixed, equal V) is::

    minimise ||X1 - X0 w||^2  subject to  w >= 0, sum(w) = 1

with ``X0`` the donors' predictors (predictors x donors) and ``X1`` the programme area's. The
fitted predictors ``X0 w`` at the optimum are unique (the objective is strictly convex in
them), but ``w`` is not when there are more donors than predictors: whenever the area lies
inside its donors' hull every weighting that reproduces it exactly is optimal, and on the hull's
boundary duplicated or coplanar donors can share a face. The weights decide the synthetic
series *after* the start, so they must not depend on a solver's path.

**Tie-break (documented rule).** Among the optimal weights, the one of least ``||w||^2``,
which on the simplex is the one closest to equal weights (``||w||^2 = ||w - 1/n||^2 + 1/n``):
the weights spread as evenly over the donors as the fit allows, duplicated donors share their
weight equally, and it is the same rule as microsynth's calibration (closest to equal weights,
:func:`.microsynth.calibration_weights`), so both synthetic controls choose alike. It is also
the limit of the ridge-penalised problem as the penalty goes to zero.

**Solver**, in two exact stages, both in the space of the predictors (a handful of yearly
means), not of the donors:

1. The optimal fit ``f* = X0 w*``: the point of the donors' convex hull nearest to ``X1``, by
   Wolfe's (1976) nearest-point algorithm, an active-set method whose corral holds at most
   ``predictors + 1`` donors and whose every step solves a system of that size.
2. The tie-break: ``min ||w||^2 s.t. X0 w = f*, sum(w) = 1, w >= 0`` over the donors that can
   carry weight at the optimum (those on the supporting face, ``(X0 w* - X1)'(x_i - f*) = 0``);
   this is microsynth's calibration problem and is solved by its dual Newton method. When the
   face holds only Wolfe's corral (the usual case outside the hull) the optimum is a point and
   this stage is skipped.

Clarabel's interior point on the whole problem (:func:`simplex_qp`) remains as the fallback
should Wolfe's method not close its gap, and is the reference the tests compare against.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy.optimize import nnls

from impactbook.effects.microsynth import calibration_weights

#: Wolfe's method stops when its duality gap ``x'x - min_i x'p_i`` (scaled predictors) is
#: below this, relative to the largest squared distance: the objective is then within the gap.
GAP_RTOL = 1e-13
#: A donor lies on the optimal face when its gap to the face is below this (same scale).
FACE_RTOL = 1e-9
#: Weight of the row ``sum(w) = 1`` in the least squares that gives Wolfe's method its start
#: (the points are scaled to at most 2 in size): large enough to pick the right support.
SUM_ROW_WEIGHT = 100.0
#: Weights below this (a share of one) are rounding, not a donor's part.
WEIGHT_ATOL = 1e-13


def simplex_least_squares(X0: np.ndarray, X1: np.ndarray) -> np.ndarray:
    """The least-norm weights among the minimisers of ``||X1 - X0 w||^2`` on the simplex."""
    X0 = np.asarray(X0, float)
    X1 = np.asarray(X1, float)
    scale = max(float(np.abs(X0).max(initial=0.0)), float(np.abs(X1).max(initial=0.0)), 1e-300)
    points = (X0 - X1[:, None]) / scale  # the target at the origin, entries within [-2, 2]
    corral = nearest_point(points)
    if corral is None:
        return simplex_qp(X0.T @ X0, X1 @ X0)
    members, shares = corral
    nearest = points[:, members] @ shares
    on_face = points.T @ nearest <= nearest @ nearest + FACE_RTOL * _largest_norm2(points)
    weights = np.zeros(X0.shape[1])
    weights[members] = shares
    if on_face.sum() == len(members):  # the face is the corral's simplex: a single optimum
        return weights
    face = np.flatnonzero(on_face)
    C = np.column_stack([np.ones(len(face)), points[:, face].T])
    least_norm, _ = calibration_weights(C, np.concatenate([[1.0], nearest]))
    if least_norm is None:  # not reached when the face is exact; keep the optimal corral
        return weights
    weights[:] = 0.0
    weights[face] = np.where(least_norm > WEIGHT_ATOL, least_norm, 0.0)
    return weights / weights.sum()


def _largest_norm2(points: np.ndarray) -> float:
    return float(np.einsum("ij,ij->j", points, points).max(initial=0.0)) or 1.0


def nearest_point(points: np.ndarray, max_steps: int | None = None
                  ) -> tuple[np.ndarray, np.ndarray] | None:
    """Wolfe's nearest point to the origin in the convex hull of ``points`` (columns).

    Returns ``(corral, shares)``: the donors (column positions) whose convex combination with
    ``shares`` is the nearest point, affinely independent, so at most ``rows + 1`` of them.
    None if the gap does not close in ``max_steps`` (the caller then uses Clarabel).

    Wolfe's method proper starts from one point and adds one a step; here it starts from the
    support of a non-negative least squares with the sum to one as a heavily weighted row
    (scipy's compiled Lawson-Hanson), which is nearly always the final corral already, so the
    method's own steps only confirm it (about a third of the time of starting from one point).
    """
    m, n = points.shape
    augmented = np.vstack([points, np.full((1, n), SUM_ROW_WEIGHT)])
    target = np.zeros(m + 1)
    target[m] = SUM_ROW_WEIGHT
    try:
        start, _ = nnls(augmented, target, maxiter=20 * n)
        corral = [int(i) for i in np.flatnonzero(start > 0)]
        shares = start[corral] / start[corral].sum()
    except RuntimeError:  # no start: Wolfe's own, the point nearest the origin
        corral, shares = [], np.array([])
    if not corral:
        corral, shares = [int(np.argmin(np.einsum("ij,ij->j", points, points)))], np.array([1.0])
    gap_tol = GAP_RTOL * _largest_norm2(points)
    for _ in range(max_steps or 4 * n + 20):
        while True:  # the minor cycle: move to the corral's affine minimiser, or towards it
            affine = _affine_minimiser(points[:, corral])
            low = affine <= WEIGHT_ATOL
            if not low.any():
                shares = affine
                break
            theta = min(1.0, float(np.min(shares[low] / (shares[low] - affine[low]))))
            shares = (1 - theta) * shares + theta * affine
            keep = shares > WEIGHT_ATOL
            corral = [c for c, k in zip(corral, keep, strict=True) if k]
            shares = shares[keep] / shares[keep].sum()
        x = points[:, corral] @ shares
        dots = x @ points
        j = int(np.argmin(dots))
        if x @ x - dots[j] <= gap_tol:
            return np.array(corral), shares
        if j in corral:  # rounding: the best point is already in; the gap cannot close
            return None
        corral.append(j)
        shares = np.append(shares, 0.0)
    return None


def _affine_minimiser(Q: np.ndarray) -> np.ndarray:
    """``argmin ||Q a||`` subject to ``sum(a) = 1`` (the bordered normal equations)."""
    k = Q.shape[1]
    system = np.ones((k + 1, k + 1))
    system[:k, :k] = Q.T @ Q
    system[k, k] = 0.0
    rhs = np.zeros(k + 1)
    rhs[k] = 1.0
    try:
        return np.linalg.solve(system, rhs)[:k]
    except np.linalg.LinAlgError:  # affinely dependent corral (rounding): least squares
        return np.linalg.lstsq(system, rhs, rcond=None)[0][:k]


def simplex_qp(P: np.ndarray, q: np.ndarray) -> np.ndarray:
    """argmin ``0.5 w'Pw - q'w`` subject to ``w >= 0`` and ``sum(w) = 1`` (Clarabel).

    An interior point: where the optimum is not a point it returns some optimal weights, not
    the least-norm ones (the fallback of :func:`simplex_least_squares`, and the tests' check).
    """
    import clarabel
    import scipy.sparse as sp

    A, b, cones, settings = _simplex_constraints(len(q))
    scale = max(float(np.abs(P).max()), 1e-12)  # same optimum, better conditioned
    solution = clarabel.DefaultSolver(sp.csc_matrix(np.triu(P / scale)), -q / scale, A, b,
                                      cones, settings).solve()
    weights = np.maximum(np.asarray(solution.x, float), 0.0)
    return weights / weights.sum()


@functools.lru_cache(maxsize=8)
def _simplex_constraints(n: int):
    """``sum(w) = 1`` and ``w >= 0`` for ``n`` weights, built once per size: the placebo test
    solves one problem of each size for every donor, and building the sparse constraint
    matrix cost as much as solving."""
    import clarabel
    import scipy.sparse as sp

    A = sp.vstack([sp.csc_matrix(np.ones((1, n))), -sp.identity(n)], format="csc")
    b = np.concatenate([[1.0], np.zeros(n)])
    settings = clarabel.DefaultSettings()
    settings.verbose = False
    return A, b, [clarabel.ZeroConeT(1), clarabel.NonnegativeConeT(n)], settings
