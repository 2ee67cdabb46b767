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

