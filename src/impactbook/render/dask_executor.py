"""``batch --executor dask``: the same plan rendered on a Dask cluster.

Each task renders one report in a worker's own warm kernel and returns the files' bytes, so
the cluster needs the package and the workbook but no file system shared with the client.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from impactbook.errors import ParameterError
from impactbook.fsutil import safe_join
from impactbook.render.plan import ReportJob
from impactbook.render.workers import EXPORT_GRACE_S, _entry, render_job

# One warm kernel and exporter per Dask worker process, for the process's lifetime.
_DASK_STATE: dict = {}


def _render_on_worker(job: ReportJob, timeout_s: float) -> dict:
    """Runs on a Dask worker: render into a private folder, return entry and file bytes.

    The warm kernel and exporter live for the worker process's lifetime (one per process;
    a lock serialises threads of a multi-threaded worker). Returning bytes means the
    cluster needs the package and the workbook, but not a file system shared with the client.
    """
    import threading

    from impactbook.render.export import ReportExporter
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
            blobs = {fmt: (Path(tmp) / rel).read_bytes() for fmt, rel in entry["files"].items()}
    return {"entry": entry, "files": blobs}


def run_on_dask(jobs: list[ReportJob], run_dir: Path, scheduler: str | None, timeout_s: float,
              on_done, on_start) -> None:
    from distributed import Client, as_completed

    from impactbook.render.notebook import write_report_file

    if not scheduler:
        raise ParameterError("scheduler", scheduler, "a Dask scheduler address such as "
                                                     "tcp://127.0.0.1:8786")
    with Client(scheduler, timeout="30s") as client:
        futures = {}
        for job in jobs:
            on_start(job)  # first: it notes the input data the report will read
            future = client.submit(_render_on_worker, job, timeout_s, pure=False,
                                   key=f"impactbook-{job.slug}-{job.key[:12]}-{time.time_ns()}")
            futures[future] = job
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
