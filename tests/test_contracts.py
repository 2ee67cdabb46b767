"""The documents between layers: one model each, one writer, schemas kept current."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from impactbook.contracts import (
    SCHEMAS,
    FindingsPayload,
    Manifest,
    ReportKind,
    findings_output,
    parse,
    schema_texts,
)
from impactbook.defaults import FINDINGS_MIME
from impactbook.errors import DataError, RenderError

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures"
NOTEBOOKS = FIXTURES / "notebooks" / "batch"
SCHEMA_DIR = REPO / "docs" / "schemas"


@pytest.fixture
def workbook(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(FIXTURES / "workbook", data)
    return data


def _validator(name: str):
    import jsonschema

    schema = json.loads((SCHEMA_DIR / f"{name}.schema.json").read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema)


# --------------------------------------------------------------------------- schemas


def test_committed_schemas_are_the_generated_ones():
    generated = schema_texts()
    committed = {p.name for p in SCHEMA_DIR.glob("*.schema.json")}
    assert committed == set(generated), "run: python -m impactbook.contracts " \
                                        "--write-schemas docs/schemas"
    for name, text in generated.items():
        assert json.loads((SCHEMA_DIR / name).read_text(encoding="utf-8")) == json.loads(text), \
            f"{name} is out of date: python -m impactbook.contracts --write-schemas docs/schemas"


def test_the_command_writes_every_schema(tmp_path):
    done = subprocess.run([sys.executable, "-m", "impactbook.contracts", "--write-schemas",
                           str(tmp_path / "schemas")], capture_output=True, text=True,
                          check=True)
    written = sorted(p.name for p in (tmp_path / "schemas").iterdir())
    assert written == sorted(f"{stem}.schema.json" for stem in SCHEMAS)
    assert len(done.stdout.splitlines()) == len(SCHEMAS)
    for name in written:
        assert json.loads((tmp_path / "schemas" / name).read_text())["additionalProperties"] \
            is False  # unknown keys are refused by every document


# --------------------------------------------------------------------------- the models


def test_report_kind_is_its_value_in_text_and_json():
    assert f"{ReportKind.CITY}/x" == "city/x" and str(ReportKind.INTERVENTION) == "intervention"
    assert json.dumps({"kind": ReportKind.CITY}) == '{"kind": "city"}'
    assert ReportKind("city") is ReportKind.CITY


def test_manifest_names_each_bad_entry():
    with pytest.raises(DataError) as info:
        parse(Manifest, {"reports": [{"id": "city/a", "kind": "town", "name": "A",
                                      "status": "ok"},
                                     {"id": "city/b", "kind": "city", "name": "B",
                                      "status": "ok", "colour": "red"}]}, "manifest.json")
    lines = str(info.value).splitlines()
    assert any(line.startswith("manifest.json: reports[0].kind:") for line in lines)
    assert any(line.startswith("manifest.json: reports[1].colour:") for line in lines)


def test_findings_output_is_checked_where_it_is_written():
    bundle = findings_output(["Fell 20%."], [{"when": __import__("datetime").date(2020, 1, 1)}],
                             {"text": "Fell 20%.", "percent_change": -20.0}, text="1 finding")
    payload = FindingsPayload.model_validate(bundle[FINDINGS_MIME])
    assert payload.version == 1 and payload.estimates == [{"when": "2020-01-01"}]
    with pytest.raises(ValueError, match="percent_chnage"):
        findings_output([], [], {"percent_chnage": -20.0}, text="typo")
    with pytest.raises(ValueError):
        findings_output([], [{"rate_ratio": float("nan")}], None, text="JSON has no NaN")


# --------------------------------------------------------------------------- findings cell


def test_report_whose_findings_cell_was_deleted_fails_loudly(workbook, tmp_path):
    """Old code: the report was recorded ok with an empty findings list."""
    from impactbook.render.batch import render_city

    run = tmp_path / "run"
    with pytest.raises(RenderError, match="displayed no findings"):
        render_city(workbook, "Alpha", run, formats=("html",), notebooks_dir=NOTEBOOKS,
                    template=FIXTURES / "notebooks" / "no_findings" / "city_report.ipynb")
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    [entry] = manifest["reports"]
    assert entry["status"] == "failed" and "key findings cell" in entry["error"]
    assert entry["files"] == {"ipynb": "alpha/alpha.failed.ipynb"}
    assert not (run / "alpha" / "alpha.html").exists()


# --------------------------------------------------------------------------- one writer


@pytest.mark.slow
def test_render_and_batch_write_the_same_manifest_and_it_validates(workbook, tmp_path):
    """Old code: a batch listed only its own plan, a single render the whole folder, so the
    manifest depended on which command wrote last."""
    from impactbook.render.batch import render_city, run_batch
    from impactbook.render.plan import plan_batch

    def batch(run):
        jobs = plan_batch(workbook, run, notebooks_dir=NOTEBOOKS, cities=["Beta"],
                          interventions=["GVI"], formats=("html",))
        return run_batch(jobs, run, workers=1, timeout_s=120, progress=False)

    first = tmp_path / "render-then-batch"
    render_city(workbook, "Alpha", first, formats=("html",), notebooks_dir=NOTEBOOKS)
    assert batch(first).ok
    second = tmp_path / "batch-then-render"
    assert batch(second).ok
    render_city(workbook, "Alpha", second, formats=("html",), notebooks_dir=NOTEBOOKS)

    one, two = (json.loads((run / "manifest.json").read_text(encoding="utf-8"))
                for run in (first, second))
    assert [r["id"] for r in one["reports"]] == [r["id"] for r in two["reports"]] == [
        "city/alpha", "city/beta", "intervention/gvi"]
    assert one["data_hash"] == two["data_hash"] and len(one["data_hash"]) == 64

    # Every document the batch wrote is valid against the committed schemas.
    errors = [e.message for e in _validator("manifest").iter_errors(one)]
    states = sorted((first / ".state").glob("*.json"))
    assert len(states) == 3
    for path in states:
        errors += [e.message for e in _validator("report-state").iter_errors(
            json.loads(path.read_text(encoding="utf-8")))]
    [prepared] = (first / ".state" / "prepared").glob("*/prepared.json")
    errors += [e.message for e in _validator("prepared").iter_errors(
        json.loads(prepared.read_text(encoding="utf-8")))]
    assert errors == []
    assert one["reports"][1]["headline"]["percent_change"] is not None
