"""The image codec: round trips (property-based), bad inputs, storage preparation."""

from __future__ import annotations

import base64
import hashlib
import io
import struct
import warnings
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageCms, PngImagePlugin

from imagechat.core import codec
from imagechat.core.errors import InvalidImage

FORMATS = ["png", "jpeg", "webp"]
CODEC = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---------------------------------------------------------------- helpers

def encode(im: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    out = io.BytesIO()
    im.save(out, format=fmt, **kw)
    return out.getvalue()


def decode(data: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    im.load()
    return im


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_header_only(w: int, h: int, color_type: int = 2) -> bytes:
    """A well-formed PNG (valid CRCs) whose IHDR claims w x h but carries no pixel data."""
    ihdr = struct.pack(">IIBBBBB", w, h, 8, color_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(b""))
            + png_chunk(b"IEND", b""))


@st.composite
def sizes(draw, max_side: int = 48, min_side: int = 1):
    w = draw(st.integers(min_side, max_side))
    h = draw(st.integers(max(min_side, -(-w // codec.MAX_ASPECT)), min(max_side, w * codec.MAX_ASPECT)))
    return w, h


def noise_image(w: int, h: int, mode: str, seed: int) -> Image.Image:
    """Worst case for lossless codecs: independent random pixels (alpha included)."""
    bands = {"L": 1, "RGB": 3, "RGBA": 4}[mode]
    arr = np.random.default_rng(seed).integers(0, 256, (h, w, bands), dtype=np.uint8)
    return Image.fromarray(arr[:, :, 0] if bands == 1 else arr, mode)


def smooth_image(w: int, h: int, mode: str, seed: int) -> Image.Image:
    """Photo-like content for lossy codecs: a random low-resolution field upscaled, plus mild noise."""
    rng = np.random.default_rng(seed)
    bands = {"L": 1, "RGB": 3, "RGBA": 4}[mode]
    base = rng.integers(0, 256, (2, 2, bands), dtype=np.uint8)
    layers = [Image.fromarray(base[:, :, b]).resize((w, h), Image.Resampling.BILINEAR) for b in range(bands)]
    arr = np.stack([np.asarray(x, dtype=np.int16) for x in layers], -1) + rng.integers(-3, 4, (h, w, bands))
    arr = np.clip(arr, 0, 255).astype(np.uint8)
    return Image.fromarray(arr[:, :, 0] if bands == 1 else arr, mode)


def on_white(im: Image.Image) -> np.ndarray:
    """What a viewer sees on a white page, as float RGB, whatever the mode."""
    rgba = im.convert("RGBA")
    flat = Image.new("RGB", im.size, (255, 255, 255))
    flat.paste(rgba.convert("RGB"), mask=rgba.getchannel("A"))
    return np.asarray(flat, dtype=np.float64)


modes = st.sampled_from(["L", "RGB", "RGBA"])
seeds = st.integers(0, 2**32 - 1)


# ---------------------------------------------------------------- Base64 and hashing

@given(st.binary(max_size=4096))
def test_base64_round_trip(data):
    text = codec.to_b64(data)
    assert text.isascii()
    assert codec.from_b64(text) == data


@given(st.binary(min_size=1, max_size=256))
def test_sha256_is_stable_and_standard(data):
    assert codec.sha256_hex(data) == codec.sha256_hex(bytes(data)) == hashlib.sha256(data).hexdigest()


def test_sha256_known_vector():
    assert codec.sha256_hex(b"abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


@pytest.mark.parametrize("text", ["abc$", "not base64!", "QUJD=", "QUJ", "QU JD", "é==", "QUI=QUI=", "QUJ=\n"])
def test_from_b64_is_strict(text):
    with pytest.raises(InvalidImage, match="not valid Base64") as info:
        codec.from_b64(text)
    assert info.value.code == "invalid_base64"


# ---------------------------------------------------------------- round trips

@CODEC
@given(size=sizes(), mode=modes, seed=seeds)
def test_png_round_trip_is_pixel_exact(size, mode, seed):
    src = noise_image(*size, mode, seed)
    out = decode(codec.convert(encode(src), "png"))
    assert out.format == "PNG" and out.mode == mode
    assert np.array_equal(np.asarray(out), np.asarray(src))


@CODEC
@given(size=sizes(), mode=modes, seed=seeds)
def test_lossless_webp_round_trip_is_pixel_exact(size, mode, seed):
    src = noise_image(*size, mode, seed)
    out = decode(codec.convert(encode(src), "webp", lossless=True))
    assert out.format == "WEBP"
    # WebP has no greyscale mode: L comes back as RGB with R=G=B, which converts back to L exactly.
    assert np.array_equal(np.asarray(out.convert(mode)), np.asarray(src))


@CODEC
@given(size=sizes(min_side=16), mode=modes, seed=seeds, fmt=st.sampled_from(["jpeg", "jpg", "webp"]),
       quality=st.integers(85, 100))
def test_lossy_round_trip_keeps_size_and_stays_close(size, mode, seed, fmt, quality):
    # min_side=16: both codecs subsample chroma over 2x2 blocks and code 8x8 or larger blocks, so tiny
    # images with steep colour gradients are not what this bound is about.
    src = smooth_image(*size, mode, seed)
    out = decode(codec.convert(encode(src), fmt, quality=quality))
    assert out.size == src.size
    if fmt != "webp":
        assert out.mode in ("L", "RGB")  # JPEG: alpha flattened away
    mean_abs_error = np.abs(on_white(out) - on_white(src)).mean()
    assert mean_abs_error < 6.0


@CODEC
@given(size=sizes(), mode=modes, seed=seeds, a=st.sampled_from(FORMATS + ["jpg"]),
       b=st.sampled_from(FORMATS + ["jpg"]))
def test_chained_conversions_keep_dimensions(size, mode, seed, a, b):
    src = encode(smooth_image(*size, mode, seed))
    out = codec.convert(codec.convert(src, a), b)
    info = codec.inspect(out)
    assert (info.width, info.height) == size
    assert info.format == codec.normalize_format(b)
    assert info.mime == codec.MIME[info.format]


@CODEC
@given(size=sizes(max_side=400), mode=modes, seed=seeds, max_px=st.integers(16, 128))
def test_thumbnail_fits_and_keeps_aspect(size, mode, seed, max_px):
    w, h = size
    thumb = decode(codec.thumbnail(encode(smooth_image(w, h, mode, seed)), max_px=max_px))
    tw, th = thumb.size
    assert thumb.format == "WEBP"
    assert max(tw, th) <= max_px
    if max(w, h) <= max_px:
        assert (tw, th) == (w, h)  # never enlarged
    else:
        assert max(tw, th) == max_px
        # each side is rounded once, so the cross products differ by at most half a pixel per side
        assert abs(tw * h - th * w) <= (w + h) / 2


# ---------------------------------------------------------------- conversion details

def test_jpeg_flattens_transparency_on_white():
    src = Image.new("RGBA", (16, 8), (255, 0, 0, 0))
    src.paste((0, 0, 255, 255), (0, 0, 8, 8))
    out = np.asarray(decode(codec.convert(encode(src), "jpeg")).convert("RGB"), dtype=int)
    assert out[:, 12:].min() >= 245  # the transparent half is white, not red or black
    assert out[:, :4, 2].mean() > 200 and out[:, :4, 0].mean() < 50  # the opaque half stays blue


def test_palette_transparency_survives_png_and_webp():
    src = Image.new("P", (10, 10), 1)
    src.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    data = encode(src, transparency=1)
    for fmt in ("png", "webp"):
        out = decode(codec.convert(data, fmt))
        assert out.mode == "RGBA" and out.getchannel("A").getextrema() == (0, 0)


def test_metadata_is_stripped_but_orientation_applied():
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees when displayed
    exif[0x010F] = "SecretCam"
    src = encode(smooth_image(40, 20, "RGB", 1), "JPEG", exif=exif.tobytes(), comment=b"private note")
    info = codec.inspect(src)
    assert (info.width, info.height) == (20, 40)
    for fmt in FORMATS:
        data = codec.convert(src, fmt)
        assert b"SecretCam" not in data and b"private note" not in data
        out = decode(data)
        assert out.size == (20, 40)
        assert not out.getexif()


def test_png_text_chunks_are_stripped_and_icc_kept():
    meta = PngImagePlugin.PngInfo()
    meta.add_text("Comment", "gps 51.5,-0.1")
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    src = encode(noise_image(8, 8, "RGB", 3), pnginfo=meta, icc_profile=icc)
    for fmt in FORMATS:
        out = decode(codec.convert(src, fmt))
        assert "Comment" not in out.info
        assert out.info.get("icc_profile") == icc


def test_icc_profile_dropped_when_colour_space_changes():
    grey_icc = b"\0" * 16 + b"GRAY" + b"\0" * 108  # only the header's colour-space field matters here
    src = encode(noise_image(8, 8, "L", 3), icc_profile=grey_icc)
    assert decode(codec.convert(src, "png")).info.get("icc_profile") == grey_icc  # still greyscale
    assert "icc_profile" not in decode(codec.convert(src, "webp")).info  # WebP made it RGB


@pytest.mark.parametrize("kind", ["GIF", "BMP"])
def test_gif_and_bmp_are_accepted_as_inputs(kind):
    src = encode(smooth_image(30, 20, "RGB", 5), kind)
    assert codec.inspect(src).format == kind.lower()
    assert decode(codec.convert(src, "png")).size == (30, 20)


def test_cmyk_jpeg_becomes_rgb():
    src = encode(Image.new("CMYK", (12, 6), (0, 255, 255, 0)), "JPEG")  # pure red in ink
    out = decode(codec.convert(src, "png"))
    assert out.mode == "RGB" and out.size == (12, 6)
    r, g, b = np.asarray(out, dtype=int).reshape(-1, 3).mean(0)
    assert r > 200 and g < 60 and b < 60


def test_sixteen_bit_greyscale_is_scaled_not_clipped():
    arr = np.full((4, 4), 32768, dtype=np.uint16)  # mid grey in 16 bits
    src = Image.frombytes("I;16", (4, 4), arr.astype("<u2").tobytes())
    out = decode(codec.convert(encode(src), "png"))
    assert out.mode == "L" and 120 <= np.asarray(out).mean() <= 136


@pytest.mark.parametrize("name,canonical,ext", [("PNG", "png", "png"), ("jpg", "jpeg", "jpg"),
                                                (" .JPEG ", "jpeg", "jpg"), ("WebP", "webp", "webp")])
def test_format_names(name, canonical, ext):
    assert codec.normalize_format(name) == canonical
    assert codec.extension(name) == ext


@pytest.mark.parametrize("name", ["tiff", "gif", "", "png2"])
def test_unknown_format_lists_the_supported_ones(name):
    with pytest.raises(InvalidImage, match="png, jpeg, webp") as info:
        codec.convert(encode(noise_image(4, 4, "RGB", 0)), name)
    assert info.value.code == "unsupported_format"


# ---------------------------------------------------------------- bad inputs

def _truncated_png() -> bytes:
    data = encode(noise_image(64, 64, "RGB", 7))
    return data[: len(data) // 2]


def _truncated_jpeg() -> bytes:
    data = encode(smooth_image(64, 64, "RGB", 7), "JPEG")
    return data[: len(data) // 2]


def _tiff() -> bytes:
    return encode(noise_image(8, 8, "RGB", 0), "TIFF")


BAD_INPUTS = {
    "empty": (b"", "empty", "empty_image"),
    "text": (b"hello, this is a text file\n", "not an image we can read (PNG, JPEG or WebP)", "not_an_image"),
    "random bytes": (np.random.default_rng(0).bytes(2048), "not an image we can read", "not_an_image"),
    "tiff (not accepted)": (_tiff(), "not an image we can read", "not_an_image"),
    "truncated png": (_truncated_png(), "damaged or incomplete", "damaged_image"),
    "truncated jpeg": (_truncated_jpeg(), "damaged or incomplete", "damaged_image"),
    "png signature only": (b"\x89PNG\r\n\x1a\n", "damaged or incomplete", "damaged_image"),
    "png 100000x100000": (png_header_only(100_000, 100_000), "too large", "image_too_large"),
    "png 0x10": (png_header_only(0, 10), "no pixels (it is 0x10)", "image_bad_dimensions"),
    "png 10x0": (png_header_only(10, 0), "no pixels", "image_bad_dimensions"),
    "png 1x30000": (png_header_only(1, 30_000), "longer than 16384", "image_bad_dimensions"),
    "png 1x400 strip": (png_header_only(1, 400), "too long and thin", "image_bad_dimensions"),
    "png 9000x300 strip": (png_header_only(9000, 300), "at most 20 times", "image_bad_dimensions"),
}


@pytest.mark.parametrize("name", list(BAD_INPUTS))
@pytest.mark.parametrize("call", ["inspect", "convert", "thumbnail", "prepare"])
def test_bad_inputs_raise_invalid_image(name, call):
    data, message, code = BAD_INPUTS[name]
    fns = {
        "inspect": lambda: codec.inspect(data),
        "convert": lambda: codec.convert(data, "webp"),
        "thumbnail": lambda: codec.thumbnail(data),
        "prepare": lambda: codec.prepare_for_storage(data, fmt="webp", quality=90, thumb_px=320,
                                                      max_pixels=40_000_000),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a leaked Pillow warning would fail the test
        with pytest.raises(InvalidImage, match=message.replace("(", r"\(").replace(")", r"\)")) as info:
            fns[call]()
    assert info.value.code == code
    assert info.value.user_message == str(info.value)


def test_invalid_base64_table_entry():
    with pytest.raises(InvalidImage, match="not valid Base64"):
        codec.from_b64(base64.b64encode(encode(noise_image(4, 4, "RGB", 0))).decode()[:-3] + "*==")


def test_pixel_limit_is_checked_from_the_header_before_decoding():
    # 10000x10000 is 100 MP: over the configured limit, between Pillow's warning and error thresholds.
    data = png_header_only(10_000, 10_000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(InvalidImage, match=r"10000x10000 pixels is more than the 40 megapixel limit"):
            codec.prepare_for_storage(data, fmt="webp", quality=90, thumb_px=320, max_pixels=40_000_000)
        with pytest.raises(InvalidImage, match="too large"):  # default limit: Pillow's own
            codec.inspect(data)
    # A small real image passes a limit it fits and fails one it does not.
    ok = encode(noise_image(100, 100, "RGB", 0))
    assert codec.inspect(ok, max_pixels=10_000).width == 100
    with pytest.raises(InvalidImage, match="100x100 pixels is more than"):
        codec.inspect(ok, max_pixels=9_999)


# ---------------------------------------------------------------- storage

@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA"])
def test_prepare_for_storage(fmt, mode):
    src_im = smooth_image(300, 120, mode, 11)
    src = encode(src_im)
    stored = codec.prepare_for_storage(src, fmt=fmt, quality=90, thumb_px=64, max_pixels=40_000_000)
    assert (stored.width, stored.height) == (300, 120)
    assert stored.mime == codec.MIME[fmt]
    assert stored.byte_size == len(stored.data)
    assert stored.sha256 == hashlib.sha256(stored.data).hexdigest()
    assert codec.from_b64(stored.data_b64) == stored.data
    assert codec.from_b64(stored.thumb_b64) == stored.thumb
    info = codec.inspect(stored.data)
    assert (info.format, info.width, info.height) == (fmt, 300, 120)
    thumb = decode(stored.thumb)
    assert thumb.format == "WEBP" and thumb.size == (64, 26)
    if fmt == "png":  # lossless storage keeps every pixel
        assert np.array_equal(np.asarray(decode(stored.data)), np.asarray(src_im))
    # deterministic: the same input stores the same bytes, so sha256 can detect duplicates
    again = codec.prepare_for_storage(src, fmt=fmt, quality=90, thumb_px=64, max_pixels=40_000_000)
    assert again.sha256 == stored.sha256 and again.thumb == stored.thumb


def test_stored_webp_is_much_smaller_than_png_for_photo_like_images():
    src = encode(smooth_image(256, 256, "RGB", 2))
    stored = codec.prepare_for_storage(src, fmt="webp", quality=90, thumb_px=320, max_pixels=40_000_000)
    assert stored.byte_size < len(src) / 2
    assert decode(stored.thumb).size == (256, 256)  # smaller than thumb_px: not enlarged


def test_concurrent_storage_matches_sequential():
    # prepare_for_storage shares one decoded image between two threads; callers add their own threads.
    from concurrent.futures import ThreadPoolExecutor

    inputs = [encode(smooth_image(200 + 10 * i, 150, mode, i)) for i, mode in enumerate(["RGB", "RGBA", "L"] * 2)]
    run = lambda data: codec.prepare_for_storage(data, fmt="webp", quality=90, thumb_px=100,  # noqa: E731
                                                  max_pixels=40_000_000)
    expected = [(s.sha256, s.thumb) for s in map(run, inputs)]
    with ThreadPoolExecutor(6) as pool:
        assert [(s.sha256, s.thumb) for s in pool.map(run, inputs * 3)] == expected * 3


def test_quality_out_of_range_is_a_programming_error():
    with pytest.raises(ValueError, match="quality"):
        codec.convert(encode(noise_image(4, 4, "RGB", 0)), "webp", quality=0)
