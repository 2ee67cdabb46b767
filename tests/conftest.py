from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def write_workbook(folder: Path, **tables: str) -> Path:
    """Write a tiny workbook: keyword = file stem, value = CSV text."""
    folder.mkdir(parents=True, exist_ok=True)
    for stem, text in tables.items():
        (folder / f"{stem}.csv").write_text(text, encoding="utf-8")
    return folder


def monthly_rows(city: str, area: str, outcome: str, first_year: int, counts: list[int]) -> str:
    lines = []
    for i, count in enumerate(counts):
        year, month = first_year + i // 12, i % 12 + 1
        lines.append(f"{city},{area},{outcome},{year}-{month:02d},{count}")
    return "\n".join(lines) + "\n"


TAGS = ("tag,kind\nSpringfield,city\nGroup Violence Intervention,intervention\n"
        "Cure Violence,intervention\nSupport and Outreach,topic\n")


@pytest.fixture
def tiny_workbook(tmp_path: Path) -> Path:
    counts = [10 + (i % 5) for i in range(48)]
    outcomes = "city,area,outcome,period,count\n" + monthly_rows(
        "Springfield", "citywide", "shootings", 2015, counts) + monthly_rows(
        "Springfield", "District 1", "shootings", 2015, [c // 2 for c in counts])
    return write_workbook(
        tmp_path / "wb",
        outcomes=outcomes,
        interventions=("id,city,intervention,programme,area,start,outcomes,comparison_areas,"
                       "confidence,source\n"
                       "spr-gvi,Springfield,Group Violence Intervention,Springfield GVI,"
                       "District 1,2017-01,shootings,citywide,V,test\n"),
        tags=TAGS,
        news=("date,title,outlet,tags,url,summary\n"
              "2017-03,Springfield starts GVI,Gazette,Springfield;Group Violence Intervention,"
              "https://example.org/a,A summary\n"),
        funders=("funder,email,cities,interventions\n"
                 "Example Fund,grants@example.org,Springfield,*\n"),
    )
