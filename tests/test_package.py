"""A real package: the built wheel carries the report notebooks and templates, and renders
from a fresh environment with only a workbook folder at hand, outside the repository."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ("city_report.ipynb", "intervention_summary.ipynb")


def _run(args: list[str], cwd: Path, **kwargs) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "IMPACTBOOK_NOTEBOOKS", "JUPYTER_PATH")}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, **kwargs)


def _build_wheel(tmp: Path) -> Path:
    """``pip wheel`` of a copy of the checkout (the build leaves nothing in the repository)."""
    source = _mkdir(tmp / "source")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", ".ipynb_checkpoints")
    shutil.copytree(ROOT / "src", source / "src", symlinks=True, ignore=ignore)
    shutil.copytree(ROOT / "notebooks", source / "notebooks", symlinks=True, ignore=ignore)
    dist = tmp / "dist"
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist),
                  str(source)], cwd=tmp)
    assert built.returncode == 0, built.stderr
    (wheel,) = dist.glob("impactbook-*.whl")
    return wheel


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True)
    return path


def _fresh_environment(tmp: Path, wheel: Path) -> Path:
    """A new virtual environment with the wheel installed. Its dependencies are this test
    environment's (named by a .pth file, so nothing is downloaded again; the .pth files in that
    folder, among them the editable install's link to the checkout, are not read), and
    nbconvert's templates are the ones installed with them."""
    env = tmp / "env"
    made = _run([sys.executable, "-m", "venv", "--without-pip", str(env)], cwd=tmp)
    assert made.returncode == 0, made.stderr
    python = env / "bin" / "python"
    site = Path(_run([str(python), "-c", "import sysconfig; "
                      "print(sysconfig.get_paths()['purelib'])"], cwd=tmp).stdout.strip())
    (site / "zz_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    templates = Path(sys.prefix) / "share" / "jupyter" / "nbconvert"
    _mkdir(env / "share" / "jupyter")
    (env / "share" / "jupyter" / "nbconvert").symlink_to(templates, target_is_directory=True)
    installed = _run([sys.executable, "-m", "pip", "--python", str(python), "install",
                      "--no-deps", "-q", str(wheel)], cwd=tmp)
    assert installed.returncode == 0, installed.stderr
    return env


API_SCRIPT = textwrap.dedent("""
    import json, sys
    import pandas as pd
    from matplotlib.figure import Figure
    import impactbook
    from impactbook.errors import EstimationError

    wb = impactbook.open_workbook("workbook")
    out = {"file": impactbook.__file__, "path": sys.path, "repr": repr(wb),
           "html": wb._repr_html_()}
    for method in ("its", "prepost", "comparison", "synth"):
        r = wb.estimate(city="New York", area="Precinct 77", outcome="shootings",
                        method=method)
        frame = r.to_frame()
        row = {"columns": list(frame.columns), "rate_ratio": frame.loc[0, "rate_ratio"],
               "exact": r.rate_ratio, "is_figure": isinstance(r.plot(), Figure),
               "summary": str(r.summary()), "html": r._repr_html_()}
        try:
            ci95, ci90 = r.conf_int(0.05), r.conf_int(0.10)
            row["width95"] = float(ci95["upper"].iloc[0] - ci95["lower"].iloc[0])
            row["width90"] = float(ci90["upper"].iloc[0] - ci90["lower"].iloc[0])
        except EstimationError as exc:
            row["no_interval"] = str(exc)
        out[method] = row
    table = wb.estimates(city="Chicago")
    out["estimates"] = {"is_frame": isinstance(table, pd.DataFrame), "rows": len(table)}
    print(json.dumps(out))
""")


@pytest.mark.slow
def test_the_built_wheel_renders_from_a_fresh_environment_outside_the_repository(tmp_path):
    wheel = _build_wheel(tmp_path)
    env = _fresh_environment(tmp_path, wheel)
    python, command = env / "bin" / "python", env / "bin" / "impactbook"
    work = _mkdir(tmp_path / "elsewhere")
    workbook = _mkdir(work / "workbook")
    for table in (ROOT / "data").glob("*.csv"):
        shutil.copy2(table, workbook / table.name)

    # The package carries the notebooks themselves, not links into a checkout.
    site = Path(_run([str(python), "-c", "import impactbook, pathlib; "
                      "print(pathlib.Path(impactbook.__file__).parent)"], cwd=work)
                .stdout.strip())
    assert site.is_relative_to(env)
    for name in NOTEBOOKS:
        notebook = site / "notebooks" / name
        assert notebook.is_file() and not notebook.is_symlink()
        assert json.loads(notebook.read_text())["cells"]
    assert (site / "templates" / "impactbook" / "conf.json").is_file()

    script = _run([str(python), "-c", API_SCRIPT], cwd=work)
    assert script.returncode == 0, script.stderr
    api = json.loads(script.stdout)
    assert Path(api["file"]).is_relative_to(env)
    assert str(ROOT / "src") not in api["path"] and str(ROOT) not in api["path"]
    assert api["repr"].startswith("Workbook 'workbook': 5 cities") and "<table" in api["html"]
    for method in ("its", "prepost", "comparison", "synth"):
        row = api[method]
        assert row["width90"] < row["width95"]
        assert row["rate_ratio"] == row["exact"]
        assert {"rate_ratio", "ci_low", "ci_high", "p_value"} <= set(row["columns"])
        assert row["is_figure"] and "<table" in row["html"] and "95% lower" in row["summary"]
    assert "permutation test does not reject" in api["synth"]["summary"]
    assert api["estimates"]["is_frame"] and api["estimates"]["rows"] >= 3

    version = _run([str(python), "-m", "impactbook", "--version"], cwd=work)
    assert version.returncode == 0 and version.stdout.startswith("impactbook ")
    kernel = _run([str(python), "-c", "from jupyter_client.kernelspec import "
                   "KernelSpecManager as K; print(K().get_kernel_spec('python3').argv[0])"],
                  cwd=work)
    assert Path(kernel.stdout.strip()).is_relative_to(env)  # reports run in this environment

    rendered = _run([str(command), "render", "--data", "workbook", "--city", "Chicago",
                     "--out", "run"], cwd=work, timeout=900)
    assert rendered.returncode == 0, rendered.stderr
    report = work / "run" / "chicago"
    assert (report / "chicago.html").stat().st_size > 10_000
    assert (report / "chicago.pdf").read_bytes().startswith(b"%PDF")
    assert "Chicago" in (report / "chicago.html").read_text(encoding="utf-8")

    # The batch too (its workers are `python -m impactbook.render.batch` of this environment),
    # on a workbook whose only programme is Baltimore's: its report and its type's summary.
    small = _mkdir(work / "baltimore")
    for table in workbook.glob("*.csv"):
        # Tables of the other programmes (New York's rollout and its costs) stay behind.
        if table.name not in ("unit_outcomes.csv", "areas.csv", "rollouts.csv", "costs.csv"):
            shutil.copy2(table, small / table.name)
    lines = (small / "interventions.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    (small / "interventions.csv").write_text(
        lines[0] + "".join(line for line in lines[1:] if ",Baltimore," in line),
        encoding="utf-8")
    batch = _run([str(python), "-m", "impactbook", "batch", "--data", "baltimore", "--out",
                  "batch", "--workers", "1"], cwd=work, timeout=900)
    assert batch.returncode == 0, batch.stderr
    manifest = json.loads((work / "batch" / "manifest.json").read_text(encoding="utf-8"))
    reports = manifest["reports"]
    assert len(reports) == 2 and {r["status"] for r in reports} == {"ok"}
    assert all((work / "batch" / r["files"]["pdf"]).is_file() for r in reports)
