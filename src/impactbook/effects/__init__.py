"""Effect estimators for programme evaluations: one library for notebooks, CLI and batch.

- :func:`estimate_its` - interrupted time series (segmented count regression; the default).
- :func:`estimate_prepost` - naive equal-window before/after means.
- :func:`estimate_comparison` - difference-in-differences against comparison areas.
- :func:`estimate_synth` - synthetic control against the city's other areas (placebo in space);
  :func:`fit_microsynth` / :func:`estimate_microsynth` for many small treated units (blocks).
- :func:`estimate_rollout` - staggered rollouts (extended two-way fixed effects Poisson, one
  coefficient per cohort x period cell; :mod:`.rollout_panel`, :mod:`.rollout_result`);
  :mod:`.rollout_cs`, its linear Callaway and Sant'Anna view (csdid), only when asked for.
- :func:`check_placebo_in_time` - false start dates inside the pre-period.
- :func:`pool_random_effects` - random-effects pooling across programmes, one outcome at a time.
- :func:`choose_headline` - the strongest design the data support (each design's test of
  being good enough to lead is in :mod:`impactbook.effects.leading`), and disagreements.
- :func:`describe_finding`, :func:`describe_pooled` - plain-language sentences.
- :mod:`.value` - a programme's costs against its events averted: cost per event averted,
  break-even and benefit-cost ratio (:func:`~impactbook.effects.value.value_for_money`).

Inputs are plain frames (see each function); every result is a frozen dataclass whose
``to_dict()`` is JSON-safe and which follows the results protocol of :mod:`.results`
(``params``, ``conf_int(alpha)``, ``summary()``, ``plot()``, ``describe()``, ``to_frame()``).
Guardrail warnings travel in ``Estimate.warnings``; a model that cannot give a trustworthy
number raises :class:`~impactbook.errors.EstimationError`.
"""

from impactbook.effects.comparison import build_comparison_design, estimate_comparison
from impactbook.effects.estimate import ESTIMATE_KEYS, Estimate
from impactbook.effects.findings import (
    describe_caveats,
    describe_change_pct,
    describe_finding,
    describe_interval,
    describe_permutation,
    describe_places,
    describe_plain_finding,
    describe_pooled,
)
from impactbook.effects.guardrails import collect_guardrail_warnings
from impactbook.effects.its import build_its_design, default_fourier_pairs, estimate_its
from impactbook.effects.placebo import PlaceboResult, check_placebo_in_time
from impactbook.effects.pooled import MIN_PROGRAMMES, PooledResult, pool_random_effects
from impactbook.effects.prepost import estimate_prepost
from impactbook.effects.rollout import estimate_rollout
from impactbook.effects.rollout_result import RolloutEstimate
from impactbook.effects.synth import estimate_microsynth, estimate_synth, fit_microsynth
from impactbook.effects.weighing import (
    DESIGN_ORDER,
    HeadlineChoice,
    choose_headline,
    describe_passed_over,
    designs_disagree,
)

__all__ = [
    "DESIGN_ORDER",
    "ESTIMATE_KEYS",
    "MIN_PROGRAMMES",
    "Estimate",
    "HeadlineChoice",
    "describe_passed_over",
    "PlaceboResult",
    "PooledResult",
    "RolloutEstimate",
    "build_comparison_design",
    "build_its_design",
    "check_placebo_in_time",
    "choose_headline",
    "collect_guardrail_warnings",
    "default_fourier_pairs",
    "describe_caveats",
    "describe_change_pct",
    "describe_finding",
    "describe_interval",
    "describe_permutation",
    "describe_places",
    "describe_plain_finding",
    "describe_pooled",
    "designs_disagree",
    "estimate_comparison",
    "estimate_its",
    "estimate_microsynth",
    "estimate_prepost",
    "estimate_rollout",
    "estimate_synth",
    "fit_microsynth",
    "pool_random_effects",
]
