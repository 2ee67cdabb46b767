"""Execute a report notebook with parameters and export it to ipynb, HTML and PDF.

The pieces are separable so that a batch worker can keep the expensive ones alive:

- :func:`validate_parameters` / :func:`parameterize` check values against the notebook's
  ``parameters`` cell and let papermill inject them;
- :class:`~impactbook.render.kernel.KernelSession` owns one warm kernel (loopback/IPC only, private
  connection file, no SMTP secrets in its environment) and resets it between reports so that
  output never depends on what ran before;
- :class:`~impactbook.render.exporters.report.ReportExporter` holds the report's nbconvert
  exporters (HTML: no code, no scripts, images embedded; PDF: that HTML paged by WeasyPrint);
- :func:`render_notebook` ties them together and writes every file atomically.

The kernel and export names are re-exported here, so ``from impactbook.render.notebook import ...``
keeps working for all of them.
"""

from __future__ import annotations

import contextlib
import copy
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from impactbook import __version__
from impactbook.defaults import DEFAULT_FORMATS, DEFAULT_TIMEOUT_S, SECTION_FAILURE_MIME
from impactbook.errors import ParameterError, RenderError
from impactbook.fsutil import atomic_path, sha256_bytes
from impactbook.render.exporters.report import ReportExporter
from impactbook.render.kernel import (
    KernelSession,
    execute,
)
from impactbook.render.parameters import parameter_defaults, validate_parameters

if TYPE_CHECKING:  # nbformat is imported where used, so a batch worker can start its kernel
    from nbformat import NotebookNode  # before it spends a second importing nbformat/jsonschema

FORMATS = ("ipynb", "html", "pdf")


def write_report_file(path: Path, data: bytes) -> None:
    """Atomically write ``data`` to ``path`` (modes as :func:`~impactbook.fsutil.atomic_path`)."""
    with atomic_path(Path(path)) as tmp:
        tmp.write_bytes(data)


def write_report_files(files: Mapping[Path, bytes], report: str) -> None:
    """Replace one report's files together, or none of them.

    Every file is written and synced to its temporary file before any is renamed into place,
    so a full disk (or any other write error) leaves all the previous files as they were.
    Raises :class:`RenderError` naming the file and the system's reason.
    """
    current: Path | None = None
    try:
        with contextlib.ExitStack() as stack:
            for current, data in files.items():
                tmp = stack.enter_context(atomic_path(Path(current)))
                tmp.write_bytes(data)
                with open(tmp, "rb+") as fh:  # a full disk may only say so here
                    os.fsync(fh.fileno())
            current = None
    except OSError as exc:
        what = Path(current).name if current else "the report files"
        raise RenderError(report, f"cannot write {what}: {exc.strerror or exc}") from None


@dataclass
class RenderResult:
    """What :func:`render_notebook` produced; paths are absolute."""

    slug: str
    files: dict[str, Path]
    timings: dict[str, float]
    findings: dict = field(default_factory=dict)
    # sha256 of each file's bytes as written: a batch record names exactly these files.
    hashes: dict[str, str] = field(default_factory=dict)

    @property
    def notebook(self) -> Path:
        return self.files["ipynb"]


# --------------------------------------------------------------------------- parameters


def parameter_names(nb: NotebookNode) -> set[str]:
    """Names assigned at top level in the notebook's cell tagged ``parameters``."""
    return set(parameter_defaults(nb))


def parameterize(nb: NotebookNode, parameters: Mapping[str, object],
                 kernel_name: str = "python3") -> NotebookNode:
    """Validate and inject ``parameters`` with papermill (a new ``injected-parameters`` cell)."""
    from papermill.parameterize import parameterize_notebook

    clean = validate_parameters(nb, parameters)
    nb = copy.deepcopy(nb)
    for cell in nb.cells:  # papermill expects every cell to carry a tags list
        cell.metadata.setdefault("tags", [])
    nb.metadata.setdefault("papermill", {})
    nb = parameterize_notebook(nb, clean, kernel_name=kernel_name,
                               language="python")
    nb.metadata["impactbook"] = {"version": __version__, "parameters": clean}
    return nb


# --------------------------------------------------------------------------- findings


def section_failures(nb: NotebookNode) -> list[str]:
    """``"'<section>': <error>"`` for every report section that could not be produced."""
    found = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            value = (output.get("data") or {}).get(SECTION_FAILURE_MIME)
            if isinstance(value, dict):
                found.append(f"{str(value.get('section'))!r}: {value.get('error')}")
    return found


def extract_findings(nb: NotebookNode, report: str, *, required: bool = False) -> dict:
    """The findings the notebook displayed (:class:`~impactbook.contracts.FindingsPayload`,
    as plain JSON; the last one wins). A malformed payload, or none when ``required``,
    raises :class:`RenderError`: a report without findings would reach the manifest, the
    index and the emails with nothing to say."""
    from pydantic import ValidationError

    from impactbook.contracts import FindingsPayload, notebook_findings, validation_problems

    try:
        found = notebook_findings(nb)
    except ValidationError as exc:
        problems = "; ".join(p.message for p in validation_problems(exc, "findings"))
        raise RenderError(report, f"its findings output is malformed ({problems})") from None
    except ValueError as exc:
        raise RenderError(report, f"its findings output is not JSON ({exc})") from None
    if found is None and required:
        raise RenderError(report, "the notebook displayed no findings (its key findings "
                                  "cell was deleted or did not run), so the manifest, the "
                                  "index and the emails would have nothing to report")
    return (found or FindingsPayload()).model_dump(mode="json")


# --------------------------------------------------------------------------- one report


def _normalise_formats(formats: Iterable[str]) -> tuple[str, ...]:
    wanted = tuple(dict.fromkeys(f.strip().lower() for f in formats if f.strip()))
    for fmt in wanted:
        if fmt not in FORMATS:
            raise ParameterError("formats", fmt, "ipynb, html or pdf")
    return wanted


def read_notebook(notebook: Path) -> NotebookNode:
    import nbformat

    try:
        return nbformat.read(str(notebook), as_version=4)
    except FileNotFoundError:
        raise RenderError(Path(notebook).stem, f"notebook {notebook} does not exist") from None
    except (ValueError, nbformat.ValidationError) as exc:
        raise RenderError(Path(notebook).stem, f"{notebook} is not a notebook ({exc})") from None


def failed_notebook_path(out_dir: Path, slug: str) -> Path:
    """Where a failed report's executed notebook is kept, apart from the last good files."""
    return Path(out_dir) / f"{slug}.failed.ipynb"


def render_notebook(notebook: Path, parameters: Mapping[str, object], out_dir: Path, slug: str,
                    formats: Iterable[str] = DEFAULT_FORMATS, timeout_s: float = DEFAULT_TIMEOUT_S,
                    kernel: KernelSession | None = None, *, exporter: ReportExporter | None = None,
                    title: str | None = None, page_size: str = "A4",
                    require_findings: bool = False) -> RenderResult:
    """Execute ``notebook`` with ``parameters`` and write ``out_dir/<slug>.{ipynb,html,pdf}``.

    Every file is written atomically. If execution or export fails, the executed notebook
    (with the error) is kept as ``<slug>.failed.ipynb`` beside the previous good files, which
    stay untouched, and :class:`RenderError` is raised with ``notebook`` set to its path.
    ``kernel`` and ``exporter`` let a caller reuse a
    warm kernel and a loaded exporter across reports; otherwise fresh ones are made.
    ``require_findings`` fails a notebook that displayed no findings payload (a report's
    key findings cell deleted, say) the same way.
    """
    import nbformat

    started = time.perf_counter()
    notebook = Path(notebook)
    out_dir = Path(out_dir)
    wanted = _normalise_formats(formats)
    title = title or slug
    nb = parameterize(read_notebook(notebook), parameters,
                      kernel_name=kernel.kernel_name if kernel else "python3")
    # The executed notebook carries its title, so `jupyter nbconvert --to impactbook_pdf` on it
    # makes the same document as the render.
    nb.metadata["title"] = title
    ipynb_path = out_dir / f"{slug}.ipynb"
    failed_path = failed_notebook_path(out_dir, slug)
    own_kernel = kernel is None
    session = kernel or KernelSession()
    timings: dict[str, float] = {}
    try:
        try:
            execute(nb, cwd=notebook.resolve().parent, timeout_s=timeout_s, session=session,
                    report=slug)
        except RenderError as error:
            try:
                write_report_files({failed_path: nbformat.writes(error.executed).encode("utf-8")},
                                   slug)
                error.notebook = str(failed_path)
            except RenderError:
                pass  # the report's own failure is the news; the notebook could not be kept
            raise
        finally:
            timings["execute_s"] = round(time.perf_counter() - started, 3)
    finally:
        if own_kernel:
            session.close()
    failures = section_failures(nb)
    if failures:  # the notebook ran, but a section (a chart, a table) is missing from it
        write_report_files({failed_path: nbformat.writes(nb).encode("utf-8")}, slug)
        raise RenderError(slug, "section " + "; ".join(failures)[:400] + " could not be "
                          "produced", notebook=str(failed_path))
    try:
        findings = extract_findings(nb, slug, required=require_findings)
    except RenderError as error:
        write_report_files({failed_path: nbformat.writes(nb).encode("utf-8")}, slug)
        error.notebook = str(failed_path)
        raise
    # Nothing is written until every export succeeded; then all files are replaced together.
    outputs = {ipynb_path: nbformat.writes(nb).encode("utf-8")}
    files = {"ipynb": ipynb_path}
    if "html" in wanted or "pdf" in wanted:
        exporter = exporter or ReportExporter(page_size)
        t0 = time.perf_counter()
        html_text = exporter.to_html(nb, title)
        timings["html_s"] = round(time.perf_counter() - t0, 3)
        pdf_bytes = None
        if "pdf" in wanted:
            t0 = time.perf_counter()
            try:
                pdf_bytes = exporter.to_pdf(html_text, out_dir)
            except Exception as exc:  # noqa: BLE001 - WeasyPrint raises many kinds
                write_report_files({failed_path: outputs[ipynb_path]}, slug)
                raise RenderError(slug, f"PDF export failed: {exc}",
                                  notebook=str(failed_path)) from exc
            timings["pdf_s"] = round(time.perf_counter() - t0, 3)
        if "html" in wanted:
            files["html"] = out_dir / f"{slug}.html"
            outputs[files["html"]] = html_text.encode("utf-8")
        if pdf_bytes is not None:
            files["pdf"] = out_dir / f"{slug}.pdf"
            outputs[files["pdf"]] = pdf_bytes
    write_report_files(outputs, slug)
    failed_path.unlink(missing_ok=True)  # an earlier failure is superseded
    timings["total_s"] = round(time.perf_counter() - started, 3)
    hashes = {fmt: sha256_bytes(outputs[path]) for fmt, path in files.items()}
    return RenderResult(slug=slug, files=files, timings=timings, findings=findings,
                        hashes=hashes)


