"""Every chart kind draws the same picture as before its layout was made cheaper.

The reference images in ``tests/fixtures/charts/`` were drawn with constrained layout (see
``make_references.py`` there); the charts now use :class:`ChartLayout`, which measures only the
texts around each axes. Same size, a mean absolute difference under ``TOLERANCE`` (of 255, over
every pixel and channel), and no title, label or tick label outside the figure.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from impactbook.report.chart_layout import ChartLayout
from impactbook.report.plots import figure_to_png

from .chart_inputs import CHARTS
from .conftest import FIXTURES
from .test_layout import _texts_inside

REFERENCES = FIXTURES / "charts"
# Of 255. Measured: at most 0.004 (a few anti-aliased pixels); one pixel's shift of the axes
# gives 3 to 7, so a moved axes or a re-wrapped title fails.
TOLERANCE = 0.5


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=float)


@pytest.mark.parametrize("name", sorted(CHARTS))
def test_each_chart_kind_draws_the_reference_picture(name):
    fig = CHARTS[name]()
    assert isinstance(fig.get_layout_engine(), ChartLayout)
    drawn = _pixels(figure_to_png(fig))
    reference = _pixels((REFERENCES / f"{name}.png").read_bytes())
    assert drawn.shape == reference.shape
    assert np.abs(drawn - reference).mean() < TOLERANCE, name
    assert _texts_inside(fig) == []


def test_the_tolerance_tells_a_shifted_picture_apart():
    reference = _pixels((REFERENCES / "outcome_with_comparison.png").read_bytes())
    shifted = np.roll(reference, 1, axis=1)
    assert np.abs(shifted - reference).mean() > 4 * TOLERANCE


def test_a_chart_a_script_extends_with_a_second_column_is_still_laid_out_inside():
    from matplotlib.gridspec import GridSpec

    fig = CHARTS["placebo"]()
    fig.axes[0].set_subplotspec(GridSpec(1, 2, figure=fig)[0, 0])
    extra = fig.add_subplot(1, 2, 2)
    extra.set_ylabel("a second panel's own label")
    extra.set_title("Added by a script")
    figure_to_png(fig)
    assert fig.axes[0].get_position().x1 < extra.get_position().x0  # side by side
    assert _texts_inside(fig) == []


def test_the_chart_renderer_lays_texts_out_as_matplotlib_does():
    # ChartRenderer answers matplotlib's font-metrics question from a table: every text of a
    # chart must get the box matplotlib's own Agg renderer gives it (titles, labels, ticks).
    from matplotlib.backends.backend_agg import RendererAgg

    from impactbook.report.chart_png import ChartRenderer

    fig = CHARTS["outcome_with_comparison"]()
    assert isinstance(fig.canvas.get_renderer(), ChartRenderer)
    texts = [text for text in fig.findobj(lambda artist: hasattr(artist, "get_text"))
             if text.get_text()]
    assert len(texts) > 20
    width, height = fig.canvas.get_width_height(physical=True)
    plain = RendererAgg(width, height, fig.dpi)
    for text in texts:
        assert (text.get_window_extent(fig.canvas.get_renderer()).bounds
                == text.get_window_extent(plain).bounds), text.get_text()
