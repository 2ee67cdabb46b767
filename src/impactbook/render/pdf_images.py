"""Charts go into the PDF as the PNG data they already are, not decoded and encoded again.

WeasyPrint puts a PNG into the PDF as a FlateDecode image stream with PNG predictors, which is
exactly the concatenated IDAT chunks of an 8-bit, non-interlaced PNG. To get them it decodes the
image and saves it again with zlib (``RasterImage._get_png_data``): for the 22 charts of New
York's report about 0.45 s, a quarter of making its PDF. The charts written by
:func:`~impactbook.report.plots.figure_to_png` are already such PNGs (8-bit RGB), so their own
IDAT chunks are passed through: the same pixels, without the second encoding. Any other image
(16-bit, palette, interlaced, with alpha, or one WeasyPrint converted first) goes WeasyPrint's
own way.

The hook replaces one private static method of WeasyPrint, so it is installed only where that
method exists with the shape it had in the versions this was written against (60 to 70); a test
renders a page both ways and compares the pixels.
"""

from __future__ import annotations

import inspect
import io
import struct

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# IHDR colour types whose pixels WeasyPrint writes as /DeviceGray (0) or /DeviceRGB (2).
COLOUR_TYPE_OF_MODE = {"L": 0, "RGB": 2}


def png_stream(data: bytes, mode: str) -> bytes | None:
    """The joined IDAT chunks of ``data`` if it is an 8-bit, non-interlaced PNG in ``mode``
    (``"L"`` or ``"RGB"``), else None."""
    if not data.startswith(PNG_SIGNATURE) or mode not in COLOUR_TYPE_OF_MODE:
        return None
    pos, idat, header = len(PNG_SIGNATURE), [], None
    while pos + 8 <= len(data):
        length, kind = struct.unpack_from("!I4s", data, pos)
        body = data[pos + 8:pos + 8 + length]
        if len(body) != length:
            return None  # truncated: let WeasyPrint (and Pillow) say what is wrong
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
        pos += 12 + length  # length, type, data, CRC
    if header is None or len(header) != 13 or not idat:
        return None
    bit_depth, colour_type, _compression, _filter, interlace = header[8:13]
    if bit_depth != 8 or interlace != 0 or colour_type != COLOUR_TYPE_OF_MODE[mode]:
        return None
    return b"".join(idat)


def install(weasyprint_images) -> bool:
    """Make ``weasyprint.images.RasterImage`` pass suitable PNGs through; True if installed."""
    raster = getattr(weasyprint_images, "RasterImage", None)
    original = inspect.getattr_static(raster, "_get_png_data", None) if raster else None
    if getattr(original, "_impactbook", False):
        return True
    if not isinstance(original, staticmethod):
        return False
    try:
        if list(inspect.signature(original.__func__).parameters) != ["pillow_image"]:
            return False
    except (TypeError, ValueError):
        return False
    fallback = original.__func__

    def get_png_data(pillow_image):
        source = getattr(pillow_image, "fp", None)
        if getattr(pillow_image, "format", None) == "PNG" and isinstance(source, io.BytesIO):
            stream = png_stream(source.getvalue(), pillow_image.mode)
            if stream is not None:
                return stream
        return fallback(pillow_image)

    get_png_data._impactbook = True
    raster._get_png_data = staticmethod(get_png_data)
    return True
