"""Image codec: Base64, validation, format conversion, thumbnails, downloads with embedded metadata.

Pure functions on bytes; no database, no Reflex. Every failure a user can cause raises
InvalidImage with a message they can act on; raw Pillow exceptions and warnings never escape.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import os
import re
import struct
import threading
import warnings
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from xml.sax.saxutils import escape as xml_escape

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


# ---------------------------------------------------------------- downloads: smaller sizes, embedded metadata

# Lanczos after a box reduce down to 3x the target: indistinguishable from plain Lanczos, several times faster.
_DOWNLOAD_REDUCING_GAP = 3.0


def fitted_size(width: int, height: int, long_side: int | None) -> tuple[int, int]:
    """(width, height) with the longer side at most `long_side`, aspect ratio kept; never larger."""
    if long_side is None or max(width, height) <= long_side:
        return width, height
    if long_side < 1:
        raise ValueError(f"long_side must be positive, got {long_side}")
    scale = long_side / max(width, height)
    return max(1, min(long_side, round(width * scale))), max(1, min(long_side, round(height * scale)))


def _format_of(data: bytes) -> str | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def _size_of(data: bytes) -> tuple[int, int]:
    """The pixel size from the header alone (no decode)."""
    try:
        with Image.open(io.BytesIO(data), formats=_READABLE) as im:
            return im.size
    except (OSError, SyntaxError, ValueError, EOFError, struct.error):
        raise _unreadable(data) from None


def render_download(data: bytes, fmt: str, *, long_side: int | None = None, meta: Embedded | None = None,
                    quality: int = 90) -> bytes:
    """The image as a png/jpeg/webp file, its longer side at most `long_side` (never enlarged), with `meta`
    embedded. When neither format nor size changes, the stored bytes are kept as they are: no second lossy
    encode, and an export of thousands of images only splices metadata in."""
    fmt = normalize_format(fmt)
    if _format_of(data) == fmt and max(_size_of(data)) <= (long_side or MAX_SIDE):
        out = data
    else:
        d = decode(data, None)
        size = fitted_size(d.image.width, d.image.height, long_side)
        im = d.image if size == d.image.size else d.image.resize(
            size, Image.Resampling.LANCZOS, reducing_gap=_DOWNLOAD_REDUCING_GAP)
        out = encode(im, fmt, quality=quality, icc=d.icc)
    return embed_metadata(out, meta) if meta is not None else out


@dataclass(frozen=True)
class Embedded:
    """What a downloaded file says about itself, for people and for tools.

    description: the prompt (PNG Description, XMP dc:description, EXIF ImageDescription);
    parameters: several human-readable lines (PNG "parameters", XMP and EXIF UserComment, where
    Stable Diffusion tools look); fields: JSON-able facts (PNG "imagechat", XMP imagechat:json).
    """

    description: str
    parameters: str
    fields: dict
    created: datetime | None = None
    # IPTC digital source type (https://cv.iptc.org/newscodes/digitalsourcetype/): says honestly how it was made.
    source_type: str = ""
    software: str = "imagechat"


XMP_NAMESPACE = "urn:imagechat:metadata:1.0/"
PNG_JSON_KEY = "imagechat"
_XMP_APP1 = b"http://ns.adobe.com/xap/1.0/\x00"
_JPEG_SEGMENT_MAX = 65533  # a segment's 16-bit length counts its own two bytes
# Characters XML 1.0 cannot carry at all (most C0 controls, U+FFFE/U+FFFF, lone surrogates).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_NOT_XML_IN_JSON = re.compile("[\ud800-\udfff\ufffe\uffff]")  # json.dumps already escapes the controls


def _xml_text(text: str) -> str:
    # \r would be read back as \n (XML end-of-line handling): a character reference keeps it.
    return xml_escape(_NOT_XML.sub("\ufffd", text)).replace("\r", "&#13;")


def _json_for_xml(fields: dict) -> str:
    text = json.dumps(fields, ensure_ascii=False, sort_keys=True)
    return _NOT_XML_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _iso(when: datetime | None) -> str:
    return when.isoformat(timespec="seconds") if when else ""


def xmp_packet(meta: Embedded, *, max_bytes: int | None = None) -> bytes:
    """An XMP packet (UTF-8). Past `max_bytes` (a JPEG segment), the long human-readable parts go first,
    then the texts are shortened: the file still says what it is."""
    for level in range(3):
        description, parameters, fields = meta.description, meta.parameters, meta.fields
        if level >= 1:
            parameters = ""
        if level == 2:
            description = description[:2000]
            fields = {k: (v[:2000] if isinstance(v, str) else v) for k, v in fields.items()}
        alt = '<rdf:Alt><rdf:li xml:lang="x-default">{}</rdf:li></rdf:Alt>'
        props = [f"<dc:description>{alt.format(_xml_text(description))}</dc:description>",
                 f"<xmp:CreatorTool>{_xml_text(meta.software)}</xmp:CreatorTool>"]
        if meta.created:
            props.append(f"<xmp:CreateDate>{_iso(meta.created)}</xmp:CreateDate>")
        if parameters:
            props.append(f"<exif:UserComment>{alt.format(_xml_text(parameters))}</exif:UserComment>")
        if meta.source_type:
            props.append(f"<Iptc4xmpExt:DigitalSourceType>{_xml_text(meta.source_type)}"
                         "</Iptc4xmpExt:DigitalSourceType>")
        props.append(f"<imagechat:json>{xml_escape(_json_for_xml(fields))}</imagechat:json>")
        packet = (
            '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
            '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
            ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
            '  <rdf:Description rdf:about=""'
            ' xmlns:dc="http://purl.org/dc/elements/1.1/"'
            ' xmlns:xmp="http://ns.adobe.com/xap/1.0/"'
            ' xmlns:exif="http://ns.adobe.com/exif/1.0/"'
            ' xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"'
            f' xmlns:imagechat="{XMP_NAMESPACE}">\n   ' + "\n   ".join(props) + "\n"
            "  </rdf:Description>\n </rdf:RDF>\n</x:xmpmeta>\n"
            '<?xpacket end="r"?>'
        ).encode("utf-8")
        if max_bytes is None or len(packet) <= max_bytes:
            return packet
    return packet


def _utf8_cut(text: str, max_bytes: int) -> bytes:
    return text.encode("utf-8")[:max_bytes].decode("utf-8", "ignore").encode("utf-8")


_ASCII, _LONG, _UNDEFINED = 2, 4, 7


def _ifd(entries: list[tuple[int, int, bytes]], offset: int) -> bytes:
    """One little-endian TIFF directory at `offset` (from the TIFF header), values too long to sit
    inline stored right after it."""
    entries = sorted(entries)
    table, data = [struct.pack("<H", len(entries))], b""
    data_at = offset + 2 + 12 * len(entries) + 4
    for tag, kind, value in entries:
        count = len(value) // 4 if kind == _LONG else len(value)
        if len(value) <= 4:
            table.append(struct.pack("<HHI", tag, kind, count) + value.ljust(4, b"\x00"))
        else:
            table.append(struct.pack("<HHII", tag, kind, count, data_at + len(data)))
            data += value + (b"\x00" if len(value) % 2 else b"")  # values start on a word boundary
    return b"".join(table) + b"\x00\x00\x00\x00" + data


def exif_block(meta: Embedded) -> bytes:
    """EXIF as a TIFF structure (no "Exif" header): ImageDescription, Software, DateTime in IFD0;
    ExifVersion and UserComment in the Exif IFD. Written by hand because Pillow types UserComment as
    BYTE, which strict readers reject.

    ImageDescription is ASCII by the letter of the standard; UTF-8 in it is what current tools write
    and read (the Metadata Working Group's advice). UserComment names its charset (UNICODE: UCS-2 in
    the block's byte order)."""
    ifd0 = [(0x010E, _ASCII, _utf8_cut(meta.description.replace("\x00", " "), 16_000) + b"\x00"),
            (0x0131, _ASCII, meta.software.encode("ascii", "replace") + b"\x00")]
    if meta.created:
        ifd0.append((0x0132, _ASCII, meta.created.strftime("%Y:%m:%d %H:%M:%S").encode("ascii") + b"\x00"))
    comment = b"UNICODE\x00" + meta.parameters[:16_000].encode("utf-16-le", "replace")
    exif_ifd = [(0x9000, _UNDEFINED, b"0232"), (0x9286, _UNDEFINED, comment)]
    first = _ifd([*ifd0, (0x8769, _LONG, b"\x00" * 4)], 8)
    exif_at = 8 + len(first)
    first = _ifd([*ifd0, (0x8769, _LONG, struct.pack("<I", exif_at))], 8)
    return b"II*\x00" + struct.pack("<I", 8) + first + _ifd(exif_ifd, exif_at)


def embed_metadata(data: bytes, meta: Embedded) -> bytes:
    """Write `meta` into an encoded PNG, JPEG or WebP without touching its pixels. Metadata the file
    already had in the same places is replaced, not duplicated."""
    kind = _format_of(data)
    try:
        if kind == "png":
            return _png_with(data, meta)
        if kind == "jpeg":
            return _jpeg_with(data, meta)
        if kind == "webp":
            return _webp_with(data, meta)
    except (struct.error, IndexError, ValueError):
        raise InvalidImage(_DAMAGED, code="damaged_image") from None
    raise InvalidImage(_NOT_AN_IMAGE, code="not_an_image")


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _itxt(keyword: str, text: str) -> bytes:
    # iTXt: UTF-8 text (tEXt is Latin-1 only); uncompressed, no language tag.
    return _png_chunk(b"iTXt", keyword.encode("latin-1") + b"\x00\x00\x00\x00\x00" + text.encode("utf-8"))


_PNG_TEXT = (b"tEXt", b"iTXt", b"zTXt", b"eXIf")


def _png_with(data: bytes, meta: Embedded) -> bytes:
    texts = [("Description", meta.description), ("Software", meta.software), ("parameters", meta.parameters),
             (PNG_JSON_KEY, json.dumps(meta.fields, ensure_ascii=False, sort_keys=True))]
    if meta.created:
        texts.append(("Creation Time", format_datetime(meta.created)))  # RFC 1123, as the PNG spec asks
    if meta.source_type:
        texts.append(("Source", meta.source_type))
    texts.append(("XML:com.adobe.xmp", xmp_packet(meta).decode("utf-8")))
    ours = b"".join(_itxt(k, v.replace("\x00", " ")) for k, v in texts)
    out, pos = [data[:8]], 8
    while pos < len(data):
        (length,), kind = struct.unpack(">I", data[pos:pos + 4]), data[pos + 4:pos + 8]
        end = pos + 12 + length
        if end > len(data):
            raise ValueError("truncated chunk")
        if kind not in _PNG_TEXT:
            out.append(data[pos:end])
        if kind == b"IHDR":  # text before the pixels, so readers that stop at IDAT still see it
            out.append(ours)
        pos = end
    return b"".join(out)


def _jpeg_segment(marker: int, body: bytes) -> bytes:
    if len(body) > _JPEG_SEGMENT_MAX:
        raise ValueError("segment too large")
    return bytes((0xFF, marker)) + struct.pack(">H", len(body) + 2) + body


def _jpeg_with(data: bytes, meta: Embedded) -> bytes:
    exif = b"Exif\x00\x00" + exif_block(meta)
    xmp = _XMP_APP1 + xmp_packet(meta, max_bytes=_JPEG_SEGMENT_MAX - len(_XMP_APP1))
    ours = _jpeg_segment(0xE1, exif) + _jpeg_segment(0xE1, xmp)
    out, pos, placed = [data[:2]], 2, False
    while pos < len(data):
        if data[pos] != 0xFF:
            raise ValueError("not a marker")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if not placed and marker != 0xE0:  # after JFIF's APP0, which must come first
            out.append(ours)
            placed = True
        if marker == 0xDA or marker == 0xD9:  # start of scan (or an empty file): the rest is copied as is
            out.append(data[pos:])
            break
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # markers without a length
            out.append(data[pos:pos + 2])
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2:pos + 4])
        segment = data[pos:pos + 2 + length]
        body = segment[4:]
        if not (marker == 0xE1 and (body.startswith(b"Exif\x00") or body.startswith(_XMP_APP1))):
            out.append(segment)
        pos += 2 + length
    return b"".join(out)


def _riff_chunk(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack("<I", len(body)) + body + (b"\x00" if len(body) % 2 else b"")


def _webp_with(data: bytes, meta: Embedded) -> bytes:
    """Simple WebP (one VP8/VP8L chunk) becomes the extended format: a VP8X header whose flags announce
    the EXIF and XMP chunks that follow the image data (the container's required order)."""
    chunks, pos = [], 12
    while pos + 8 <= len(data):
        kind, (length,) = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if len(body) != length:
            raise ValueError("truncated chunk")
        chunks.append((kind, body))
        pos += 8 + length + (length & 1)
    if not chunks:
        raise ValueError("no chunks")
    kind, body = chunks[0]
    if kind == b"VP8X":
        header = bytes((body[0] | 0x08 | 0x04,)) + body[1:]
        rest = [c for c in chunks[1:] if c[0] not in (b"EXIF", b"XMP ")]
    else:
        if kind == b"VP8L":
            bits = struct.unpack("<I", body[1:5])[0]
            width, height, alpha = (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, (bits >> 28) & 1
        elif kind == b"VP8 ":
            width, height = (struct.unpack("<H", body[6:8])[0] & 0x3FFF), (struct.unpack("<H", body[8:10])[0] & 0x3FFF)
            alpha = 0
        else:
            raise ValueError("unknown first chunk")
        flags = 0x08 | 0x04 | (0x10 if alpha else 0)
        header = bytes((flags, 0, 0, 0)) + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
        rest = chunks
    body = b"WEBP" + _riff_chunk(b"VP8X", header) + b"".join(_riff_chunk(k, b) for k, b in rest)
    body += _riff_chunk(b"EXIF", exif_block(meta)) + _riff_chunk(b"XMP ", xmp_packet(meta))
    return b"RIFF" + struct.pack("<I", len(body)) + body
