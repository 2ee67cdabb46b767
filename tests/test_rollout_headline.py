"""A staggered rollout weighed for the headline, and value for money on page one, in the
manifest, on the index and in the email, on small simulated workbooks."""

from __future__ import annotations

import email
import json
from email import policy

import numpy as np
import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from impactbook.effects import choose_headline, describe_passed_over
from impactbook.effects.rollout import estimate_rollout
from impactbook.effects.rollout_headline import rollout_as_estimate
from impactbook.mail.compose import compose_message
from impactbook.mail.funders import Funder
from impactbook.mail.plan import plan_messages
from impactbook.report import build_city_report, build_intervention_summary
from impactbook.report.headlines import value_items
from impactbook.report.index_page import render_index
from impactbook.report.page_one import show_title
from impactbook.report.sections import show_estimates_table, show_outcome_charts
from impactbook.report.value_section import show_value_for_money
from tests.test_mail import pdf_bytes
from tests.test_rollout_estimator import simulate
from tests.workbooks import build_workbook

COSTS = ("spr-cv,2016-01,2019-12,4000000,USD,2016,city budget,V,whole programme\n")
#: Sixteen sites in two cohorts among 36 precincts: enough units that the cluster-robust
#: pre-trend test holds its size when nothing trends before the starts.
STARTS = {f"Precinct {p}": "2016-01" if p <= 8 else "2017-01" for p in range(1, 17)}


@pytest.fixture(scope="module", autouse=True)
def shell():
    return InteractiveShell.instance()  # display() publishes to capture_output only in a shell


def _workbook(tmp_path, *, pretrend: float = 0.0, costs: str | None = None,
              programmes: str = ""):
    """36 precincts, 2014-2019 monthly; sixteen open sites in 2016 and 2017 (30% fewer
    shootings from their start). ``pretrend``: the sites' counts fall by this log ratio a
    month before their start (so the pre-trend test fails)."""
    rng = np.random.default_rng(5)
    lines = []
    for p in range(1, 37):
        area = f"Precinct {p}"
        for i in range(72):
            period = f"{2014 + i // 12}-{i % 12 + 1:02d}"
            is_after = area in STARTS and period >= STARTS[area]
            tilt = np.exp(-pretrend * (i - 24)) if area in STARTS and not is_after else 1.0
            lines.append(f"Springfield,{area},shootings,{period},"
                         f"{rng.poisson(40 * tilt * (0.7 if is_after else 1.0))}")
    return build_workbook(
        tmp_path / "wb", "\n".join(lines) + "\n",
        "spr-cv,Springfield,Cure Violence,Springfield sites,rollout,2016-01,shootings,P,\n"
        + programmes,
        rollouts="".join(f"spr-cv,{u},{s},,,city list,V,\n" for u, s in STARTS.items()),
        news="", funders="", costs=costs,
        columns={"interventions": "id,city,intervention,programme,area,start,outcomes,"
                                  "confidence,notes"})


def test_a_rollout_leads_on_a_passing_pretrend_and_is_passed_over_on_a_failing_one():
    level = rollout_as_estimate(estimate_rollout(*simulate(1)[:2], cohort_bin="none"))
    assert level.details["is_pretrend_passed"]
    choice = choose_headline({"rollout": level})
    assert choice.method == "rollout" and not choice.passed_over

    tilted = rollout_as_estimate(estimate_rollout(*simulate(1, pretrend=0.08)[:2],
                                                  cohort_bin="none"))
    choice = choose_headline({"rollout": tilted})
    assert choice.method is None
    [(method, why)] = choice.passed_over
    assert method == "rollout" and why.startswith("its pre-trend test fails (p = ")
    sentence = describe_passed_over(tilted, why)
    assert sentence.startswith("The staggered rollout's figure (")
    assert "95% interval" in sentence and "is not the headline because its pre-trend" in sentence
    assert "trends that were there already" in sentence


def _page_one(report) -> str:
    with capture_output() as captured:
        show_title(report)
    return "\n".join(o.data.get("text/html", "") for o in captured.outputs)


def _value_section(report) -> str:
    with capture_output() as captured:
        show_value_for_money(report)
    return "\n".join(o.data.get("text/html", "") for o in captured.outputs)


def _index_and_email(tmp_path, report) -> tuple[str, str]:
    run_dir = tmp_path / "run"
    (run_dir / "springfield").mkdir(parents=True)
    (run_dir / "springfield" / "springfield.pdf").write_bytes(pdf_bytes("Springfield"))
    entry = {"id": "city/springfield", "kind": "city", "name": "Springfield",
             "slug": "springfield", "interventions": ["Cure Violence"], "status": "ok",
             "input_hash": "sha256-x", "files": {"pdf": "springfield/springfield.pdf"},
             "key_findings": report.key_findings,
             "headline": json.loads(json.dumps(report.headline(), allow_nan=False))}
    manifest = {"run": "r1", "created": "2026-01-01T00:00:00Z", "data_hash": "sha256-d",
                "reports": [entry]}
    (run_dir / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    [planned] = plan_messages(run_dir, [Funder("F", ("f@example.org",), ("Springfield",), ())])
    text = email.message_from_bytes(compose_message(planned).as_bytes(),
                                    policy=policy.default).get_body(("plain",)).get_content()
    return render_index(manifest), " ".join(text.split())


def test_a_leading_rollout_heads_the_report_and_its_value_line_reaches_every_reader(tmp_path):
    report = build_city_report(_workbook(tmp_path, costs=COSTS), "Springfield")
    [result] = report.results
    assert result.choice.method == "rollout" and result.headline.rate_ratio < 0.9
    headline = report.headline()
    assert headline["programme"] == "Springfield sites"
    assert headline["design"] == "staggered rollout"
    [line] = headline["value_for_money"]
    assert line.startswith("Value for money, Springfield sites: cost $")
    assert "per event averted" in line and "not the headline" not in line
    page = _page_one(report)
    said = "Value for money: " + line.removeprefix("Value for money, Springfield sites: ")
    assert page.count("Value for money: cost $") == 1 and said in page
    assert "staggered rollout, 16 treated units" in page and "2014-01 to 2019-12" in page
    index, text = _index_and_email(tmp_path, report)
    assert index.count("Value for money, Springfield sites: cost $") == 1 and line in index
    assert line in text
    section = _value_section(report)
    assert section.count("<table") == 1 and "It rests on" not in section


def test_a_failing_pretrend_is_said_on_page_one_and_beside_the_value_line(tmp_path):
    report = build_city_report(_workbook(tmp_path, pretrend=0.02, costs=COSTS), "Springfield")
    [result] = report.results
    assert result.headline is None and result.rollout is not None
    page = " ".join(_page_one(report).split())
    assert "No headline figure: the staggered rollout does not pass its test" in page
    assert "Shootings: the staggered rollout&#x27;s figure (" in page
    assert "is not the headline because its pre-trend test fails (p = " in page
    assert report.headline() is None  # nothing leads: no city figure for the index
    [item] = value_items(report)
    assert "It rests on the staggered rollout's events averted, which are not the headline: " \
           "its pre-trend test fails (p = " in item["line"]
    assert item["line"].split(" It rests")[0].replace("$", "") in page.replace("$", "")
    section = _value_section(report)
    assert section.count("<table") == 1 and section.count("It rests on the staggered") == 1
    with capture_output() as captured:  # the rollout is not "no estimate" in other sections
        show_outcome_charts(report)
        show_estimates_table(report)
    shown = "\n".join(o.data.get("text/html", "") for o in captured.outputs)
    assert "No model estimate" not in shown and "no estimate" not in shown
    assert "estimates are in their own section" in shown


def test_no_costs_no_value_line_anywhere(tmp_path):
    report = build_city_report(_workbook(tmp_path), "Springfield")
    assert report.values == ()
    assert report.headline()["value_for_money"] == []
    assert "Value for money" not in _page_one(report)
    index, text = _index_and_email(tmp_path, report)
    assert "Value for money" not in index and "Value for money" not in text
    assert _value_section(report) == ""


#: Two of the rollout's sites evaluated alone, and two precincts it never reached.
SITES = "".join(f"spr-p{p},Springfield,Cure Violence,Site {p},Precinct {p},{start},shootings,"
                "P,\n" for p, start in ((1, "2016-01"), (9, "2017-01"), (20, "2016-06"),
                                        (21, "2016-06")))


def _pooled_sites(summary) -> list[str]:
    rows = summary.rows
    return sorted(rows.loc[rows["in_pooled"], "programme"])


def test_a_leading_rollout_is_pooled_once_for_the_sites_it_covers(tmp_path):
    summary = build_intervention_summary(_workbook(tmp_path, programmes=SITES),
                                         "Cure Violence")
    assert _pooled_sites(summary) == ["Site 20", "Site 21", "Springfield sites"]
    assert summary.pooled["shootings"].k == 3
    [finding] = summary.rollout_findings
    assert "the staggered rollout is the strongest design for the Springfield sites" in finding
    assert finding in summary.key_findings


def test_a_rollout_passed_over_leaves_the_pool_as_it_was_and_says_why(tmp_path):
    summary = build_intervention_summary(_workbook(tmp_path, pretrend=0.02, programmes=SITES),
                                         "Cure Violence")
    assert _pooled_sites(summary) == ["Site 1", "Site 20", "Site 21", "Site 9"]
    assert summary.pooled["shootings"].k == 4
    [finding] = summary.rollout_findings
    assert finding.startswith("shootings: Springfield sites (Springfield): the staggered "
                              "rollout's figure (")
    assert "is not the headline because its pre-trend test fails (p = " in finding
    assert finding.endswith("The summary pools each Springfield site's interrupted time "
                            "series instead.")


def test_a_rollout_without_a_pretrend_test_or_an_overall_effect_does_not_lead():
    from impactbook.effects.leading import why_not_lead

    assert why_not_lead("rollout", {"is_overall_computable": False,
                                    "is_pretrend_passed": True}) == (
        "its overall effect could not be computed")
    assert why_not_lead("rollout", {"is_overall_computable": True, "is_pretrend_passed": False,
                                    "pretrend_p": None}).startswith("it has no pre-trend test")
    assert why_not_lead("rollout", {"is_overall_computable": True, "is_pretrend_passed": True,
                                    "pretrend_p": 0.4}) is None
