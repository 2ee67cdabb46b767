"""The event-study chart of a staggered rollout: leads and lags with 95% intervals."""

from __future__ import annotations

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.transforms import blended_transform_factory

from impactbook.effects.rollout_result import RolloutEstimate
from impactbook.effects.rollout_words import FREQ_WORDS
from impactbook.report.plots import ACCENT, COUNTERFACTUAL, INK, MODEL, STYLE, fit_texts, new_figure


def plot_event_study(est: RolloutEstimate, *, title: str | None = None) -> Figure:
    """Percent change by periods since the start, with 95% intervals; the reference period
    (never-treated controls) marked at zero; the treated units at each event time under the
    axis. Event times with too few control units are not drawn."""
    unit = FREQ_WORDS.get(est.freq, "period")
    drawn = [a for a in est.by_event_time if a.is_drawn]
    with matplotlib.rc_context(STYLE):
        fig = new_figure(3.3)
        ax = fig.subplots()
        x = np.array([a.key for a in drawn], dtype=float)
        pct = np.array([a.percent_change for a in drawn])
        low = np.array([(a.ci_low - 1) * 100 for a in drawn])
        high = np.array([(a.ci_high - 1) * 100 for a in drawn])
        is_lead = x < 0
        for mask, colour, marker, label in ((is_lead, COUNTERFACTUAL, "s", "before the start"),
                                            (~is_lead, MODEL, "o", "from the start")):
            if mask.any():
                ax.errorbar(x[mask], pct[mask], yerr=[pct[mask] - low[mask],
                                                      high[mask] - pct[mask]],
                            fmt=marker, color=colour, ms=4, lw=1, capsize=2, label=label)
        ax.axhline(0, color=INK, lw=0.8)
        ax.axvline(-0.5, color=ACCENT, lw=1, ls="--", label="start")
        reference = est.reference_event_time
        if reference is not None:
            ax.plot([reference], [0], marker="D", color=ACCENT, ms=5, ls="none",
                    label=f"reference {unit} (set to 0)")
        ax.set_xlabel(f"{unit}s since the start (treated units below)", labelpad=14)
        ax.set_ylabel("change against controls (%)")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        # The number of treated units behind each point, under the axis (every few points
        # when there are many, so the numbers stay legible).
        below = blended_transform_factory(ax.transData, ax.transAxes)
        step = max(1, int(np.ceil(len(drawn) / 24)))
        for aggregate in drawn[::step]:
            ax.text(aggregate.key, -0.09, str(aggregate.treated_units), transform=below,
                    ha="center", va="top", fontsize=7, color=COUNTERFACTUAL)
        # Headroom above the highest interval: the legend sits there, clear of the points.
        bottom, top = ax.get_ylim()
        ax.set_ylim(bottom, top + 0.3 * (top - bottom))
        ax.legend(loc="upper left", fontsize=7.5, ncols=4)
        ax.set_title(title or f"Event study: {est.outcome or 'events'} by {unit} since the "
                     "start")
    return fit_texts(fig)
