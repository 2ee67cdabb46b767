"""Planning and running many reports: incremental reruns, faults, resume, Dask."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from impactbook.errors import DataError, ParameterError
from impactbook.render.batch import run_batch
from impactbook.render.plan import plan_batch

FIXTURES = Path(__file__).parent / "fixtures"
NOTEBOOKS = FIXTURES / "notebooks" / "batch"


@pytest.fixture
def workbook(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(FIXTURES / "workbook", data)
    return data


def _plan(data, run, **kw):
    return plan_batch(data, run, notebooks_dir=NOTEBOOKS, **kw)


def _add_city(data: Path, city: str, kind: str = "GVI") -> None:
    with open(data / "interventions.csv", "a", encoding="utf-8") as fh:
        fh.write(f"{city[:2].lower()}9,{city},{kind},{city} programme,citywide,2020-02,shootings\n")
    with open(data / "outcomes.csv", "a", encoding="utf-8") as fh:
        # Seven months before the start: validate wants at least six.
        for month in ("2019-07", "2019-08", "2019-09", "2019-10", "2019-11", "2019-12",
                      "2020-01"):
            fh.write(f"{city},citywide,shootings,{month},3\n")
        fh.write(f"{city},citywide,shootings,2020-02,2\n")


def test_plan_has_one_report_per_city_with_programme_and_per_type(workbook, tmp_path):
    jobs = _plan(workbook, tmp_path / "run")
    assert [j.id for j in jobs] == ["city/alpha", "city/beta", "city/gamma", "intervention/gvi",
                                   "intervention/cure-violence"]  # Delta has no programme
    alpha = jobs[0]
    assert alpha.parameters == {"city": "Alpha", "data_dir": str(workbook.resolve())}
    assert alpha.interventions == ("GVI",)


def test_plan_refuses_unknown_city(workbook, tmp_path):
    with pytest.raises(ParameterError):
        _plan(workbook, tmp_path / "run", cities=["Atlantis"])


def test_changing_one_city_changes_only_its_slices(workbook, tmp_path):
    before = {j.id: j.input_hash for j in _plan(workbook, tmp_path / "run")}
    text = (workbook / "outcomes.csv").read_text().replace("Alpha,citywide,shootings,2020-02,8",
                                                            "Alpha,citywide,shootings,2020-02,9")
    (workbook / "outcomes.csv").write_text(text)
    after = {j.id: j.input_hash for j in _plan(workbook, tmp_path / "run")}
    changed = {k for k in before if before[k] != after[k]}
    assert changed == {"city/alpha", "intervention/gvi"}


def test_news_for_a_city_changes_that_city_only(workbook, tmp_path):
    before = {j.id: j.input_hash for j in _plan(workbook, tmp_path / "run")}
    with open(workbook / "news.csv", "a", encoding="utf-8") as fh:
        fh.write("2020-02-01,Beta update,Beta News,Beta\n")
    after = {j.id: j.input_hash for j in _plan(workbook, tmp_path / "run")}
    # The GVI summary shows items tagged GVI only, so a Beta-only item re-renders Beta alone.
    assert {k for k in before if before[k] != after[k]} == {"city/beta"}
    with open(workbook / "news.csv", "a", encoding="utf-8") as fh:
        fh.write("2020-03-01,Ceasefires compared,Daily,GVI\n")
    again = {j.id: j.input_hash for j in _plan(workbook, tmp_path / "run")}
    assert {k for k in after if after[k] != again[k]} == {"city/alpha", "city/beta",
                                                          "intervention/gvi"}


def test_a_bad_workbook_fails_before_any_report(workbook, tmp_path):
    (workbook / "outcomes.csv").write_text(
        (workbook / "outcomes.csv").read_text() + "Alpha,citywide,shootings,2020-13,-1\n")
    with pytest.raises(DataError) as info:
        _plan(workbook, tmp_path / "run")
    assert any("row" in line and "'period'" in line for line in info.value.lines)
    assert not (tmp_path / "run" / "alpha").exists()


@pytest.mark.slow
def test_batch_renders_reuses_and_rerenders_only_what_changed(workbook, tmp_path):
    run = tmp_path / "run"
    first = run_batch(_plan(workbook, run), run, workers=2, timeout_s=120, progress=False)
    assert first.ok and first.exit_code == 0 and first.rendered == 5
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["run"] == "run" and len(manifest["data_hash"]) == 64
    shown = manifest["data_hash"][:12]  # the index shows the manifest's one digest
    assert f"<code>{shown}</code>" in (run / "index.html").read_text(encoding="utf-8")
    alpha = manifest["reports"][0]
    assert alpha["id"] == "city/alpha" and alpha["status"] == "ok" and not alpha["reused"]
    assert alpha["files"] == {"ipynb": "alpha/alpha.ipynb", "html": "alpha/alpha.html",
                              "pdf": "alpha/alpha.pdf"}
    assert alpha["headline"]["percent_change"] == -20.0
    assert alpha["key_findings"] == ["Alpha: shootings changed -20.0%"]
    assert set(alpha["timings"]) == {"execute_s", "html_s", "pdf_s", "total_s"}
    for report in manifest["reports"]:
        for rel in report["files"].values():
            assert (run / rel).exists()
    index = (run / "index.html").read_text()
    assert 'href="alpha/alpha.pdf"' in index and "Impact" in index

    before = {p: p.stat().st_mtime_ns for p in run.glob("*/*")
              if p.suffix in (".ipynb", ".html", ".pdf")}  # the reports, not the run's index
    second = run_batch(_plan(workbook, run), run, workers=2, progress=False)
    assert second.rendered == 0 and second.reused == 5
    # Nothing was executed or exported again: every report file is the one the first run wrote.
    assert {p: p.stat().st_mtime_ns for p in before} == before

    text = (workbook / "outcomes.csv").read_text().replace("Alpha,citywide,shootings,2020-02,8",
                                                            "Alpha,citywide,shootings,2020-02,4")
    (workbook / "outcomes.csv").write_text(text)
    mtimes = {p: p.stat().st_mtime_ns for p in run.rglob("*.pdf")}
    third = run_batch(_plan(workbook, run), run, workers=2, progress=False)
    rerendered = {r["id"] for r in third.manifest["reports"] if not r["reused"]}
    assert rerendered == {"city/alpha", "intervention/gvi"}
    touched = {p.parent.name for p, t in mtimes.items() if p.stat().st_mtime_ns != t}
    assert touched == {"alpha", "gvi"}
    assert third.manifest["reports"][0]["headline"]["percent_change"] == -60.0

    forced = run_batch(_plan(workbook, run, cities=["Beta"], interventions=[]), run, workers=1,
                       force=True, progress=False)
    assert forced.rendered == 1 and forced.reused == 0


@pytest.mark.slow
def test_faults_are_recorded_and_rerun_renders_only_failures(workbook, tmp_path, monkeypatch):
    monkeypatch.setenv("IMPACTBOOK_SMTP_PASSWORD", "hunter2-secret")
    for city in ("Failtown", "Sleepyville", "Crashburg"):
        _add_city(workbook, city)
    run = tmp_path / "run"
    jobs = _plan(workbook, run, interventions=[])
    result = run_batch(jobs, run, workers=2, timeout_s=8, progress=False)
    assert result.exit_code == 1
    by_name = {r["name"]: r for r in result.manifest["reports"]}
    assert {n for n, r in by_name.items() if r["status"] == "ok"} == {"Alpha", "Beta", "Gamma"}
    assert "deliberate failure for Failtown" in by_name["Failtown"]["error"]
    assert "timed out" in by_name["Sleepyville"]["error"]
    assert "kernel died" in by_name["Crashburg"]["error"]
    for name in ("Failtown", "Sleepyville", "Crashburg"):
        report = by_name[name]
        assert set(report["files"]) == {"ipynb"}, "only the executed notebook is kept"
        assert (run / report["files"]["ipynb"]).exists()
        assert not (run / report["slug"] / f"{report['slug']}.html").exists()
    index = (run / "index.html").read_text()
    assert "Failed reports" in index and "deliberate failure for Failtown" in index
    for path in run.rglob("*"):
        if path.is_file():
            assert b"hunter2-secret" not in path.read_bytes(), path

    # An unchanged rerun retries the failures only.
    again = run_batch(_plan(workbook, run, interventions=[]), run, workers=2, timeout_s=8,
                      progress=False)
    redone = {r["name"] for r in again.manifest["reports"] if not r["reused"]}
    assert redone == {"Failtown", "Sleepyville", "Crashburg"}


@pytest.mark.slow
def test_interrupted_batch_resumes_without_partial_files(workbook, tmp_path):
    run = tmp_path / "run"
    jobs = _plan(workbook, run, cities=["Alpha", "Beta"], interventions=[])
    run_batch(jobs, run, workers=1, progress=False)
    # Simulate a kill while Beta was being written: its state and files are gone, a temp
    # file from the interrupted atomic write is left behind.
    (run / ".state" / "beta.json").unlink()
    for path in (run / "beta").iterdir():
        path.unlink()
    # Temporary files carry their writer's pid: the dead writer's is removed, a live
    # process's (another run writing here) is left alone.
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    (run / "beta" / f".beta.pdf.{int(dead.stdout)}.abc123.tmp").write_bytes(b"%PDF-1.7 half")
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    theirs = run / "alpha" / f".alpha.pdf.{live.pid}.xyz789.tmp"
    theirs.write_bytes(b"%PDF-1.7 being written")
    try:
        resumed = run_batch(jobs, run, workers=1, progress=False)
    finally:
        live.kill()
        live.wait()
    assert [r["reused"] for r in resumed.manifest["reports"]] == [True, False]
    assert list(run.rglob("*.tmp")) == [theirs]
    assert (run / "beta" / "beta.pdf").read_bytes().startswith(b"%PDF")


@pytest.mark.slow
def test_dask_executor_on_a_real_local_cluster(workbook, tmp_path):
    distributed = pytest.importorskip("distributed")
    run = tmp_path / "run"
    jobs = _plan(workbook, run, cities=["Alpha", "Gamma"], interventions=["GVI"])
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, scheduler_port=0) as cluster:
        result = run_batch(jobs, run, executor="dask", scheduler=cluster.scheduler_address,
                           timeout_s=120, progress=False)
    assert result.ok, result.failed
    assert result.rendered == 3
    for report in result.manifest["reports"]:
        assert (run / report["files"]["pdf"]).read_bytes().startswith(b"%PDF")
    assert result.manifest["reports"][0]["headline"]["percent_change"] == -20.0


def test_dask_executor_needs_a_scheduler(workbook, tmp_path):
    run = tmp_path / "run"
    with pytest.raises(ParameterError):
        run_batch(_plan(workbook, run, cities=["Alpha"], interventions=[]), run,
                  executor="dask", progress=False)


def test_heaviest_reports_are_handed_out_first(tmp_path):
    """Seattle's micro design (placebo groups among 9,642 blocks) goes first, then the city
    reports by the rows they read, the summaries last; once every report has a recorded time
    in the run folder, those times decide."""
    from impactbook.render.batch import longest_first

    data = Path(__file__).resolve().parents[1] / "data"
    jobs = plan_batch(data, tmp_path / "run")
    order = [job.name for job in longest_first(jobs, {})]
    assert order[:2] == ["Seattle", "New York"]
    cities = {job.name for job in jobs if job.kind == "city"}
    assert set(order[:len(cities)]) == cities  # summaries after every city report
    times = {job.id: float(i) for i, job in enumerate(jobs)}
    assert longest_first(jobs, times) == list(reversed(jobs))
    partly = {jobs[0].id: times[jobs[0].id]}  # not all known: the plan decides
    assert [j.name for j in longest_first(jobs, partly)] == order
