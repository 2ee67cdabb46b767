"""The words every layer shares about an estimate: each design's one name and the one "clear"
rule (a p-value at or below :data:`SIGNIFICANCE_LEVEL`).

They live below the estimators (``effects/``), the analysis and the report, so that an
estimate can say whether its change is clear and what its design is called without the
effects layer importing the report layer, and so that every reader-facing word about a number
(``report/format.py`` writes them) still has one owner.
"""

from __future__ import annotations

import math

#: The one significance level: a p-value at or below it is "clear" (every design, every check).
SIGNIFICANCE_LEVEL = 0.05
#: Each design's one name, wherever a reader sees it.
DESIGN_NAMES: dict[str, str] = {
    "synth": "synthetic control",
    "rollout": "staggered rollout",
    "comparison": "comparison areas",
    "its": "interrupted time series",
    "prepost": "naive before/after",
}


def is_clear_p(p_value: object) -> bool:
    """Whether a p-value sets a change apart from chance: at most :data:`SIGNIFICANCE_LEVEL`."""
    value = finite_number(p_value)
    return value is not None and value <= SIGNIFICANCE_LEVEL


def finite_number(value: object) -> float | None:
    """``value`` as a finite float, or None (missing, text, NaN, infinite): the one reading of
    a value as a number, shared by the clear rule and the formatter."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
