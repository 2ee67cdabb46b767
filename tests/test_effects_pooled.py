"""Random-effects pooling, checked against a hand-written DerSimonian-Laird computation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from impactbook.effects import estimate_its, pool_random_effects
from impactbook.errors import EstimationError
from tests.effects_sim import simulate_series

LOG_RR = np.array([-0.35, -0.05, -0.22, 0.10, -0.40])
SE = np.array([0.10, 0.08, 0.15, 0.12, 0.20])


def dersimonian_laird(y: np.ndarray, se: np.ndarray) -> dict:
    w = 1 / se**2
    fixed = np.sum(w * y) / np.sum(w)
    q = np.sum(w * (y - fixed) ** 2)
    df = len(y) - 1
    tau2 = max(0.0, (q - df) / (np.sum(w) - np.sum(w**2) / np.sum(w)))
    w_re = 1 / (se**2 + tau2)
    pooled = np.sum(w_re * y) / np.sum(w_re)
    se_pooled = np.sqrt(1 / np.sum(w_re))
    return {"pooled": pooled, "se": se_pooled, "tau2": tau2, "q": q,
            "i2": max(0.0, (q - df) / q)}


def test_pooled_matches_hand_dersimonian_laird():
    frame = pd.DataFrame({"label": list("ABCDE"), "log_rate_ratio": LOG_RR, "se": SE})
    result = pool_random_effects(frame)
    ref = dersimonian_laird(LOG_RR, SE)
    assert ref["tau2"] > 0  # heterogeneous on purpose
    assert result.log_rate_ratio == pytest.approx(ref["pooled"])
    assert result.se == pytest.approx(ref["se"])
    assert result.tau2 == pytest.approx(ref["tau2"])
    assert result.q == pytest.approx(ref["q"])
    assert result.i2 == pytest.approx(ref["i2"])
    assert result.k == 5
    assert result.ci_low == pytest.approx(np.exp(ref["pooled"] - 1.959964 * ref["se"]))
    assert result.percent_change == pytest.approx((np.exp(ref["pooled"]) - 1) * 100)
    assert result.studies["weight"].sum() == pytest.approx(1.0)
    assert result.to_dict()["method"] == "DerSimonian-Laird"


def test_homogeneous_studies_truncate_tau2_at_zero():
    y = np.array([-0.20, -0.21, -0.19, -0.20])
    se = np.array([0.1, 0.1, 0.1, 0.1])
    result = pool_random_effects(pd.DataFrame({"log_rate_ratio": y, "se": se}))
    ref = dersimonian_laird(y, se)
    assert result.tau2 == 0.0 and result.i2 == 0.0
    assert result.log_rate_ratio == pytest.approx(ref["pooled"])
    assert result.se == pytest.approx(ref["se"])


def test_pooling_from_estimates_and_from_intervals_agree():
    estimates = [estimate_its(simulate_series(rate_ratio=rr, seed=s), "2015-01",
                              labels={"city": f"City {s}"})
                 for s, rr in ((1, 0.7), (2, 0.9), (3, 0.8))]
    from_estimates = pool_random_effects(estimates)
    frame = pd.DataFrame([{"rate_ratio": e.rate_ratio, "ci_low": e.ci_low,
                           "ci_high": e.ci_high} for e in estimates])
    from_intervals = pool_random_effects(frame)
    assert from_estimates.log_rate_ratio == pytest.approx(from_intervals.log_rate_ratio)
    assert list(from_estimates.studies["label"]) == ["City 1", "City 2", "City 3"]


def test_paule_mandel_option_and_single_estimate_error():
    frame = pd.DataFrame({"log_rate_ratio": LOG_RR, "se": SE})
    pm = pool_random_effects(frame, method="pm")
    assert pm.method == "Paule-Mandel" and pm.tau2 > 0
    with pytest.raises(EstimationError, match="at least 2"):
        pool_random_effects(frame.iloc[:1])
