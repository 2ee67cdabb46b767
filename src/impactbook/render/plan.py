"""Plan a batch: one :class:`ReportJob` per report, keyed by everything that shapes it.

A plan is a list of :class:`ReportJob` (one city report per city with a programme, one
intervention summary per intervention type). Each job carries the hash of the workbook slice
its report reads, so an unchanged report can be reused, and the digest of the workbook it was
validated from; the workbook is validated once per plan.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import stat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from impactbook import __version__
from impactbook.contracts import ReportKind
from impactbook.defaults import DEFAULT_FORMATS
from impactbook.errors import DataError, RenderError
from impactbook.fsutil import safe_join, sha256_bytes, sha256_file, slugify
from impactbook.render.run_folder import STATE_DIR
from impactbook.workbook.model import unknown_value

if TYPE_CHECKING:  # pandas is imported where tables are read: workers never need it
    import pandas as pd

    from impactbook.workbook import Workbook

CITY, INTERVENTION = ReportKind.CITY, ReportKind.INTERVENTION
NOTEBOOK_FILES = {CITY: "city_report.ipynb", INTERVENTION: "intervention_summary.ipynb"}


@dataclass(frozen=True)
class ReportJob:
    """One report to render; everything a worker (local or remote) needs, and nothing secret."""

    id: str
    kind: ReportKind
    name: str
    slug: str
    notebook: str
    parameters: dict
    interventions: tuple[str, ...]
    input_hash: str
    notebook_hash: str
    data_dir: str
    # The digest of the whole workbook the plan validated (shown in the manifest and index).
    data_digest: str = ""
    formats: tuple[str, ...] = DEFAULT_FORMATS
    page_size: str = "A4"
    # The workbook files' stat signature taken before the slice was read (not part of the
    # key): the batch compares it to tell whether the data changed after planning.
    workbook_signature: tuple = ()
    # How much the report weighs, for handing the heaviest out first (not part of the key):
    # the small units its micro designs weigh (placebo groups are drawn among them) and the
    # outcome rows it reads.
    size: tuple[int, int] = (0, 0)

    @property
    def title(self) -> str:
        if self.kind == CITY:
            return f"{self.name}: community violence intervention report"
        return f"{self.name}: intervention summary"

    @property
    def key(self) -> str:
        """Changes whenever anything that can change the report's content changes."""
        payload = {
            "notebook": self.notebook_hash, "parameters": self.parameters,
            "version": __version__, "library": library_hash(), "input": self.input_hash,
            "formats": list(self.formats), "page_size": self.page_size,
        }
        return sha256_bytes(json.dumps(payload, sort_keys=True).encode())


def default_notebooks_dir() -> Path:
    """``$IMPACTBOOK_NOTEBOOKS``, else the repository's ``notebooks/``, else packaged copies."""
    env = os.environ.get("IMPACTBOOK_NOTEBOOKS")
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parents[3] / "notebooks"
    if (repo / NOTEBOOK_FILES[CITY]).exists():
        return repo
    return Path(__file__).resolve().parents[1] / "notebooks"


_LIBRARY_HASH: str | None = None


def library_hash() -> str:
    """Hash of the installed impactbook sources: a code change re-renders even without a bump."""
    global _LIBRARY_HASH
    if _LIBRARY_HASH is None:
        h = hashlib.sha256()
        root = Path(__file__).resolve().parents[1]
        for path in sorted(root.rglob("*")):
            if path.suffix in {".py", ".j2", ".css", ".json"} and "__pycache__" not in path.parts:
                h.update(str(path.relative_to(root)).encode())
                h.update(path.read_bytes())
        _LIBRARY_HASH = h.hexdigest()
    return _LIBRARY_HASH


def _hash_frames(*parts: tuple[str, pd.DataFrame | None]) -> str:
    """Order-independent hash of named row sets (rows sorted, columns sorted)."""
    h = hashlib.sha256()
    for name, frame in parts:
        h.update(f"\0{name}\0".encode())
        if frame is None or frame.empty:
            continue
        import numpy as np
        import pandas as pd

        columns = sorted(frame.columns)
        # pandas' vectorised 64-bit hash of each row (fixed key), sorted: row text built in
        # Python cost about 1 s for the default workbook's slices, on every rerun.
        rows = np.sort(pd.util.hash_pandas_object(frame[columns], index=False).to_numpy())
        h.update(("\x1f".join(columns) + "\n").encode())
        h.update(rows.astype("<u8").tobytes())
    return h.hexdigest()


@dataclass
class _Workbook:
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
        return _hash_frames(
            ("outcomes", self.outcomes_of([city])),
            ("interventions", programmes),
            ("news", self.city_news(city)),
            ("tags", self.tags),
            ("units", self.units_of(city)),
        )

    def intervention_slice_hash(self, kind: str) -> str:
        cities = set(self.interventions.loc[self.interventions["intervention"] == kind, "city"])
        programmes = self.interventions[self.interventions["city"].isin(cities)]
        return _hash_frames(
            ("outcomes", self.outcomes_of(sorted(cities))),
            ("interventions", programmes),
            ("news", self.intervention_news(kind)),
            ("tags", self.tags),
        )


def load_for_planning(data_dir: Path, workbook: Workbook | None = None,
          out_dir: Path | None = None) -> _Workbook:
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
    return _Workbook(workbook.outcomes, workbook.interventions, workbook.news, workbook.tags,
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


class InputWatch:
    """The input slice hash of a job as the workbook is *now*, to bracket a render.

    A batch asks before a report starts and after it finished: only when both answers are
    the same was the report rendered from that data, and only then is it recorded under
    that data's key. Unchanged files (by :func:`workbook_signature`) cost a few ``stat``
    calls; after an edit the workbook is loaded (and validated) again once.
    """

    def __init__(self, data_dir: Path, signature: tuple):
        self.data_dir = Path(data_dir)
        self._signature = signature
        self._workbook: _Workbook | None = None
        self.changed = False

    def slice_hash(self, job: ReportJob) -> str:
        now = workbook_signature(self.data_dir)
        if now == self._signature and self._workbook is None:
            return job.input_hash
        if self._workbook is None or now != self._signature:
            self.changed = True
            try:
                self._workbook = load_for_planning(self.data_dir)
            except DataError:  # mid-edit or broken: no report can claim to match it
                self._signature, self._workbook = (), None
                return "unreadable"
            self._signature = self._workbook.signature
        if job.kind == CITY:
            return self._workbook.city_slice_hash(job.name)
        return self._workbook.intervention_slice_hash(job.name)

    @property
    def digest(self) -> str | None:
        """The digest of the workbook as last loaded after a change (None if unchanged)."""
        return self._workbook.digest if self._workbook is not None else None


def rekeyed(job: ReportJob, input_hash: str) -> ReportJob:
    """``job`` as rendered from other data than it was planned with."""
    return dataclasses.replace(job, input_hash=input_hash)


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


def notebook_and_hash(notebooks_dir: Path, kind: str,
                      template: Path | None = None) -> tuple[str, str]:
    """The notebook a ``kind`` of report renders (the template if given) and its hash."""
    path = Path(template) if template else Path(notebooks_dir) / NOTEBOOK_FILES[kind]
    if not path.exists():
        raise RenderError(kind, f"notebook {path} does not exist")
    return str(path.resolve()), sha256_file(path)


def check_job(job: ReportJob) -> ReportJob:
    """Refuse a job whose parameters its notebook does not declare (or with the wrong type)
    before any kernel starts."""
    from impactbook.render.notebook import validate_parameters
    from impactbook.render.parameters import read_notebook_json

    validate_parameters(read_notebook_json(Path(job.notebook)), job.parameters)
    return job


def city_job(wb: _Workbook, city: str, data_dir: Path, notebooks_dir: Path,
              formats: tuple[str, ...], page_size: str, *, template: Path | None = None,
              extra: Mapping[str, object] | None = None) -> ReportJob:
    notebook, nb_hash = notebook_and_hash(notebooks_dir, CITY, template)
    slug = slugify(city)
    types = wb.interventions.loc[wb.interventions["city"] == city, "intervention"]
    units = wb.area_rows(city)  # counted, not hashed: the slice hash reads unit_outcomes.csv
    return check_job(ReportJob(
        id=f"{CITY}/{slug}", kind=CITY, name=city, slug=slug, notebook=notebook,
        parameters={**(extra or {}), "city": city, "data_dir": str(Path(data_dir).resolve())},
        interventions=tuple(dict.fromkeys(types)), input_hash=wb.city_slice_hash(city),
        notebook_hash=nb_hash, data_dir=str(Path(data_dir).resolve()), formats=formats,
        page_size=page_size, data_digest=wb.digest, workbook_signature=wb.signature,
        size=(0 if units is None else len(units), len(wb.outcomes_of([city])))))


def intervention_job(wb: _Workbook, kind: str, slug: str, data_dir: Path,
                      notebooks_dir: Path, formats: tuple[str, ...],
                      page_size: str, *, template: Path | None = None,
                      extra: Mapping[str, object] | None = None) -> ReportJob:
    notebook, nb_hash = notebook_and_hash(notebooks_dir, INTERVENTION, template)
    return check_job(ReportJob(
        id=f"{INTERVENTION}/{slug}", kind=INTERVENTION, name=kind, slug=slug,
        notebook=notebook,
        parameters={**(extra or {}), "intervention": kind,
                    "data_dir": str(Path(data_dir).resolve())},
        interventions=(kind,), input_hash=wb.intervention_slice_hash(kind),
        notebook_hash=nb_hash, data_dir=str(Path(data_dir).resolve()), formats=formats,
        page_size=page_size, data_digest=wb.digest, workbook_signature=wb.signature))


def plan_batch(data_dir: Path, out_dir: Path, *, notebooks_dir: Path | None = None,
               formats: Sequence[str] = DEFAULT_FORMATS, page_size: str = "A4",
               cities: Iterable[str] | None = None,
               interventions: Iterable[str] | None = None,
               workbook: Workbook | None = None,
               templates: Mapping[str, Path] | None = None,
               parameters: Mapping[str, Mapping[str, object]] | None = None) -> list[ReportJob]:
    """One city report per city with a programme, one summary per intervention type.

    ``workbook`` is ``data_dir`` already loaded and validated (the demo validates once and
    passes it on); without it the workbook is validated here. Planning writes nothing.

    ``cities``/``interventions`` restrict the plan (unknown names raise ParameterError).
    ``templates`` and ``parameters`` map a kind (``city``, ``intervention``) to the notebook
    to render instead of the default and to extra notebook parameters; both are part of each
    job's reuse key.
    Report folders share one name space (see :func:`summary_slugs`).
    """
    templates, parameters = templates or {}, parameters or {}
    notebooks_dir = Path(notebooks_dir) if notebooks_dir else default_notebooks_dir()
    formats = tuple(formats)
    wb = load_for_planning(Path(data_dir), workbook, Path(out_dir))
    all_cities = wb.cities_with_programmes()
    all_types = wb.types()
    chosen_cities = _choose(cities, all_cities, "city")
    chosen_types = _choose(interventions, all_types, "intervention")
    jobs = [city_job(wb, c, data_dir, notebooks_dir, formats, page_size,
                      template=templates.get(CITY), extra=parameters.get(CITY))
            for c in chosen_cities]
    slugs = summary_slugs(all_cities, all_types)
    for kind in chosen_types:
        slug = slugs[kind]
        jobs.append(intervention_job(wb, kind, slug, data_dir, notebooks_dir, formats,
                                      page_size, template=templates.get(INTERVENTION),
                                      extra=parameters.get(INTERVENTION)))
    for job in jobs:  # refuse anything that would land outside the run folder
        safe_join(Path(out_dir), job.slug, f"{job.slug}.html")
    return jobs


def summary_slugs(cities: Iterable[str], types: Iterable[str]) -> dict[str, str]:
    """Folder slug of each intervention type's summary, in the one name space of report
    folders: cities keep their own slug; a summary whose slug is taken (by a city, e.g. one
    named "Cure Violence Summary", or another summary) gets ``-summary``, then a number."""
    used = {slugify(c) for c in cities}
    result: dict[str, str] = {}
    for kind in types:
        base = slugify(kind)
        slug, n = base, 1
        while slug in used:
            slug = f"{base}-summary" if n == 1 else f"{base}-summary-{n}"
            n += 1
        used.add(slug)
        result[kind] = slug
    return result


def _choose(wanted: Iterable[str] | None, available: list[str], what: str) -> list[str]:
    if wanted is None:
        return available
    chosen = list(wanted)
    for name in chosen:
        if name not in available:
            raise unknown_value(what, name, available)
    return chosen
