"""The report exporters are nbconvert exporters: registered, configured the nbconvert way, and
`jupyter nbconvert --to impactbook_pdf` makes the batch's document."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from impactbook.defaults import FINDINGS_MIME, SECTION_FAILURE_MIME

REPO = Path(__file__).resolve().parents[1]
JUPYTER = Path(sys.executable).with_name("jupyter")


def test_exporters_are_registered_entry_points():
    from nbconvert.exporters import get_exporter

    from impactbook.render.exporters.html import ReportHTMLExporter
    from impactbook.render.exporters.pdf import ReportPDFExporter

    assert get_exporter("impactbook_html") is ReportHTMLExporter
    assert get_exporter("impactbook_pdf") is ReportPDFExporter


def test_tag_remove_is_nbconverts_own_enabled_once():
    from impactbook.render.exporters.report import ReportExporter

    exporter = ReportExporter("A4")
    for one in (exporter.html_exporter, exporter.pdf_exporter):
        names = [type(p).__name__ for p in one._preprocessors]
        assert names.count("TagRemovePreprocessor") == 1
        enabled = [type(p).__name__ for p in one._preprocessors if p.enabled]
        assert {"TagRemovePreprocessor", "DropMachineOutputs", "TagFigures"} <= set(enabled)
    assert exporter.pdf_exporter.page_size == "A4"
    assert ReportExporter("Letter").pdf_exporter.page_size == "Letter"


def _notebook():
    v4 = nbformat.v4
    chart = v4.new_code_cell("plot()", outputs=[v4.new_output(
        "display_data", data={"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"})])
    payload = v4.new_code_cell("findings()", outputs=[
        v4.new_output("display_data", data={FINDINGS_MIME: {"key_findings": []},
                                            "text/plain": "0 key finding(s)"}),
        v4.new_output("display_data", data={SECTION_FAILURE_MIME: {"section": "S",
                                                                   "error": "E"},
                                            "text/plain": "section 'S' failed"}),
        v4.new_output("display_data", data={"text/plain": "kept"})])
    return v4.new_notebook(cells=[v4.new_markdown_cell("## Chart"), chart,
                                  v4.new_markdown_cell("Figure: a caption."), payload])


def test_preprocessors_tag_figures_and_drop_machine_outputs():
    from impactbook.render.preprocessors.figures import TagFigures
    from impactbook.render.preprocessors.machine_outputs import DropMachineOutputs

    nb, _ = DropMachineOutputs().preprocess(_notebook(), {})
    nb, _ = TagFigures().preprocess(nb, {})
    assert [c.metadata.get("tags", []) for c in nb.cells[:3]] == [
        ["ib-before-figure"], ["ib-figure"], ["ib-caption"]]
    assert [o["data"] for o in nb.cells[3].outputs] == [{"text/plain": "kept"}]


def _pages(pdf: bytes) -> int:
    from pypdf import PdfReader

    return len(PdfReader(io.BytesIO(pdf)).pages)


def _undated(html: str) -> str:
    return re.sub(r" on \d{4}-\d{2}-\d{2}\.", " on DATE.", html)


@pytest.mark.slow
def test_jupyter_nbconvert_makes_the_batchs_report(tmp_path):
    """Old code: nbconvert knew no impactbook exporter (`--to impactbook_pdf` was refused)."""
    from impactbook.render.batch import run_batch
    from impactbook.render.plan import plan_batch

    run = tmp_path / "run"
    jobs = plan_batch(REPO / "data", run, cities=["Baltimore"], interventions=[])
    result = run_batch(jobs, run, workers=1, progress=False)
    assert result.ok, result.failed
    folder = run / "baltimore"
    out = tmp_path / "converted"
    for fmt in ("impactbook_pdf", "impactbook_html"):
        subprocess.run([str(JUPYTER), "nbconvert", "--to", fmt, str(folder / "baltimore.ipynb"),
                        "--output-dir", str(out)], check=True, capture_output=True, text=True)
    converted_pdf = (out / "baltimore.pdf").read_bytes()
    batch_pdf = (folder / "baltimore.pdf").read_bytes()
    assert converted_pdf.startswith(b"%PDF") and _pages(converted_pdf) == _pages(batch_pdf) > 1
    converted_html = (out / "baltimore.html").read_text(encoding="utf-8")
    assert _undated(converted_html) == _undated(
        (folder / "baltimore.html").read_text(encoding="utf-8"))
    assert FINDINGS_MIME not in converted_html and "<script" not in converted_html
