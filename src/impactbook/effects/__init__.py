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

from importlib import import_module

# Each name is imported from its module when first used (PEP 562), so a caller of one design
# does not pay for the others: statsmodels (the count models of its, prepost, comparison) costs
# about a second to import and a rollout, fitted by pyfixest, never uses it.
_HOMES = {
    "build_comparison_design": "comparison", "estimate_comparison": "comparison",
    "ESTIMATE_KEYS": "estimate", "Estimate": "estimate",
    "describe_caveats": "findings", "describe_change_pct": "findings",
    "describe_finding": "findings", "describe_interval": "findings",
    "describe_permutation": "findings", "describe_places": "findings",
    "describe_plain_finding": "findings", "describe_pooled": "findings",
    "collect_guardrail_warnings": "guardrails",
    "build_its_design": "its", "default_fourier_pairs": "its", "estimate_its": "its",
    "PlaceboResult": "placebo", "check_placebo_in_time": "placebo",
    "MIN_PROGRAMMES": "pooled", "PooledResult": "pooled", "pool_random_effects": "pooled",
    "estimate_prepost": "prepost",
    "estimate_rollout": "rollout", "RolloutEstimate": "rollout_result",
    "estimate_microsynth": "synth", "estimate_synth": "synth", "fit_microsynth": "synth",
    "DESIGN_ORDER": "weighing", "HeadlineChoice": "weighing", "choose_headline": "weighing",
    "describe_passed_over": "weighing", "designs_disagree": "weighing",
}


def __getattr__(name: str):
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{home}"), name)
    globals()[name] = value  # once found, an ordinary attribute
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOMES])


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
