"""How a report writes its numbers: one formatter for every percentage, interval and p-value.

Tables, captions, chart titles and the index page all print through these functions, so the
same figure reads the same everywhere: ``-25%`` (a real minus sign), ``-46% to +9%``,
``p 0.57`` / ``<0.001``. Missing values print as ``n/a``, never as ``nan`` or ``None``.
"""

from __future__ import annotations

import math

MINUS = "\u2212"
MISSING = "n/a"


def finite_number(value: object) -> float | None:
    """``value`` as a finite float, or None (missing, text, NaN, infinite)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def format_pct(percent: object, *, signed: bool = True) -> str:
    """A percentage: whole numbers (``+18%``), one decimal under 1% (``-0.4%``), ``0%``."""
    value = finite_number(percent)
    if value is None:
        return MISSING
    decimals = 1 if abs(value) < 0.95 else 0
    text = f"{value:+.{decimals}f}" if signed else f"{abs(value):.{decimals}f}"
    if float(text) == 0:
        return "0%"
    return text.replace("-", MINUS) + "%"


def ratio_to_pct(ratio: object) -> float | None:
    """A rate ratio as a percent change (0.8 -> -20.0)."""
    value = finite_number(ratio)
    return None if value is None else (value - 1) * 100


def format_change(ratio: object) -> str:
    """A rate ratio as a signed percent change: ``0.82`` -> ``-18%``."""
    return format_pct(ratio_to_pct(ratio))


def format_interval(low: object, high: object, *, ratios: bool = True) -> str:
    """A 95% interval as ``-46% to +9%`` (from rate ratios, or percents with ``ratios=False``)."""
    convert = ratio_to_pct if ratios else finite_number
    low_pct, high_pct = convert(low), convert(high)
    if low_pct is None or high_pct is None:
        return MISSING
    return f"{format_pct(low_pct)} to {format_pct(high_pct)}"


def format_p(p_value: object) -> str:
    """A p-value: two decimals (``0.57``), three below 0.01 (``0.004``), else ``<0.001``."""
    value = finite_number(p_value)
    if value is None:
        return MISSING
    if value < 0.001:
        return "<0.001"
    if value < 0.01:
        return f"{value:.3f}"
    return f"{min(value, 1.0):.2f}"


def format_number(value: object, decimals: int = 1) -> str:
    """A mean or a dispersion: fixed decimals, thousands separated, real minus sign."""
    number = finite_number(value)
    if number is None:
        return MISSING
    return f"{number:,.{decimals}f}".replace("-", MINUS)


def format_count(value: object) -> str:
    """A whole count with thousands separated."""
    number = finite_number(value)
    return MISSING if number is None else f"{round(number):,d}"


def format_yes_no(value: object) -> str:
    return "yes" if bool(value) else "no"
