"""House rules a newcomer can rely on: modules talk through public names, and stay small."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "impactbook"
MODULES = sorted(PACKAGE.rglob("*.py"))
MAX_LINES = 400


def _name(path: Path) -> str:
    return path.relative_to(PACKAGE).as_posix()


def private_imports(source: str) -> list[str]:
    """``module._name`` for every ``from impactbook... import _name`` in ``source``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "impactbook":
            found += [f"{node.module}.{alias.name}" for alias in node.names
                      if alias.name.startswith("_") and not alias.name.startswith("__")]
    return found


def test_the_checker_sees_private_names():
    assert private_imports("from impactbook.render.plan import _load, plan_batch\n"
                           "def f():\n    from impactbook.report.content import _pct\n") == [
        "impactbook.render.plan._load", "impactbook.report.content._pct"]
    assert private_imports("from impactbook import __version__\n"
                           "from impactbook.effects._window import Window\n") == []


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_no_private_name_is_imported_across_modules(path):
    assert private_imports(path.read_text(encoding="utf-8")) == [], (
        "make the name public where it is a real interface, or move the code that needs it")


def test_modules_are_small():
    long = {_name(p): n for p in MODULES
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}, f"over {MAX_LINES} lines (split them by job): {long}"



def imported_modules(source: str) -> set[str]:
    """Every ``impactbook...`` module ``source`` imports (at any depth, lazily or not)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("impactbook"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("impactbook"))
    return found


def report_imports(package: str) -> dict[str, set[str]]:
    """``module -> the impactbook.report modules it imports`` for the modules of ``package``."""
    found = {}
    for path in sorted((PACKAGE / package).rglob("*.py")):
        upward = {m for m in imported_modules(path.read_text(encoding="utf-8"))
                  if m == "impactbook.report" or m.startswith("impactbook.report.")}
        if upward:
            found[_name(path)] = upward
    return found


def test_the_layer_checker_sees_lazy_imports():
    assert imported_modules("import impactbook.report.plots\n"
                            "def f():\n    from impactbook.report.format import format_p\n"
                            ) == {"impactbook.report.plots", "impactbook.report.format"}


@pytest.mark.parametrize("package", ["analysis", "workbook", "ingest", "news"])
def test_layers_below_the_report_never_import_it(package):
    assert report_imports(package) == {}


def test_the_estimators_take_from_the_report_only_its_words_and_charts():
    # Design names and the "clear" rule live in impactbook.designs, below both layers. What is
    # left upward: findings and result summaries written through the one number formatter, and
    # a result's plot() drawing with the report's charts (imported inside plot()).
    used = set().union(*report_imports("effects").values())
    assert used <= {"impactbook.report.format", "impactbook.report.plots"}, used


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_design_names_and_the_clear_rule_come_from_their_one_home(path):
    shared = {"DESIGN_NAMES", "SIGNIFICANCE_LEVEL", "is_clear_p", "finite_number"}
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module == "impactbook.report.format":
            assert shared.isdisjoint(a.name for a in node.names), "import from impactbook.designs"
