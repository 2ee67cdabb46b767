"""Effect estimators for programme evaluations: one library for notebooks, CLI and batch.

- :func:`estimate_its` - interrupted time series (segmented count regression; the default).
- :func:`estimate_prepost` - naive equal-window before/after means.
- :func:`estimate_comparison` - difference-in-differences against comparison areas.
- :func:`check_placebo_in_time` - false start dates inside the pre-period.
- :func:`pool_random_effects` - random-effects pooling across programmes, one outcome at a time.
- :func:`describe_finding`, :func:`describe_pooled` - plain-language sentences.

Inputs are plain frames (see each function); every result is a frozen dataclass whose
``to_dict()`` is JSON-safe. Guardrail warnings travel in ``Estimate.warnings``; a model that
cannot give a trustworthy number raises :class:`~impactbook.errors.EstimationError`.
"""

from impactbook.effects.comparison import build_comparison_design, estimate_comparison
from impactbook.effects.estimate import ESTIMATE_KEYS, Estimate
from impactbook.effects.findings import (
    describe_change_pct,
    describe_finding,
    describe_interval,
    describe_places,
    describe_pooled,
)
from impactbook.effects.guardrails import collect_guardrail_warnings
from impactbook.effects.its import build_its_design, default_fourier_pairs, estimate_its
from impactbook.effects.placebo import PlaceboResult, check_placebo_in_time
from impactbook.effects.pooled import MIN_PROGRAMMES, PooledResult, pool_random_effects
from impactbook.effects.prepost import estimate_prepost

__all__ = [
    "ESTIMATE_KEYS",
    "MIN_PROGRAMMES",
    "Estimate",
    "PlaceboResult",
    "PooledResult",
    "build_comparison_design",
    "build_its_design",
    "check_placebo_in_time",
    "collect_guardrail_warnings",
    "default_fourier_pairs",
    "describe_change_pct",
    "describe_finding",
    "describe_interval",
    "describe_places",
    "describe_pooled",
    "estimate_comparison",
    "estimate_its",
    "estimate_prepost",
    "pool_random_effects",
]
