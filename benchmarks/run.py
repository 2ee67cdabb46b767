"""Benchmarks (``make bench``): real reports rendered three ways, report cost against workbook
size, and ingest.

1. Scenarios, each rendered (in HTML + PDF) by three routes in the same run:
   (a) ``impactbook batch`` (plan + run in a fresh process, then an unchanged rerun);
   (b) a scripted papermill loop, what a user would write instead of impactbook: the papermill
       Python API (a new kernel per report), one reused nbconvert ``HTMLExporter`` and
       WeasyPrint in-process, the reports split over two processes;
   (c) the plain command-line chain, one report after another: ``papermill``, then
       ``jupyter nbconvert --to html --no-input``, then ``weasyprint``.
   The scenarios are the real default workbook (``data/``, every report) and a scaled copy of
   its heaviest city: eight copies of New York's data and programmes as "Town 01" to "Town 08"
   (eight city reports). Printed per route: wall time, CPU time (the process tree's user +
   system seconds, steadier than wall time on a shared machine), per-report worker phases
   (execute, HTML, PDF), the ratio to the batch and peak memory.
2. Size: New York's report alone, by ``impactbook batch``, from the default workbook and from
   one of 300 cities (the default workbook plus real RTCI agencies, ``data/raw/rtci_*``):
   worker time and in-process CPU time of its computation.
3. Ingest: a generated 10-million-row Chicago-homicides-like incident CSV is ingested with
   ``impactbook.ingest.sources.ingest_file("chicago-homicides", ...)``: rows/s, peak memory.

Workbooks other than ``data/`` are built in a temporary folder and deleted afterwards.
Results go to stdout and ``benchmarks/out/results.json`` (git-ignored).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from targets import print_targets  # noqa: E402 - the benchmarks folder is not a package

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
OUT = REPO / "benchmarks" / "out"
TABLES = ("outcomes.csv", "interventions.csv", "news.csv", "tags.csv", "funders.csv")
# Seattle's blocks: the micro-synthetic control of its report reads them.
EXTRA_TABLES = ("areas.csv", "unit_outcomes.csv", "costs.csv", "rollouts.csv")


class PeakMemory:
    """Samples the summed RSS of process trees (the roots and all their descendants)."""

    def __init__(self, *root_pids: int, interval_s: float = 0.1):
        self.roots = [psutil.Process(pid) for pid in root_pids]
        self.interval_s = interval_s
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            total = 0
            for root in self.roots:
                try:
                    procs = [root, *root.children(recursive=True)]
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


def _children_cpu_s() -> float:
    """User + system seconds of every finished descendant (kernels and workers included)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class Measured:
    """Wall time, CPU time and peak memory of the commands run inside the block."""

    def __init__(self):
        self.peak_bytes = 0

    def __enter__(self) -> Measured:
        self._wall, self._cpu = time.perf_counter(), _children_cpu_s()
        return self

    def __exit__(self, *exc) -> None:
        self.wall_s = time.perf_counter() - self._wall
        self.cpu_s = _children_cpu_s() - self._cpu

    def run(self, *cmds: list[str], **kw) -> list[str]:
        """Run ``cmds`` side by side; return their stdouts; raise if one fails."""
        procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, **kw) for cmd in cmds]
        with PeakMemory(*(p.pid for p in procs)) as mem:
            outs = [p.communicate()[0] for p in procs]
        self.peak_bytes = max(self.peak_bytes, mem.peak_bytes)
        for cmd, proc in zip(cmds, procs, strict=True):
            if proc.returncode != 0:
                raise RuntimeError(f"command failed ({proc.returncode}): {' '.join(cmd)[:300]}")
        return outs

    def summary(self, n_reports: int) -> dict:
        return {"wall_s": round(self.wall_s, 2), "per_report_s": round(self.wall_s / n_reports, 2),
                "cpu_s": round(self.cpu_s, 2), "peak_mb": round(self.peak_bytes / 2**20, 1)}


# --------------------------------------------------------------------------- workbooks


def copy_default_workbook(dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for name in TABLES + EXTRA_TABLES:
        if (REPO / "data" / name).exists():
            shutil.copy2(REPO / "data" / name, dest / name)
    return dest


def build_towns_workbook(dest: Path, copies: int = 8, city: str = "New York") -> list[str]:
    """BENCHMARK ONLY: ``copies`` cities "Town 01".. with ``city``'s data and programmes."""
    data = REPO / "data"
    outcomes = pd.read_csv(data / "outcomes.csv", dtype=str, keep_default_na=False)
    programmes = pd.read_csv(data / "interventions.csv", dtype=str, keep_default_na=False)
    rows, plans = outcomes[outcomes["city"] == city], programmes[programmes["city"] == city]
    towns = [f"Town {i + 1:02d}" for i in range(copies)]
    dest.mkdir(parents=True, exist_ok=True)
    pd.concat([rows.assign(city=t) for t in towns]).to_csv(dest / "outcomes.csv", index=False)
    pd.concat([plans.assign(city=t, id=plans["id"] + f"-town-{i + 1:02d}")
               for i, t in enumerate(towns)]).to_csv(dest / "interventions.csv", index=False)
    # The city's staggered rollout and its costs, once per town under that town's programme id.
    for table, key in (("rollouts.csv", "programme"), ("costs.csv", "programme")):
        frame = pd.read_csv(data / table, dtype=str, keep_default_na=False)
        mine = frame[frame[key].isin(plans["id"])]
        pd.concat([mine.assign(**{key: mine[key] + f"-town-{i + 1:02d}"})
                   for i in range(copies)]).to_csv(dest / table, index=False)
    tags = pd.read_csv(data / "tags.csv", dtype=str, keep_default_na=False)
    tags = pd.concat([tags[tags["kind"] != "city"],
                      pd.DataFrame({"tag": towns, "kind": "city"})])
    tags.to_csv(dest / "tags.csv", index=False)
    shutil.copy2(data / "news.csv", dest / "news.csv")
    pd.DataFrame(columns=["funder", "email", "cities", "interventions"]).to_csv(
        dest / "funders.csv", index=False)
    return towns


def build_national_workbook(dest: Path, n_cities: int = 300) -> int:
    """The default workbook plus real RTCI agencies (murders, aggravated assaults, monthly)
    up to ``n_cities`` cities; the added cities have no programme. Returns the row count."""
    from impactbook.ingest.sources import (
        ingest_file,
        merge_outcomes,
        read_outcomes,
        write_outcomes,
    )

    copy_default_workbook(dest)
    existing = read_outcomes(dest)
    raw = sorted((REPO / "data" / "raw").glob("rtci_*.csv.gz"))[0]
    rtci = ingest_file("rtci", raw).outcomes
    known = set(existing["city"])
    extra = [c for c in dict.fromkeys(rtci["city"]) if c not in known]
    extra = extra[:max(0, n_cities - len(known))]
    merged = merge_outcomes(existing, rtci[rtci["city"].isin(extra)])
    write_outcomes(dest, merged)
    return len(merged)


# --------------------------------------------------------------------------- routes


def _batch_command(data: Path, run: Path, workers: int, cities, interventions) -> list[str]:
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from impactbook.render.batch import run_batch\n"
        "from impactbook.render.plan import plan_batch\n"
        "if __name__ == '__main__':\n"
        f"    jobs = plan_batch(Path({str(data)!r}), Path({str(run)!r}), cities={cities!r},\n"
        f"                      interventions={interventions!r})\n"
        f"    r = run_batch(jobs, Path({str(run)!r}), workers={workers}, progress=False)\n"
        "    sys.exit(r.exit_code)\n")
    return [sys.executable, "-c", script]


def _phase_means(timings: list[dict]) -> dict:
    return {k: round(sum(t.get(k, 0.0) for t in timings) / max(1, len(timings)), 3)
            for k in ("execute_s", "html_s", "pdf_s", "total_s")}


def bench_batch(data: Path, run: Path, workers: int, cities=None, interventions=None) -> dict:
    cmd = _batch_command(data, run, workers, cities, interventions)
    with Measured() as first:
        first.run(cmd)
    manifest = json.loads((run / "manifest.json").read_text())
    reports = manifest["reports"]
    failed = [r["name"] for r in reports if r["status"] != "ok"]
    timings = {r["name"]: r["timings"] for r in reports if r["status"] == "ok"}
    kinds = {r["name"]: r["kind"] for r in reports}
    with Measured() as second:
        second.run(cmd)
    return {**first.summary(len(reports)), "reports": len(reports), "failed": failed,
            "worker_phase_means_s": _phase_means(list(timings.values())),
            "worker_phases_s": timings, "kinds": kinds, "rerun_s": round(second.wall_s, 2),
            "rerun_peak_mb": round(second.peak_bytes / 2**20, 1)}


SCRIPTED_LOOP = '''
"""What a user would write instead of impactbook: papermill API, one HTML exporter, WeasyPrint."""
import json, sys, time
from pathlib import Path

import papermill as pm
from nbconvert import HTMLExporter
from weasyprint import HTML

jobs, out_dir = json.loads(Path(sys.argv[1]).read_text()), Path(sys.argv[2])
exporter = HTMLExporter(exclude_input=True)
phases = {}
for job in jobs:
    out = out_dir / job["slug"]
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    nb = pm.execute_notebook(job["notebook"], str(out / (job["slug"] + ".ipynb")),
                             parameters=job["parameters"], progress_bar=False,
                             cwd=str(Path(job["notebook"]).parent))
    t1 = time.perf_counter()
    body, _ = exporter.from_notebook_node(nb)
    (out / (job["slug"] + ".html")).write_text(body, encoding="utf-8")
    t2 = time.perf_counter()
    HTML(string=body, base_url=str(out)).write_pdf(str(out / (job["slug"] + ".pdf")))
    t3 = time.perf_counter()
    phases[job["name"]] = {"execute_s": t1 - t0, "html_s": t2 - t1, "pdf_s": t3 - t2,
                           "total_s": t3 - t0}
print(json.dumps(phases))
'''


def bench_script(jobs, work: Path, processes: int = 2) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    script = work / "scripted_loop.py"
    script.write_text(SCRIPTED_LOOP, encoding="utf-8")
    cmds = []
    for k in range(processes):
        mine = [{"slug": j.slug, "name": j.name, "notebook": j.notebook,
                 "parameters": j.parameters} for j in jobs[k::processes]]
        if mine:
            (work / f"jobs-{k}.json").write_text(json.dumps(mine), encoding="utf-8")
            cmds.append([sys.executable, str(script), str(work / f"jobs-{k}.json"), str(work)])
    with Measured() as measured:
        outs = measured.run(*cmds, stderr=subprocess.DEVNULL)
    phases = {}
    for out in outs:
        phases.update(json.loads(out.strip().splitlines()[-1]))
    return {**measured.summary(len(jobs)), "processes": len(cmds),
            "worker_phase_means_s": _phase_means(list(phases.values()))}


def bench_chain(jobs, work: Path) -> dict:
    """The plain route: three command-line tools per report, one report after another."""
    quiet = {"stderr": subprocess.DEVNULL}
    with Measured() as measured:
        for job in jobs:
            out = work / job.slug
            out.mkdir(parents=True, exist_ok=True)
            ipynb, html, pdf = (out / f"{job.slug}.{ext}" for ext in ("ipynb", "html", "pdf"))
            cmd = [str(BIN / "papermill"), job.notebook, str(ipynb), "--no-progress-bar",
                   "--cwd", str(Path(job.notebook).parent)]
            for name, value in job.parameters.items():
                cmd += ["-p", name, str(value)]
            measured.run(cmd, **quiet)
            measured.run([str(BIN / "jupyter"), "nbconvert", "--to", "html", "--no-input",
                          str(ipynb)], **quiet)
            measured.run([str(BIN / "weasyprint"), str(html), str(pdf)], **quiet)
    return measured.summary(len(jobs))


def _line(route: str, r: dict, batch_wall_s: float | None = None) -> str:
    ratio = f", {r['wall_s'] / batch_wall_s:.1f}x the batch's wall time" if batch_wall_s else ""
    return (f"  {route:<8} {r['wall_s']:7.1f} s wall ({r['per_report_s']} s/report), "
            f"{r['cpu_s']:.1f} s CPU, peak {r['peak_mb']} MB{ratio}")


def run_scenario(name: str, data: Path, tmp: Path, workers: int, peers: bool,
                 cities=None, interventions=None) -> dict:
    from impactbook.render.plan import plan_batch

    jobs = plan_batch(data, tmp / f"{name}-plan", cities=cities, interventions=interventions)
    print(f"\n[{name}] {len(jobs)} reports in HTML + PDF, {workers} workers", flush=True)
    batch = bench_batch(data, tmp / f"{name}-batch", workers, cities, interventions)
    print(_line("batch", batch) + f"; unchanged rerun {batch['rerun_s']} s; failed: "
          f"{batch['failed'] or 'none'}")
    print(f"           inside a worker, mean per report: {batch['worker_phase_means_s']}")
    result = {"reports": len(jobs), "batch": batch}
    if peers:
        script = bench_script(jobs, tmp / f"{name}-script")
        print(_line("script", script, batch["wall_s"]))
        print(f"           inside a script process, mean per report: "
              f"{script['worker_phase_means_s']}")
        chain = bench_chain(jobs, tmp / f"{name}-chain")
        print(_line("chain", chain, batch["wall_s"]), flush=True)
        result.update(script=script, chain=chain,
                      batch_vs_chain=round(chain["wall_s"] / batch["wall_s"], 1),
                      batch_vs_script=round(script["wall_s"] / batch["wall_s"], 1))
        print(f"  RATIO batch vs chain {result['batch_vs_chain']}x (target >= 10x), vs script "
              f"{result['batch_vs_script']}x (target >= 3x)")
    return result


# Scenarios: (name, builder of the workbook folder, cities, interventions). A synthetic-control
# scenario (issue 12) goes here once a programme uses that design, so it gets its own line.
SCENARIOS: list[tuple[str, Callable[[Path], object], list[str] | None, list[str] | None]] = [
    ("default", copy_default_workbook, None, None),
    ("towns", build_towns_workbook, None, []),
]


# --------------------------------------------------------------------------- size


# One report's content built in a fresh process (argv: builder, data folder, name): the first
# build pays the imports and first reads, then the least CPU time of three builds.
_LEAST_CPU = '''
import json, sys, time
from impactbook import report
build, data, name = getattr(report, sys.argv[1]), sys.argv[2], sys.argv[3]
build(data, name)
cpu = []
for _ in range(3):
    t = time.process_time()
    build(data, name)
    cpu.append(time.process_time() - t)
print(json.dumps({"min_cpu_s": min(cpu)}))
'''


def _least_cpu_s(builder: str, data: Path, name: str, env: dict[str, str]) -> float:
    out = subprocess.run([sys.executable, "-c", _LEAST_CPU, builder, str(data.resolve()), name],
                         capture_output=True, text=True, check=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])["min_cpu_s"]


def _in_process_cpu_s(data: Path, city: str, prepared: Path) -> float:
    from impactbook.workbook.prepared import PREPARED_ENV

    return _least_cpu_s("build_city_report", data, city,
                        {**os.environ, PREPARED_ENV: str(prepared)})


def run_size_benchmark(tmp: Path, n_cities: int = 300, city: str = "New York") -> dict:
    """One report's cost from the default workbook and from one of ``n_cities`` cities."""
    national = tmp / "national"
    rows = build_national_workbook(national, n_cities)
    print(f"\n[size] {city}'s report alone, from the default workbook and from one of "
          f"{n_cities} cities ({rows:,} outcome rows)", flush=True)
    result = {"cities": n_cities, "rows": rows}
    for label, data in (("default", copy_default_workbook(tmp / "size-default")),
                        (f"{n_cities} cities", national)):
        run = tmp / f"size-{n_cities if data == national else 'default'}"
        batch = bench_batch(data, run, 1, [city], [])
        phases = batch["worker_phases_s"][city]
        prepared = next((run / ".state" / "prepared").iterdir())
        # The least of three runs in each of three fresh processes: one process's runs vary
        # by 2-3%, but processes differ by up to 8% among themselves (memory layout).
        cpu = min(_in_process_cpu_s(data, city, prepared) for _ in range(3))
        result[label] = {"worker": phases, "build_cpu_s": round(cpu, 3),
                         "batch_wall_s": batch["wall_s"]}
        print(f"  {label:<10} worker: execute {phases['execute_s']} s, total "
              f"{phases['total_s']} s; computation in-process {cpu:.3f} s CPU", flush=True)
    base, big = result["default"], result[f"{n_cities} cities"]
    result["worker_total_ratio"] = round(big["worker"]["total_s"] / base["worker"]["total_s"], 3)
    result["build_cpu_ratio"] = round(big["build_cpu_s"] / base["build_cpu_s"], 3)
    print(f"  RATIO {n_cities} cities / default: worker {result['worker_total_ratio']}, "
          f"computation CPU {result['build_cpu_ratio']} (target within 10%)")
    return result


def run_seattle_benchmark(tmp: Path) -> dict:
    """The Seattle report alone (micro-synthetic control of 4 outcomes, 250 placebo groups)."""
    data = copy_default_workbook(tmp / "seattle-data")
    batch = bench_batch(data, tmp / "seattle-run", 1, ["Seattle"], [])
    phases = batch["worker_phases_s"].get("Seattle", {})
    print(f"\n[seattle] Seattle report (HTML + PDF, 250 placebo groups): wall "
          f"{batch['wall_s']} s, CPU {batch.get('cpu_s')} s; worker execute "
          f"{phases.get('execute_s')} s (target under 30 s on 2 cores)", flush=True)
    return {"wall_s": batch["wall_s"], "cpu_s": batch.get("cpu_s"), "worker": phases,
            "failed": batch["failed"]}


def run_rollout_benchmark(runs: int = 3) -> dict:
    """``impactbook estimate --method rollout --json`` on New York (the command a researcher
    types): wall and CPU (user + system) time of the whole process, least and median of
    ``runs``; on a shared machine the wall time waits for other work, the CPU time does not."""
    command = [str(BIN / "impactbook"), "estimate", "--data",
               str(REPO / "data"), "--city", "New York", "--outcome", "shootings",
               "--method", "rollout", "--json"]
    times, cpu_times = [], []
    for _ in range(runs):
        started, cpu_started = time.perf_counter(), _children_cpu_s()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
        cpu_times.append(_children_cpu_s() - cpu_started)
    times.sort()
    cpu_times.sort()
    result = {"min_s": round(times[0], 2), "median_s": round(times[len(times) // 2], 2),
              "cpu_min_s": round(cpu_times[0], 2),
              "cpu_median_s": round(cpu_times[len(cpu_times) // 2], 2)}
    print(f"\n[rollout] New York rollout estimate (CLI, JSON): least {result['min_s']} s, "
          f"median {result['median_s']} s of {runs} (target under 5 s); CPU least "
          f"{result['cpu_min_s']} s, median {result['cpu_median_s']} s", flush=True)
    return result


def run_summaries_benchmark(data: Path, run: Path, batch: dict) -> dict:
    """Each intervention summary after its city reports ran: its computation in a fresh process
    reading the batch's prepared slices and the run's estimate store, as a worker does (CPU,
    least of three), beside its worker time in the batch (which may start a summary before
    every one of its cities has finished, and then computes what is missing)."""
    from impactbook.defaults import ESTIMATES_ENV
    from impactbook.render.run_folder import estimates_folder
    from impactbook.workbook.prepared import PREPARED_ENV

    prepared = next((run / ".state" / "prepared").iterdir())
    env = {**os.environ, PREPARED_ENV: str(prepared.resolve()),
           ESTIMATES_ENV: str(estimates_folder(run).resolve())}
    result = {}
    for name, kind in batch["kinds"].items():
        if kind != "intervention" or name not in batch["worker_phases_s"]:
            continue
        cpu = _least_cpu_s("build_intervention_summary", data, name, env)
        phases = batch["worker_phases_s"][name]
        result[name] = {"build_cpu_s": round(cpu, 3), "worker_total_s": phases["total_s"],
                        "worker_execute_s": phases["execute_s"]}
        print(f"  summary {name}: computation {cpu:.3f} s CPU from the run's store; in the "
              f"batch's worker {phases['total_s']} s (execute {phases['execute_s']} s)",
              flush=True)
    return result


def run_charts_benchmark() -> dict:
    """New York's report charts, drawn as the report draws them (``benchmarks/charts.py``, in a
    fresh process): CPU seconds for the whole set, the least of three runs."""
    import re

    out = subprocess.run([sys.executable, str(REPO / "benchmarks" / "charts.py"), "--repeats",
                          "3"], capture_output=True, text=True, check=True).stdout
    match = re.search(r"(\d+) charts, ([0-9.]+) s CPU in all", out)
    result = {"charts": int(match.group(1)), "cpu_s": float(match.group(2))}
    print(f"\n[charts] New York's {result['charts']} charts: {result['cpu_s']} s CPU "
          "(least of 3 runs)", flush=True)
    return result


def run_synth_peers(mlsynth_placebos: int) -> dict:
    """The synthetic controls against pysyncon and mlsynth (``benchmarks/synth_peers.py``)."""
    from synth_peers import classic_vs_pysyncon, micro_vs_mlsynth

    classic = classic_vs_pysyncon()
    print(f"\n[pysyncon] {classic['case']}: impactbook {classic['impactbook_cpu_s']:.2f} s, "
          f"pysyncon {classic['pysyncon_cpu_s']:.1f} s CPU ({classic['ratio']:.0f}x)",
          flush=True)
    micro = micro_vs_mlsynth(mlsynth_placebos=mlsynth_placebos)
    print(f"[mlsynth] impactbook {micro['impactbook_cpu_s']:.1f} s CPU; mlsynth "
          f"{micro.get('mlsynth_cpu_s')} s with {micro.get('mlsynth_placebos')} placebos"
          + (f", 250 extrapolated {micro['mlsynth_cpu_s_250_extrapolated']:.0f} s"
             if micro.get("mlsynth_cpu_s_250_extrapolated") else "")
          + f"; {micro.get('mlsynth_note', 'reproduces the published figures')}", flush=True)
    return {"pysyncon": classic, "mlsynth": micro}


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
    with tempfile.TemporaryDirectory(prefix="impactbook-ingest-") as tmp:
        path = Path(tmp) / "incidents.csv"
        t0 = time.perf_counter()
        generate_incidents(path, n_rows)
        print(f"\nIngest: generated {n_rows:,} rows ({path.stat().st_size / 2**20:.0f} MB) in "
              f"{time.perf_counter() - t0:.1f} s", flush=True)
        script = ("import json, sys, time\nfrom impactbook.ingest.sources import ingest_file\n"
                  "t = time.perf_counter()\n"
                  f"r = ingest_file('chicago-homicides', {str(path)!r})\n"
                  "print(json.dumps({'seconds': time.perf_counter() - t,"
                  " 'outcome_rows': len(r.outcomes)}))\n")
        with Measured() as measured:
            out = measured.run([sys.executable, "-c", script])[0]
        seconds = json.loads(out.strip().splitlines()[-1])["seconds"]
        rate = n_rows / seconds
        peak = round(measured.peak_bytes / 2**20, 1)
        print(f"  {seconds:.1f} s, {rate:,.0f} rows/s, peak {peak} MB (targets: < 30 s, "
              f"< 2048 MB)")
        return {"n_rows": n_rows, "seconds": round(seconds, 2), "rows_per_s": round(rate),
                "peak_mb": peak}


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
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--scenarios", default=",".join(s[0] for s in SCENARIOS),
                        help="comma-separated scenario names (default: all)")
    parser.add_argument("--ingest-rows", type=int, default=10_000_000)
    parser.add_argument("--size-cities", type=int, default=300)
    parser.add_argument("--skip-peers", action="store_true", help="batch only (quick check)")
    parser.add_argument("--skip-size", action="store_true")
    parser.add_argument("--skip-ingest", action="store_true")
    parser.add_argument("--skip-seattle", action="store_true")
    parser.add_argument("--skip-rollout", action="store_true")
    parser.add_argument("--skip-charts", action="store_true")
    parser.add_argument("--skip-synth-peers", action="store_true")
    parser.add_argument("--mlsynth-placebos", type=int, default=10,
                        help="placebo groups mlsynth draws per outcome (each a cvxpy solve of "
                             "seconds; 250 takes about 10 CPU minutes; below 250 its 250 "
                             "figure is extrapolated and marked so)")
    args = parser.parse_args(argv)
    results: dict = {"created": time.strftime("%Y-%m-%dT%H:%M:%S"), "machine": _machine()}
    print(f"Machine: {results['machine']}")
    wanted = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    with tempfile.TemporaryDirectory(prefix="impactbook-bench-") as tmp:
        tmp = Path(tmp)
        results["scenarios"] = {}
        for name, build, cities, interventions in SCENARIOS:
            if name in wanted:
                build(tmp / f"{name}-data")
                results["scenarios"][name] = run_scenario(
                    name, tmp / f"{name}-data", tmp, args.workers, not args.skip_peers,
                    cities, interventions)
        if "default" in results["scenarios"]:
            results["summaries"] = run_summaries_benchmark(
                tmp / "default-data", tmp / "default-batch",
                results["scenarios"]["default"]["batch"])
        if not args.skip_size:
            results["size"] = run_size_benchmark(tmp, args.size_cities)
        if not args.skip_seattle:
            results["seattle"] = run_seattle_benchmark(tmp)
    if not args.skip_rollout:
        results["rollout"] = run_rollout_benchmark()
    if not args.skip_charts:
        results["charts"] = run_charts_benchmark()
    if not args.skip_synth_peers:
        results.update(run_synth_peers(args.mlsynth_placebos))
    if not args.skip_ingest:
        results["ingest"] = run_ingest_benchmark(args.ingest_rows)
    results["targets"] = print_targets(results)
    results["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    print(f"\nload average after: {results['load_average_after']}")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "results.json").write_text(json.dumps(results, indent=2))
    print(f"results written to {OUT / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
