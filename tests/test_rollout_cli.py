"""`estimate --method rollout`: the default workbook's New York rollout and a group workbook."""

from __future__ import annotations

import json

import numpy as np
import pytest

from impactbook.analysis import make_request, run_estimate
from impactbook.cli import main
from impactbook.errors import ParameterError
from tests.workbooks import build_workbook

CONTRACT = ("overall", "by_cohort", "by_period", "by_event_time", "units", "control_units",
            "window", "dropped", "pretrend", "static", "warnings")


def _group_workbook(tmp_path, *, with_exposure: bool = True, second_programme: bool = False):
    """Crews of Springfield: six start in 2017 or 2018, ten never; rosters (the exposure)
    double for the treated crews at their start while their rate per member stays the same."""
    rng = np.random.default_rng(11)
    starts = {f"C{k:02d}": ("2017-01" if k < 3 else "2018-01" if k < 6 else "") for k in
              range(16)}
    lines = []
    for crew, start in starts.items():
        for i in range(60):  # 2015-01 .. 2019-12
            period = f"{2015 + i // 12}-{i % 12 + 1:02d}"
            roster = 20.0 * (2 if start and period >= start else 1)
            count = rng.poisson(0.4 * roster)
            lines.append(f"Springfield,{crew},shootings,{period},{count},"
                         f"{roster if with_exposure else ''}")
    outcomes = "".join(
        f"Springfield,citywide,shootings,{2015 + i // 12}-{i % 12 + 1:02d},{50 + i % 7}\n"
        for i in range(60))
    programmes = ("spr-gvi,Springfield,Group Violence Intervention,Springfield GVI call-ins,"
                  "rollout,2017-01,shootings,P\n")
    rollouts = "".join(
        f"spr-gvi,{crew},{start},,,call-in list,V,\n" for crew, start in starts.items() if start)
    if second_programme:
        programmes += ("spr-cv,Springfield,Cure Violence,Springfield sites,rollout,2017-01,"
                       "shootings,P\n")
        rollouts += "spr-cv,C09,2017-06,,,site list,V,\n"
    return build_workbook(tmp_path / "wb", outcomes, programmes,
                          unit_outcomes="\n".join(lines) + "\n", rollouts=rollouts, news="",
                          funders="", columns={"interventions": "id,city,intervention,programme,"
                                                                "area,start,outcomes,confidence"})


def test_group_rollout_end_to_end_uses_the_roster_as_exposure(tmp_path, capsys):
    folder = _group_workbook(tmp_path)
    assert main(["estimate", "--data", str(folder), "--city", "Springfield", "--outcome",
                 "shootings", "--method", "rollout", "--cohort-bin", "none", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    for key in CONTRACT:
        assert key in record
    assert record["programme"] == "spr-gvi" and len(record["units"]) == 6
    assert len(record["control_units"]) == 10
    # The rate per member did not change: with the roster as offset, no change is found.
    overall = record["overall"]
    assert overall["ci_low"] < 1 < overall["ci_high"]
    without = run_estimate(_group_workbook(tmp_path / "plain", with_exposure=False), dict(
        city="Springfield", outcome="shootings", method="rollout", cohort_bin="none"))
    assert without.overall.rate_ratio > 1.5  # twice the members, twice the shootings


def test_programme_is_chosen_by_id_when_a_city_has_several(tmp_path):
    folder = _group_workbook(tmp_path, second_programme=True)
    asked = dict(city="Springfield", outcome="shootings", method="rollout", cohort_bin="none")
    with pytest.raises(ParameterError, match="spr-gvi, spr-cv"):
        run_estimate(folder, asked)
    est = run_estimate(folder, {**asked, "programme": "spr-cv"})
    assert [u["unit"] for u in est.units] == ["C09"]
    with pytest.raises(ParameterError, match="did you mean"):
        run_estimate(folder, {**asked, "programme": "spr-gv"})
    with pytest.raises(ParameterError, match="exclude_controls"):
        run_estimate(folder, {**asked, "programme": "spr-cv", "exclude_controls": "C99"})


def test_other_methods_do_not_pick_up_a_rollout_row(tmp_path):
    folder = _group_workbook(tmp_path)
    with pytest.raises(ParameterError, match="start"):
        run_estimate(folder, dict(city="Springfield", outcome="shootings"))


def test_request_rejects_bad_rollout_options():
    with pytest.raises(ParameterError, match="controls"):
        make_request(city="X", outcome="y", method="rollout", controls="later")
    with pytest.raises(ParameterError, match="anticipation"):
        make_request(city="X", outcome="y", method="rollout", anticipation=-1)


def test_cli_text_and_one_line_errors(tmp_path, capsys):
    folder = _group_workbook(tmp_path)
    assert main(["estimate", "--data", str(folder), "--city", "Springfield", "--outcome",
                 "shootings", "--method", "rollout", "--cohort-bin", "year"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Springfield, spr-gvi: in the 6 treated units (2 start cohorts)")
    assert "static TWFE" in out and "cohorts pooled      year" in out
    (folder / "rollouts.csv").write_text("programme,unit,start\n", encoding="utf-8")
    assert main(["estimate", "--data", str(folder), "--city", "Springfield", "--outcome",
                 "shootings", "--method", "rollout"]) != 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "rollouts.csv" in err and "Traceback" not in err


def test_the_cli_reads_the_workbook_once_for_a_rollout_and_its_value(tmp_path, monkeypatch,
                                                                     capsys):
    """The estimate and its value for money come from one read of the folder (the value used
    to read it again)."""
    import impactbook.analysis as analysis

    folder = _group_workbook(tmp_path)
    reads = []
    real = analysis.load_workbook
    monkeypatch.setattr(analysis, "load_workbook",
                        lambda *a, **k: reads.append(a) or real(*a, **k))
    assert main(["estimate", "--data", str(folder), "--city", "Springfield", "--outcome",
                 "shootings", "--method", "rollout", "--cohort-bin", "none", "--json"]) == 0
    assert "overall" in json.loads(capsys.readouterr().out)
    assert len(reads) == 1
