"""The report's PDF: its HTML (:class:`ReportHTMLExporter`) paged by WeasyPrint."""

from __future__ import annotations

from pathlib import Path

from traitlets import Enum, default

from impactbook.render.exporters.html import ReportHTMLExporter

PAGE_SIZES = ("A4", "Letter")


class ReportPDFExporter(ReportHTMLExporter):
    """An executed report notebook as the report's PDF (``--to impactbook_pdf``).

    Building one imports WeasyPrint; charts pass into the PDF without re-encoding.
    """

    export_from_notebook = "impactbook report (PDF)"

    page_size = Enum(PAGE_SIZES, default_value="A4",
                     help="Paper size of every page (all portrait: wide tables are fitted, "
                          "never rotated).").tag(config=True)

    @default("file_extension")
    def _file_extension_default(self):
        return ".pdf"

    @default("template_extension")
    def _template_extension_default(self):
        return ".html.j2"  # the HTML template: the PDF is made from the report's HTML

    def __init__(self, config=None, **kw):
        super().__init__(config=config, **kw)
        import weasyprint
        import weasyprint.images

        from impactbook.render import pdf_images

        self._weasyprint = weasyprint
        pdf_images.install(weasyprint.images)
        self._page_css = weasyprint.CSS(string=f"@page {{ size: {self.page_size}; }}")

    def pdf_from_html(self, html_text: str, base_dir: Path | str) -> bytes:
        """The PDF of a report page already exported (links resolve against ``base_dir``)."""
        document = self._weasyprint.HTML(string=html_text, base_url=str(base_dir),
                                         media_type="print")
        return document.write_pdf(stylesheets=[self._page_css])

    def from_notebook_node(self, nb, resources=None, **kw):
        html_text, resources = super().from_notebook_node(nb, resources=resources, **kw)
        base_dir = (resources.get("metadata") or {}).get("path") or "."
        resources["output_extension"] = ".pdf"
        return self.pdf_from_html(html_text, base_dir), resources
