"""Ingest on data unlike the demo: writing targets, typed settings, names, whole numbers, stray
and ambiguous dates, sparse areas, incident keys across periods, quarterly counts."""

from __future__ import annotations

from pathlib import Path

import pytest

from impactbook.cli import main

FIXTURES = Path(__file__).parent / "fixtures" / "ingest"
NYPD = FIXTURES / "nypd_2019q4.csv.gz"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def write_list(path: Path, rows: list[tuple], header: str = "Date,Beat,Victims") -> Path:
    path.write_text(header + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows),
                    encoding="utf-8")
    return path


def monthly_list(first_year: int, last_year: int, per_month: int = 3) -> list[tuple]:
    """A dense month-first list: ``per_month`` events a month (days 3, 17, 28 in turn)."""
    days = (3, 17, 28)
    return [(f"{m}/{days[i % 3]}/{y}", 1 + i % 2, 1)
            for y in range(first_year, last_year + 1) for m in range(1, 13)
            for i in range(per_month)]


GENERIC = {"city": "Springfield", "outcome": "shootings", "date_column": "Date"}


# --- 9. writing commands need an explicit --data --------------------------------------------

@pytest.mark.parametrize("argv", [["ingest", "nypd-shootings", str(NYPD)],
                                  ["news", "import", "items.csv"]])
def test_writing_commands_refuse_the_default_workbook(tmp_path, monkeypatch, capsys, argv):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "items.csv").write_text("date,title,url\n", encoding="utf-8")
    code, _, err = run(capsys, *argv)
    assert code == 1
    assert err.startswith("impactbook: error: parameter 'data': got None, expected the "
                          "workbook folder")
    assert "(--data DIR)" in err and err.count("\n") == 1
    assert list((tmp_path / "data").iterdir()) == []
