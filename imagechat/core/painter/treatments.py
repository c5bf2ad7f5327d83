"""Painterly treatments: watercolor, oil painting, pencil sketch."""

from __future__ import annotations

import numpy as np

from .canvas import blur_mask, blur_rgb, luminance
from .filters import kuwahara, saturate, warp
from .noise import fbm2d, smoothstep

PAPER = np.array([0.98, 0.965, 0.93], np.float32)


def _s(img: np.ndarray) -> float:
    return min(img.shape[:2]) / 1024.0


def watercolor(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = img.shape[:2]
    s = _s(img)
    # Colour bleed: pigment wanders a few pixels along a slow noise field, edges go soft.
    n1, n2 = fbm2d(rng, h, w, base=6, octaves=3), fbm2d(rng, h, w, base=6, octaves=3)
    wet = warp(img, (n1 - 0.5) * 14 * s, (n2 - 0.5) * 14 * s)
    soft = blur_rgb(wet, 2.2 * s)
    # Flatten into washes: pull each pixel toward a heavily blurred version of itself.
    wash = blur_rgb(soft, 7 * s)
    paint = soft * 0.55 + wash * 0.45
    # Pigment pools at the edges of washes: darken where the image differs from its blur.
    edge = np.abs(luminance(soft) - luminance(wash))
    pool = smoothstep(0.01, 0.08, edge)
    paint = paint * (1.0 - 0.28 * pool)[..., None]
    # Transparent pigment: colours sit lighter on white paper; uneven density blotches.
    density = fbm2d(rng, h, w, base=3, octaves=4)
    paint = PAPER - (PAPER - paint) * (0.78 + 0.3 * (density - 0.5))[..., None]
    # Paper: fine grain that the pigment settles into (granulation), strongest in dark washes.
    grain = fbm2d(rng, h, w, base=min(h, 160), octaves=2)
    depth = 1.0 - luminance(paint)
    paint *= (0.95 + 0.05 * grain - 0.06 * depth * (grain - 0.5))[..., None]
    return saturate(paint, 1.1)


def oil_painting(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = img.shape[:2]
    s = _s(img)
    # Brush direction: smear along a noise field before flattening into strokes.
    n1, n2 = fbm2d(rng, h, w, base=8, octaves=3), fbm2d(rng, h, w, base=8, octaves=3)
    smear = warp(img, (n1 - 0.5) * 10 * s, (n2 - 0.5) * 6 * s)
    flat = kuwahara(smear, max(4, int(round(7 * s))))
    flat = saturate(flat, 1.2)
    # Impasto: a stroke height field lit from the upper left.
    strokes = fbm2d(rng, h, w, base=max(8, int(40 * (w / 1024))), octaves=3, aspect=2.5)
    relief = np.zeros_like(strokes)
    relief[1:, 1:] = strokes[1:, 1:] - strokes[:-1, :-1]
    light = 1.0 + np.clip(relief * 10.0, -0.08, 0.08)
    # Canvas weave.
    ys, xs = np.arange(h)[:, None], np.arange(w)[None, :]
    weave = 1.0 - 0.03 * ((xs % 4 < 2) ^ (ys % 4 < 2))
    return flat * (light * weave)[..., None]


def sketch(img: np.ndarray, rng: np.random.Generator, shapes: np.ndarray | None = None) -> np.ndarray:
    """Pencil drawing. `shapes` (1 on land and subjects, 0 on open sky) keeps the sky as paper."""
    h, w = img.shape[:2]
    s = _s(img)
    grey = luminance(img)
    # Colour-dodge of the inverted blur: the classic pencil-line extraction.
    inv_blur = blur_mask(1.0 - grey, 6 * s)
    lines = np.clip(grey / np.maximum(1.0 - inv_blur, 1e-3), 0, 1)
    lines = lines ** 2.2
    # Cross-hatching in the darker tones, one direction per darkness level.
    ys, xs = np.arange(h, dtype=np.float32)[:, None], np.arange(w, dtype=np.float32)[None, :]
    period = max(5.0, 7 * s)
    jitter = fbm2d(rng, h, w, base=12, octaves=2) * 3
    tone = blur_mask(grey, 2 * s)
    where = np.ones((h, w), np.float32) if shapes is None else 0.06 + 0.94 * blur_mask(shapes, 3 * s)
    hatch = np.ones((h, w), np.float32)
    for thresh, (a, b) in ((0.55, (1, 1)), (0.35, (1, -1)), (0.18, (1, 0.3))):
        stripe = ((a * xs + b * ys + jitter) % period) < 1.3 * max(1.0, s)
        hatch -= stripe * smoothstep(thresh, thresh - 0.15, tone) * 0.35 * where
    # Soft gradients in the sky give faint contour lines; keep only the strong ones there.
    lines = 1.0 - (1.0 - lines) * (0.35 + 0.65 * where)
    graphite = np.clip(np.minimum(lines, hatch), 0, 1)
    paper = 0.96 + 0.04 * fbm2d(rng, h, w, base=min(h, 128), octaves=2)
    val = graphite * paper
    return val[..., None] * PAPER[None, None, :] * np.array([1.0, 1.0, 1.02], np.float32)
