"""The comparison model and the Newey-West interval against R (numbers stored, R not needed).

``tests/fixtures/effects/r_references.R`` fits the models with R's own code from the raw
fixture rows (R 4.2, sandwich 3.0) and wrote ``r_references.csv``:
- the comparison-area model of Precinct 77 against its four neighbours (quasi-Poisson GLM with
  area and month effects, R's own factor coding);
- the Sicily interrupted time series and the Newey-West standard error of its level change
  (``sandwich::NeweyWest``, Bartlett kernel, no prewhitening, the same lag rule).
What these numbers do not show: that the designs are right for a programme, only that the
arithmetic of the fits and their standard errors is R's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from impactbook.effects import estimate_comparison, estimate_its

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "effects"
R = pd.read_csv(FIXTURES / "r_references.csv").set_index("name")["value"]


def test_comparison_model_matches_r_quasipoisson():
    panel = pd.read_csv(FIXTURES / "nypd_brooklyn_precinct_shootings_monthly.csv")
    panel["period"] = [pd.Period(p, "M") for p in panel["period"]]
    panel["is_treated"] = panel["area"] == "Precinct 77"
    est = estimate_comparison(panel, "2010-01", labels={"city": "New York",
                                                        "outcome": "shootings"})
    assert est.pre_periods == 48 and est.post_periods == 24  # R's window: 2006-01..2011-12
    assert est.log_rate_ratio == pytest.approx(R["comparison_log_rr"], abs=1e-8)
    assert est.details["model_se_log_rate_ratio"] == pytest.approx(R["comparison_se"], rel=1e-6)
    assert est.dispersion == pytest.approx(R["comparison_dispersion"], rel=1e-6)


def test_sicily_level_change_and_newey_west_se_match_r_sandwich():
    raw = pd.read_csv(FIXTURES / "sicily.csv.gz")
    index = pd.PeriodIndex([pd.Period(year=y, month=m, freq="M")
                            for y, m in zip(raw["year"], raw["month"], strict=True)])
    series = pd.DataFrame({"count": raw["aces"].astype(float).to_numpy(),
                           "population": raw["stdpop"].to_numpy()}, index=index)
    est = estimate_its(series, "2005-01")
    assert est.log_rate_ratio == pytest.approx(R["sicily_log_rr"], abs=1e-8)
    assert est.details["model_se_log_rate_ratio"] == pytest.approx(R["sicily_se"], rel=1e-6)
    test = est.autocorrelation
    assert test["newey_west_lags"] == int(R["sicily_hac_lags"])
    assert test["newey_west_se"] == pytest.approx(R["sicily_newey_west_se"], rel=1e-6)
    assert not np.isclose(R["sicily_newey_west_se"], R["sicily_newey_west_se_adjusted"])
