"""The README's worked example, run line for line: a raw incident list to a rendered report."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from impactbook.ingest.sources import ingest_file

REPO = Path(__file__).resolve().parents[1]
RAW = REPO / "data" / "raw" / "nypd_shooting_incidents_historic_2006_2019.csv.gz"


def readme_example() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- worked-example:start -->\n```bash\n(.*?)```\n"
                      r"<!-- worked-example:end -->", text, re.S)
    assert block, "the README has lost its worked example"
    return block.group(1)


def test_readme_example_commands_are_impactbook_and_shell_only():
    commands = [line for line in readme_example().splitlines()
                if line and not line.startswith(("#", " ")) and not line.endswith("\\")]
    for line in commands:
        assert line.startswith((".venv/bin/impactbook ", "echo ", "cat ", "nyc-sos,", "ROW")), line


@pytest.mark.slow
def test_readme_worked_example_end_to_end(tmp_path):
    # The example's relative paths: .venv/bin/impactbook and data/raw/... from the repository.
    (tmp_path / ".venv").symlink_to(REPO / ".venv")
    (tmp_path / "data").symlink_to(REPO / "data")
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", readme_example()], cwd=tmp_path,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    workbook = tmp_path / "my-workbook"
    # The generic ingest equals the named NYPD source's incident counts.
    written = pd.read_csv(workbook / "outcomes.csv", dtype={"period": str})
    named = ingest_file("nypd-shootings", RAW).outcomes
    named = named[named["outcome"] == "shootings"].reset_index(drop=True)
    pd.testing.assert_frame_equal(written[named.columns], named, check_dtype=False)
    estimate = json.loads(next(line for line in proc.stdout.splitlines()
                               if line.startswith("{")))
    assert (estimate["city"], estimate["area"], estimate["start"]) == (
        "New York", "Precinct 77", "2010-01")
    run = tmp_path / "reports" / "my-workbook"
    for suffix in ("html", "pdf", "ipynb"):
        assert (run / "new-york" / f"new-york.{suffix}").stat().st_size > 0
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    assert [(r["name"], r["status"]) for r in manifest["reports"]] == [("New York", "ok")]
    html = (run / "new-york" / "new-york.html").read_text(encoding="utf-8")
    assert "Save Our Streets Crown Heights" in html
