"""The tag vocabulary and splitting tag text into known tags.

Tag lines scraped from web pages often lose their separators: the NNSC home page
shows ``ChicagoOakland Group Violence Intervention Support and Outreach``, which
is four tags. :func:`split_tags` recovers them against the vocabulary in
``tags.csv`` and reports every run of text it cannot explain instead of guessing.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

# Explicit separators in tag text. They also split unknown runs, so "Foo; Bar"
# with neither known gives two unknown tags, not one.
SEPARATORS = frozenset(";,|\n\r")

_WS_RE = re.compile(r"\s+")


@dataclass(frozen=True)
class TagSplit:
    """Known tags in the vocabulary's spelling, and the runs of text matching none."""

    tags: tuple[str, ...]
    unknown: tuple[str, ...]

    @property
    def all_tags(self) -> tuple[str, ...]:
        """Known tags followed by the unknown runs as written (what an item keeps)."""
        return self.tags + tuple(u for u in self.unknown if u not in self.tags)


def normalise_space(text: str) -> str:
    """Collapse every whitespace run (including no-break spaces) to one space and strip."""
    return _WS_RE.sub(" ", unicodedata.normalize("NFKC", str(text))).strip()


def tag_key(tag: str) -> str:
    """The case- and space-insensitive key two spellings of one tag share."""
    return normalise_space(tag).casefold()


def _is_boundary(text: str, i: int) -> bool:
    """Whether a tag may start or end between ``text[i-1]`` and ``text[i]``.

    Tags must begin and end at word edges, or where scraping glued two words
    together (``ChicagoOakland``: lower case followed by upper case; ``NNSCChicago``:
    an acronym followed by a capitalised word). This stops ``Oak`` from matching
    inside ``Oakland`` just because ``Oakland`` is not in the vocabulary.
    """
    if i <= 0 or i >= len(text):
        return True
    before, after = text[i - 1], text[i]
    if not before.isalnum() or not after.isalnum():
        return True
    if before.isdigit() != after.isdigit():
        return True
    if before.islower() and after.isupper():
        return True
    return (before.isupper() and after.isupper() and i + 1 < len(text)
            and text[i + 1].islower())


def _vocabulary_index(vocabulary: Iterable[str]) -> dict[str, str]:
    """Folded, space-normalised tag -> the vocabulary's spelling (first spelling wins)."""
    index: dict[str, str] = {}
    for tag in vocabulary:
        spelled = normalise_space(tag)
        if spelled:
            index.setdefault(spelled.casefold(), spelled)
    return index


def split_tags(text: str, vocabulary: Iterable[str]) -> TagSplit:
    """Split tag text into known tags, keeping whatever matches none as unknown runs.

    Matching is case-insensitive, treats any whitespace run as one space and
    works with or without separators (``;``, ``,``, ``|``, newlines). Among all
    ways to read the text it chooses the one covering the most characters with
    known tags, then the one using fewer (so longer) tags, then the leftmost
    longest match: with ``New York`` and ``York`` known, ``New York`` is one tag.
    Tags come out in the vocabulary's spelling, in text order, without repeats.
    """
    index = _vocabulary_index(vocabulary)
    flat = normalise_space(str(text).replace("\r", "\n").replace("\n", ";"))
    folded = flat.casefold()
    if len(folded) != len(flat):
        # Case folding that changes length (e.g. "ß" -> "ss") would misalign the
        # boundary checks; fall back to lower(), which keeps positions for these.
        folded = "".join(ch.lower() if len(ch.lower()) == 1 else ch for ch in flat)
    n = len(flat)
    by_first: dict[str, list[str]] = {}
    for key in sorted(index, key=len, reverse=True):
        by_first.setdefault(key[0], []).append(key)

    # best[i] = (covered chars, -tag count, tag length at i or 0 to skip) for flat[i:].
    best: list[tuple[int, int, int]] = [(0, 0, 0)] * (n + 1)
    for i in range(n - 1, -1, -1):
        skip = best[i + 1]
        choice = (skip[0], skip[1], 0)
        if _is_boundary(flat, i):
            for key in by_first.get(folded[i], ()):
                end = i + len(key)
                if end <= n and folded.startswith(key, i) and _is_boundary(flat, end):
                    rest = best[end]
                    option = (rest[0] + len(key), rest[1] - 1, len(key))
                    # Candidates are tried longest first, so ties keep the longer tag.
                    if option[:2] > choice[:2]:
                        choice = option
        best[i] = choice

    tags: list[str] = []
    unknown: list[str] = []
    run: list[str] = []

    def close_run() -> None:
        piece = _strip_punctuation("".join(run))
        run.clear()
        if piece and piece not in unknown:
            unknown.append(piece)

    i = 0
    while i < n:
        length = best[i][2]
        if length:
            close_run()
            tag = index[folded[i:i + length]]
            if tag not in tags:
                tags.append(tag)
            i += length
        else:
            if flat[i] in SEPARATORS:
                close_run()
            else:
                run.append(flat[i])
            i += 1
    close_run()
    return TagSplit(tuple(tags), tuple(unknown))


def _strip_punctuation(text: str) -> str:
    """Trim spaces and punctuation from the ends of an unknown run; '' if nothing is left.

    A run with no letter or digit (a stray ``&`` or ``.`` between two known
    tags) names nothing, so it is not reported as a tag.
    """
    start, end = 0, len(text)
    while start < end and not text[start].isalnum():
        start += 1
    while end > start and not text[end - 1].isalnum():
        end -= 1
    return normalise_space(text[start:end])


def read_tags_csv(path: Path) -> pd.DataFrame:
    """Read and check a ``tags.csv`` (columns ``tag, kind``) with the workbook's own rules.

    Raises :class:`DataError` listing every bad row; tags are compared
    case-insensitively, so ``chicago`` after ``Chicago`` is a duplicate.
    """
    from impactbook.workbook import read_tags

    return read_tags(path)
