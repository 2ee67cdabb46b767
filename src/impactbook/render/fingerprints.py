"""What a batch knows about the workbook it plans from: the planning view of the validated
workbook, the fingerprint of each report's slice of it, the fingerprint of the library code,
and the workbook files' stat signature.

A report is reused only when every fingerprint that can change its content is unchanged
(:attr:`~impactbook.render.plan.ReportJob.key`).
"""

from __future__ import annotations

import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from impactbook.fsutil import hash_frames, library_hash, safe_join
from impactbook.render.run_folder import STATE_DIR

if TYPE_CHECKING:  # pandas is imported where tables are read: workers never need it
    import pandas as pd

    from impactbook.workbook import Workbook


@dataclass
class PlanningWorkbook:
    """The tables of the validated workbook that planning reads, and the workbook's digest."""

    outcomes: pd.DataFrame
    interventions: pd.DataFrame
    news: pd.DataFrame | None
    tags: pd.DataFrame | None
    digest: str = ""
    signature: tuple = ()
    validated: Workbook | None = None  # the whole validated workbook, for its series index

    def outcomes_of(self, cities: Iterable[str]) -> pd.DataFrame:
        """The outcome rows of ``cities`` (by the series index: no scan per city)."""
        import numpy as np

        if self.validated is None:
            return self.outcomes[self.outcomes["city"].isin(set(cities))]
        rows = [self.validated.index.city_rows(c) for c in cities]
        return self.outcomes.iloc[np.sort(np.concatenate(rows)) if rows else []]

    def cities_with_programmes(self) -> list[str]:
        return list(dict.fromkeys(c for c in self.interventions["city"] if c.strip()))

    def types(self) -> list[str]:
        return list(dict.fromkeys(t for t in self.interventions["intervention"] if t.strip()))

    def city_news(self, city: str) -> pd.DataFrame | None:
        """The news the city report shows (the same linking rule as the report itself)."""
        from impactbook.news.link import news_for_city

        if self.news is None or self.tags is None:
            return self.news
        return news_for_city(self.news, self.tags, self.interventions, city)

    def intervention_news(self, kind: str) -> pd.DataFrame | None:
        from impactbook.news.link import news_for_intervention

        return None if self.news is None else news_for_intervention(self.news, kind)

    def area_rows(self, city: str) -> pd.DataFrame | None:
        """The city's rows of areas.csv (None when the workbook has none)."""
        if self.validated is None or self.validated.areas.empty:
            return None
        return self.validated.areas[self.validated.areas["city"] == city]

    def units_of(self, city: str) -> pd.DataFrame | None:
        """The city's rows of areas.csv and, when it has some, the digest of
        unit_outcomes.csv (micro-synthetic control reads both)."""
        import pandas as pd

        from impactbook.fsutil import sha256_file

        rows = self.area_rows(city)
        if rows is None:
            return None
        units = Path(self.validated.root) / "unit_outcomes.csv"
        if rows.empty or not units.exists():
            return rows
        return pd.concat([rows.astype(str), pd.DataFrame({"city": [sha256_file(units)]})])

    def city_slice_hash(self, city: str) -> str:
        programmes = self.interventions[self.interventions["city"] == city]
        ids = set(programmes["id"])
        # The rows of the optional tables that shape this city's report (rollouts.csv for its
        # rollouts, costs.csv for its programmes, unit_costs.csv whole), each only when it has
        # some, so the other cities' keys stay as they were.
        extra = []
        if self.validated is not None:
            for name, frame, column in (("rollouts", self.validated.rollouts, "programme"),
                                        ("costs", self.validated.costs, "programme")):
                rows = frame[frame[column].isin(ids)] if not frame.empty else frame
                if not rows.empty:
                    extra.append((name, rows))
            if not self.validated.unit_costs.empty and extra:
                extra.append(("unit_costs", self.validated.unit_costs))
        return hash_frames(
            ("outcomes", self.outcomes_of([city])),
            ("interventions", programmes),
            ("news", self.city_news(city)),
            ("tags", self.tags),
            ("units", self.units_of(city)),
            *extra,
        )

    def intervention_slice_hash(self, kind: str) -> str:
        cities = set(self.interventions.loc[self.interventions["intervention"] == kind, "city"])
        programmes = self.interventions[self.interventions["city"].isin(cities)]
        return hash_frames(
            ("outcomes", self.outcomes_of(sorted(cities))),
            ("interventions", programmes),
            ("news", self.intervention_news(kind)),
            ("tags", self.tags),
        )


def load_for_planning(data_dir: Path, workbook: Workbook | None = None,
          out_dir: Path | None = None) -> PlanningWorkbook:
    """The planning view of the workbook, validated once: ``workbook`` when the caller already
    loaded it, else the copy a batch into ``out_dir`` kept of this very workbook (same digest,
    same library), else loaded here. Bad input fails up front with every problem listed and
    no report written; the digest it carries is the one the manifest and index show."""
    from impactbook.workbook import INTERVENTIONS, OUTCOMES, TAGS, load_workbook
    from impactbook.workbook.digest import workbook_digest
    from impactbook.workbook.prepared import prepared_folder, read_validated

    signature = workbook_signature(data_dir)  # before reading: a later edit changes it
    if workbook is None and out_dir is not None and Path(data_dir).is_dir():
        digest = workbook_digest(data_dir)
        state_dir = safe_join(Path(out_dir), STATE_DIR)  # refuses a link out of the run
        workbook = read_validated(prepared_folder(state_dir, digest), data_dir, digest,
                                  library=library_hash())
    if workbook is None:
        workbook = load_workbook(data_dir, require=(OUTCOMES, INTERVENTIONS, TAGS))
    _LAST_VALIDATED[:] = [workbook]
    return PlanningWorkbook(workbook.outcomes, workbook.interventions, workbook.news, workbook.tags,
                     digest=workbook.digest, validated=workbook, signature=signature)


def workbook_signature(data_dir: Path) -> tuple:
    """Name, size, modification time and inode of every CSV file of the workbook: cheap to
    take, and it changes whenever a file is edited or replaced."""
    entries = []
    for path in sorted(Path(data_dir).glob("*.csv")):
        try:
            st = path.stat()
        except OSError:
            entries.append((path.name, None))
            continue
        entries.append((path.name, stat.S_IFMT(st.st_mode), st.st_size, st.st_mtime_ns,
                        st.st_ino))
    return tuple(entries)


# The workbook the last plan of this process validated: the batch that runs the plan writes
# each report's prepared slice from it instead of reading the folder a second time.
_LAST_VALIDATED: list[Workbook] = []


def forget_validated_workbook() -> None:
    """Drop the workbook kept for the batch (once its prepared slices are written)."""
    _LAST_VALIDATED.clear()


def validated_workbook(digest: str) -> Workbook | None:
    """The workbook this process last planned from, if its digest is ``digest``."""
    found = _LAST_VALIDATED[0] if _LAST_VALIDATED else None
    return found if found is not None and found.digest == digest else None
