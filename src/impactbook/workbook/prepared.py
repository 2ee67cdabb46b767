"""Prepared slices of a validated workbook: what one report reads, loaded in milliseconds.

Without them every report of a batch read and validated the whole workbook again (0.6 s for
the default workbook, seconds for a national one), so a batch grew with the square of the
number of cities. A batch validates once and :func:`write_prepared` stores, in a folder
named by the workbook digest, the small tables once and each report's own outcome rows (a
city's; for an intervention summary, those of the cities running that type) as Arrow IPC
(Feather) files: typed frames, exactly as validated, that load without parsing or checking.

A report finds its slice through :data:`PREPARED_ENV`, which the batch sets for its workers
to the digest's folder: :func:`read_prepared` returns the validated :class:`Workbook` of one
slice when that folder was prepared from the same workbook folder, else None and the report
loads and validates the folder itself (``impactbook render``, JupyterLab, a remote worker).
The files are written to a temporary folder that is renamed into place when complete, so a
reader never sees half a slice; the folder is data, never code (no pickles).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from impactbook.contracts import PreparedIndex, ReportKind
from impactbook.workbook.model import Workbook

PREPARED_ENV = "IMPACTBOOK_PREPARED"
_MANIFEST = "prepared.json"
# The small tables every report reads whole (areas.csv: the units of a micro design; costs.csv
# and unit_costs.csv: value for money; rollouts.csv: the units of a staggered rollout).
_SHARED = ("interventions", "news", "tags", "funders", "areas", "costs", "unit_costs",
           "rollouts")


def prepared_folder(state_dir: Path, digest: str) -> Path:
    return Path(state_dir) / "prepared" / digest


def _slice_file(kind: str, name: str) -> str:
    return f"{kind}-{hashlib.sha256(name.encode()).hexdigest()[:16]}.arrow"


def report_cities(workbook: Workbook, kind: str, name: str) -> list[str]:
    """The cities whose outcome rows a report reads: its own, or those running the type."""
    if kind == ReportKind.CITY:
        return [name]
    table = workbook.interventions
    return sorted(set(table.loc[table["intervention"] == name, "city"]))


def write_prepared(workbook: Workbook, folder: Path, reports: Iterable[tuple[str, str]], *,
                   library: str = "") -> Path:
    """Write the slices of ``reports`` (``(kind, name)`` pairs) into ``folder``; return it.

    ``library`` names the code that validated the workbook (a new version validates again).
    The whole outcome frame is kept too, for :func:`read_validated`. A folder already
    complete for these reports is left as it is (an unchanged rerun).
    """
    folder = Path(folder)
    reports = sorted(set(reports))
    if is_prepared(folder, workbook.root, workbook.digest, reports, library=library):
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    for stale in folder.parent.glob("*.partial"):  # left by a killed batch
        shutil.rmtree(stale, ignore_errors=True)
    partial = folder.with_name(f"{folder.name}.{os.getpid()}.partial")
    partial.mkdir()
    for table in ("outcomes", *_SHARED):
        getattr(workbook, table).to_feather(partial / f"{table}.arrow")
    slices = {}
    for kind, name in reports:
        rows = [workbook.index.city_rows(city) for city in report_cities(workbook, kind, name)]
        positions = np.sort(np.concatenate(rows)) if rows else np.array([], dtype=np.intp)
        file = _slice_file(kind, name)
        workbook.outcomes.iloc[positions].reset_index(drop=True).to_feather(partial / file)
        slices[f"{kind}\x1f{name}"] = file
    manifest = PreparedIndex(root=str(Path(workbook.root).resolve()), digest=workbook.digest,
                             library=library, warnings=list(workbook.warnings), slices=slices)
    (partial / _MANIFEST).write_text(manifest.model_dump_json(), encoding="utf-8")
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(partial, folder)
    for other in folder.parent.iterdir():  # one workbook's slices are kept: the current one
        if other != folder and not other.name.endswith(".partial"):
            shutil.rmtree(other, ignore_errors=True)
    return folder


def is_prepared(folder: Path, data_dir: Path | str, digest: str,
                reports: Iterable[tuple[str, str]] = (), *, library: str = "") -> bool:
    """Whether ``folder`` holds the slices of ``reports`` for this workbook, digest and code."""
    manifest = _manifest(folder)
    return (manifest is not None and manifest.digest == digest
            and manifest.library == library
            and manifest.root == str(Path(data_dir).resolve())
            and all(f"{k}\x1f{n}" in manifest.slices for k, n in reports))


def read_validated(folder: Path, data_dir: Path | str, digest: str, *,
                   library: str = "") -> Workbook | None:
    """The whole validated workbook kept in ``folder``, if it is ``data_dir`` at ``digest``
    as validated by ``library``: an unchanged rerun plans without validating again."""
    if not is_prepared(folder, data_dir, digest, library=library):
        return None
    return _read(Path(folder), data_dir, "outcomes.arrow", _manifest(folder))


def _manifest(folder: Path) -> PreparedIndex | None:
    """The folder's index; None when it is missing or not one this code wrote (the reports
    then validate the workbook themselves)."""
    try:
        return PreparedIndex.model_validate_json(
            (Path(folder) / _MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def read_prepared(data_dir: Path | str, kind: str, name: str,
                  environ: Mapping[str, str] | None = None) -> Workbook | None:
    """The prepared slice of one report of ``data_dir``, or None (see the module text)."""
    folder = (os.environ if environ is None else environ).get(PREPARED_ENV)
    if not folder:
        return None
    manifest = _manifest(Path(folder))
    if manifest is None or manifest.root != str(Path(data_dir).resolve()):
        return None
    file = manifest.slices.get(f"{kind}\x1f{name}")
    return None if file is None else _read(Path(folder), data_dir, file, manifest)


def _read(folder: Path, data_dir: Path | str, outcomes_file: str,
          manifest: PreparedIndex) -> Workbook | None:
    try:
        tables = {t: pd.read_feather(folder / f"{t}.arrow") for t in _SHARED}
        outcomes = pd.read_feather(folder / outcomes_file)
    except (OSError, ValueError):
        return None
    return Workbook(root=Path(data_dir), outcomes=outcomes, digest=manifest.digest,
                    warnings=tuple(manifest.warnings), **tables)
