"""Period labels: ``YYYY-MM`` (monthly), ``YYYY-Qn`` (quarterly) and ``YYYY-Www`` (ISO weeks).

ISO weeks run Monday to Sunday and belong to the year of their Thursday, so ``2020-W01``
starts on 2019-12-30 and a year has 52 or 53 of them; a week is a pandas ``W-SUN`` period
(the week ending on a Sunday). Weekly series are for group counts a team keeps itself
(``unit_outcomes.csv``); only the staggered rollout analyses them.

Periods travel through the workbook as text labels and are turned into
:class:`pandas.Period` for arithmetic. Parsing is strict on purpose: police
exports contain two-digit years and typos like ``201511018`` that a lenient
date parser would silently turn into the wrong month.
"""

from __future__ import annotations

import datetime as dt
import re

import pandas as pd

MONTHLY = "M"
QUARTERLY = "Q"
WEEKLY = "W"
#: The pandas frequency of an ISO week (Monday to Sunday).
ISO_WEEK = "W-SUN"

# [0-9], not \d: \d also matches other scripts' digits ("２０１５"), which int() accepts.
_MONTH_RE = re.compile(r"([0-9]{4})-([0-9]{2})")
_QUARTER_RE = re.compile(r"([0-9]{4})-Q([1-4])")
_WEEK_RE = re.compile(r"([0-9]{4})-W([0-9]{2})")
# Near misses of a week, refused with the form they should have ("2019-W7", "2019-w07").
_LOOSE_WEEK_RE = re.compile(r"([0-9]{4})-[Ww]([0-9]+)")
EXPECTED_FORMS = "YYYY-MM, YYYY-Qn or YYYY-Www (an ISO week, e.g. 2019-W07)"
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
    m = _WEEK_RE.fullmatch(text)
    if m:
        year, week = int(m.group(1)), int(m.group(2))
        _check_year(year, text)
        if not 1 <= week <= 53:
            raise ValueError(f"week {week:02d} in {text!r} is not 01-53")
        try:
            monday = dt.date.fromisocalendar(year, week, 1)
        except ValueError:
            raise ValueError(f"week {week} in {text!r} does not exist: ISO year {year} has "
                             "52 weeks") from None
        return pd.Period(monday, freq=ISO_WEEK)
    m = _LOOSE_WEEK_RE.fullmatch(text)
    if m:
        raise ValueError(f"{text!r} is not a week; expected YYYY-Www with a capital W and two "
                         f"digits (e.g. {m.group(1)}-W{int(m.group(2)):02d})")
    raise ValueError(f"{text!r} is not a period; expected {EXPECTED_FORMS}")


def _check_year(year: int, text: str) -> None:
    if not _MIN_YEAR <= year <= _MAX_YEAR:
        raise ValueError(f"year {year} in {text!r} is outside {_MIN_YEAR}-{_MAX_YEAR}")


def frequency_of(period: pd.Period) -> str:
    """``"M"``, ``"Q"`` or ``"W"`` for a parsed period."""
    if period.freqstr.startswith("Q"):
        return QUARTERLY
    return WEEKLY if period.freqstr.startswith("W") else MONTHLY


def format_period(period: pd.Period) -> str:
    """The workbook label of a period (inverse of :func:`parse_period`)."""
    freq = frequency_of(period)
    if freq == QUARTERLY:
        return f"{period.year:04d}-Q{period.quarter}"
    if freq == WEEKLY:
        year, week, _ = period.start_time.isocalendar()
        return f"{year:04d}-W{week:02d}"
    return f"{period.year:04d}-{period.month:02d}"


def period_word(freq: str) -> str:
    """``month``, ``quarter`` or ``week``: a period of ``freq`` in a sentence."""
    return {QUARTERLY: "quarter", WEEKLY: "week"}.get(freq[:1], "month")


def periods_per_year(freq: str) -> int:
    return {QUARTERLY: 4, WEEKLY: 52}.get(freq[:1], 12)  # an ISO year has 52 or 53 weeks


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
