"""Pooled random-effects estimate across programmes (one intervention type, one outcome).

Per-programme log rate ratios and their standard errors are pooled with a random-effects
model. The default is what methods reviewers ask for with few studies: the between-programme
variance tau-squared by restricted maximum likelihood (REML, Fisher scoring as R metafor does),
a Hartung-Knapp interval (a t interval with k - 1 degrees of freedom on a rescaled variance:
with k = 3 it is far wider than the normal one, honestly so) and a 95% prediction interval for
a new programme. DerSimonian-Laird with a normal (Wald) interval is an option. Both are checked
against R metafor on its documented BCG example (tests/fixtures/effects/bcg_reference.R).
Fewer than :data:`MIN_PROGRAMMES` estimates give no pooled number.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from impactbook.effects.estimate import Z_95, Estimate, finite_or_none
from impactbook.effects.results import ResultsMixin, check_alpha, interval_frame
from impactbook.errors import EstimationError

MIN_PROGRAMMES = 3
METHOD_NAMES = {"reml": "REML", "dl": "DerSimonian-Laird"}
INTERVAL_NAMES = {"hartung-knapp": "Hartung-Knapp", "wald": "Wald (normal)"}
_REML_TOLERANCE = 1e-10
_REML_MAX_STEPS = 100


@dataclass(frozen=True)
class PooledResult(ResultsMixin):
    """A random-effects pooled rate ratio with heterogeneity statistics.

    ``studies`` has one row per input (``label, city, log_rate_ratio, se, rate_ratio, ci_low,
    ci_high, weight``; weights are random-effects, summing to 1) for a forest plot.
    ``pi_low``/``pi_high`` bound the rate ratio a new programme like these might show (95%).

    It follows the results protocol (:mod:`impactbook.effects.results`): ``conf_int(alpha)``
    recomputes the pooled interval at any level with the same quantile (t with k - 1 degrees
    of freedom for Hartung-Knapp, normal for Wald); ``to_frame()`` has one row per programme
    and the pooled row.
    """

    k: int
    method: str
    interval: str
    log_rate_ratio: float
    se: float
    rate_ratio: float
    ci_low: float
    ci_high: float
    pi_low: float
    pi_high: float
    p_value: float
    tau2: float
    i2: float
    q: float
    q_p_value: float
    studies: pd.DataFrame

    @property
    def percent_change(self) -> float:
        return (self.rate_ratio - 1.0) * 100.0

    @property
    def excludes_no_change(self) -> bool:
        return self.ci_high < 1.0 or self.ci_low > 1.0

    @property
    def cities(self) -> list[str]:
        """The distinct cities of the pooled programmes, in input order."""
        return list(dict.fromkeys(c for c in self.studies["city"] if c))

    def to_dict(self) -> dict[str, Any]:
        """The JSON view, unrounded."""
        return {
            "k": self.k,
            "method": self.method,
            "interval": self.interval,
            "rate_ratio": finite_or_none(self.rate_ratio),
            "ci_low": finite_or_none(self.ci_low),
            "ci_high": finite_or_none(self.ci_high),
            "prediction_low": finite_or_none(self.pi_low),
            "prediction_high": finite_or_none(self.pi_high),
            "percent_change": finite_or_none(self.percent_change),
            "p_value": finite_or_none(self.p_value),
            "tau2": finite_or_none(self.tau2),
            "i2_percent": finite_or_none(100.0 * self.i2),
            "q": finite_or_none(self.q),
            "q_p_value": finite_or_none(self.q_p_value),
            "cities": self.cities,
        }

    @property
    def params(self) -> pd.Series:
        """The pooled rate ratio, unrounded."""
        return pd.Series({"rate_ratio": self.rate_ratio}, name="random-effects pooled")

    def _quantile(self, alpha: float) -> float:
        if self.interval == INTERVAL_NAMES["hartung-knapp"]:
            return float(stats.t.ppf(1.0 - alpha / 2.0, self.k - 1))
        return float(stats.norm.ppf(1.0 - alpha / 2.0))

    def conf_int(self, alpha: float = 0.05) -> pd.DataFrame:
        """The pooled rate ratio's ``1 - alpha`` interval, with the result's own quantile."""
        half = self._quantile(check_alpha(alpha)) * self.se
        return interval_frame(["rate_ratio"], [(float(np.exp(self.log_rate_ratio - half)),
                                                float(np.exp(self.log_rate_ratio + half)))])

    def _p_values(self) -> dict[str, float]:
        return {"rate_ratio": self.p_value}

    def to_frame(self) -> pd.DataFrame:
        """One row per programme (its own 95% Wald interval) and a last row for the pooled
        estimate (``is_pooled``), unrounded."""
        studies = self.studies.assign(
            p_value=2 * stats.norm.sf(np.abs(self.studies["log_rate_ratio"]
                                             / self.studies["se"])),
            is_pooled=False)
        pooled = pd.DataFrame([{
            "label": f"pooled ({self.method}, {self.interval})", "city": None,
            "log_rate_ratio": self.log_rate_ratio, "se": self.se,
            "rate_ratio": self.rate_ratio, "ci_low": self.ci_low, "ci_high": self.ci_high,
            "weight": 1.0, "p_value": self.p_value, "is_pooled": True}])
        return pd.concat([studies, pooled], ignore_index=True)

    def plot(self):
        """The report's forest plot: each programme and the pooled estimate."""
        from impactbook.report.plots import plot_forest

        return plot_forest(self.studies, self)

    def describe(self) -> str:
        from impactbook.effects.findings import describe_pooled

        return describe_pooled(self)

    def _summary_title(self) -> str:
        return f"Random-effects pooling of {self.k} programmes"

    def _summary_info(self) -> list[tuple[str, str]]:
        from impactbook.report.format import format_interval, format_number, format_p

        return [("Method", self.method), ("Interval", self.interval),
                ("Programmes", str(self.k)), ("Cities", ", ".join(self.cities)),
                ("tau-squared", format_number(self.tau2, 4)),
                ("I-squared", f"{format_number(100 * self.i2, 1)}%"),
                ("Q (p)", f"{format_number(self.q, 2)} ({format_p(self.q_p_value)})"),
                ("95% prediction interval", format_interval(self.pi_low, self.pi_high))]


def pool_random_effects(
    estimates: Sequence[Estimate] | pd.DataFrame, *, method: str = "reml",
    interval: str = "hartung-knapp", min_programmes: int = MIN_PROGRAMMES,
) -> PooledResult:
    """Pool per-programme log rate ratios with a random-effects model.

    ``estimates`` is a list of :class:`Estimate` (labels from city/area/outcome) or a frame with
    columns ``log_rate_ratio`` and ``se`` (or ``rate_ratio, ci_low, ci_high``, 95% interval,
    from which the SE is recovered), optionally ``label`` and ``city``. ``method`` is
    ``"reml"`` or ``"dl"``; ``interval`` ``"hartung-knapp"`` or ``"wald"``. Raises
    EstimationError with fewer than ``min_programmes`` estimates ("too few programmes").
    """
    if method not in METHOD_NAMES:
        raise ValueError(f"method must be one of {sorted(METHOD_NAMES)}, got {method!r}")
    if interval not in INTERVAL_NAMES:
        raise ValueError(f"interval must be one of {sorted(INTERVAL_NAMES)}, got {interval!r}")
    studies = _as_frame(estimates)
    if len(studies) < max(2, min_programmes):
        raise EstimationError(
            f"too few programmes to pool: {len(studies)} with an estimate, at least "
            f"{max(2, min_programmes)} needed")
    bad = studies[~(np.isfinite(studies["log_rate_ratio"]) & np.isfinite(studies["se"])
                    & (studies["se"] > 0))]
    if len(bad):
        raise EstimationError(
            f"estimates without a usable rate ratio and standard error: {list(bad['label'])}"
        )
    y = studies["log_rate_ratio"].to_numpy(float)
    v = studies["se"].to_numpy(float) ** 2
    k = len(y)
    w_fixed = 1.0 / v
    fixed = float(np.sum(w_fixed * y) / np.sum(w_fixed))
    q = float(np.sum(w_fixed * (y - fixed) ** 2))
    tau2 = dersimonian_laird_tau2(y, v)
    if method == "reml":
        tau2 = reml_tau2(y, v, start=tau2)
    w = 1.0 / (v + tau2)
    pooled = float(np.sum(w * y) / np.sum(w))
    if interval == "hartung-knapp":
        se = float(np.sqrt(np.sum(w * (y - pooled) ** 2) / ((k - 1) * np.sum(w))))
        quantile = float(stats.t.ppf(0.975, k - 1))
        p_value = float(2 * stats.t.sf(abs(pooled / se), k - 1)) if se > 0 else 0.0
    else:
        se = float(np.sqrt(1.0 / np.sum(w)))
        quantile = Z_95
        p_value = float(2 * stats.norm.sf(abs(pooled / se)))
    # metafor's prediction interval: the same quantile, on tau2 plus the pooled variance.
    pi_half = quantile * np.sqrt(tau2 + se**2)
    typical = (k - 1) * np.sum(w_fixed) / (np.sum(w_fixed) ** 2 - np.sum(w_fixed**2))
    i2 = float(tau2 / (tau2 + typical))
    studies = studies.assign(
        rate_ratio=np.exp(y), ci_low=np.exp(y - Z_95 * np.sqrt(v)),
        ci_high=np.exp(y + Z_95 * np.sqrt(v)), weight=w / np.sum(w),
    )
    return PooledResult(
        k=k, method=METHOD_NAMES[method], interval=INTERVAL_NAMES[interval],
        log_rate_ratio=pooled, se=se, rate_ratio=float(np.exp(pooled)),
        ci_low=float(np.exp(pooled - quantile * se)),
        ci_high=float(np.exp(pooled + quantile * se)),
        pi_low=float(np.exp(pooled - pi_half)), pi_high=float(np.exp(pooled + pi_half)),
        p_value=p_value, tau2=float(tau2), i2=i2, q=q,
        q_p_value=float(stats.chi2.sf(q, k - 1)), studies=studies.reset_index(drop=True),
    )


def dersimonian_laird_tau2(y: np.ndarray, v: np.ndarray) -> float:
    """The DerSimonian-Laird moment estimate of tau-squared, truncated at 0."""
    w = 1.0 / v
    fixed = np.sum(w * y) / np.sum(w)
    q = np.sum(w * (y - fixed) ** 2)
    return float(max(0.0, (q - (len(y) - 1)) / (np.sum(w) - np.sum(w**2) / np.sum(w))))


def reml_tau2(y: np.ndarray, v: np.ndarray, *, start: float = 0.0) -> float:
    """Restricted maximum likelihood tau-squared by Fisher scoring, kept at or above 0."""
    tau2 = max(0.0, float(start))
    for _ in range(_REML_MAX_STEPS):
        w = 1.0 / (v + tau2)
        mu = np.sum(w * y) / np.sum(w)
        trace_p = np.sum(w) - np.sum(w**2) / np.sum(w)
        trace_pp = (np.sum(w**2) - 2 * np.sum(w**3) / np.sum(w)
                    + np.sum(w**2) ** 2 / np.sum(w) ** 2)
        score = np.sum(w**2 * (y - mu) ** 2) - trace_p
        step = score / trace_pp
        new = max(0.0, tau2 + step)
        if abs(new - tau2) < _REML_TOLERANCE:
            return float(new)
        tau2 = new
    raise EstimationError("the REML estimate of the between-programme variance did not "
                          "converge")


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
        if "city" not in frame.columns:
            frame["city"] = None
        return frame[["label", "city", "log_rate_ratio", "se"]].astype(
            {"log_rate_ratio": float, "se": float})
    rows = []
    for estimate in estimates:
        label = " / ".join(str(x) for x in (estimate.city, estimate.area) if x) or "estimate"
        rows.append({"label": label, "city": estimate.city,
                     "log_rate_ratio": float(estimate.log_rate_ratio),
                     "se": float(estimate.se_log_rate_ratio)})
    return pd.DataFrame(rows, columns=["label", "city", "log_rate_ratio", "se"])
