"""The report charts' layout: every axes placed from the few texts around it, in two light passes.

Constrained layout placed each chart's axes from their full tight bounding boxes, measured
twice per layout: every tick made and every text laid out twice before the chart was drawn
once more, about 40 % of drawing a report's charts. A report chart is a single column of axes
(one or two panels sharing the x axis) whose decorations are known: tick labels, axis labels,
titles, a figure title, and texts placed outside the axes. :class:`ChartLayout` measures only
those texts and leaves the same margins as constrained layout with its default pads did (3
points round every axes and the figure title), so the charts look as they did.
"""

from __future__ import annotations

import textwrap

from matplotlib.figure import Figure
from matplotlib.layout_engine import ConstrainedLayoutEngine, LayoutEngine
from matplotlib.transforms import Bbox

from impactbook.report.chart_png import ChartCanvas

PAD_PT = 3.0  # constrained layout's default w_pad and h_pad (0.04167 inch)
_TITLES = ("title", "_left_title", "_right_title")  # matplotlib's three title places


class ChartLayout(LayoutEngine):
    """Places a report chart's axes (one column; rows by their gridspec's height ratios) so
    their titles and labels lie inside the figure, and the figure title above them."""

    _adjust_compatible = False
    _colorbar_gridspec = False

    def execute(self, fig) -> None:
        if not is_single_column(fig):
            # A chart a script has extended (a second column, a colorbar): the general engine.
            ConstrainedLayoutEngine().execute(fig)
            return
        canvas = fig.canvas if hasattr(fig.canvas, "get_renderer") else ChartCanvas(fig)
        renderer = canvas.get_renderer()
        # Twice, as constrained layout does: tick labels at the ends of an axis move with its
        # width, and texts placed in axes fractions with its height.
        for _ in range(2):
            place_axes(fig, renderer)


def is_single_column(fig) -> bool:
    """Whether every axes of ``fig`` is a subplot of one single-column grid (a report chart)."""
    specs = [ax.get_subplotspec() for ax in fig.axes]
    if not specs or any(spec is None for spec in specs):
        return False
    grids = {id(spec.get_gridspec()) for spec in specs}
    return len(grids) == 1 and specs[0].get_gridspec().ncols == 1


def place_axes(fig, renderer) -> None:
    """Set the position of every axes of ``fig`` from the decorations around it."""
    axes = fig.axes
    width, height = fig.bbox.width, fig.bbox.height
    pad = PAD_PT * fig.dpi / 72
    top_px = 0.0
    suptitle = fig._suptitle  # noqa: SLF001 - the figure's own title (no public accessor)
    if suptitle is not None and suptitle.get_text():
        suptitle.set_y(1 - pad / height)
        top_px = suptitle.get_window_extent(renderer).height + 2 * pad
    reaches = {ax: outside_reach(ax, renderer) for ax in axes}
    left = pad + max(reach[0] for reach in reaches.values())
    right = pad + max(reach[2] for reach in reaches.values())
    gridspec = axes[0].get_subplotspec().get_gridspec()
    ratios = gridspec.get_height_ratios() or [1] * gridspec.nrows
    rows: dict[int, list[float]] = {}  # row -> [bottom reach, top reach]
    for ax, (_, bottom, _, top) in reaches.items():
        row = ax.get_subplotspec().rowspan.start
        below, above = rows.get(row, (0.0, 0.0))
        rows[row] = [max(below, bottom), max(above, top)]
    spare = height - top_px - sum(2 * pad + b + t for b, t in rows.values())
    if spare <= 0 or left + right >= width:
        # No room (a title wider than the figure, say): the axes stay where they are, as with
        # constrained layout, until fit_texts has wrapped the text that takes the room.
        return
    share = spare / sum(ratios[row] for row in rows)
    y1, boxes = height - top_px, {}
    for row in sorted(rows):
        bottom, top = rows[row]
        y1 -= pad + top
        y0 = y1 - share * ratios[row]
        boxes[row] = (y0, y1)
        y1 = y0 - bottom - pad
    for ax in axes:
        y0, y1 = boxes[ax.get_subplotspec().rowspan.start]
        ax.set_position(Bbox.from_extents(left / width, y0 / height, 1 - right / width,
                                          y1 / height))
        ax.set_in_layout(True)  # set_position takes it out of any later layout: not wanted


def outside_reach(ax, renderer) -> tuple[float, float, float, float]:
    """How far (pixels: left, bottom, right, top) the texts of ``ax`` reach outside its box."""
    box = ax.bbox
    px = ax.figure.dpi / 72
    boxes = []
    # The limits as drawn (autoscaled now if pending): the ticks and data-placed texts use them.
    x_ticks = _tick_label_boxes(ax.xaxis, ax.get_xlim(), renderer)
    y_ticks = _tick_label_boxes(ax.yaxis, ax.get_ylim(), renderer)
    boxes += x_ticks + y_ticks
    label = ax.xaxis.label
    if label.get_visible() and label.get_text():
        # Where matplotlib puts it when drawing: below the tick labels (or the ticks).
        top = min([b.y0 for b in x_ticks] + [box.y0 - _tick_out(ax.xaxis, px)])
        top -= ax.xaxis.labelpad * px
        # Its height only, as constrained layout counted it: its width is fit_texts' to fix.
        boxes.append(Bbox.from_extents(box.x0, top - _size(label, renderer)[1], box.x1, top))
    label = ax.yaxis.label
    if label.get_visible() and label.get_text():
        right = min([b.x0 for b in y_ticks] + [box.x0 - _tick_out(ax.yaxis, px)])
        right -= ax.yaxis.labelpad * px
        # Its width only (its length is fit_texts' to fix).
        boxes.append(Bbox.from_extents(right - _size(label, renderer)[0], box.y0, right, box.y1))
    for name in _TITLES:
        title = getattr(ax, name)
        if title.get_visible() and title.get_text():  # its height only, as the x label's
            extent = title.get_window_extent(renderer)
            boxes.append(Bbox.from_extents(box.x0, extent.y0, box.x1, extent.y1))
    for text in ax.texts:  # notes and annotations, as far as their clipping lets them reach
        extent = text.get_tightbbox(renderer) if text.get_visible() else None
        if extent is not None and text.get_text():
            boxes.append(extent)
    if not boxes:
        return 0.0, 0.0, 0.0, 0.0
    union = Bbox.union(boxes)
    return (max(0.0, box.x0 - union.x0), max(0.0, box.y0 - union.y0),
            max(0.0, union.x1 - box.x1), max(0.0, union.y1 - box.y1))


def _tick_label_boxes(axis, limits, renderer) -> list[Bbox]:
    """The boxes of the major tick labels drawn (visible, inside the axis ``limits``)."""
    low, high = sorted(limits)
    span = high - low
    boxes = []
    for text in axis.get_majorticklabels():
        loc = text.get_position()[0 if axis.axis_name == "x" else 1]
        # matplotlib draws a tick a hair outside the view too (rounding of the limits).
        if text.get_text() and low - 1e-10 * span <= loc <= high + 1e-10 * span:
            boxes.append(text.get_window_extent(renderer))
    return boxes


def _tick_out(axis, px: float) -> float:
    """How far the major tick marks stand outside the axes, pixels."""
    ticks = axis.get_major_ticks()
    return ticks[0].get_tick_padding() * px if ticks else 0.0


def _size(text, renderer) -> tuple[float, float]:
    extent = text.get_window_extent(renderer)
    return extent.width, extent.height


def fit_texts(fig: Figure, *, max_rounds: int = 6) -> Figure:
    """Lay the figure out, wrapping axis titles and labels until each lies inside it.

    The layout engine makes room for text but cannot shorten a line wider than the figure;
    this measures every title and axis label after a layout pass and re-wraps the ones that
    stick out (words stay whole). Only the layout runs here, not a draw: the figure is drawn
    once, by :func:`figure_to_png`, at the positions this pass leaves.
    """
    canvas = fig.canvas if hasattr(fig.canvas, "get_renderer") else ChartCanvas(fig)
    engine = fig.get_layout_engine()
    for _ in range(max_rounds):
        renderer = canvas.get_renderer()
        if engine is not None:
            engine.execute(fig)
        width, height = fig.bbox.width, fig.bbox.height
        overflowing = False
        for ax in fig.axes:
            # matplotlib keeps a left-, centre- and right-placed title per axes.
            titles = [getattr(ax, name) for name in ("_left_title", "title", "_right_title")]
            if fig._suptitle is not None:  # noqa: SLF001 - the figure's own title
                titles.append(fig._suptitle)  # noqa: SLF001
            for text in (*titles, ax.xaxis.label, ax.yaxis.label):
                content = text.get_text()
                if not content:
                    continue
                box = text.get_window_extent(renderer)
                is_vertical = text is ax.yaxis.label
                # A y label longer than its own axes runs into the panel above or below.
                limit = (min(height, ax.bbox.height + 8) if is_vertical else width) - 4
                if _fits(box, is_vertical, width, height, limit):
                    continue
                span = box.height if is_vertical else box.width
                longest = max(len(line) for line in content.splitlines())
                room = limit - (0.0 if is_vertical else max(0.0, box.x0))
                chars = max(12, int(longest * min(0.95, room / max(span, 1.0))))
                text.set_text(textwrap.fill(" ".join(content.split()), chars))
                overflowing = True
        if not overflowing:
            break
    # Laid out and not changed since: figure_to_png draws it as it is. Any later change to
    # the figure marks it stale again and gets a fresh layout there.
    fig.stale = False
    return fig


def _fits(box, is_vertical: bool, width: float, height: float, limit: float) -> bool:
    """Whether a title or axis label lies inside the figure, a few pixels from each edge, and
    is at most ``limit`` pixels long.

    A few pixels' margin: a glyph touching the edge is already cut. The y-axis label is
    vertical: only its length can be fixed by wrapping, and its horizontal place is the
    layout's (set at drawing time, left of the tick labels).
    """
    if is_vertical:
        return box.height <= limit and box.y0 >= 2 and box.y1 <= height - 2
    return box.x0 >= 0 and box.x1 <= width - 3 and box.width <= limit
