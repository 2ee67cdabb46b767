"""Sanitising the HTML and Markdown a report notebook produced (nbconvert's ``clean_html``
filter of the report exporters)."""

from __future__ import annotations

import re
import threading

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
