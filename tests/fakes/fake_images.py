"""Real pictures for the fake Images API: drawn from the prompt, blurred into previews, filtered for edits.

Deterministic for (prompt, size, index) so tests can compare bytes, and visibly different for
different prompts so a person looking at the e2e app can tell which prompt made which image."""

from __future__ import annotations

import hashlib
import io
import textwrap

from PIL import Image, ImageDraw, ImageFilter, ImageFont, ImageOps


def _rng_bytes(*parts: object) -> bytes:
    return hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest() * 4


def _colour(b: bytes, i: int) -> tuple[int, int, int]:
    return b[i], b[i + 1], b[i + 2]


def draw_prompt(prompt: str, width: int, height: int, *, index: int = 0, transparent: bool = False) -> Image.Image:
    """A gradient sky, shapes placed by the prompt's hash, and the prompt's text in a caption band."""
    h = _rng_bytes(prompt, width, height, index)
    top, bottom = Image.new("RGB", (width, height), _colour(h, 0)), Image.new("RGB", (width, height), _colour(h, 3))
    mask = Image.linear_gradient("L").resize((width, height))
    img = Image.composite(bottom, top, mask).convert("RGBA")
    if transparent:
        img = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    for k in range(3 + h[6] % 4):
        o = 8 + 7 * k
        x0, y0 = h[o] * width // 256, h[o + 1] * height // 256
        size = (40 + h[o + 2]) * min(width, height) // 512
        box = (x0 - size // 2, y0 - size // 2, x0 + size // 2, y0 + size // 2)
        fill = (*_colour(h, o + 3), 230)
        if h[o + 6] % 3 == 0:
            draw.ellipse(box, fill=fill, outline=(255, 255, 255, 255), width=3)
        elif h[o + 6] % 3 == 1:
            draw.rectangle(box, fill=fill, outline=(0, 0, 0, 255), width=3)
        else:
            draw.polygon([(x0, box[1]), (box[2], box[3]), (box[0], box[3])], fill=fill)
    _caption(img, prompt)
    return img if transparent else img.convert("RGB")


def _caption(img: Image.Image, text: str) -> None:
    width, height = img.size
    font_px = max(12, height // 28)
    font = ImageFont.load_default(size=font_px)
    lines = textwrap.wrap(text, width=max(10, width // (font_px * 6 // 10)))[:3]
    band = (font_px + 6) * len(lines) + 12
    overlay = Image.new("RGBA", img.size, (0, 0, 0, 0))
    odraw = ImageDraw.Draw(overlay)
    odraw.rectangle((0, height - band, width, height), fill=(0, 0, 0, 140))
    for i, line in enumerate(lines):
        odraw.text((12, height - band + 6 + i * (font_px + 6)), line, font=font, fill=(255, 255, 255, 255))
    img.alpha_composite(overlay) if img.mode == "RGBA" else img.paste(overlay, (0, 0), overlay)


def preview(final: Image.Image, k: int, total: int) -> Image.Image:
    """Partial image k (0-based) of total: strongly blurred first, sharper each time."""
    width, height = final.size
    factor = 2 ** (total - k + 2)  # e.g. 3 previews: 1/32, 1/16, 1/8 scale
    small = final.resize((max(1, width // factor), max(1, height // factor)), Image.Resampling.BILINEAR)
    return small.filter(ImageFilter.GaussianBlur(1)).resize((width, height), Image.Resampling.BICUBIC)


def edit(sources: list[Image.Image], prompt: str, width: int, height: int, mask: Image.Image | None) -> Image.Image:
    """A visible edit: the first source cover-fitted, posterised, tinted and outlined; extra sources
    as inset thumbnails; with a mask, only its fully transparent area changes (the API's rule): every other
    pixel is the source's, exactly (when the output has the source's size), caption included."""
    base = ImageOps.fit(sources[0].convert("RGB"), (width, height), Image.Resampling.LANCZOS)
    h = _rng_bytes(prompt)
    tinted = ImageOps.colorize(ImageOps.grayscale(ImageOps.posterize(base, 3)), black=(20, 10, 40), white=_colour(h, 0))
    edges = base.filter(ImageFilter.FIND_EDGES).convert("L").point(lambda v: 255 if v > 40 else 0)
    edited = Image.composite(Image.new("RGB", base.size, (0, 0, 0)), tinted, edges)
    for i, extra in enumerate(sources[1:5]):
        thumb = ImageOps.fit(extra.convert("RGB"), (width // 5, height // 5))
        edited.paste(thumb, (width - (i + 1) * (width // 5 + 8), 8))
    _caption(edited, "edit: " + prompt)
    if mask is not None:
        alpha = mask.convert("RGBA").getchannel("A").resize((width, height))
        keep = alpha.point(lambda v: 0 if v == 0 else 255)  # transparent -> edit, else keep original
        edited = Image.composite(base, edited, keep)
    return edited


def encode(img: Image.Image, fmt: str, compression: int | None = None) -> bytes:
    buf = io.BytesIO()
    if fmt == "png":
        img.save(buf, "PNG", compress_level=1)
    elif fmt == "jpeg":
        img.convert("RGB").save(buf, "JPEG", quality=max(1, compression if compression is not None else 95))
    else:
        img.save(buf, "WEBP", quality=compression if compression is not None else 90, method=0)
    return buf.getvalue()
