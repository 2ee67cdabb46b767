"""Prepared slices: a batch validates once and each report loads only its own rows."""

from __future__ import annotations

import pandas as pd
import pytest

from impactbook.fsutil import library_hash
from impactbook.render.batch import _prepare_slices
from impactbook.render.plan import plan_batch
from impactbook.render.workers import _worker_environment
from impactbook.report import build_city_report, build_intervention_summary
from impactbook.workbook import load_workbook
from impactbook.workbook.prepared import (
    PREPARED_ENV,
    is_prepared,
    prepared_folder,
    read_prepared,
    read_validated,
    write_prepared,
)

from .workbooks import monthly_rows


@pytest.fixture
def two_cities(tiny_workbook):
    """The tiny workbook plus a second city with its own programme of the same type."""
    counts = [20 + (i % 7) for i in range(48)]
    with open(tiny_workbook / "outcomes.csv", "a", encoding="utf-8") as fh:
        fh.write(monthly_rows("Shelbyville", "citywide", "shootings", 2015, counts))
    with open(tiny_workbook / "interventions.csv", "a", encoding="utf-8") as fh:
        fh.write("shl-gvi,Shelbyville,Group Violence Intervention,Shelbyville GVI,citywide,"
                 "2017-01,shootings,,V,test\n")
    with open(tiny_workbook / "tags.csv", "a", encoding="utf-8") as fh:
        fh.write("Shelbyville,city\n")
    return tiny_workbook


def _report_numbers(report) -> tuple:
    return (report.estimates(), report.key_findings, report.data_hash, report.data_period,
            report.news.to_dict("records"))


def test_a_report_from_its_prepared_slice_equals_it_from_the_folder(two_cities, tmp_path,
                                                                    monkeypatch):
    workbook = load_workbook(two_cities)
    folder = write_prepared(workbook, tmp_path / "prepared" / workbook.digest,
                            [("city", "Springfield"), ("city", "Shelbyville"),
                             ("intervention", "Group Violence Intervention")])
    city = read_prepared(two_cities, "city", "Springfield", {PREPARED_ENV: str(folder)})
    assert city is not None and city.digest == workbook.digest
    assert city.cities == ["Springfield"]  # only its own rows
    expected = workbook.outcomes[workbook.outcomes["city"] == "Springfield"]
    pd.testing.assert_frame_equal(city.outcomes, expected.reset_index(drop=True))
    summary = read_prepared(two_cities, "intervention", "Group Violence Intervention",
                            {PREPARED_ENV: str(folder)})
    assert summary.cities == ["Shelbyville", "Springfield"]

    plain_city = build_city_report(two_cities, "Springfield")
    plain_summary = build_intervention_summary(two_cities, "Group Violence Intervention")
    monkeypatch.setenv(PREPARED_ENV, str(folder))
    (two_cities / "outcomes.csv").write_text("not read any more\n")  # proof: the slice is used
    assert _report_numbers(build_city_report(two_cities, "Springfield")) == _report_numbers(
        plain_city)
    fast_summary = build_intervention_summary(two_cities, "Group Violence Intervention")
    pd.testing.assert_frame_equal(fast_summary.rows, plain_summary.rows)
    assert fast_summary.pooling_notes == plain_summary.pooling_notes
    assert fast_summary.pooled.keys() == plain_summary.pooled.keys()
    assert fast_summary.data_hash == plain_summary.data_hash


def test_no_slice_means_the_folder_is_read(two_cities, tmp_path):
    workbook = load_workbook(two_cities)
    folder = write_prepared(workbook, tmp_path / "p" / workbook.digest, [("city", "Shelbyville")])
    env = {PREPARED_ENV: str(folder)}
    assert read_prepared(two_cities, "city", "Springfield", env) is None  # not prepared
    assert read_prepared(tmp_path / "elsewhere", "city", "Shelbyville", env) is None
    assert read_prepared(two_cities, "city", "Shelbyville", {}) is None
    assert read_prepared(two_cities, "city", "Shelbyville", {PREPARED_ENV: str(tmp_path)}) is None


def test_the_batch_prepares_once_per_digest_and_keeps_only_the_current(two_cities, tmp_path):
    run = tmp_path / "run"
    jobs = plan_batch(two_cities, run)
    first = _prepare_slices(run, jobs)
    assert first == prepared_folder(run / ".state", jobs[0].data_digest)
    assert is_prepared(first, two_cities, jobs[0].data_digest,
                       [(job.kind, job.name) for job in jobs], library=library_hash())
    # The whole validated workbook is kept: the next plan of this run reads it back.
    kept = read_validated(first, two_cities, jobs[0].data_digest, library=library_hash())
    loaded = load_workbook(two_cities)
    for table in ("outcomes", "interventions", "news", "tags", "funders"):
        pd.testing.assert_frame_equal(getattr(kept, table), getattr(loaded, table))
    assert (kept.digest, kept.warnings) == (loaded.digest, loaded.warnings)
    assert read_validated(first, two_cities, jobs[0].data_digest, library="other code") is None
    stamp = (first / "prepared.json").stat().st_mtime_ns
    assert _prepare_slices(run, plan_batch(two_cities, run)) == first  # unchanged: not rewritten
    assert (first / "prepared.json").stat().st_mtime_ns == stamp

    text = (two_cities / "outcomes.csv").read_text().replace(
        "Shelbyville,citywide,shootings,2015-01,20", "Shelbyville,citywide,shootings,2015-01,2")
    (two_cities / "outcomes.csv").write_text(text)
    changed = plan_batch(two_cities, run)
    second = _prepare_slices(run, changed)
    assert second.name == changed[0].data_digest != jobs[0].data_digest
    assert not first.exists()  # the old workbook's slices are gone
    assert read_validated(first, two_cities, jobs[0].data_digest, library=library_hash()) is None
    slice_ = read_prepared(two_cities, "city", "Shelbyville", {PREPARED_ENV: str(second)})
    assert slice_.outcomes["count"].iloc[0] == 2


def test_workers_hand_the_folder_to_their_kernels_and_nothing_stale(tmp_path, monkeypatch):
    monkeypatch.setenv(PREPARED_ENV, "/somewhere/stale")
    assert PREPARED_ENV not in _worker_environment()
    assert _worker_environment(tmp_path)[PREPARED_ENV] == str(tmp_path.resolve())


@pytest.mark.slow
def test_batch_reports_read_their_prepared_slice_not_the_folder(tmp_path):
    """The real notebook, in a batch worker's kernel, reads the slice the batch prepared."""
    import shutil
    from pathlib import Path

    from impactbook.render.batch import run_batch

    data = tmp_path / "data"
    data.mkdir()
    for name in ("outcomes.csv", "interventions.csv", "news.csv", "tags.csv", "funders.csv"):
        shutil.copy2(Path(__file__).resolve().parents[1] / "data" / name, data / name)
    run = tmp_path / "run"
    jobs = plan_batch(data, run, cities=["Baltimore"], interventions=[], formats=("html",))
    # After planning the folder no longer validates: only the prepared slice can give a report.
    (data / "outcomes.csv").write_text("city,area,outcome,period,count\nX,citywide,a,2020-13,1\n")
    result = run_batch(jobs, run, workers=1, timeout_s=300, progress=False)
    assert result.ok, result.failed
    html = (run / "baltimore" / "baltimore.html").read_text(encoding="utf-8")
    assert "Baltimore" in html and jobs[0].data_digest[:12] in html


def test_a_rerun_plans_the_same_keys_as_the_first_run_for_a_micro_design(tmp_path):
    """A rerun plans from the kept validated copy; with the units of Seattle's blocks in it
    (areas.csv) its report's key is the first run's, so an unchanged rerun reuses it."""
    from pathlib import Path

    from impactbook.render.fingerprints import load_for_planning

    data = Path(__file__).resolve().parents[1] / "data"
    first = load_for_planning(data)
    reports = [("city", "Seattle"), ("city", "Chicago")]
    folder = prepared_folder(tmp_path / ".state", first.digest)
    write_prepared(first.validated, folder, reports, library=library_hash())
    again = load_for_planning(data, out_dir=tmp_path)
    assert again.validated is not first.validated  # read back from the prepared folder
    assert not again.validated.areas.empty
    for _, city in reports:
        assert again.city_slice_hash(city) == first.city_slice_hash(city), city
