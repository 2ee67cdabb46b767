"""The command stays light: its help and a command that only reads the tables do not load
the estimators, the charts or the renderer (each handler imports what it calls)."""

from __future__ import annotations

import json
import subprocess
import sys

ESTIMATION = ("statsmodels", "pyfixest", "matplotlib", "papermill", "nbconvert")
TABLES = ("pandas", "numpy", "duckdb", "pydantic")


def loaded_after(code: str) -> set[str]:
    """The top-level modules of ESTIMATION and TABLES that ``code`` imported, in a fresh
    interpreter (this test process has imported them all already)."""
    probe = (f"import sys\n{code}\nimport json\n"
             f"print(json.dumps(sorted(m for m in {ESTIMATION + TABLES!r} if m in sys.modules)))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True)
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_importing_the_command_and_its_help_load_no_library():
    # The ingest help's list of mapping keys is read only when that help is shown.
    assert loaded_after("import impactbook.cli\n"
                        "impactbook.cli.build_parser().format_help()") == set()


def test_validate_loads_the_tables_but_no_estimator(tmp_path):
    workbook = tmp_path / "wb"
    loaded = loaded_after("from impactbook.cli import main\n"
                          f"main(['init', {str(workbook)!r}])\n"
                          f"assert main(['validate', '--data', {str(workbook)!r}]) == 0")
    assert loaded.isdisjoint(ESTIMATION), loaded


def test_the_ingest_help_still_lists_the_mapping_keys():
    loaded = subprocess.run([sys.executable, "-m", "impactbook.cli", "ingest", "--help"],
                            capture_output=True, text=True, check=True).stdout
    assert "generic settings (mapping file keys" in loaded
    assert "  date_column " in loaded
