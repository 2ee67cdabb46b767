"""Period labels: ``YYYY-MM`` (monthly) and ``YYYY-Qn`` (quarterly).

Periods travel through the workbook as text labels and are turned into
:class:`pandas.Period` for arithmetic. Parsing is strict on purpose: police
exports contain two-digit years and typos like ``201511018`` that a lenient
date parser would silently turn into the wrong month.
"""

from __future__ import annotations

import re

import pandas as pd

MONTHLY = "M"
QUARTERLY = "Q"

# [0-9], not \d: \d also matches other scripts' digits ("２０１５"), which int() accepts.
_MONTH_RE = re.compile(r"([0-9]{4})-([0-9]{2})")
_QUARTER_RE = re.compile(r"([0-9]{4})-Q([1-4])")
_DATE_RE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_MIN_YEAR, _MAX_YEAR = 1900, 2100


def parse_period(label: object) -> pd.Period:
    """Parse one period label, raising ``ValueError`` with the expected form."""
    text = str(label).strip()
    m = _MONTH_RE.fullmatch(text)
    if m:
        year, month = int(m.group(1)), int(m.group(2))
        if not 1 <= month <= 12:
            raise ValueError(f"month {month:02d} in {text!r} is not 01-12")
        _check_year(year, text)
        return pd.Period(year=year, month=month, freq=MONTHLY)
    m = _QUARTER_RE.fullmatch(text)
    if m:
        year, quarter = int(m.group(1)), int(m.group(2))
        _check_year(year, text)
        return pd.Period(year=year, quarter=quarter, freq="Q-DEC")
    raise ValueError(f"{text!r} is not a period; expected YYYY-MM or YYYY-Qn")


def _check_year(year: int, text: str) -> None:
    if not _MIN_YEAR <= year <= _MAX_YEAR:
        raise ValueError(f"year {year} in {text!r} is outside {_MIN_YEAR}-{_MAX_YEAR}")


def frequency_of(period: pd.Period) -> str:
    """``"M"`` or ``"Q"`` for a parsed period."""
    return QUARTERLY if period.freqstr.startswith("Q") else MONTHLY


def format_period(period: pd.Period) -> str:
    """The workbook label of a period (inverse of :func:`parse_period`)."""
    if frequency_of(period) == QUARTERLY:
        return f"{period.year:04d}-Q{period.quarter}"
    return f"{period.year:04d}-{period.month:02d}"


def periods_per_year(freq: str) -> int:
    return 4 if freq == QUARTERLY else 12


def period_range(first: pd.Period, last: pd.Period) -> pd.PeriodIndex:
    """Every period from ``first`` to ``last`` inclusive."""
    return pd.period_range(first, last, freq=first.freq)


def parse_date_or_month(label: object) -> pd.Period:
    """A news date: ``YYYY-MM`` or ``YYYY-MM-DD``, returned as its month."""
    text = str(label).strip()
    m = _DATE_RE.fullmatch(text)
    if m:
        try:
            ts = pd.Timestamp(year=int(m.group(1)), month=int(m.group(2)), day=int(m.group(3)))
        except ValueError as exc:
            raise ValueError(f"{text!r} is not a real date ({exc})") from None
        _check_year(ts.year, text)
        return ts.to_period(MONTHLY)
    if _MONTH_RE.fullmatch(text):
        return parse_period(text)
    raise ValueError(f"{text!r} is not a date; expected YYYY-MM or YYYY-MM-DD")
