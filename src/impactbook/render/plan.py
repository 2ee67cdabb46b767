"""Plan a batch: one :class:`ReportJob` per report, keyed by everything that shapes it.

A plan is a list of :class:`ReportJob` (one city report per city with a programme, one
intervention summary per intervention type). Each job carries the hash of the workbook slice
its report reads, so an unchanged report can be reused, and the digest of the workbook it was
validated from; the workbook is validated once per plan (:mod:`.fingerprints`).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from impactbook import __version__
from impactbook.contracts import ReportKind
from impactbook.defaults import DEFAULT_FORMATS
from impactbook.errors import RenderError
from impactbook.fsutil import library_hash, safe_join, sha256_bytes, sha256_file, slugify
from impactbook.render.fingerprints import PlanningWorkbook, load_for_planning
from impactbook.workbook.model import unknown_value

if TYPE_CHECKING:
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
    """``$IMPACTBOOK_NOTEBOOKS``, else the report notebooks the package carries.

    In a checkout (editable install) ``impactbook/notebooks/`` holds links to the one copy in
    the repository's ``notebooks/``; a built wheel holds the files themselves (see the
    package-data note in pyproject.toml), so an installed impactbook renders with no checkout.
    """
    env = os.environ.get("IMPACTBOOK_NOTEBOOKS")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[1] / "notebooks"


def rekeyed(job: ReportJob, input_hash: str) -> ReportJob:
    """``job`` as rendered from other data than it was planned with."""
    return dataclasses.replace(job, input_hash=input_hash)


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
    # parameters.py, not notebook.py: planning (and an unchanged rerun) need not import
    # nbconvert.
    from impactbook.render.parameters import read_notebook_json, validate_parameters

    validate_parameters(read_notebook_json(Path(job.notebook)), job.parameters)
    return job


def city_job(wb: PlanningWorkbook, city: str, data_dir: Path, notebooks_dir: Path,
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


def intervention_job(wb: PlanningWorkbook, kind: str, slug: str, data_dir: Path,
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
