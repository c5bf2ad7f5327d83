"""Style treatments: the same painted scene rendered as a photo, a cartoon, pixel art, neon, abstract.

Painterly treatments (watercolor, oil painting, sketch) live in treatments.py."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from .canvas import blur_rgb, luminance, to_u8
from .filters import saturate, sobel, warp
from .noise import fbm2d
from .treatments import oil_painting, sketch, watercolor

# How much surface texture the layers should paint before the treatment (cartoon wants flat fills).
TEXTURE = {"photorealistic": 1.0, "watercolor": 0.6, "cartoon": 0.0, "abstract": 0.5,
           "oil painting": 0.7, "pixel art": 0.3, "sketch": 0.8, "neon": 0.2}
# Film grain strength added at the very end (0 = clean, still dithered unless flat).
GRAIN = {"photorealistic": 0.012, "watercolor": 0.0, "cartoon": 0.0, "abstract": 0.006,
         "oil painting": 0.008, "pixel art": 0.0, "sketch": 0.01, "neon": 0.01}
FLAT = {"cartoon", "pixel art"}  # keep exact flat colours: no dither


def apply_style(img: np.ndarray, style: str, rng: np.random.Generator, scene_hash: int) -> np.ndarray:
    if style == "photorealistic":
        return photorealistic(img)
    if style == "watercolor":
        return watercolor(img, rng)
    if style == "cartoon":
        return cartoon(img)
    if style == "abstract":
        return abstract(img, rng)
    if style == "oil painting":
        return oil_painting(img, rng)
    if style == "pixel art":
        return pixel_art(img)
    if style == "sketch":
        return sketch(img, rng)
    if style == "neon":
        return neon(img)
    raise ValueError(f"unknown style {style!r}")


def _scale(img: np.ndarray) -> float:
    return min(img.shape[:2]) / 1024.0


def photorealistic(img: np.ndarray) -> np.ndarray:
    h, w = img.shape[:2]
    s = _scale(img)
    # Bloom: highlights bleed light into their surroundings, as in a real lens.
    bright = np.clip((luminance(img) - 0.72) / 0.28, 0, 1)[..., None] * img
    img = img + blur_rgb(bright, 18 * s) * 0.45
    # Gentle S-curve for contrast, then a vignette.
    img = np.clip(img, 0, 1)
    img = img + (img - img * img) * (img - 0.5) * 0.6
    ys = (np.arange(h, dtype=np.float32)[:, None] / h - 0.5)
    xs = (np.arange(w, dtype=np.float32)[None, :] / w - 0.5)
    img *= (1.0 - 0.45 * (xs * xs + ys * ys))[..., None]
    return img


def cartoon(img: np.ndarray) -> np.ndarray:
    s = _scale(img)
    smooth = saturate(blur_rgb(img, 1.2 * s), 1.3)
    q = Image.fromarray(to_u8(smooth)).quantize(14, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    flat = np.asarray(q.convert("RGB"), np.float32) / 255.0
    # Outlines where flat regions meet with a real change in lightness (not gentle sky bands).
    lum = luminance(flat)
    edge = np.zeros(lum.shape, bool)
    edge[:, 1:] |= np.abs(lum[:, 1:] - lum[:, :-1]) > 0.11
    edge[1:, :] |= np.abs(lum[1:, :] - lum[:-1, :]) > 0.11
    size = 3 if s < 1.4 else 5
    thick = Image.fromarray(edge.astype(np.uint8) * 255).filter(ImageFilter.MaxFilter(size))
    m = np.asarray(thick) > 127
    flat[m] = (0.07, 0.05, 0.09)
    return flat


def pixel_art(img: np.ndarray) -> np.ndarray:
    h, w = img.shape[:2]
    block = max(4, round(min(w, h) / 128))
    small = Image.fromarray(to_u8(saturate(img, 1.2))).resize((max(1, w // block), max(1, h // block)), Image.BOX)
    small = small.quantize(24, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE).convert("RGB")
    return np.asarray(small.resize((w, h), Image.NEAREST), np.float32) / 255.0


def neon(img: np.ndarray) -> np.ndarray:
    h, w = img.shape[:2]
    s = _scale(img)
    lum = luminance(blur_rgb(img, 1.0 * s))
    edges = np.clip(sobel(lum) * 6.0, 0, 1)
    # Hue sweeps magenta -> cyan down the frame: the synthwave look.
    t = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    hue = (1 - t) * np.array([1.0, 0.2, 0.85], np.float32) + t * np.array([0.1, 0.9, 1.0], np.float32)
    lines = edges[..., None] * hue
    glow = blur_rgb(lines, 6 * s) * 1.8 + blur_rgb(lines, 22 * s) * 1.2
    dark = img * 0.22 * np.array([0.6, 0.5, 1.0], np.float32)
    return np.clip(dark + glow + lines * 1.2, 0, 1)


def abstract(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Shapes and palette derived from the scene (and so from the prompt), not a landscape."""
    h, w = img.shape[:2]
    s = _scale(img)
    pal_img = Image.fromarray(to_u8(saturate(img, 1.4))).quantize(6, method=Image.Quantize.FASTOCTREE)
    pal = np.array(pal_img.getpalette()[:18], np.uint8).reshape(6, 3)
    # Background: the scene melted into broad colour fields.
    n1, n2 = fbm2d(rng, h, w, base=2, octaves=3), fbm2d(rng, h, w, base=2, octaves=3)
    bg = warp(blur_rgb(img, 30 * s), (n1 - 0.5) * w * 0.5, (n2 - 0.5) * h * 0.5)
    bg_q = Image.fromarray(to_u8(saturate(bg, 1.3))).quantize(palette=pal_img, dither=Image.Dither.NONE)
    ss = 2
    layer = bg_q.convert("RGB").resize((w * ss, h * ss), Image.NEAREST).convert("RGBA")
    draw = ImageDraw.Draw(layer, "RGBA")
    for _ in range(int(rng.integers(9, 16))):
        c = tuple(int(v) for v in pal[int(rng.integers(0, 6))]) + (int(rng.integers(170, 250)),)
        x, y = rng.uniform(0, w * ss), rng.uniform(0, h * ss)
        r = rng.uniform(0.05, 0.28) * min(w, h) * ss
        kind = int(rng.integers(0, 5))
        if kind == 0:
            draw.ellipse((x - r, y - r, x + r, y + r), fill=c)
        elif kind == 1:
            draw.ellipse((x - r, y - r, x + r, y + r), outline=c, width=int(r * 0.18) + 1)
        elif kind == 2:
            a = rng.uniform(0, 6.28)
            pts = [(x + r * np.cos(a + k * 2.094), y + r * np.sin(a + k * 2.094)) for k in range(3)]
            draw.polygon(pts, fill=c)
        elif kind == 3:
            draw.rectangle((x - r, y - r * 0.3, x + r, y + r * 0.3), fill=c)
        else:
            x2, y2 = rng.uniform(0, w * ss), rng.uniform(0, h * ss)
            draw.line((x, y, x2, y2), fill=c, width=int(rng.uniform(4, 18) * s * ss) + 1)
    out = layer.convert("RGB").resize((w, h), Image.BOX)
    return np.asarray(out, np.float32) / 255.0


def finish(img: np.ndarray, style: str, rng: np.random.Generator) -> np.ndarray:
    """Film grain for the photographic styles; a half-step dither elsewhere to hide banding."""
    img = np.clip(img, 0.0, 1.0)
    if style in FLAT:
        return img
    h, w = img.shape[:2]
    amount = GRAIN.get(style, 0.0)
    noise = rng.standard_normal((h, w), dtype=np.float32)
    img = img + (noise * amount + (rng.random((h, w), dtype=np.float32) - 0.5) / 255.0)[..., None]
    return np.clip(img, 0.0, 1.0)
