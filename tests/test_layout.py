"""Presentation: one formatter, tables in words, caveats said once, charts that fit, and PDF
pages with no stranded heading and no page left mostly blank."""

from __future__ import annotations

import io
import re

import numpy as np
import pandas as pd
import pytest
from pypdf import PdfReader

from impactbook.render.exporters.layout import fill_contents, number_captions
from impactbook.report import plots
from impactbook.report.format import (
    format_change,
    format_interval,
    format_p,
    format_pct,
)
from impactbook.report.tables import merge_caveats, place_label, programme_label

from .conftest import ROOT
from .pdf_layout import has_pdftoppm, mostly_empty_pages, page_fills, stranded_headings

needs_poppler = pytest.mark.skipif(not has_pdftoppm(), reason="poppler-utils (pdftoppm) needed")


# --------------------------------------------------------------------------- numbers and words


@pytest.mark.parametrize("p, text", [(0.567, "0.57"), (0.05, "0.05"), (0.0042, "0.004"),
                                     (0.00099, "<0.001"), (1e-12, "<0.001"), (1.0, "1.00"),
                                     (None, "n/a"), (float("nan"), "n/a")])
def test_p_values_read_as_people_write_them(p, text):
    assert format_p(p) == text


def test_percentages_and_intervals_have_one_form():
    assert format_pct(-25.04) == "\u221225%" and format_pct(5) == "+5%"
    assert format_pct(0.4) == "+0.4%" and format_pct(0.02) == "0%" and format_pct(-0.0) == "0%"
    assert format_change(0.82) == "\u221218%" and format_change(None) == "n/a"
    assert format_interval(0.54, 1.09) == "\u221246% to +9%"
    assert format_interval(-46, 9, ratios=False) == "\u221246% to +9%"


def test_labels_read_as_words():
    assert place_label("citywide", "Chicago") == "Chicago as a whole"
    assert place_label("District 15", "Chicago") == "District 15"
    assert programme_label("Group Violence Reduction Strategy (VRS)",
                           "Group Violence Intervention") == (
        "Group Violence Reduction Strategy (VRS), a Group Violence Intervention programme")
    assert programme_label("Oakland Ceasefire", "Ceasefire") == "Oakland Ceasefire"


def test_caveats_are_said_once_per_programme_with_where_they_apply():
    small = "Counts are small (mean {} a month, under 5): percent changes swing widely."
    found = [("homicides, model", small.format("2.2")), ("homicides, before/after",
                                                        small.format("1.8")),
             ("shootings, model", "The window overlaps March 2020 to December 2021."),
             ("shootings, before/after", "The window overlaps March 2020 to December 2021.")]
    scope = ["homicides, model", "homicides, before/after", "shootings, model",
             "shootings, before/after"]
    caveats = [str(c) for c in merge_caveats(found, scope)]
    assert caveats == [
        "Counts are small: percent changes swing widely. (homicides, model; homicides, "
        "before/after)",
        "The window overlaps March 2020 to December 2021. (shootings, model; shootings, "
        "before/after)"]
    same = [("a", small.format("2.2")), ("b", small.format("2.2"))]
    assert [str(c) for c in merge_caveats(same, ["a", "b"])] == [small.format("2.2")]


def test_captions_are_numbered_and_contents_list_the_sections():
    body = ("<h1>T</h1><div class=\"ib-toc\"></div><h2 class=\"ib-section\" id=\"key\">Key "
            "findings</h2><figure><figcaption>Counts.</figcaption></figure><table><caption>"
            "Estimates.</caption></table><figure><figcaption>Check.</figcaption></figure>"
            "<h2 id=\"notes\">Notes<a class=\"anchor-link\" href=\"#notes\">\u00b6</a></h2>")
    out = fill_contents(number_captions(body))
    assert "Figure 1.</span> Counts." in out and "Figure 2.</span> Check." in out
    assert "Table 1.</span> Estimates." in out
    assert re.findall(r'<li><a href="#(\w+)">([^<]+)</a></li>', out) == [
        ("key", "Key findings"), ("notes", "Notes")]


# --------------------------------------------------------------------------- charts


def _texts_inside(fig) -> list[str]:
    fig.draw_without_rendering()
    renderer = fig.canvas.get_renderer()
    width, height = fig.bbox.width, fig.bbox.height
    outside = []
    for ax in fig.axes:
        # Only the ticks inside the view are drawn (and the shown labels: a panel sharing its
        # x axis with the one below hides its own).
        (x0, x1), (y0, y1) = sorted(ax.get_xlim()), sorted(ax.get_ylim())
        ticks = [label for label in ax.get_xticklabels() if x0 <= label.get_position()[0] <= x1
                 ] + [label for label in ax.get_yticklabels()
                      if y0 <= label.get_position()[1] <= y1]
        for text in ticks + [ax.title, ax._left_title, ax.xaxis.label,  # noqa: SLF001
                             ax.yaxis.label]:
            if text.get_text() and text.get_visible():
                box = text.get_window_extent(renderer)
                if box.x0 < 0 or box.x1 > width or box.y0 < 0 or box.y1 > height:
                    outside.append(text.get_text())
    if fig._suptitle is not None:  # noqa: SLF001
        box = fig._suptitle.get_window_extent(renderer)  # noqa: SLF001
        if box.x0 < 0 or box.x1 > width:
            outside.append(fig._suptitle.get_text())  # noqa: SLF001
    return outside


def test_forest_plot_fits_long_titles_and_labels_and_spaces_its_ticks():
    rows = pd.DataFrame({
        "label": ["New York, Precinct 77: shooting victims", "Chicago, District 15: homicides",
                  "Philadelphia, citywide: shootings", "Baltimore, citywide: murders"],
        "rate_ratio": [0.8, 1.05, 1.3, 0.88], "ci_low": [0.55, 0.7, 1.14, 0.73],
        "ci_high": [1.16, 1.58, 1.47, 1.06]})
    fig = plots.plot_forest(rows, None, title="Group Violence Intervention: change by city and "
                                              "outcome, every programme and every outcome")
    assert _texts_inside(fig) == []
    ticks = np.log(fig.axes[0].get_xticks())
    span = np.log(fig.axes[0].get_xlim()[1]) - np.log(fig.axes[0].get_xlim()[0])
    assert 0.0 in ticks and np.min(np.diff(ticks)) >= 0.1 * span


def test_forest_plot_axis_label_is_not_cut_at_the_edge():
    labels = ["New York, citywide: shootings", "New York, citywide: shooting victims",
              "Chicago, District 15: homicides", "Philadelphia, citywide: shootings",
              "Philadelphia, citywide: shooting victims", "Baltimore, citywide: murders"]
    rows = pd.DataFrame({"label": labels, "rate_ratio": [0.94, 0.97, 1.05, 1.29, 1.4, 0.88],
                         "ci_low": [0.86, 0.87, 0.7, 1.14, 1.25, 0.73],
                         "ci_high": [1.03, 1.07, 1.58, 1.47, 1.56, 1.06]})
    fig = plots.plot_forest(rows, None, title="Group Violence Intervention: change by city and "
                                              "outcome")
    assert _texts_inside(fig) == []


def test_forest_plot_with_long_programme_labels_keeps_its_axis_label_inside():
    from types import SimpleNamespace

    labels = ["New York, Precinct 77: Save Our Streets (SOS) Crown Heights",
              "New York, Precinct 75: Man Up! East New York",
              "New York, Precinct 40: Save Our Streets (SOS) South Bronx"]
    rows = pd.DataFrame({"label": labels, "rate_ratio": [1.16, 0.77, 0.47],
                         "ci_low": [0.7, 0.58, 0.34], "ci_high": [1.93, 1.03, 0.67]})
    pooled = SimpleNamespace(rate_ratio=0.73, ci_low=0.25, ci_high=2.17)
    fig = plots.plot_forest(rows, pooled, title="Cure Violence: shootings, by programme")
    fig.set_dpi(144)  # the resolution the report saves at
    assert _texts_inside(fig) == []


def test_placebo_histogram_counts_in_whole_numbers():
    fig = plots.plot_placebo(np.log(np.linspace(0.7, 1.4, 9)), np.log(0.9))
    fig.draw_without_rendering()
    ticks = fig.axes[0].get_yticks()
    assert np.allclose(ticks, np.round(ticks))
    assert _texts_inside(fig) == []


def test_a_chart_shows_itself_in_a_notebook_and_stays_a_figure():
    from matplotlib.figure import Figure

    fig = plots.plot_placebo([0.1, -0.1, 0.05, 0.0, -0.2], 0.3)
    assert isinstance(fig, Figure) and fig._repr_png_().startswith(b"\x89PNG")



def test_a_laid_out_chart_is_rendered_as_laid_out_and_a_changed_one_is_laid_out_again():
    from PIL import Image

    from impactbook.report.chart_layout import ChartLayout

    fig = plots.plot_placebo([0.1, -0.1, 0.05, 0.0, -0.2], 0.3)
    laid_out = fig.axes[0].get_position(original=True).bounds  # no re-apply: stays fresh
    image = Image.open(io.BytesIO(plots.figure_to_png(fig)))
    assert image.size == (int(7.2 * 144), int(2.2 * 144))
    assert fig.axes[0].get_position(original=True).bounds == laid_out
    assert fig.dpi == plots.PNG_DPI and isinstance(fig.get_layout_engine(), ChartLayout)
    fig.axes[0].set_ylabel("false starts\ncounted\nover\nfour lines")  # wider: more margin
    plots.figure_to_png(fig)
    assert fig.axes[0].get_position(original=True).x0 > laid_out[0]


# --------------------------------------------------------------------------- the layout check


def _pdf(tmp_path, body: str):
    import weasyprint

    path = tmp_path / "page.pdf"
    css = ("@page { size: A4; margin: 18mm 16mm 20mm 16mm; } p { margin: 0; font-size: 11pt; "
           "line-height: 14pt; }")
    weasyprint.HTML(string=f"<style>{css}</style>{body}").write_pdf(str(path))
    return path


def _lines(n: int) -> str:
    return "".join(f"<p>Line {i} of a page that is full of ordinary text.</p>" for i in range(n))


@needs_poppler
def test_the_layout_check_fails_on_a_mostly_blank_page_and_a_stranded_heading(tmp_path):
    good = _pdf(tmp_path, _lines(90))
    assert mostly_empty_pages(good) == [] and len(page_fills(good)) == 2
    blank = _pdf(tmp_path, _lines(5) + "<h2>Stranded</h2><div style='break-before: page'>"
                 + _lines(40) + "</div>")
    assert [page for page, _ in mostly_empty_pages(blank)] == [1]
    assert stranded_headings(blank, "<h2>Stranded</h2>") == [(1, "Stranded")]


@pytest.mark.slow
@needs_poppler
def test_every_default_report_prints_well(tmp_path):
    from impactbook.render.batch import run_batch
    from impactbook.render.plan import plan_batch

    data = ROOT / "data"
    result = run_batch(plan_batch(data, tmp_path), tmp_path, workers=2, progress=False)
    assert result.ok, result.failed
    checked = 0
    for entry in result.manifest["reports"]:
        pdf = tmp_path / entry["files"]["pdf"]
        page = (tmp_path / entry["files"]["html"]).read_text(encoding="utf-8")
        assert mostly_empty_pages(pdf) == [], entry["slug"]
        assert stranded_headings(pdf, page) == [], entry["slug"]
        sizes = {(round(float(p.mediabox.width)), round(float(p.mediabox.height)))
                 for p in PdfReader(str(pdf)).pages}
        assert len(sizes) == 1 and all(w < h for w, h in sizes), entry["slug"]  # portrait
        assert '<div class="ib-toc"><h2 class="ib-toc-title">Contents</h2>' in page
        assert "Figure 1.</span>" in page and "Table 1.</span>" in page
        text = re.sub(r"<[^>]+>", " ", page)
        assert not re.search(r"\b0\.\d{5,}\b", text)  # no machine-formatted numbers
        assert "in_pooled" not in text and "citywide:" not in text
        checked += 1
    assert checked == 8  # five city reports and three intervention summaries


def test_stacked_panels_y_labels_stay_beside_their_own_axes():
    """A y label longer than its panel is wrapped: in a two-panel chart it would otherwise run
    into the label of the panel below ('shooting victims per month' over 'observed -
    synthetic' did)."""
    from impactbook.effects import estimate_synth

    rng = np.random.default_rng(5)
    periods = pd.period_range("2010-01", periods=60, freq="M")
    panel = pd.DataFrame({f"Area {i}": rng.poisson(8 + i, len(periods)) for i in range(12)},
                         index=periods).astype(float)
    panel.insert(0, "Programme", panel["Area 3"])
    est = estimate_synth(panel, "Programme", "2013-01", post_periods=24,
                         labels={"city": "Town", "area": "Programme",
                                 "outcome": "non-fatal shooting victims"})
    fig = plots.plot_synth(est)
    plots.figure_to_png(fig)
    renderer = fig.canvas.get_renderer()
    boxes = [(ax.yaxis.label.get_window_extent(renderer), ax.bbox) for ax in fig.axes]
    for label, axes in boxes:
        assert label.height <= axes.height + 8
    (top, _), (bottom, _) = boxes
    assert bottom.y1 <= top.y0 + 1  # one above the other, not into each other
    assert "\n" in fig.axes[0].yaxis.label.get_text()
