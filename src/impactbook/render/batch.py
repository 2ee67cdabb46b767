"""Plan and run many reports: parallel warm workers, incremental reruns, faults, Dask.

A plan is a list of :class:`ReportJob` (one city report per city with a programme, one
intervention summary per intervention type). :func:`run_batch` skips jobs whose inputs are
unchanged since the last good render in the same run folder, renders the rest on long-lived
worker processes (each imports nbconvert and WeasyPrint once and keeps a warm, reset-between-
reports kernel), records every finished report at once (a per-report state file and the merged
``manifest.json``, both atomic, through :class:`~impactbook.render.run_folder.RunFolder`) and
finally writes ``index.html``.

Planning lives in :mod:`impactbook.render.plan`, rendering a job and the local worker processes
(started as ``python -m impactbook.render.workers``) in :mod:`impactbook.render.workers`, the
run folder's records and manifest in :mod:`impactbook.render.run_folder`.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from impactbook.contracts import ReportRecord, ReportState
from impactbook.defaults import DEFAULT_FORMATS, DEFAULT_TIMEOUT_S
from impactbook.errors import ParameterError, RenderError
from impactbook.fsutil import remove_orphaned_temp_files, safe_join, sha256_file
from impactbook.locks import run_lock
from impactbook.memory import release_unused_memory
from impactbook.render.change_watch import InputWatch
from impactbook.render.dask_executor import WORKER_WAIT_S, check_scheduler_address, run_on_dask
from impactbook.render.fingerprints import forget_validated_workbook, load_for_planning
from impactbook.render.plan import (
    CITY,
    ReportJob,
    city_job,
    default_notebooks_dir,
    intervention_job,
    rekeyed,
    summary_slugs,
)
from impactbook.render.run_folder import STATE_DIR, RunFolder, read_state, start_estimates
from impactbook.render.workers import render_job, run_local
from impactbook.workbook.model import unknown_value

# --------------------------------------------------------------------------- run folder state


def _is_current(state: ReportState | None, job: ReportJob, run_dir: Path) -> bool:
    """The recorded render is for this job's key and its files are byte for byte the ones
    recorded (a file changed by anything else, e.g. an orphaned process, re-renders)."""
    if not state or state.key != job.key or state.entry.status != "ok":
        return False
    files, hashes = state.entry.files, state.entry.sha256
    wanted = {"ipynb", *job.formats}
    if not (wanted <= set(files) and set(files) <= set(hashes)):
        return False
    for fmt, rel in files.items():
        try:
            if sha256_file(safe_join(Path(run_dir), *Path(rel).parts)) != hashes[fmt]:
                return False
        except (OSError, ParameterError):
            return False
    return True


def longest_first(jobs: Sequence[ReportJob], seconds: Mapping[str, float]) -> list[ReportJob]:
    """The order to hand reports to the workers: the longest first, so that no worker is left
    with a long report at the end while the others idle.

    When every report has a recorded time in this run folder (``seconds``, by job id), those
    times decide.
    Otherwise the plan does: reports with a micro design first (they draw hundreds of placebo
    groups among their small units), then city reports before intervention summaries (a city
    report fits several designs and draws several charts an outcome; a summary one series a
    programme), then the ones reading more outcome rows. Ties keep the plan's order.
    """
    recorded = {job.id: seconds.get(job.id) for job in jobs}
    if jobs and all(value is not None for value in recorded.values()):
        return sorted(jobs, key=lambda job: -recorded[job.id])
    return sorted(jobs, key=lambda job: (-job.size[0], job.kind != CITY, -job.size[1]))


def _bracketed(watch: InputWatch, job: ReportJob, before: str | None,
               record: ReportRecord) -> tuple[ReportJob, ReportRecord]:
    """The job and record to keep for a finished report, given the input slice hash taken
    before it started: a report rendered from data other than planned is recorded under
    that data's key, and one whose data changed while it rendered is not recorded as ok."""
    if record.status != "ok":
        return job, record
    after = watch.slice_hash(job)
    if before == after == job.input_hash:
        return job, record
    if before == after and after != "unreadable":
        return rekeyed(job, after), record.model_copy(update={"input_hash": after})
    return job, record.model_copy(update={
        "status": "failed", "error": "the workbook changed while this report was rendering, "
                                     "so it may mix old and new data; rerun the batch"})


class BatchInterrupted(KeyboardInterrupt):
    """Ctrl-C during a batch: what was finished is recorded; ``str()`` says what was kept."""


@dataclass
class BatchResult:
    run_dir: Path
    manifest: dict
    elapsed_s: float
    rendered: int = 0
    reused: int = 0
    failed: list[dict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    @property
    def manifest_path(self) -> Path:
        return self.run_dir / "manifest.json"

    @property
    def index_path(self) -> Path:
        return self.run_dir / "index.html"


# --------------------------------------------------------------------------- run


def _prepare_slices(run_dir: Path, jobs: list[ReportJob]) -> Path | None:
    """Each report's slice of the validated workbook, under ``.state/prepared/<digest>``.

    Written from the workbook the plan validated in this process (else read once more, and
    only used if its digest is still the plan's); None when there is nothing to prepare from,
    and the reports then load the folder themselves.
    """
    from impactbook.fsutil import library_hash
    from impactbook.render.fingerprints import validated_workbook
    from impactbook.workbook import INTERVENTIONS, OUTCOMES, TAGS, load_workbook
    from impactbook.workbook.prepared import is_prepared, prepared_folder, write_prepared

    if not jobs or len({(j.data_dir, j.data_digest) for j in jobs}) != 1 or not (
            jobs[0].data_digest):
        return None
    data_dir, digest = Path(jobs[0].data_dir), jobs[0].data_digest
    folder = prepared_folder(run_dir / STATE_DIR, digest)
    reports = [(job.kind, job.name) for job in jobs]
    if is_prepared(folder, data_dir, digest, reports, library=library_hash()):
        return folder
    workbook = validated_workbook(digest) or load_workbook(
        data_dir, require=(OUTCOMES, INTERVENTIONS, TAGS))
    if workbook.digest != digest:
        return None  # the folder changed since planning: each report validates what it reads
    return write_prepared(workbook, folder, reports, library=library_hash())


# --------------------------------------------------------------------------- run


def run_batch(jobs: Sequence[ReportJob], out_dir: Path, *, workers: int | None = None,
              force: bool = False, executor: str = "local", scheduler: str | None = None,
              timeout_s: float = DEFAULT_TIMEOUT_S, progress: bool = True,
              write_index_page: bool = True,
              worker_wait_s: float = WORKER_WAIT_S) -> BatchResult:
    """Render ``jobs`` into ``out_dir``; unchanged reports are reused unless ``force``.

    Returns a :class:`BatchResult`; ``result.exit_code`` is non-zero if any report failed.
    ``worker_wait_s`` bounds the waits for a Dask scheduler and its workers
    (:func:`~impactbook.render.dask_executor.run_on_dask`).
    """
    if executor not in ("local", "dask"):
        raise ParameterError("executor", executor, "local or dask")
    if executor == "dask":
        check_scheduler_address(scheduler)
    if workers is not None and workers < 1:
        raise ParameterError("workers", workers, "a positive number of worker processes")
    workers = workers or os.cpu_count() or 1
    run_dir = Path(out_dir)
    with run_lock(run_dir, "batch"):
        return _run_locked(list(jobs), run_dir, workers=workers, force=force,
                           executor=executor, scheduler=scheduler, timeout_s=timeout_s,
                           progress=progress, write_index_page=write_index_page,
                           worker_wait_s=worker_wait_s)


def _run_locked(jobs: list[ReportJob], run_dir: Path, *, workers: int, force: bool,
                executor: str, scheduler: str | None, timeout_s: float, progress: bool,
                write_index_page: bool, worker_wait_s: float) -> BatchResult:
    from tqdm import tqdm

    from impactbook.report.index_page import write_index

    started = time.perf_counter()
    remove_orphaned_temp_files(run_dir)
    # The plan validated the workbook and carries its digest: no second read or hash here.
    data_hash_value = jobs[0].data_digest if jobs else None
    store = RunFolder(run_dir)
    finished: dict[str, ReportRecord] = {}
    todo: list[ReportJob] = []
    states = {job.id: read_state(run_dir, job.slug) for job in jobs}
    for job in jobs:
        if not force and _is_current(states[job.id], job, run_dir):
            finished[job.id] = states[job.id].entry.model_copy(update={"reused": True})
            store.keep(finished[job.id])
        else:
            todo.append(job)
    todo = longest_first(todo, {job_id: state.entry.timings["total_s"]
                                for job_id, state in states.items()
                                if state is not None and "total_s" in state.entry.timings})
    prepared = _prepare_slices(run_dir, jobs) if todo and executor == "local" else None
    if todo and executor == "local":
        start_estimates(run_dir)
    # The reports read their slices from now on: this process need not keep the workbook
    # while its workers run (a few hundred MB of the batch's memory for a large one).
    forget_validated_workbook()
    release_unused_memory()
    # Reports read the prepared snapshot of the planned workbook when there is one, so they
    # are rendered from the data their keys name. Otherwise they read the folder itself, and
    # each render is bracketed by the input slice as it was before and after (InputWatch).
    watches = {} if prepared is not None else {
        folder: InputWatch(Path(folder), next(j.workbook_signature for j in jobs
                                              if j.data_dir == folder))
        for folder in {job.data_dir for job in jobs}}
    result = BatchResult(run_dir=run_dir, manifest={}, elapsed_s=0.0, reused=len(finished))
    in_hand: dict[str, str] = {}
    before: dict[str, str] = {}
    bar = tqdm(total=len(jobs), initial=len(finished), disable=not progress, file=sys.stderr,
               unit="report", dynamic_ncols=True, desc="reports")

    def pending() -> list[str]:  # planned, not finished: their old records are out of date
        return [job.id for job in jobs if job.id not in finished]

    def show() -> None:
        bar.set_description(f"reports ({result.rendered} new, {result.reused} unchanged, "
                            f"{len(result.failed)} failed)")
        bar.set_postfix_str(", ".join(in_hand.values())[:60], refresh=True)

    def on_start(job: ReportJob) -> None:
        in_hand[job.id] = job.name
        if job.data_dir in watches:
            before[job.id] = watches[job.data_dir].slice_hash(job)
        show()

    def on_done(job: ReportJob, record: ReportRecord) -> None:
        in_hand.pop(job.id, None)
        if job.data_dir in watches:
            job, record = _bracketed(watches[job.data_dir], job, before.pop(job.id, None),
                                     record)
        finished[job.id] = record
        store.record(job.key, record)
        # The merged manifest is rewritten after every report, so a killed batch leaves a
        # manifest that is true for everything finished so far.
        store.write_manifest(data_hash_value, pending=pending())
        if record.status == "ok":
            result.rendered += 1
        else:
            result.failed.append(record.model_dump(mode="json"))
        bar.update(1)
        show()

    show()
    interrupted = False
    try:
        if todo:
            if executor == "dask":
                run_on_dask(todo, run_dir, scheduler, timeout_s, on_done, on_start,
                            worker_wait_s=worker_wait_s)
            else:
                run_local(todo, run_dir, workers, timeout_s, on_done, on_start,
                          prepared=prepared)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        bar.close()
    changed = [w.digest for w in watches.values() if w.digest]
    if changed:  # edited during the run: the manifest names the workbook as it is now
        data_hash_value = changed[0]
    manifest = store.write_manifest(data_hash_value, pending=pending()).model_dump(mode="json")
    if write_index_page:
        write_index(run_dir, manifest)
    if interrupted:
        done = sum(record.status == "ok" for record in finished.values())
        raise BatchInterrupted(
            f"{done} of {len(jobs)} report(s) finished and kept in {run_dir} (manifest.json); "
            f"{len(pending())} not rendered; run the same command again to resume")
    result.manifest = manifest
    planned = {job.id for job in jobs}
    result.failed = [r for r in manifest["reports"] if r["id"] in planned and r["status"] != "ok"]
    result.elapsed_s = round(time.perf_counter() - started, 3)
    return result


# --------------------------------------------------------------------------- CLI targets


def _render_single(job: ReportJob, out_dir: Path, timeout_s: float) -> dict:
    """Render one job in this process, record it in the run folder, rewrite manifest + index."""

    run_dir = Path(out_dir)
    with run_lock(run_dir, "render"):
        return _render_single_locked(job, run_dir, timeout_s)


def _render_single_locked(job: ReportJob, run_dir: Path, timeout_s: float) -> dict:
    from impactbook.render.kernel import KernelSession
    from impactbook.report.index_page import write_index

    remove_orphaned_temp_files(run_dir)
    store = RunFolder(run_dir)  # whatever else this run folder holds stays in its manifest
    watch = InputWatch(Path(job.data_dir), job.workbook_signature)
    with KernelSession() as session:
        record = render_job(job, run_dir, session=session, timeout_s=timeout_s)
    job, record = _bracketed(watch, job, job.input_hash, record)
    store.record(job.key, record)
    manifest = store.write_manifest(job.data_digest)
    write_index(run_dir, manifest.model_dump(mode="json"))
    if record.status != "ok":
        notebook = record.files.get("ipynb")
        raise RenderError(job.name, record.error or "failed",
                          notebook=str(run_dir / notebook) if notebook else None)
    return record.model_dump(mode="json")


def render_city(data_dir: Path, city: str, out_dir: Path,
                formats: Sequence[str] = DEFAULT_FORMATS, *, page_size: str = "A4",
                timeout_s: float = DEFAULT_TIMEOUT_S,
                notebooks_dir: Path | None = None, template: Path | None = None,
                parameters: Mapping[str, object] | None = None,
                allow_incomplete: bool = False) -> dict:
    """Render one city's report into ``out_dir/<slug>/``; returns its manifest entry.

    ``template`` renders that notebook instead of the default city report; ``parameters`` are
    extra notebook parameters (checked against its parameters cell before a kernel starts).

    A report evaluates programmes, so only a city with a row in interventions.csv is
    rendered: a city with data but no programme is refused before anything runs. Raises
    ParameterError for such a city, RenderError if the report fails (the executed notebook
    is kept and the failure recorded in the manifest and index). A section that cannot be
    computed fails the report unless ``allow_incomplete``.
    """
    wb = load_for_planning(Path(data_dir))
    with_programmes = wb.cities_with_programmes()
    if city not in with_programmes:
        data_only = set(wb.outcomes["city"]) - set(with_programmes)
        what = "a city with a programme in interventions.csv"
        if city in data_only:
            what = (f"a city with a programme: {city} has data but no row in "
                    "interventions.csv, and a report evaluates programmes; cities with one")
        raise unknown_value("city", city, with_programmes, what=what)
    job = city_job(wb, city, Path(data_dir),
                    Path(notebooks_dir) if notebooks_dir else default_notebooks_dir(),
                    tuple(formats), page_size, template=template, extra=parameters)
    return _render_single(allowing_incomplete(job, allow_incomplete), out_dir, timeout_s)


def allowing_incomplete(job: ReportJob, allow_incomplete: bool = True) -> ReportJob:
    """The job with the notebook parameter that publishes a report with missing sections."""
    if not allow_incomplete:
        return job
    return replace(job, parameters={**job.parameters, "allow_incomplete": True})


def summarize_intervention(data_dir: Path, intervention: str, out_dir: Path,
                           formats: Sequence[str] = DEFAULT_FORMATS, *, page_size: str = "A4",
                           timeout_s: float = DEFAULT_TIMEOUT_S,
                           notebooks_dir: Path | None = None, template: Path | None = None,
                           parameters: Mapping[str, object] | None = None,
                           allow_incomplete: bool = False) -> dict:
    """Render one intervention type's summary into ``out_dir/<slug>/``; returns its entry
    (``template``, ``parameters`` and ``allow_incomplete`` as for :func:`render_city`)."""
    wb = load_for_planning(Path(data_dir))
    types = wb.types()
    if intervention not in types:
        raise unknown_value("intervention", intervention, types,
                            what="an intervention type in interventions.csv")
    slug = summary_slugs(wb.cities_with_programmes(), types)[intervention]
    job = intervention_job(wb, intervention, slug, Path(data_dir),
                            Path(notebooks_dir) if notebooks_dir else default_notebooks_dir(),
                            tuple(formats), page_size, template=template, extra=parameters)
    return _render_single(allowing_incomplete(job, allow_incomplete), out_dir, timeout_s)

