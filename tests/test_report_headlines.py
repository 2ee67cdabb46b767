"""What a funder reads first: one number written one way on every path, every outcome of a
programme on its card, and charts that say which design they show."""

from __future__ import annotations

import dataclasses
import math
import re

import numpy as np
import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from impactbook.designs import SIGNIFICANCE_LEVEL
from impactbook.effects.placebo import PlaceboResult
from impactbook.report import content as report
from impactbook.report import sections, summary_content, tables
from impactbook.report.format import (
    describe_change_pct,
    design_title,
    format_pct,
    headline_line,
)
from impactbook.report.index_page import render_index
from impactbook.report.plots import plot_outcome_series

from .conftest import ROOT
from .workbooks import build_workbook, monthly_rows

MINUS = "\u2212"


@pytest.fixture(scope="module", autouse=True)
def shell():
    return InteractiveShell.instance()


def _html(outputs) -> str:
    return "\n".join(o.data.get("text/html", "") for o in outputs)


def _city(tmp_path, outcomes: dict[str, float], *, areas: int = 1, seed: int = 1,
          method: str = "its"):
    """One programme area (District 1) whose outcomes change by the given ratios."""
    rng = np.random.default_rng(seed)
    t = np.arange(72)
    rows = ""
    for outcome, ratio in outcomes.items():
        rows += monthly_rows("Springfield", "District 1", outcome, 2014,
                             list(rng.poisson(60 * np.where(t >= 48, ratio, 1.0))))
        for i in range(2, areas + 1):
            rows += monthly_rows("Springfield", f"District {i}", outcome, 2014,
                                 list(rng.poisson(60, 72)))
    folder = build_workbook(
        tmp_path / "wb", rows,
        "p1,Springfield,Drug Market Intervention,DMI,District 1,2018-01," + ";".join(outcomes)
        + "\n",
        tags="Drug Market Intervention,intervention\n")
    return report.build_city_report(folder, "Springfield", method=method)


def _index_html(city: report.CityReport) -> str:
    return render_index({"run": "r", "reports": [
        {"id": "city/x", "status": "ok", "kind": "city", "name": city.city,
         "headline": city.headline(), "files": {"html": "x/x.html"}}]})


def test_philadelphia_29_5_reads_the_same_on_every_path(tmp_path):
    # Philadelphia's headline was 29.47% higher: "29% higher" in the sentences and "30%
    # higher" on the index card, which rounded a rounded 29.5. Every path now rounds once.
    city = _city(tmp_path, {"shootings": 1.3})
    (result,) = city.results
    its = dataclasses.replace(result.its, rate_ratio=1.2947, ci_low=1.12, ci_high=1.49)
    city = dataclasses.replace(city, results=(dataclasses.replace(result, its=its),))
    (result,) = city.results
    assert result.headline is its
    table = tables.estimates_table([result])
    cell = table.loc[table["Design"].str.endswith("(headline)"), "Change"].item()
    paths = {
        "table cell": cell,
        "sentence": result.finding,
        "page one": result.plain_finding,
        "manifest and email line": headline_line(city.headline()),
        "index card": _index_html(city),
    }
    assert cell == "+29%"
    for path, text in paths.items():
        assert "29%" in text, path
        assert "30%" not in text, path
    for path in ("sentence", "page one", "manifest and email line", "index card"):
        assert "29% higher" in paths[path], path


def test_a_small_change_is_one_figure_in_table_and_sentence():
    # -0.4% in a table was "about the same" in the sentence beside it.
    assert format_pct(-0.4) == f"{MINUS}0.4%" and describe_change_pct(-0.4) == "0.4% lower"
    assert format_pct(-0.04) == "0%" and describe_change_pct(-0.04) == "about the same"


def test_one_significance_level_and_tie_rule_for_every_design():
    # A permutation p of exactly 0.05 was "unusual" for the false-start check and "not clear"
    # for the synthetic control.
    placebo = PlaceboResult(real_log_rate_ratio=-0.3, placebo_starts=(),
                            placebo_log_rate_ratios=tuple([0.0] * 19), post_periods=24,
                            failed=0, n_as_large=0, percentile=100.0,
                            p_value=SIGNIFICANCE_LEVEL, interpretation="")
    assert placebo.is_unusual
    from tests.test_effects_findings import make_estimate

    synth = dataclasses.replace(make_estimate(0.7, math.nan, math.nan, method="synth"),
                                p_value=SIGNIFICANCE_LEVEL)
    assert synth.excludes_no_change


def test_seattle_four_outcomes_all_shown_with_a_stated_summary(tmp_path):
    # Seattle: drug offenses (listed first) showed no clear change while felony, misdemeanor
    # and any-crime offenses fell; the card and index showed drug offenses alone.
    city = _city(tmp_path, {"drug offenses": 1.0, "felony offenses": 0.6,
                            "misdemeanor offenses": 0.6, "any crime": 0.7})
    summary = "3 of 4 outcomes fell; drug offenses showed no clear change"
    line = headline_line(city.headline())
    assert summary in line
    for outcome in ("drug offenses", "felony offenses", "misdemeanor offenses", "any crime"):
        assert outcome in line
    with capture_output() as captured:
        sections.show_title(city)
    page_one = _html(captured.outputs)
    assert summary[0].upper() + summary[1:] in page_one
    assert page_one.count("<li>In District 1 (Springfield)") == 4  # a sentence per outcome
    index = _index_html(city)
    assert "3 of 4 outcomes fell</span>" in index and summary in index
    assert "felony offenses" in index


def test_chart_titles_and_captions_name_their_design_and_the_headline(tmp_path):
    # New York: the summary said Crown Heights shootings -6% (synthetic control) while the
    # first chart's title said +16% (the time series), with no word of which design leads.
    city = _city(tmp_path, {"shootings": 0.7}, areas=3, method="auto")
    (result,) = city.results
    its = result.its
    fig = plot_outcome_series(its, is_headline=result.headline is its)
    title = " ".join(fig.axes[0].get_title(loc="left").split())
    assert title.startswith("Interrupted time series (")
    assert format_pct(its.percent_change) in title
    # A chart of a design that does not lead says which does, with its figure, and why.
    led_by_synth = dataclasses.replace(result, synth=dataclasses.replace(
        its, method="synth", rate_ratio=0.94, p_value=0.6,
        details={"is_good_fit": True, "donors": 12, "fit_problem": None}))
    assert led_by_synth.choice.method == "synth"
    note = sections._headline_note(led_by_synth, its)
    assert note == (f"Not the headline: the synthetic control leads ({MINUS}6%, against a "
                    "weighted mix of other areas; this chart is against the area's own trend).")
    assert design_title(its, False).startswith("Interrupted time series (not the headline)")


def test_new_york_every_chart_names_its_design_and_page_one_reads_plainly():
    city = report.build_city_report(ROOT / "data", "New York")
    with capture_output() as captured:
        sections.show_title(city)
        sections.show_outcome_charts(city)
    html = _html(captured.outputs)
    captions = re.findall(r"<figcaption>(.*?)</figcaption>", html, flags=re.S)
    charts = [c for c in captions if not c.startswith("False-start")]
    assert charts and all(c.startswith(("Interrupted time series.", "Synthetic control ("))
                          for c in charts)
    assert all(("The headline design" in c) or ("Not the headline" in c)
               for c in charts)
    with capture_output() as captured:
        sections.show_key_findings(city)
        sections.show_methods(city)
    rest = _html(captured.outputs)
    # The Newey-West wording is said once, in the methods notes, not in every finding.
    assert rest.count("Newey-West (autocorrelation-robust)") == 1
    assert not any("Newey-West" in finding for finding in city.key_findings)
    summary = html.split("<div class='ib-toc'>")[0]
    for result in city.results:  # a disagreement is said on page one too
        assert ("The designs disagree" in result.plain_finding) == result.choice.designs_disagree
    # One plain sentence per finding: the permutation detail lives in the methods notes.
    assert "one-sided" not in summary and "no p can be below" not in summary
    passed_over = 0
    for result in city.results:
        if result.synth is not None and result.headline is result.synth:
            assert not any("larger than every donor" in w for w in result.synth.warnings)
        elif result.synth is not None:  # the reason is said in words
            assert "the synthetic control was passed over: " in result.choice.reason
            passed_over += 1
    # Man Up!'s precinct is larger than every donor: its synthetic controls never lead.
    assert passed_over >= 2


def test_methods_notes_show_the_residual_tests_as_one_table():
    city = report.build_city_report(ROOT / "data", "Chicago")
    with capture_output() as captured:
        sections.show_methods(city)
    html = _html(captured.outputs)
    assert html.count("Ljung-Box") <= 3
    assert "Residual autocorrelation (Ljung-Box p)" in html
    body = html.split("Residual autocorrelation (Ljung-Box p)")[1].split("<tbody>")[1]
    assert body.count("<tr>") == sum(1 for r in city.results
                                     for m, e in r.estimates_by_method.items()
                                     if e is not None and m != "prepost")


def test_a_summary_without_news_has_one_news_section_saying_so(tmp_path):
    # The Cure Violence summary had two empty news sections in a row.
    _city(tmp_path, {"shootings": 0.8})
    summary = summary_content.build_intervention_summary(tmp_path / "wb",
                                                         "Drug Market Intervention")
    with capture_output() as captured:
        sections.show_news_counts(summary)
        sections.show_news(summary.news)
    html = _html(captured.outputs)
    assert html.count("<h2") == 1 and "no news items for this report" in html


def test_the_regression_to_the_mean_caution_fits_the_direction():
    from impactbook.effects import describe_caveats

    spike = ("The start follows an unusual high: 2020-06, 2020-07 ran 60% above the "
             "pre-programme trend: counts tend to fall back after a high, so a fall after the "
             "start may partly be regression to the mean rather than the programme, and a rise "
             "may be understated.")
    assert describe_caveats([spike], 29.5) == ("the start follows an unusual high (so the "
                                               "rise may be understated)")
    assert "regression to the mean" in describe_caveats([spike], -20.0)


@pytest.mark.slow
def test_seattle_real_data_card_shows_all_four_outcomes():
    # The published evaluation: felony, misdemeanor and any-crime offenses fell, drug offenses
    # did not clearly change; the card showed drug offenses ("no clear change") alone.
    city = report.build_city_report(ROOT / "data", "Seattle")
    line = headline_line(city.headline())
    assert "3 of 4 outcomes fell; drug offenses showed no clear change" in line
    for outcome in ("felony offenses", "misdemeanor offenses", "any crime"):
        assert outcome in line
