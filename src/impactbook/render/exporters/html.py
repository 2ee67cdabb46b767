"""The report's HTML: nbconvert's HTML exporter with the impactbook template, no code, no
scripts, images embedded, and every piece of notebook HTML sanitised."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

from nbconvert.exporters import HTMLExporter
from traitlets import default
from traitlets.config import Config

from impactbook import __version__
from impactbook.render.exporters.layout import finish_report_html
from impactbook.render.exporters.sanitize import clean_report_html

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"
# Cells carrying one of these tags are left out of the HTML/PDF (they stay in the .ipynb).
REMOVE_CELL_TAGS = ("remove_cell", "remove-cell", "hide", "injected-parameters")
REMOVE_OUTPUT_TAGS = ("remove_output", "remove-output")
_PREPROCESSORS = ("impactbook.render.preprocessors.machine_outputs.DropMachineOutputs",
                  "impactbook.render.preprocessors.figures.TagFigures")


class ReportHTMLExporter(HTMLExporter):
    """An executed report notebook as the report's HTML page (``--to impactbook_html``).

    Building one compiles the template; a worker builds it once and exports every report
    with it.
    """

    export_from_notebook = "impactbook report (HTML)"

    @default("template_name")
    def _template_name_default(self):
        return "impactbook"

    @default("extra_template_basedirs")
    def _extra_template_basedirs_default(self):
        return [str(TEMPLATES_DIR)]

    @default("default_preprocessors")
    def _default_preprocessors_default(self):
        return [*HTMLExporter.class_traits()["default_preprocessors"].default(), *_PREPROCESSORS]

    # A report shows results, not code or prompts, and opens offline.
    @default("exclude_input")
    def _exclude_input_default(self):
        return True

    @default("exclude_input_prompt")
    def _exclude_input_prompt_default(self):
        return True

    @default("exclude_output_prompt")
    def _exclude_output_prompt_default(self):
        return True

    @default("embed_images")
    def _embed_images_default(self):
        return True

    # Notebook text and HTML outputs may carry user data (city names, news titles): sanitise
    # them so no script or handler from the workbook reaches a report.
    @default("sanitize_html")
    def _sanitize_html_default(self):
        return True

    @property
    def default_config(self):
        # nbconvert registers TagRemovePreprocessor itself (disabled): enabling it here is
        # all it takes.
        own = Config({
            "TagRemovePreprocessor": {"enabled": True, "remove_cell_tags": set(REMOVE_CELL_TAGS),
                                      "remove_all_outputs_tags": set(REMOVE_OUTPUT_TAGS)},
            "DropMachineOutputs": {"enabled": True},
            "TagFigures": {"enabled": True},
        })
        config = super().default_config.copy()
        config.merge(own)
        return config

    def __init__(self, config=None, **kw):
        super().__init__(config=config, **kw)
        # nbconvert's own clean_html drops headings and table headers, which a report needs.
        self.register_filter("clean_html", clean_report_html)
        self.report_css = "\n".join(
            (TEMPLATES_DIR / "impactbook" / name).read_text(encoding="utf-8")
            for name in ("report.css", "print.css"))

    def from_notebook_node(self, nb, resources=None, **kw):
        resources = dict(resources or {})
        resources.setdefault("impactbook", {"version": __version__, "css": self.report_css,
                                            "generated": _dt.date.today().isoformat()})
        body, resources = super().from_notebook_node(nb, resources=resources, **kw)
        return finish_report_html(body), resources
