"""End-to-end runs on the embedded real data: the reports a funder reads, checked for content."""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from pypdf import PdfReader

from impactbook.analysis import run_estimate
from impactbook.render.batch import render_city, summarize_intervention
from impactbook.render.exporters.report import ReportExporter
from impactbook.render.kernel import KernelSession
from impactbook.render.notebook import render_notebook
from impactbook.workbook import load_workbook

from .conftest import ROOT

pytestmark = pytest.mark.slow
DATA = ROOT / "data"
NOTEBOOKS = ROOT / "notebooks"


def _pdf_text(path: Path) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(str(path)).pages)


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text)


@pytest.fixture(scope="module")
def new_york(tmp_path_factory):
    run = tmp_path_factory.mktemp("run")
    entry = render_city(DATA, "New York", run)
    return run, entry


def test_city_report_files_and_layout(new_york):
    run, entry = new_york
    assert entry["status"] == "ok", entry["error"]
    for suffix in ("ipynb", "html", "pdf"):
        assert (run / "new-york" / f"new-york.{suffix}").stat().st_size > 0
    manifest = json.loads((run / "manifest.json").read_text())
    assert [r["slug"] for r in manifest["reports"]] == ["new-york"]
    index = (run / "index.html").read_text()
    assert "new-york/new-york.html" in index
    # One input data hash: the manifest's, shown alike by the index and the report.
    shown = manifest["data_hash"][:12]
    assert f"<code>{shown}</code>" in index
    assert f"input data hash {shown}" in (run / "new-york" / "new-york.html").read_text()


def test_city_report_html_content(new_york):
    run, entry = new_york
    page = (run / entry["files"]["html"]).read_text(encoding="utf-8")
    text = html.unescape(re.sub(r"<[^>]+>", " ", page))
    assert "New York: programme evaluation report" in text
    for heading in ("Key findings", "Outcomes, one chart each", "Estimates", "News coverage",
                    "Methods and data notes", "Staggered rollout"):
        assert heading in text
    # Key findings first: before the first chart.
    assert text.index("Key findings") < text.index("Outcomes, one chart each")
    for sentence in entry["key_findings"]:
        assert _squash(sentence) in _squash(text)
    assert page.count("data:image/png;base64,") >= 8  # one chart per outcome, at least
    assert "<script" not in page.lower()
    assert "src=\"http" not in page and "src='http" not in page  # opens offline
    assert "jp-InputArea" not in page and "sections.show_" not in page  # no code cells
    assert "could not be produced" not in page
    # No Python object printed as it is (a notebook cell echoing its value), e.g. a result list.
    assert not re.search(r"\b[A-Z]\w+\((programme|city|estimate)=", text)
    assert "Why Do We Ignore Initiatives That Reduce Gun Violence?" in text  # via GVI
    assert "A Better Way to Deal With Intimate Partner Violence" not in text  # NY runs no IPVI


def test_city_report_numbers_equal_the_estimate_command(new_york):
    _, entry = new_york
    workbook = load_workbook(DATA)
    programmes = workbook.interventions[workbook.interventions["city"] == "New York"]
    published = {(e["programme_id"], e["outcome"], e["method"]): e for e in entry["estimates"]}
    checked = 0
    for programme in programmes.to_dict("records"):
        if programme["area"] == "rollout":  # its own section: tests/test_rollout_report.py
            continue
        for outcome in programme["outcomes"].split(";"):
            methods = ["its", "prepost"] + (["comparison"] if programme["comparison_areas"]
                                            else [])
            for method in methods:
                cli = subprocess.run(
                    [sys.executable, "-m", "impactbook.cli", "estimate", "--data", str(DATA),
                     "--city", "New York", "--area", programme["area"], "--outcome", outcome,
                     "--start", programme["start"], "--method", method, "--json"]
                    + (["--comparison-areas", programme["comparison_areas"]]
                       if method == "comparison" else []),
                    capture_output=True, text=True, check=True) if checked < 2 else None
                record = (json.loads(cli.stdout) if cli else run_estimate(DATA, dict(
                    city="New York", area=programme["area"], outcome=outcome,
                    start=programme["start"], method=method,
                    comparison_areas=programme["comparison_areas"] or None)).to_dict())
                in_report = dict(published[(programme["id"], outcome, method)])
                in_report.pop("programme_id")
                assert in_report == record
                checked += 1
    assert checked == 20


def test_city_report_pdf_is_readable(new_york):
    run, entry = new_york
    pdf = run / entry["files"]["pdf"]
    text = _squash(_pdf_text(pdf))
    assert "New York: programme evaluation report" in text
    assert "Key findings" in text and "Page 1 of" in text
    assert "Save Our Streets" in text


def test_intervention_summary_pools_cities(tmp_path):
    entry = summarize_intervention(DATA, "Group Violence Intervention", tmp_path)
    assert entry["status"] == "ok", entry["error"]
    page = (tmp_path / entry["files"]["html"]).read_text(encoding="utf-8")
    text = html.unescape(re.sub(r"<[^>]+>", " ", page))
    assert "Group Violence Intervention: results by programme" in text
    # Four programmes, but no outcome measured by three of them: nothing is pooled.
    assert "too few programmes to pool" in text and "I-squared" not in text
    for city in ("New York", "Chicago", "Philadelphia", "Baltimore"):
        assert city in text
    assert page.count("data:image/png;base64,") >= 2  # forest plot and news counts
    shown = json.loads((tmp_path / "manifest.json").read_text())["data_hash"][:12]
    assert f"input data hash {shown}" in text
    assert f"<code>{shown}</code>" in (tmp_path / "index.html").read_text()
    assert "Page 1 of" in _pdf_text(tmp_path / entry["files"]["pdf"])


def test_render_command_line_contract(tmp_path):
    out = tmp_path / "x"
    done = subprocess.run(
        [sys.executable, "-m", "impactbook.cli", "render", "--data", str(DATA), "--city",
         "Baltimore", "--out", str(out), "--formats", "html"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (out / "baltimore" / "baltimore.html").exists()
    assert (out / "baltimore" / "baltimore.ipynb").exists()
    assert not (out / "baltimore" / "baltimore.pdf").exists()
    bad = subprocess.run(
        [sys.executable, "-m", "impactbook.cli", "render", "--data", str(DATA), "--city",
         "Gotham", "--out", str(out)], capture_output=True, text=True)
    assert bad.returncode == 1 and "Gotham" in bad.stderr and "Traceback" not in bad.stderr
    assert not (out / "gotham").exists()


def _outputs(path: Path) -> list:
    nb = nbformat.read(str(path), as_version=4)
    return [(c.source, [o.get("data", {}).get("text/html", o.get("text", ""))
                        for o in c.get("outputs", [])]) for c in nb.cells]


def test_reused_kernel_renders_a_real_report_exactly_as_alone(tmp_path):
    """A report rendered after another one in the same warm kernel equals it rendered alone."""
    exporter = ReportExporter("A4")
    notebook = NOTEBOOKS / "city_report.ipynb"
    params = {"city": "Chicago", "data_dir": str(DATA)}
    with KernelSession() as alone:
        render_notebook(notebook, params, tmp_path / "alone", "chicago", formats=("html",),
                        kernel=alone, exporter=exporter)
    with KernelSession() as shared:
        render_notebook(notebook, {"city": "Baltimore", "data_dir": str(DATA),
                                   "post_periods": 12}, tmp_path / "first", "baltimore",
                        formats=("html",), kernel=shared, exporter=exporter)
        render_notebook(notebook, params, tmp_path / "after", "chicago", formats=("html",),
                        kernel=shared, exporter=exporter)
    assert _outputs(tmp_path / "after" / "chicago.ipynb") == _outputs(
        tmp_path / "alone" / "chicago.ipynb")


def test_parameters_and_templates_from_the_command_line(tmp_path):
    from impactbook.cli import main

    out = tmp_path / "run"
    argv = ["render", "--data", str(DATA), "--city", "Chicago", "--out", str(out),
            "--formats", "html"]
    assert main([*argv, "-p", "post_periods", "36"]) == 0
    nb = nbformat.read(str(out / "chicago" / "chicago.ipynb"), as_version=4)
    assert nb.metadata["impactbook"]["parameters"]["post_periods"] == 36
    page = (out / "chicago" / "chicago.html").read_text(encoding="utf-8")
    assert "in the 36 months from" in page and "in the 24 months from" not in page
    edited = nbformat.read(str(NOTEBOOKS / "city_report.ipynb"), as_version=4)
    edited.cells.append(nbformat.v4.new_markdown_cell("A note the city team added."))
    template = tmp_path / "ours" / "city_report.ipynb"
    template.parent.mkdir()
    nbformat.write(edited, str(template))
    assert main([*argv, "--template", str(template)]) == 0
    page = (out / "chicago" / "chicago.html").read_text(encoding="utf-8")
    assert "A note the city team added." in page and "in the 24 months from" in page
