"""The city report's staggered-rollout section, on small synthetic workbooks."""

from __future__ import annotations

import numpy as np
import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from impactbook.defaults import SECTION_FAILURE_MIME
from impactbook.report.content import build_city_report
from impactbook.report.rollout_section import (
    MIN_SHOWN_GROUP_COUNT,
    build_rollout_results,
    cohort_table,
    show_rollouts,
)
from impactbook.workbook import load_workbook
from tests.workbooks import build_workbook

HEADER = "programme,unit,start,end,announced,source,confidence,notes\n"


@pytest.fixture(scope="module", autouse=True)
def shell():
    return InteractiveShell.instance()  # display() publishes to capture_output only in a shell


def _precinct_workbook(tmp_path, *, with_single_area_programme: bool = True):
    """Twelve precincts, 2014-2019 monthly; four open sites in 2016 and 2017, one stops."""
    rng = np.random.default_rng(5)
    starts = {"Precinct 1": "2016-01", "Precinct 2": "2016-01", "Precinct 3": "2017-01",
              "Precinct 4": "2017-01"}
    lines = []
    for p in range(1, 13):
        area = f"Precinct {p}"
        for i in range(72):
            period = f"{2014 + i // 12}-{i % 12 + 1:02d}"
            fall = 0.7 if area in starts and period >= starts[area] else 1.0
            lines.append(f"Springfield,{area},shootings,{period},{rng.poisson(12 * fall)}")
    programmes = ("spr-cv,Springfield,Cure Violence,Springfield sites,rollout,2016-01,shootings,"
                  "P,one site closed in 2018\n")
    if with_single_area_programme:
        programmes += ("spr-gvi,Springfield,Group Violence Intervention,Springfield GVI,"
                       "Precinct 9,2017-06,shootings,V,\n")
    rollouts = "".join(f"spr-cv,{u},{s},{'2018-06' if u == 'Precinct 4' else ''},,city list,V,\n"
                       for u, s in starts.items())
    return build_workbook(tmp_path / "wb", "\n".join(lines) + "\n", programmes,
                          rollouts=rollouts, news="", funders="",
                          columns={"interventions": "id,city,intervention,programme,area,start,"
                                                    "outcomes,confidence,notes"})


def _html(outputs) -> str:
    return "\n".join(o.data.get("text/html", "") for o in outputs)


def test_rollout_section_shows_effect_chart_cohorts_and_static_estimate(tmp_path):
    folder = _precinct_workbook(tmp_path)
    with capture_output() as captured:
        results = show_rollouts(folder, "Springfield")
    html = _html(captured.outputs)
    assert not [o for o in captured.outputs if SECTION_FAILURE_MIME in o.data]
    [result] = results
    assert result.estimate.overall.rate_ratio < 0.9  # the simulated fall is 30%
    assert "Staggered rollout" in html and "<figure" in html and "Event study" in html
    # The chart's comparison (never-treated) is said beside the headline's (not yet treated).
    assert "Event study against never-treated units" in html
    assert "compares with units not yet treated" in html
    assert "effect by start cohort" in html and "static two-way" in html
    assert "leads" in html and "parallel trends" in html
    assert "intention to treat" in html and "one site closed in 2018" in html
    assert "no spillover" in html  # what the design assumes
    table = cohort_table(result)
    assert list(table["start cohort"]) == [a.key for a in result.estimate.by_cohort]
    assert list(table["units"]) == [2, 2]


def test_the_city_report_weighs_the_rollout_and_its_section_reuses_the_fit(tmp_path):
    folder = _precinct_workbook(tmp_path)
    report = build_city_report(folder, "Springfield")
    assert [r.programme_id for r in report.results] == ["spr-cv", "spr-gvi"]
    assert report.results[0].rollout is not None and report.results[0].its is None
    with capture_output():
        assert show_rollouts(folder, "Springfield", report) == list(report.rollouts)


def test_a_city_without_a_rollout_shows_nothing(tmp_path):
    folder = _precinct_workbook(tmp_path)
    (folder / "interventions.csv").write_text(
        "id,city,intervention,programme,area,start,outcomes\n"
        "spr-gvi,Springfield,Group Violence Intervention,GVI,Precinct 9,2017-06,shootings\n",
        encoding="utf-8")
    (folder / "rollouts.csv").write_text(HEADER, encoding="utf-8")
    with capture_output() as captured:
        assert show_rollouts(folder, "Springfield") == []
    assert _html(captured.outputs) == ""


def test_a_single_groups_small_count_is_not_printed(tmp_path):
    rng = np.random.default_rng(2)
    lines = []
    for g in range(10):
        for i in range(48):
            period = f"{2015 + i // 12}-{i % 12 + 1:02d}"
            rate = 0.02 if g == 0 and period >= "2018-12" else 3.0
            lines.append(f"Springfield,G{g},shootings,{period},{rng.poisson(rate)}")
    outcomes = "".join(
        f"Springfield,citywide,shootings,{2015 + i // 12}-{i % 12 + 1:02d},40\n"
        for i in range(48))
    starts = {"G0": "2018-12", "G1": "2017-01", "G2": "2017-01"}
    folder = build_workbook(
        tmp_path / "wb", outcomes,
        "spr-gvi,Springfield,Group Violence Intervention,GVI,rollout,2017-01,shootings\n",
        unit_outcomes="\n".join(lines) + "\n",
        rollouts="".join(f"spr-gvi,{g},{s},,,,,\n" for g, s in starts.items()),
        news="", funders="", columns={"unit_outcomes": "city,area,outcome,period,count"})
    [result] = build_rollout_results(load_workbook(folder), "Springfield")
    assert result.is_group
    table = cohort_table(result).set_index("start cohort")
    single = [a.key for a in result.estimate.by_cohort if a.treated_units == 1]
    assert single
    shown = table.loc[single[-1], "shootings from the start"]
    assert shown == f"<{MIN_SHOWN_GROUP_COUNT}"
    assert table.loc[single[-1], "events averted (95% interval)"] == "n/a"


def test_a_changed_rollout_start_re_renders_its_city_report(tmp_path):
    from impactbook.render.plan import plan_batch

    folder = _precinct_workbook(tmp_path)

    def keys() -> dict[str, str]:
        return {j.id: j.input_hash for j in plan_batch(folder, tmp_path / "run")}

    before = keys()
    text = (folder / "rollouts.csv").read_text(encoding="utf-8")
    (folder / "rollouts.csv").write_text(text.replace("Precinct 3,2017-01", "Precinct 3,2017-04"),
                                         encoding="utf-8")
    after = keys()
    changed = {job for job in before if before[job] != after[job]}
    assert changed and all(job.startswith("city") for job in changed)
