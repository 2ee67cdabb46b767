"""A report chart's PNG: drawn once at the dpi it was laid out at, encoded once (RGB when
opaque), and passed on as bytes to the notebook, the HTML page and the PDF."""

from __future__ import annotations

import base64
import io

import matplotlib
from matplotlib.figure import Figure

PNG_DPI = 144


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
    from matplotlib.backends.backend_agg import FigureCanvasAgg

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
