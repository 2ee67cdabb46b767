"""Fault injection: concurrent writers, kills at random moments, edits mid-run, planted links
and FIFOs, hostile text. Each test reproduces one way a run could lose data, publish stale or
foreign results, or act outside its folders, and checks that it no longer can. Every wait is
bounded."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from impactbook.errors import DataError, RenderError, UnsafePathError

from .conftest import ROOT
from .test_faults import (
    IMPACTBOOK,
    KILL_CITIES,
    _finished,
    _kill_workbook,
    _start_batch,
    _temp_files,
    _wait_gone,
    _wait_until_some_finished,
)
from .workbooks import TAG_ROWS, TAGS, build_workbook, monthly_rows, write_workbook


def _cli(*args: str, timeout_s: float = 120, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(IMPACTBOOK), *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout_s, **kw)


def _news_csv(path: Path, prefix: str, n: int) -> Path:
    rows = [f"2019-{1 + i % 12:02d},{prefix} item {i},{prefix} Gazette,Springfield"
            for i in range(n)]
    path.write_text("date,title,outlet,tags\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def _workbook_with_programme(folder: Path) -> Path:
    counts = [10 + (i % 5) for i in range(36)]
    return build_workbook(
        folder, monthly_rows("Springfield", "citywide", "shootings", 2016, counts),
        "spr,Springfield,Group Violence Intervention,Springfield GVI,citywide,2017-06,"
        "shootings\n")


# --------------------------------------------------------------------------- concurrent writers


def test_two_concurrent_news_imports_keep_every_item(tmp_path):
    """Both imports read news.csv, merge and rename: without a lock the second rename drops
    the first one's items while both report success."""
    data = write_workbook(tmp_path / "wb", tags=TAGS, news="date,title,outlet,tags\n")
    files = [_news_csv(tmp_path / f"{p}.csv", p, 3000) for p in ("north", "south")]
    procs = [subprocess.Popen([str(IMPACTBOOK), "news", "import", str(f), "--data", str(data)],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for f in files]
    results = [p.communicate(timeout=180) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    titles = [line.split(",")[1] for line in
              (data / "news.csv").read_text(encoding="utf-8").splitlines()[1:]]
    assert len(titles) == 6000 and len(set(titles)) == 6000


def test_a_second_writer_of_a_run_folder_stops_with_the_holder_named(tmp_path):
    from impactbook.locks import folder_lock

    data = _workbook_with_programme(tmp_path / "wb")
    run = tmp_path / "run"
    run.mkdir()
    with folder_lock(run, "batch"):
        busy = _cli("batch", "--data", str(data), "--out", str(run), "--quiet")
        mail = _cli("email", "--run", str(run), "--data", str(data))
    for result in (busy, mail):
        assert result.returncode == 1
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert f"in use by another impactbook process (impactbook batch, pid {os.getpid()}" \
            in lines[0]
    assert not (run / "manifest.json").exists()


def test_a_workbook_writer_waits_for_the_other_instead_of_losing_its_items(tmp_path):
    from impactbook.locks import workbook_lock
    from impactbook.news.store import import_news

    data = write_workbook(tmp_path / "wb", tags=TAGS, news="date,title,outlet,tags\n")
    release = threading.Event()

    def hold() -> None:
        with workbook_lock(data, "news import"):
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    time.sleep(0.2)
    # Another process would block on flock; in this process the lock is re-entrant, so the
    # wait is shown with a subprocess that imports while we hold the lock.
    proc = subprocess.Popen([str(IMPACTBOOK), "news", "import",
                             str(_news_csv(tmp_path / "a.csv", "a", 5)), "--data", str(data)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)
    assert proc.poll() is None, "the second writer must wait for the lock"
    import_news(data, _news_csv(tmp_path / "b.csv", "b", 5), "csv")  # under our lock
    release.set()
    holder.join(10)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert len((data / "news.csv").read_text().splitlines()) == 11


# --------------------------------------------------------------------------- planted links


def _run_and_elsewhere(tmp_path: Path) -> tuple[Path, Path, Path]:
    data = _workbook_with_programme(tmp_path / "wb")
    run, elsewhere = tmp_path / "run", tmp_path / "elsewhere"
    run.mkdir()
    elsewhere.mkdir()
    return data, run, elsewhere


def test_state_folder_linked_out_of_the_run_folder_is_refused(tmp_path):
    from impactbook.render.batch import run_batch
    from impactbook.render.plan import plan_batch

    data, run, elsewhere = _run_and_elsewhere(tmp_path)
    (run / ".state").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(UnsafePathError, match=r"\.state: is a symbolic link to .*elsewhere"):
        run_batch(plan_batch(data, run), run, workers=1, progress=False)
    result = _cli("batch", "--data", str(data), "--out", str(run), "--quiet")
    assert result.returncode == 1 and "symbolic link" in result.stderr
    assert list(elsewhere.iterdir()) == []


def test_report_folder_linked_out_of_the_run_folder_is_refused(tmp_path):
    from impactbook.render.plan import plan_batch

    data, run, elsewhere = _run_and_elsewhere(tmp_path)
    (run / "springfield").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(UnsafePathError, match="springfield: is a symbolic link"):
        plan_batch(data, run)
    assert list(elsewhere.iterdir()) == []


def test_workbook_table_linked_out_of_the_workbook_is_not_replaced_through(tmp_path):
    from impactbook.news.store import import_news

    data = write_workbook(tmp_path / "wb", tags=TAGS)
    outside = tmp_path / "outside.csv"
    outside.write_text("date,title,outlet,tags\n")
    (data / "news.csv").symlink_to(outside)
    with pytest.raises((DataError, UnsafePathError), match="news.csv: is a symbolic link"):
        import_news(data, _news_csv(tmp_path / "n.csv", "n", 3), "csv")
    assert outside.read_text() == "date,title,outlet,tags\n"


def test_fifo_among_the_workbook_tables_is_a_problem_not_a_hang(tmp_path):
    from impactbook.render.plan import plan_batch

    data = _workbook_with_programme(tmp_path / "wb")
    os.mkfifo(data / "extra.csv")
    outcome: dict = {}

    def run() -> None:
        try:
            plan_batch(data, tmp_path / "run")
        except DataError as exc:
            outcome["error"] = str(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(20)
    assert not thread.is_alive(), "planning the batch blocked on a FIFO"
    assert "extra.csv: is a FIFO (named pipe)" in outcome["error"]


# --------------------------------------------------------------------------- hostile content


def test_deeply_nested_json_news_is_a_clear_error(tmp_path):
    from impactbook.news.parse import parse_news_json_text

    with pytest.raises(DataError, match="nested too deeply"):
        parse_news_json_text("[" * 200_000 + "]" * 200_000)


def test_dollar_signs_in_names_are_drawn_as_text():
    import matplotlib.text
    import pandas as pd

    from impactbook.report.plots import figure_to_png, plot_counts, plot_forest

    rows = pd.DataFrame({"label": ["Cure $Violence", "GVI $5 $ fund"], "rate_ratio": [0.8, 0.9],
                         "ci_low": [0.7, 0.8], "ci_high": [0.9, 1.1]})
    fig = plot_forest(rows, title="Programmes named $ and $$ and $x^2$")
    assert figure_to_png(fig).startswith(b"\x89PNG")
    shown = [" ".join(t.get_text().split()) for t in fig.findobj(matplotlib.text.Text)]
    assert "Programmes named $ and $$ and $x^2$" in shown  # the text itself, not mathtext
    series = pd.DataFrame({"count": [3.0, 4.0, 5.0]},
                          index=pd.period_range("2020-01", periods=3, freq="M"))
    assert figure_to_png(plot_counts(series, title="$ programme")).startswith(b"\x89PNG")


def _notebook(path: Path, *sources: str) -> Path:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, str(path))
    return path


def test_secrets_in_the_environment_never_reach_a_report_cell(tmp_path, monkeypatch):
    from impactbook.render.kernel import KernelSession
    from impactbook.render.notebook import render_notebook

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-should-not-leak")
    monkeypatch.setenv("DATABASE_URL", "postgres://user:hunter2@db/prod")
    monkeypatch.setenv("IMPACTBOOK_SMTP_PASSWORD", "smtp-should-not-leak")
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    notebook = _notebook(tmp_path / "env.ipynb",
                         "import os, json\nprint(json.dumps(dict(os.environ)))")
    with KernelSession() as session:
        result = render_notebook(notebook, {}, tmp_path / "out", "env", formats=("ipynb",),
                                 kernel=session)
        cells = json.loads(result.notebook.read_text())["cells"]
        seen = json.loads("".join("".join(o["text"]) for c in cells
                                  for o in c.get("outputs", []) if o.get("name") == "stdout"))
        assert "OPENAI_API_KEY" not in seen and "DATABASE_URL" not in seen
        assert not any("SMTP" in k for k in seen)
        assert seen["LC_ALL"] == "C.UTF-8" and "PATH" in seen

        # A section that fails (here a chart) fails the report: it is never recorded ok.
        failing = _notebook(tmp_path / "chart.ipynb",
                            "from impactbook.report.sections import section\n"
                            "@section('Outcomes, one chart each')\n"
                            "def charts():\n    raise ValueError('chart could not be drawn')\n"
                            "charts()")
        with pytest.raises(RenderError, match="section 'Outcomes, one chart each': "
                                              "ValueError: chart could not be drawn"):
            render_notebook(failing, {}, tmp_path / "out", "chart", formats=("ipynb",),
                            kernel=session)
    assert not (tmp_path / "out" / "chart.ipynb").exists()
    assert (tmp_path / "out" / "chart.failed.ipynb").exists()


# --------------------------------------------------------------------------- killed batches


def _rerun(data: Path, run: Path) -> None:
    rerun = _cli("batch", "--data", str(data), "--out", str(run), "--workers", "2", "--quiet",
                 timeout_s=600)
    assert rerun.returncode == 0, rerun.stderr


def _report_files(run: Path) -> dict[str, bytes]:
    return {p.relative_to(run).as_posix(): p.read_bytes() for p in sorted(run.rglob("*"))
            if p.is_file() and p.suffix in (".ipynb", ".html", ".pdf")}


def _assert_ok_reports_match_their_records(run: Path) -> None:
    from impactbook.fsutil import sha256_file

    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    for report in manifest["reports"]:
        if report["status"] == "ok":
            for fmt, rel in report["files"].items():
                assert sha256_file(run / rel) == report["sha256"][fmt], rel


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_batch_parent_killed_alone_leaves_no_worker_writing(tmp_path, sig):
    """``timeout`` or a CI cancel stops only the parent: its workers must die with it, write
    nothing more, and the rerun must never reuse a file its record does not describe."""
    import psutil

    data = _kill_workbook(tmp_path / "wb")
    run = tmp_path / "run"
    proc = _start_batch(data, run)
    delay_s = random.Random(int(sig)).uniform(0.0, 1.5)  # seeded: a failure can be replayed
    try:
        _wait_until_some_finished(proc, run)
        time.sleep(delay_s)  # a random moment after the first report
        family = [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]
        os.kill(proc.pid, sig)  # the parent alone, not its process group
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert _wait_gone(family, timeout_s=20) == [], f"orphans left (kill after {delay_s:.2f} s)"
    files = _report_files(run)
    time.sleep(2)
    assert _report_files(run) == files, "a report file changed after the batch was gone"

    _rerun(data, run)
    _assert_ok_reports_match_their_records(run)
    assert _temp_files(run) == []


@pytest.mark.slow
def test_ctrl_c_on_a_batch_is_one_quiet_line_and_resumes(tmp_path):
    data = _kill_workbook(tmp_path / "wb")
    run = tmp_path / "run"
    proc = _start_batch(data, run)
    try:
        _wait_until_some_finished(proc, run)
        time.sleep(random.Random(2).uniform(0.0, 1.0))  # seeded: a failure can be replayed
        os.killpg(proc.pid, signal.SIGINT)  # what the terminal does: the whole group
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    lines = err.decode().strip().splitlines()
    assert len(lines) == 1, err.decode()
    assert lines[0].startswith("impactbook: interrupted: ") and "finished and kept in" in lines[0]
    assert "Traceback" not in err.decode() and "ZMQError" not in err.decode()
    kept = _finished(run)
    _rerun(data, run)
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    assert len(manifest["reports"]) == len(KILL_CITIES) + 1
    assert {r["id"] for r in manifest["reports"] if r["reused"]} >= set(kept)
    _assert_ok_reports_match_their_records(run)


@pytest.mark.slow
def test_a_report_file_changed_behind_the_record_is_rendered_again(tmp_path):
    from impactbook.render.batch import run_batch
    from impactbook.render.plan import plan_batch

    data = _kill_workbook(tmp_path / "wb")
    run = tmp_path / "run"
    jobs = plan_batch(data, run, cities=["Ashford", "Brixton"], interventions=[])
    run_batch(jobs, run, workers=1, progress=False)
    # What an orphaned worker of a dead batch did: other bytes under a recorded name.
    (run / "ashford" / "ashford.html").write_text("<html>other data</html>")
    again = run_batch(plan_batch(data, run, cities=["Ashford", "Brixton"], interventions=[]),
                      run, workers=1, progress=False)
    reused = {r["name"]: r["reused"] for r in again.manifest["reports"]}
    assert reused == {"Ashford": False, "Brixton": True}
    _assert_ok_reports_match_their_records(run)


# --------------------------------------------------------------------------- edits mid-run


def _edit_counts(data: Path, city: str, added: int) -> None:
    """Add ``added`` to every count of ``city`` (its pre-period mean rises by as much)."""
    path = data / "outcomes.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    edited = [f"{line.rsplit(',', 1)[0]},{int(line.rsplit(',', 1)[1]) + added}"
              if line.startswith(f"{city},") else line for line in lines]
    path.write_text("\n".join(edited) + "\n", encoding="utf-8")


def _pre_mean(result, city: str) -> float:
    entry = {r["name"]: r for r in result.manifest["reports"]}[city]
    assert entry["status"] == "ok", entry["error"]
    return entry["estimates"][0]["pre_mean"]


def _two_cities(data: Path, run: Path):
    from impactbook.render.plan import plan_batch

    return plan_batch(data, run, cities=["Ashford", "Brixton"], interventions=[])


@pytest.mark.slow
def test_a_report_is_recorded_under_the_data_it_was_rendered_from(tmp_path):
    """Data edited after planning: whatever the report was rendered from, its record names
    that data, so no later run reuses it for the other data's numbers."""
    from impactbook.render.batch import run_batch

    data = _kill_workbook(tmp_path / "wb")
    original = (data / "outcomes.csv").read_bytes()
    run = tmp_path / "run"
    jobs = _two_cities(data, run)
    _edit_counts(data, "Ashford", 20)  # after planning, before the report reads the data
    assert run_batch(jobs, run, workers=1, progress=False).ok
    edited = run_batch(_two_cities(data, run), run, workers=1, progress=False)
    assert _pre_mean(edited, "Ashford") > 20
    (data / "outcomes.csv").write_bytes(original)  # back to the data planned at first
    back = run_batch(_two_cities(data, run), run, workers=1, progress=False)
    assert _pre_mean(back, "Ashford") < 20, "reused with the other data's numbers"
    assert {r["name"]: r["reused"] for r in back.manifest["reports"]}["Brixton"] is True


@pytest.mark.slow
def test_data_edited_while_a_report_renders_is_never_recorded_stale(tmp_path, monkeypatch):
    from impactbook.render import workers
    from impactbook.render.batch import run_batch

    data = _kill_workbook(tmp_path / "wb")
    run = tmp_path / "run"
    real_send = workers._Worker.send

    def send_then_edit(self, job, timeout_s):
        real_send(self, job, timeout_s)
        if job.name == "Ashford":  # the edit lands while Ashford's report is in hand
            _edit_counts(data, "Ashford", 21)

    monkeypatch.setattr(workers._Worker, "send", send_then_edit)
    first = run_batch(_two_cities(data, run), run, workers=1, progress=False)
    by_name = {r["name"]: r for r in first.manifest["reports"]}
    assert by_name["Brixton"]["status"] == "ok"
    if by_name["Ashford"]["status"] != "ok":
        assert "workbook changed while this report was rendering" in by_name["Ashford"]["error"]
    monkeypatch.setattr(workers._Worker, "send", real_send)
    again = run_batch(_two_cities(data, run), run, workers=1, progress=False)
    assert _pre_mean(again, "Ashford") > 20
    assert {r["name"]: r["reused"] for r in again.manifest["reports"]}["Brixton"] is True


@pytest.mark.slow
def test_a_render_of_the_folder_is_bracketed_by_its_input_slice(tmp_path, monkeypatch):
    """Without a prepared snapshot (``impactbook render``, Dask) a report reads the folder:
    an edit while it renders is recorded as a failure, never as an ok report of either data."""
    from impactbook.render import notebook
    from impactbook.render.batch import render_city

    data = _kill_workbook(tmp_path / "wb")
    real = notebook.render_notebook

    def render_then_edit(*args, **kwargs):
        result = real(*args, **kwargs)
        _edit_counts(data, "Ashford", 22)
        return result

    monkeypatch.setattr(notebook, "render_notebook", render_then_edit)
    with pytest.raises(RenderError, match="workbook changed while this report was rendering"):
        render_city(data, "Ashford", tmp_path / "run", formats=("html",))
    state = json.loads((tmp_path / "run" / ".state" / "ashford.json").read_text())
    assert state["entry"]["status"] == "failed"


# --------------------------------------------------------------------------- validation bounds


def _validate(data: Path) -> subprocess.CompletedProcess:
    return _cli("validate", "--data", str(data), timeout_s=60)


def test_outcomes_linked_to_a_fifo_is_a_problem_not_a_hang(tmp_path):
    data = _workbook_with_programme(tmp_path / "wb")
    fifo = data / "pipe"
    os.mkfifo(fifo)
    (data / "outcomes.csv").unlink()
    (data / "outcomes.csv").symlink_to(fifo)
    result = _validate(data)  # bounded: a hang fails on the timeout
    assert result.returncode == 1
    assert "outcomes.csv: is a FIFO (named pipe), expected an ordinary file" in result.stderr


def test_a_header_of_a_million_columns_is_one_short_line(tmp_path):
    data = _workbook_with_programme(tmp_path / "wb")
    header = ",".join(f"c{i}" for i in range(1_000_000))
    (data / "tags.csv").write_text(header + "\n" + "x," * 999_999 + "x\n")
    result = _validate(data)  # bounded by _validate's timeout
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert ("impactbook: error: tags.csv, row 1: the header has 1,000,000 columns, more than "
            "the 1,000 a workbook table may have; is this the right file?") in lines
    assert all(len(line) < 700 for line in lines)


def test_wide_headers_are_listed_briefly(tmp_path):
    from impactbook.workbook.csvread import _check_columns

    columns = [f"c{i % 500}" for i in range(1000)]  # every name twice
    with pytest.raises(DataError) as info:
        _check_columns(columns, ("c1",), "wide.csv")
    assert "and 488 more" in str(info.value) and len(str(info.value)) < 300


def test_a_long_field_is_named_as_long_not_blamed_on_quotes(tmp_path):
    data = _workbook_with_programme(tmp_path / "wb")
    (data / "news.csv").write_text("date,title,outlet,tags,summary\n"
                                   "2017-03,T,G,Springfield," + "s" * 1_200_000 + "\n")
    result = _validate(data)
    assert result.returncode == 1
    assert "news.csv, row 2: a value is 1,200,000 characters long" in result.stderr
    assert "quote" not in result.stderr
    assert all(len(line) < 700 for line in result.stderr.splitlines())


def test_a_problem_is_one_short_line_whatever_the_value():
    from impactbook.errors import Problem

    line = str(Problem("outcomes.csv", "count " + "9" * 1_000_000 + " is not a number",
                       row=2, column="c" * 10_000))
    assert len(line) < 800 and line.startswith("outcomes.csv, row 2, column 'ccc")


def test_extra_fifo_or_folder_named_csv_is_a_validation_problem(tmp_path):
    data = _workbook_with_programme(tmp_path / "wb")
    os.mkfifo(data / "extra.csv")
    (data / "old.csv").mkdir()
    result = _validate(data)
    assert result.returncode == 1
    assert "extra.csv: is a FIFO (named pipe), expected an ordinary file" in result.stderr
    assert "old.csv: is a folder, expected a file" in result.stderr


def test_a_table_linked_out_of_the_workbook_is_not_read(tmp_path):
    data = _workbook_with_programme(tmp_path / "wb")
    outside = tmp_path / "outside.csv"
    (data / "tags.csv").rename(outside)
    (data / "tags.csv").symlink_to(outside)
    result = _validate(data)
    assert result.returncode == 1
    assert "tags.csv: is a symbolic link to" in result.stderr and "outside" in result.stderr


# --------------------------------------------------------------------------- names


BIDI = ["\u202e", "\u202a", "\u2066", "\u2069", "\u200e", "\u200f", "\u061c", "\u200b"]


@pytest.mark.parametrize("mark", BIDI)
def test_direction_changing_characters_are_refused_in_city_and_funder_names(tmp_path, mark):
    from impactbook.workbook import validate_workbook

    city = f"Spring{mark}field"
    counts = [10 + (i % 5) for i in range(36)]
    data = build_workbook(
        tmp_path / "wb", monthly_rows(city, "citywide", "shootings", 2016, counts),
        f"spr,{city},Group Violence Intervention,GVI,citywide,2017-06,shootings\n",
        tags=TAG_ROWS + f"{city},city\n", news="", funders=f"Ford{mark} Fund,f@example.org,*,*\n")
    with pytest.raises(DataError) as info:
        validate_workbook(data)
    text = str(info.value)
    for file, column in (("outcomes.csv", "city"), ("interventions.csv", "city"),
                         ("funders.csv", "funder")):
        assert any(p.file == file and p.column == column and "changes how text displays"
                   in p.message for p in info.value.problems), text


@pytest.mark.parametrize("name", ["CON", "nul", "Aux", "PRN", "COM1", "lpt9", "Con."])
def test_report_folders_are_portable_to_windows(name):
    from impactbook.fsutil import slugify

    slug = slugify(name)
    assert slug == f"{name.lower().rstrip('.')}-report"
    assert not slug.endswith((".", " "))


def test_cities_and_summaries_share_one_folder_name_space(tmp_path):
    from impactbook.render.plan import plan_batch, summary_slugs

    assert summary_slugs(["Cure Violence", "Cure Violence Summary"], ["Cure Violence"]) == {
        "Cure Violence": "cure-violence-summary-2"}
    counts = [10 + (i % 5) for i in range(36)]
    cities = ["Cure-Violence", "Cure Violence Summary"]  # a city tag may not repeat the type's
    data = build_workbook(
        tmp_path / "wb",
        "".join(monthly_rows(c, "citywide", "shootings", 2016, counts) for c in cities),
        "".join(f"p{i},{c},Cure Violence,CV {i},citywide,2017-06,shootings\n"
                for i, c in enumerate(cities)),
        tags=TAG_ROWS + "".join(f"{c},city\n" for c in cities))
    slugs = [job.slug for job in plan_batch(data, tmp_path / "run")]
    assert len(slugs) == len(set(slugs)) == 3


# --------------------------------------------------------------------------- padded values


def _unpadded_copy(source: Path, target: Path) -> Path:
    import csv
    import io

    target.mkdir()
    for path in source.glob("*.csv"):
        rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows([[c.strip() for c in r] for r in rows])
        (target / path.name).write_text(out.getvalue(), encoding="utf-8")
    return target


PADDED = Path(__file__).parent / "fixtures" / "bad" / "accepted_whitespace_around_values"


def test_padded_names_and_headers_plan_as_the_loader_reads_them(tmp_path):
    import shutil

    from impactbook.render.plan import plan_batch

    padded = Path(shutil.copytree(PADDED, tmp_path / "padded"))
    plain = _unpadded_copy(PADDED, tmp_path / "plain")
    jobs = {j.id: j for j in plan_batch(padded, tmp_path / "run1")}
    same = {j.id: j for j in plan_batch(plain, tmp_path / "run2")}
    assert jobs["city/springfield"].name == "Springfield"
    assert jobs["city/springfield"].parameters["city"] == "Springfield"
    assert {i: j.input_hash for i, j in jobs.items()} == {i: j.input_hash
                                                          for i, j in same.items()}


@pytest.mark.slow
def test_a_padded_workbook_renders_and_an_edit_renders_again(tmp_path):
    import shutil

    from impactbook.render.batch import run_batch
    from impactbook.render.plan import plan_batch

    data = Path(shutil.copytree(PADDED, tmp_path / "padded"))
    run = tmp_path / "run"
    first = run_batch(plan_batch(data, run, formats=("html",)), run, workers=1, progress=False)
    assert first.ok, first.failed
    path = data / "outcomes.csv"
    path.write_text(path.read_text().replace("2016-02 , 11", "2016-02 , 19"))
    again = run_batch(plan_batch(data, run, formats=("html",)), run, workers=1, progress=False)
    assert {r["name"]: r["reused"] for r in again.manifest["reports"]}["Springfield"] is False
