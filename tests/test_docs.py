"""The documents cite only files the repository has.

A path written in a document (in backticks or as a Markdown link) that starts at one of the
repository's folders, or names a top-level document, must exist. Paths with placeholders
(``<slug>``, ``*``, ``NAME``) and generated output (``reports/``, ``benchmarks/out/``) are
not checked.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ROOTS = ("src/", "tests/", "docs/", "data/", "notebooks/", "benchmarks/", ".ci/")
TOP_LEVEL = ("README.md", "ARCHITECTURE.md", "CONTRIBUTING.md", "Makefile", "pyproject.toml",
             "LICENSE")
DOCUMENTS = sorted({*REPO.glob("*.md"), *REPO.glob("docs/**/*.md"), *REPO.glob("benchmarks/*.md"),
                    *REPO.glob("data/**/*.md"), *REPO.glob("tests/fixtures/**/*.md")})
GENERATED = ("http", "reports/", "benchmarks/out/")
CITED = re.compile(r"`([^`\s]+)`|\]\(([^)\s#]+)")


def cited_paths(text: str) -> set[str]:
    paths = set()
    for match in CITED.finditer(text):
        path = (match.group(1) or match.group(2)).strip().rstrip(".,:;")
        if re.search(r"[<>*{}$]|NAME|\.\.\.", path) or path.startswith(GENERATED):
            continue
        if path.startswith(ROOTS) or path in TOP_LEVEL or path.startswith("../"):
            paths.add(path)
    return paths


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_cited_file_exists(document: Path):
    missing = []
    for path in sorted(cited_paths(document.read_text(encoding="utf-8"))):
        # A path is read from the repository root, or (a relative link) from the document.
        if not ((REPO / path).exists() or (document.parent / path).exists()):
            missing.append(path)
    assert not missing, f"{document.relative_to(REPO)} cites files the repository lacks: {missing}"


def test_the_check_sees_a_missing_file():
    assert cited_paths("see `docs/nowhere.md` and [x](ARCHITECTURE.md)") == {
        "docs/nowhere.md", "ARCHITECTURE.md"}
