"""Downloads: smaller sizes that never upscale, and metadata every reader finds again (read back with Pillow)."""

from __future__ import annotations

import io
import json
import struct
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from imagechat.core import codec
from imagechat.core.errors import InvalidImage

FORMATS = ["png", "jpeg", "webp"]
SIZES = [None, 1024, 512]
NS = {"rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#", "dc": "http://purl.org/dc/elements/1.1/",
      "exif": "http://ns.adobe.com/exif/1.0/", "xmp": "http://ns.adobe.com/xap/1.0/",
      "Iptc4xmpExt": "http://iptc.org/std/Iptc4xmpExt/2008-02-29/", "imagechat": codec.XMP_NAMESPACE}
# Everything that breaks naive XML or header writers: quotes, markup, entities, CDATA end, non-Latin
# scripts, emoji (outside the BMP), line breaks and a carriage return.
HOSTILE = 'A "boat" <b>&amp;</b> ]]> on the sea — 雪の港 🚣 ünïcødé\nsecond line\r\nthird & \'last\''


def _meta(prompt: str = HOSTILE, revised: str | None = "Revised: " + HOSTILE) -> codec.Embedded:
    fields = {"imagechat_id": "7f1d3c1e-0000-4000-8000-000000000001", "prompt": prompt, "revised_prompt": revised,
              "style": "watercolor", "engine": "offline", "model": "painter-2", "seed": 424242,
              "width": 1536, "height": 1024, "created": "2026-11-29T21:00:00+00:00"}
    return codec.Embedded(description=prompt, parameters=f"{prompt}\nRevised prompt: {revised}\nSeed: 424242",
                          fields=fields, created=datetime(2026, 11, 29, 21, 0, tzinfo=UTC),
                          source_type="http://cv.iptc.org/newscodes/digitalsourcetype/algorithmicMedia")


def _picture(w: int, h: int, mode: str = "RGB") -> Image.Image:
    rng = np.random.default_rng(w * 7 + h)
    channels = len(mode)
    return Image.fromarray(rng.integers(0, 256, (h, w, channels), dtype=np.uint8).squeeze(), mode)


def _stored(w: int = 1536, h: int = 1024, fmt: str = "webp", mode: str = "RGB") -> bytes:
    return codec.encode(_picture(w, h, mode), fmt, quality=85)


def _open(data: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    im.load()
    return im


def _xmp(im: Image.Image) -> ET.Element:
    raw = im.info["xmp"]
    return ET.fromstring(raw if isinstance(raw, bytes) else raw.encode("utf-8"))


def _xmp_fields(root: ET.Element) -> tuple[str, str, dict]:
    description = root.find(".//dc:description/rdf:Alt/rdf:li", NS).text
    comment = root.find(".//exif:UserComment/rdf:Alt/rdf:li", NS).text
    return description, comment, json.loads(root.find(".//imagechat:json", NS).text)


def _exif_texts(im: Image.Image) -> tuple[str, str, str]:
    exif = im.getexif()
    # Pillow reads the ASCII tag as Latin-1; the bytes are UTF-8.
    description = exif[0x010E].encode("latin-1").decode("utf-8")
    comment = exif.get_ifd(0x8769)[0x9286]
    assert comment[:8] == b"UNICODE\x00"
    order = "utf-16-le" if im.getexif().tobytes()[6:8] == b"II" else "utf-16-be"
    return description, exif[0x0131], comment[8:].decode(order)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("fmt", FORMATS)
def test_metadata_round_trips_in_every_format_and_size(fmt, size):
    meta = _meta()
    out = codec.render_download(_stored(), fmt, long_side=size, meta=meta)
    im = _open(out)
    assert im.format == {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}[fmt]
    assert im.size == {None: (1536, 1024), 1024: (1024, 683), 512: (512, 341)}[size]
    description, comment, fields = _xmp_fields(_xmp(im))
    assert description == HOSTILE and comment == meta.parameters and fields == meta.fields
    assert _xmp(im).find(".//Iptc4xmpExt:DigitalSourceType", NS).text == meta.source_type
    if fmt == "png":
        assert im.text["Description"] == HOSTILE and im.text["Software"] == "imagechat"
        assert im.text["parameters"] == meta.parameters
        assert json.loads(im.text[codec.PNG_JSON_KEY]) == meta.fields
    else:
        assert _exif_texts(im) == (HOSTILE, "imagechat", meta.parameters)
        assert im.getexif()[0x0132] == "2026:11:29 21:00:00"


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_small_image_is_never_enlarged(fmt):
    stored = _stored(300, 200)
    for size in (1024, 512, 300):
        assert _open(codec.render_download(stored, fmt, long_side=size, meta=_meta())).size == (300, 200)
    assert _open(codec.render_download(stored, fmt, long_side=299, meta=_meta())).size == (299, 199)


@pytest.mark.parametrize("w,h,size,expected", [
    (1024, 1024, 512, (512, 512)), (1792, 1024, 1024, (1024, 585)), (1024, 1792, 512, (293, 512)),
    (4000, 200, 512, (512, 26)), (1024, 1024, 1024, (1024, 1024)), (1025, 3, 512, (512, 1)),
])
def test_fitted_size_keeps_the_aspect_ratio(w, h, size, expected):
    assert codec.fitted_size(w, h, size) == expected
    assert codec.fitted_size(w, h, None) == (w, h)


def test_resampling_is_smooth_not_nearest_neighbour():
    """A one-pixel checkerboard halved must average to grey; nearest-neighbour would keep pure black or white."""
    board = (np.indices((64, 64)).sum(axis=0) % 2 * 255).astype(np.uint8)
    stored = codec.encode(Image.fromarray(board, "L").convert("RGB"), "png", quality=90)
    small = np.asarray(_open(codec.render_download(stored, "png", long_side=32)).convert("L"), dtype=float)
    assert small.shape == (32, 32) and 100 < small.mean() < 155 and small.std() < 20


def test_same_format_and_size_keeps_the_stored_pixels():
    """No second lossy encode: the stored WebP's image data is carried over byte for byte."""
    stored = _stored(640, 480, "webp")
    out = codec.render_download(stored, "webp", long_side=1024, meta=_meta())
    assert stored[12:] in out  # the VP8 chunk, untouched, inside the extended container
    assert np.array_equal(np.asarray(_open(out)), np.asarray(_open(stored)))


@pytest.mark.parametrize("fmt", FORMATS)
def test_embedding_twice_replaces_instead_of_duplicating(fmt):
    once = codec.embed_metadata(_stored(64, 48, fmt), _meta("first prompt"))
    twice = codec.embed_metadata(once, _meta("second prompt"))
    assert b"first prompt" not in twice and twice.count(b"second prompt") >= 2
    im = _open(twice)
    assert _xmp_fields(_xmp(im))[0] == "second prompt"


@pytest.mark.parametrize("mode,lossless", [("RGBA", False), ("RGBA", True), ("RGB", True), ("RGB", False)])
def test_webp_variants_keep_alpha_and_pixels(mode, lossless):
    """Simple lossy (VP8), lossless (VP8L, alpha bit) and extended (VP8X + ALPH) inputs all stay valid."""
    pic = _picture(80, 60, mode)
    stored = codec.encode(pic, "webp", quality=90, lossless=lossless)
    out = _open(codec.embed_metadata(stored, _meta()))
    assert out.mode == _open(stored).mode == mode and out.size == (80, 60)
    assert np.array_equal(np.asarray(out), np.asarray(_open(stored)))
    header = codec.embed_metadata(stored, _meta())
    assert header[12:16] == b"VP8X" and header[20] & 0x0C == 0x0C  # EXIF and XMP flags set
    assert bool(header[20] & 0x10) == (mode == "RGBA")  # alpha flag only when there is alpha
    assert struct.unpack("<I", header[4:8])[0] == len(header) - 8


def test_png_keeps_its_icc_profile_and_pixels():
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    pic = _picture(40, 30)
    stored = codec.encode(pic, "png", quality=90, icc=icc)
    out = _open(codec.embed_metadata(stored, _meta()))
    assert out.info["icc_profile"] == icc and np.array_equal(np.asarray(out), np.asarray(pic))


def test_a_huge_prompt_still_fits_a_jpeg():
    """A JPEG segment holds at most 64 kB: the XMP drops its long human-readable copy, then shortens,
    instead of failing the download."""
    prompt = "雪🚣" * 4000
    meta = _meta(prompt, prompt)
    out = codec.render_download(_stored(64, 48), "jpeg", meta=meta)
    im = _open(out)
    description, _, _ = (_xmp(im).find(".//dc:description/rdf:Alt/rdf:li", NS).text, None, None)
    assert prompt.startswith(description) and len(description) >= 1000
    assert _exif_texts(im)[0] and prompt.startswith(_exif_texts(im)[0])


def test_characters_xml_cannot_carry_do_not_break_the_packet():
    meta = _meta("bell\x07 nul\x00 \ufffe end")
    im = _open(codec.render_download(_stored(32, 32), "webp", meta=meta))
    description, _, fields = _xmp_fields(_xmp(im))
    assert description == "bell\ufffd nul\ufffd \ufffd end"
    assert fields["prompt"] == "bell\x07 nul\x00 \ufffe end"  # the JSON keeps the exact text (escaped)


def test_not_an_image_is_refused_with_a_message():
    with pytest.raises(InvalidImage) as err:
        codec.embed_metadata(b"GIF89a not for us", _meta())
    assert err.value.code == "not_an_image"
    with pytest.raises(InvalidImage):
        codec.embed_metadata(_stored(32, 32, "png")[:40], _meta())
    with pytest.raises(InvalidImage):
        codec.render_download(b"nope", "png")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(max_size=300))
def test_any_text_round_trips_through_xmp_and_json(text):
    """Whatever a prompt holds, the XMP stays well-formed: the JSON keeps the exact text, the readable copies
    keep it with only the characters XML cannot carry replaced (and NUL, which no format keeps)."""
    meta = _meta(text, text)
    im = _open(codec.embed_metadata(_TINY_JPEG, meta))
    description, comment, fields = _xmp_fields(_xmp(im))
    visible = codec._NOT_XML.sub("\ufffd", text)
    assert (description or "") == visible and fields["prompt"] == text
    assert _exif_texts(im)[0] == text.replace("\x00", " ")


_TINY_JPEG = codec.encode(Image.new("RGB", (8, 8), (10, 20, 30)), "jpeg", quality=80)
