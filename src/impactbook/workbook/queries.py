"""Questions asked of a validated workbook: one series, its summary, a city's programmes."""

from __future__ import annotations

import pandas as pd

from impactbook.workbook.index import SeriesIndex
from impactbook.workbook.model import Workbook, unknown_value


def select_series(source: Workbook | pd.DataFrame, city: str, area: str,
                  outcome: str) -> pd.DataFrame:
    """One place's outcome as a frame on a full PeriodIndex (gaps stay NaN, never zero).

    ``source`` is a validated workbook (its series index answers without scanning) or an
    outcome frame (indexed for this one call, as in a notebook exploring a frame).
    """
    index = source.index if isinstance(source, Workbook) else SeriesIndex(source)
    frame = index.series(city, area, outcome)
    if frame is None:
        if not index.has_city(city):
            raise unknown_value("city", city, index.cities)
        if area not in index.areas(city):
            raise unknown_value("area", area, index.areas(city))
        raise unknown_value("outcome", outcome, index.outcomes(city, area))
    return frame


def programmes_for_city(workbook: Workbook, city: str) -> pd.DataFrame:
    rows = workbook.interventions[workbook.interventions["city"] == city]
    if rows.empty:
        raise unknown_value("city", city, workbook.programme_cities or workbook.cities)
    return rows


def summarise_series(outcomes: pd.DataFrame) -> pd.DataFrame:
    """One row per (city, area, outcome): first and last period, periods present, mean count."""
    grouped = outcomes.groupby(["city", "area", "outcome"], sort=True)
    return grouped.agg(first=("period", "min"), last=("period", "max"),
                       periods=("period", "size"), mean_count=("count", "mean"),
                       frequency=("freq", "first")).round({"mean_count": 1}).reset_index()
