"""A run folder's records and manifest: the one writer of ``RUN/.state/*.json`` and
``RUN/manifest.json``.

``impactbook render``, ``summarize`` and ``batch`` all record a finished report here, and the
manifest is always built the same way from the records: every report recorded in the folder,
city reports first, then intervention summaries, each by name; ``data_hash`` is the digest
of the workbook the command rendered from. So the manifest does not depend on which command
last wrote the folder.

Run folder layout::

    RUN/manifest.json  RUN/index.html  RUN/<slug>/<slug>.{ipynb,html,pdf}  RUN/.state/<slug>.json
    RUN/.state/prepared/<digest>/ (workbook slices)  RUN/.state/estimates/<library>/<key>.json
"""

from __future__ import annotations

import datetime as _dt
import shutil
from collections.abc import Iterable
from pathlib import Path

from impactbook import __version__
from impactbook.contracts import (
    Manifest,
    ReportKind,
    ReportRecord,
    ReportState,
    document_text,
    read_document,
)
from impactbook.defaults import ESTIMATES_LOG_DIR
from impactbook.errors import DataError
from impactbook.fsutil import atomic_write_text, library_hash, safe_join

STATE_DIR = ".state"  # in a run folder: per-report records, prepared workbook slices
_KIND_ORDER = {kind: rank for rank, kind in enumerate(ReportKind)}


def report_order(record: ReportRecord) -> tuple:
    """Where a report stands in the manifest and the index: cities first, then by name."""
    return (_KIND_ORDER[record.kind], record.name.casefold(), record.name, record.id)


def estimates_folder(run_dir: Path) -> Path:
    """The run's estimate store (:mod:`impactbook.analysis.store`) for this code, kept across
    reruns: a rerun after one city's data changed reads every other city's estimates from it.
    One folder per library hash, so a code change leaves nothing behind (:func:`start_estimates`).
    """
    return safe_join(Path(run_dir), STATE_DIR, "estimates", library_hash()[:16])


def start_estimates(run_dir: Path) -> Path:
    """The store of a batch about to render: the stores of other code removed (their keys can
    never match again) and the store's log emptied, so it says what this run reused."""
    folder = estimates_folder(run_dir)
    if folder.parent.is_dir():
        for other in folder.parent.iterdir():
            if other != folder:
                shutil.rmtree(other, ignore_errors=True)
    shutil.rmtree(folder / ESTIMATES_LOG_DIR, ignore_errors=True)
    return folder


def state_path(run_dir: Path, slug: str) -> Path:
    return safe_join(Path(run_dir), STATE_DIR, f"{slug}.json")


def read_state(run_dir: Path, slug: str) -> ReportState | None:
    """The record of the report ``slug``, None when there is none or it is unreadable (the
    report is then rendered again)."""
    try:
        return read_document(ReportState, state_path(run_dir, slug))
    except DataError:
        return None


def build_manifest(run_dir: Path, records: Iterable[ReportRecord],
                   data_hash: str | None) -> Manifest:
    return Manifest(
        run=Path(run_dir).resolve().name,
        created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        impactbook_version=__version__, data_hash=data_hash,
        reports=sorted(records, key=report_order))


class RunFolder:
    """The records of one run folder, kept in memory while a command writes it.

    Opening reads every record once; :meth:`record` writes one report's record and then the
    manifest (both atomic), so a killed command leaves a manifest true for everything
    finished so far.
    """

    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        self._records: dict[str, ReportRecord] = {}
        folder = safe_join(self.run_dir, STATE_DIR)
        for path in sorted(folder.glob("*.json")) if folder.is_dir() else ():
            state = read_state(self.run_dir, path.stem)
            if state is not None:
                self._records[state.entry.id] = state.entry

    def record(self, key: str, record: ReportRecord) -> None:
        """Write ``record`` (rendered under reuse ``key``) as its report's state."""
        atomic_write_text(state_path(self.run_dir, record.slug),
                          document_text(ReportState(key=key, entry=record)))
        self._records[record.id] = record

    def keep(self, record: ReportRecord) -> None:
        """List ``record`` in the manifest as it is (a reused report: its state is current)."""
        self._records[record.id] = record

    def manifest(self, data_hash: str | None, *, pending: Iterable[str] = ()) -> Manifest:
        """The manifest of every recorded report, except ``pending`` ids (reports this
        command means to render and has not: their records are out of date)."""
        skipped = set(pending)
        return build_manifest(self.run_dir, [r for i, r in self._records.items()
                                             if i not in skipped], data_hash)

    def write_manifest(self, data_hash: str | None, *, pending: Iterable[str] = ()
                       ) -> Manifest:
        manifest = self.manifest(data_hash, pending=pending)
        atomic_write_text(self.run_dir / "manifest.json", document_text(manifest))
        return manifest


def read_manifest(run_dir: Path) -> Manifest:
    """``RUN/manifest.json`` as a :class:`Manifest`; :class:`DataError` naming what is wrong."""
    return read_document(Manifest, Path(run_dir) / "manifest.json")
