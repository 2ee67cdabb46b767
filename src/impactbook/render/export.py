"""Export an executed report notebook: nbconvert HTML (no code, no scripts, images embedded,
notebook HTML sanitised) and a paged PDF of it with WeasyPrint.
"""

from __future__ import annotations

import copy
import datetime as _dt
import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from impactbook import __version__
from impactbook.defaults import FINDINGS_MIME, SECTION_FAILURE_MIME
from impactbook.errors import ParameterError

if TYPE_CHECKING:
    from nbformat import NotebookNode

PAGE_SIZES = ("A4", "Letter")
TEMPLATES_DIR = Path(__file__).resolve().parents[1] / "templates"
# Cells carrying one of these tags are left out of the HTML/PDF (they stay in the .ipynb).
REMOVE_CELL_TAGS = {"remove_cell", "remove-cell", "hide", "injected-parameters"}
_WIDE_TABLE_COLUMNS = 9


def _tag_figures(nb: NotebookNode) -> NotebookNode:
    """Tag figure cells and their neighbours so print CSS keeps charts with captions/headings."""
    cells = nb.cells

    def has_image(cell) -> bool:
        return any(any(k.startswith("image/") for k in (o.get("data") or {}))
                   for o in cell.get("outputs", []))

    def add_tag(cell, tag):
        tags = cell.setdefault("metadata", {}).setdefault("tags", [])
        if tag not in tags:
            tags.append(tag)

    for i, cell in enumerate(cells):
        if cell.cell_type != "code" or not has_image(cell):
            continue
        add_tag(cell, "ib-figure")
        if i > 0 and cells[i - 1].cell_type == "markdown":
            add_tag(cells[i - 1], "ib-before-figure")
        if i + 1 < len(cells) and cells[i + 1].cell_type == "markdown":
            source = cells[i + 1].source.lstrip()
            if not source.startswith("#") and len(source) < 600:
                add_tag(cells[i + 1], "ib-caption")
    return nb


_TABLE_RE = re.compile(r"<table\b.*?</table>", re.IGNORECASE | re.DOTALL)
_ROW_RE = re.compile(r"<tr\b.*?</tr>", re.IGNORECASE | re.DOTALL)
_CELL_RE = re.compile(r"<t[hd]\b[^>]*?(?:colspan=\"?(\d+)\"?)?[^>]*>", re.IGNORECASE)


def _mark_wide_tables(html_text: str) -> str:
    """Wrap tables with many columns so print CSS sets them smaller, to fit the page width."""

    def columns(table: str) -> int:
        widest = 0
        for row in _ROW_RE.findall(table)[:3]:
            widest = max(widest, sum(int(m.group(1) or 1) for m in _CELL_RE.finditer(row)))
        return widest

    def wrap(match: re.Match) -> str:
        table = match.group(0)
        if columns(table) >= _WIDE_TABLE_COLUMNS:
            return f'<div class="ib-wide">{table}</div>'
        return table

    return _TABLE_RE.sub(wrap, html_text)


_CAPTION_RE = re.compile(r"<(figcaption|caption)(\s[^>]*)?>", re.IGNORECASE)
_TOC_SLOT_RE = re.compile(r"<div class=[\"']ib-toc[\"']>\s*</div>", re.IGNORECASE)
_H2_RE = re.compile(r"<h2\b([^>]*)>(.*?)</h2>", re.IGNORECASE | re.DOTALL)
_ID_RE = re.compile(r"\bid=[\"']([^\"']+)[\"']")


def _number_captions(html_text: str) -> str:
    """Number figure and table captions in reading order: ``Figure 3.``, ``Table 2.``."""
    counts = {"figcaption": 0, "caption": 0}

    def number(match: re.Match) -> str:
        tag = match.group(1).lower()
        counts[tag] += 1
        label = "Figure" if tag == "figcaption" else "Table"
        return f'{match.group(0)}<span class="ib-number">{label} {counts[tag]}.</span> '

    return _CAPTION_RE.sub(number, html_text)


def _fill_contents(html_text: str) -> str:
    """Fill the report's contents slot with a link to every section heading after it
    (printed with page numbers)."""
    slot = _TOC_SLOT_RE.search(html_text)
    if slot is None:
        return html_text
    entries = []
    for match in _H2_RE.finditer(html_text, slot.end()):
        found = _ID_RE.search(match.group(1))
        title = " ".join(re.sub(r"<[^>]+>", "", match.group(2)).replace("\u00b6", "").split())
        if found and title:
            entries.append(f'<li><a href="#{found.group(1)}">{title}</a></li>')
    if not entries:
        return html_text[:slot.start()] + html_text[slot.end():]
    contents = ('<div class="ib-toc"><h2 class="ib-toc-title">Contents</h2><ol>'
                + "".join(entries) + "</ol></div>")
    return html_text[:slot.start()] + contents + html_text[slot.end():]


_SAFE_TAGS = frozenset({
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "col", "colgroup", "dd", "del",
    "details", "div", "dl", "dt", "em", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5",
    "h6", "hr", "i", "img", "ins", "kbd", "li", "mark", "ol", "p", "pre", "q", "s", "small",
    "span", "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead",
    "time", "tr", "u", "ul",
})
_SAFE_ATTRIBUTES = {
    "*": ["class", "id", "title", "style", "lang"],
    # data: is allowed for embedded charts only, never as a link target.
    "a": lambda tag, name, value: name == "name" or (
        name == "href" and value.strip().lower().startswith(("http://", "https://", "mailto:",
                                                             "#"))),
    "img": ["src", "alt", "width", "height"],
    "td": ["colspan", "rowspan", "align"], "th": ["colspan", "rowspan", "align", "scope"],
    "table": ["border"], "ol": ["start"], "col": ["span"],
}


_DATA_URI_RE = re.compile(r"(data:image/(?:png|jpeg|gif|webp);base64,)([A-Za-z0-9+/]{64,}={0,2})")


_CLEANERS = threading.local()


def _html_cleaner():
    """One bleach Cleaner per thread (not thread-safe): an export calls it hundreds of times,
    and building its parser each time cost more than the cleaning."""
    cleaner = getattr(_CLEANERS, "cleaner", None)
    if cleaner is None:
        import bleach
        from bleach.css_sanitizer import CSSSanitizer

        cleaner = _CLEANERS.cleaner = bleach.Cleaner(
            tags=_SAFE_TAGS, attributes=_SAFE_ATTRIBUTES,
            protocols={"http", "https", "mailto", "data"}, css_sanitizer=CSSSanitizer(),
            strip=True, strip_comments=True)
    return cleaner


def clean_report_html(element) -> str:
    """Sanitise notebook-produced HTML/Markdown: report markup stays, scripts and handlers go.

    nbconvert's own ``clean_html`` drops headings and table headers, which a report needs.
    """
    import secrets

    text = element.decode() if isinstance(element, bytes) else str(element)
    # bleach tokenises every character of an attribute value, and an embedded chart is
    # 100 kB of base64: set the payloads aside while it works (about 30 ms a chart). Only pure
    # base64 is set aside and put back, and base64 has no character that means anything to
    # HTML, so the result is the same as cleaning the whole text. The random token cannot be
    # forged by the notebook; if the sanitiser drops an attribute, its payload is not restored.
    nonce = secrets.token_hex(8)
    payloads: list[str] = []

    def set_aside(match: re.Match) -> str:
        payloads.append(match.group(2))
        return f"{match.group(1)}ibdata{nonce}n{len(payloads) - 1}e"

    text = _DATA_URI_RE.sub(set_aside, text)
    cleaned = _html_cleaner().clean(text)
    if not payloads:
        return cleaned
    return re.sub(f"ibdata{nonce}n(\\d+)e", lambda m: payloads[int(m.group(1))], cleaned)


def section_failures(nb: NotebookNode) -> list[str]:
    """``"'<section>': <error>"`` for every report section that could not be produced."""
    found = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            value = (output.get("data") or {}).get(SECTION_FAILURE_MIME)
            if isinstance(value, dict):
                found.append(f"{str(value.get('section'))!r}: {value.get('error')}")
    return found


def _drop_machine_outputs(nb: NotebookNode) -> NotebookNode:
    """Remove the findings payload: it is for the manifest, not for readers."""
    for cell in nb.cells:
        if cell.get("cell_type") == "code":
            cell.outputs = [o for o in cell.get("outputs", [])
                            if FINDINGS_MIME not in o.get("data", {})
                            and SECTION_FAILURE_MIME not in o.get("data", {})]
    return nb


class ReportExporter:
    """nbconvert HTML (no code, no scripts, images inline) and a WeasyPrint PDF of it.

    Building this imports nbconvert and WeasyPrint and compiles the template; a worker builds
    it once and exports every report with it.
    """

    def __init__(self, page_size: str = "A4"):
        from nbconvert import HTMLExporter
        from nbconvert.preprocessors import TagRemovePreprocessor
        from traitlets.config import Config

        if page_size not in PAGE_SIZES:
            raise ParameterError("page_size", page_size, " or ".join(PAGE_SIZES))
        self.page_size = page_size
        config = Config()
        config.TagRemovePreprocessor.enabled = True
        config.TagRemovePreprocessor.remove_cell_tags = set(REMOVE_CELL_TAGS)
        config.TagRemovePreprocessor.remove_all_outputs_tags = {"remove_output", "remove-output"}
        self.html_exporter = HTMLExporter(
            config=config, template_name="impactbook",
            extra_template_basedirs=[str(TEMPLATES_DIR)])
        self.html_exporter.exclude_input = True
        self.html_exporter.exclude_input_prompt = True
        self.html_exporter.exclude_output_prompt = True
        self.html_exporter.embed_images = True
        # Notebook text and HTML outputs may carry user data (city names, news titles):
        # sanitise them so no script or handler from the workbook reaches a report.
        self.html_exporter.sanitize_html = True
        self.html_exporter.register_filter("clean_html", clean_report_html)
        self.html_exporter.register_preprocessor(TagRemovePreprocessor(config=config),
                                                 enabled=True)
        self.css = "\n".join((TEMPLATES_DIR / "impactbook" / name).read_text(encoding="utf-8")
                             for name in ("report.css", "print.css"))
        import weasyprint
        import weasyprint.images

        from impactbook.render import pdf_images

        self._weasyprint = weasyprint
        pdf_images.install(weasyprint.images)  # charts pass into the PDF without re-encoding
        # One orientation for the whole report: wide tables are fitted, never rotated.
        self._page_css = weasyprint.CSS(string=f"@page {{ size: {page_size}; }}")

    def to_html(self, nb: NotebookNode, title: str) -> str:
        nb = _tag_figures(_drop_machine_outputs(copy.deepcopy(nb)))
        nb.metadata["title"] = title
        resources = {
            "metadata": {"name": title},
            "impactbook": {"version": __version__, "css": self.css,
                           "generated": _dt.date.today().isoformat()},
        }
        body, _ = self.html_exporter.from_notebook_node(nb, resources=resources)
        return _fill_contents(_number_captions(_mark_wide_tables(body)))

    def to_pdf(self, html_text: str, base_dir: Path) -> bytes:
        document = self._weasyprint.HTML(string=html_text, base_url=str(base_dir),
                                         media_type="print")
        return document.write_pdf(stylesheets=[self._page_css])
