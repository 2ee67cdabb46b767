"""Page-layout checks on a rendered PDF: how full each page's text area is, and whether a page
ends on a heading whose content went to the next page.

Fill is measured on the page as printed (poppler's ``pdftoppm`` renders it to greys): the
lowest inked row inside the text area (the page minus the margins that hold the running head
and the page number) over the text area's height.
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from PIL import Image
from pypdf import PdfReader

DPI = 30
MM_PER_INCH = 25.4
#: The report's @page margins (print.css): top holds the running head, bottom the page number.
TOP_MARGIN_MM, BOTTOM_MARGIN_MM = 18, 20
INK_LEVEL = 200  # a grey darker than this is ink (0 black, 255 white)
MIN_FILL = 0.5   # a page (other than the last) must use at least half its text area


def has_pdftoppm() -> bool:
    return shutil.which("pdftoppm") is not None


def page_fills(pdf: Path) -> list[float]:
    """For each page, how far down its text area the ink reaches (0 empty, 1 full)."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["pdftoppm", "-r", str(DPI), "-gray", "-png", str(pdf),
                        str(Path(tmp) / "page")], check=True, capture_output=True)
        pages = sorted(Path(tmp).glob("page-*.png"), key=lambda p: int(p.stem.split("-")[1]))
        fills = []
        for path in pages:
            image = Image.open(path).convert("L")
            width, height = image.size
            top = round(TOP_MARGIN_MM / MM_PER_INCH * DPI)
            bottom = height - round(BOTTOM_MARGIN_MM / MM_PER_INCH * DPI)
            pixels = image.load()
            last_ink = top
            for y in range(top, bottom):
                if any(pixels[x, y] < INK_LEVEL for x in range(width)):
                    last_ink = y
            fills.append((last_ink - top) / (bottom - top))
    return fills


def mostly_empty_pages(pdf: Path) -> list[tuple[int, float]]:
    """(page number, fill) of each page but the last whose text area is mostly empty."""
    fills = page_fills(pdf)
    return [(i + 1, round(f, 2)) for i, f in enumerate(fills[:-1]) if f < MIN_FILL]


def _squash(text: str) -> str:
    return " ".join(text.split())


def headings_of(html_text: str) -> set[str]:
    """Section and sub-section headings (h2 to h4; the title h1 is also the running head)."""
    found = re.findall(r"<h[2-4]\b[^>]*>(.*?)</h[2-4]>", html_text, re.DOTALL | re.IGNORECASE)
    return {_squash(html.unescape(re.sub(r"<[^>]+>", "", h)).replace("\u00b6", ""))
            for h in found} - {""}


# The page number and footer, and list markers that text extraction leaves on lines of their own.
_RUNNING = re.compile(r"^(Page \d+ of \d+( impactbook)?|impactbook|\d+\.|\u2022)$")


def stranded_headings(pdf: Path, html_text: str) -> list[tuple[int, str]]:
    """(page number, heading) where a page other than the last ends on a heading."""
    headings = headings_of(html_text)
    pages = PdfReader(str(pdf)).pages
    stranded = []
    for number, page in enumerate(pages[:-1], start=1):
        lines = [_squash(line) for line in page.extract_text().splitlines()]
        lines = [line for line in lines if line and not _RUNNING.match(line)]
        if lines and lines[-1] in headings:
            stranded.append((number, lines[-1]))
    return stranded
