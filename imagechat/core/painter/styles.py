"""Style treatments: the same painted scene rendered as a photo, a cartoon, pixel art, neon, abstract.

Painterly treatments (watercolor, oil painting, sketch) live in treatments.py."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from imagechat.core.styles import STYLES

from .canvas import blur_rgb, luminance, to_u8
from .filters import saturate, sobel
from .noise import fbm2d
from .treatments import oil_painting, sketch, watercolor

# How much surface texture the layers should paint before the treatment (cartoon wants flat fills).
TEXTURE = {"photorealistic": 1.0, "watercolor": 0.6, "cartoon": 0.0, "abstract": 0.5,
           "oil painting": 0.7, "pixel art": 0.3, "sketch": 0.8, "neon": 0.2}
# Film grain strength added at the very end (0 = clean, still dithered unless flat).
GRAIN = {"photorealistic": 0.012, "watercolor": 0.0, "cartoon": 0.0, "abstract": 0.006,
         "oil painting": 0.008, "pixel art": 0.0, "sketch": 0.01, "neon": 0.01}
assert tuple(TEXTURE) == tuple(GRAIN) == STYLES  # a treatment for every style of the app
FLAT = {"cartoon", "pixel art"}  # keep exact flat colours: no dither


def apply_style(img: np.ndarray, style: str, rng: np.random.Generator, scene_hash: int,
                shapes: np.ndarray | None = None, scene=None) -> np.ndarray:
    if style == "photorealistic":
        return photorealistic(img)
    if style == "watercolor":
        return watercolor(img, rng)
    if style == "cartoon":
        return cartoon(img)
    if style == "abstract":
        return abstract(img, rng, scene)
    if style == "oil painting":
        return oil_painting(img, rng)
    if style == "pixel art":
        return pixel_art(img)
    if style == "sketch":
        return sketch(img, rng, shapes)
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


def abstract(img: np.ndarray, rng: np.random.Generator, scene=None) -> np.ndarray:
    """A flat geometric composition: palette taken from the painted scene, motifs from the prompt.

    The sun or moon becomes a disc with rings, mountains become overlapping triangles, water and
    dunes become wave bands, a city becomes columns, a forest tall spikes, birds chevrons."""
    h, w = img.shape[:2]
    s = _scale(img)
    pal_img = Image.fromarray(to_u8(saturate(img, 1.5))).quantize(7, method=Image.Quantize.FASTOCTREE)
    pal = np.array(pal_img.getpalette()[:21], np.float32).reshape(7, 3)
    counts = np.bincount(np.asarray(pal_img).ravel(), minlength=7)[:7]
    pal = pal[np.argsort(-counts)]
    lum = pal @ np.array([0.299, 0.587, 0.114], np.float32)
    dark, light = pal[int(np.argmin(lum))], pal[int(np.argmax(lum))]
    accents = [tuple(int(v) for v in c) for c in pal]
    ss = 2
    W, H = w * ss, h * ss
    # Background: two broad fields of the commonest colours, split on a tilted line.
    bg = Image.new("RGB", (W, H), tuple(int(v) for v in pal[0]))
    draw = ImageDraw.Draw(bg, "RGBA")
    tilt = float(rng.uniform(-0.25, 0.25))
    split = float(rng.uniform(0.45, 0.65)) * H
    draw.polygon([(0, split - tilt * W / 2), (W, split + tilt * W / 2), (W, H), (0, H)],
                 fill=tuple(int(v) for v in pal[1]))
    t = scene.terrain if scene is not None else ()
    subj = scene.subjects if scene is not None else frozenset()
    water = scene.water if scene is not None else None

    def col(i, a=235):
        return accents[i % len(accents)] + (a,)

    def y_at(x):
        return split + tilt * (x - W / 2)

    if "sun" in subj or "moon" in subj or not t:
        cx, cy = float(rng.uniform(0.25, 0.75)) * W, float(rng.uniform(0.18, 0.4)) * H
        r = float(rng.uniform(0.12, 0.2)) * min(W, H)
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=tuple(int(v) for v in light) + (255,))
        for k in range(1, 4):
            rr = r * (1 + 0.35 * k)
            draw.ellipse((cx - rr, cy - rr, cx + rr, cy + rr), outline=col(k + 1, 200), width=int(6 * s * ss) + 1)
    if "mountains" in t:
        for k in range(int(rng.integers(3, 6))):
            x = float(rng.uniform(-0.1, 1.0)) * W
            bw = float(rng.uniform(0.2, 0.45)) * W
            top = y_at(x + bw / 2) - float(rng.uniform(0.15, 0.35)) * H
            draw.polygon([(x, y_at(x) + 2), (x + bw, y_at(x + bw) + 2), (x + bw * float(rng.uniform(0.35, 0.65)), top)],
                         fill=col(2 + k, 220))
    if "city" in t:
        x = 0.0
        while x < W:
            bw = float(rng.uniform(0.04, 0.1)) * W
            top = y_at(x) - float(rng.uniform(0.08, 0.35)) * H
            draw.rectangle((x, top, x + bw, y_at(x) + 4), fill=col(int(rng.integers(1, 7)), 230))
            x += bw + float(rng.uniform(0.0, 0.03)) * W
    if "forest" in t:
        for k in range(int(rng.integers(6, 12))):
            x = float(rng.uniform(0, 1)) * W
            bw, th = float(rng.uniform(0.03, 0.06)) * W, float(rng.uniform(0.15, 0.35)) * H
            draw.polygon([(x - bw, y_at(x) + 4), (x + bw, y_at(x) + 4), (x, y_at(x) - th)], fill=col(3 + k, 230))
    if water or "dunes" in t or "hills" in t or "meadow" in t:
        n = int(rng.integers(4, 8))
        amp, fr, ph = float(rng.uniform(0.01, 0.04)) * H, float(rng.uniform(1.0, 3.0)), float(rng.uniform(0, 6.28))
        xs = np.linspace(0, W, 96)
        for k in range(n):
            y = split + (H - split) * (k + 0.5) / n
            top = [(x, y + tilt * (x - W / 2) + amp * np.sin(x / W * fr * 6.28 + ph + k)) for x in xs]
            draw.polygon(top + [(W, H), (0, H)], fill=col(k, 170 + 10 * (k % 3)))
    if "birds" in subj:
        for _ in range(int(rng.integers(3, 7))):
            bx, by, bs = float(rng.uniform(0.1, 0.9)) * W, float(rng.uniform(0.1, 0.4)) * H, 30 * s * ss
            draw.line([(bx - bs, by - bs * 0.5), (bx, by), (bx + bs, by - bs * 0.5)],
                      fill=tuple(int(v) for v in dark) + (255,), width=int(5 * s * ss) + 1)
    for subject in ("house", "boat", "lighthouse", "tree"):
        if subject in subj:
            bx, by = float(rng.uniform(0.2, 0.8)) * W, y_at(W / 2)
            r = 0.07 * W
            draw.rectangle((bx - r, by - r, bx + r, by + r * 0.2), fill=col(4, 255))
            draw.polygon([(bx - r * 1.2, by - r), (bx + r * 1.2, by - r), (bx, by - r * 2.1)], fill=col(5, 255))
    # A few free accents: thin lines and small dots derived from the same palette.
    for _ in range(int(rng.integers(3, 7))):
        x, y = float(rng.uniform(0, W)), float(rng.uniform(0, H))
        if rng.random() < 0.5:
            r = float(rng.uniform(0.01, 0.04)) * W
            draw.ellipse((x - r, y - r, x + r, y + r), fill=col(int(rng.integers(0, 7)), 255))
        else:
            a = float(rng.uniform(0, 3.14))
            L = float(rng.uniform(0.1, 0.4)) * W
            draw.line((x, y, x + np.cos(a) * L, y + np.sin(a) * L), fill=tuple(int(v) for v in dark) + (255,),
                      width=int(rng.uniform(3, 8) * s * ss) + 1)
    out = np.asarray(bg.resize((w, h), Image.BOX), np.float32) / 255.0
    # Printed-poster texture: a faint paper grain.
    grain = fbm2d(rng, h, w, base=min(h, 120), octaves=2)
    return out * (0.95 + 0.05 * grain)[..., None]


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
