"""Random-effects pooling, checked against R metafor (BCG example) and a hand-written
DerSimonian-Laird computation."""

from __future__ import annotations

from pathlib import Path

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
    result = pool_random_effects(frame, method="dl", interval="wald")
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
    result = pool_random_effects(pd.DataFrame({"log_rate_ratio": y, "se": se}), method="dl",
                                 interval="wald")
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


FIXTURES = Path(__file__).parent / "fixtures" / "effects"


@pytest.mark.parametrize(("method", "interval", "test"), [
    ("reml", "hartung-knapp", "knha"), ("reml", "wald", "z"),
    ("dl", "hartung-knapp", "knha"), ("dl", "wald", "z"),
])
def test_pooling_matches_metafor_on_the_bcg_trials(method, interval, test):
    trials = pd.read_csv(FIXTURES / "bcg_trials.csv")
    reference = pd.read_csv(FIXTURES / "bcg_reference.csv")
    ref = reference[(reference["method"] == method.upper()) & (reference["test"] == test)]
    ref = ref.iloc[0]
    result = pool_random_effects(
        pd.DataFrame({"log_rate_ratio": trials["yi"], "se": np.sqrt(trials["vi"])}),
        method=method, interval=interval)
    assert result.k == 13
    assert result.log_rate_ratio == pytest.approx(ref["estimate"], abs=1e-6)
    assert result.se == pytest.approx(ref["se"], abs=1e-6)
    assert result.tau2 == pytest.approx(ref["tau2"], abs=1e-6)
    assert 100 * result.i2 == pytest.approx(ref["i2"], abs=1e-4)
    assert result.q == pytest.approx(ref["q"], rel=1e-9)
    assert result.p_value == pytest.approx(ref["p_value"], rel=1e-4)
    for ours, theirs in ((result.ci_low, "ci_low"), (result.ci_high, "ci_high"),
                         (result.pi_low, "pi_low"), (result.pi_high, "pi_high")):
        assert np.log(ours) == pytest.approx(ref[theirs], abs=1e-6)


def test_documented_bcg_figures():
    trials = pd.read_csv(FIXTURES / "bcg_trials.csv")
    frame = pd.DataFrame({"log_rate_ratio": trials["yi"], "se": np.sqrt(trials["vi"])})
    reml = pool_random_effects(frame, interval="wald")
    assert round(reml.log_rate_ratio, 4) == -0.7145 and round(reml.se, 4) == 0.1798
    assert round(reml.tau2, 4) == 0.3132
    dl = pool_random_effects(frame, method="dl", interval="wald")
    assert round(dl.log_rate_ratio, 4) == -0.7141 and round(dl.tau2, 4) == 0.3088
    assert (round(np.log(dl.ci_low), 4), round(np.log(dl.ci_high), 4)) == (-1.0644, -0.3638)
    assert round(100 * dl.i2, 2) == 92.12


def test_default_is_reml_hartung_knapp_and_too_few_programmes_give_no_number():
    frame = pd.DataFrame({"log_rate_ratio": LOG_RR, "se": SE,
                          "city": ["A", "A", "B", "B", "B"]})
    result = pool_random_effects(frame)
    assert (result.method, result.interval) == ("REML", "Hartung-Knapp")
    assert result.pi_low < result.ci_low and result.pi_high > result.ci_high
    assert result.cities == ["A", "B"]
    wald = pool_random_effects(frame, interval="wald")
    # With few programmes the t quantile (4 df) widens the interval.
    assert np.log(result.ci_high / result.ci_low) > np.log(wald.ci_high / wald.ci_low)
    with pytest.raises(EstimationError, match="too few programmes to pool"):
        pool_random_effects(frame.iloc[:2])
