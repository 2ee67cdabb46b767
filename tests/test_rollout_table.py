"""rollouts.csv: the units of a staggered rollout, validated like every other table."""

from __future__ import annotations

import pytest

from impactbook.analysis import run_estimate
from impactbook.errors import DataError, EstimationError
from impactbook.workbook import load_workbook, validate_workbook
from impactbook.workbook.starter import init_workbook
from tests.workbooks import build_workbook, monthly_rows, write_workbook

HEADER = "programme,unit,start,end,announced,source,confidence,notes\n"
PROGRAMME = ("id,city,intervention,programme,area,start,outcomes,confidence\n"
             "spr-cv,Springfield,Cure Violence,Springfield sites,rollout,2016-01,shootings,P\n")
PROGRAMME_COLUMNS, PROGRAMME_ROW = PROGRAMME.split("\n", 1)


def _workbook(tmp_path, rollouts: str | None, *, units: str = "") -> object:
    counts = [5 + (i % 4) for i in range(48)]  # 2015-01 .. 2018-12
    folder = build_workbook(
        tmp_path / "wb", "".join(monthly_rows("Springfield", f"District {d}", "shootings",
                                              2015, counts) for d in (1, 2, 3)),
        PROGRAMME_ROW, news="", funders="", columns={"interventions": PROGRAMME_COLUMNS})
    # Whole text: the tests give rollouts.csv and unit_outcomes.csv with their own header.
    tables = {"rollouts": rollouts} if rollouts is not None else {}
    if units:
        tables["unit_outcomes"] = units
    return write_workbook(folder, **tables)


def test_a_valid_rollout_loads_and_a_start_after_the_data_is_a_control(tmp_path):
    folder = _workbook(tmp_path, HEADER + "spr-cv,District 1,2016-01,,2015-06,city list,V,\n"
                       "spr-cv,District 2,2017-07,2018-06,,city list,P,\n"
                       "spr-cv,District 3,2021-01,,,city list,V,after the data\n")
    workbook = load_workbook(folder)
    assert list(workbook.rollouts["unit"]) == ["District 1", "District 2", "District 3"]
    assert list(workbook.rollouts["start"]) == ["2016-01", "2017-07", "2021-01"]
    assert validate_workbook(folder) == []


def test_every_rollout_problem_is_named_with_row_and_column(tmp_path):
    folder = _workbook(tmp_path, HEADER
                       + "spr-cv,District 1,2016-01,,,,,\n"           # row 2: fine
                       + "spr-cv,District 1,2016-05,,,,,\n"           # 3: listed twice
                       + "spr-cv,District 9,2016-01,,,,,\n"           # 4: no data
                       + "spr-cv,District 2,2015-01,,,,,\n"           # 5: no period before
                       + "spr-cv,District 3,2016-06,2016-02,,,,\n"    # 6: end before start
                       + "nope,District 3,2016-06,,,,X,\n"            # 7: unknown id, conf
                       + "spr-cv,District 2,2016-13,,,,,\n")          # 8: bad period
    with pytest.raises(DataError) as caught:
        load_workbook(folder)
    found = {(p.file, p.row, p.column) for p in caught.value.problems}
    assert ("rollouts.csv", 3, "unit") in found
    assert ("rollouts.csv", 4, "unit") in found
    assert ("rollouts.csv", 5, "start") in found
    assert ("rollouts.csv", 6, "end") in found
    assert ("rollouts.csv", 7, "programme") in found
    assert ("rollouts.csv", 7, "confidence") in found
    assert ("rollouts.csv", 8, "start") in found
    assert ("rollouts.csv", 2, "unit") not in found
    text = "\n".join(str(p) for p in caught.value.problems)
    assert "listed twice" in text and "no data for Springfield" in text
    assert "before the first period" in text and "is before start" in text


def test_a_rollout_programme_without_its_table_is_warned_and_not_estimated(tmp_path):
    folder = _workbook(tmp_path, None)
    [warning] = load_workbook(folder).warnings
    assert warning.startswith("rollouts.csv not found") and "spr-cv" not in warning
    with pytest.raises(EstimationError, match="no units in rollouts.csv"):
        run_estimate(folder, dict(city="Springfield", outcome="shootings", method="rollout"))


def test_a_rollout_row_must_name_a_rollout_programme(tmp_path):
    folder = _workbook(tmp_path, HEADER + "spr-cv,District 1,2016-01,,,,,\n")
    (folder / "interventions.csv").write_text(
        PROGRAMME + "spr-d2,Springfield,Cure Violence,D2 site,District 2,2016-01,shootings,P\n",
        encoding="utf-8")
    (folder / "rollouts.csv").write_text(HEADER + "spr-cv,District 1,2016-01,,,,,\n"
                                         "spr-d2,District 1,2016-01,,,,,\n", encoding="utf-8")
    with pytest.raises(DataError) as caught:
        load_workbook(folder)
    [problem] = caught.value.problems
    assert (problem.row, problem.column) == (3, "programme")
    assert "area 'rollout'" in problem.message


def test_group_units_come_from_unit_outcomes(tmp_path):
    units = "city,area,outcome,period,count,population\n" + "".join(
        f"Springfield,Crew {c},shootings,{2015 + i // 12}-{i % 12 + 1:02d},{i % 3},40\n"
        for c in ("A7", "B2") for i in range(48))
    folder = _workbook(tmp_path, HEADER + "spr-cv,Crew A7,2016-01,,,,,\n"
                       "spr-cv,Crew Z9,2016-01,,,,,\n", units=units)
    with pytest.raises(DataError) as caught:
        validate_workbook(folder)
    [problem] = caught.value.problems
    assert (problem.row, problem.column) == (3, "unit") and "Crew Z9" in problem.message


def test_init_writes_an_empty_rollouts_table_that_validates(tmp_path):
    init_workbook(tmp_path / "new")
    assert (tmp_path / "new" / "rollouts.csv").read_text().startswith("programme,unit,start,")
    assert "## rollouts.csv" in (tmp_path / "new" / "README.md").read_text()
    validate_workbook(tmp_path / "new")
