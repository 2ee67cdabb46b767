"""Benchmarks (``make bench``): batch rendering against the plain command-line chain, and ingest.

1. Reports: a BENCHMARK-ONLY workbook is built in a temporary folder from the embedded RTCI
   extract (``data/raw/rtci_*.csv.gz``): N agencies, each given a made-up programme whose start
   month is the middle month of that agency's own series. These programmes are not real and the
   workbook is deleted afterwards. The same reports are rendered
   (a) by the plain chain, one report at a time: ``papermill`` CLI, then
       ``jupyter nbconvert --to html --no-input``, then the ``weasyprint`` CLI, and
   (b) by ``impactbook batch`` (first run, then an unchanged second run),
   printing wall time, per-report time, the ratio and peak memory (psutil, children included).
2. Ingest: a generated 10-million-row Chicago-homicides-like incident CSV is ingested with
   ``impactbook.ingest.sources.ingest_file("chicago-homicides", ...)``: rows per second,
   peak memory.

Results go to stdout and ``benchmarks/out/results.json`` (git-ignored).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
OUT = REPO / "benchmarks" / "out"
BENCH_TYPES = ("Focused deterrence (benchmark)", "Street outreach (benchmark)")


class PeakMemory:
    """Samples the RSS of a process tree (the process and all its descendants)."""

    def __init__(self, root_pid: int, interval_s: float = 0.1):
        self.root = psutil.Process(root_pid)
        self.interval_s = interval_s
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            total = 0
            try:
                procs = [self.root, *self.root.children(recursive=True)]
            except psutil.Error:
                procs = []
            for proc in procs:
                try:
                    total += proc.memory_info().rss
                except psutil.Error:
                    pass
            self.peak_bytes = max(self.peak_bytes, total)
            self._stop.wait(self.interval_s)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak_mb(self) -> float:
        return round(self.peak_bytes / 2**20, 1)


def _run_tree(cmd: list[str], monitor: PeakMemory | None = None, **kw) -> float:
    """Run ``cmd``; return seconds; fold its process tree's peak memory into ``monitor``."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, **kw)
    with PeakMemory(proc.pid) as mem:
        rc = proc.wait()
    if monitor is not None:
        monitor.peak_bytes = max(monitor.peak_bytes, mem.peak_bytes)
    if rc != 0:
        raise RuntimeError(f"command failed ({rc}): {' '.join(cmd)}")
    return time.perf_counter() - started


# --------------------------------------------------------------------------- workbook


def build_benchmark_workbook(dest: Path, n_agencies: int) -> list[str]:
    """BENCHMARK ONLY: RTCI counts for ``n_agencies`` agencies with made-up programmes."""
    raw = sorted((REPO / "data" / "raw").glob("rtci_*.csv.gz"))
    if not raw:
        raise FileNotFoundError("data/raw/rtci_*.csv.gz is missing")
    frame = pd.read_csv(raw[0], usecols=["date", "agency_name", "state_abbr", "murder",
                                         "aggravated_assault"])
    # Real agencies only: the extract also carries national and size-group aggregates.
    # Size-group rows ("Cities of 1M+") have agency_name set and state_abbr "Nationwide".
    frame = frame[frame["state_abbr"].notna() & (frame["state_abbr"] != "Nationwide")
                  & ~frame["agency_name"].str.contains("Nationwide|Sample", na=True)]
    frame["city"] = frame["agency_name"].astype(str) + " " + frame["state_abbr"].astype(str)
    frame["period"] = pd.to_datetime(frame["date"]).dt.strftime("%Y-%m")
    # The busiest agencies (most aggravated assaults), so every series has counts to model.
    totals = frame.groupby("city")["aggravated_assault"].sum().sort_values(ascending=False)
    complete = frame.groupby("city")["period"].nunique()
    # RTCI carries the odd negative monthly correction, which the workbook rightly refuses.
    negative = set(frame.loc[(frame["murder"] < 0) | (frame["aggravated_assault"] < 0), "city"])
    chosen = [c for c in totals.index
              if complete[c] == complete.max() and c not in negative][:n_agencies]
    frame = frame[frame["city"].isin(chosen)]
    outcomes = pd.concat([
        frame.assign(outcome="murders", count=frame["murder"]),
        frame.assign(outcome="aggravated assaults", count=frame["aggravated_assault"]),
    ])
    outcomes = outcomes.dropna(subset=["count"]).assign(area="citywide")
    outcomes["count"] = outcomes["count"].astype(int)
    dest.mkdir(parents=True, exist_ok=True)
    outcomes[["city", "area", "outcome", "period", "count"]].sort_values(
        ["city", "outcome", "period"]).to_csv(dest / "outcomes.csv", index=False)
    rows = []
    for i, city in enumerate(chosen):
        periods = sorted(frame.loc[frame["city"] == city, "period"].unique())
        rows.append({"id": f"bench-{i + 1}", "city": city, "intervention": BENCH_TYPES[i % 2],
                     "programme": f"Benchmark programme {i + 1}", "area": "citywide",
                     "start": periods[len(periods) // 2],
                     "outcomes": "murders;aggravated assaults",
                     "notes": "BENCHMARK ONLY: not a real programme"})
    pd.DataFrame(rows).to_csv(dest / "interventions.csv", index=False)
    pd.DataFrame({"tag": [*chosen, *BENCH_TYPES],
                  "kind": ["city"] * len(chosen) + ["intervention"] * len(BENCH_TYPES)}
                 ).to_csv(dest / "tags.csv", index=False)
    pd.DataFrame(columns=["date", "title", "outlet", "tags"]).to_csv(dest / "news.csv",
                                                                     index=False)
    pd.DataFrame(columns=["funder", "email", "cities", "interventions"]).to_csv(
        dest / "funders.csv", index=False)
    return chosen


# --------------------------------------------------------------------------- reports


def bench_chain(jobs, work: Path) -> dict:
    """The plain route: three command-line tools per report, one report after another."""
    monitor = PeakMemory(os.getpid())
    per_report = []
    started = time.perf_counter()
    for job in jobs:
        t0 = time.perf_counter()
        out = work / job.slug
        out.mkdir(parents=True, exist_ok=True)
        ipynb, html, pdf = (out / f"{job.slug}.{ext}" for ext in ("ipynb", "html", "pdf"))
        cmd = [str(BIN / "papermill"), job.notebook, str(ipynb), "--no-progress-bar"]
        for name, value in job.parameters.items():
            cmd += ["-p", name, str(value)]
        _run_tree(cmd, monitor, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _run_tree([str(BIN / "jupyter"), "nbconvert", "--to", "html", "--no-input", str(ipynb)],
                  monitor, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _run_tree([str(BIN / "weasyprint"), str(html), str(pdf)], monitor,
                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        per_report.append(time.perf_counter() - t0)
        print(f"  chain {len(per_report):2d}/{len(jobs)} {job.name}: {per_report[-1]:.1f} s",
              flush=True)
    total = time.perf_counter() - started
    return {"total_s": round(total, 2), "per_report_s": round(total / len(jobs), 2),
            "peak_mb": monitor.peak_mb}


def _batch_command(data: Path, run: Path, workers: int, cities: list[str]) -> list[str]:
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from impactbook.render.batch import run_batch\n"
        "from impactbook.render.plan import plan_batch\n"
        "if __name__ == '__main__':\n"
        f"    jobs = plan_batch(Path({str(data)!r}), Path({str(run)!r}), cities={cities!r})\n"
        f"    r = run_batch(jobs, Path({str(run)!r}), workers={workers}, progress=False)\n"
        "    sys.exit(r.exit_code)\n")
    return [sys.executable, "-c", script]


def bench_batch(data: Path, run: Path, workers: int, cities: list[str], n: int) -> dict:
    cmd = _batch_command(data, run, workers, cities)
    monitor = PeakMemory(os.getpid())
    first = _run_tree(cmd, monitor)
    manifest = json.loads((run / "manifest.json").read_text())
    failed = [r["name"] for r in manifest["reports"] if r["status"] != "ok"]
    # Where a report's time goes, as each worker measured it (means over rendered reports).
    timings = [r["timings"] for r in manifest["reports"] if r["status"] == "ok"]
    phases = {k: round(sum(t.get(k, 0.0) for t in timings) / max(1, len(timings)), 3)
              for k in ("execute_s", "html_s", "pdf_s", "total_s")}
    second_monitor = PeakMemory(os.getpid())
    second = _run_tree(cmd, second_monitor)
    return {"total_s": round(first, 2), "per_report_s": round(first / n, 2),
            "peak_mb": monitor.peak_mb, "second_run_s": round(second, 2),
            "second_run_peak_mb": second_monitor.peak_mb,
            "incremental_ratio": round(first / second, 1), "failed": failed,
            "reports": len(manifest["reports"]), "worker_phase_means_s": phases}


def run_report_benchmark(n_reports: int, workers: int, skip_chain: bool) -> dict | None:
    from impactbook.render.plan import default_notebooks_dir, plan_batch

    notebooks = default_notebooks_dir()
    if not (notebooks / "city_report.ipynb").exists():
        print(f"SKIP report benchmark: no city_report.ipynb in {notebooks}")
        return None
    with tempfile.TemporaryDirectory(prefix="impactbook-bench-") as tmp:
        tmp = Path(tmp)
        n_cities = n_reports - len(BENCH_TYPES)
        try:
            cities = build_benchmark_workbook(tmp / "data", n_cities)
        except FileNotFoundError as exc:
            print(f"SKIP report benchmark: {exc}")
            return None
        jobs = plan_batch(tmp / "data", tmp / "run")
        print(f"Reports: {len(jobs)} ({len(cities)} city reports, {len(BENCH_TYPES)} "
              f"summaries) in HTML + PDF, benchmark-only workbook, {workers} workers, "
              f"{os.cpu_count()} CPUs")
        print("impactbook batch ...", flush=True)
        batch = bench_batch(tmp / "data", tmp / "run", workers, cities, len(jobs))
        print(f"  first run {batch['total_s']} s ({batch['per_report_s']} s/report), peak "
              f"{batch['peak_mb']} MB; unchanged rerun {batch['second_run_s']} s "
              f"({batch['incremental_ratio']}x faster); failed: {batch['failed'] or 'none'}")
        print(f"  inside a worker, mean per report: {batch['worker_phase_means_s']}")
        chain = None
        if not skip_chain:
            print("plain chain (papermill + jupyter nbconvert + weasyprint) ...", flush=True)
            chain = bench_chain(jobs, tmp / "chain")
            print(f"  {chain['total_s']} s ({chain['per_report_s']} s/report), peak "
                  f"{chain['peak_mb']} MB")
        result = {"n_reports": len(jobs), "workers": workers, "cpus": os.cpu_count(),
                  "batch": batch, "chain": chain}
        if chain:
            result["speedup"] = round(chain["total_s"] / batch["total_s"], 1)
            print(f"SPEEDUP batch vs chain: {result['speedup']}x (target >= 10x); "
                  f"incremental rerun {batch['incremental_ratio']}x (target >= 20x); "
                  f"batch peak {batch['peak_mb']} MB (target < 2048 MB)")
        return result


# --------------------------------------------------------------------------- ingest


def generate_incidents(path: Path, n_rows: int, chunk: int = 1_000_000) -> None:
    """A Chicago-homicides-like CSV (ID, Date, IUCR, Primary Type, District), written in chunks."""
    rng = np.random.default_rng(2024)
    start = np.datetime64("2001-01-01T00:00:00")
    span_s = int((np.datetime64("2024-12-31T23:59:59") - start) / np.timedelta64(1, "s"))
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write("ID,Date,IUCR,Primary Type,District\n")
        for first in range(0, n_rows, chunk):
            n = min(chunk, n_rows - first)
            stamps = start + rng.integers(0, span_s, n).astype("timedelta64[s]")
            dates = pd.DatetimeIndex(stamps).strftime("%m/%d/%Y %I:%M:%S %p")
            block = pd.DataFrame({
                "ID": np.arange(first + 1, first + n + 1),
                "Date": dates,
                "IUCR": np.where(rng.random(n) < 0.9, "0110", "0130"),
                "Primary Type": "HOMICIDE",
                "District": rng.integers(1, 26, n).astype(float),
            })
            block.to_csv(fh, header=False, index=False)


def run_ingest_benchmark(n_rows: int) -> dict | None:
    try:
        from impactbook.ingest.sources import ingest_file  # noqa: F401
    except ImportError as exc:
        print(f"SKIP ingest benchmark: ingest_file is not available ({exc})")
        return None
    with tempfile.TemporaryDirectory(prefix="impactbook-ingest-") as tmp:
        path = Path(tmp) / "incidents.csv"
        t0 = time.perf_counter()
        generate_incidents(path, n_rows)
        print(f"Ingest: generated {n_rows:,} rows ({path.stat().st_size / 2**20:.0f} MB) in "
              f"{time.perf_counter() - t0:.1f} s", flush=True)
        script = ("import json, sys, time\nfrom impactbook.ingest.sources import ingest_file\n"
                  "t = time.perf_counter()\n"
                  f"r = ingest_file('chicago-homicides', {str(path)!r})\n"
                  "print(json.dumps({'seconds': time.perf_counter() - t,"
                  " 'outcome_rows': len(r.outcomes)}))\n")
        proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                                text=True)
        with PeakMemory(proc.pid) as mem:
            out, _ = proc.communicate()
        if proc.returncode != 0:
            print(f"  ingest failed (exit {proc.returncode})")
            return {"n_rows": n_rows, "error": f"exit {proc.returncode}"}
        measured = json.loads(out.strip().splitlines()[-1])
        rate = n_rows / measured["seconds"]
        print(f"  {measured['seconds']:.1f} s, {rate:,.0f} rows/s, peak {mem.peak_mb} MB "
              f"(targets: < 30 s, < 2048 MB); {measured['outcome_rows']} outcome rows")
        return {"n_rows": n_rows, "seconds": round(measured["seconds"], 2),
                "rows_per_s": round(rate), "peak_mb": mem.peak_mb}


def _machine() -> dict:
    """What the numbers depend on: cores, memory, load when starting, PDF font subsetter."""
    import ctypes.util

    return {
        "cpus": os.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
        "python": sys.version.split()[0],
        # WeasyPrint subsets fonts with libharfbuzz-subset when the system has it, else with
        # fontTools, about 0.3 s slower per PDF (batch and chain alike).
        "harfbuzz_subset": bool(ctypes.util.find_library("harfbuzz-subset")),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=20)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--ingest-rows", type=int, default=10_000_000)
    parser.add_argument("--skip-chain", action="store_true", help="batch only (quick check)")
    parser.add_argument("--skip-reports", action="store_true")
    parser.add_argument("--skip-ingest", action="store_true")
    args = parser.parse_args(argv)
    results: dict = {"created": time.strftime("%Y-%m-%dT%H:%M:%S"), "machine": _machine()}
    print(f"Machine: {results['machine']}")
    if not args.skip_reports:
        results["reports"] = run_report_benchmark(args.reports, args.workers, args.skip_chain)
    if not args.skip_ingest:
        results["ingest"] = run_ingest_benchmark(args.ingest_rows)
    results["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    print(f"load average after: {results['load_average_after']}")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "results.json").write_text(json.dumps(results, indent=2))
    print(f"results written to {OUT / 'results.json'}")
    return 0


if __name__ == "__main__":
    shutil.rmtree(OUT / "tmp", ignore_errors=True)
    sys.exit(main())
