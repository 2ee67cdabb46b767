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
    # costs.csv (what each programme cost, by period) and unit_costs.csv (the social cost of one
    # event per outcome); empty when absent.
    costs: pd.DataFrame = field(default_factory=pd.DataFrame)
    unit_costs: pd.DataFrame = field(default_factory=pd.DataFrame)
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

    # -- the library's entry point (impactbook.open_workbook): thin calls into analysis/ ---

    def estimate(self, city: str, outcome: str, area: str | None = None,
                 method: str = "its", **options):
        """One estimate (an :class:`~impactbook.effects.Estimate`), exactly as
        ``impactbook estimate`` computes it; ``options`` are the request's other fields
        (``start``, ``post_periods``, ``comparison_areas``, ``donors``, ``family``, ...)."""
        from impactbook.analysis import estimate_for, make_request

        request = make_request(city=city, outcome=outcome, area=area, method=method, **options)
        return estimate_for(self, request)

    def value_for_money(self, result):
        """The value for money of a result of :meth:`estimate` (cost per event averted,
        break-even, benefit-cost ratio), or None when its programme has no costs.csv rows."""
        from impactbook.analysis.value import value_of

        return value_of(self, result)

    def estimates(self, city: str | None = None) -> pd.DataFrame:
        """Every programme x outcome x design the city reports show, one row each."""
        from impactbook.analysis.programmes import estimates_table

        return estimates_table(self, city)

    def overview(self) -> pd.DataFrame:
        """One row per city: frequency, periods, areas, outcomes and programmes."""
        rows = []
        for city in self.cities:
            span = self.index.period_span(city) or ("", "")
            areas = self.index.areas(city)
            outcomes = sorted({o for a in areas for o in self.index.outcomes(city, a)})
            programmes = (self.interventions[self.interventions["city"] == city]
                          if "city" in self.interventions else self.interventions.iloc[0:0])
            rows.append({"city": city,
                         "frequency": "quarterly" if self.frequency(city) == "Q" else "monthly",
                         "periods": f"{span[0]} to {span[1]}", "areas": len(areas),
                         "series": sum(len(self.index.outcomes(city, a)) for a in areas),
                         "outcomes": ", ".join(outcomes), "programmes": len(programmes)})
        return pd.DataFrame(rows, columns=["city", "frequency", "periods", "areas", "series",
                                           "outcomes", "programmes"])

    def _headline(self) -> str:
        from impactbook.workbook.digest import shown_digest

        n_programmes = len(self.interventions)
        n_series = int(self.overview()["series"].sum()) if self.cities else 0
        return (f"Workbook {str(self.root)!r}: {_count(len(self.cities), 'city', 'cities')}, "
                f"{_count(n_programmes, 'programme')}, {_count(n_series, 'series', 'series')} "
                f"(data {shown_digest(self.digest)})")

    def __repr__(self) -> str:
        # A summary, never a dump of the tables: they hold hundreds of thousands of rows.
        overview = self.overview()
        lines = [self._headline()]
        lines += [f"  {r.city}: {_count(r.programmes, 'programme')}, {_count(r.areas, 'area')}, "
                  f"{r.frequency} {r.periods}; {r.outcomes}" for r in overview.itertuples()]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        import html

        return (f"<div><strong>{html.escape(self._headline())}</strong>"
                f"{self.overview().to_html(index=False, border=0, escape=True)}</div>")


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def unknown_value(parameter: str, value: str, known: Iterable[str], *,
                  what: str = "one of") -> ParameterError:
    """A name that is not in the workbook: the closest suggested, the choices listed."""
    return unknown_choice(parameter, value, known, what=what)
