"""explore.ipynb runs under papermill on the library's API, and shows its charts and tables."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
EXPLORE = ROOT / "notebooks" / "explore.ipynb"


def _outputs(cell) -> list[dict]:
    return [o for o in cell.get("outputs", []) if o.get("output_type") != "stream"]


def test_explore_is_stripped_and_calls_only_the_api():
    nb = nbformat.read(str(EXPLORE), as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
    assert "impactbook.open_workbook(data_dir)" in code and "wb.estimate(" in code
    # One entry point: no reaching into the library's modules to show an estimate.
    assert "from impactbook" not in code and "analysis." not in code


@pytest.mark.slow
def test_explore_runs_under_papermill_with_its_charts(tmp_path):
    import papermill

    out = tmp_path / "explore.ipynb"
    papermill.execute_notebook(str(EXPLORE), str(out), kernel_name="python3",
                               parameters={"data_dir": str(ROOT / "data")},
                               cwd=str(EXPLORE.parent), progress_bar=False)
    nb = nbformat.read(str(out), as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code"]
    by_source = {c.source.splitlines()[0]: _outputs(c) for c in cells if c.source}
    assert not any(o.get("output_type") == "error" for c in cells for o in _outputs(c))
    charts = [c for c in cells if ".plot()" in c.source]
    assert len(charts) >= 2  # the ITS chart and the synthetic control's
    for cell in charts:  # each chart is drawn, not printed as "<Figure size ...>"
        images = [o for o in cell.outputs if "image/png" in o.get("data", {})]
        assert len(images) == 1, cell.source
    workbook = by_source["import pandas as pd"][0]["data"]
    assert workbook["text/html"].count("<table") == 1 and "New York" in workbook["text/html"]
    its = by_source['its = wb.estimate(city=city, area=area, outcome=outcome, method="its")']
    assert "Interrupted time series" in its[0]["data"]["text/html"]
    frame = by_source["results = {method: wb.estimate(city=city, area=area, outcome=outcome, "
                      "method=method)"][0]["data"]["text/plain"]
    assert "rate_ratio" in frame and "synth" in frame
    estimates = by_source["wb.estimates(city=city)"][0]["data"]["text/html"]
    assert "is_headline" in estimates and "nyc-ceasefire" in estimates
