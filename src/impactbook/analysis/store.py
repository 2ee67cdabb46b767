"""A run's store of estimates: each computed once per run, read by every later report.

An intervention summary pools the interrupted time series (and a leading staggered rollout) of
programmes whose city reports the same batch has just computed; without the store it fitted
every one of them again (0.9-2.6 s a summary of the default workbook). A city report puts the
estimates it computed here, and a summary reads them, recomputing only what is not there.

**Key.** The SHA-256 of exactly the inputs of one estimate: what is asked (the request's
fields), the programme's row of interventions.csv, the outcome rows of its city (all of them:
the city's areas, outcomes and frequency are checked against them), for a rollout its rows of
rollouts.csv and the digest of unit_outcomes.csv, and the code (package version and the hash
of its sources, :func:`~impactbook.fsutil.library_hash`, as in the batch's reuse keys). So a
rerun after one city's rows changed finds every other city's estimates and recomputes that
city's.

**Safety.** An entry is JSON of the estimate's unrounded fields, validated through
:class:`~impactbook.contracts.StoredEstimate` (nothing read here can run code); one that is
unreadable, malformed, too large or stored under another key is ignored and recomputed, never
trusted. Entries are written atomically (:func:`~impactbook.fsutil.atomic_write_text`), so
the batch's concurrent workers never read half of one; two workers writing the same key write
the same figures. The frames a chart draws and the fitted model are not kept: an estimate
read from the store has the figures only, which is all its readers (summaries) use.

**Where.** A batch gives its workers ``RUN/.state/estimates/<library>`` through
:data:`~impactbook.defaults.ESTIMATES_ENV` (:mod:`impactbook.render.workers`). Elsewhere
(``impactbook estimate``, ``render``, JupyterLab) there is no store unless asked for: that
variable, or ``store=`` of the report builders.
Each process appends what it looked up (hit, miss, put, ignored) to ``log/<pid>.jsonl`` in the
store, one line each, so a run shows what it reused.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from impactbook import __version__
from impactbook.contracts import StoredEstimate
from impactbook.defaults import ESTIMATES_ENV, ESTIMATES_LOG_DIR
from impactbook.fsutil import atomic_write_text, hash_frames, library_hash, sha256_file

if TYPE_CHECKING:  # the estimators are imported where an estimate is built
    from impactbook.analysis import EstimateRequest
    from impactbook.effects.estimate import Estimate
    from impactbook.workbook import Workbook

#: An entry is a few kilobytes; anything much larger is not one this code wrote.
MAX_ENTRY_BYTES = 1_000_000
_FLOAT_FIELDS = ("pre_mean", "post_mean", "rate_ratio", "ci_low", "ci_high", "p_value",
                 "dispersion", "log_rate_ratio", "se_log_rate_ratio", "detectable_rate_ratio")
def _label(programme: Mapping, request: EstimateRequest) -> dict[str, str]:
    """What a log line names: the design, city, programme and outcome."""
    return {"method": request.method, "city": str(programme["city"]),
            "programme": str(programme["id"]), "outcome": request.outcome}


def _plain_row(row: Mapping) -> dict[str, str]:
    return {str(k): str(v) for k, v in sorted(row.items())}


class EstimateStore:
    """The estimates of one store folder (see the module text); ``log`` records lookups."""

    def __init__(self, folder: Path | str, *, log: bool = True):
        self.folder = Path(folder)
        self.is_logging = log
        self._city_hashes: dict[tuple[int, str], tuple[object, str]] = {}

    # -- keys ------------------------------------------------------------------------------

    def _city_rows_hash(self, workbook: Workbook, city: str) -> str:
        # Hashed once per city and outcome frame (the frame is held so its id stays its own).
        memo = (id(workbook.outcomes), city)
        if memo not in self._city_hashes:
            rows = workbook.outcomes.iloc[workbook.index.city_rows(city)] \
                if workbook.index.has_city(city) else workbook.outcomes.iloc[:0]
            self._city_hashes[memo] = (workbook.outcomes, hash_frames(("outcomes", rows)))
        return self._city_hashes[memo][1]

    def key(self, workbook: Workbook, programme: Mapping, request: EstimateRequest) -> str:
        """The digest of exactly what the estimate of ``request`` for ``programme`` reads."""
        parts: dict[str, Any] = {
            "store": 1, "version": __version__, "library": library_hash(),
            "request": request.model_dump(mode="json"), "programme": _plain_row(programme),
            "outcomes": self._city_rows_hash(workbook, str(programme["city"]))}
        if request.method == "rollout":
            units = workbook.rollouts
            units = units[units["programme"] == programme["id"]] if not units.empty else units
            parts["rollouts"] = hash_frames(("rollouts", units))
            groups = Path(workbook.root) / "unit_outcomes.csv"
            parts["unit_outcomes"] = sha256_file(groups) if groups.is_file() else None
        text = json.dumps(parts, sort_keys=True, ensure_ascii=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    def find(self, workbook: Workbook, programme: Mapping, request: EstimateRequest
             ) -> Estimate | None:
        """The stored estimate of ``request`` for ``programme`` of ``workbook``, or None."""
        return self.get(self.key(workbook, programme, request), _label(programme, request))

    def keep(self, workbook: Workbook, programme: Mapping, request: EstimateRequest,
             estimate: Estimate) -> None:
        """Store ``estimate``, computed for ``request`` and ``programme`` of ``workbook``."""
        self.put(self.key(workbook, programme, request), estimate, _label(programme, request))

    # -- entries ---------------------------------------------------------------------------

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.json"

    def get(self, key: str, label: Mapping[str, str] | None = None) -> Estimate | None:
        """The estimate stored under ``key``, or None (absent, unreadable, or not valid)."""
        path = self.path(key)
        try:
            if path.stat().st_size > MAX_ENTRY_BYTES:
                raise ValueError("too large")
            entry = StoredEstimate.model_validate_json(path.read_bytes())
            if entry.key != key:
                raise ValueError("stored under another key")
            estimate = estimate_from_entry(entry)
        except FileNotFoundError:
            self._log("miss", key, label)
            return None
        except (OSError, ValueError, TypeError) as exc:
            self._log("ignored", key, label, why=str(exc).splitlines()[0][:200])
            return None
        self._log("hit", key, label)
        return estimate

    def put(self, key: str, estimate: Estimate, label: Mapping[str, str] | None = None) -> None:
        """Store ``estimate`` under ``key`` (atomically); a store that cannot be written is
        skipped (the estimate is simply computed again next time)."""
        try:
            text = entry_from_estimate(key, estimate).model_dump_json()
            atomic_write_text(self.path(key), text)
        except (OSError, ValueError) as exc:
            self._log("not stored", key, label, why=str(exc).splitlines()[0][:200])
            return
        self._log("put", key, label)

    def _log(self, event: str, key: str, label: Mapping[str, str] | None, **extra) -> None:
        if not self.is_logging:
            return
        line = json.dumps({"event": event, "key": key, **(label or {}), **extra},
                          ensure_ascii=True) + "\n"
        try:
            (self.folder / ESTIMATES_LOG_DIR).mkdir(parents=True, exist_ok=True)
            # One file per process, appended a line at a time: no two writers share a file.
            with open(self.folder / ESTIMATES_LOG_DIR / f"{os.getpid()}.jsonl", "a",
                      encoding="utf-8") as fh:
                fh.write(line)
        except OSError:
            pass


def read_log(folder: Path | str) -> list[dict]:
    """Every line the processes using the store at ``folder`` logged (for tests and people)."""
    lines = []
    for path in sorted((Path(folder) / ESTIMATES_LOG_DIR).glob("*.jsonl")):
        for text in path.read_text(encoding="utf-8").splitlines():
            try:
                lines.append(json.loads(text))
            except ValueError:
                continue
    return lines


def active_store(environ: Mapping[str, str] | None = None) -> EstimateStore | None:
    """The store :data:`~impactbook.defaults.ESTIMATES_ENV` names (a batch's workers' kernels),
    else None: no store."""
    folder = (os.environ if environ is None else environ).get(ESTIMATES_ENV)
    return EstimateStore(folder) if folder else None


def entry_from_estimate(key: str, estimate: Estimate) -> StoredEstimate:
    from impactbook.effects.estimate import finite_or_none, to_json_safe
    from impactbook.workbook.periods import format_period

    return StoredEstimate(
        key=key, city=estimate.city, area=estimate.area, outcome=estimate.outcome,
        start=format_period(estimate.start), method=estimate.method, model=estimate.model,
        pre_periods=int(estimate.pre_periods), post_periods=int(estimate.post_periods),
        **{name: finite_or_none(getattr(estimate, name)) for name in _FLOAT_FIELDS},
        warnings=list(estimate.warnings), details=to_json_safe(estimate.details),
        events_averted=tuple(finite_or_none(v) for v in estimate.events_averted),
        autocorrelation=to_json_safe(estimate.autocorrelation),
        interval_source=estimate.interval_source)


def estimate_from_entry(entry: StoredEstimate) -> Estimate:
    """The stored figures as an :class:`Estimate` (no frames, no fitted model)."""
    import math

    from impactbook.effects.estimate import Estimate
    from impactbook.workbook.periods import parse_period

    def number(value: float | None) -> float:
        return math.nan if value is None else float(value)

    return Estimate(
        city=entry.city, area=entry.area, outcome=entry.outcome,
        start=parse_period(entry.start), method=entry.method, model=entry.model,
        pre_periods=entry.pre_periods, post_periods=entry.post_periods,
        **{name: number(getattr(entry, name)) for name in _FLOAT_FIELDS},
        warnings=tuple(entry.warnings), details=dict(entry.details),
        events_averted=tuple(number(v) for v in entry.events_averted),
        autocorrelation=entry.autocorrelation, interval_source=entry.interval_source)
