"""The exporters one worker keeps: a report's HTML once, and the PDF of that same HTML."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import TYPE_CHECKING

from impactbook.errors import ParameterError
from impactbook.render.exporters.pdf import PAGE_SIZES

if TYPE_CHECKING:
    from nbformat import NotebookNode


class ReportExporter:
    """:class:`~impactbook.render.exporters.html.ReportHTMLExporter` and
    :class:`~impactbook.render.exporters.pdf.ReportPDFExporter` for one page size.

    Building this imports nbconvert and WeasyPrint and compiles the template; a worker builds
    it once and exports every report with it.
    """

    def __init__(self, page_size: str = "A4"):
        from impactbook.render.exporters.html import ReportHTMLExporter
        from impactbook.render.exporters.pdf import ReportPDFExporter

        if page_size not in PAGE_SIZES:
            raise ParameterError("page_size", page_size, " or ".join(PAGE_SIZES))
        self.page_size = page_size
        self.html_exporter = ReportHTMLExporter()
        self.pdf_exporter = ReportPDFExporter(page_size=page_size)

    def to_html(self, nb: NotebookNode, title: str) -> str:
        nb = copy.deepcopy(nb)
        nb.metadata["title"] = title
        body, _ = self.html_exporter.from_notebook_node(nb, resources={"metadata":
                                                                       {"name": title}})
        return body

    def to_pdf(self, html_text: str, base_dir: Path) -> bytes:
        return self.pdf_exporter.pdf_from_html(html_text, base_dir)
