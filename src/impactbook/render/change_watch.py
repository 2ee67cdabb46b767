"""Whether the workbook changed under a render: a report is recorded under the key of the
data it was rendered from, never under data it may not have read."""

from __future__ import annotations

from pathlib import Path

from impactbook.errors import DataError
from impactbook.render.fingerprints import (
    PlanningWorkbook,
    load_for_planning,
    workbook_signature,
)
from impactbook.render.plan import CITY, ReportJob


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
        self._workbook: PlanningWorkbook | None = None
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
