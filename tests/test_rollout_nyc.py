"""New York's Crisis Management System: the real rollout of the default workbook."""

from __future__ import annotations

import json

from impactbook.cli import main
from tests.conftest import ROOT
from tests.test_rollout_cli import CONTRACT


def test_new_york_rollout_from_the_default_workbook(capsys):
    assert main(["estimate", "--data", str(ROOT / "data"), "--city", "New York", "--outcome",
                 "shootings", "--method", "rollout", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    for key in CONTRACT:
        assert key in record
    assert record["programme"] == "nyc-cms"
    assert len(record["units"]) == 21  # the 2021 cohort starts after the data: controls
    assert "Precinct 43" in record["control_units"]
    # Monthly single-precinct cohorts have cells without events: the default pools them.
    assert record["cohort_bin"] != "none" and "without events" in record["cohort_bin_reason"]
    assert not [d for d in record["dropped"] if d["what"] == "cell"]
    for entry in record["by_event_time"]:
        assert {"event_time", "treated_units", "log_ratio", "se", "events_averted"} <= set(entry)
    assert record["pretrend"]["controls"] == "never"
    assert any("diluted" in w for w in record["warnings"])
