"""Weekly group data (ISO weeks, ``YYYY-Www``) through the staggered rollout, end to end.

A synthetic, seeded group workbook: crews counted week by week in unit_outcomes.csv with their
roster size as exposure, six of them reached by call-ins in two cohorts. Malformed weeks are
refused with file, row and column; designs written for months and quarters refuse weekly series.
"""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest

from impactbook.analysis import make_request, run_estimate
from impactbook.cli import main
from impactbook.errors import DataError, ParameterError
from impactbook.workbook import load_workbook
from impactbook.workbook.periods import WEEKLY, format_period, frequency_of, parse_period
from impactbook.workbook.schema import UNIT_OUTCOMES
from tests.workbooks import TAGS, write_workbook

TRUE_RATIO = 0.6
STARTS = {"C00": "2017-W10", "C01": "2017-W10", "C02": "2017-W10",
          "C03": "2018-W05", "C04": "2018-W05", "C05": "2018-W05"}


def weeks(first_year: int, n: int) -> list[str]:
    """``n`` consecutive ISO week labels from the first week of ``first_year``."""
    monday = dt.date.fromisocalendar(first_year, 1, 1)
    labels = []
    for k in range(n):
        year, week, _ = (monday + dt.timedelta(weeks=k)).isocalendar()
        labels.append(f"{year:04d}-W{week:02d}")
    return labels


def weekly_group_workbook(tmp_path, *, n_crews: int = 16, rate: float = 0.15,
                          starts: dict | None = None, with_exposure: bool = True):
    """Crews of Springfield, 2016-W01 to 2019-W52; the treated crews' rate falls to
    ``TRUE_RATIO`` of itself from their start on."""
    rng = np.random.default_rng(21)
    starts = STARTS if starts is None else starts
    lines = ["city,area,outcome,period,count,population"]
    for k in range(n_crews):
        crew = f"C{k:02d}"
        roster = int(rng.integers(15, 40))
        start = starts.get(crew)
        for label in weeks(2016, 208):
            is_treated = start is not None and parse_period(label) >= parse_period(start)
            mean = rate * roster * (TRUE_RATIO if is_treated else 1.0)
            lines.append(f"Springfield,{crew},shootings,{label},{rng.poisson(mean)},"
                         f"{roster if with_exposure else ''}")
    outcomes = "city,area,outcome,period,count\n" + "".join(
        f"Springfield,citywide,shootings,{2016 + i // 12}-{i % 12 + 1:02d},{60 + i % 5}\n"
        for i in range(48))
    programmes = ("id,city,intervention,programme,area,start,outcomes,confidence\n"
                  "spr-gvi,Springfield,Group Violence Intervention,Springfield GVI call-ins,"
                  "rollout,2017-03,shootings,P\n")
    rollouts = "programme,unit,start,end,announced,source,confidence,notes\n" + "".join(
        f"spr-gvi,{crew},{start},,,call-in list,V,\n" for crew, start in starts.items())
    return write_workbook(tmp_path / "wb", outcomes=outcomes,
                          unit_outcomes="\n".join(lines) + "\n", interventions=programmes,
                          rollouts=rollouts, tags=TAGS, news="date,title,outlet,tags\n",
                          funders="funder,email,cities,interventions\n")


def test_iso_weeks_parse_strictly_and_round_trip():
    week = parse_period("2019-W07")
    assert frequency_of(week) == WEEKLY and format_period(week) == "2019-W07"
    assert str(week.start_time.date()) == "2019-02-11"  # the Monday of ISO week 7
    # An ISO year starts on the Monday of the week holding its first Thursday.
    assert str(parse_period("2020-W01").start_time.date()) == "2019-12-30"
    assert format_period(parse_period("2020-W53")) == "2020-W53"
    assert parse_period("2019-W52") + 1 == parse_period("2020-W01")
    for bad, why in [("2019-W54", "not 01-53"), ("2019-W00", "not 01-53"),
                     ("2019-W53", "2019 has 52 weeks"), ("2019-W7", "two digits"),
                     ("2019-w07", "capital W"), ("1899-W01", "outside")]:
        with pytest.raises(ValueError, match=why):
            parse_period(bad)


@pytest.mark.parametrize("label, message", [
    ("2019-W54", "week 54 in '2019-W54' is not 01-53"),
    ("2019-W7", "'2019-W7' is not a week; expected YYYY-Www"),
])
def test_a_malformed_week_is_refused_with_file_row_and_column(tmp_path, label, message):
    folder = weekly_group_workbook(tmp_path, n_crews=7)
    path = folder / UNIT_OUTCOMES
    rows = path.read_text(encoding="utf-8").splitlines()
    rows[9] = rows[9].replace(rows[9].split(",")[3], label)  # file row 10
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    with pytest.raises(DataError) as caught:
        load_workbook(folder, require=(UNIT_OUTCOMES,))
    [problem] = caught.value.problems
    assert (problem.file, problem.row, problem.column) == (UNIT_OUTCOMES, 10, "period")
    assert message in problem.message
    # The command line says the same in one line, without a traceback.
    assert main(["validate", "--data", str(folder)]) != 0


def test_a_monthly_start_for_weekly_groups_is_refused(tmp_path):
    folder = weekly_group_workbook(tmp_path, n_crews=8)
    rollouts = folder / "rollouts.csv"
    rollouts.write_text(rollouts.read_text(encoding="utf-8").replace("C00,2017-W10",
                                                                     "C00,2017-03"),
                        encoding="utf-8")
    with pytest.raises(DataError) as caught:
        load_workbook(folder, require=(UNIT_OUTCOMES,))  # validation: with its row
    assert any(p.file == "rollouts.csv" and p.row == 2 and p.column == "start"
               for p in caught.value.problems)
    with pytest.raises(DataError, match="not of its data's period frequency"):
        run_estimate(folder, {"city": "Springfield", "outcome": "shootings",
                              "method": "rollout"})


def test_weekly_group_rollout_end_to_end_recovers_the_effect(tmp_path, capsys):
    folder = weekly_group_workbook(tmp_path)
    assert main(["estimate", "--data", str(folder), "--city", "Springfield", "--outcome",
                 "shootings", "--method", "rollout", "--cohort-bin", "none", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["window"] == {"first": "2016-W01", "last": "2019-W52", "frequency": "W",
                                "observations": record["window"]["observations"]}
    assert {u["unit"]: u["start_used"] for u in record["units"]} == STARTS
    assert [c["cohort"] for c in record["by_cohort"]] == ["2017-W10", "2018-W05"]
    assert record["by_period"][0]["period"] == "2017-W10"
    assert len(record["control_units"]) == 10
    assert record["overall"]["rate_ratio"] < 1 and record["overall"]["events_averted"] > 0
    # Event times count weeks since the start (2017-W10 is the 62nd week of the data).
    assert max(e["event_time"] for e in record["by_event_time"]) == 207 - 61
    # Weekly cells hold few events: the log-scale mean is biased, and the JSON says so.
    assert any("cells are weeks" in w for w in record["warnings"])


def test_weekly_groups_are_pooled_by_quarter_by_default_and_recover_the_effect(tmp_path):
    est = run_estimate(weekly_group_workbook(tmp_path), dict(
        city="Springfield", outcome="shootings", method="rollout"))
    assert est.cohort_bin == "quarter" and "weekly cells" in est.cohort_bin_reason
    assert est.overall.ci_low < TRUE_RATIO < est.overall.ci_high
    weekly = run_estimate(weekly_group_workbook(tmp_path / "w"), dict(
        city="Springfield", outcome="shootings", method="rollout", cohort_bin="none"))
    # The bias the default avoids, on this panel: weekly cells' interval misses the truth.
    assert weekly.overall.rate_ratio < est.overall.rate_ratio


def test_weekly_groups_pooled_by_quarter_sum_whole_quarters(tmp_path):
    est = run_estimate(weekly_group_workbook(tmp_path), dict(
        city="Springfield", outcome="shootings", method="rollout", cohort_bin="quarter"))
    assert est.freq == "Q" and est.cohort_bin == "quarter"
    # 2017-W10 (ends Sunday 12 March) falls in 2017-Q1, 2018-W05 in 2018-Q1.
    assert {u["start_used"] for u in est.units} == {"2017-Q1", "2018-Q1"}
    assert est.overall.ci_low < TRUE_RATIO < est.overall.ci_high


def test_designs_for_months_and_quarters_refuse_weekly_series(tmp_path):
    weekly = "".join(f"Springfield,citywide,shootings,{w},{40 + i % 3}\n"
                     for i, w in enumerate(weeks(2016, 150)))
    folder = write_workbook(tmp_path / "wb", outcomes="city,area,outcome,period,count\n" + weekly,
                            tags=TAGS, news="date,title,outlet,tags\n",
                            interventions="id,city,intervention,programme,area,start,outcomes\n",
                            funders="funder,email,cities,interventions\n")
    for method in ("its", "prepost"):
        with pytest.raises(ParameterError, match="weekly"):
            run_estimate(folder, make_request(city="Springfield", outcome="shootings",
                                              area="citywide", start="2017-03", method=method))
    from impactbook.effects import estimate_its
    from impactbook.errors import EstimationError

    series = load_workbook(folder).outcomes.assign(
        period=lambda f: [parse_period(p) for p in f["period"]]).set_index("period")[["count"]]
    with pytest.raises(EstimationError, match="weekly series"):
        estimate_its(series, parse_period("2017-W10"))


def test_a_weekly_groups_report_hides_a_single_groups_small_count(tmp_path):
    from impactbook.report.rollout_chart import plot_event_study
    from impactbook.report.rollout_section import (
        MIN_SHOWN_GROUP_COUNT,
        build_rollout_results,
        cohort_table,
    )

    # C06 alone starts in the last quarter and its counts all but stop: one group's count
    # under 5 from its start, which a report must not print.
    folder = weekly_group_workbook(tmp_path, starts={**STARTS, "C06": "2019-W41"})
    path = folder / UNIT_OUTCOMES
    rows = path.read_text(encoding="utf-8").splitlines()
    rows = [",".join([*r.split(",")[:4], "0", r.split(",")[5]])
            if r.startswith("Springfield,C06,") and r.split(",")[3] >= "2019-W41" else r
            for r in rows]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    [result] = build_rollout_results(load_workbook(folder), "Springfield")
    assert result.is_group and result.estimate is not None, result.errors
    assert result.estimate.cohort_bin == "quarter"  # weekly data, pooled by default
    table = cohort_table(result).set_index("start cohort")
    assert table.loc["2019-Q4", "units"] == 1
    assert table.loc["2019-Q4", "shootings from the start"] == f"<{MIN_SHOWN_GROUP_COUNT}"
    assert table.loc["2019-Q4", "events averted (95% interval)"] == "n/a"
    assert table.loc["2017-Q1", "shootings from the start"] != f"<{MIN_SHOWN_GROUP_COUNT}"
    # Asked for weekly cells, the event study's axis counts weeks.
    weekly = run_estimate(folder, dict(city="Springfield", outcome="shootings",
                                       method="rollout", cohort_bin="none", controls="never"))
    figure = plot_event_study(weekly)
    assert figure.axes[0].get_xlabel().startswith("weeks since the start")


def test_a_weekly_rollouts_value_for_money_counts_the_months_it_ran(tmp_path, capsys):
    folder = weekly_group_workbook(tmp_path)
    (folder / "costs.csv").write_text(
        "programme,start,end,amount,currency,price_year\n"
        "spr-gvi,2017-01,2019-12,900000,USD,2018\n", encoding="utf-8")
    assert main(["estimate", "--data", str(folder), "--city", "Springfield", "--outcome",
                 "shootings", "--method", "rollout", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    # Pooled by quarter: the first cohort's quarter (2017-Q1, holding 2017-W10) onwards.
    assert record["value"]["window"]["first"] == "2017-01"
    assert record["value"]["window"]["last"] == "2019-12"


def test_a_weekly_rollout_is_weighed_for_the_headline_like_any_design(tmp_path):
    from impactbook.effects.rollout_headline import rollout_as_estimate

    est = run_estimate(weekly_group_workbook(tmp_path), dict(
        city="Springfield", outcome="shootings", method="rollout"))
    headline = rollout_as_estimate(est)
    assert format_period(headline.start) == "2017-Q1" and headline.method == "rollout"
    assert headline.rate_ratio == est.overall.rate_ratio
