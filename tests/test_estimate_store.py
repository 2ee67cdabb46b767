"""The run's estimate store: a summary after its city reports reads their estimates, a rerun
after one city's data changed recomputes that city's only, and nothing stored is trusted."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from impactbook.analysis.store import (
    EstimateStore,
    active_store,
    entry_from_estimate,
    estimate_from_entry,
    read_log,
)
from impactbook.contracts import StoredEstimate
from impactbook.defaults import ESTIMATES_ENV
from impactbook.render.run_folder import estimates_folder, start_estimates
from impactbook.render.workers import _worker_environment
from impactbook.report.content import build_city_report
from impactbook.report.summary_content import build_intervention_summary
from impactbook.workbook import load_workbook

from .workbooks import monthly_rows

GVI = "Group Violence Intervention"
CITIES = ("Springfield", "Shelbyville", "Ogdenville")


@pytest.fixture
def three_cities(tiny_workbook):
    """The tiny workbook plus two more cities running the same type (so it pools)."""
    for city, base, prog in (("Shelbyville", 20, "shl-gvi"), ("Ogdenville", 30, "ogd-gvi")):
        counts = [base + (i % 7) - (4 if i >= 24 else 0) for i in range(48)]
        with open(tiny_workbook / "outcomes.csv", "a", encoding="utf-8") as fh:
            fh.write(monthly_rows(city, "citywide", "shootings", 2015, counts))
        with open(tiny_workbook / "interventions.csv", "a", encoding="utf-8") as fh:
            fh.write(f"{prog},{city},{GVI},{city} GVI,citywide,2017-01,shootings,,V,test\n")
        with open(tiny_workbook / "tags.csv", "a", encoding="utf-8") as fh:
            fh.write(f"{city},city\n")
    return tiny_workbook


def _events(store: EstimateStore, event: str, method: str = "its") -> list[str]:
    return sorted(line["programme"] for line in read_log(store.folder)
                  if line["event"] == event and line["method"] == method)


def _same_summary(one, other) -> None:
    pd.testing.assert_frame_equal(one.rows, other.rows)
    assert one.key_findings == other.key_findings
    assert one.pooled.keys() == other.pooled.keys()
    for outcome, pooled in one.pooled.items():
        assert pooled.to_dict() == other.pooled[outcome].to_dict()


def _its_row(summary, city: str) -> dict:
    return summary.rows[summary.rows["city"] == city].iloc[0].to_dict()


def test_a_summary_after_its_city_reports_reads_their_estimates(three_cities, tmp_path):
    cold = build_intervention_summary(three_cities, GVI)  # no store: as before
    store = EstimateStore(tmp_path / "store")
    for city in CITIES:
        build_city_report(three_cities, city, store=store)
    assert _events(store, "put") == ["ogd-gvi", "shl-gvi", "spr-gvi"]

    warm = build_intervention_summary(three_cities, GVI, store=store)

    assert _events(store, "hit") == ["ogd-gvi", "shl-gvi", "spr-gvi"]
    assert _events(store, "miss") == []
    _same_summary(warm, cold)  # the same numbers, to the last bit


def test_a_rerun_after_one_city_changed_recomputes_only_that_city(three_cities, tmp_path):
    store = EstimateStore(tmp_path / "store")
    first = build_intervention_summary(three_cities, GVI, store=store)
    assert _events(store, "miss") == ["ogd-gvi", "shl-gvi", "spr-gvi"]  # an empty store
    outcomes = (three_cities / "outcomes.csv").read_text(encoding="utf-8").splitlines()
    changed = [line.rsplit(",", 1)[0] + f",{int(line.rsplit(',', 1)[1]) // 2}"
               if line.startswith("Shelbyville,") and line > "Shelbyville,citywide,shootings,2017"
               else line for line in outcomes]
    (three_cities / "outcomes.csv").write_text("\n".join(changed) + "\n", encoding="utf-8")
    (store.folder / "log").rename(tmp_path / "first-log")

    second = build_intervention_summary(three_cities, GVI, store=store)

    assert _events(store, "hit") == ["ogd-gvi", "spr-gvi"]  # read, not recomputed
    assert _events(store, "miss") == ["shl-gvi"]
    assert _events(store, "put") == ["shl-gvi"]
    before, after = _its_row(first, "Shelbyville"), _its_row(second, "Shelbyville")
    assert after["rate_ratio"] < before["rate_ratio"]  # its rows halved after the start
    for city in ("Springfield", "Ogdenville"):
        assert _its_row(second, city) == _its_row(first, city)
    _same_summary(second, build_intervention_summary(three_cities, GVI))


@pytest.mark.parametrize("damage", ["garbage", "other key", "extra field", "bad number",
                                    "too large"])
def test_a_damaged_entry_is_ignored_and_recomputed(three_cities, tmp_path, damage):
    store = EstimateStore(tmp_path / "store")
    cold = build_intervention_summary(three_cities, GVI, store=store)
    for path in store.folder.glob("*.json"):
        entry = json.loads(path.read_text(encoding="utf-8"))
        if damage == "garbage":
            path.write_bytes(b"\x80\x04\x95 not json, and never unpickled")
            continue
        if damage == "other key":
            entry["key"] = "0" * 64
        elif damage == "extra field":
            entry["__reduce__"] = "os.system"
        elif damage == "bad number":
            entry["rate_ratio"] = "half"
        else:
            entry["warnings"] = ["x" * 1_100_000]
        path.write_text(json.dumps(entry), encoding="utf-8")
    (store.folder / "log").rename(tmp_path / "first-log")

    again = build_intervention_summary(three_cities, GVI, store=store)

    assert _events(store, "ignored") == ["ogd-gvi", "shl-gvi", "spr-gvi"]
    assert _events(store, "put") == ["ogd-gvi", "shl-gvi", "spr-gvi"]  # written afresh
    _same_summary(again, cold)
    for path in store.folder.glob("*.json"):  # and valid again
        assert StoredEstimate.model_validate_json(path.read_text()).key == path.stem


def test_a_stored_estimate_keeps_every_figure_unrounded(three_cities, tmp_path):
    from impactbook.analysis import make_request, run_estimate

    estimate = run_estimate(three_cities, make_request(city="Shelbyville", outcome="shootings",
                                                        start="2017-01"))
    entry = entry_from_estimate("a" * 64, estimate)
    back = estimate_from_entry(StoredEstimate.model_validate_json(entry.model_dump_json()))
    assert back.to_dict() == estimate.to_dict()
    assert back.log_rate_ratio == estimate.log_rate_ratio
    assert back.se_log_rate_ratio == estimate.se_log_rate_ratio
    assert math.isnan(back.dispersion) == math.isnan(estimate.dispersion)
    assert back.observed is None and back.model_result is None  # figures only


def test_the_key_names_exactly_the_estimates_inputs(three_cities, tmp_path):
    from impactbook.analysis.programmes import programme_request

    workbook = load_workbook(three_cities)
    store = EstimateStore(tmp_path / "store")
    rows = workbook.interventions.set_index("id", drop=False)
    shl, ogd = rows.loc["shl-gvi"].to_dict(), rows.loc["ogd-gvi"].to_dict()
    its = programme_request(shl, "shootings", "its")
    key = store.key(workbook, shl, its)
    assert store.key(workbook, shl, its) == key
    assert store.key(workbook, ogd, programme_request(ogd, "shootings", "its")) != key
    assert store.key(workbook, shl, programme_request(shl, "shootings", "prepost")) != key
    assert store.key(workbook, shl, programme_request(
        shl, "shootings", "its", post_periods=12)) != key
    assert store.key(workbook, {**shl, "start": "2017-02"}, its) != key


def test_no_store_outside_a_batch_unless_asked(monkeypatch, tiny_workbook, tmp_path):
    monkeypatch.delenv(ESTIMATES_ENV, raising=False)
    assert active_store() is None
    assert active_store({ESTIMATES_ENV: str(tmp_path / "s")}).folder == tmp_path / "s"
    build_city_report(tiny_workbook, "Springfield")
    assert not list(tmp_path.rglob("estimates"))
    run = tmp_path / "run"
    assert _worker_environment(None, run)[ESTIMATES_ENV] == str(
        estimates_folder(run).resolve())
    assert estimates_folder(run).parent == run / ".state" / "estimates"
    monkeypatch.setenv(ESTIMATES_ENV, "/elsewhere")  # a batch names its own, never ours
    assert ESTIMATES_ENV not in _worker_environment(None)


def test_a_store_that_cannot_be_written_is_skipped(three_cities, tmp_path):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the store would be")
    cold = build_intervention_summary(three_cities, GVI)
    _same_summary(build_intervention_summary(three_cities, GVI,
                                             store=EstimateStore(blocked, log=False)), cold)


def test_a_city_report_with_a_rollout_reads_the_workbook_once(tmp_path, monkeypatch):
    """The rollout's value for money comes from the workbook the report already read (New
    York's report read the whole folder twice: 1.7 s of its CPU)."""
    import impactbook.report.content as content
    import impactbook.workbook as workbook_package

    from .test_rollout_report import _precinct_workbook

    folder = _precinct_workbook(tmp_path)
    reads = []

    def counted(*args, real=workbook_package.load_workbook, **kw):
        reads.append(args[0])
        return real(*args, **kw)

    monkeypatch.setattr(workbook_package, "load_workbook", counted)
    monkeypatch.setattr(content, "load_workbook", counted)
    report = build_city_report(folder, "Springfield")
    assert report.rollouts and report.rollouts[0].estimate is not None
    assert reads == [folder]


def test_a_summary_reads_the_rollout_its_city_report_kept(tmp_path):
    from .test_rollout_report import _precinct_workbook

    folder = _precinct_workbook(tmp_path)
    cold = build_intervention_summary(folder, "Cure Violence")
    store = EstimateStore(tmp_path / "store")
    build_city_report(folder, "Springfield", store=store)
    warm = build_intervention_summary(folder, "Cure Violence", store=store)
    assert _events(store, "hit", "rollout") == ["spr-cv"]
    assert _events(store, "miss", "rollout") == []
    assert warm.rollout_findings == cold.rollout_findings
    _same_summary(warm, cold)


def test_the_index_and_the_mail_read_the_manifest_and_estimate_nothing():
    """They show the findings the reports recorded: no estimator is even imported."""
    import subprocess
    import sys

    code = ("import sys, impactbook.report.index_page, impactbook.mail.run\n"
            "print(sorted(m for m in sys.modules if m.startswith(('impactbook.analysis', "
            "'impactbook.effects', 'statsmodels'))))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "[]"


@pytest.mark.slow
def test_a_batch_rerun_after_one_city_changed_reads_the_other_cities_estimates(
        three_cities, tmp_path):
    from impactbook.render.batch import run_batch
    from impactbook.render.plan import plan_batch
    run = tmp_path / "run"
    first = run_batch(plan_batch(three_cities, run, formats=["html"]), run, workers=2,
                      progress=False)
    assert first.ok, first.failed
    store = estimates_folder(run)
    assert len(list(store.glob("*.json"))) == 3  # each programme's ITS, stored once
    outcomes = (three_cities / "outcomes.csv").read_text(encoding="utf-8").splitlines()
    (three_cities / "outcomes.csv").write_text("\n".join(
        line.rsplit(",", 1)[0] + f",{int(line.rsplit(',', 1)[1]) // 2}"
        if line.startswith("Shelbyville,") and line > "Shelbyville,citywide,shootings,2017"
        else line for line in outcomes) + "\n", encoding="utf-8")

    second = run_batch(plan_batch(three_cities, run, formats=["html"]), run, workers=2,
                       progress=False)

    assert second.ok, second.failed
    assert second.reused == 2  # Springfield's and Ogdenville's reports, as they were
    log = read_log(store)  # this run's lookups: the summary's and Shelbyville's report's
    hits = {line["programme"] for line in log if line["event"] == "hit"}
    puts = {line["programme"] for line in log if line["event"] == "put"}
    assert {"spr-gvi", "ogd-gvi"} <= hits  # read, not recomputed
    assert puts == {"shl-gvi"}  # recomputed: the only new estimate of the run

    def shelbyville(manifest):
        summary = next(r for r in manifest["reports"] if r["kind"] == "intervention")
        return next(row["rate_ratio"] for row in summary["estimates"]
                    if row["city"] == "Shelbyville")

    assert shelbyville(second.manifest) < shelbyville(first.manifest)


def test_a_batch_keeps_this_codes_store_and_drops_the_others(three_cities, tmp_path):
    run = tmp_path / "run"
    store = EstimateStore(estimates_folder(run))
    build_intervention_summary(three_cities, GVI, store=store)
    kept = sorted(store.folder.glob("*.json"))
    old_code = store.folder.parent / "0123456789abcdef"
    old_code.mkdir()
    (old_code / f"{'b' * 64}.json").write_text("{}")

    assert start_estimates(run) == store.folder

    assert not old_code.exists()  # its keys can never match again
    assert sorted(store.folder.glob("*.json")) == kept and len(kept) == 3
    assert read_log(store.folder) == []  # the log says what the new run reused


def _write_and_read(folder: str, key: str, rounds: int) -> int:
    """Put the same estimate under ``key`` and read it back, ``rounds`` times: the number of
    reads that were not the whole estimate (absent excepted)."""
    store = EstimateStore(folder)
    entry = StoredEstimate.model_validate_json((Path(folder) / "entry.json").read_text())
    estimate = estimate_from_entry(entry)
    bad = 0
    for _ in range(rounds):
        store.put(key, estimate)
        found = store.get(key)
        bad += found is None or found.to_dict() != estimate.to_dict()
    return bad


def test_concurrent_writers_never_show_half_an_entry(three_cities, tmp_path):
    """Two processes write the same entry over and over while each reads it back (the batch's
    two workers): every read is the whole estimate, none is ignored as damaged."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    from impactbook.analysis import make_request, run_estimate

    estimate = run_estimate(three_cities, make_request(city="Shelbyville", outcome="shootings",
                                                        start="2017-01"))
    key = "c" * 64
    folder = tmp_path / "store"
    folder.mkdir()
    (folder / "entry.json").write_text(entry_from_estimate(key, estimate).model_dump_json())
    with ProcessPoolExecutor(2, mp_context=get_context("spawn")) as pool:
        bad = list(pool.map(_write_and_read, [str(folder)] * 2, [key] * 2, [200] * 2))
    assert bad == [0, 0]
    assert not [line for line in read_log(folder) if line["event"] == "ignored"]
    assert not list(folder.glob(".*.tmp"))  # no temporary file left behind
