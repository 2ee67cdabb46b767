"""The bad-input corpus (tests/fixtures/bad/) run through the real command line.

Every case: the exit status its ``expected.txt`` asks for, each expected line on stderr, every
error line locating its problem (file, row, column where there is one), no traceback, and the
case folder byte-for-byte unchanged with no file added.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from impactbook.cli import main

from .conftest import FIXTURES
from .fixtures.bad import make_cases

BAD = FIXTURES / "bad"
CASES = sorted(p.parent for p in BAD.glob("*/expected.txt"))
WORKBOOK_CASES = [c for c in CASES if not (c / "source.csv").exists()]
INGEST_CASES = [c for c in CASES if (c / "source.csv").exists()]
IMPACTBOOK = Path(sys.executable).with_name("impactbook")

# One problem per line: "impactbook: error: FILE[, row N][, column 'C']: message", or the
# "... and N more" line that caps a repeated problem.
ERROR_LINE = re.compile(r"^impactbook: error: \S+\.csv(, row \d+)?(, column '[^']+')?: \S")


def folder_state(folder: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file under ``folder`` (new files show up as keys)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def read_expected(case: Path) -> tuple[dict[str, str], list[str]]:
    """``# key: value`` header lines and the expected stderr substrings."""
    meta, lines = {}, []
    for line in (case / "expected.txt").read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            key, _, value = line[1:].partition(":")
            meta[key.strip()] = value.strip()
        elif line.strip():
            lines.append(line)
    return meta, lines


def check_output(case: Path, code: int, stderr: str, expected: list[str], *,
                 must_fail: bool) -> None:
    assert "Traceback" not in stderr, stderr
    assert "internal error" not in stderr, stderr
    if must_fail:
        assert code != 0, f"{case.name}: accepted, expected failure\n{stderr}"
    else:
        assert code == 0, f"{case.name}: rejected, expected acceptance\n{stderr}"
    lines = stderr.splitlines()
    for want in expected:
        assert any(want in line for line in lines), f"{case.name}: missing {want!r} in\n{stderr}"
    return None


def test_corpus_is_large_and_in_sync(tmp_path):
    assert len(CASES) >= 30
    assert len([c for c in WORKBOOK_CASES if not c.name.startswith("accepted_")]) >= 30
    # The committed folders are exactly what make_cases.py writes (no hand edits drift).
    written = make_cases.write_cases(tmp_path)
    assert written == len(CASES)
    for case in CASES:
        assert folder_state(case) == folder_state(tmp_path / case.name), case.name


@pytest.mark.parametrize("case", WORKBOOK_CASES, ids=lambda p: p.name)
def test_validate_case(case, capsys):
    _, expected = read_expected(case)
    must_fail = any(line.startswith("error:") for line in expected)
    before = folder_state(case)
    code = main(["validate", "--data", str(case)])
    captured = capsys.readouterr()
    check_output(case, code, captured.err, expected, must_fail=must_fail)
    for line in captured.err.splitlines():
        if line.startswith("impactbook: error:") and "... and " not in line:
            assert ERROR_LINE.match(line), f"unlocated problem line: {line!r}"
        else:
            assert line.startswith("warning: "), f"stray stderr line: {line!r}"
    if must_fail:
        assert "workbook is valid" not in captured.out
    assert folder_state(case) == before


@pytest.mark.parametrize("name", [
    "html_page", "latin1_bytes", "quoted_newline_rows", "funder_name_with_crlf",
    "accepted_utf8_bom", "accepted_crlf_no_final_newline", "empty_file", "ragged_row",
])
def test_validate_case_in_subprocess(name):
    case = BAD / name
    _, expected = read_expected(case)
    must_fail = any(line.startswith("error:") for line in expected)
    before = folder_state(case)
    proc = subprocess.run([str(IMPACTBOOK), "validate", "--data", str(case)],
                          capture_output=True, text=True, timeout=120, cwd=case)
    check_output(case, proc.returncode, proc.stderr, expected, must_fail=must_fail)
    assert folder_state(case) == before


@pytest.fixture
def base_workbook(tmp_path) -> Path:
    folder = tmp_path / "workbook"
    folder.mkdir()
    for name, text in make_cases.BASE.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.mark.parametrize("case", INGEST_CASES, ids=lambda p: p.name)
def test_ingest_case(case, base_workbook, capsys):
    meta, expected = read_expected(case)
    before_case, before_data = folder_state(case), folder_state(base_workbook)
    code = main(["ingest", meta["source"], str(case / "source.csv"), "--data",
                 str(base_workbook)])
    captured = capsys.readouterr()
    check_output(case, code, captured.err, expected, must_fail=True)
    assert folder_state(case) == before_case
    assert folder_state(base_workbook) == before_data


def test_ingest_case_in_subprocess(base_workbook):
    case = BAD / "ingest_unparseable_date"
    meta, expected = read_expected(case)
    before = folder_state(base_workbook)
    proc = subprocess.run([str(IMPACTBOOK), "ingest", meta["source"], str(case / "source.csv"),
                           "--data", str(base_workbook)],
                          capture_output=True, text=True, timeout=120)
    check_output(case, proc.returncode, proc.stderr, expected, must_fail=True)
    assert folder_state(base_workbook) == before


def test_case_copied_elsewhere_gives_the_same_lines(tmp_path, capsys):
    """Messages name the file, not where the workbook happens to live."""
    copy = tmp_path / "copy"
    shutil.copytree(BAD / "duplicated_period", copy)
    main(["validate", "--data", str(copy)])
    here = capsys.readouterr().err
    main(["validate", "--data", str(BAD / "duplicated_period")])
    assert capsys.readouterr().err == here


def test_many_bad_rows_are_capped_with_a_count(tmp_path, capsys):
    folder = tmp_path / "wb"
    shutil.copytree(BAD / "accepted_utf8_bom", folder)
    extra = "".join(f"Springfield,District {d},shootings,2016-{m:02d},-{m}\n"
                    for d in (7, 8, 9) for m in range(1, 13))
    with open(folder / "outcomes.csv", "a", encoding="utf-8") as fh:
        fh.write(extra)
    assert main(["validate", "--data", str(folder)]) == 1
    lines = capsys.readouterr().err.splitlines()
    negatives = [line for line in lines if "column 'count': negative count" in line]
    assert len(negatives) == 20
    assert any("... and 16 more row(s) with the same problem" in line for line in lines)


# --- a 200 MB outcomes.csv, generated at test time -------------------------------------------

def write_big_outcomes(path: Path, target_bytes: int) -> int:
    """Distinct monthly rows (City N, 25 districts, 3 outcomes, 2000-2023) up to ``target_bytes``.

    Returns the number of data rows written.
    """
    size = rows = city = 0
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write("city,area,outcome,period,count,population\n")
        while size < target_bytes:
            lines = [f"City {city},District {district},{outcome},{year}-{month:02d},"
                     f"{(year * month + district) % 97},{100000 + district}\n"
                     for district in range(1, 26)
                     for outcome in ("shootings", "homicides", "shooting victims")
                     for year in range(2000, 2024) for month in range(1, 13)]
            block = "".join(lines)
            fh.write(block)
            size += len(block)
            rows += len(lines)
            city += 1
    return rows


_MEASURE = """
import resource, subprocess, sys, time
t0 = time.monotonic()
proc = subprocess.run(sys.argv[1:], capture_output=True, text=True)
peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
sys.stdout.write(f"{proc.returncode} {peak_kib} {time.monotonic() - t0:.1f}\\n")
sys.stdout.write(proc.stderr)
"""


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_validate_streams_a_200mb_outcomes_file(tmp_path):
    folder = tmp_path / "big"
    folder.mkdir()
    for name, text in make_cases.BASE.items():
        (folder / name).write_text(text, encoding="utf-8")
    (folder / "interventions.csv").write_text(make_cases.INTERVENTIONS.splitlines()[0] + "\n")
    (folder / "funders.csv").write_text("funder,email,cities,interventions\n")
    rows = write_big_outcomes(folder / "outcomes.csv", 200 * 2**20)
    # Problems at the very end must be found, on the right lines, after millions of good rows.
    with open(folder / "outcomes.csv", "a", encoding="utf-8") as fh:
        fh.write("City 0,District 1,shootings,2000-01,5,100001\n")
        fh.write("City 0,District 1,shootings,2031-13,5,100001\n")
        fh.write("City 0,District 2,shootings,2024-01,-3,100002\n")
    size_mb = (folder / "outcomes.csv").stat().st_size / 2**20
    assert size_mb >= 200
    before = {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.iterdir()}

    # A fresh wrapper process whose only child is the validation: its RUSAGE_CHILDREN peak
    # is the validation's own peak resident set.
    proc = subprocess.run([sys.executable, "-c", _MEASURE, str(IMPACTBOOK), "validate",
                           "--data", str(folder)], capture_output=True, text=True, timeout=900)
    first, _, stderr = proc.stdout.partition("\n")
    code, peak_kib, seconds = first.split()
    peak_mb = int(peak_kib) / 1024
    print(f"\nvalidate {size_mb:.0f} MB outcomes.csv ({rows:,} rows): peak RSS {peak_mb:.0f} MB, "
          f"{seconds} s")
    assert int(code) == 1
    assert "Traceback" not in stderr
    first_bad = rows + 2
    assert (f"outcomes.csv, row {first_bad}, column 'period': duplicate row for City 0 / "
            "District 1 / shootings / 2000-01 (first at row 2)") in stderr
    assert f"outcomes.csv, row {first_bad + 1}, column 'period': month 13" in stderr
    assert f"outcomes.csv, row {first_bad + 2}, column 'count': negative count -3" in stderr
    assert peak_mb < 1536, f"validation used {peak_mb:.0f} MB for a {size_mb:.0f} MB file"
    after = {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.iterdir()}
    assert after == before


def test_hostile_names_validate_and_plan_only_plain_folders(tmp_path):
    """Names with HTML, quotes, newlines in prose and ``../`` are data, never paths."""
    from impactbook.render.plan import plan_batch

    case = BAD / "accepted_hostile_names"
    before = folder_state(case)
    assert main(["validate", "--data", str(case)]) == 0
    run = tmp_path / "run"
    jobs = plan_batch(case, run, formats=("html",))
    assert make_cases.HOSTILE_CITY in {job.name for job in jobs}
    for job in jobs:
        assert re.fullmatch(r"[a-z0-9-]+", job.slug), job.slug
        assert (run / job.slug).resolve().parent == run.resolve()
    assert not run.exists()  # planning writes nothing
    assert folder_state(case) == before
