from __future__ import annotations

from pathlib import Path

import pytest

from tests.workbooks import build_workbook, monthly_rows

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture
def tiny_workbook(tmp_path: Path) -> Path:
    counts = [10 + (i % 5) for i in range(48)]
    return build_workbook(
        tmp_path / "wb",
        monthly_rows("Springfield", "citywide", "shootings", 2015, counts)
        + monthly_rows("Springfield", "District 1", "shootings", 2015, [c // 2 for c in counts]),
        "spr-gvi,Springfield,Group Violence Intervention,Springfield GVI,District 1,2017-01,"
        "shootings,citywide,V,test\n",
        news=("2017-03,Springfield starts GVI,Gazette,Springfield;Group Violence Intervention,"
              "https://example.org/a,A summary\n"),
        funders="Example Fund,grants@example.org,Springfield,*\n",
        columns={"interventions": "id,city,intervention,programme,area,start,outcomes,"
                                  "comparison_areas,confidence,source",
                 "news": "date,title,outlet,tags,url,summary"},
    )
