"""The command line: thin, honest exit codes, one line per problem, no tracebacks."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from impactbook import __version__
from impactbook.cli import build_parser, main

from .conftest import FIXTURES, ROOT


def test_version_and_help(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0 and __version__ in capsys.readouterr().out
    commands = build_parser()._subparsers._group_actions[0].choices  # noqa: SLF001
    assert set(commands) >= {"validate", "ingest", "estimate", "render", "summarize", "batch",
                             "news", "email", "demo"}


def test_validate_the_default_workbook(capsys):
    assert main(["validate", "--data", str(ROOT / "data")]) == 0
    assert "workbook is valid" in capsys.readouterr().out


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["estimate", "--city", "X"])
    assert info.value.code == 2
    assert "--outcome" in capsys.readouterr().err


def test_missing_data_folder_is_one_line(tmp_path, capsys):
    assert main(["validate", "--data", str(tmp_path / "nope")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nope" in err


def test_ingest_into_a_workbook_and_validate(tmp_path, capsys):
    wb = tmp_path / "wb"
    wb.mkdir()
    source = next(FIXTURES.joinpath("ingest").glob("nypd*"))
    assert main(["ingest", "nypd-shootings", str(source), "--data", str(wb)]) == 0
    assert (wb / "outcomes.csv").exists()
    capsys.readouterr()
    # A workbook needs all five tables; each missing one is named.
    assert main(["validate", "--data", str(wb)]) == 1
    err = capsys.readouterr().err
    for name in ("tags.csv", "interventions.csv", "news.csv", "funders.csv"):
        assert f"{name}: file not found" in err
    # estimate --start needs only outcomes.csv; a start outside the data is a clear error.
    assert main(["estimate", "--data", str(wb), "--city", "New York", "--outcome", "shootings",
                 "--start", "2015-01", "--json"]) == 1
    err = capsys.readouterr().err
    assert "2015-01" in err and "Traceback" not in err and err.count("\n") == 1


def test_news_import_twice_adds_nothing(tmp_path, capsys):
    wb = tmp_path / "wb"
    shutil.copytree(ROOT / "data", wb, ignore=shutil.ignore_patterns("raw"))
    before = (wb / "news.csv").read_bytes()
    page = FIXTURES / "news" / "nnsc_homepage_2017.txt"
    assert main(["news", "import", str(page), "--data", str(wb)]) == 0
    assert "0 new item(s)" in capsys.readouterr().out
    assert (wb / "news.csv").read_bytes() == before


def test_email_on_a_missing_run_is_a_clear_error(tmp_path, capsys):
    assert main(["email", "--run", str(tmp_path / "run"), "--data", str(ROOT / "data")]) == 1
    err = capsys.readouterr().err
    assert "manifest" in err and "Traceback" not in err


def test_console_script_runs():
    exe = shutil.which("impactbook", path=str(ROOT / ".venv" / "bin")) or shutil.which(
        "impactbook")
    argv = [exe] if exe else [sys.executable, "-m", "impactbook.cli"]
    done = subprocess.run([*argv, "validate", "--data", str(ROOT / "data")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
