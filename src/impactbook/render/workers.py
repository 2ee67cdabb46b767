"""Render jobs: one job in this process (:func:`render_job`), or many on long-lived local
worker processes (:func:`run_local`).

Each worker is a plain subprocess started as ``python -m impactbook.render.workers`` (which
calls :func:`worker_main`); it imports nbconvert and WeasyPrint once and keeps a warm,
reset-between-reports kernel. Parent and worker talk with pickled tuples over pipes; a
finished report comes back as its :class:`~impactbook.contracts.ReportRecord`.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections import deque
from pathlib import Path

from impactbook.contracts import FindingsPayload, ReportRecord
from impactbook.defaults import DEFAULT_TIMEOUT_S
from impactbook.errors import ImpactbookError, RenderError
from impactbook.fsutil import safe_join
from impactbook.render.plan import ReportJob

# Beyond the per-report execution deadline, how long export may take before the worker is
# presumed hung and killed.
EXPORT_GRACE_S = 120
_MAX_STARTUP_FAILURES = 3


# --------------------------------------------------------------------------- one job


def _relative_files(files: dict, run_dir: Path) -> dict[str, str]:
    return {fmt: Path(p).resolve().relative_to(run_dir.resolve()).as_posix()
            for fmt, p in files.items()}


def job_record(job: ReportJob, *, status: str, files: dict, timings: dict, error: str | None,
               findings: FindingsPayload | None = None,
               hashes: dict | None = None) -> ReportRecord:
    """The record of ``job`` as rendered (``files`` relative to the run folder)."""
    findings = findings or FindingsPayload()
    return ReportRecord(
        id=job.id, kind=job.kind, name=job.name, slug=job.slug,
        interventions=list(job.interventions), parameters=dict(job.parameters),
        input_hash=job.input_hash, notebook_hash=job.notebook_hash, status=status,
        files=files, sha256=hashes or {}, timings=timings, error=error,
        key_findings=findings.key_findings, estimates=findings.estimates,
        headline=findings.headline)


def render_job(job: ReportJob, run_dir: Path, *, session=None, exporter=None,
               timeout_s: float = DEFAULT_TIMEOUT_S) -> ReportRecord:
    """Render one job into ``run_dir/<slug>/`` and return its record (never raises for a
    report's own failure: that is recorded, as is a report that displayed no findings)."""
    from impactbook.contracts import notebook_findings
    from impactbook.render.notebook import read_notebook, render_notebook

    run_dir = Path(run_dir)
    started = time.perf_counter()
    try:
        out_dir = safe_join(run_dir, job.slug)  # a link planted since planning is refused
        result = render_notebook(Path(job.notebook), job.parameters, out_dir, job.slug,
                                 formats=job.formats, timeout_s=timeout_s, kernel=session,
                                 exporter=exporter, title=job.title, page_size=job.page_size,
                                 require_findings=True)
    except ImpactbookError as exc:
        files, findings = {}, None
        notebook = getattr(exc, "notebook", None)
        if notebook and Path(notebook).exists():
            files = _relative_files({"ipynb": notebook}, run_dir)
            try:
                findings = notebook_findings(read_notebook(Path(notebook)))
            except (RenderError, ValueError):
                findings = None
        message = str(exc).split(": ", 1)[-1] if isinstance(exc, RenderError) else str(exc)
        return job_record(job, status="failed", files=files,
                          timings={"total_s": round(time.perf_counter() - started, 3)},
                          error=" ".join(message.split())[:500], findings=findings)
    return job_record(job, status="ok", files=_relative_files(result.files, run_dir),
                      timings=result.timings, error=None,
                      findings=FindingsPayload.model_validate(result.findings),
                      hashes=result.hashes)


# --------------------------------------------------------------------------- local workers


def worker_main() -> None:
    """A long-lived worker (``python -m impactbook.render.workers``): import exporters once,
    keep one warm kernel, render the jobs the parent sends on stdin, answer on the original stdout.

    Workers are plain subprocesses rather than multiprocessing children so that they never
    re-import the caller's ``__main__`` (the CLI imports the whole library) and work from
    unguarded scripts too. Protocol: pickled tuples, one per message.
    """
    import pickle

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when we stop
    _die_with_parent()
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # stray prints (ours, libraries') must not corrupt the protocol
    requests = sys.stdin.buffer
    run_dir, kernel_name, page_sizes, parent_pid = pickle.load(requests)  # noqa: S301
    _watch_parent(parent_pid)

    # nbformat imports jsonschema, whose optional "iri" format checker imports rfc3987_syntax,
    # which builds a grammar parser at import: about 1 s of every worker's start-up. Notebook
    # validation never checks that format, so a worker goes without it.
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
    from impactbook.memory import release_unused_memory
    from impactbook.render.exporters.report import ReportExporter
    from impactbook.render.kernel import KernelSession

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
            release_unused_memory()  # the report's notebook, HTML and PDF, while it waits
    finally:
        session.close()


_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
_PARENT_POLL_S = 0.2


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this worker the moment the batch that started it dies.

    A worker outliving its batch would finish the report in hand and write its files after
    nothing is left to record them (a ``timeout`` or a CI cancel stops only the parent), so
    the next run would reuse files the manifest does not describe.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # no prctl: the parent watch below still applies
        pass


def _watch_parent(parent_pid: int) -> None:
    """Exit at once when the parent is gone (other systems, and a parent that died before
    :func:`_die_with_parent` ran): a thread polls our parent's pid."""
    import threading

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(_PARENT_POLL_S)
        os._exit(1)

    if os.getppid() != parent_pid:
        os._exit(1)
    threading.Thread(target=watch, name="impactbook-parent-watch", daemon=True).start()


class _Worker:
    def __init__(self, run_dir: Path, kernel_name: str, page_sizes: tuple[str, ...],
                 prepared: Path | None = None):
        import pickle
        import subprocess

        # A session of its own: Ctrl-C at the terminal reaches only the batch, which stops
        # its workers itself (they and their kernels never see the signal mid-report).
        self.process = subprocess.Popen(
            [sys.executable, "-m", "impactbook.render.workers"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, env=_worker_environment(prepared, run_dir),
            start_new_session=True)
        pickle.dump((str(run_dir), kernel_name, page_sizes, os.getpid()), self.process.stdin)
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


def _worker_environment(prepared: Path | None = None,
                        run_dir: Path | None = None) -> dict[str, str]:
    from impactbook.defaults import ESTIMATES_ENV
    from impactbook.render.kernel import kernel_environment
    from impactbook.render.run_folder import estimates_folder
    from impactbook.workbook.prepared import PREPARED_ENV

    env = kernel_environment()  # workers never need mail credentials either
    env.pop(PREPARED_ENV, None)
    env.pop(ESTIMATES_ENV, None)
    if prepared is not None:  # the kernels inherit it: reports read their prepared slices
        env[PREPARED_ENV] = str(Path(prepared).resolve())
    if run_dir is not None:  # and the run's estimates: each computed once per run
        env[ESTIMATES_ENV] = str(estimates_folder(run_dir).resolve())
    src = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    return env


def run_local(jobs: list[ReportJob], run_dir: Path, workers: int, timeout_s: float,
               on_done, on_start, kernel_name: str = "python3",
               prepared: Path | None = None) -> None:
    from multiprocessing.connection import wait

    page_sizes = tuple(sorted({job.page_size for job in jobs}))
    pending = deque(jobs)  # in the caller's order (the batch hands out the longest first)
    startup_failures = 0
    pool = [_Worker(run_dir, kernel_name, page_sizes, prepared)
            for _ in range(max(1, min(workers, len(jobs))))]
    try:
        while pending or any(w.job for w in pool):
            for worker in pool:
                if worker.ready and worker.job is None and pending:
                    job = pending.popleft()
                    on_start(job)  # first: it notes the input data the report will read
                    worker.send(job, timeout_s)
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
                            on_done(job, job_record(
                                job, status="failed", files={}, timings={},
                                error="worker process failed to start "
                                      f"(exit code {worker.process.returncode})"))
                        continue
                job = worker.job
                if job is not None:
                    reason = ("hung past the timeout; worker killed" if hung
                              else "worker process died")
                    on_done(job, job_record(
                        job, status="failed", files=_kept_notebook(run_dir, job),
                        timings={"total_s": round(now - worker.started_job, 3)}, error=reason))
                worker.stop(1)
                pool[i] = _Worker(run_dir, kernel_name, page_sizes, prepared)
    except KeyboardInterrupt:
        for worker in pool:  # a report in hand is abandoned at once, never half-recorded
            if worker.job is not None or not worker.ready:
                worker.kill()
        raise
    finally:
        for worker in pool:
            worker.request_stop()
        for worker in pool:
            worker.stop()


def _kept_notebook(run_dir: Path, job: ReportJob) -> dict:
    path = safe_join(Path(run_dir), job.slug, f"{job.slug}.failed.ipynb")
    return _relative_files({"ipynb": path}, run_dir) if path.exists() else {}


if __name__ == "__main__":
    worker_main()
