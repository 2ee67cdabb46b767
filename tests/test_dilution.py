"""Dilution: the workbook records where a programme ran, and the warning fires."""

from __future__ import annotations

from pathlib import Path

import pytest

from impactbook.analysis import run_estimate
from impactbook.errors import DataError
from impactbook.workbook.loader import load_workbook
from tests.workbooks import build_workbook, monthly_rows

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.mark.parametrize(("city", "programme", "outcome", "start"), [
    ("New York", "nyc-ceasefire", "shootings", "2014-12"),
    ("Philadelphia", "philadelphia-gvi", "shootings", "2020-08"),
    ("Baltimore", "baltimore-gvrs", "murders", "2022-01"),
])
def test_default_programmes_that_ran_in_smaller_areas_warn(city, programme, outcome, start):
    table = load_workbook(DATA).interventions.set_index("id")
    target = table.loc[programme, "target_area"]
    assert target and table.loc[programme, "area"] == "citywide"
    for request in (dict(city=city, outcome=outcome, start=start),  # area from the table
                    dict(city=city, outcome=outcome, area="citywide", start=start)):
        est = run_estimate(DATA, request)
        diluted = [w for w in est.warnings if "diluted" in w]
        assert diluted and f"({target})" in diluted[0]


def test_target_area_text_follows_the_name_rules(tmp_path):
    folder = build_workbook(
        tmp_path / "wb", monthly_rows("Springfield", "citywide", "shootings", 2014, [10] * 48),
        "p,Springfield,Cure Violence,P,citywide,2016-01,shootings,\"two blocks\nand a park\"\n",
        tags="Cure Violence,intervention\n",
        columns={"interventions": "id,city,intervention,programme,area,start,outcomes,"
                                  "target_area"})
    with pytest.raises(DataError) as caught:
        load_workbook(folder)
    assert any(p.column == "target_area" for p in caught.value.problems)
