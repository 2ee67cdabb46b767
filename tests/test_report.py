"""Report content computed without a kernel: sections, escaping, failures shown."""

from __future__ import annotations

import re

import numpy as np
import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from impactbook.analysis import run_estimate
from impactbook.defaults import FINDINGS_MIME
from impactbook.report import content as report
from impactbook.report import sections, summary_content

from .workbooks import build_workbook, monthly_rows

HOSTILE = '<script>alert("x")</script> & "quotes"'


@pytest.fixture(scope="module", autouse=True)
def shell():
    return InteractiveShell.instance()


def _workbook(tmp_path, programme_name="Springfield GVI"):
    rng = np.random.default_rng(7)
    t = np.arange(72)
    treated = rng.poisson(30 * np.where(t >= 48, 0.7, 1.0))
    other = rng.poisson(30, size=72)
    outcomes = monthly_rows(
        "Springfield", "District 1", "shootings", 2014, list(treated)) + monthly_rows(
        "Springfield", "District 2", "shootings", 2014, list(other))
    return build_workbook(
        tmp_path / "wb", outcomes,
        f"p1,Springfield,Group Violence Intervention,\"{programme_name}\","
        "District 1,2018-01,shootings,District 2,P,a study,\n",
        tags="Springfield,city\nGroup Violence Intervention,intervention\n",
        news=(f"2018-02,\"{HOSTILE.replace(chr(34), chr(34) * 2)}\",Gazette,Springfield,"
              "https://example.org/item,\"<img src=x onerror=alert(1)>\"\n"),
        funders="F,f@example.org,*,*\n",
        columns={"interventions": "id,city,intervention,programme,area,start,outcomes,"
                                  "comparison_areas,confidence,source,notes",
                 "news": "date,title,outlet,tags,url,summary"})


def _html(outputs) -> str:
    return "\n".join(o.data.get("text/html", "") for o in outputs)


def test_city_report_numbers_equal_the_cli_estimates(tmp_path):
    folder = _workbook(tmp_path)
    city = report.build_city_report(folder, "Springfield")
    (result,) = city.results
    for method in ("its", "prepost", "comparison"):
        expected = run_estimate(folder, dict(city="Springfield", outcome="shootings",
                                             method=method))
        assert getattr(result, method).to_dict() == expected.to_dict()
    assert result.placebo is not None and result.placebo.n > 0
    assert len(city.key_findings) == 1 and "Springfield" in city.key_findings[0]
    # The comparison area passes the pre-trend check, so that design leads.
    assert result.comparison.details["is_pre_trend_parallel"]
    headline = city.headline()
    # Unrounded in the headline: the index and the emails round it once, as the report does.
    assert headline["percent_change"] == result.comparison.percent_change
    assert headline["design"] == "comparison areas"
    its_led = report.build_city_report(folder, "Springfield", method="its")
    assert its_led.headline()["percent_change"] == result.its.percent_change


def test_sections_show_everything_escaped(tmp_path):
    folder = _workbook(tmp_path, programme_name=HOSTILE.replace('"', "'"))
    city = report.build_city_report(folder, "Springfield")
    with capture_output() as captured:
        sections.show_title(city)
        sections.show_key_findings(city)
        sections.show_outcome_charts(city)
        sections.show_estimates_table(city)
        sections.show_news(city.news)
        sections.show_methods(city)
    html = _html(captured.outputs)
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<img src=x" not in html and "https://example.org/item" in html
    for heading in ("Key findings", "Outcomes, one chart each", "Estimates", "News coverage",
                    "Methods and data notes"):
        assert heading in html
    assert html.count("data:image/png;base64,") >= 2  # the series chart and the placebo chart
    findings = [o.data[FINDINGS_MIME] for o in captured.outputs
                if FINDINGS_MIME in o.data]
    assert findings and findings[0]["key_findings"] == city.key_findings


def test_a_failing_section_shows_its_failure(tmp_path):
    folder = _workbook(tmp_path)
    city = report.build_city_report(folder, "Springfield")
    broken = city.__class__(**{**city.__dict__, "results": ("not a result",)})
    with capture_output() as captured:
        sections.show_estimates_table(broken)
        sections.show_methods(city)
    html = _html(captured.outputs)
    assert "This section could not be produced" in html
    assert "Methods and data notes" in html  # later sections still run


def test_an_outcome_without_estimate_is_reported_not_dropped(tmp_path):
    folder = _workbook(tmp_path)
    path = folder / "outcomes.csv"
    # Keep only 6 months of District 1 before the start: too short for the model.
    lines = path.read_text().splitlines()
    kept = [lines[0]] + [x for x in lines[1:] if not (
        "District 1" in x and x.split(",")[3] < "2017-07")]
    path.write_text("\n".join(kept) + "\n")
    city = report.build_city_report(folder, "Springfield")
    (result,) = city.results
    assert result.its is not None or result.errors
    assert city.key_findings[0]


def _summary_workbook(tmp_path, cities):
    rng = np.random.default_rng(1)
    rows, programmes = "", ""
    for n, (city, effect) in enumerate(cities):
        t = np.arange(72)
        for outcome in ("shootings", "shooting victims"):
            rows += monthly_rows(city, f"Area {n}", outcome, 2014,
                                 list(rng.poisson(40 * np.where(t >= 48, effect, 1.0))))
        programmes += (f"p{n},{city},Cure Violence,Programme {n},Area {n},2018-01,"
                       "shootings;shooting victims\n")
    return build_workbook(tmp_path / "summary", rows, programmes,
                          tags="Cure Violence,intervention\n")


def test_intervention_summary_pools_one_outcome_at_a_time(tmp_path):
    folder = _summary_workbook(
        tmp_path, [("Springfield", 0.7), ("Springfield", 0.8), ("Shelbyville", 0.75)])
    summary = summary_content.build_intervention_summary(folder, "Cure Violence")
    assert set(summary.pooled) == {"shootings", "shooting victims"}
    for outcome, pooled in summary.pooled.items():
        assert pooled.k == 3 and pooled.rate_ratio < 1
        assert (pooled.method, pooled.interval) == ("REML", "Hartung-Knapp")
        assert list(pooled.studies["label"]) == [f"{c} / Area {n}" for n, c in
                                                 enumerate(["Springfield"] * 2
                                                           + ["Shelbyville"])]
    assert "3 programmes in 2 cities (Springfield, Shelbyville)" in summary.key_findings[0]
    dl = summary_content.build_intervention_summary(folder, "Cure Violence", pooling="dl")
    assert dl.pooled["shootings"].method == "DerSimonian-Laird"
    with capture_output() as captured:
        sections.show_summary_title(summary)
        sections.show_pooled(summary)
        sections.show_summary_table(summary)
        sections.show_news_counts(summary)
        sections.show_sources(summary)
    html = _html(captured.outputs)
    assert "results by programme" in html and "data:image/png;base64," in html
    assert "prediction interval" in html and "Hartung-Knapp" in html
    assert "could not be produced" not in html
    # Tables in words: no machine column names, no raw floats, no empty error column.
    assert "in_pooled" not in html and "p_value" not in html and ">error<" not in html
    assert "<th scope='col'>Pooled</th>" in html and "<th scope='col'>p</th>" in html
    assert not re.search(r">\s*0\.\d{4,}\s*<", html)
    assert "No source is recorded for: Programme 0 (Springfield); Programme 1 (Springfield)" in html


def test_city_report_tables_caveats_and_sources_read_as_words(tmp_path):
    folder = _workbook(tmp_path)
    city = report.build_city_report(folder, "Springfield")
    with capture_output() as captured:
        sections.show_title(city)
        sections.show_outcome_charts(city)
        sections.show_estimates_table(city)
        sections.show_methods(city)
        sections.show_sources(city)
    html = _html(captured.outputs)
    assert "could not be produced" not in html
    # The one-page summary: the programme, its headline with the design, and the contents slot.
    assert "Springfield GVI" in html and "interrupted time series" in html
    assert sections.TOC_SLOT in html
    # Every section heading is shown in one block with what it introduces.
    for output in captured.outputs:
        text = output.data.get("text/html", "")
        assert not re.fullmatch(r"\s*<h2[^>]*>[^<]*</h2>\s*", text), text
    assert "<caption>Estimates for Springfield GVI (District 1, from 2018-01).</caption>" in html
    for column in ("Outcome", "Design", "Change", "95% interval", "p"):
        assert "<th scope='col'" in html and f">{column}</th>" in html
    assert not re.search(r">\s*-?\d+\.\d{3,}\s*<", html)  # no machine-formatted numbers
    assert "[1] a study. Cited for: Springfield GVI (Springfield)." in html


def test_summary_names_each_kind_of_caveat_once(tmp_path):
    rng = np.random.default_rng(3)
    folder = build_workbook(
        tmp_path / "small",
        monthly_rows("Springfield", "citywide", "shootings", 2014, list(rng.poisson(3, size=72))),
        "p1,Springfield,Cure Violence,Springfield CV,citywide,2018-01,shootings\n",
        tags="Cure Violence,intervention\n")
    city = report.build_city_report(folder, "Springfield")
    (result,) = city.results
    assert any("Counts are small" in w for w in result.its.warnings)
    assert any("Counts are small" in w for w in result.prepost.warnings)
    with capture_output() as captured:
        sections.show_title(city)
    html = _html(captured.outputs)
    # Said once: in the finding's caution (its own design's), not again in a caveats line.
    assert "Caution: small counts" in html and html.count("small counts") == 1
    assert not re.findall(r"Caveats:</strong>", html)


def test_two_programmes_give_no_pooled_number(tmp_path):
    folder = _summary_workbook(tmp_path, [("Springfield", 0.7), ("Springfield", 0.8)])
    summary = summary_content.build_intervention_summary(folder, "Cure Violence")
    assert summary.pooled == {}
    assert summary.pooling_notes["shootings"].startswith(
        "too few programmes to pool (estimates from 2 programmes, both in Springfield")
    with capture_output() as captured:
        sections.show_pooled(summary)
    assert "too few programmes to pool" in _html(captured.outputs)
