"""Faults that must lose nothing: a full disk while writing, a batch killed mid-run, a worker
killed mid-report. Each leaves the previous good outputs byte-identical and the run resumable."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import pathlib
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from .conftest import ROOT
from .workbooks import TAG_ROWS, build_workbook, monthly_rows

FIXTURES = Path(__file__).parent / "fixtures"
BATCH_NOTEBOOKS = FIXTURES / "notebooks" / "batch"
IMPACTBOOK = Path(sys.executable).parent / "impactbook"
ENOSPC = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _temp_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith(".tmp")]


# --------------------------------------------------------------------------- a full disk

_real_write_bytes = pathlib.Path.write_bytes


def _fill_disk_on_write(monkeypatch, name_prefix: str) -> None:
    """Writing a temp file whose name starts with ``name_prefix`` gets half its bytes onto the
    disk and then fails with ENOSPC, as a write(2) on a full file system does."""

    def write_bytes(self, data):
        if self.name.startswith(name_prefix) and self.name.endswith(".tmp"):
            _real_write_bytes(self, bytes(data)[: len(data) // 2])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))
        return _real_write_bytes(self, data)

    monkeypatch.setattr(pathlib.Path, "write_bytes", write_bytes)


def _fill_disk_in_atomic_path(monkeypatch, module, target_name: str) -> None:
    """``atomic_path`` for ``target_name`` (as bound in ``module``) truncates what the caller
    wrote to half and fails with ENOSPC before the rename."""
    from impactbook import fsutil

    real = fsutil.atomic_path

    @contextlib.contextmanager
    def atomic_path(path):
        with real(path) as tmp:
            yield tmp
            if Path(path).name == target_name:
                os.truncate(tmp, tmp.stat().st_size // 2)
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp))

    monkeypatch.setattr(module, "atomic_path", atomic_path)


def _spring_workbook(folder: Path, *, last_count: int) -> Path:
    counts = [10 + (i % 5) for i in range(35)] + [last_count]
    return build_workbook(
        folder, monthly_rows("Springfield", "citywide", "shootings", 2016, counts),
        "spr-gvi,Springfield,Group Violence Intervention,Springfield GVI,citywide,2017-01,"
        "shootings\n",
        news="2017-03,GVI starts,Gazette,Springfield\n", funders="Fund,grants@example.org,*,*\n")


@pytest.mark.slow
@pytest.mark.parametrize("failing", ["ipynb", "pdf"])  # the first and the last written
def test_full_disk_during_render_city_keeps_previous_report(tmp_path, monkeypatch, failing):
    from impactbook.errors import ImpactbookError
    from impactbook.render.batch import render_city

    data = _spring_workbook(tmp_path / "wb", last_count=12)
    run = tmp_path / "run"
    first = render_city(data, "Springfield", run, formats=("html", "pdf"))
    assert first["status"] == "ok"
    before = _snapshot(run / "springfield")
    assert set(before) == {"springfield.ipynb", "springfield.html", "springfield.pdf"}

    _spring_workbook(data, last_count=40)  # new data: every new file would differ
    _fill_disk_on_write(monkeypatch, f".springfield.{failing}.")
    with pytest.raises(ImpactbookError) as info:
        render_city(data, "Springfield", run, formats=("html", "pdf"))
    assert "No space left on device" in str(info.value)
    assert _snapshot(run / "springfield") == before, "previous report changed"
    assert _temp_files(run) == []
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    [entry] = manifest["reports"]
    assert entry["status"] == "failed" and "No space left on device" in entry["error"]
    assert "\n" not in entry["error"]

    monkeypatch.undo()  # space again: the next run succeeds and replaces the report
    again = render_city(data, "Springfield", run, formats=("html", "pdf"))
    assert again["status"] == "ok"
    after = _snapshot(run / "springfield")
    assert set(after) == set(before) and after["springfield.pdf"] != before["springfield.pdf"]
    assert after["springfield.pdf"].startswith(b"%PDF")


_SITECUSTOMIZE = textwrap.dedent('''
    """Test hook: fail writes of one report file with ENOSPC (see tests/test_faults.py)."""
    import errno
    import os
    import pathlib

    _PREFIX = os.environ.get("IMPACTBOOK_TEST_ENOSPC_PREFIX")
    if _PREFIX:
        _real = pathlib.Path.write_bytes

        def _write_bytes(self, data):
            if self.name.startswith(_PREFIX) and self.name.endswith(".tmp"):
                _real(self, bytes(data)[: len(data) // 2])
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))
            return _real(self, data)

        pathlib.Path.write_bytes = _write_bytes
''')


@pytest.mark.slow
def test_full_disk_in_a_batch_worker_is_one_manifest_line(tmp_path, monkeypatch):
    import shutil

    from impactbook.render.batch import run_batch
    from impactbook.render.plan import plan_batch

    data = tmp_path / "data"
    shutil.copytree(FIXTURES / "workbook", data)
    run = tmp_path / "run"

    def plan():
        return plan_batch(data, run, notebooks_dir=BATCH_NOTEBOOKS, interventions=[])

    assert run_batch(plan(), run, workers=2, timeout_s=120, progress=False).ok
    before = _snapshot(run)
    text = (data / "outcomes.csv").read_text().replace("Alpha,citywide,shootings,2020-02,8",
                                                        "Alpha,citywide,shootings,2020-02,4")
    (data / "outcomes.csv").write_text(text)

    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(_SITECUSTOMIZE)
    monkeypatch.setenv("PYTHONPATH", str(hooks))
    monkeypatch.setenv("IMPACTBOOK_TEST_ENOSPC_PREFIX", ".alpha.html.")
    failed = run_batch(plan(), run, workers=2, timeout_s=120, progress=False)
    assert failed.exit_code == 1
    [entry] = failed.failed
    assert entry["name"] == "Alpha" and "No space left on device" in entry["error"]
    assert "\n" not in entry["error"]
    for rel in ("alpha/alpha.ipynb", "alpha/alpha.html", "alpha/alpha.pdf"):
        assert (run / rel).read_bytes() == before[rel], rel
    assert _temp_files(run) == []
    index = (run / "index.html").read_text(encoding="utf-8")
    assert "No space left on device" in index

    monkeypatch.delenv("IMPACTBOOK_TEST_ENOSPC_PREFIX")
    again = run_batch(plan(), run, workers=2, timeout_s=120, progress=False)
    assert again.ok and again.rendered == 1
    assert (run / "alpha" / "alpha.pdf").read_bytes() != before["alpha/alpha.pdf"]


def test_full_disk_during_news_import_keeps_news_csv(tmp_path, monkeypatch, capsys):
    from impactbook.cli import main
    from impactbook.news import store as news

    data = _spring_workbook(tmp_path / "wb", last_count=12)
    before = (data / "news.csv").read_bytes()
    incoming = tmp_path / "incoming.csv"
    incoming.write_text("date,title,outlet,tags\n2017-05,Second item,Gazette,Springfield\n",
                        encoding="utf-8")
    _fill_disk_in_atomic_path(monkeypatch, news, "news.csv")
    assert main(["news", "import", str(incoming), "--data", str(data)]) != 0
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "No space left on device" in err
    assert "Traceback" not in err
    assert (data / "news.csv").read_bytes() == before
    assert _temp_files(data) == []

    monkeypatch.undo()
    assert main(["news", "import", str(incoming), "--data", str(data)]) == 0
    after = (data / "news.csv").read_bytes()
    assert b"GVI starts" in after and b"Second item" in after


def test_full_disk_during_outcomes_write_keeps_outcomes_csv(tmp_path, monkeypatch):
    from impactbook.ingest import sources as ingest

    data = _spring_workbook(tmp_path / "wb", last_count=12)
    before = (data / "outcomes.csv").read_bytes()
    frame = ingest.read_outcomes(data)
    frame.loc[frame.index[-1], "count"] = 99
    _fill_disk_in_atomic_path(monkeypatch, ingest, "outcomes.csv")
    with pytest.raises(OSError) as info:
        ingest.write_outcomes(data, frame)
    assert info.value.errno == errno.ENOSPC
    assert (data / "outcomes.csv").read_bytes() == before
    assert _temp_files(data) == []

    monkeypatch.undo()
    ingest.write_outcomes(data, frame)
    assert ingest.read_outcomes(data)["count"].iloc[-1] == 99


def test_full_disk_while_writing_the_outbox_keeps_previous_messages(tmp_path, monkeypatch):
    from impactbook.mail.run import outbox_dir, run_email

    data = _spring_workbook(tmp_path / "wb", last_count=12)
    run = tmp_path / "run"
    run.mkdir()
    pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    (run / "springfield").mkdir()
    (run / "springfield" / "springfield.pdf").write_bytes(pdf)
    (run / "manifest.json").write_text(json.dumps({"run": "run", "reports": [{
        "id": "city/springfield", "kind": "city", "name": "Springfield", "slug": "springfield",
        "interventions": ["Group Violence Intervention"], "status": "ok", "error": None,
        "files": {"pdf": "springfield/springfield.pdf"}, "key_findings": ["First"]}]}))
    first = run_email(run, data)
    assert [p.name for p in first.outbox] == ["fund.eml"]
    before = _snapshot(outbox_dir(run))

    manifest = json.loads((run / "manifest.json").read_text())
    manifest["reports"][0]["key_findings"] = ["Second"]
    (run / "manifest.json").write_text(json.dumps(manifest))
    _fill_disk_on_write(monkeypatch, ".fund.eml.")
    with pytest.raises(OSError) as info:
        run_email(run, data)
    assert info.value.errno == errno.ENOSPC
    assert _snapshot(outbox_dir(run)) == before
    assert _temp_files(run) == []

    monkeypatch.undo()
    again = run_email(run, data)
    assert b"Second" in again.outbox[0].read_bytes()


# --------------------------------------------------------------------------- killed batches

KILL_CITIES = ("Ashford", "Brixton", "Camden", "Dalston", "Enfield")


def _kill_workbook(folder: Path) -> Path:
    outcomes, programmes = "", ""
    for i, city in enumerate(KILL_CITIES):
        counts = [8 + ((i + k) % 4) for k in range(24)]
        outcomes += monthly_rows(city, "citywide", "shootings", 2018, counts)
        programmes += (f"p{i},{city},Group Violence Intervention,{city} GVI,citywide,2019-01,"
                       "shootings\n")
    tags = TAG_ROWS + "".join(f"{city},city\n" for city in KILL_CITIES)
    return build_workbook(folder, outcomes, programmes, tags=tags)


def _start_batch(data: Path, run: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "IMPACTBOOK_NOTEBOOKS"}
    return subprocess.Popen(
        [str(IMPACTBOOK), "batch", "--data", str(data), "--out", str(run), "--workers", "2",
         "--quiet"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=True)


def _finished(run: Path) -> dict[str, dict]:
    """Reports the run folder records as done (its per-report state files)."""
    done = {}
    for path in (run / ".state").glob("*.json"):
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))["entry"]
        except (OSError, ValueError, KeyError):
            continue
        if entry.get("status") == "ok":
            done[entry["id"]] = entry
    return done


def _wait_until_some_finished(proc: subprocess.Popen, run: Path, timeout_s: float = 180):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if _finished(run):
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError("no report finished in time")


def _assert_complete(run: Path, rel: str) -> None:
    """The file is whole: what a run that trusts it would publish or mail."""
    import nbformat

    data = (run / rel).read_bytes()
    if rel.endswith(".pdf"):
        assert data.startswith(b"%PDF") and data.rstrip().endswith(b"%%EOF"), rel
    elif rel.endswith(".html"):
        assert data.rstrip().endswith(b"</html>"), rel
    else:
        nbformat.reads(data.decode("utf-8"), as_version=4)


def _wait_gone(pids: list[int], timeout_s: float = 20) -> list[int]:
    import psutil

    deadline = time.monotonic() + timeout_s
    alive = list(pids)
    while alive and time.monotonic() < deadline:
        alive = [p for p in alive if psutil.pid_exists(p)
                 and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
        time.sleep(0.1)
    return alive


@pytest.mark.slow
def test_batch_killed_mid_run_resumes_with_finished_reports_intact(tmp_path):
    import psutil

    data = _kill_workbook(tmp_path / "wb")
    run = tmp_path / "run"
    proc = _start_batch(data, run)
    try:
        _wait_until_some_finished(proc, run)
        tree = [proc.pid] + [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]
        for pid in tree:  # the machine "loses power": every process at once, no cleanup
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    finally:
        proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert _wait_gone(tree) == []

    finished = _finished(run)
    assert 1 <= len(finished) < len(KILL_CITIES) + 1, "the kill came mid-run"
    kept = {}
    for entry in finished.values():
        assert set(entry["files"]) == {"ipynb", "html", "pdf"}
        for rel in entry["files"].values():
            _assert_complete(run, rel)
            kept[rel] = (run / rel).read_bytes()
    if (run / "manifest.json").exists():  # rewritten atomically after every report
        json.loads((run / "manifest.json").read_text(encoding="utf-8"))

    rerun = subprocess.run(
        [str(IMPACTBOOK), "batch", "--data", str(data), "--out", str(run), "--workers", "2",
         "--quiet"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    reports = {r["id"]: r for r in manifest["reports"]}
    assert len(reports) == len(KILL_CITIES) + 1
    assert all(r["status"] == "ok" for r in reports.values())
    assert {i for i, r in reports.items() if r["reused"]} == set(finished)
    for rel, data_before in kept.items():
        assert (run / rel).read_bytes() == data_before, f"{rel} changed"
    for report in reports.values():
        for rel in report["files"].values():
            _assert_complete(run, rel)
    assert _temp_files(run) == []


@pytest.mark.slow
def test_killing_one_worker_fails_only_its_report(tmp_path):
    import psutil

    data = _kill_workbook(tmp_path / "wb")
    run = tmp_path / "run"
    proc = _start_batch(data, run)
    try:
        _wait_until_some_finished(proc, run)
        workers = [c for c in psutil.Process(proc.pid).children()
                   if "impactbook.render.workers" in " ".join(c.cmdline())]
        assert len(workers) == 2
        victim = workers[0]
        victim_kernels = [k.pid for k in victim.children(recursive=True)]
        victim.send_signal(signal.SIGKILL)
        out, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    failed = [r for r in manifest["reports"] if r["status"] != "ok"]
    assert len(manifest["reports"]) == len(KILL_CITIES) + 1
    # The killed worker was (almost surely) mid-report: that report, and only it, failed.
    assert len(failed) <= 1
    assert proc.returncode == (1 if failed else 0), err
    for report in failed:
        assert report["error"] == "worker process died"
        assert not (run / report["slug"] / f"{report['slug']}.pdf").exists()
    for report in manifest["reports"]:
        if report["status"] == "ok":
            for rel in report["files"].values():
                _assert_complete(run, rel)
    assert _wait_gone(victim_kernels) == [], "the killed worker's kernel was left running"

    rerun = subprocess.run(
        [str(IMPACTBOOK), "batch", "--data", str(data), "--out", str(run), "--workers", "2",
         "--quiet"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    again = json.loads((run / "manifest.json").read_text(encoding="utf-8"))["reports"]
    assert all(r["status"] == "ok" for r in again)
    assert {r["id"] for r in again if not r["reused"]} == {r["id"] for r in failed}
    assert _temp_files(run) == []


def test_temp_files_of_a_killed_writer_left_a_zombie_are_removed(tmp_path):
    """A writer killed while its parent does not reap it stays a zombie (in a container, init
    may never reap it): its temporary files are orphans all the same; a live writer's stay."""
    from impactbook.fsutil import remove_orphaned_temp_files

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = tmp_path / f".report.html.{os.getpid()}.abc123.tmp"
        dead = tmp_path / f".report.pdf.{child.pid}.def456.tmp"
        live.write_bytes(b"x")
        dead.write_bytes(b"x")
        assert remove_orphaned_temp_files(tmp_path) == []  # both writers alive
        os.kill(child.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10  # not waited for: a zombie until Popen reaps it
        while time.monotonic() < deadline and Path(f"/proc/{child.pid}/stat").exists() and (
                Path(f"/proc/{child.pid}/stat").read_text().rpartition(")")[2].split()[0]
                != "Z"):
            time.sleep(0.05)
        assert remove_orphaned_temp_files(tmp_path) == [dead]
        assert live.exists() and not dead.exists()
    finally:
        child.kill()
        child.wait()
