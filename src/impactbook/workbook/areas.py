"""Check areas.csv: population, covariates and the larger area of each area (optional table).

Columns ``city, area`` are required; ``population`` (people, 0 allowed for an empty census
block) and ``within`` (the larger area of outcomes.csv this one lies in, e.g. a block within
``DMI blocks``) are optional; every further column is a numeric covariate, blank where not
known. Synthetic control matches on these; micro-synthetic control treats the areas ``within``
the programme area as its treated units.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from impactbook.workbook.cells import check_names, numbers_of, require_text, strip_columns
from impactbook.workbook.csvread import read_csv_text
from impactbook.workbook.problems import Problems, shorten
from impactbook.workbook.schema import AREA_COLUMNS, AREAS, EXTRA_REQUIRED, MAX_POPULATION


def covariate_columns(frame: pd.DataFrame) -> list[str]:
    """The covariate columns of a loaded areas table (everything after the named columns)."""
    return [c for c in frame.columns if c not in AREA_COLUMNS and c != "line"]


def empty_areas() -> pd.DataFrame:
    return pd.DataFrame({"line": pd.Series(dtype="int64"), "city": pd.Series(dtype=str),
                         "area": pd.Series(dtype=str), "population": pd.Series(dtype=float),
                         "within": pd.Series(dtype=str)})


def load_areas(path: Path, series: pd.DataFrame | None, problems: Problems) -> pd.DataFrame:
    """Areas with numbers parsed (NaN = not known); references checked against outcomes."""
    file = AREAS
    frame = read_csv_text(path, EXTRA_REQUIRED[AREAS], label=file)
    for column in ("population", "within"):
        if column not in frame:
            frame[column] = ""
    frame = strip_columns(frame, frame.columns.drop("line"))
    require_text(frame, ["city", "area"], file, problems)
    check_names(frame, ["city", "area", "within"], file, problems)
    twice = frame.duplicated(["city", "area"]) & (frame["area"] != "")
    problems.add_rows(file, frame, twice, "area",
                      "area {value!r} is listed twice for its city; expected one row per area")
    population = numbers_of(frame["population"])
    bad = (frame["population"] != "") & ~(np.isfinite(population) & (population >= 0)
                                          & (population <= MAX_POPULATION))
    problems.add_rows(file, frame, bad, "population",
                      "population {value!r} is not a number of people (0 or more)")
    frame["population"] = population.where(~bad)
    for column in covariate_columns(frame):
        values = numbers_of(frame[column])
        bad = (frame[column] != "") & ~np.isfinite(values)
        problems.add_rows(file, frame, bad, column,
                          "covariate {value!r} is not a number (leave it blank when not known)")
        frame[column] = values.where(~bad)
    if series is not None:
        _check_references(frame, series, problems)
    frame["line"] = frame["line"].astype("int64")
    return frame


def _check_references(frame: pd.DataFrame, series: pd.DataFrame, problems: Problems) -> None:
    areas_of = {str(city): set(group["area"]) for city, group in series.groupby("city")}
    for line, city, within in frame.loc[frame["city"] != "", ["line", "city", "within"]
                                        ].drop_duplicates(["city", "within"]).itertuples(
                                            index=False):
        if city not in areas_of:
            problems.add(AREAS, f"city {shorten(city)!r} has no rows in outcomes.csv",
                         int(line), "city")
        elif within and within not in areas_of[city]:
            problems.add(AREAS, f"within {shorten(within)!r} is not an area of {city} in "
                         "outcomes.csv", int(line), "within")
