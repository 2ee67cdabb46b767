"""Tag chart cells and their neighbours, so print CSS keeps a chart with its heading and
caption (a page break never separates them)."""

from __future__ import annotations

from nbconvert.preprocessors import Preprocessor

FIGURE_TAG, BEFORE_FIGURE_TAG, CAPTION_TAG = "ib-figure", "ib-before-figure", "ib-caption"
# A markdown cell after a chart is its caption when it is not a heading and is short.
_MAX_CAPTION_CHARS = 600


def _has_image(cell) -> bool:
    return any(any(k.startswith("image/") for k in (o.get("data") or {}))
               for o in cell.get("outputs", []))


def _add_tag(cell, tag: str) -> None:
    tags = cell.setdefault("metadata", {}).setdefault("tags", [])
    if tag not in tags:
        tags.append(tag)


class TagFigures(Preprocessor):
    """Tag a code cell with an image ``ib-figure``, the markdown cell before it
    ``ib-before-figure`` and a short, non-heading markdown cell after it ``ib-caption``."""

    def preprocess(self, nb, resources):
        cells = nb.cells
        for i, cell in enumerate(cells):
            if cell.cell_type != "code" or not _has_image(cell):
                continue
            _add_tag(cell, FIGURE_TAG)
            if i > 0 and cells[i - 1].cell_type == "markdown":
                _add_tag(cells[i - 1], BEFORE_FIGURE_TAG)
            if i + 1 < len(cells) and cells[i + 1].cell_type == "markdown":
                source = cells[i + 1].source.lstrip()
                if not source.startswith("#") and len(source) < _MAX_CAPTION_CHARS:
                    _add_tag(cells[i + 1], CAPTION_TAG)
        return nb, resources
