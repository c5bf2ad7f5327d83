"""Image codec: Base64, validation, format conversion, thumbnails.

Pure functions on bytes; no database, no Reflex. Every failure a user can cause raises
InvalidImage with a message they can act on; raw Pillow exceptions and warnings never escape.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import os
import struct
import threading
import warnings
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from PIL import Image, ImageOps

from imagechat.core.errors import InvalidImage

MIME = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
SUPPORTED = tuple(MIME)
_ALIASES = {"jpg": "jpeg"}
_EXTENSIONS = {"png": "png", "jpeg": "jpg", "webp": "webp"}

# Inputs we parse. Pillow would otherwise try every plugin it has (TIFF, PSD, EPS via Ghostscript...),
# which only widens the attack surface for files users upload.
_READABLE = ("PNG", "JPEG", "WEBP", "GIF", "BMP")
_SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM")

MAX_SIDE = 16384
MAX_ASPECT = 20

# libwebp `method` (0 fast .. 6 small). Measured on a 1024x1024 photo-like image, 2 cores:
# m0 40 ms, m2 59 ms, m4 112 ms, m6 298 ms for sizes within ~2% of each other (m5/m6 ~15% smaller,
# but 2-5x slower). m2 keeps the whole store path well inside its budget.
WEBP_METHOD = 2
# Thumbnails are tiny and served on every gallery page: spend a few ms more for smaller files.
THUMB_METHOD = 4
# zlib default. Level 9 / optimize=True: 2.5 s instead of 0.2 s on a smooth 1 MP image, for 4-9% smaller.
_PNG_LEVEL = 6
_WHITE = (255, 255, 255)
THUMB_QUALITY = 80

_NOT_AN_IMAGE = "This file is not an image we can read (PNG, JPEG or WebP)."
_DAMAGED = ("This image file is damaged or incomplete (it may have been cut off during upload or download). "
            "Please save it again and retry.")


@dataclass(frozen=True)
class ImageInfo:
    format: str  # 'png' | 'jpeg' | 'webp' | 'gif' | 'bmp'
    mime: str
    width: int
    height: int
    mode: str  # the file's own Pillow mode, before any normalisation


@dataclass(frozen=True)
class StoredImage:
    data: bytes  # in the stored format
    thumb: bytes  # WebP
    mime: str
    width: int
    height: int
    sha256: str  # of `data`
    byte_size: int
    data_b64: str
    thumb_b64: str


# ---------------------------------------------------------------- Base64 and hashing

def to_b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def from_b64(text: str) -> bytes:
    """Strict decode: the default b64decode silently drops stray characters, hiding corruption.

    Only canonical Base64 is accepted (what to_b64 produces, surrounding whitespace aside): Python 3.11
    otherwise tolerates stray padding and data after it.
    """
    text = text.strip()
    try:
        data = base64.b64decode(text, validate=True)
        if to_b64(data) != text:
            raise ValueError("unexpected padding or trailing data")
    except (binascii.Error, ValueError) as exc:
        raise InvalidImage(f"The image data is not valid Base64 ({exc}). It may have been cut off or altered "
                           "in transit; please send it again.", code="invalid_base64") from None
    return data


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------- formats

def normalize_format(fmt: str) -> str:
    """'JPG', '.jpeg', ' WebP ' -> canonical name; anything else raises InvalidImage listing the choices."""
    key = str(fmt).strip().lower().lstrip(".")
    key = _ALIASES.get(key, key)
    if key not in MIME:
        raise InvalidImage(f"Unsupported image format {fmt!r}. Choose one of: {', '.join(SUPPORTED)}.",
                           code="unsupported_format")
    return key


def extension(fmt: str) -> str:
    """File extension without the dot: 'png', 'jpg', 'webp'."""
    return _EXTENSIONS[normalize_format(fmt)]


# ---------------------------------------------------------------- validation and decoding

def _too_large(limit: int, size: tuple[int, int] | None = None) -> InvalidImage:
    what = f"{size[0]}x{size[1]} pixels is more than" if size else "it has more than"
    return InvalidImage(f"This image is too large: {what} the {limit / 1e6:g} megapixel limit. "
                        "Please resize it and try again.", code="image_too_large")


def _bad_dimensions(text: str) -> InvalidImage:
    return InvalidImage(text, code="image_bad_dimensions")


def _check_size(w: int, h: int, limit: int) -> None:
    if w <= 0 or h <= 0:
        raise _bad_dimensions(f"This image has no pixels (it is {w}x{h}). Please choose another image.")
    if w * h > limit:
        raise _too_large(limit, (w, h))
    if max(w, h) > MAX_SIDE:
        raise _bad_dimensions(f"This image is {w}x{h} pixels; neither side may be longer than {MAX_SIDE} "
                              "pixels. Please resize it and try again.")
    if max(w, h) > MAX_ASPECT * min(w, h):
        raise _bad_dimensions(f"This image is {w}x{h} pixels, which is too long and thin: the longer side may "
                              f"be at most {MAX_ASPECT} times the shorter one. Please crop it and try again.")


def _unreadable(data: bytes) -> InvalidImage:
    """Pillow could not identify the file: tell 'not an image' apart from 'a broken image'."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR" and len(data) >= 24:
        w, h = struct.unpack(">II", data[16:24])
        if w == 0 or h == 0:  # Pillow refuses these outright; say what is actually wrong
            return _bad_dimensions(f"This image has no pixels (it is {w}x{h}). Please choose another image.")
    if data.startswith(_SIGNATURES) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP"):
        return InvalidImage(_DAMAGED, code="damaged_image")
    return InvalidImage(_NOT_AN_IMAGE, code="not_an_image")


def _canonical(im: Image.Image) -> Image.Image:
    """Bring any decoded mode to L, LA, RGB or RGBA, keeping transparency wherever the file had it."""
    if im.mode in ("L", "LA", "RGB", "RGBA") and "transparency" not in im.info:
        return im
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # 16-bit greyscale PNG: scale to 8 bits (a plain convert would clip everything above 255 to white).
        return im.convert("I").point(lambda v: v * (1 / 257)).convert("L")
    alpha = im.has_transparency_data
    if im.mode in ("1", "L", "LA", "La"):
        return im.convert("LA" if alpha else "L")
    return im.convert("RGBA" if alpha else "RGB")


@dataclass
class _Decoded:
    image: Image.Image  # canonical mode, metadata dropped
    info: ImageInfo
    icc: bytes | None


def decode(data: bytes, max_pixels: int | None) -> _Decoded:
    if not data:
        raise InvalidImage("The image file is empty. Please choose the file again.", code="empty_image")
    # Pillow warns above MAX_IMAGE_PIXELS and raises above twice that. We enforce our own limit from the
    # header right after open(), so its warning is noise (ignored) and its error becomes InvalidImage.
    # catch_warnings is process-global on 3.11; a race can at worst leave this one warning ignored.
    limit = max_pixels if max_pixels is not None else (Image.MAX_IMAGE_PIXELS or MAX_SIDE * MAX_SIDE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            im = Image.open(io.BytesIO(data), formats=_READABLE)
        except Image.DecompressionBombError:
            raise _too_large(limit) from None
        except Image.UnidentifiedImageError:
            raise _unreadable(data) from None
        except (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError, zlib.error):
            raise InvalidImage(_DAMAGED, code="damaged_image") from None
        # Header only so far: refuse bombs and absurd shapes before allocating or decoding anything.
        _check_size(*im.size, limit)
        try:
            im.load()
        except Image.DecompressionBombError:  # GIF frames can declare sizes beyond the logical screen
            raise _too_large(limit) from None
        except (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError, zlib.error):
            raise InvalidImage(_DAMAGED, code="damaged_image") from None
    fmt, mime, mode = im.format.lower(), Image.MIME.get(im.format, "application/octet-stream"), im.mode
    icc = im.info.get("icc_profile") or None
    try:
        # Phone photos are often stored sideways with an EXIF flag; we drop EXIF, so apply it first.
        if im.getexif().get(0x0112, 1) != 1:
            im = ImageOps.exif_transpose(im)
    except Exception:  # a broken EXIF block must not reject an otherwise good image
        pass
    im = _canonical(im)
    # Strip metadata (EXIF with GPS, XMP, text chunks, comments): encoders read some of it from .info.
    # The ICC profile is kept (passed explicitly) since dropping it shifts colours of wide-gamut images.
    im.info = {}
    info = ImageInfo(format=fmt, mime=mime, width=im.width, height=im.height, mode=mode)
    return _Decoded(im, info, icc)


def inspect(data: bytes, *, max_pixels: int | None = None) -> ImageInfo:
    """Validate fully (header limits, then a complete decode) and describe the image.

    max_pixels=None falls back to Pillow's MAX_IMAGE_PIXELS (~89 MP). Width/height are as displayed,
    i.e. after any EXIF rotation.
    """
    return decode(data, max_pixels).info


# ---------------------------------------------------------------- encoding

def _flatten(im: Image.Image) -> Image.Image:
    """JPEG has no alpha: composite on white, which is what a viewer's page background usually is."""
    base = Image.new("L" if im.mode == "LA" else "RGB", im.size, 255 if im.mode == "LA" else _WHITE)
    base.paste(im.convert(base.mode), mask=im.getchannel("A"))
    return base


def _icc_for(mode: str, icc: bytes | None) -> bytes | None:
    """Keep a profile only for pixels in its own colour space: a CMYK profile (CMYK JPEG turned RGB) or
    a grey one (greyscale turned RGB for WebP) attached to RGB pixels makes viewers misrender them."""
    if not icc or len(icc) < 20:
        return None
    return icc if icc[16:20] == (b"GRAY" if mode in ("L", "LA") else b"RGB ") else None


def encode(im: Image.Image, fmt: str, *, quality: int, icc: bytes | None = None, lossless: bool = False,
            method: int = WEBP_METHOD) -> bytes:
    if not 1 <= quality <= 100:
        raise ValueError(f"quality must be within 1..100, got {quality}")
    out = io.BytesIO()
    if fmt == "jpeg" and im.mode in ("LA", "RGBA"):
        im = _flatten(im)
    elif fmt == "webp" and im.mode in ("L", "LA"):  # WebP stores only RGB(A)
        im = im.convert("RGBA" if im.mode == "LA" else "RGB")
    icc = _icc_for(im.mode, icc)
    if fmt == "png":
        im.save(out, format="PNG", compress_level=_PNG_LEVEL, icc_profile=icc)
    elif fmt == "jpeg":
        im.save(out, format="JPEG", quality=quality, optimize=True, icc_profile=icc)
    else:
        # exact=True keeps the colour of fully transparent pixels, so lossless really is lossless.
        im.save(out, format="WEBP", quality=quality, method=method, lossless=lossless, exact=lossless,
                icc_profile=icc)
    return out.getvalue()


def thumb_of(im: Image.Image, max_px: int, quality: int) -> bytes:
    if max_px < 1:
        raise ValueError(f"max_px must be positive, got {max_px}")
    w, h = im.size
    scale = max_px / max(w, h)
    if scale < 1:  # never upscale
        size = (max(1, min(max_px, round(w * scale))), max(1, min(max_px, round(h * scale))))
        # reducing_gap: a cheap box reduce first, then Lanczos on the smaller image (Pillow's own trick).
        im = im.resize(size, Image.Resampling.LANCZOS, reducing_gap=2.0)
    else:
        im = im.copy()  # save() sets attributes on the image: never share one with a concurrent encode
    return encode(im, "webp", quality=quality, method=THUMB_METHOD)


_pool: tuple[int, ThreadPoolExecutor] | None = None
_pool_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    """One small pool per process: an executor inherited through fork() has no live threads."""
    global _pool
    with _pool_lock:
        if _pool is None or _pool[0] != os.getpid():
            _pool = (os.getpid(), ThreadPoolExecutor(max_workers=2, thread_name_prefix="imagechat-thumb"))
        return _pool[1]


def convert(data: bytes, fmt: str, *, quality: int = 90, lossless: bool = False) -> bytes:
    """Re-encode to png/jpeg/webp: same size, metadata stripped, alpha flattened on white for JPEG.

    `lossless` applies to WebP only (PNG always is; JPEG never is).
    """
    fmt = normalize_format(fmt)
    d = decode(data, None)
    return encode(d.image, fmt, quality=quality, icc=d.icc, lossless=lossless)


def thumbnail(data: bytes, *, max_px: int = 320, quality: int = THUMB_QUALITY) -> bytes:
    """WebP no larger than max_px on either side, aspect ratio kept; small images are not enlarged."""
    return thumb_of(decode(data, None).image, max_px, quality)


def prepare_for_storage(data: bytes, *, fmt: str, quality: int, thumb_px: int, max_pixels: int) -> StoredImage:
    """Validate, encode in the stored format and make the thumbnail from a single decode.

    The thumbnail is made on a second thread while the main encode runs: Pillow releases the GIL in
    resize and in the encoders, so on 2+ cores this saves the thumbnail's ~20 ms of a ~95 ms path.
    """
    fmt = normalize_format(fmt)
    d = decode(data, max_pixels)
    thumb_job = _executor().submit(thumb_of, d.image, thumb_px, THUMB_QUALITY)
    stored = encode(d.image, fmt, quality=quality, icc=d.icc)
    thumb = thumb_job.result()
    return StoredImage(data=stored, thumb=thumb, mime=MIME[fmt], width=d.info.width, height=d.info.height,
                       sha256=sha256_hex(stored), byte_size=len(stored), data_b64=to_b64(stored),
                       thumb_b64=to_b64(thumb))
