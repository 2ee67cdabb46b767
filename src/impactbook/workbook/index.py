"""An index of the outcome series: city -> area -> outcome -> its rows, built once.

Resolving a request and selecting a series asked the outcome frame questions by scanning it
(``set(outcomes["city"])``, a three-column boolean mask per series): with 28 requests in one
report that was most of the report's cost, and it grew with the workbook. The index groups
the rows once, the first time it is asked, and answers every later question by dictionary
look-up; each series frame is built once and handed out as a copy.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from impactbook.workbook.periods import parse_period, period_range


class SeriesIndex:
    """Look-ups into one validated outcome frame (columns city, area, outcome, period, ...)."""

    def __init__(self, outcomes: pd.DataFrame):
        self._outcomes = outcomes
        self._rows: dict[tuple[str, str, str], np.ndarray] | None = None
        self._tree: dict[str, dict[str, list[str]]] = {}
        self._city_rows: dict[str, np.ndarray] = {}
        self._frames: dict[tuple[str, str, str], pd.DataFrame] = {}

    def is_index_of(self, outcomes: pd.DataFrame) -> bool:
        return outcomes is self._outcomes

    def _grouped(self) -> dict[tuple[str, str, str], np.ndarray]:
        if self._rows is None:
            frame = self._outcomes
            rows: dict[tuple[str, str, str], np.ndarray] = {}
            if len(frame):
                grouped = frame.groupby(["city", "area", "outcome"], sort=False)
                rows = {tuple(key): np.asarray(pos) for key, pos in grouped.indices.items()}
            for city, area, outcome in rows:
                self._tree.setdefault(city, {}).setdefault(area, []).append(outcome)
            self._rows = rows
        return self._rows

    @property
    def cities(self) -> list[str]:
        self._grouped()
        return sorted(self._tree)

    def has_city(self, city: str) -> bool:
        self._grouped()
        return city in self._tree

    def areas(self, city: str) -> list[str]:
        self._grouped()
        return sorted(self._tree.get(city, {}))

    def outcomes(self, city: str, area: str) -> list[str]:
        self._grouped()
        return sorted(self._tree.get(city, {}).get(area, []))

    def city_rows(self, city: str) -> np.ndarray:
        """Positions of every row of ``city`` in the outcome frame, in file order."""
        if city not in self._city_rows:
            parts = [pos for (c, _, _), pos in self._grouped().items() if c == city]
            self._city_rows[city] = (np.sort(np.concatenate(parts)) if parts
                                     else np.array([], dtype=np.intp))
        return self._city_rows[city]

    def frequency(self, city: str) -> str | None:
        """``"M"``, ``"Q"`` or ``"W"`` (one frequency per city); None if unknown."""
        rows = self.city_rows(city)
        return str(self._outcomes["freq"].iloc[rows[0]]) if len(rows) else None

    def period_span(self, city: str) -> tuple[str, str] | None:
        """The first and last period label of any series of ``city``."""
        rows = self.city_rows(city)
        if not len(rows):
            return None
        periods = self._outcomes["period"].iloc[rows]
        return str(periods.min()), str(periods.max())

    def series(self, city: str, area: str, outcome: str) -> pd.DataFrame | None:
        """The series on a full PeriodIndex (gaps NaN), or None when there is no such series."""
        key = (city, area, outcome)
        if key not in self._frames:
            rows = self._grouped().get(key)
            if rows is None:
                return None
            self._frames[key] = _series_frame(self._outcomes.iloc[rows])
        return self._frames[key].copy()


def _series_frame(rows: pd.DataFrame) -> pd.DataFrame:
    index = pd.PeriodIndex([parse_period(p) for p in rows["period"]])
    frame = pd.DataFrame({"count": rows["count"].astype(float).to_numpy(),
                          "population": rows["population"].astype(float).to_numpy()},
                         index=index).sort_index()
    frame = frame.reindex(period_range(frame.index.min(), frame.index.max()))
    frame.index.name = "period"
    return frame
