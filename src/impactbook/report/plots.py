"""Report figures. Each function takes results and returns a matplotlib ``Figure``.

One style for every chart: readable in grey print (line styles and
markers carry meaning, not only colour), units on the axes, and a title
that says what the reader should see.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping, Sequence

import matplotlib
import matplotlib.dates as mdates
import matplotlib.ticker
import numpy as np
import pandas as pd
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

from impactbook.report.chart_layout import ChartLayout, fit_texts

# Re-exported: the report and scripts take a chart's PNG from here.
from impactbook.report.chart_png import PNG_DPI, figure_data_uri, figure_to_png  # noqa: F401
from impactbook.report.format import design_title, format_pct
from impactbook.workbook.periods import frequency_of

INK = "#1b1b1b"
MODEL = "#1f5fa8"
COUNTERFACTUAL = "#7a7a7a"
BAND = "#c9c9c9"
ACCENT = "#b23a1e"
COMPARISON_STYLES = ("--", ":", "-.", (0, (5, 1, 1, 1)))

STYLE = {
    # Laid out at the dpi it is drawn at: one renderer and one text-metrics cache for the
    # layout pass and the drawing (at 100 they were measured twice and the renderer rebuilt).
    "figure.dpi": PNG_DPI,
    "savefig.dpi": PNG_DPI,
    "font.size": 9.5,
    "axes.titlesize": 10.5,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#e6e6e6",
    "grid.linewidth": 0.6,
    # A white legend box: the start line and the data never run through the legend's text.
    "legend.frameon": True,
    "legend.facecolor": "white",
    "legend.edgecolor": "white",
    "legend.framealpha": 0.9,
    "legend.fontsize": 8.5,
    # Names come from data files: "$" in a programme name is a dollar sign, never mathtext
    # (an odd number of them made every chart of a report fail), and no TeX is run.
    "text.parse_math": False,
    "text.usetex": False,
}


class ReportFigure(Figure):
    """A matplotlib ``Figure`` that shows itself in a notebook.

    The charts are built without pyplot (no global state leaks between reports), so IPython has
    no display hook for them and would print ``<Figure size ...>``. This class gives IPython the
    PNG itself: the same call shows the chart as a notebook cell's result (interactive or under
    papermill) and returns an ordinary ``Figure`` to a script.
    """

    def _repr_png_(self) -> bytes:
        return figure_to_png(self)


def new_figure(height_in: float) -> ReportFigure:
    """A report chart's figure (made inside ``rc_context(STYLE)``), 7.2 inches wide (the text
    width of the PDF page), laid out by :class:`ChartLayout`."""
    return ReportFigure(figsize=(7.2, height_in), layout=ChartLayout())


def _label_years(axis, x: pd.DatetimeIndex) -> None:
    """Ticks on whole years only (a year-only label on a half-year tick would print each year
    twice), at most about ten of them.

    The ticks are the 1 January of every ``base``-th year around the data, fixed once, which is
    what ``YearLocator(base)`` with a ``"%Y"`` formatter shows: that pair rebuilt the ticks with
    dateutil's rrule and formatted each through ``num2date`` on every draw, the largest single
    cost of drawing a report's charts.
    """
    if not len(x):
        return
    years = max(1, x[-1].year - x[0].year + 1)
    base = max(1, -(-years // 10))
    first, last = (x[0].year - 1) // base * base, x[-1].year + 1
    shown = list(range(first, last + 1, base))
    axis.set_major_locator(matplotlib.ticker.FixedLocator(
        mdates.date2num([pd.Timestamp(year, 1, 1) for year in shown])))
    axis.set_major_formatter(matplotlib.ticker.FixedFormatter([str(year) for year in shown]))


def _timestamps(index: pd.Index) -> pd.DatetimeIndex:
    if isinstance(index, pd.PeriodIndex):
        return index.to_timestamp(how="start")
    return pd.DatetimeIndex(index)


def _unit(freq: str) -> str:
    return "per quarter" if freq == "Q" else "per month"


def plot_outcome_series(estimate, *, comparison: Mapping[str, pd.Series] | None = None,
                        is_headline: bool = False) -> Figure:
    """Counts, fitted model, counterfactual with its 95% band and the start line.

    ``comparison`` maps comparison-area names to count series; they are drawn
    in a second panel indexed to their own pre-start mean (= 100), because
    areas of different size can only be compared in relative terms.
    """
    observed = estimate.observed
    if observed is None:
        raise ValueError("the estimate carries no observed series to plot")
    freq = frequency_of(estimate.start)
    observed = _around_window(observed, estimate.fitted)
    if comparison:
        comparison = {name: series.reindex(observed.index)
                      for name, series in comparison.items()}
    has_comparison = bool(comparison)
    with matplotlib.rc_context(STYLE):
        fig = new_figure(4.6 if has_comparison else 3.3)
        if has_comparison:
            ax, ax_cmp = fig.subplots(2, 1, sharex=True, height_ratios=(3, 2))
        else:
            ax, ax_cmp = fig.subplots(1, 1), None
        x = _timestamps(observed.index)
        ax.plot(x, observed.to_numpy(dtype=float), color=INK, lw=0.8, marker="o", ms=2.2,
                label="observed count")
        cf = estimate.counterfactual
        if cf is not None and not cf.empty:
            xc = _timestamps(cf.index)
            ax.fill_between(xc, cf["low"], cf["high"], color=BAND, lw=0,
                            label="95% band of the projection")
            ax.plot(xc, cf["mean"], color=COUNTERFACTUAL, lw=1.6, ls="--",
                    label="pre-trend projected (no programme)")
        fitted = estimate.fitted
        if fitted is not None and not fitted.empty:
            ax.plot(_timestamps(fitted.index), fitted.to_numpy(dtype=float), color=MODEL,
                    lw=1.6, label="model fit (trend and season)")
        start_x = estimate.start.to_timestamp(how="start")
        for axis in (ax, ax_cmp):
            if axis is not None:
                axis.axvline(start_x, color=ACCENT, lw=1.2, ls="-")
        ax.annotate(f"start {estimate.to_dict()['start']}", xy=(start_x, 0.0),
                    xycoords=("data", "axes fraction"), xytext=(3, 3),
                    textcoords="offset points", va="bottom", fontsize=8, color=ACCENT,
                    bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.85, "pad": 1})
        ax.set_title(design_title(estimate, is_headline))
        ax.set_ylabel(f"{estimate.outcome} {_unit(freq)}")
        ax.set_ylim(bottom=0)
        # Headroom above the data keeps the legend off the series.
        highs = [observed.max()]
        if cf is not None and not cf.empty:
            highs.append(cf["high"].max())
        top = np.nanmax(highs)
        ax.set_ylim(0, top * 1.4 if np.isfinite(top) and top > 0 else 1)
        ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))  # counts
        ax.legend(loc="upper left", ncols=2, fontsize=7.5)
        if ax_cmp is not None:
            _draw_comparison_panel(ax_cmp, observed, comparison, estimate.start,
                                   estimate.area or "programme area")
        _label_years((ax_cmp or ax).xaxis, x)
        (ax_cmp or ax).set_xlabel("")  # the years on the axis say it; the caption names all
    return fit_texts(fig)


def _around_window(observed: pd.Series, fitted: pd.Series | None) -> pd.Series:
    """The observed series cut to the analysis window plus a year either side.

    Years of history far from the start flatten the part a reader needs to see.
    """
    if fitted is None or fitted.empty:
        return observed
    margin = 4 if frequency_of(fitted.index[0]) == "Q" else 12
    first, last = fitted.index.min() - margin, fitted.index.max() + margin
    return observed[(observed.index >= first) & (observed.index <= last)]


def _draw_comparison_panel(ax, treated: pd.Series, comparison: Mapping[str, pd.Series],
                           start: pd.Period, treated_name: str) -> None:
    def indexed(series: pd.Series) -> pd.Series:
        base = series[series.index < start].mean()
        return series / base * 100 if base and np.isfinite(base) else series * np.nan

    ax.plot(_timestamps(treated.index), indexed(treated).rolling(3, min_periods=1).mean(),
            color=INK, lw=1.6, label=treated_name)
    for style, (name, series) in zip(COMPARISON_STYLES * 4, comparison.items(), strict=False):
        ax.plot(_timestamps(series.index), indexed(series).rolling(3, min_periods=1).mean(),
                color=COUNTERFACTUAL, lw=1.1, ls=style, label=name)
    ax.axhline(100, color="#999999", lw=0.6)
    ax.set_ylim(0, ax.get_ylim()[1] * 1.3)
    ax.set_ylabel("index, pre-start\nmean = 100")
    ax.set_title("Programme area against comparison areas (3-period moving average)",
                 fontsize=9.5)
    ax.legend(loc="upper left", ncols=min(4, len(comparison) + 1), fontsize=7.5)


def plot_forest(rows: pd.DataFrame, pooled=None, *, title: str | None = None) -> Figure:
    """Forest plot of per-city rate ratios (log scale) with the pooled estimate.

    ``rows`` needs columns ``label, rate_ratio, ci_low, ci_high``; ``pooled``
    is a pooled result with ``rate_ratio, ci_low, ci_high``.
    """
    n = len(rows)
    with matplotlib.rc_context(STYLE):
        fig = new_figure(1.2 + 0.42 * (n + (2 if pooled is not None else 0)))
        ax = fig.subplots()
        y = np.arange(n)[::-1] + (2 if pooled is not None else 0)
        rr = rows["rate_ratio"].to_numpy(float)
        low, high = rows["ci_low"].to_numpy(float), rows["ci_high"].to_numpy(float)
        ax.errorbar(rr, y, xerr=[rr - low, high - rr], fmt="s", color=INK, ms=5, capsize=2.5,
                    lw=1.1)
        labels = list(rows["label"])
        ticks = list(y)
        if pooled is not None:
            ax.errorbar([pooled.rate_ratio], [0.5],
                        xerr=[[pooled.rate_ratio - pooled.ci_low],
                              [pooled.ci_high - pooled.rate_ratio]],
                        fmt="D", color=MODEL, ms=7, capsize=3, lw=1.8)
            labels.append("pooled (random effects)")
            ticks.append(0.5)
        ax.axvline(1.0, color=ACCENT, lw=1.0, ls="--")
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(
            matplotlib.ticker.FuncFormatter(lambda v, _: format_pct((v - 1) * 100)))
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        values = np.concatenate([low, high] + ([[pooled.ci_low, pooled.ci_high]]
                                               if pooled is not None else []))
        left, right = _log_limits(values)
        ax.set_xlim(left, right)
        ax.set_xticks(_spaced_ratio_ticks(left, right))
        ax.set_yticks(ticks, [textwrap.fill(str(label), 38) for label in labels])
        ax.grid(axis="y", visible=False)
        # Right-aligned with the axes: centred under an axes pushed right by long labels, the
        # text would run off the figure.
        ax.set_xlabel("change against the pre-programme trend (log scale; bars: 95% intervals)",
                      loc="right")
        # Over the whole figure, not the axes: long city labels leave the axes narrow.
        fig.suptitle(title or "Estimated change by city", x=0.01, ha="left",
                     fontsize=STYLE["axes.titlesize"], fontweight="bold")
    return fit_texts(fig)


FOREST_TICKS = (0.1, 0.2, 0.25, 0.33, 0.5, 0.67, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0, 5.0, 10.0)


def _log_limits(values: np.ndarray) -> tuple[float, float]:
    """Axis limits around every interval, with no change (1.0) always in view."""
    finite = values[np.isfinite(values) & (values > 0)]
    low = min(float(finite.min()) if finite.size else 1.0, 0.9)
    high = max(float(finite.max()) if finite.size else 1.0, 1.1)
    pad = (math.log(high) - math.log(low)) * 0.06
    return math.exp(math.log(low) - pad), math.exp(math.log(high) + pad)


def _spaced_ratio_ticks(left: float, right: float, min_share: float = 0.13) -> list[float]:
    """Round rate ratios inside the axis, kept at least ``min_share`` of its width apart so
    their labels never collide; no change (1.0) is always one of them."""
    span = math.log(right) - math.log(left)
    inside = [t for t in FOREST_TICKS if left <= t <= right]
    kept = [1.0]
    for tick in sorted(inside, key=lambda t: abs(math.log(t))):
        if all(abs(math.log(tick) - math.log(k)) >= min_share * span for k in kept):
            kept.append(tick)
    return sorted(kept)


def plot_tag_counts(counts: pd.DataFrame, *, title: str | None = None) -> Figure:
    """News items per period for each tag (a frame: index period, one column per tag)."""
    with matplotlib.rc_context(STYLE):
        fig = new_figure(3.0)
        ax = fig.subplots()
        if counts.empty:
            ax.text(0.5, 0.5, "no news items", ha="center", va="center",
                    transform=ax.transAxes)
            ax.set_axis_off()
            return fig
        labels = [str(p) for p in counts.index]
        bottom = np.zeros(len(counts))
        hatches = ("", "//", "..", "xx", "\\\\", "++")
        greys = ("#3a3a3a", "#8c8c8c", "#bdbdbd", "#e0e0e0", "#5f5f5f", "#a5a5a5")
        for i, column in enumerate(counts.columns):
            values = counts[column].to_numpy(float)
            ax.bar(labels, values, bottom=bottom, label=str(column),
                   color=greys[i % len(greys)], hatch=hatches[i % len(hatches)],
                   edgecolor="white", lw=0.5)
            bottom += values
        ax.set_ylabel("news items")
        ax.set_xlabel("period")
        ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        # Headroom above the tallest bar keeps the legend off the bars.
        ax.set_ylim(0, max(1.0, float(bottom.max())) * (1.25 + 0.12 * len(counts.columns) / 2))
        ax.legend(loc="upper left", ncols=2)
        ax.set_title(title or "News coverage by tag")
    return fit_texts(fig)


def plot_placebo(placebo_log_rr: Sequence[float], real_log_rr: float, *,
                 title: str | None = None) -> Figure:
    """Where the real estimate falls among false-start (placebo) estimates."""
    with matplotlib.rc_context(STYLE):
        fig = new_figure(2.2)
        ax = fig.subplots()
        values = (np.exp(np.asarray(placebo_log_rr, float)) - 1) * 100
        if len(values):
            ax.hist(values, bins=min(20, max(5, len(values) // 2)), color=BAND,
                    edgecolor=COUNTERFACTUAL)
        real_pct = (math.exp(real_log_rr) - 1) * 100
        ax.axvline(real_pct, color=ACCENT, lw=2, label="real start")
        # The real start's line stays clear of the axis edge, however far out it lies.
        left, right = ax.get_xlim()
        pad = 0.05 * (max(right, real_pct) - min(left, real_pct))
        ax.set_xlim(min(left, real_pct - pad), max(right, real_pct + pad))
        ax.set_ylim(0, ax.get_ylim()[1] * 1.3)  # headroom: the legend covers no bar
        ax.set_xlabel("estimated change at a false start date (%)")
        ax.set_ylabel("false starts")
        # Counts of false starts are whole numbers: no 2.5 on the axis.
        ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.legend(loc="upper right")
        ax.set_title(title or "False-start (placebo-in-time) check")
    return fit_texts(fig)


def plot_synth(estimate, *, is_headline: bool = False) -> Figure:
    """Observed against synthetic with the start marked, and the gap with every placebo's.

    Top: the programme area's counts and its synthetic control. Bottom: observed minus
    synthetic, each placebo's gap drawn faintly behind, so a reader sees whether the real gap
    after the start stands out from what the placebos show by chance.
    """
    observed, synthetic = estimate.observed, estimate.fitted
    freq = frequency_of(estimate.start)
    with matplotlib.rc_context(STYLE):
        fig = new_figure(3.4)
        ax, ax_gap = fig.subplots(2, 1, sharex=True, height_ratios=(3, 2))
        x = _timestamps(observed.index)
        ax.plot(x, observed.to_numpy(dtype=float), color=INK, lw=0.9, marker="o", ms=2.2,
                label="observed")
        ax.plot(x, synthetic.to_numpy(dtype=float), color=COUNTERFACTUAL, lw=1.6, ls="--",
                label="synthetic control")
        gaps = estimate.placebo_gaps
        if gaps is not None and not gaps.empty:
            _draw_placebo_gaps(ax_gap, gaps)
        ax_gap.plot(x, (observed - synthetic).to_numpy(dtype=float), color=ACCENT, lw=1.8,
                    label="programme area")
        ax_gap.axhline(0, color=INK, lw=0.6)
        start_x = estimate.start.to_timestamp(how="start")
        for axis in (ax, ax_gap):
            axis.axvline(start_x, color=ACCENT, lw=1.2)
        ax.annotate(f"start {estimate.to_dict()['start']}", xy=(start_x, 0.0),
                    xycoords=("data", "axes fraction"), xytext=(3, 3),
                    textcoords="offset points", va="bottom", fontsize=8, color=ACCENT)
        ax.set_title(design_title(estimate, is_headline))
        ax.set_ylabel(f"{estimate.outcome} {_unit(freq)}")
        ax.set_ylim(bottom=0)
        ax.legend(loc="upper left", fontsize=7.5)
        ax_gap.set_ylabel("observed - synthetic")
        ax_gap.legend(loc="lower left", fontsize=7.5,
                      title=f"grey: {0 if gaps is None else gaps.shape[1]} placebos",
                      title_fontsize=7.5)
        _label_years(ax_gap.xaxis, x)
        ax_gap.set_xlabel("period")
    return fit_texts(fig)


def _draw_placebo_gaps(ax, gaps: pd.DataFrame) -> None:
    """Each placebo's gap (a column) as a faint line, all in one collection: the picture of a
    ``Line2D`` apiece (same joins, caps, alpha), without building and drawing some 74 lines."""
    x = np.asarray(ax.xaxis.convert_units(_timestamps(gaps.index)), dtype=float)
    ax.add_collection(LineCollection(
        [np.column_stack([x, column]) for column in gaps.to_numpy(dtype=float).T], colors=BAND,
        linewidths=0.6, alpha=0.7, capstyle="projecting", joinstyle="round"), autolim=True)


def plot_counts(series: pd.DataFrame, *, title: str, start: pd.Period | None = None) -> Figure:
    """A plain count series (``count`` column on a PeriodIndex), for exploring."""
    freq = frequency_of(series.index[0])
    with matplotlib.rc_context(STYLE):
        fig = new_figure(3.0)
        ax = fig.subplots()
        ax.plot(_timestamps(series.index), series["count"].to_numpy(float), color=INK, lw=0.9,
                marker="o", ms=2)
        if start is not None:
            ax.axvline(start.to_timestamp(how="start"), color=ACCENT, lw=1.2)
        ax.set_ylabel(f"count {_unit(freq)}")
        ax.set_ylim(bottom=0)
        ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.set_title(title)
    return fit_texts(fig)
