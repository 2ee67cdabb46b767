"""Simulated count series for the effects tests (a known truth to recover)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def simulate_series(
    *,
    n_pre: int = 60,
    n_post: int = 24,
    start: str = "2015-01",
    freq: str = "M",
    base: float = 40.0,
    rate_ratio: float = 1.0,
    trend_per_period: float = 0.0,
    seasonal_amplitude: float = 0.15,
    alpha: float = 0.0,
    seed: int = 1,
    population: float | None = None,
) -> pd.DataFrame:
    """Counts with a level change of ``rate_ratio`` at ``start`` (Poisson, or NB2 if alpha>0)."""
    rng = np.random.default_rng(seed)
    start_period = pd.Period(start, freq=freq)
    index = pd.period_range(start_period - n_pre, periods=n_pre + n_post, freq=freq)
    t = np.arange(-n_pre, n_post, dtype=float)
    per_year = 4 if freq.startswith("Q") else 12
    season = index.quarter if freq.startswith("Q") else index.month
    mu = (base * np.exp(trend_per_period * t)
          * np.exp(seasonal_amplitude * np.sin(2 * np.pi * np.asarray(season) / per_year))
          * np.where(t >= 0, rate_ratio, 1.0))
    if alpha > 0:
        mu = rng.gamma(shape=1 / alpha, scale=alpha * mu)
    counts = rng.poisson(mu).astype(float)
    pop = np.full(len(index), np.nan if population is None else float(population))
    return pd.DataFrame({"count": counts, "population": pop}, index=index)
