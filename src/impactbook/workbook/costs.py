"""Check costs.csv and unit_costs.csv (optional tables), and read the shipped price index.

``costs.csv`` says what a programme (an ``id`` of interventions.csv) cost over a period: a month,
a quarter or any run of months such as a city fiscal year (``2014-07`` to ``2015-06``), in one
currency and price year. ``unit_costs.csv`` gives the social cost of one event of an outcome; the
package ships defaults (``impactbook/data/unit_costs.csv``) for outcomes with a published
estimate, and a workbook's row for the same outcome replaces the default.

Amounts of different price years can only be added up in USD, the one currency whose price
index (CPI-U, ``impactbook/data/cpi_u.csv``) is shipped: a programme's rows in another currency
must share one price year.
"""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
from babel.numbers import list_currencies

from impactbook.workbook.cells import (
    check_names,
    numbers_of,
    parse_periods,
    require_text,
    strip_columns,
)
from impactbook.workbook.csvread import read_csv_text
from impactbook.workbook.periods import format_period
from impactbook.workbook.problems import Problems, shorten
from impactbook.workbook.schema import (
    CONFIDENCE_LEVELS,
    COSTS,
    EXTRA_OPTIONAL,
    EXTRA_REQUIRED,
    INTERVENTIONS,
    UNIT_COSTS,
)

#: The one currency with a shipped price index: amounts convert between price years only in it.
CPI_CURRENCY = "USD"
_MONTH = "M"


@functools.cache
def cpi_u() -> dict[int, float]:
    """Year -> CPI-U annual average (BLS CUUR0000SA0, 1982-84=100), as shipped."""
    text = resources.files("impactbook").joinpath("data/cpi_u.csv").read_text(encoding="utf-8")
    rows = [line.split(",") for line in text.splitlines()[1:] if line.strip()]
    return {int(year): float(index) for year, index in rows}


def is_known_currency(code: str) -> bool:
    """An ISO 4217 code as the Unicode CLDR lists it (``USD``, ``EUR``, ``GBP``), upper case."""
    return code.isascii() and code.isupper() and code in _currencies()


@functools.cache
def _currencies() -> frozenset[str]:
    return frozenset(list_currencies())


def _read(path: Path, file: str) -> pd.DataFrame:
    frame = read_csv_text(path, EXTRA_REQUIRED[file], label=file)
    for column in EXTRA_OPTIONAL[file]:
        if column not in frame:
            frame[column] = ""
    return strip_columns(frame, frame.columns.drop("line"))


def _check_money(frame: pd.DataFrame, file: str, column: str, problems: Problems) -> pd.Series:
    """Amounts, currencies, price years and confidence of a money table; returns the amounts."""
    amounts = numbers_of(frame[column])
    bad = (frame[column] != "") & ~(np.isfinite(amounts) & (amounts >= 0))
    problems.add_rows(file, frame, bad, column,
                      "{value!r} is not an amount; expected a plain number of 0 or more "
                      "(no currency sign or thousands separator, e.g. 4187000)")
    unknown = (frame["currency"] != "") & ~frame["currency"].map(is_known_currency)
    problems.add_rows(file, frame, unknown, "currency",
                      "unknown currency {value!r}; expected an ISO 4217 code in capitals "
                      "such as USD, EUR or GBP")
    years = numbers_of(frame["price_year"])
    is_year = np.isfinite(years) & (years == np.round(years)) & (years >= 1900) & (years <= 2100)
    problems.add_rows(file, frame, (frame["price_year"] != "") & ~is_year, "price_year",
                      "price year {value!r} is not a year; expected the year whose prices the "
                      "amount is in, e.g. 2015 (nominal amounts: the year they were spent)")
    cpi = cpi_u()
    no_index = is_year & (frame["currency"] == CPI_CURRENCY) & ~years.isin(list(cpi))
    problems.add_rows(file, frame, no_index, "price_year",
                      f"no CPI-U annual average is shipped for {{value}} (it has {min(cpi)}-"
                      f"{max(cpi)}); USD amounts are converted to one price year with it")
    problems.add_rows(file, frame, ~frame["confidence"].isin(("", *CONFIDENCE_LEVELS)),
                      "confidence", "confidence {value!r}; expected V (verified), P (partly) "
                      "or U (unverified)")
    frame["price_year"] = years.where(is_year).astype("Int64")
    return amounts.where(~bad)


def load_costs(path: Path, interventions: pd.DataFrame | None,
               problems: Problems) -> pd.DataFrame:
    """costs.csv checked; ``first_month``/``last_month`` are the months a row covers."""
    file = COSTS
    frame = _read(path, file)
    require_text(frame, ["programme", "start", "end", "amount", "currency", "price_year"], file,
                 problems)
    check_names(frame, ["programme"], file, problems, allow_semicolon=True)
    frame["amount"] = _check_money(frame, file, "amount", problems)
    starts = parse_periods(frame, "start", file, problems, allow_blank=True)
    ends = parse_periods(frame, "end", file, problems, allow_blank=True)
    # A quarter covers its three months: a cost period is counted in months everywhere.
    frame["first_month"] = [format_period(p.asfreq(_MONTH, how="start")) if p is not None
                            else "" for p in starts]
    frame["last_month"] = [format_period(p.asfreq(_MONTH, how="end")) if p is not None
                           else "" for p in ends]
    backwards = (frame["first_month"] != "") & (frame["last_month"] != "") & (
        frame["last_month"] < frame["first_month"])
    problems.add_rows(file, frame, backwards, "end",
                      "end {value!r} is before the start; expected the last month the amount "
                      "covers")
    if interventions is not None:
        ids = set(interventions["id"])
        unknown = (frame["programme"] != "") & ~frame["programme"].isin(ids)
        problems.add_rows(file, frame, unknown, "programme",
                          "programme {value!r} is not an id of " + INTERVENTIONS)
    _check_programme_rows(frame, problems)
    return frame


def _check_programme_rows(frame: pd.DataFrame, problems: Problems) -> None:
    """One currency per programme, no month paid twice, one price year outside USD."""
    file = COSTS
    dated = frame[(frame["programme"] != "") & (frame["first_month"] != "")
                  & (frame["last_month"] != "") & (frame["last_month"] >= frame["first_month"])]
    for programme, rows in frame[frame["programme"] != ""].groupby("programme", sort=False):
        currencies = [c for c in dict.fromkeys(rows["currency"]) if c]
        if len(currencies) > 1:
            line = int(rows.loc[rows["currency"] == currencies[1], "line"].iloc[0])
            problems.add(file, f"programme {shorten(programme)!r} mixes currencies "
                         f"({', '.join(currencies)}); expected one currency per programme "
                         "(no exchange rates are applied)", line, "currency")
        elif currencies and currencies[0] != CPI_CURRENCY:
            years = [int(y) for y in dict.fromkeys(rows["price_year"].dropna())]
            if len(years) > 1:
                line = int(rows.loc[rows["price_year"] == years[1], "line"].iloc[0])
                problems.add(file, f"programme {shorten(programme)!r} has {currencies[0]} "
                             f"amounts of price years {', '.join(map(str, years))}; only USD "
                             "is converted between price years (CPI-U), so give every "
                             f"{currencies[0]} row one price year", line, "price_year")
        spans = dated[dated["programme"] == programme].sort_values(["first_month", "line"])
        latest_line, latest_end = None, ""
        for line, first, last in spans[["line", "first_month", "last_month"]].itertuples(
                index=False):
            if latest_line is not None and first <= latest_end:
                problems.add(file, f"programme {shorten(programme)!r}: {first} to {last} "
                             f"overlaps the period of row {latest_line} (to {latest_end}); "
                             "expected each month paid once", int(line), "start")
            if last > latest_end:
                latest_line, latest_end = int(line), last


def load_unit_costs(path: Path, problems: Problems, *, file: str = UNIT_COSTS) -> pd.DataFrame:
    """unit_costs.csv checked: one row per outcome, a cost of more than 0 per event."""
    frame = _read(path, UNIT_COSTS)
    require_text(frame, ["outcome", "cost_per_event", "currency", "price_year"], file, problems)
    check_names(frame, ["outcome"], file, problems)
    costs = _check_money(frame, file, "cost_per_event", problems)
    problems.add_rows(file, frame, costs == 0, "cost_per_event",
                      "cost per event {value!r} is 0; expected the cost of one event (leave "
                      "the outcome out when it is not known)")
    frame["cost_per_event"] = costs
    twice = frame["outcome"].duplicated() & (frame["outcome"] != "")
    problems.add_rows(file, frame, twice, "outcome",
                      "outcome {value!r} is listed twice; expected one cost per outcome")
    return frame


@functools.cache
def _default_unit_costs() -> pd.DataFrame:
    with resources.as_file(resources.files("impactbook").joinpath("data/unit_costs.csv")) as path:
        problems = Problems()
        frame = load_unit_costs(path, problems, file="impactbook/data/unit_costs.csv")
        problems.raise_if_any()
    return frame.drop(columns="line")


def default_unit_costs() -> pd.DataFrame:
    """The shipped unit costs, checked by the rules a workbook's unit_costs.csv follows."""
    return _default_unit_costs().copy()


def empty_costs() -> pd.DataFrame:
    columns = [*EXTRA_REQUIRED[COSTS], *EXTRA_OPTIONAL[COSTS], "first_month", "last_month"]
    return pd.DataFrame({c: pd.Series(dtype=str) for c in columns})


def empty_unit_costs() -> pd.DataFrame:
    columns = [*EXTRA_REQUIRED[UNIT_COSTS], *EXTRA_OPTIONAL[UNIT_COSTS]]
    return pd.DataFrame({c: pd.Series(dtype=str) for c in columns})
