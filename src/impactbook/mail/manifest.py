"""A run's ``manifest.json`` as the mailer reads it: which reports exist and in what state."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

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
        what = {"city": "city report", "intervention": "intervention summary"}.get(
            self.kind, f"{self.kind} report")
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
    """Read ``RUN_DIR/manifest.json`` into :class:`RunManifest`, refusing malformed entries."""
    run_dir = Path(run_dir)
    path = run_dir / "manifest.json"
    shown = str(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(Problem(shown, "no manifest.json in the run folder (run batch first)")) \
            from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(Problem(shown, f"not valid JSON: {exc}")) from None
    if not isinstance(raw, dict) or not isinstance(raw.get("reports"), list):
        raise DataError(Problem(shown, "expected an object with a 'reports' list"))
    run = one_line(raw.get("run") or run_dir.name)
    problems: list[Problem] = []
    reports: list[ReportEntry] = []
    for index, item in enumerate(raw["reports"]):
        where = f"reports[{index}]"
        if not isinstance(item, dict):
            problems.append(Problem(shown, f"{where}: expected an object"))
            continue
        missing = [k for k in ("id", "kind", "name", "status") if not item.get(k)]
        if missing:
            problems.append(Problem(shown, f"{where}: missing {', '.join(missing)}"))
            continue
        files = item.get("files") or {}
        hashes = item.get("sha256") or {}
        findings = item.get("key_findings") or []
        interventions = item.get("interventions") or []
        headline = item.get("headline") or {}
        estimates = item.get("estimates") or []
        if not isinstance(files, dict) or not isinstance(findings, list) \
                or not isinstance(interventions, list) or not isinstance(hashes, dict) \
                or not isinstance(headline, dict) or not isinstance(estimates, list):
            problems.append(Problem(shown, f"{where}: files and headline must be objects, "
                                           "key_findings, interventions and estimates lists"))
            continue
        programmes, pooled, unpooled = _pooling_of(estimates) if item["kind"] == "intervention" \
            else ((), (), ())
        name = one_line(item["name"])
        reports.append(ReportEntry(
            id=one_line(item["id"]), kind=one_line(item["kind"]), name=name,
            slug=slug_or_empty(item.get("slug") or name) or "report",
            status=one_line(item["status"]), input_hash=one_line(item.get("input_hash") or ""),
            interventions=tuple(one_line(i) for i in interventions),
            key_findings=tuple(one_line(f) for f in findings if one_line(f)),
            pdf=str(files["pdf"]) if files.get("pdf") else None,
            pdf_sha256=one_line(hashes.get("pdf") or ""),
            headline=one_line(headline.get("text") or ""),
            value_lines=tuple(one_line(v) for v in headline.get("value_for_money") or []
                              if isinstance(v, str) and one_line(v)),
            programmes=programmes, pooled_outcomes=pooled, unpooled_outcomes=unpooled,
        ))
    if problems:
        raise DataError(problems)
    return RunManifest(run=run, run_dir=run_dir, reports=tuple(reports))
