"""Benchmark: the charts of New York's report, drawn as the report draws them.

Builds New York's report content once from the default workbook (``data/``), runs the report's
chart sections (outcomes and the staggered rollout) once to record every chart call with its
inputs, then times drawing each chart again and encoding its PNG (``figure_to_png``), which is
what a report pays per chart. Prints CPU seconds (this process: the charts are drawn in it) for
the whole chart set, the mean per chart and per chart kind, the least of ``--repeats`` runs.
``--profile N`` prints the N largest cumulative entries of a cProfile run of one pass.

    .venv/bin/python benchmarks/charts.py [--repeats 3] [--profile 25]
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import pstats
import sys
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CITY = "New York"


def record_chart_calls(data_dir: Path, city: str) -> list[tuple[str, object, tuple, dict]]:
    """Every chart call the report's sections make, with its arguments, in report order."""
    from impactbook.report import build_city_report, plots, rollout_chart, rollout_section, sections

    calls: list[tuple[str, object, tuple, dict]] = []
    patched = [(plots, name) for name in ("plot_outcome_series", "plot_placebo", "plot_synth",
                                          "plot_forest", "plot_tag_counts")]
    patched.append((rollout_chart, "plot_event_study"))
    originals = {(module, name): getattr(module, name) for module, name in patched}

    def recording(name, func):
        def call(*args, **kwargs):
            calls.append((name, func, args, kwargs))
            return func(*args, **kwargs)
        return call

    report = build_city_report(data_dir, city)
    try:
        for (module, name), func in originals.items():
            setattr(module, name, recording(name, func))
        # The sections print their HTML outside a notebook: not wanted here.
        with contextlib.redirect_stdout(io.StringIO()):
            sections.show_outcome_charts(report)
            rollout_section.show_rollouts(data_dir, city)
    finally:
        for (module, name), func in originals.items():
            setattr(module, name, func)
    return calls


def draw_all(calls) -> dict[str, list[float]]:
    """CPU seconds of each chart, built and encoded as PNG, by chart kind."""
    from impactbook.report.plots import figure_to_png

    seconds: dict[str, list[float]] = defaultdict(list)
    for name, func, args, kwargs in calls:
        began = time.process_time()
        figure_to_png(func(*args, **kwargs))
        seconds[name].append(time.process_time() - began)
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO / "data")
    parser.add_argument("--city", default=CITY)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--profile", type=int, default=0, metavar="N")
    options = parser.parse_args(argv)

    calls = record_chart_calls(options.data, options.city)
    draw_all(calls[:3])  # warm-up: fonts and text caches, as a report's first chart pays once
    runs = [draw_all(calls) for _ in range(max(1, options.repeats))]
    best = min(runs, key=lambda run: sum(map(sum, run.values())))
    total = sum(map(sum, best.values()))
    print(f"{options.city}: {len(calls)} charts, {total:.2f} s CPU in all, "
          f"{1000 * total / len(calls):.0f} ms a chart (least of {len(runs)} runs)")
    for name, seconds in sorted(best.items()):
        print(f"  {name:22s} {len(seconds):3d} charts  {1000 * sum(seconds) / len(seconds):5.0f} "
              "ms each")
    if options.profile:
        profiler = cProfile.Profile()
        profiler.runcall(draw_all, calls)
        pstats.Stats(profiler, stream=sys.stdout).sort_stats("cumulative").print_stats(
            options.profile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
