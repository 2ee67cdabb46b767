"""Charts pass into the PDF as their own PNG data (render/pdf_images.py), with the same pixels."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image
from pypdf import PdfReader

from impactbook.render import pdf_images


def _png(image: Image.Image, **kw) -> bytes:
    out = io.BytesIO()
    image.save(out, format="png", **kw)
    return out.getvalue()


def _chart_png() -> bytes:
    from matplotlib.figure import Figure

    from impactbook.report.plots import figure_to_png

    fig = Figure(figsize=(3, 2))
    fig.subplots().plot([0, 1, 2], [1, 3, 2], color="#b23a1e")
    return figure_to_png(fig)


def _images() -> dict[str, bytes]:
    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)
    rgba = np.dstack([pixels, rng.integers(0, 256, (40, 60, 1), dtype=np.uint8)])
    return {
        "chart": _chart_png(),
        "rgb": _png(Image.fromarray(pixels, "RGB")),
        "grey": _png(Image.fromarray(pixels[:, :, 0], "L")),
        "alpha": _png(Image.fromarray(rgba, "RGBA")),
        "palette": _png(Image.fromarray(pixels, "RGB").convert("P", palette=Image.ADAPTIVE)),
    }


def test_png_stream_takes_only_8_bit_rgb_or_grey_non_interlaced():
    images = _images()
    chart = Image.open(io.BytesIO(images["chart"]))
    assert chart.mode == "RGB"  # figure_to_png writes opaque charts as RGB
    assert pdf_images.png_stream(images["chart"], "RGB")
    assert pdf_images.png_stream(images["grey"], "L")
    assert pdf_images.png_stream(images["alpha"], "RGBA") is None
    assert pdf_images.png_stream(images["palette"], "P") is None
    assert pdf_images.png_stream(images["rgb"], "L") is None  # colour type must match the mode
    sixteen = _png(Image.new("I;16", (4, 4), 40000))
    assert Image.open(io.BytesIO(sixteen)).mode.startswith("I")
    assert pdf_images.png_stream(sixteen, "L") is None
    # Interlaced (Adam7): the IHDR's last byte; its IDAT is not a plain predictor stream.
    data = bytearray(images["rgb"])
    data[8 + 8 + 12] = 1
    assert pdf_images.png_stream(bytes(data), "RGB") is None
    assert pdf_images.png_stream(images["rgb"][:60], "RGB") is None  # truncated
    assert pdf_images.png_stream(b"GIF89a" + images["rgb"][6:], "RGB") is None


def test_pdf_images_keep_their_pixels_and_charts_are_passed_through(tmp_path):
    from impactbook.render.exporters.report import ReportExporter

    images = _images()
    page = "".join(f"<p>{name}</p><img src='data:image/png;base64,"
                   f"{base64.b64encode(data).decode()}' style='width:6cm'>"
                   for name, data in images.items())
    exporter = ReportExporter()  # installs the pass-through
    assert pdf_images.install(__import__("weasyprint.images").images)
    pdf = exporter.to_pdf(f"<html><body>{page}</body></html>", tmp_path)
    # Every page lists the document's images (one shared resource dictionary): by name, once.
    reader = PdfReader(io.BytesIO(pdf))
    shown = {image.name: image.image for page in reader.pages for image in page.images}
    assert len(shown) == len(images)
    for name, data in images.items():
        source = Image.open(io.BytesIO(data))
        mode = "L" if source.mode == "L" else "RGB"
        expected = np.asarray(source.convert(mode))
        assert any(np.array_equal(np.asarray(image.convert(mode)), expected)
                   for image in shown.values()), name
    # The chart's own IDAT bytes are the PDF's image stream: no second encoding.
    streams = [obj.get_object()._data for page in reader.pages
               for obj in page["/Resources"]["/XObject"].values()]
    assert pdf_images.png_stream(images["chart"], "RGB") in streams


def test_install_refuses_a_weasyprint_of_another_shape():
    class Other:
        @staticmethod
        def _get_png_data(image, extra):
            return b""

    class Module:
        RasterImage = Other

    assert pdf_images.install(Module) is False
    assert pdf_images.install(object()) is False


@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_png_stream_is_pillows_own_idat(mode):
    data = _png(Image.new(mode, (7, 5), 90))
    assert pdf_images.png_stream(data, mode).startswith(b"x")  # a zlib stream
