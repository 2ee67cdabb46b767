"""Dates far from the rest of an incident list: a mistyped year is not decades of zeros.

An incident list is complete over its range, so every month between its first and last event
becomes a count, zeros included. One mistyped year (``2091`` for ``2019``) would stretch that
range by decades of invented zeros. The rule: the list's event months are split wherever more
than :data:`MAX_SILENT_YEARS` years pass without any event; the stretch holding the most rows
is the list. Rows outside it are set aside and named (file, row, column, value) when they are
few (at most :data:`MAX_STRAY_ROWS`, or 1% of the rows); when more rows lie apart, the file
holds separate stretches and is refused rather than guessed.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from impactbook.errors import DataError, Problem
from impactbook.ingest.incident_query import IncidentSpec, first_rows_where

__all__ = ["MAX_SILENT_YEARS", "MAX_STRAY_ROWS", "set_aside_stray_dates"]

MAX_SILENT_YEARS = 3
MAX_STRAY_ROWS = 5
_MAX_STRAY_SHARE = 0.01


def set_aside_stray_dates(path: Path, spec: IncidentSpec, agg: pd.DataFrame,
                          ) -> tuple[pd.DataFrame, list[str]]:
    """``agg`` (the aggregate query's rows) without the periods of stray dates, and a note
    naming the rows set aside; raises :class:`DataError` when the list falls apart in
    stretches too large to be typing slips."""
    city = agg[(agg["is_city"] == 1) & agg["p"].notna()].copy()
    if city.empty:
        return agg, []
    city["p"] = pd.to_datetime(city["p"])
    city = city.sort_values("p")
    apart = city["p"].diff() > pd.Timedelta(days=round(365.25 * MAX_SILENT_YEARS))
    stretch = apart.cumsum()
    if stretch.iloc[-1] == 0:
        return agg, []
    rows_by_stretch = city.groupby(stretch)["n_rows"].sum()
    bulk = city[stretch == rows_by_stretch.idxmax()]
    first, last = pd.Timestamp(bulk["first_date"].min()), pd.Timestamp(bulk["last_date"].max())
    n_total = int(rows_by_stretch.sum())
    n_stray = n_total - int(rows_by_stretch.max())
    if n_stray > max(MAX_STRAY_ROWS, _MAX_STRAY_SHARE * n_total):
        raise DataError(Problem(str(path), _stretches_message(city, stretch),
                                column=spec.date_column))
    condition = (f"keep AND d IS NOT NULL AND (d < DATE '{first:%Y-%m-%d}' "
                 f"OR d > DATE '{last:%Y-%m-%d}')")
    located = first_rows_where(path, spec, condition, "date_raw", limit=MAX_STRAY_ROWS)
    named = "; ".join(f"row {line} {value!r}" for line, value in located)
    stray_periods = set(city.loc[stretch != rows_by_stretch.idxmax(), "p"])
    kept = agg[~pd.to_datetime(agg["p"]).isin(stray_periods)]
    note = (f"{spec.source}: set aside {n_stray:,} row(s) of {path}, column "
            f"{spec.date_column!r}, dated more than {MAX_SILENT_YEARS} years from any other "
            f"event (the list runs {first:%Y-%m-%d} to {last:%Y-%m-%d}; a mistyped year?): "
            f"{named}. They are not counted; correct them and ingest again to count them.")
    return kept, [note]


def _stretches_message(city: pd.DataFrame, stretch: pd.Series) -> str:
    parts = []
    for _, group in city.groupby(stretch):
        first = pd.Timestamp(group["first_date"].min())
        last = pd.Timestamp(group["last_date"].max())
        parts.append(f"{first:%Y-%m-%d}..{last:%Y-%m-%d} ({int(group['n_rows'].sum()):,} rows)")
    return (f"the dates fall in stretches more than {MAX_SILENT_YEARS} years apart with no "
            f"event between them: {', '.join(parts)}; a list is counted over one unbroken "
            "stretch (zeros between would be invented): check the dates, or ingest each "
            "stretch from its own file")
