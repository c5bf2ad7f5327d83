"""Weather over the finished landscape: fog banks, rain streaks, falling snow, lightning."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from .canvas import Canvas, Stamp, blur_mask
from .noise import fbm2d


def paint_weather(cv: Canvas) -> None:
    w = cv.scene.weather
    if "fog" in w:
        fog(cv)
    if "storm" in w:
        lightning(cv)
    if "rain" in w:
        rain(cv)
    if "snow" in w:
        snow(cv)


def fog(cv: Canvas) -> None:
    ys = np.arange(cv.h, dtype=np.float32)[:, None]
    d = np.abs(ys - cv.horizon) / cv.h
    density = np.exp(-d / 0.16) * 0.75
    bands = fbm2d(cv.rng, cv.h, cv.w, base=2, octaves=4, aspect=5.0)
    a = np.clip(density * (0.55 + 0.6 * bands), 0, 0.9)
    colour = np.asarray(cv.pal.haze, np.float32) * 0.6 + np.asarray(cv.pal.horizon, np.float32) * 0.4
    cv.paint(a, colour)


def _streak_layer(cv: Canvas, n: int, length: tuple[float, float], angle: float, width: float) -> np.ndarray:
    im = Image.new("L", (cv.w, cv.h), 0)
    draw = ImageDraw.Draw(im)
    rng = cv.rng
    xs, ys = rng.uniform(-cv.w * 0.1, cv.w * 1.1, n), rng.uniform(0, cv.h, n)
    ls = rng.uniform(*length, n) * cv.s
    vs = rng.integers(60, 200, n)
    dx, dy = math.sin(angle), math.cos(angle)
    for x, y, ln, v in zip(xs, ys, ls, vs, strict=True):
        draw.line((x, y, x + dx * ln, y + dy * ln), fill=int(v), width=max(1, int(round(width * cv.s))))
    return np.asarray(im.filter(ImageFilter.GaussianBlur(0.7 * max(1.0, cv.s))), np.float32) / 255.0


def rain(cv: Canvas) -> None:
    n = int(cv.w * cv.h / 900)
    m = _streak_layer(cv, n, (25, 60), angle=float(cv.rng.uniform(0.12, 0.3)), width=1.5)
    colour = np.asarray(cv.pal.cloud_lit, np.float32) * 0.5 + 0.35
    cv.paint(m * 0.45, colour)
    # Rain veils the distance.
    cv.img += (np.asarray(cv.pal.haze, np.float32) - cv.img) * 0.12


def snow(cv: Canvas) -> None:
    rng = cv.rng
    n = int(cv.w * cv.h / 700)
    im = Image.new("L", (cv.w, cv.h), 0)
    draw = ImageDraw.Draw(im)
    xs, ys = rng.uniform(0, cv.w, n), rng.uniform(0, cv.h, n)
    rs = (rng.random(n) ** 3 * 3.5 + 0.7) * cv.s
    for x, y, r in zip(xs, ys, rs, strict=True):
        draw.ellipse((x - r, y - r, x + r, y + r), fill=255)
    m = np.asarray(im.filter(ImageFilter.GaussianBlur(0.8 * max(1.0, cv.s))), np.float32) / 255.0
    cv.paint(m * 0.85, (0.96, 0.97, 1.0))


def lightning(cv: Canvas) -> None:
    rng = cv.rng
    x = cv.w * float(rng.uniform(0.2, 0.8))
    y, end = cv.horizon * 0.08, cv.horizon * float(rng.uniform(0.8, 1.0))
    pts = [(x, y)]
    while y < end:
        y += cv.h * float(rng.uniform(0.02, 0.05))
        x += cv.w * float(rng.normal(0, 0.02))
        pts.append((x, min(y, end)))
    xs = [p[0] for p in pts]
    st = Stamp(cv, min(xs) - 40 * cv.s, 0, max(xs) + 40 * cv.s, end + 4)
    st.line(pts, 2.2 * cv.s)
    core = st.mask()
    glow = blur_mask(core, 10 * cv.s)
    region = cv.img[st.y0:st.y1, st.x0:st.x1]
    region += ((glow * 1.6 + core) * 0.9)[..., None] * np.array([0.85, 0.88, 1.0], np.float32)
    # The flash lights the whole sky a little.
    cv.img[: int(cv.horizon)] *= 1.12
