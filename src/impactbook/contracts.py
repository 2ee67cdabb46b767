"""The documents that pass between layers and processes, as typed, versioned models.

One model per document, and every writer and reader goes through it:

- :class:`FindingsPayload`: what a report notebook's findings cell displays (under
  :data:`~impactbook.defaults.FINDINGS_MIME`) and the renderer reads back for the manifest;
- :class:`ReportRecord`: one report's entry in ``manifest.json`` (its status, files, hashes,
  findings), inside :class:`ReportState`, the report's record ``RUN/.state/<slug>.json``
  (the entry and the reuse key it was rendered under);
- :class:`Manifest`: ``RUN/manifest.json``, read by the index page, the mailer and the batch;
- :class:`PreparedIndex`: ``prepared.json`` of a folder of prepared workbook slices, the
  hand-off from a batch to the kernels of its reports;
- :class:`StoredEstimate`: one entry of a run's estimate store
  (``RUN/.state/estimates/<key>.json``, :mod:`impactbook.analysis.store`): an estimate's
  unrounded fields, computed once and read by every later report of the run that shows it.

Each carries a ``version``; a change to a document's shape bumps it, and the JSON Schemas in
``docs/schemas/`` are generated from these models (``python -m impactbook.contracts
--write-schemas docs/schemas``; a test checks the committed ones are current).
"""

from __future__ import annotations

import argparse
import enum
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from impactbook.defaults import FINDINGS_MIME
from impactbook.errors import DataError, Problem


class ReportKind(str, enum.Enum):
    """What a report is about: one city's programmes, or one intervention type everywhere."""

    CITY = "city"
    INTERVENTION = "intervention"

    def __str__(self) -> str:  # in f-strings and paths: the value, on every Python version
        return self.value


class _Contract(BaseModel):
    # Unknown keys are refused: a misspelt or renamed field fails where it is written, not
    # silently downstream.
    model_config = ConfigDict(extra="forbid", frozen=True)


class HeadlineOutcome(_Contract):
    """One outcome of the headline programme, as its card shows it."""

    outcome: str | None = None
    area: str | None = None
    design: str | None = None
    percent_change: float | None = None
    ci_low_pct: float | None = None
    ci_high_pct: float | None = None
    permutation_p: float | None = None
    excludes_no_change: bool = False
    caveats: list[str] = Field(default_factory=list)


class Headline(_Contract):
    """The one figure of a report shown on the index page and in the emails."""

    text: str | None = None
    outcome: str | None = None
    area: str | None = None
    programme: str | None = None
    intervention: str | None = None
    design: str | None = None
    how_chosen: str | None = None
    places: str | None = None  # an intervention summary: the places pooled
    percent_change: float | None = None
    ci_low_pct: float | None = None
    ci_high_pct: float | None = None
    excludes_no_change: bool = False
    permutation_p: float | None = None  # a synthetic control: its permutation p
    designs_disagree: bool = False
    events_averted: float | None = None
    events_averted_low: float | None = None
    events_averted_high: float | None = None
    caveats: list[str] = Field(default_factory=list)  # the headline's caveats, a few words each
    outcomes: list[HeadlineOutcome] = Field(default_factory=list)  # every outcome of its programme
    # the one-line value for money of each costed programme of the report (page one's lines)
    value_for_money: list[str] = Field(default_factory=list)


class FindingsPayload(_Contract):
    """A report's machine-readable findings (the key findings section displays it)."""

    version: Literal[1] = 1
    key_findings: list[str] = Field(default_factory=list)
    estimates: list[dict[str, Any]] = Field(default_factory=list)
    headline: Headline | None = None


Status = Literal["ok", "failed"]


class ReportRecord(_Contract):
    """One report as a run recorded it (an entry of ``manifest.json``)."""

    id: str = Field(min_length=1)
    kind: ReportKind
    name: str = Field(min_length=1)
    slug: str = ""
    interventions: list[str] = Field(default_factory=list)
    parameters: dict[str, Any] = Field(default_factory=dict)
    input_hash: str = ""
    notebook_hash: str = ""
    status: Status
    reused: bool = False
    files: dict[str, str] = Field(default_factory=dict)  # format -> path in the run folder
    sha256: dict[str, str] = Field(default_factory=dict)  # format -> the file's hash
    timings: dict[str, float] = Field(default_factory=dict)
    error: str | None = None
    key_findings: list[str] = Field(default_factory=list)
    estimates: list[dict[str, Any]] = Field(default_factory=list)
    headline: Headline | None = None


class ReportState(_Contract):
    """``RUN/.state/<slug>.json``: the record of a report and the key it was rendered under."""

    version: Literal[1] = 1
    key: str
    entry: ReportRecord


class Manifest(_Contract):
    """``RUN/manifest.json``: every report recorded in the run folder."""

    version: Literal[1] = 1
    run: str = ""
    created: str = ""
    impactbook_version: str = ""
    data_hash: str | None = None
    reports: list[ReportRecord]


class PreparedIndex(_Contract):
    """``prepared.json``: which workbook (folder, digest, validating code) the slices are of,
    its validation warnings, and the file of each report's slice (``kind\\x1fname``)."""

    version: Literal[1] = 1
    root: str
    digest: str
    library: str = ""
    warnings: list[str] = Field(default_factory=list)
    slices: dict[str, str] = Field(default_factory=dict)


class StoredEstimate(_Contract):
    """One entry of the estimate store: the key it was stored under (the digest of exactly
    the inputs of the estimate) and the estimate's fields, unrounded; a missing or
    non-finite number is ``null``. The frames a chart draws and the fitted model are not kept:
    a reader of the store needs the figures only (an intervention summary pools them)."""

    version: Literal[1] = 1
    key: str = Field(pattern=r"^[0-9a-f]{64}$")
    city: str | None = None
    area: str | None = None
    outcome: str | None = None
    start: str
    method: str
    model: str
    pre_periods: int
    post_periods: int
    pre_mean: float | None = None
    post_mean: float | None = None
    rate_ratio: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None
    dispersion: float | None = None
    log_rate_ratio: float | None = None
    se_log_rate_ratio: float | None = None
    warnings: list[str] = Field(default_factory=list)
    details: dict[str, Any] = Field(default_factory=dict)
    events_averted: tuple[float | None, float | None, float | None]
    detectable_rate_ratio: float | None = None
    autocorrelation: dict[str, Any] | None = None
    interval_source: str = "model"


#: The documents whose JSON Schemas are published, by file stem.
SCHEMAS: dict[str, type[BaseModel]] = {
    "manifest": Manifest,
    "report-state": ReportState,
    "findings": FindingsPayload,
    "prepared": PreparedIndex,
    "stored-estimate": StoredEstimate,
}

Model = TypeVar("Model", bound=BaseModel)


# --------------------------------------------------------------------------- reading


def _where(loc: Iterable[object]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def validation_problems(error: ValidationError, shown: str) -> list[Problem]:
    """One problem per place, in the document's own terms (``reports[0]: missing kind, name``)."""
    missing: dict[str, list[str]] = {}
    problems: list[Problem] = []
    for item in error.errors():
        loc = list(item["loc"])
        if item["type"] == "missing" and loc:
            missing.setdefault(_where(loc[:-1]), []).append(str(loc[-1]))
        else:
            place = _where(loc)
            problems.append(Problem(shown, f"{place + ': ' if place else ''}{item['msg']}"))
    for place, names in missing.items():
        problems.insert(0, Problem(shown, f"{place + ': ' if place else ''}missing "
                                          f"{', '.join(names)}"))
    return problems


def parse(model: type[Model], data: object, shown: str) -> Model:
    """``data`` as ``model``, or :class:`DataError` listing every problem (named ``shown``)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise DataError(validation_problems(exc, shown)) from None


def read_document(model: type[Model], path: Path) -> Model:
    """The JSON file at ``path`` as ``model``; :class:`DataError` when absent or malformed."""
    shown = str(path)
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(Problem(shown, "does not exist")) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(Problem(shown, f"not valid JSON: {exc}")) from None
    return parse(model, raw, shown)


def document_text(document: BaseModel) -> str:
    """The JSON text every writer of a document writes."""
    return json.dumps(document.model_dump(mode="json"), indent=2, ensure_ascii=False)


# --------------------------------------------------------------------------- findings


def findings_output(key_findings: Iterable[str], estimates: Iterable[Mapping],
                    headline: Mapping | None, text: str) -> dict:
    """The display bundle of a report's findings cell (``display(bundle, raw=True)``).

    Values are made plain JSON first (dates as text; NaN refused, as JSON has none), then
    checked against :class:`FindingsPayload`, so a report cannot publish findings the
    renderer would not read.
    """
    plain = json.loads(json.dumps({"key_findings": list(key_findings),
                                   "estimates": list(estimates), "headline": headline},
                                  allow_nan=False, default=str))
    payload = FindingsPayload.model_validate(plain)
    return {FINDINGS_MIME: payload.model_dump(mode="json"), "text/plain": text}


def notebook_findings(nb: Mapping) -> FindingsPayload | None:
    """The findings an executed notebook displayed (the last payload wins), None if it
    displayed none. Raises ``ValueError`` (a :class:`ValidationError`) for a malformed one."""
    found: FindingsPayload | None = None
    for cell in nb.get("cells", []):
        for output in cell.get("outputs", []):
            value = (output.get("data") or {}).get(FINDINGS_MIME)
            if value is None:
                continue
            if isinstance(value, str):
                value = json.loads(value)
            found = FindingsPayload.model_validate(_plain(value))
    return found


def _plain(value):
    """Plain dicts and lists instead of nbformat's NotebookNode: a record travels from a
    worker to the parent by pickle, and unpickling a NotebookNode makes the parent import
    nbformat and jsonschema (over a second) just to read a report's findings."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


# --------------------------------------------------------------------------- schemas


def schema_texts() -> dict[str, str]:
    """``<stem>.schema.json`` -> the JSON Schema text of each published document."""
    return {f"{stem}.schema.json": json.dumps(model.model_json_schema(), indent=2,
                                              sort_keys=True) + "\n"
            for stem, model in SCHEMAS.items()}


def write_schemas(folder: Path) -> list[Path]:
    from impactbook.fsutil import atomic_write_text

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in schema_texts().items():
        atomic_write_text(folder / name, text)
        written.append(folder / name)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m impactbook.contracts",
                                     description="Write the JSON Schemas of impactbook's "
                                                 "documents (manifest, report records, "
                                                 "findings, prepared slices).")
    parser.add_argument("--write-schemas", metavar="FOLDER", type=Path, required=True)
    args = parser.parse_args(argv)
    for path in write_schemas(args.write_schemas):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
