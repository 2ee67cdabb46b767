"""The building blocks every report section is made of: headings, figures, tables, lists.

A section's heading is held until its first block is shown (so no page break falls between
them), a failing section shows a visible box and marks the report failed, every piece of text
is escaped, and a figure keeps its caption.
"""

from __future__ import annotations

import contextvars
import functools
import html

import pandas as pd
from IPython.display import HTML, display

from impactbook.defaults import SECTION_FAILURE_MIME
from impactbook.fsutil import slugify

#: Where the export puts the table of contents (the section headings it finds).
TOC_SLOT = "<div class='ib-toc'></div>"

# A section's heading waits to be shown with the section's first block, so that a page break
# can never fall between a heading and what it introduces.
_PENDING_HEADING: contextvars.ContextVar[str] = contextvars.ContextVar("heading", default="")


def escape_html(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def drop_pending_heading() -> None:
    """Forget the current section's heading: a section with nothing to show shows no heading."""
    _PENDING_HEADING.set("")


def show_html(markup: str) -> None:
    """Display one block of report HTML, headed by the section heading if still pending."""
    heading = _PENDING_HEADING.get()
    _PENDING_HEADING.set("")
    display(HTML(heading + markup))


def section(title: str):
    """Head the section with ``title``, run it, and show a failure box if it raises."""

    def wrap(func):
        @functools.wraps(func)
        def run(*args, **kwargs):
            _PENDING_HEADING.set(f"<h2 class='ib-section' id='{escape_html(slugify(title))}'>"
                                 f"{escape_html(title)}</h2>")
            try:
                return func(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - a report shows its failures
                show_html("<div class='ib-failure'><strong>This section could not be produced."
                      f"</strong> {escape_html(type(exc).__name__)}: {escape_html(exc)}</div>")
                # ... and the renderer marks the report failed: a report missing a section
                # (a chart, say) is never recorded or mailed as a good one.
                error = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
                display({SECTION_FAILURE_MIME: {"section": title, "error": error},
                         "text/plain": f"section {title!r} failed"}, raw=True)
                return None
            finally:
                if _PENDING_HEADING.get():
                    show_html("")

        return run

    return wrap


def figure_html(fig, caption_html: str, alt: str) -> str:
    """A chart and its caption as one block (the export numbers the captions)."""
    from impactbook.report.plots import figure_data_uri

    return (f"<figure class='ib-figure'><img src='{figure_data_uri(fig)}' alt='{escape_html(alt)}'>"
            f"<figcaption>{caption_html}</figcaption></figure>")


def html_table(frame: pd.DataFrame, caption: str, *, text_columns: int = 1,
           is_long: bool = False) -> str:
    """A table with a caption (numbered by the export); the first ``text_columns`` columns
    are text (left-aligned), the others figures (right-aligned). A long table may break
    across printed pages (its header repeats); a short one is kept whole."""
    def cell(tag: str, i: int, value: object) -> str:
        classes = ["ib-text"] if i < text_columns else []
        text = str(value)
        if tag == "td" and " " not in text and len(text) <= 16:  # "2013-01", "-52%": whole
            classes.append("ib-word")
        css = f" class='{' '.join(classes)}'" if classes else ""
        scope = " scope='col'" if tag == "th" else ""
        return f"<{tag}{scope}{css}>{escape_html(value)}</{tag}>"

    head = "".join(cell("th", i, c) for i, c in enumerate(frame.columns))
    body = "".join("<tr>" + "".join(cell("td", i, v) for i, v in enumerate(row)) + "</tr>"
                   for row in frame.itertuples(index=False))
    css = "ib-table ib-long" if is_long else "ib-table"
    return (f"<table class='{css}'><caption>{escape_html(caption)}</caption><thead><tr>{head}"
            f"</tr></thead><tbody>{body}</tbody></table>")


def html_list(items, css: str) -> str:
    if not items:
        return ""
    return f"<ul class='{css}'>" + "".join(f"<li>{escape_html(i)}</li>" for i in items) + "</ul>"
