"""Guards at the edges: count and parameter ranges, init faults, folder names, validate help,
numerical warnings, and a Dask batch that cannot hang."""

from __future__ import annotations

import time

import pytest

from impactbook.cli import main
from impactbook.errors import DataError, ParameterError
from impactbook.render.plan import CITY, plan_batch
from impactbook.workbook import load_workbook

from .conftest import ROOT
from .workbooks import TAG_ROWS, build_workbook, monthly_rows

DATA = ROOT / "data"


@pytest.fixture
def no_kernel(monkeypatch):
    """Fail the test if anything tries to start a kernel."""

    def refuse(*args, **kwargs):
        raise AssertionError("a kernel was started")

    monkeypatch.setattr("impactbook.render.kernel.KernelSession.__init__", refuse)



# --- counts are under 10 million (README, "Counts") -----------------------------------------

@pytest.mark.parametrize(("count", "is_accepted"), [(9_999_999, True), (10_000_000, False)])
def test_a_count_must_be_under_ten_million(tmp_path, count, is_accepted):
    counts = [10] * 24
    counts[3] = count
    folder = build_workbook(tmp_path / "wb", monthly_rows(
        "Springfield", "citywide", "shootings", 2015, counts))
    if is_accepted:
        load_workbook(folder)
        return
    with pytest.raises(DataError) as info:
        load_workbook(folder)
    [problem] = info.value.problems
    assert (problem.row, problem.column) == (5, "count")
    assert "10,000,000 or more" in problem.message


# --- parameter ranges ------------------------------------------------------------------------

@pytest.mark.parametrize(("argv", "expected"), [
    (["render", "--city", "Seattle", "-p", "placebos", "10000000"],
     "'-p placebos': got 10000000, expected a whole number from 0 to 10000"),
    (["render", "--city", "Seattle", "-p", "placebos", "-1"], "from 0 to 10000"),
    (["render", "--city", "Chicago", "-p", "post_periods", "0"],
     "'-p post_periods': got 0, expected a whole number from 1 to 10000"),
    (["batch", "-p", "post_periods", "20000"], "from 1 to 10000"),
])
def test_a_parameter_outside_its_range_is_refused_before_any_kernel_starts(
        tmp_path, capsys, no_kernel, argv, expected):
    out = tmp_path / "run"
    assert main([*argv, "--data", str(DATA), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert expected in err and err.count("\n") == 1 and "Traceback" not in err, err
    assert not out.exists()


def test_parameter_ranges_are_the_estimate_requests(tmp_path):
    """The library path (plan_batch, render_report) refuses what the request refuses, with
    the request's own bounds: placebos 10,000 is accepted, 10,001 is not."""
    from impactbook.analysis import EstimateRequest

    high = next(rule.le for rule in EstimateRequest.model_fields["placebos"].metadata
                if hasattr(rule, "le"))
    plan_batch(DATA, tmp_path / "ok", cities=["Seattle"], interventions=[],
               parameters={CITY: {"placebos": high}})
    with pytest.raises(ParameterError) as info:
        plan_batch(DATA, tmp_path / "no", cities=["Seattle"], interventions=[],
                   parameters={CITY: {"placebos": high + 1}})
    assert info.value.parameter == "placebos" and f"to {high}" in info.value.expected


# --- validate suggests names, as the CLI does ------------------------------------------------

def _programmes(tmp_path, *rows: str):
    counts = [10 + (i % 5) for i in range(48)]
    outcomes = monthly_rows(
        "Springfield", "citywide", "shootings", 2015, counts) + monthly_rows(
        "Springfield", "District 1", "shootings", 2015, [c // 2 for c in counts])
    return build_workbook(tmp_path / "wb", outcomes, "".join(f"{row}\n" for row in rows),
                          columns={"interventions": "id,city,intervention,programme,area,start,"
                                                    "outcomes,comparison_areas,confidence,source"})


def test_validate_suggests_close_names_in_interventions_csv(tmp_path, capsys):
    folder = _programmes(
        tmp_path,
        "a,Springfield,Group Violence Intervention,A,District1,2017-01,shooting,Citywide,V,t",
        "b,Springfeld,Group Violence Intervention,B,citywide,2017-01,shootings,,V,t",
        "c,Springfield,Violence Interrupters,C,citywide,2017-01,shootings,,V,t",
        "d,Springfield,group violence intervention,D,citywide,2017-01,shootings,,V,t")
    assert main(["validate", "--data", str(folder)]) != 0
    err = capsys.readouterr().err
    lines = {line.split("error: ")[1].split(": ")[0]: line for line in err.splitlines()}
    assert "did you mean 'District 1'?" in lines["interventions.csv, row 2, column 'area'"]
    assert "did you mean 'citywide'?" in lines[
        "interventions.csv, row 2, column 'comparison_areas'"]
    assert "did you mean 'shootings'?" in lines["interventions.csv, row 2, column 'outcomes'"]
    assert "did you mean 'Springfield'?" in lines["interventions.csv, row 3, column 'city'"]
    unknown = lines["interventions.csv, row 4, column 'intervention'"]
    assert "'Violence Interrupters' is not a tag of kind 'intervention'" in unknown
    assert "tags.csv row 'Violence Interrupters,intervention'" in unknown
    assert "did you mean 'Group Violence Intervention'?" in lines[
        "interventions.csv, row 5, column 'intervention'"]


# --- init: stale files, a full disk, a dangling link -----------------------------------------

def test_init_refuses_a_folder_holding_any_file(tmp_path, capsys):
    folder = tmp_path / "wb"
    folder.mkdir()
    (folder / "areas.csv").write_text("area\nPrecinct 77\n")
    assert main(["init", str(folder)]) == 1
    err = capsys.readouterr().err
    assert "it already has areas.csv (nothing was written)" in err and err.count("\n") == 1
    assert [p.name for p in folder.iterdir()] == ["areas.csv"]


@pytest.mark.parametrize("is_existing", [False, True])
def test_init_on_a_full_disk_writes_nothing_and_can_run_again(tmp_path, monkeypatch, capsys,
                                                              is_existing):
    import errno

    from impactbook.workbook import starter

    folder = tmp_path / "wb"
    if is_existing:
        folder.mkdir()
    real_write = starter.atomic_write_text
    written: list[str] = []

    def fill_disk_after_four(path, text):
        if len(written) == 4:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real_write(path, text)
        written.append(path.name)

    monkeypatch.setattr(starter, "atomic_write_text", fill_disk_after_four)
    assert main(["init", str(folder)]) == 1
    err = capsys.readouterr().err
    assert "No space left on device; nothing was written" in err and err.count("\n") == 1
    assert len(written) == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == (["wb"] if is_existing else [])
    assert not is_existing or list(folder.iterdir()) == []
    monkeypatch.setattr(starter, "atomic_write_text", real_write)
    assert main(["init", str(folder)]) == 0
    assert load_workbook(folder).cities == []


def test_init_onto_a_dangling_link_says_it_is_a_link(tmp_path, capsys):
    link = tmp_path / "wb"
    link.symlink_to(tmp_path / "gone")
    assert main(["init", str(link)]) == 1
    err = capsys.readouterr().err
    assert "is a symbolic link to" in err and "gone, which does not exist" in err, err
    assert "File exists" not in err and not (tmp_path / "gone").exists()


# --- folder names in any script --------------------------------------------------------------

def _cities(tmp_path, *cities: str, funders: str = ""):
    return build_workbook(
        tmp_path / "wb",
        "".join(monthly_rows(city, "citywide", "shootings", 2015, [5] * 12) for city in cities),
        tags=TAG_ROWS + "".join(f"{city},city\n" for city in cities), funders=funders or None)


def test_cities_in_cyrillic_chinese_and_greek_get_report_folders(tmp_path):
    from impactbook.fsutil import slugify

    folder = _cities(tmp_path, "Москва", "北京", "Αθήνα", "São Paulo",
                     funders="Фонд Москвы,fund@example.org,*,*\n")
    assert sorted(load_workbook(folder).cities) == sorted(["Москва", "北京", "Αθήνα", "São Paulo"])
    assert [slugify(c) for c in ("Москва", "北京", "Αθήνα", "São Paulo", "Фонд Москвы")] == [
        "москва", "北京", "αθήνα", "sao-paulo", "фонд-москвы"]
    # The same name typed with a decomposed accent names the same folder.
    assert slugify("Αθη\u0301να") == slugify("Αθήνα")


def test_names_that_differ_only_in_case_or_script_form_still_collide(tmp_path):
    folder = _cities(tmp_path, "Москва", "МОСКВА")
    with pytest.raises(DataError) as info:
        load_workbook(folder)
    messages = [problem.message for problem in info.value.problems]
    assert any("would share the report folder 'москва'" in m for m in messages), messages


def test_long_names_in_any_script_are_bounded_in_bytes():
    from impactbook.fsutil import slugify

    slug = slugify("北京" * 40)
    assert len(slug.encode("utf-8")) <= 60 and slug == "北京" * 10


# --- a Dask batch has deadlines ---------------------------------------------------------------

def _batch_workbook(tmp_path):
    import shutil

    from .conftest import FIXTURES

    data = tmp_path / "data"
    shutil.copytree(FIXTURES / "workbook", data)
    return data, FIXTURES / "notebooks" / "batch"


def test_a_malformed_scheduler_address_is_a_parameter_error(tmp_path, capsys):
    data, _ = _batch_workbook(tmp_path)
    for address in ("not-an-address", "http://x:1", "tcp://host:99999"):
        assert main(["batch", "--data", str(data), "--out", str(tmp_path / "run"),
                     "--executor", "dask", "--scheduler", address]) == 1
        err = capsys.readouterr().err
        assert f"parameter 'scheduler': got {address!r}, expected a Dask scheduler" in err, err
        assert err.count("\n") == 1 and "internal error" not in err
    assert not (tmp_path / "run" / "manifest.json").exists()


@pytest.mark.timeout(240)
def test_a_scheduler_with_no_workers_is_refused_within_the_deadline(tmp_path):
    distributed = pytest.importorskip("distributed")
    from impactbook.errors import ClusterError
    from impactbook.render.batch import run_batch

    data, notebooks = _batch_workbook(tmp_path)
    run = tmp_path / "run"
    jobs = plan_batch(data, run, notebooks_dir=notebooks, cities=["Alpha"], interventions=[])
    with distributed.LocalCluster(n_workers=0, processes=False, protocol="tcp://",
                                  dashboard_address=None,
                                  scheduler_port=0, host="127.0.0.1") as cluster:
        with pytest.raises(ClusterError) as info:
            run_batch(jobs, run, executor="dask", scheduler=cluster.scheduler_address,
                      timeout_s=60, progress=False, worker_wait_s=2)
    assert str(info.value) == (f"Dask scheduler {cluster.scheduler_address}: no worker joined "
                               f"within 2 s; start workers (dask worker "
                               f"{cluster.scheduler_address}) or name another scheduler")


@pytest.mark.timeout(240)
def test_reports_waiting_for_workers_that_left_are_failed_not_waited_for(tmp_path):
    distributed = pytest.importorskip("distributed")
    from impactbook.render.dask_executor import run_on_dask

    data, notebooks = _batch_workbook(tmp_path)
    jobs = plan_batch(data, tmp_path / "run", notebooks_dir=notebooks, cities=["Alpha"],
                      interventions=["GVI"])
    finished: dict = {}  # report name -> its ReportRecord
    with distributed.LocalCluster(n_workers=1, processes=False, protocol="tcp://",
                                  dashboard_address=None,
                                  scheduler_port=0, host="127.0.0.1") as cluster, \
            distributed.Client(cluster) as watcher:

        def workers_leave(job):
            if not finished and job is jobs[0]:  # the worker joined, then everyone left
                cluster.scale(0)
                while watcher.scheduler_info()["workers"]:
                    time.sleep(0.05)

        run_on_dask(jobs, tmp_path / "run", cluster.scheduler_address, 60,
                    lambda job, entry: finished.__setitem__(job.name, entry), workers_leave,
                    worker_wait_s=2)
    assert sorted(finished) == sorted(job.name for job in jobs)
    for entry in finished.values():
        assert entry.status == "failed"
        assert entry.error == (f"the Dask scheduler {cluster.scheduler_address} has had no "
                                  "worker for 2 s")


# --- numerical warnings become notes ---------------------------------------------------------

def test_an_overflow_in_the_comparison_model_is_a_note_not_a_runtime_warning():
    """A treated area of nine million events a month against a quiet comparison area (0 or 1
    a month): the counterfactual band's upper end overflows."""
    import warnings

    import pandas as pd

    from impactbook.effects import estimate_comparison

    periods = pd.period_range("2015-01", periods=36, freq="M")
    treated = [9_000_000 + 1000 * (i % 5) for i in range(18)] + [i % 2 for i in range(18)]
    quiet = [i % 2 for i in range(36)]
    panel = pd.DataFrame([{"area": area, "period": period, "count": count,
                           "is_treated": area == "Treated"}
                          for area, counts in (("Treated", treated), ("Quiet", quiet))
                          for period, count in zip(periods, counts, strict=True)])
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        estimate = estimate_comparison(panel, "2016-07", post_periods=18)
    assert estimate.warnings[-1] == (
        "Part of the model's arithmetic met a number too large to compute (very large or very "
        "unequal counts), so an interval or band may be infinite or missing: read this "
        "estimate with caution.")
    assert sum("arithmetic" in w for w in estimate.warnings) == 1
