"""A run's ``manifest.json`` as the mailer reads it: which reports exist and in what state."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

from impactbook.contracts import Manifest, ReportKind, read_document
from impactbook.errors import DataError, Problem
from impactbook.mail.text import one_line, slug_or_empty


@dataclass(frozen=True)
class ReportEntry:
    """The part of one manifest entry that mail needs."""

    id: str
    kind: str
    name: str
    slug: str
    status: str
    input_hash: str = ""
    interventions: tuple[str, ...] = ()
    key_findings: tuple[str, ...] = ()
    pdf: str | None = None
    pdf_sha256: str = ""  # as the run recorded it; planning fills in the file's own
    # What the email says of the report, as its findings gave it (never recomputed): the
    # one-line headline, and for a summary the (city, programme) pairs with an estimate and
    # the outcomes pooled and not pooled across them.
    headline: str = ""
    programmes: tuple[tuple[str, str], ...] = ()
    pooled_outcomes: tuple[str, ...] = ()
    unpooled_outcomes: tuple[str, ...] = ()
    #: The headline's value-for-money lines (one per costed programme x outcome, each naming
    #: its programme), as the report's page one and the index card say them.
    value_lines: tuple[str, ...] = ()

    @property
    def token(self) -> str:
        """Short stable key of this report version for the ledger: ``<report>.<version>``.

        The version covers the input data, the findings and the PDF's bytes, so a re-rendered
        report whose content changed is a new version (a funder gets it again, as a
        replacement), while an unchanged one keeps its token and is never sent twice.
        """
        version = json.dumps([self.id, self.input_hash, self.pdf_sha256,
                              list(self.key_findings)])
        return f"{report_key(self.id)}.{hashlib.sha256(version.encode()).hexdigest()[:16]}"

    @property
    def label(self) -> str:
        what = {ReportKind.CITY: "city report",
                ReportKind.INTERVENTION: "intervention summary"}.get(self.kind,
                                                                     f"{self.kind} report")
        return f"{self.name} ({what})"


def _pooling_of(estimates: list) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...],
                                         tuple[str, ...]]:
    """A summary's estimate rows: the (city, programme) pairs with an estimate, the outcomes
    pooled, and those no row enters a pooled estimate for."""
    rows = [row for row in estimates if isinstance(row, dict)]
    has_estimate = [row for row in rows if isinstance(row.get("rate_ratio"), (int, float))
                    and math.isfinite(row["rate_ratio"])]
    programmes = tuple(dict.fromkeys((one_line(row.get("city") or ""),
                                      one_line(row.get("programme") or ""))
                                     for row in has_estimate))
    pooled = {one_line(row.get("outcome") or "") for row in rows if row.get("in_pooled") is True}
    outcomes = dict.fromkeys(one_line(row.get("outcome") or "") for row in rows)
    return (programmes, tuple(o for o in outcomes if o and o in pooled),
            tuple(o for o in outcomes if o and o not in pooled))


def report_key(report_id: str) -> str:
    """The first part of every version token of one report (see :attr:`ReportEntry.token`)."""
    return hashlib.sha256(report_id.encode()).hexdigest()[:10]


@dataclass(frozen=True)
class RunManifest:
    run: str
    run_dir: Path
    reports: tuple[ReportEntry, ...]


def load_manifest(run_dir: Path) -> RunManifest:
    """Read ``RUN_DIR/manifest.json`` through :class:`~impactbook.contracts.Manifest` into
    :class:`RunManifest`, refusing malformed entries (every problem listed)."""
    run_dir = Path(run_dir)
    path = run_dir / "manifest.json"
    if not path.exists():
        raise DataError(Problem(str(path), "no manifest.json in the run folder (run batch "
                                           "first)"))
    manifest = read_document(Manifest, path)
    reports = []
    for item in manifest.reports:
        name = one_line(item.name)
        programmes, pooled, unpooled = (_pooling_of(item.estimates)
                                        if item.kind == ReportKind.INTERVENTION
                                        else ((), (), ()))
        reports.append(ReportEntry(
            id=one_line(item.id), kind=item.kind.value, name=name,
            slug=slug_or_empty(item.slug or name) or "report",
            status=item.status, input_hash=one_line(item.input_hash),
            interventions=tuple(one_line(i) for i in item.interventions),
            key_findings=tuple(one_line(f) for f in item.key_findings if one_line(f)),
            pdf=item.files.get("pdf") or None,
            pdf_sha256=one_line(item.sha256.get("pdf") or ""),
            headline=one_line((item.headline.text if item.headline else None) or ""),
            value_lines=tuple(one_line(v) for v in
                              ((item.headline.value_for_money if item.headline else None) or [])
                              if one_line(v)),
            programmes=programmes, pooled_outcomes=pooled, unpooled_outcomes=unpooled,
        ))
    return RunManifest(run=one_line(manifest.run or run_dir.name), run_dir=run_dir,
                       reports=tuple(reports))
