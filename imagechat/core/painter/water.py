"""Water: a mirrored, rippled reflection of everything above the waterline.

Lakes are near-mirrors with wind streaks; the sea breaks the reflection into waves with a glitter
path under the sun; a river is the same mirror confined to a winding band through the land."""

from __future__ import annotations

import numpy as np

from .canvas import Canvas, mix
from .noise import perspective_noise, smoothstep


def paint_water(cv: Canvas) -> None:
    kind = cv.scene.water
    if kind is None:
        return
    hz = int(round(cv.horizon))
    if hz >= cv.h - 2 or hz < 2:
        return
    rows = cv.h - hz
    rng = cv.rng
    stormy = "storm" in cv.scene.weather
    sea = kind == "sea"
    ys = np.arange(hz, cv.h, dtype=np.float32)[:, None]
    depth = (ys - hz) / rows  # 0 at the horizon .. 1 at the bottom edge
    persp = 0.04 + depth ** 1.3  # waves grow toward the viewer

    ripple = perspective_noise(rng, depth, cv.w, base=14 if sea else 18, aspect=3.0 if sea else 6.0)
    amp = (1.2 if not sea else 3.0) * (2.0 if stormy else 1.0) * cv.s
    phase = ripple * 6.283 * (4 if sea else 3)
    dx = np.sin(phase) * amp * (1 + 5 * persp)
    dy = np.cos(phase) * amp * (1 + 8 * persp) * (2.5 if sea else 1.0)
    src_y = np.clip(2 * hz - ys - 1 + dy, 0, hz - 1).astype(np.int32)
    src_x = np.clip(np.arange(cv.w)[None, :] + dx, 0, cv.w - 1).astype(np.int32)
    refl = cv.img[src_y, src_x]

    # Fresnel: water near the horizon mirrors the sky; looking down we see the water's own colour.
    base = np.asarray(cv.pal.water, np.float32)
    own = (0.10 + 0.55 * depth) if not sea else (0.30 + 0.50 * depth)
    if stormy:
        own = own * 0.6 + 0.35
    water = mix(refl * (0.82 if not sea else 0.7), base, own[..., None])

    if sea or stormy:
        # Wave crests: thin bright lines, whitecaps in a storm.
        crest = smoothstep(0.55, 0.68, ripple) - smoothstep(0.68, 0.8, ripple)
        water += (crest * (0.08 + 0.14 * depth) * (0.3 + 0.7 * cv.texture))[..., None] * \
            np.asarray(cv.pal.horizon, np.float32)
        trough = smoothstep(0.45, 0.2, ripple) * (0.25 + 0.2 * depth)
        water *= (1 - trough * (0.3 + 0.7 * cv.texture))[..., None]
        if stormy:
            foam = smoothstep(0.7, 0.8, ripple) * (0.25 + 0.55 * depth)
            water += (np.float32(0.75) - water) * foam[..., None]
    else:
        # Wind streaks: faint horizontal bands that break the mirror.
        streak = smoothstep(0.6, 0.7, perspective_noise(rng, depth, cv.w, base=4, aspect=12.0, octaves=3))
        water += (streak * 0.06 * cv.texture)[..., None] * np.asarray(cv.pal.horizon, np.float32)

    if cv.sun_xy is not None and cv.sun_xy[1] < hz:
        # Glitter path under the sun or moon.
        lx = cv.sun_xy[0]
        width = cv.w * (0.02 + 0.10 * depth)
        path = np.exp(-np.abs(np.arange(cv.w)[None, :] - lx) / width)
        sparkle = smoothstep(0.6, 0.72, ripple) - smoothstep(0.72, 0.85, ripple)
        light = path * (0.15 + 0.85 * sparkle) * (0.5 if not sea else 0.8)
        water += (light * (0.4 + 0.6 * (1 - depth)))[..., None] * np.asarray(cv.pal.sun, np.float32)

    mask = np.ones((rows, cv.w), np.float32)
    if kind == "river":
        mask = _river_mask(cv, ys, depth)
    cv.paint(mask, water, hz)


def _river_mask(cv: Canvas, ys: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """A meander that widens toward the viewer."""
    rng = cv.rng
    a, f, ph = rng.uniform(0.08, 0.2), rng.uniform(1.5, 3.0), rng.uniform(0, 6.283)
    centre = cv.w * (0.5 + a * np.sin(depth ** 0.7 * f * 6.283 / 2 + ph) * (0.3 + depth))
    half = cv.w * (0.01 + 0.30 * depth ** 1.4)
    xs = np.arange(cv.w, dtype=np.float32)[None, :]
    return np.clip(half - np.abs(xs - centre) + 0.5, 0.0, 1.0)
