"""A report chart's PNG: drawn once at the dpi it was laid out at, encoded once (RGB when
opaque), and passed on as bytes to the notebook, the HTML page and the PDF."""

from __future__ import annotations

import base64
import io

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import fontManager, get_font

PNG_DPI = 144


class ChartRenderer(RendererAgg):
    """matplotlib's Agg renderer, with each font's line metrics looked up once.

    matplotlib 3.11 lays out every text (each measuring and each drawing of a title, label or
    tick label: some 2,600 for a report's charts) by finding its font and reading two of the
    font's tables again, about a tenth of the charts' time. It asks the renderer first
    (``_get_font_height_metrics``, the hook its PDF and PS renderers use); this answers from a
    table of the few fonts the charts use, with the numbers matplotlib would compute itself,
    so the pictures are the same. A matplotlib without the hook never calls it.
    """

    def _get_font_height_metrics(self, prop):
        # Two FontProperties are equal when their hashes are: matplotlib's own rule.
        key = hash(prop), self.dpi
        metrics = _HEIGHT_METRICS.get(key)
        if metrics is None:
            if len(_HEIGHT_METRICS) > 256:  # a script drawing many sizes: stay small
                _HEIGHT_METRICS.clear()
            metrics = _HEIGHT_METRICS[key] = font_height_metrics(prop, self.dpi)
        return metrics


_HEIGHT_METRICS: dict[tuple[int, float], tuple] = {}


def font_height_metrics(prop, dpi: float) -> tuple:
    """(ascent, descent, line gap) in pixels of the font ``prop`` names, as ``Text`` computes
    them (the OS/2 table, else hhea); ``None`` three times when the font has neither."""
    font = get_font(fontManager._find_fonts_by_props(prop))  # noqa: SLF001 - as Text does
    for table_name, gap_key, ascent_key, descent_key in (
            ("OS/2", "sTypoLineGap", "sTypoAscender", "sTypoDescender"),
            ("hhea", "lineGap", "ascent", "descent")):
        table = font.get_sfnt_table(table_name)
        if table is None:
            continue
        scale = 1 / font.get_sfnt_table("head")["unitsPerEm"] * prop.get_size_in_points() \
            * dpi / 72
        return table[ascent_key] * scale, -table[descent_key] * scale, table[gap_key] * scale
    return None, None, None


class ChartCanvas(FigureCanvasAgg):
    """An Agg canvas drawing with :class:`ChartRenderer`."""

    def get_renderer(self):
        width, height = self.get_width_height(physical=True)
        key = width, height, self.figure.dpi
        if self._lastKey != key:  # as FigureCanvasAgg: a new renderer only for a new size
            self.renderer = ChartRenderer(width, height, self.figure.dpi)
            self._lastKey = key
        return self.renderer


def figure_to_png(fig: Figure, *, dpi: int = PNG_DPI) -> bytes:
    """PNG bytes of a figure (no pyplot state, so nothing leaks between reports).

    The charts are opaque (white figure background), so they are stored as RGB rather than
    matplotlib's RGBA: the same pixels, a smaller file, and WeasyPrint embeds an RGB PNG in the
    PDF without first splitting an all-opaque alpha channel into a separate mask image. A figure
    that really is transparent somewhere keeps its alpha channel.
    """
    from PIL import Image

    from impactbook.report.plots import STYLE  # plots imports this module for its figures

    with matplotlib.rc_context(STYLE):  # tick labels are made while drawing: same text rules
        raw = _rgba(fig, dpi)
    # Agg renders int(size in inches x dpi) pixels each way, as savefig(format="png") does.
    width, height = (int(side) for side in fig.get_size_inches() * dpi)
    if len(raw) != width * height * 4:  # not the canvas we expected: let matplotlib encode
        buffer = io.BytesIO()
        with matplotlib.rc_context(STYLE):
            fig.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
        return buffer.getvalue()
    image = Image.frombuffer("RGBA", (width, height), raw, "raw", "RGBA", 0, 1)
    if image.getextrema()[3][0] == 255:
        image = image.convert("RGB")
    out = io.BytesIO()
    # zlib level 3: the same pixels as the default 6, a third less time, and no larger for
    # charts (long runs of one colour compress as well at either level).
    image.save(out, format="png", dpi=(dpi, dpi), compress_level=3)
    return out.getvalue()


def _rgba(fig: Figure, dpi: int) -> bytes:
    """The figure's pixels, drawn once when it is laid out already.

    With a layout engine, ``savefig`` draws the figure once without rendering (to lay it out)
    and again to render it. A figure laid out on an Agg canvas since its last change (not
    ``stale``, as :func:`~impactbook.report.chart_layout.fit_texts` leaves it) keeps the
    positions that layout gave it (fractions of the figure, the same at any dpi) and is
    rendered once; any other figure goes through ``savefig``. The engine is put back, so a
    script that changes the figure afterwards gets a fresh layout.
    """
    engine, canvas = fig.get_layout_engine(), fig.canvas
    if fig.stale or engine is None or not isinstance(canvas, FigureCanvasAgg):
        buffer = io.BytesIO()
        fig.savefig(buffer, format="rgba", dpi=dpi)
        return buffer.getvalue()
    shown_dpi = fig.dpi
    fig.set_layout_engine("none")  # a placeholder: the draw keeps the current positions
    fig.dpi = dpi
    try:
        canvas.draw()
        return bytes(canvas.buffer_rgba())
    finally:
        fig.dpi = shown_dpi
        fig.set_layout_engine(engine)


def figure_data_uri(fig: Figure) -> str:
    return "data:image/png;base64," + base64.b64encode(figure_to_png(fig)).decode("ascii")
