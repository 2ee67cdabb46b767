"""Plan and run many reports: parallel warm workers, incremental reruns, faults, Dask.

A plan is a list of :class:`ReportJob` (one city report per city with a programme, one
intervention summary per intervention type). :func:`run_batch` skips jobs whose inputs are
unchanged since the last good render in the same run folder, renders the rest on long-lived
worker processes (each imports nbconvert and WeasyPrint once and keeps a warm, reset-between-
reports kernel), records every finished report at once (a per-report state file and the merged
``manifest.json``, both atomic) and finally writes ``index.html``.

Run folder layout::

    RUN/manifest.json  RUN/index.html  RUN/<slug>/<slug>.{ipynb,html,pdf}  RUN/.state/<slug>.json
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import signal
import sys
import tempfile
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__
from .errors import DataError, ImpactbookError, ParameterError, Problem, RenderError
from .fsutil import atomic_write_text, safe_join, sha256_bytes, sha256_file, slugify

if TYPE_CHECKING:  # pandas is imported where tables are read: workers never need it
    import pandas as pd

CITY, INTERVENTION = "city", "intervention"
NOTEBOOK_FILES = {CITY: "city_report.ipynb", INTERVENTION: "intervention_summary.ipynb"}
STATE_DIR = ".state"
DEFAULT_TIMEOUT_S = 300
# Beyond the per-report execution deadline, how long export may take before the worker is
# presumed hung and killed.
EXPORT_GRACE_S = 120
_MAX_STARTUP_FAILURES = 3


# --------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class ReportJob:
    """One report to render; everything a worker (local or remote) needs, and nothing secret."""

    id: str
    kind: str
    name: str
    slug: str
    notebook: str
    parameters: dict
    interventions: tuple[str, ...]
    input_hash: str
    notebook_hash: str
    data_dir: str
    formats: tuple[str, ...] = ("html", "pdf")
    page_size: str = "A4"

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
    repo = Path(__file__).resolve().parents[2] / "notebooks"
    if (repo / NOTEBOOK_FILES[CITY]).exists():
        return repo
    return Path(__file__).resolve().parent / "notebooks"


_LIBRARY_HASH: str | None = None


def library_hash() -> str:
    """Hash of the installed impactbook sources: a code change re-renders even without a bump."""
    global _LIBRARY_HASH
    if _LIBRARY_HASH is None:
        h = hashlib.sha256()
        root = Path(__file__).resolve().parent
        for path in sorted(root.rglob("*")):
            if path.suffix in {".py", ".j2", ".css", ".json"} and "__pycache__" not in path.parts:
                h.update(str(path.relative_to(root)).encode())
                h.update(path.read_bytes())
        _LIBRARY_HASH = h.hexdigest()
    return _LIBRARY_HASH


def _read_table(data_dir: Path, name: str, required: bool) -> pd.DataFrame | None:
    import pandas as pd

    path = Path(data_dir) / name
    if not path.exists():
        if required:
            raise DataError(Problem(str(path), "file is missing"))
        return None
    try:
        # Everything as text: the slice hash must not depend on float formatting or NaN rules.
        return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise DataError(Problem(str(path), f"cannot be read as CSV ({exc})")) from None


def _require_columns(frame: pd.DataFrame, path: Path, columns: Iterable[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(Problem(str(path), f"missing column(s) {missing}; found "
                                           f"{list(frame.columns)}", row=1))


def _hash_frames(*parts: tuple[str, pd.DataFrame | None]) -> str:
    """Order-independent hash of named row sets (rows sorted, columns sorted)."""
    h = hashlib.sha256()
    for name, frame in parts:
        h.update(f"\0{name}\0".encode())
        if frame is None or frame.empty:
            continue
        frame = frame[sorted(frame.columns)]
        rows = sorted("\x1f".join(row) for row in frame.astype(str).itertuples(index=False))
        h.update(("\x1f".join(frame.columns) + "\n").encode())
        for row in rows:
            h.update(row.encode())
            h.update(b"\n")
    return h.hexdigest()


@dataclass
class _Workbook:
    outcomes: pd.DataFrame
    interventions: pd.DataFrame
    news: pd.DataFrame | None
    tags: pd.DataFrame | None

    def cities_with_programmes(self) -> list[str]:
        return list(dict.fromkeys(c for c in self.interventions["city"] if c.strip()))

    def types(self) -> list[str]:
        return list(dict.fromkeys(t for t in self.interventions["intervention"] if t.strip()))

    def city_news(self, city: str) -> pd.DataFrame | None:
        """The news the city report shows (the same linking rule as the report itself)."""
        from .news import news_for_city

        if self.news is None or self.tags is None:
            return self.news
        return news_for_city(self.news, self.tags, self.interventions, city)

    def intervention_news(self, kind: str) -> pd.DataFrame | None:
        from .news import news_for_intervention

        return None if self.news is None else news_for_intervention(self.news, kind)

    def city_slice_hash(self, city: str) -> str:
        programmes = self.interventions[self.interventions["city"] == city]
        return _hash_frames(
            ("outcomes", self.outcomes[self.outcomes["city"] == city]),
            ("interventions", programmes),
            ("news", self.city_news(city)),
            ("tags", self.tags),
        )

    def intervention_slice_hash(self, kind: str) -> str:
        cities = set(self.interventions.loc[self.interventions["intervention"] == kind, "city"])
        programmes = self.interventions[self.interventions["city"].isin(cities)]
        return _hash_frames(
            ("outcomes", self.outcomes[self.outcomes["city"].isin(cities)]),
            ("interventions", programmes),
            ("news", self.intervention_news(kind)),
            ("tags", self.tags),
        )


def _validate_once(data_dir: Path, out_dir: Path) -> None:
    """Validate the workbook before any report is planned, so bad input fails up front with
    every problem listed and no report written. A run folder remembers the hash of the last
    workbook (and library) it validated, so an unchanged rerun does not pay for it again."""
    from .data import INTERVENTIONS, OUTCOMES, TAGS, load_workbook

    digest = json.dumps({"data_hash": data_hash(data_dir), "library_hash": library_hash()})
    marker = Path(out_dir) / ".state" / "validated-workbook.json"
    if marker.exists() and marker.read_text(encoding="utf-8") == digest:
        return
    load_workbook(data_dir, require=(OUTCOMES, INTERVENTIONS, TAGS))
    marker.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(marker, digest)


def _load(data_dir: Path, out_dir: Path) -> _Workbook:
    data_dir = Path(data_dir)
    _validate_once(data_dir, out_dir)
    outcomes = _read_table(data_dir, "outcomes.csv", True)
    interventions = _read_table(data_dir, "interventions.csv", True)
    _require_columns(outcomes, data_dir / "outcomes.csv", ["city"])
    _require_columns(interventions, data_dir / "interventions.csv", ["city", "intervention"])
    return _Workbook(outcomes, interventions, _read_table(data_dir, "news.csv", False),
                     _read_table(data_dir, "tags.csv", False))


def data_hash(data_dir: Path) -> str:
    """Hash of every CSV file of the workbook (names and contents)."""
    h = hashlib.sha256()
    for path in sorted(Path(data_dir).glob("*.csv")):
        h.update(path.name.encode() + b"\0" + sha256_file(path).encode())
    return h.hexdigest()


def _notebook(notebooks_dir: Path, kind: str) -> tuple[str, str]:
    path = Path(notebooks_dir) / NOTEBOOK_FILES[kind]
    if not path.exists():
        raise RenderError(kind, f"notebook {path} does not exist")
    return str(path.resolve()), sha256_file(path)


def _city_job(wb: _Workbook, city: str, data_dir: Path, notebooks_dir: Path,
              formats: tuple[str, ...], page_size: str) -> ReportJob:
    notebook, nb_hash = _notebook(notebooks_dir, CITY)
    slug = slugify(city)
    types = wb.interventions.loc[wb.interventions["city"] == city, "intervention"]
    return ReportJob(
        id=f"{CITY}/{slug}", kind=CITY, name=city, slug=slug, notebook=notebook,
        parameters={"city": city, "data_dir": str(Path(data_dir).resolve())},
        interventions=tuple(dict.fromkeys(types)), input_hash=wb.city_slice_hash(city),
        notebook_hash=nb_hash, data_dir=str(Path(data_dir).resolve()), formats=formats,
        page_size=page_size)


def _intervention_job(wb: _Workbook, kind: str, slug: str, data_dir: Path,
                      notebooks_dir: Path, formats: tuple[str, ...],
                      page_size: str) -> ReportJob:
    notebook, nb_hash = _notebook(notebooks_dir, INTERVENTION)
    return ReportJob(
        id=f"{INTERVENTION}/{slug}", kind=INTERVENTION, name=kind, slug=slug,
        notebook=notebook,
        parameters={"intervention": kind, "data_dir": str(Path(data_dir).resolve())},
        interventions=(kind,), input_hash=wb.intervention_slice_hash(kind),
        notebook_hash=nb_hash, data_dir=str(Path(data_dir).resolve()), formats=formats,
        page_size=page_size)


def plan_batch(data_dir: Path, out_dir: Path, *, notebooks_dir: Path | None = None,
               formats: Sequence[str] = ("html", "pdf"), page_size: str = "A4",
               cities: Iterable[str] | None = None,
               interventions: Iterable[str] | None = None) -> list[ReportJob]:
    """One city report per city with a programme, one summary per intervention type.

    ``cities``/``interventions`` restrict the plan (unknown names raise ParameterError).
    Summaries whose slug collides with a city's get ``-summary`` appended.
    """
    notebooks_dir = Path(notebooks_dir) if notebooks_dir else default_notebooks_dir()
    formats = tuple(formats)
    wb = _load(Path(data_dir), Path(out_dir))
    all_cities = wb.cities_with_programmes()
    all_types = wb.types()
    chosen_cities = _choose(cities, all_cities, "city")
    chosen_types = _choose(interventions, all_types, "intervention")
    jobs = [_city_job(wb, c, data_dir, notebooks_dir, formats, page_size) for c in chosen_cities]
    used = {slugify(c) for c in all_cities}
    for kind in chosen_types:
        slug = slugify(kind)
        if slug in used:
            slug = f"{slug}-summary"
        jobs.append(_intervention_job(wb, kind, slug, data_dir, notebooks_dir, formats,
                                      page_size))
    for job in jobs:  # refuse anything that would land outside the run folder
        safe_join(Path(out_dir), job.slug, f"{job.slug}.html")
    return jobs


def _choose(wanted: Iterable[str] | None, available: list[str], what: str) -> list[str]:
    if wanted is None:
        return available
    chosen = list(wanted)
    for name in chosen:
        if name not in available:
            raise ParameterError(what, name, f"one of {available}")
    return chosen


# --------------------------------------------------------------------------- one job


def _relative_files(files: dict, run_dir: Path) -> dict[str, str]:
    return {fmt: Path(p).resolve().relative_to(run_dir.resolve()).as_posix()
            for fmt, p in files.items()}


def _entry(job: ReportJob, *, status: str, files: dict, timings: dict, error: str | None,
           findings: dict | None = None, reused: bool = False) -> dict:
    findings = findings or {}
    return {
        "id": job.id, "kind": job.kind, "name": job.name, "slug": job.slug,
        "interventions": list(job.interventions), "parameters": dict(job.parameters),
        "input_hash": job.input_hash, "notebook_hash": job.notebook_hash,
        "status": status, "reused": reused, "files": files, "timings": timings,
        "error": error,
        "key_findings": findings.get("key_findings", []),
        "estimates": findings.get("estimates", []),
        "headline": findings.get("headline"),
    }


def render_job(job: ReportJob, run_dir: Path, *, session=None, exporter=None,
               timeout_s: float = DEFAULT_TIMEOUT_S) -> dict:
    """Render one job into ``run_dir/<slug>/`` and return its manifest entry (never raises
    for a report's own failure: that is recorded in the entry)."""
    from .render import extract_findings, read_notebook, render_notebook

    run_dir = Path(run_dir)
    out_dir = safe_join(run_dir, job.slug)
    started = time.perf_counter()
    try:
        result = render_notebook(Path(job.notebook), job.parameters, out_dir, job.slug,
                                 formats=job.formats, timeout_s=timeout_s, kernel=session,
                                 exporter=exporter, title=job.title, page_size=job.page_size)
    except ImpactbookError as exc:
        files, findings = {}, None
        notebook = getattr(exc, "notebook", None)
        if notebook and Path(notebook).exists():
            files = _relative_files({"ipynb": notebook}, run_dir)
            try:
                findings = extract_findings(read_notebook(Path(notebook)))
            except RenderError:
                findings = None
        message = str(exc).split(": ", 1)[-1] if isinstance(exc, RenderError) else str(exc)
        return _entry(job, status="failed", files=files,
                      timings={"total_s": round(time.perf_counter() - started, 3)},
                      error=" ".join(message.split())[:500], findings=findings)
    return _entry(job, status="ok", files=_relative_files(result.files, run_dir),
                  timings=result.timings, error=None, findings=result.findings)


# --------------------------------------------------------------------------- run folder state


def _state_path(run_dir: Path, job: ReportJob) -> Path:
    return safe_join(Path(run_dir), STATE_DIR, f"{job.slug}.json")


def _read_state(run_dir: Path, job: ReportJob) -> dict | None:
    try:
        return json.loads(_state_path(run_dir, job).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _is_current(state: dict | None, job: ReportJob, run_dir: Path) -> bool:
    if not state or state.get("key") != job.key or state["entry"].get("status") != "ok":
        return False
    files = state["entry"].get("files", {})
    wanted = {"ipynb", *job.formats}
    return wanted <= set(files) and all((Path(run_dir) / f).exists() for f in files.values())


def _record(run_dir: Path, job: ReportJob, entry: dict) -> None:
    atomic_write_text(_state_path(run_dir, job),
                      json.dumps({"key": job.key, "entry": entry}, indent=1))


def _clean_partial_files(run_dir: Path) -> None:
    """Remove temp files a killed batch left behind (atomic writes never expose them)."""
    if not run_dir.exists():
        return
    for tmp in run_dir.rglob(".*.tmp"):
        tmp.unlink(missing_ok=True)


def build_manifest(run_dir: Path, jobs: Sequence[ReportJob], entries: dict[str, dict],
                   data_hash_value: str | None) -> dict:
    return {
        "run": Path(run_dir).resolve().name,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "impactbook_version": __version__,
        "data_hash": data_hash_value,
        "reports": [entries[job.id] for job in jobs if job.id in entries],
    }


def _write_manifest(run_dir: Path, manifest: dict) -> Path:
    path = Path(run_dir) / "manifest.json"
    atomic_write_text(path, json.dumps(manifest, indent=2, ensure_ascii=False))
    return path


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


# --------------------------------------------------------------------------- local workers


def _worker_main() -> None:
    """A long-lived worker (``python -m impactbook.batch``): import exporters once, keep one
    warm kernel, render the jobs the parent sends on stdin, answer on the original stdout.

    Workers are plain subprocesses rather than multiprocessing children so that they never
    re-import the caller's ``__main__`` (the CLI imports the whole library) and work from
    unguarded scripts too. Protocol: pickled tuples, one per message.
    """
    import pickle

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when we stop
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # stray prints (ours, libraries') must not corrupt the protocol
    requests = sys.stdin.buffer
    run_dir, kernel_name, page_sizes = pickle.load(requests)  # noqa: S301 - our parent

    # nbformat imports jsonschema, whose optional "iri" format checker imports rfc3987_syntax,
    # which builds a grammar parser at import: about 1 s of every worker's start-up. Notebook
    # validation never checks that format, so a worker goes without it.
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
    from .render import KernelSession, ReportExporter

    def send(message: tuple) -> None:
        pickle.dump(message, replies)
        replies.flush()

    session = KernelSession(kernel_name)
    try:
        session.begin_warm_up()  # the kernel boots and imports while we import the exporters
        exporters = {size: ReportExporter(size) for size in page_sizes}
        session.warm_up()
        # nbconvert, WeasyPrint and their caches live as long as the worker: keep the garbage
        # collector's full passes (~70 ms each, about one a report) from rescanning them.
        import gc

        gc.collect()
        gc.freeze()
        send(("ready", session.pid))
        while True:
            try:
                message = pickle.load(requests)  # noqa: S301 - our parent's pipe
            except EOFError:
                break
            if message is None:
                break
            job, timeout_s = message
            if session.km is None or not session.is_alive():
                session.replace()
            entry = render_job(job, Path(run_dir), session=session,
                               exporter=exporters[job.page_size], timeout_s=timeout_s)
            send(("done", entry, session.pid))
    finally:
        session.close()


class _Worker:
    def __init__(self, run_dir: Path, kernel_name: str, page_sizes: tuple[str, ...]):
        import pickle
        import subprocess

        self.process = subprocess.Popen(
            [sys.executable, "-m", "impactbook.batch"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, env=_worker_environment())
        pickle.dump((str(run_dir), kernel_name, page_sizes), self.process.stdin)
        self.process.stdin.flush()
        self.ready = False
        self.kernel_pid: int | None = None
        self.job: ReportJob | None = None
        self.deadline = 0.0
        self.started_job = 0.0

    @property
    def output(self):
        return self.process.stdout

    def receive(self):
        import pickle

        return pickle.load(self.process.stdout)  # noqa: S301 - our own worker's pipe

    def is_alive(self) -> bool:
        return self.process.poll() is None

    def send(self, job: ReportJob, timeout_s: float) -> None:
        import pickle

        self.job = job
        self.started_job = time.monotonic()
        self.deadline = self.started_job + timeout_s + EXPORT_GRACE_S
        pickle.dump((job, timeout_s), self.process.stdin)
        self.process.stdin.flush()

    def kill(self) -> None:
        for pid in (self.kernel_pid, self.process.pid):
            if pid:
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        self.process.wait(5)

    def request_stop(self) -> None:
        try:
            self.process.stdin.close()  # EOF: finish and shut the kernel down
        except OSError:
            pass

    def stop(self, timeout_s: float = 15) -> None:
        self.request_stop()
        try:
            self.process.wait(timeout_s)
        except Exception:  # noqa: BLE001 - subprocess.TimeoutExpired
            self.kill()
        for stream in (self.process.stdout,):
            stream.close()


def _worker_environment() -> dict[str, str]:
    from .render import kernel_environment

    env = kernel_environment()  # workers never need mail credentials either
    src = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    return env


def _run_local(jobs: list[ReportJob], run_dir: Path, workers: int, timeout_s: float,
               on_done, on_start, kernel_name: str = "python3") -> None:
    from multiprocessing.connection import wait

    page_sizes = tuple(sorted({job.page_size for job in jobs}))
    # Longest first, so no worker is left with a long job at the end while the others idle:
    # an intervention summary estimates every city of its type.
    pending = deque(sorted(jobs, key=lambda job: job.kind != INTERVENTION))
    startup_failures = 0
    pool = [_Worker(run_dir, kernel_name, page_sizes)
            for _ in range(max(1, min(workers, len(jobs))))]
    try:
        while pending or any(w.job for w in pool):
            for worker in pool:
                if worker.ready and worker.job is None and pending:
                    job = pending.popleft()
                    worker.send(job, timeout_s)
                    on_start(job)
            for handle in wait([w.output for w in pool if w.is_alive()], timeout=1.0):
                worker = next(w for w in pool if w.output is handle)
                try:
                    message = worker.receive()
                except (EOFError, OSError, ValueError):
                    worker.process.wait(5)
                    continue  # the death is handled below
                if message[0] == "ready":
                    worker.ready, worker.kernel_pid = True, message[1]
                elif message[0] == "done":
                    job, worker.job = worker.job, None
                    worker.kernel_pid = message[2]
                    on_done(job, message[1])
            now = time.monotonic()
            for i, worker in enumerate(pool):
                dead = not worker.is_alive()
                hung = worker.job is not None and now > worker.deadline
                if not (dead or hung):
                    continue
                if worker.job is None and dead and not pending:
                    continue
                if hung:
                    worker.kill()
                elif not worker.ready:
                    startup_failures += 1
                    if startup_failures > _MAX_STARTUP_FAILURES:
                        while pending:  # workers cannot even start: say so for every report
                            job = pending.popleft()
                            on_done(job, _entry(job, status="failed", files={}, timings={},
                                                error="worker process failed to start "
                                                      f"(exit code {worker.process.returncode})"))
                        continue
                job = worker.job
                if job is not None:
                    reason = ("hung past the timeout; worker killed" if hung
                              else "worker process died")
                    on_done(job, _entry(job, status="failed", files=_kept_notebook(run_dir, job),
                                        timings={"total_s": round(now - worker.started_job, 3)},
                                        error=reason))
                worker.stop(1)
                pool[i] = _Worker(run_dir, kernel_name, page_sizes)
    finally:
        for worker in pool:
            worker.request_stop()
        for worker in pool:
            worker.stop()


def _kept_notebook(run_dir: Path, job: ReportJob) -> dict:
    path = safe_join(Path(run_dir), job.slug, f"{job.slug}.failed.ipynb")
    return _relative_files({"ipynb": path}, run_dir) if path.exists() else {}


# --------------------------------------------------------------------------- dask

_DASK_STATE: dict = {}


def _dask_render(job: ReportJob, timeout_s: float) -> dict:
    """Runs on a Dask worker: render into a private folder, return entry and file bytes.

    The warm kernel and exporter live for the worker process's lifetime (one per process;
    a lock serialises threads of a multi-threaded worker). Returning bytes means the
    cluster needs the package and the workbook, but not a file system shared with the client.
    """
    import threading

    from .render import KernelSession, ReportExporter

    lock = _DASK_STATE.setdefault("lock", threading.Lock())
    with lock:
        session = _DASK_STATE.get("session")
        if session is None:
            session = _DASK_STATE["session"] = KernelSession()
        exporters = _DASK_STATE.setdefault("exporters", {})
        if job.page_size not in exporters:
            exporters[job.page_size] = ReportExporter(job.page_size)
        with tempfile.TemporaryDirectory(prefix="impactbook-dask-") as tmp:
            entry = render_job(job, Path(tmp), session=session,
                               exporter=exporters[job.page_size], timeout_s=timeout_s)
            blobs = {fmt: (Path(tmp) / rel).read_bytes() for fmt, rel in entry["files"].items()}
    return {"entry": entry, "files": blobs}


def _run_dask(jobs: list[ReportJob], run_dir: Path, scheduler: str | None, timeout_s: float,
              on_done, on_start) -> None:
    from distributed import Client, as_completed

    from .render import write_report_file

    if not scheduler:
        raise ParameterError("scheduler", scheduler, "a Dask scheduler address such as "
                                                     "tcp://127.0.0.1:8786")
    with Client(scheduler, timeout="30s") as client:
        futures = {}
        for job in jobs:
            future = client.submit(_dask_render, job, timeout_s, pure=False,
                                   key=f"impactbook-{job.slug}-{job.key[:12]}-{time.time_ns()}")
            futures[future] = job
            on_start(job)
        for future in as_completed(futures):
            job = futures[future]
            try:
                result = future.result(timeout=timeout_s + EXPORT_GRACE_S)
            except Exception as exc:  # noqa: BLE001 - a lost worker must not stop the batch
                on_done(job, _entry(job, status="failed", files={}, timings={},
                                    error=f"dask task failed: {' '.join(str(exc).split())}"))
                continue
            entry = result["entry"]
            for fmt, rel in entry["files"].items():
                write_report_file(safe_join(run_dir, *Path(rel).parts), result["files"][fmt])
            on_done(job, entry)


# --------------------------------------------------------------------------- run


def run_batch(jobs: Sequence[ReportJob], out_dir: Path, *, workers: int | None = None,
              force: bool = False, executor: str = "local", scheduler: str | None = None,
              timeout_s: float = DEFAULT_TIMEOUT_S, progress: bool = True,
              write_index_page: bool = True) -> BatchResult:
    """Render ``jobs`` into ``out_dir``; unchanged reports are reused unless ``force``.

    Returns a :class:`BatchResult`; ``result.exit_code`` is non-zero if any report failed.
    """
    from tqdm import tqdm

    from .index_page import write_index

    if executor not in ("local", "dask"):
        raise ParameterError("executor", executor, "local or dask")
    if workers is not None and workers < 1:
        raise ParameterError("workers", workers, "a positive number of worker processes")
    workers = workers or os.cpu_count() or 1
    started = time.perf_counter()
    run_dir = Path(out_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    _clean_partial_files(run_dir)
    jobs = list(jobs)
    data_hash_value = data_hash(Path(jobs[0].data_dir)) if jobs else None
    entries: dict[str, dict] = {}
    todo: list[ReportJob] = []
    for job in jobs:
        state = _read_state(run_dir, job)
        if not force and _is_current(state, job, run_dir):
            entries[job.id] = {**state["entry"], "reused": True}
        else:
            todo.append(job)
    result = BatchResult(run_dir=run_dir, manifest={}, elapsed_s=0.0, reused=len(entries))
    in_hand: dict[str, str] = {}
    bar = tqdm(total=len(jobs), initial=len(entries), disable=not progress, file=sys.stderr,
               unit="report", dynamic_ncols=True, desc="reports")

    def show() -> None:
        bar.set_description(f"reports ({result.rendered} new, {result.reused} unchanged, "
                            f"{len(result.failed)} failed)")
        bar.set_postfix_str(", ".join(in_hand.values())[:60], refresh=True)

    def on_start(job: ReportJob) -> None:
        in_hand[job.id] = job.name
        show()

    def on_done(job: ReportJob, entry: dict) -> None:
        in_hand.pop(job.id, None)
        entries[job.id] = entry
        _record(run_dir, job, entry)
        # The merged manifest is rewritten after every report, so a killed batch leaves a
        # manifest that is true for everything finished so far.
        _write_manifest(run_dir, build_manifest(run_dir, jobs, entries, data_hash_value))
        if entry["status"] == "ok":
            result.rendered += 1
        else:
            result.failed.append(entry)
        bar.update(1)
        show()

    show()
    try:
        if todo:
            if executor == "dask":
                _run_dask(todo, run_dir, scheduler, timeout_s, on_done, on_start)
            else:
                _run_local(todo, run_dir, workers, timeout_s, on_done, on_start)
    finally:
        bar.close()
    manifest = build_manifest(run_dir, jobs, entries, data_hash_value)
    _write_manifest(run_dir, manifest)
    if write_index_page:
        write_index(run_dir, manifest)
    result.manifest = manifest
    result.failed = [e for e in manifest["reports"] if e["status"] != "ok"]
    result.elapsed_s = round(time.perf_counter() - started, 3)
    return result


# --------------------------------------------------------------------------- CLI targets


def _render_single(job: ReportJob, out_dir: Path, timeout_s: float) -> dict:
    """Render one job in this process, record it in the run folder, rewrite manifest + index."""
    from .index_page import write_index
    from .render import KernelSession

    run_dir = Path(out_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    with KernelSession() as session:
        entry = render_job(job, run_dir, session=session, timeout_s=timeout_s)
    _record(run_dir, job, entry)
    # Keep whatever else this run folder already holds in its manifest.
    known = []
    for state_file in sorted((run_dir / STATE_DIR).glob("*.json")):
        try:
            known.append(json.loads(state_file.read_text(encoding="utf-8"))["entry"])
        except (OSError, ValueError, KeyError):
            continue
    known.sort(key=lambda e: (e["kind"] != CITY, e["name"]))
    manifest = build_manifest(run_dir, [], {}, data_hash(Path(job.data_dir)))
    manifest["reports"] = known
    _write_manifest(run_dir, manifest)
    write_index(run_dir, manifest)
    if entry["status"] != "ok":
        notebook = entry["files"].get("ipynb")
        raise RenderError(job.name, entry["error"] or "failed",
                          notebook=str(run_dir / notebook) if notebook else None)
    return entry


def render_city(data_dir: Path, city: str, out_dir: Path,
                formats: Sequence[str] = ("html", "pdf"), *, page_size: str = "A4",
                timeout_s: float = DEFAULT_TIMEOUT_S,
                notebooks_dir: Path | None = None) -> dict:
    """Render one city's report into ``out_dir/<slug>/``; returns its manifest entry.

    Raises ParameterError for a city not in the workbook, RenderError if the report fails
    (the executed notebook is kept and the failure recorded in the manifest and index).
    """
    wb = _load(Path(data_dir), Path(out_dir))
    known = sorted(set(wb.outcomes["city"]) | set(wb.interventions["city"]))
    if city not in known:
        raise ParameterError("city", city, f"a city in the workbook: {known}")
    job = _city_job(wb, city, Path(data_dir),
                    Path(notebooks_dir) if notebooks_dir else default_notebooks_dir(),
                    tuple(formats), page_size)
    return _render_single(job, out_dir, timeout_s)


def summarize_intervention(data_dir: Path, intervention: str, out_dir: Path,
                           formats: Sequence[str] = ("html", "pdf"), *, page_size: str = "A4",
                           timeout_s: float = DEFAULT_TIMEOUT_S,
                           notebooks_dir: Path | None = None) -> dict:
    """Render one intervention type's summary into ``out_dir/<slug>/``; returns its entry."""
    wb = _load(Path(data_dir), Path(out_dir))
    types = wb.types()
    if intervention not in types:
        raise ParameterError("intervention", intervention, f"an intervention type in "
                                                           f"interventions.csv: {types}")
    slug = slugify(intervention)
    if slug in {slugify(c) for c in wb.cities_with_programmes()}:
        slug = f"{slug}-summary"
    job = _intervention_job(wb, intervention, slug, Path(data_dir),
                            Path(notebooks_dir) if notebooks_dir else default_notebooks_dir(),
                            tuple(formats), page_size)
    return _render_single(job, out_dir, timeout_s)


def job_to_dict(job: ReportJob) -> dict:
    return asdict(job)


if __name__ == "__main__":
    _worker_main()
