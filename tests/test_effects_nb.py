"""The negative-binomial ITS against R MASS::glm.nb (tests/fixtures/effects/nb_reference.R)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from impactbook.effects import estimate_its
from impactbook.workbook.periods import parse_period

FIXTURES = Path(__file__).parent / "fixtures" / "effects"


def _series(name: str) -> tuple[pd.DataFrame, str]:
    rows = pd.read_csv(FIXTURES / "nb_reference_series.csv", dtype={"period": str})
    rows = rows[rows["series"] == name]
    index = pd.PeriodIndex([parse_period(p) for p in rows["period"]])
    return pd.DataFrame({"count": rows["count"].to_numpy(float)}, index=index), \
        rows["start"].iloc[0]


@pytest.mark.parametrize("name", ["New York", "Philadelphia"])
def test_negative_binomial_matches_glm_nb_where_bfgs_stops_short(name):
    reference = pd.read_csv(FIXTURES / "nb_reference.csv").set_index("series").loc[name]
    series, start = _series(name)
    est = estimate_its(series, start, family="negative-binomial")
    assert est.rate_ratio == pytest.approx(reference["rate_ratio"], abs=5e-5)
    assert est.details["alpha"] == pytest.approx(reference["alpha"], rel=1e-4)
    # Observed-information standard errors: close to glm.nb's (theta held fixed), not equal.
    # (Both series' residuals are autocorrelated, so the headline uses a wider Newey-West SE.)
    model_se = est.details["model_se_log_rate_ratio"]
    assert model_se == pytest.approx(reference["se_log_rate_ratio"], rel=0.02)
    assert est.autocorrelation["is_detected"] and est.se_log_rate_ratio > model_se
    assert "observed information" in est.details["fit_note"]


def test_no_overdispersion_is_the_poisson_fit_not_a_failure():
    # Under-dispersed on purpose (3, 4, 2, 3, 4, 2, ...): the NB2 likelihood peaks at alpha 0.
    index = pd.period_range("2010-01", periods=84, freq="M")
    series = pd.DataFrame({"count": 3.0 + np.tile([0.0, 1.0, -1.0], 28)}, index=index)
    est = estimate_its(series, "2015-01", family="negative-binomial")
    assert est.details["alpha"] == 0.0
    assert "no overdispersion" in est.details["fit_note"]
    poisson = estimate_its(series, "2015-01")
    assert est.rate_ratio == pytest.approx(poisson.rate_ratio, rel=1e-6)
