"""Rendering one notebook: parameters, execution faults, kernel isolation, exports, index."""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

import nbformat
import pytest
from pypdf import PdfReader

from impactbook.defaults import FINDINGS_MIME
from impactbook.errors import ParameterError, RenderError
from impactbook.render.exporters.report import ReportExporter
from impactbook.render.kernel import KernelSession
from impactbook.render.notebook import parameter_names, render_notebook, validate_parameters
from impactbook.report.index_page import render_index, write_index

NOTEBOOKS = Path(__file__).parent / "fixtures" / "notebooks"
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def session():
    with KernelSession() as ks:
        yield ks


@pytest.fixture(scope="module")
def exporter():
    return ReportExporter("A4")


@pytest.fixture(scope="module")
def good_render(tmp_path_factory, session, exporter):
    out = tmp_path_factory.mktemp("good")
    result = render_notebook(NOTEBOOKS / "good.ipynb", {"city": "Gotham <City>"}, out, "gotham",
                             kernel=session, exporter=exporter, title="Gotham report")
    return out, result


def _probe(path: Path) -> dict:
    nb = nbformat.read(str(path), as_version=4)
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            text = output.get("text", "")
            if output.get("output_type") == "stream" and '"linewidth"' in text:
                return json.loads(text)
    raise AssertionError("probe output missing")


def _stable_outputs(path: Path) -> list:
    """Every cell's outputs with volatile fields (ids, timings, image bytes) stripped."""
    nb = nbformat.read(str(path), as_version=4)
    cells = []
    for cell in nb.cells:
        outs = []
        for output in cell.get("outputs", []):
            output = dict(output)
            output.pop("metadata", None)
            data = dict(output.get("data", {}))
            for key in list(data):
                if key.startswith("image/"):
                    data[key] = len(data[key]) > 0  # PNG bytes carry no timestamp but may vary
            output["data"] = data
            outs.append(output)
        cells.append((cell.cell_type, cell.source, cell.get("execution_count"), outs))
    return cells


# --------------------------------------------------------------------------- parameters


def test_parameter_names_read_from_the_parameters_cell():
    nb = nbformat.read(str(NOTEBOOKS / "good.ipynb"), as_version=4)
    assert parameter_names(nb) == {"city", "data_dir", "n_periods", "interventions"}


@pytest.mark.parametrize("params, bad", [
    ({"town": "X"}, "town"),
    ({"city": {"nested": 1}}, "city"),
    ({"city": float("nan")}, "city"),
    ({"interventions": [["a"]]}, "interventions"),
    ({"__import__('os')": 1}, "__import__('os')"),
])
def test_bad_parameters_are_refused_before_papermill(params, bad):
    nb = nbformat.read(str(NOTEBOOKS / "good.ipynb"), as_version=4)
    with pytest.raises(ParameterError) as info:
        validate_parameters(nb, params)
    assert info.value.parameter == bad


def test_good_parameters_pass_as_plain_json():
    nb = nbformat.read(str(NOTEBOOKS / "good.ipynb"), as_version=4)
    clean = validate_parameters(nb, {"city": "A", "n_periods": 3, "interventions": ("x", None)})
    assert clean == {"city": "A", "n_periods": 3, "interventions": ["x", None]}


# --------------------------------------------------------------------------- good render


def test_render_writes_three_files_and_injects_parameters(good_render):
    out, result = good_render
    assert {p.name for p in out.iterdir()} == {"gotham.ipynb", "gotham.html", "gotham.pdf"}
    nb = nbformat.read(str(result.notebook), as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and "Gotham <City>" in injected[0].source
    assert set(result.timings) == {"execute_s", "html_s", "pdf_s", "total_s"}


def test_findings_are_extracted(good_render):
    _, result = good_render
    assert result.findings["key_findings"] == [
        "Gotham <City>: shootings fell 20% (95% CI -35% to -2%)"]
    assert result.findings["headline"]["percent_change"] == -20.0
    assert result.findings["estimates"][0]["rate_ratio"] == 0.8


def test_html_has_no_code_no_scripts_and_embedded_images(good_render):
    out, _ = good_render
    text = (out / "gotham.html").read_text(encoding="utf-8")
    assert "<script" not in text.lower()
    assert not re.search(r"""(src|href)=["']https?://""", text)
    assert "import matplotlib" not in text and "plt.subplots" not in text  # no code cells
    assert "In&nbsp;[" not in text and "jp-InputPrompt\"" not in text
    assert "data:image/png;base64," in text
    assert "Gotham" in text and "<city>" not in text.lower()
    assert FINDINGS_MIME not in text
    assert 'class="ib-wide"' in text  # the 12-column table is set smaller to fit the page
    assert "ib-figure" in text and "ib-caption" in text


def test_pdf_is_paged_numbered_and_text_extractable(good_render):
    out, _ = good_render
    reader = PdfReader(str(out / "gotham.pdf"))
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert "Fixture report" in text and "Gotham" in text
    assert f"Page 1 of {len(reader.pages)}" in text
    width, height = (float(v) for v in reader.pages[0].mediabox[2:])
    assert abs(width - 595.3) < 1 and abs(height - 841.9) < 1  # A4 portrait
    # One orientation per report: the wide table is fitted to the portrait page, not rotated,
    # and none of its columns is cut off at the edge.
    assert all(float(p.mediabox[2]) < float(p.mediabox[3]) for p in reader.pages)
    assert all(f"col{i}" in text for i in range(12))


def test_letter_page_size(tmp_path, session):
    result = render_notebook(NOTEBOOKS / "good.ipynb", {}, tmp_path, "letter", formats=["pdf"],
                             kernel=session, page_size="Letter")
    page = PdfReader(str(result.files["pdf"])).pages[0]
    assert (round(float(page.mediabox[2])), round(float(page.mediabox[3]))) == (612, 792)
    assert "html" not in result.files


def test_bad_page_size_is_a_parameter_error():
    with pytest.raises(ParameterError):
        ReportExporter("A3")


# --------------------------------------------------------------------------- faults


def test_failing_notebook_keeps_executed_notebook_and_previous_exports(tmp_path, session,
                                                                        exporter):
    render_notebook(NOTEBOOKS / "good.ipynb", {}, tmp_path, "report", kernel=session,
                    exporter=exporter)
    before = {name: (tmp_path / f"report.{name}").read_bytes() for name in ("html", "pdf",
                                                                          "ipynb")}
    with pytest.raises(RenderError) as info:
        render_notebook(NOTEBOOKS / "raises.ipynb", {"city": "Metropolis"}, tmp_path, "report",
                        kernel=session, exporter=exporter)
    assert "ValueError" in str(info.value) and "boom on purpose in Metropolis" in str(info.value)
    kept = Path(info.value.notebook)
    assert kept == tmp_path / "report.failed.ipynb"
    nb = nbformat.read(str(kept), as_version=4)
    assert "impactbook-error" in nb.cells[0].metadata["tags"]
    assert any(o.get("output_type") == "error" for c in nb.cells for o in c.get("outputs", []))
    for name, content in before.items():  # the last good report is untouched, not half-written
        assert (tmp_path / f"report.{name}").read_bytes() == content
    assert not list(tmp_path.glob(".*.tmp"))
    render_notebook(NOTEBOOKS / "good.ipynb", {}, tmp_path, "report", kernel=session,
                    exporter=exporter)
    assert not kept.exists()  # a later success supersedes the failure


def test_failed_render_of_new_report_writes_no_exports(tmp_path, session, exporter):
    with pytest.raises(RenderError):
        render_notebook(NOTEBOOKS / "raises.ipynb", {}, tmp_path, "x", kernel=session,
                        exporter=exporter)
    assert [p.name for p in tmp_path.iterdir()] == ["x.failed.ipynb"]


def test_timeout_fails_the_report_and_replaces_the_kernel(tmp_path, session, exporter):
    old_pid = session.pid
    with pytest.raises(RenderError, match="timed out after 3 s"):
        render_notebook(NOTEBOOKS / "sleeps.ipynb", {"seconds": 60}, tmp_path, "slow",
                        kernel=session, exporter=exporter, timeout_s=3)
    assert session.pid != old_pid and session.is_alive()
    result = render_notebook(NOTEBOOKS / "good.ipynb", {}, tmp_path, "after", kernel=session,
                             exporter=exporter)
    assert result.files["pdf"].exists()


def test_dead_kernel_fails_the_report_and_is_replaced(tmp_path, session, exporter):
    with pytest.raises(RenderError, match="kernel died"):
        render_notebook(NOTEBOOKS / "dies.ipynb", {}, tmp_path, "dies", kernel=session,
                        exporter=exporter, timeout_s=60)
    assert (tmp_path / "dies.failed.ipynb").exists() and not (tmp_path / "dies.html").exists()
    assert session.is_alive()
    result = render_notebook(NOTEBOOKS / "good.ipynb", {}, tmp_path, "after", kernel=session,
                             exporter=exporter)
    assert result.findings["headline"] is not None


# --------------------------------------------------------------------------- isolation


def test_reused_kernel_gives_the_same_report_as_a_fresh_one(tmp_path, exporter):
    params = {"city": "Springfield", "n_periods": 8}
    with KernelSession() as fresh:
        alone = render_notebook(NOTEBOOKS / "good.ipynb", params, tmp_path / "alone", "r",
                                kernel=fresh, exporter=exporter)
    with KernelSession() as reused:
        render_notebook(NOTEBOOKS / "good.ipynb", {"city": "Other"}, tmp_path / "w", "w1",
                        kernel=reused, exporter=exporter)
        render_notebook(NOTEBOOKS / "leaky.ipynb", {}, tmp_path / "w", "w2", kernel=reused,
                        exporter=exporter)
        after = render_notebook(NOTEBOOKS / "good.ipynb", params, tmp_path / "after", "r",
                                kernel=reused, exporter=exporter)
    probe = _probe(after.notebook)
    assert probe == _probe(alone.notebook)
    assert probe["leak_global"] is False and probe["linewidth"] != 9
    assert probe["cwd"] == "notebooks" and probe["env_leak"] is None
    assert probe["slug_max"] == 60 and probe["open_figures"] == 0
    assert _stable_outputs(after.notebook) == _stable_outputs(alone.notebook)


def test_leaky_notebook_really_leaks_without_reset(tmp_path, exporter):
    """Guards the isolation test: the leak must be observable when nothing resets it."""
    with KernelSession() as ks:
        render_notebook(NOTEBOOKS / "leaky.ipynb", {}, tmp_path, "w", kernel=ks,
                        exporter=exporter)
        content = ks.run_code("import matplotlib\n"
                              "assert matplotlib.rcParams['lines.linewidth'] == 9\n"
                              "assert LEAK is True\n")
    assert content["status"] == "ok"


# --------------------------------------------------------------------------- kernel security


def test_kernel_listens_privately_with_a_0600_connection_file():
    with KernelSession() as ks:
        info = json.loads(Path(ks.km.connection_file).read_text())
        mode = stat.S_IMODE(os.stat(ks.km.connection_file).st_mode)
        assert mode == 0o600
        dir_mode = stat.S_IMODE(os.stat(Path(ks.km.connection_file).parent).st_mode)
        assert dir_mode & 0o077 == 0  # private to the user (jupyter may add the sticky bit)
        if info["transport"] == "ipc":
            assert Path(info["ip"]).parent == Path(ks.km.connection_file).parent
        else:
            assert info["ip"] == "127.0.0.1"


def test_smtp_secrets_never_reach_the_kernel_or_the_notebook(tmp_path, monkeypatch, exporter):
    monkeypatch.setenv("IMPACTBOOK_SMTP_PASSWORD", "hunter2-secret")
    monkeypatch.setenv("IMPACTBOOK_SMTP_USER", "mailer")
    with KernelSession() as ks:
        result = render_notebook(NOTEBOOKS / "good.ipynb", {}, tmp_path, "s", kernel=ks,
                                 exporter=exporter)
    assert _probe(result.notebook)["smtp_password"] is None
    for path in result.files.values():
        assert b"hunter2-secret" not in path.read_bytes()


# --------------------------------------------------------------------------- index page


def _manifest():
    return {
        "run": "2024-cycle", "created": "2024-01-01T00:00:00+00:00",
        "impactbook_version": "0.1.0", "data_hash": "abc123",
        "reports": [
            {"id": "city/x", "kind": "city", "name": "<script>alert(1)</script>", "slug": "x",
             "interventions": ["GVI & friends"], "status": "ok",
             "files": {"html": "x/x.html", "pdf": "x/x.pdf", "ipynb": "x/x.ipynb"},
             "error": None, "key_findings": ["k"], "estimates": [],
             "headline": {"text": "Homicides fell 37%", "percent_change": -37.2,
                          "ci_low_pct": -52.0, "ci_high_pct": -18.5, "outcome": "homicides",
                          "excludes_no_change": True, "design": "interrupted time series"}},
            {"id": "city/y", "kind": "city", "name": "Y", "slug": "y", "interventions": [],
             "status": "failed", "files": {"ipynb": "y/y.ipynb"},
             "error": "ValueError in cell 3: <b>bad</b>", "key_findings": [], "estimates": [],
             "headline": None},
        ],
    }


def test_index_lists_reports_failures_and_computed_impact(tmp_path):
    path = write_index(tmp_path, _manifest())
    text = path.read_text(encoding="utf-8")
    assert "<script>alert" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "<b>bad</b>" not in text and "&lt;b&gt;bad&lt;/b&gt;" in text
    impact = text[text.index('class="impact"'):text.index("<h2>Reports")]
    assert "37% lower" in impact and "homicides" in impact and "than expected" in impact
    # the interval, computed from the manifest; halves round away from zero (18.5 -> 19)
    assert "\u221252% to \u221219%" in impact
    assert "design: interrupted time series" in impact
    assert "How it is chosen: each outcome" in impact
    assert 'href="x/x.html"' in impact
    assert 'href="x/x.pdf"' in text and 'href="y/y.ipynb"' in text
    assert "Failed reports" in text and "<script src" not in text


def test_index_says_no_clear_change_when_the_interval_includes_it():
    manifest = _manifest()
    manifest["reports"][0]["headline"].update(
        percent_change=-6.0, ci_low_pct=-16.0, ci_high_pct=7.0, excludes_no_change=False,
        programme="NYC Ceasefire", intervention="Group Violence Intervention",
        designs_disagree=True)
    text = render_index(manifest)
    impact = text[text.index('class="impact"'):text.index("<h2>Reports")]
    assert "No clear change" in impact and "\u221216% to +7%: includes no change" in impact
    assert "reduction" not in impact and "through" not in impact
    assert "designs disagree" in impact


def test_index_without_headlines_has_no_impact_panel():
    manifest = _manifest()
    manifest["reports"] = manifest["reports"][1:]
    assert 'class="impact"' not in render_index(manifest)


# --------------------------------------------------------------------------- real notebook


@pytest.mark.slow
def test_real_city_report_for_new_york(tmp_path):
    notebook = REPO / "notebooks" / "city_report.ipynb"
    data = REPO / "data"
    if not notebook.exists() or not (data / "outcomes.csv").exists():
        pytest.skip("notebooks/city_report.ipynb or data/outcomes.csv not there yet")
    from impactbook.render.batch import render_city

    entry = render_city(data, "New York", tmp_path, notebooks_dir=notebook.parent)
    assert entry["status"] == "ok", entry["error"]
    html = (tmp_path / entry["files"]["html"]).read_text(encoding="utf-8")
    assert "<script" not in html.lower() and "data:image/png" in html
    assert entry["key_findings"], "the report should publish its key findings"
    assert PdfReader(str(tmp_path / entry["files"]["pdf"])).pages[0].extract_text()
    assert (tmp_path / "index.html").exists() and (tmp_path / "manifest.json").exists()


def test_sanitiser_keeps_embedded_charts_and_drops_active_content():
    from impactbook.render.exporters.sanitize import clean_report_html

    payload = "iVBORw0KGgo" + "A" * 200 + "=="
    html_in = (f"<figure><img src='data:image/png;base64,{payload}' alt='chart'>"
               "<figcaption>ok</figcaption></figure>"
               "<script>alert(1)</script><img src=x onerror=alert(1)>"
               "<a href='data:text/html;base64,PHNjcmlwdD4='>x</a>"
               "<a href='javascript:alert(1)'>y</a><a href='https://example.org/'>z</a>"
               "<p>ibdata0000000000000000n0e</p>")
    out = clean_report_html(html_in)
    assert f"data:image/png;base64,{payload}" in out
    assert "<script" not in out and "onerror" not in out
    assert "data:text/html" not in out and "javascript:" not in out
    assert 'href="https://example.org/"' in out
    assert "ibdata0000000000000000n0e" in out  # text that looks like a token stays text
