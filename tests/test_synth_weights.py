"""Classic synthetic-control weights: the least-norm tie-break and the solver behind it.

The simplex least squares ``min ||X1 - X0 w||^2, w >= 0, sum(w) = 1`` has a unique fit
``X0 w`` but, with more donors than predictors, often many optimal ``w``. The rule: the optimal
weights of least ``||w||^2`` (closest to equal weights). Checked here on problems whose answer
is known by hand, and on random seeded problems against independent solvers (Clarabel's
interior point with tight tolerances, scipy's SLSQP) and against the optimality conditions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize

from impactbook.effects import estimate_synth
from impactbook.effects.synth_weights import nearest_point, simplex_least_squares, simplex_qp

# Objectives agree within this, relative (with an absolute floor of this times ||X1||^2 for a
# problem whose optimum is an exact fit, where a relative comparison means nothing).
OBJECTIVE_RTOL = 1e-9


def _objective(X0, X1, w):
    return float(((X1 - X0 @ w) ** 2).sum())


def _clarabel_tight(X0, X1):
    """The whole QP by Clarabel's interior point, tolerances tightened to 1e-12."""
    import clarabel
    import scipy.sparse as sp

    n = X0.shape[1]
    scale = np.abs(X0).max() ** 2
    P = sp.csc_matrix(np.triu(X0.T @ X0) / scale)
    A = sp.vstack([sp.csc_matrix(np.ones((1, n))), -sp.identity(n)], format="csc")
    settings = clarabel.DefaultSettings()
    settings.verbose = False
    settings.tol_gap_abs = settings.tol_gap_rel = settings.tol_feas = 1e-12
    solution = clarabel.DefaultSolver(
        P, -(X1 @ X0) / scale, A, np.concatenate([[1.0], np.zeros(n)]),
        [clarabel.ZeroConeT(1), clarabel.NonnegativeConeT(n)], settings).solve()
    w = np.maximum(np.asarray(solution.x), 0.0)
    return w / w.sum()


def _least_norm_slsqp(X0, fit):
    """Stage two by scipy: min ||w||^2 s.t. X0 w = fit, sum(w) = 1, w >= 0 (SLSQP)."""
    n = X0.shape[1]
    A = np.vstack([np.ones(n), X0])
    b = np.concatenate([[1.0], fit])
    result = minimize(lambda w: w @ w, np.full(n, 1 / n), jac=lambda w: 2 * w,
                      constraints=[{"type": "eq", "fun": lambda w: A @ w - b,
                                    "jac": lambda w: A}],
                      bounds=[(0, None)] * n, method="SLSQP",
                      options={"ftol": 1e-14, "maxiter": 500})
    assert result.success, result.message
    return result.x


def _problem(seed: int, inside: bool):
    """Yearly means of donors' counts; the target inside the donors' hull or outside it."""
    rng = np.random.default_rng(seed)
    m, n = rng.integers(3, 8), rng.integers(10, 60)
    X0 = rng.poisson(rng.uniform(1, 40, n), (m, n)).astype(float) / 12.0 + rng.uniform(0, 1, n)
    if inside:
        X1 = X0 @ rng.dirichlet(np.ones(n))
    else:
        X1 = X0[:, rng.integers(n)] * rng.uniform(1.2, 2.0) + rng.uniform(-1, 1, m)
    return X0, X1


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("inside", [True, False])
def test_optimum_matches_independent_solvers_and_is_least_norm(seed, inside):
    X0, X1 = _problem(seed, inside)
    ours = simplex_least_squares(X0, X1)
    assert ours.min() >= 0 and ours.sum() == pytest.approx(1.0, abs=1e-12)
    floor = OBJECTIVE_RTOL * (X1 @ X1)
    reference = _clarabel_tight(X0, X1)
    best, theirs = _objective(X0, X1, ours), _objective(X0, X1, reference)
    assert abs(best - theirs) <= OBJECTIVE_RTOL * theirs + floor
    # Optimality certificate (no solver): every donor's gradient at least the weighted mean.
    gradient = X0.T @ (X0 @ ours - X1)
    assert gradient.min() >= ours @ gradient - 1e-9 * np.abs(gradient).max() - floor
    # The fit is unique, so the interior point reaches the same fitted predictors.
    assert np.abs(X0 @ ours - X0 @ reference).max() <= 1e-5 * np.abs(X1).max()
    if inside:  # an exact fit: many optimal weightings; ours has the least norm (SLSQP on
        # the optimal face), the interior point's has more
        least = _least_norm_slsqp(X0, X0 @ ours)
        assert ours @ ours <= least @ least * (1 + 1e-7)
        assert np.abs(ours - least).max() < 1e-5
        assert best <= floor and ours @ ours <= reference @ reference * (1 + 1e-9)
    else:  # outside the hull the optimum is a point: the same weights
        assert np.abs(ours - reference).max() < 1e-5


def test_duplicated_donors_share_their_weight_equally():
    # Four donors in the plane; the target lies outside, nearest the edge from A to B, and A
    # is there twice. The fit needs A and B in the ratio 1:3 along the edge.
    A, B, C, D = [0.0, 0.0], [4.0, 0.0], [0.0, 4.0], [4.0, 4.0]
    X0 = np.array([A, A, B, C, D]).T
    X1 = np.array([1.0, -2.0])  # projects onto (1, 0) = 0.75 A + 0.25 B
    w = simplex_least_squares(X0, X1)
    assert w == pytest.approx([0.375, 0.375, 0.25, 0.0, 0.0], abs=1e-12)
    # Nearest a vertex that is there three times: a third each.
    X0 = np.array([A, A, A, B, C]).T
    w = simplex_least_squares(X0, np.array([-1.0, -1.0]))
    assert w == pytest.approx([1 / 3, 1 / 3, 1 / 3, 0.0, 0.0], abs=1e-12)


def test_target_at_the_donors_mean_gets_equal_weights():
    """One predictor, donors 0, 1, 2, 3, target 1.5: every weighting with mean 1.5 is an exact
    fit (a face of dimension two); the least-norm one is equal weights, the interior point's
    is another."""
    X0 = np.array([[0.0, 1.0, 2.0, 3.0]])
    w = simplex_least_squares(X0, np.array([1.5]))
    assert w == pytest.approx([0.25] * 4, abs=1e-12)
    # Inside a hull of two predictors, the least-norm weights solve a linear system.
    X0 = np.array([[0.0, 2.0, 0.0, 2.0, 1.0], [0.0, 0.0, 2.0, 2.0, 3.0]])
    w = simplex_least_squares(X0, X0.mean(axis=1))
    assert w == pytest.approx([0.2] * 5, abs=1e-12)


def test_nearest_point_corral_is_small_and_affinely_independent():
    X0, X1 = _problem(3, inside=True)
    members, shares = nearest_point(X0 - X1[:, None])
    assert len(members) <= X0.shape[0] + 1 and shares.min() > 0
    assert shares.sum() == pytest.approx(1.0)


def test_clarabel_fallback_is_an_optimum_too():
    X0, X1 = _problem(5, inside=False)
    fallback = simplex_qp(X0.T @ X0, X1 @ X0)
    ours = simplex_least_squares(X0, X1)
    # Clarabel's default tolerances stop it a little short of the optimum.
    assert _objective(X0, X1, ours) <= _objective(X0, X1, fallback)
    assert _objective(X0, X1, fallback) == pytest.approx(_objective(X0, X1, ours), rel=1e-6)


def test_a_programme_area_copying_a_donor_at_the_hulls_corner_gets_that_donor():
    """The chart fixture's case (tests/chart_inputs.py): the programme area is a copy of a
    donor that is a corner of the donors' hull, so the optimum is that donor alone. Clarabel's
    default tolerances stopped short (a fit off by 2e-3 a month, weight spread over every
    donor); the exact solver lands on the corner."""
    rng = np.random.default_rng(5)
    periods = pd.period_range("2010-01", periods=60, freq="M")
    panel = pd.DataFrame({f"Area {i}": rng.poisson(8 + i, len(periods)) for i in range(12)},
                         index=periods).astype(float)
    panel.insert(0, "Programme", panel["Area 3"])
    est = estimate_synth(panel, "Programme", "2013-01", post_periods=24)
    assert est.details["weights"][0]["area"] == "Area 3"
    assert est.details["weights"][0]["weight"] == pytest.approx(1.0)
    assert est.details["pre_rmspe"] == pytest.approx(0.0, abs=1e-9)
    assert est.rate_ratio == pytest.approx(1.0)
