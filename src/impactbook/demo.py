"""``impactbook demo``: the embedded default workbook rendered end to end.

Validates the workbook, renders every city report and intervention summary
(batch, incremental), writes the index, and prepares the funders' dry-run
outbox. Returns the lines to print, so the CLI stays the only place that prints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from impactbook.render.batch import BatchResult, run_batch
from impactbook.render.plan import plan_batch
from impactbook.workbook import validate_workbook


@dataclass
class DemoResult:
    batch: BatchResult
    lines: list[str] = field(default_factory=list)
    is_success: bool = True


def batch_summary_lines(result: BatchResult) -> list[str]:
    reports = result.manifest.get("reports", [])
    lines = [f"{len(reports)} report(s): {result.rendered} rendered, {result.reused} unchanged "
             f"and reused, {len(result.failed)} failed, in {result.elapsed_s:.1f} s"]
    for entry in result.failed:
        lines.append(f"FAILED {entry['name']}: {entry.get('error') or 'see its notebook'}")
    lines.append(f"index:    {result.index_path}")
    lines.append(f"manifest: {result.manifest_path}")
    return lines


def run_demo(data_dir: Path, out_dir: Path, *, workers: int | None = None,
             progress: bool = True) -> DemoResult:
    from impactbook.mail.run import run_email  # here: `impactbook batch` needs no mail modules

    warnings = validate_workbook(data_dir)
    lines = [f"validated {data_dir}: every table is valid ({len(warnings)} warning(s))"]
    jobs = plan_batch(data_dir, out_dir)
    lines.append(f"rendering {len(jobs)} report(s) of {data_dir} into {out_dir} (HTML, PDF, "
                 "executed notebook)")
    batch = run_batch(jobs, out_dir, workers=workers, progress=progress)
    lines.extend(batch_summary_lines(batch))
    email = run_email(out_dir, data_dir)
    lines.append("funders' emails (dry run, nothing sent):")
    lines.extend(f"  {line}" for line in email.summary_lines())
    lines.append(f"open {batch.index_path} in a browser to read the reports")
    return DemoResult(batch=batch, lines=lines, is_success=batch.ok and email.ok)
