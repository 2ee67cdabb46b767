"""The validated workbook: the object everything after validation takes."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from impactbook.choices import unknown_choice
from impactbook.errors import ParameterError
from impactbook.workbook.index import SeriesIndex


@dataclass(frozen=True)
class Workbook:
    """The validated tables of one workbook folder."""

    root: Path
    outcomes: pd.DataFrame
    interventions: pd.DataFrame
    news: pd.DataFrame
    tags: pd.DataFrame
    funders: pd.DataFrame
    # SHA-256 of the tables as read (:func:`~impactbook.workbook.digest.workbook_digest`): the
    # one "input data hash" reports, the index and the manifest show.
    digest: str
    warnings: tuple[str, ...] = field(default=())
    # areas.csv (population, covariates, ``within``) and unit_outcomes.csv (loaded on request).
    areas: pd.DataFrame = field(default_factory=pd.DataFrame)
    unit_outcomes: pd.DataFrame = field(default_factory=pd.DataFrame)
    # rollouts.csv: the units of a staggered rollout and their starts (empty when absent).
    rollouts: pd.DataFrame = field(default_factory=pd.DataFrame)
    # Built once per outcome frame and carried by dataclasses.replace (a view with other
    # interventions shares it; other outcomes get a new one): every name look-up and series
    # selection goes through it.
    index: SeriesIndex = field(default=None, compare=False, repr=False)  # type: ignore

    def __post_init__(self):
        if self.index is None or not self.index.is_index_of(self.outcomes):
            object.__setattr__(self, "index", SeriesIndex(self.outcomes))

    @property
    def cities(self) -> list[str]:
        return self.index.cities

    @property
    def programme_cities(self) -> list[str]:
        """Cities that run at least one programme: the ones a report is written for."""
        return sorted(self.interventions["city"].unique())

    def frequency(self, city: str) -> str:
        freq = self.index.frequency(city)
        if freq is None:
            raise unknown_value("city", city, self.cities)
        return freq


def unknown_value(parameter: str, value: str, known: Iterable[str], *,
                  what: str = "one of") -> ParameterError:
    """A name that is not in the workbook: the closest suggested, the choices listed."""
    return unknown_choice(parameter, value, known, what=what)
