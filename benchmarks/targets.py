"""The speed targets of the report's content (issue 25) and the rollout command, as one table.

``make bench`` measures everything in one run (``benchmarks/run.py``); this module only reads
its results and prints each target beside what was measured, and whether it was met. A row
whose measurement was skipped (``--skip-...``) or failed says so instead of a number.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    what: str
    target: str
    measure: Callable[[dict], tuple[str, bool | None]]  # (measured, met or None: no target)


def _get(results: dict, *keys):
    for key in keys:
        if not isinstance(results, dict) or key not in results:
            return None
        results = results[key]
    return results


def _ny_worker(r: dict):
    phases = _get(r, "scenarios", "towns", "batch", "worker_phase_means_s")
    if not phases:
        return "not measured", None
    total = phases["total_s"]
    return (f"{total:.2f} s (execute {phases['execute_s']:.2f}, HTML {phases['html_s']:.2f}, "
            f"PDF {phases['pdf_s']:.2f})", total <= 3.0)


def _charts(r: dict):
    charts = r.get("charts")
    if not charts:
        return "not measured", None
    return (f"{charts['cpu_s']:.2f} s CPU for {charts['charts']} charts "
            f"({1000 * charts['cpu_s'] / charts['charts']:.0f} ms each)", charts["cpu_s"] <= 1.2)


def _seattle(r: dict):
    phases = _get(r, "seattle", "worker")
    if not phases:
        return "not measured", None
    total = phases["total_s"]
    return f"{total:.2f} s (execute {phases['execute_s']:.2f})", total <= 8.0


def _summaries(r: dict):
    summaries = _get(r, "summaries")
    if not summaries:
        return "not measured", None
    worst_build = max(s["build_cpu_s"] for s in summaries.values())
    worst_worker = max(s["worker_total_s"] for s in summaries.values())
    return (f"computation {worst_build:.2f} s CPU at most (worker total, with HTML and PDF, "
            f"{worst_worker:.2f} s at most)", worst_build <= 0.4)


def _ratios(r: dict):
    towns = _get(r, "scenarios", "towns")
    if not towns or "batch_vs_chain" not in towns:
        return "not measured", None
    chain, script = towns["batch_vs_chain"], towns["batch_vs_script"]
    return f"{chain}x / {script}x", chain >= 6 and script >= 2.5


def _pysyncon(r: dict):
    peer = r.get("pysyncon")
    if not peer or not peer.get("ratio"):
        return (peer or {}).get("error", "not measured"), None
    return (f"{peer['impactbook_cpu_s']:.2f} s against {peer['pysyncon_cpu_s']:.1f} s CPU: "
            f"{peer['ratio']:.0f}x; the synthetic series differ by at most "
            f"{peer['max_abs_diff_synthetic']:.2f} events a month (pysyncon's optimiser stops "
            "short and scales predictors)", None)


def _mlsynth(r: dict):
    peer = r.get("mlsynth")
    if not peer or (peer.get("ratio") is None and peer.get("ratio_extrapolated") is None):
        return (peer or {}).get("mlsynth_note", (peer or {}).get("error", "not measured")), None
    if peer.get("ratio") is not None:
        return (f"{peer['ratio']:.1f}x ({peer['impactbook_cpu_s']:.1f} s against "
                f"{peer['mlsynth_cpu_s']:.1f} s CPU, 250 placebos each)", peer["ratio"] >= 3)
    return (f"{peer['ratio_extrapolated']:.0f}x, EXTRAPOLATED ({peer['impactbook_cpu_s']:.1f} s "
            f"against {peer['mlsynth_cpu_s_250_extrapolated']:.0f} s CPU: mlsynth ran "
            f"{peer['mlsynth_placebos']} placebos, its 250 estimated from their cost)",
            peer["ratio_extrapolated"] >= 3)


def _rerun_memory(r: dict):
    batch = _get(r, "scenarios", "towns", "batch")
    if not batch:
        return "not measured", None
    return (f"{batch['rerun_s']} s; {batch['peak_mb']:.0f} MB",
            batch["rerun_s"] < 1.0 and batch["peak_mb"] < 1536)


def _rollout(r: dict):
    rollout = r.get("rollout")
    if not rollout:
        return "not measured", None
    return (f"least {rollout['min_s']} s, median {rollout['median_s']} s",
            rollout["median_s"] < 5.0)


TARGETS = (
    Target("New York's report, worker time (eight-copy scenario)", "at most 3.0 s", _ny_worker),
    Target("its 22 charts", "at most 1.2 s", _charts),
    Target("Seattle's report, worker time alone", "at most 8 s", _seattle),
    Target("an intervention summary after its city reports ran", "at most 0.4 s", _summaries),
    Target("eight New York copies: batch vs plain chain / vs scripted loop (wall)",
           "at least 6x / 2.5x", _ratios),
    Target("classic synthetic control with its placebos vs pysyncon Synth fitted as often",
           "keep it (report it)", _pysyncon),
    Target("Seattle micro-synthetic control vs mlsynth's MicroSynth", "at least 3x faster",
           _mlsynth),
    Target("unchanged rerun; peak memory (eight copies)", "under 1 s; under 1.5 GB",
           _rerun_memory),
    Target("`impactbook estimate --method rollout --json`, New York (issue 21)", "under 5 s",
           _rollout),
)


def target_rows(results: dict) -> list[dict]:
    rows = []
    for target in TARGETS:
        measured, met = target.measure(results)
        rows.append({"what": target.what, "target": target.target, "measured": measured,
                     "met": met})
    return rows


def print_targets(results: dict) -> list[dict]:
    rows = target_rows(results)
    print("\nTargets (issue 25; the rollout command: issue 21)")
    for row in rows:
        verdict = {True: "met", False: "NOT MET", None: "-"}[row["met"]]
        print(f"  {row['what']}\n      target {row['target']}; measured {row['measured']}"
              f"  [{verdict}]")
    return rows
