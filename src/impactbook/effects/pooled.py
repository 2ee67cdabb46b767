"""Pooled random-effects estimate across cities (one intervention type).

Uses ``statsmodels.stats.meta_analysis.combine_effects`` on per-city log rate ratios and their
standard errors: DerSimonian-Laird (``method="dl"``, statsmodels' ``"chi2"``) or Paule-Mandel
(``method="pm"``, statsmodels' ``"iterated"``). statsmodels has no REML here; Paule-Mandel is
the iterative estimator it offers and is recommended alongside REML in the methods literature.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.meta_analysis import combine_effects

from impactbook.effects.estimate import (
    Z_95,
    Estimate,
    round_or_none,
    significant_or_none,
)
from impactbook.errors import EstimationError

METHODS = {"dl": "chi2", "pm": "iterated"}
METHOD_NAMES = {"dl": "DerSimonian-Laird", "pm": "Paule-Mandel"}


@dataclass(frozen=True)
class PooledResult:
    """A random-effects pooled rate ratio with heterogeneity statistics.

    ``studies`` has one row per input (``label, log_rate_ratio, se, rate_ratio, ci_low,
    ci_high, weight``; weights are random-effects, summing to 1) for a forest plot.
    """

    k: int
    method: str
    log_rate_ratio: float
    se: float
    rate_ratio: float
    ci_low: float
    ci_high: float
    p_value: float
    tau2: float
    i2: float
    q: float
    q_p_value: float
    studies: pd.DataFrame

    @property
    def percent_change(self) -> float:
        return (self.rate_ratio - 1.0) * 100.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "k": self.k,
            "method": self.method,
            "rate_ratio": round_or_none(self.rate_ratio, 4),
            "ci_low": round_or_none(self.ci_low, 4),
            "ci_high": round_or_none(self.ci_high, 4),
            "percent_change": round_or_none(self.percent_change, 1),
            "p_value": significant_or_none(self.p_value, 3),
            "tau2": significant_or_none(self.tau2, 4),
            "i2_percent": round_or_none(100.0 * self.i2, 1),
            "q": round_or_none(self.q, 3),
            "q_p_value": significant_or_none(self.q_p_value, 3),
        }


def pool_random_effects(
    estimates: Sequence[Estimate] | pd.DataFrame, *, method: str = "dl"
) -> PooledResult:
    """Pool per-city log rate ratios with a random-effects model.

    ``estimates`` is a list of :class:`Estimate` (labels from city/area/outcome) or a frame with
    columns ``log_rate_ratio`` and ``se`` (or ``rate_ratio, ci_low, ci_high``, 95% interval,
    from which the SE is recovered), optionally ``label``. Needs at least two estimates.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {sorted(METHODS)}, got {method!r}")
    studies = _as_frame(estimates)
    if len(studies) < 2:
        raise EstimationError(f"pooling needs at least 2 estimates, got {len(studies)}")
    bad = studies[~(np.isfinite(studies["log_rate_ratio"]) & np.isfinite(studies["se"])
                    & (studies["se"] > 0))]
    if len(bad):
        raise EstimationError(
            f"estimates without a usable rate ratio and standard error: {list(bad['label'])}"
        )
    result = combine_effects(studies["log_rate_ratio"].to_numpy(),
                             studies["se"].to_numpy() ** 2, method_re=METHODS[method],
                             row_names=list(studies["label"]))
    frame = result.summary_frame(alpha=0.05)
    tau2, weights = float(result.tau2), np.asarray(result.weights_rel_re)
    row = frame.loc["random effect"]
    if tau2 < 0:
        # statsmodels (0.14-0.15) leaves the DerSimonian-Laird moment estimate untruncated when
        # Q < k - 1; the estimator is max(0, .), and with tau2 = 0 the random-effects estimate
        # is the fixed-effect one.
        tau2, weights = 0.0, np.asarray(result.weights_rel_fe)
        row = frame.loc["fixed effect"]
    pooled, se = float(row["eff"]), float(row["sd_eff"])
    k = int(result.k)
    q = float(result.q)
    i2 = max(0.0, (q - (k - 1)) / q) if q > 0 else 0.0
    studies = studies.assign(
        rate_ratio=np.exp(studies["log_rate_ratio"]),
        ci_low=np.exp(studies["log_rate_ratio"] - Z_95 * studies["se"]),
        ci_high=np.exp(studies["log_rate_ratio"] + Z_95 * studies["se"]),
        weight=weights,
    )
    return PooledResult(
        k=k, method=METHOD_NAMES[method], log_rate_ratio=pooled, se=se,
        rate_ratio=float(np.exp(pooled)), ci_low=float(np.exp(row["ci_low"])),
        ci_high=float(np.exp(row["ci_upp"])),
        p_value=float(2 * stats.norm.sf(abs(pooled / se))), tau2=tau2, i2=i2,
        q=q, q_p_value=float(stats.chi2.sf(q, k - 1)),
        studies=studies.reset_index(drop=True),
    )


def _as_frame(estimates: Sequence[Estimate] | pd.DataFrame) -> pd.DataFrame:
    if isinstance(estimates, pd.DataFrame):
        frame = estimates.copy()
        if "log_rate_ratio" not in frame.columns or "se" not in frame.columns:
            needed = {"rate_ratio", "ci_low", "ci_high"}
            if not needed <= set(frame.columns):
                raise ValueError(
                    "pooling frame needs columns log_rate_ratio and se, or rate_ratio, ci_low "
                    "and ci_high"
                )
            frame["log_rate_ratio"] = np.log(frame["rate_ratio"].astype(float))
            frame["se"] = (np.log(frame["ci_high"].astype(float))
                           - np.log(frame["ci_low"].astype(float))) / (2 * Z_95)
        if "label" not in frame.columns:
            frame["label"] = [str(i) for i in frame.index]
        return frame[["label", "log_rate_ratio", "se"]].astype(
            {"log_rate_ratio": float, "se": float})
    rows = []
    for estimate in estimates:
        label = " / ".join(str(x) for x in (estimate.city, estimate.area) if x) or "estimate"
        rows.append({"label": label, "log_rate_ratio": float(estimate.log_rate_ratio),
                     "se": float(estimate.se_log_rate_ratio)})
    return pd.DataFrame(rows, columns=["label", "log_rate_ratio", "se"])
