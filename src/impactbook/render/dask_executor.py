"""``batch --executor dask``: the same plan rendered on a Dask cluster.

Each task renders one report in a worker's own warm kernel and returns the files' bytes, so
the cluster needs the package and the workbook but no file system shared with the client.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from impactbook.errors import ClusterError, ParameterError
from impactbook.fsutil import safe_join
from impactbook.render.plan import ReportJob
from impactbook.render.workers import EXPORT_GRACE_S, job_record, render_job

# How long connecting to the scheduler and a first worker joining it may take, and how much
# longer than one report's deadline the batch waits for the next report to finish.
WORKER_WAIT_S = 60.0
# One warm kernel and exporter per Dask worker process, for the process's lifetime.
_DASK_STATE: dict = {}


def _render_on_worker(job: ReportJob, timeout_s: float) -> dict:
    """Runs on a Dask worker: render into a private folder, return entry and file bytes.

    The warm kernel and exporter live for the worker process's lifetime (one per process;
    a lock serialises threads of a multi-threaded worker). Returning bytes means the
    cluster needs the package and the workbook, but not a file system shared with the client.
    """
    import threading

    from impactbook.render.exporters.report import ReportExporter
    from impactbook.render.kernel import KernelSession

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
            blobs = {fmt: (Path(tmp) / rel).read_bytes() for fmt, rel in entry.files.items()}
    return {"entry": entry, "files": blobs}


def check_scheduler_address(address: str | None) -> str:
    """``address`` if it is a Dask scheduler address (``tcp://host:port``, ``host:port``,
    ``tls://...``); else :class:`ParameterError` naming ``--scheduler``, before any connection
    is tried (a malformed one otherwise fails deep inside the client)."""
    from distributed.comm.addressing import get_address_host_port

    expected = "a Dask scheduler address such as tcp://127.0.0.1:8786"
    if not address:
        raise ParameterError("scheduler", address, f"{expected} with --executor dask")
    try:
        host, port = get_address_host_port(address)
    except ValueError as exc:
        raise ParameterError("scheduler", address, f"{expected} ({exc})") from None
    if not host or any(ch.isspace() for ch in host) or not 0 < port < 65536:
        raise ParameterError("scheduler", address, f"{expected} (a host name and a port "
                                                   "from 1 to 65535)")
    return address


def run_on_dask(jobs: list[ReportJob], run_dir: Path, scheduler: str | None, timeout_s: float,
                on_done, on_start, *, worker_wait_s: float = WORKER_WAIT_S) -> None:
    """Render ``jobs`` on the cluster at ``scheduler``; every wait has a deadline.

    Connecting and a first worker joining must take at most ``worker_wait_s`` (else
    :class:`ClusterError` naming the scheduler, before any report is started). Then the
    reports still waiting are recorded as failed, instead of being waited for forever, when
    the scheduler has had no worker for ``worker_wait_s`` (all left), or no report finished
    for ``timeout_s + EXPORT_GRACE_S + worker_wait_s`` (a render is killed at its own
    deadline, so a longer silence means the workers hung).
    """
    from distributed import Client

    check_scheduler_address(scheduler)
    try:
        client = Client(scheduler, timeout=f"{worker_wait_s}s")
    except (OSError, TimeoutError) as exc:
        raise ClusterError(scheduler, f"cannot be reached within {worker_wait_s:g} s "
                           f"({' '.join(str(exc).split())})") from None
    with client:
        try:
            client.wait_for_workers(1, timeout=worker_wait_s)
        except TimeoutError:
            raise ClusterError(scheduler, f"no worker joined within {worker_wait_s:g} s; start "
                               f"workers (dask worker {scheduler}) or name another "
                               "scheduler") from None
        futures = {}
        for job in jobs:
            on_start(job)  # first: it notes the input data the report will read
            future = client.submit(_render_on_worker, job, timeout_s, pure=False,
                                   key=f"impactbook-{job.slug}-{job.key[:12]}-{time.time_ns()}")
            futures[future] = job
        _collect(client, scheduler, futures, run_dir, on_done,
                 silence_s=timeout_s + EXPORT_GRACE_S + worker_wait_s,
                 worker_wait_s=worker_wait_s)


def _collect(client, scheduler: str, futures: dict, run_dir: Path, on_done, *,
             silence_s: float, worker_wait_s: float) -> None:
    """Record each report as it finishes; give up on the rest when the scheduler has had no
    worker for ``worker_wait_s``, or no report finished for ``silence_s``."""
    from distributed import wait

    pending = set(futures)
    last_done = time.monotonic()
    no_workers_since: float | None = None
    while pending:
        try:
            done, pending = wait(pending, timeout=worker_wait_s, return_when="FIRST_COMPLETED")
        except TimeoutError:
            now = time.monotonic()
            workers = len(client.scheduler_info().get("workers", {}))
            no_workers_since = (no_workers_since or now) if workers == 0 else None
            if no_workers_since is not None and now - no_workers_since >= worker_wait_s:
                why = (f"the Dask scheduler {scheduler} has had no worker for "
                       f"{worker_wait_s:g} s")
            elif now - last_done >= silence_s:
                why = (f"no report finished within {silence_s:g} s on the Dask scheduler "
                       f"{scheduler} ({workers} worker(s))")
            else:
                continue
            client.cancel(list(pending))
            for future in pending:
                job = futures[future]
                on_done(job, job_record(job, status="failed", files={}, timings={}, error=why))
            return
        last_done = time.monotonic()
        for future in done:
            _finish(futures[future], future, run_dir, on_done)


def _finish(job: ReportJob, future, run_dir: Path, on_done) -> None:
    """Write one finished report's files into the run folder and record it."""
    from impactbook.render.notebook import write_report_file

    try:
        result = future.result()
    except Exception as exc:  # noqa: BLE001 - a lost worker must not stop the batch
        on_done(job, job_record(job, status="failed", files={}, timings={},
                                error=f"dask task failed: {' '.join(str(exc).split())}"))
        return
    entry = result["entry"]
    for fmt, rel in entry.files.items():
        write_report_file(safe_join(run_dir, *Path(rel).parts), result["files"][fmt])
    on_done(job, entry)
