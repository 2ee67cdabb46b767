"""Questions asked of a validated workbook: one series, its summary, a city's programmes."""

from __future__ import annotations

import pandas as pd

from impactbook.workbook.model import Workbook, unknown_value
from impactbook.workbook.periods import parse_period, period_range


def select_series(outcomes: pd.DataFrame, city: str, area: str, outcome: str) -> pd.DataFrame:
    """One place's outcome as a frame on a full PeriodIndex (gaps stay NaN, never zero)."""
    rows = outcomes[(outcomes["city"] == city) & (outcomes["area"] == area)
                    & (outcomes["outcome"] == outcome)]
    if rows.empty:
        city_rows = outcomes[outcomes["city"] == city]
        if city_rows.empty:
            raise unknown_value("city", city, outcomes["city"])
        if area not in set(city_rows["area"]):
            raise unknown_value("area", area, city_rows["area"])
        raise unknown_value("outcome", outcome,
                            city_rows.loc[city_rows["area"] == area, "outcome"])
    periods = [parse_period(p) for p in rows["period"]]
    index = pd.PeriodIndex(periods)
    frame = pd.DataFrame({"count": rows["count"].astype(float).to_numpy(),
                          "population": rows["population"].astype(float).to_numpy()},
                         index=index).sort_index()
    full = period_range(frame.index.min(), frame.index.max())
    frame = frame.reindex(full)
    frame.index.name = "period"
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
