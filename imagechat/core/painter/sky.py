"""Sky: gradient by time of day, sun or moon with glow, clouds lit from the light, stars."""

from __future__ import annotations

import numpy as np

from .canvas import Canvas, Stamp, mix
from .noise import fbm2d, smoothstep


def paint_sky(cv: Canvas) -> None:
    p, hz, rng = cv.pal, cv.horizon, cv.rng
    ys = np.arange(cv.h, dtype=np.float32)[:, None]
    xs = np.arange(cv.w, dtype=np.float32)[None, :]
    t = np.clip(ys / max(hz, 1.0), 0.0, 1.0)
    base = mix(p.zenith, p.horizon, (t ** 1.7)[..., None])  # (h,1,3)
    cv.img[:] = np.broadcast_to(base, cv.img.shape)

    # Light source: the sun by day, its afterglow below the horizon at dusk, the moon at night.
    sx = cv.w * float(rng.uniform(0.22, 0.78))
    sy = hz - p.sun_elev * hz
    cv.light_xy = (sx, sy)
    has_sun = "sun" in cv.scene.subjects and p.sun_elev > 0
    r = np.hypot((xs - sx) / cv.h, (ys - sy) / cv.h)
    if cv.scene.time != "night":
        # Wide warm glow hugging the horizon plus a tight halo round the sun.
        band = np.exp(-np.clip(hz - ys, 0, None) / (0.22 * hz)) * np.exp(-np.abs(xs - sx) / (0.9 * cv.w))
        glow = 0.55 * band + 0.6 * np.exp(-r / 0.10) + (0.5 * np.exp(-r / 0.025) if has_sun else 0)
        strength = 0.5 if {"overcast", "storm"} & cv.scene.weather else 1.0
        cv.img += (np.asarray(p.glow, np.float32) - cv.img) * np.clip(glow * strength, 0, 0.95)[..., None]

    cover = _clouds(cv, r)
    if p.star_amount > 0:
        _stars(cv, cover)
    if has_sun:
        rad = 0.042 * min(cv.w, cv.h) * (1.25 if cv.scene.time in ("sunset", "dawn") else 1.0)
        d = np.hypot(xs - sx, ys - sy)
        disc = np.clip(rad - d + 1.0, 0, 1)
        cv.img += (np.asarray(p.sun, np.float32) - cv.img) * disc[..., None]
        cv.sun_xy = (sx, sy)
    if "moon" in cv.scene.subjects:
        _moon(cv, cover)


def _clouds(cv: Canvas, r: np.ndarray) -> np.ndarray:
    """Paint clouds over the sky; return their coverage (stars hide behind it)."""
    p, w = cv.pal, cv.scene.weather
    hs = max(2, int(np.ceil(cv.horizon)) + 2)
    hs = min(hs, cv.h)
    coverage = 0.92 if "storm" in w else 0.78 if ("overcast" in w or "rain" in w) else \
        float(cv.rng.uniform(0.18, 0.45))
    d = fbm2d(cv.rng, hs, cv.w, base=2.5, octaves=6, aspect=3.5, persistence=0.55)
    alpha = smoothstep(1.0 - coverage, 1.0 - coverage + 0.3, d)
    ys = np.arange(hs, dtype=np.float32)[:, None]
    alpha *= smoothstep(0.0, 0.25, 1.0 - ys / max(cv.horizon, 1.0)) * 0.6 + 0.4
    # Thin cloud is lit through; thick cloud and storms are dark. Clouds near the light glow.
    near_light = np.exp(-r[:hs] / 0.18)
    lit = np.clip(1.25 - d * 1.1 + 0.7 * near_light - (0.45 if "storm" in w else 0.0), 0, 1)
    colour = mix(p.cloud_shadow, p.cloud_lit, lit[..., None])
    alpha *= 0.55 + 0.45 * cv.texture if cv.texture < 1 else 1.0
    cv.paint(alpha * 0.95, colour)
    full = np.zeros((cv.h, cv.w), np.float32)
    full[:hs] = alpha
    return full


def _stars(cv: Canvas, cover: np.ndarray) -> None:
    hz = int(cv.horizon)
    n = int(cv.pal.star_amount * cv.w * hz / 450)
    if n <= 0:
        return
    ys = cv.rng.integers(0, max(1, hz), n)
    xs = cv.rng.integers(0, cv.w, n)
    b = cv.rng.random(n, dtype=np.float32) ** 3 * 0.9 + 0.1
    b *= (1.0 - cover[ys, xs]) * np.clip(1.2 - ys / max(hz, 1) * 1.2, 0, 1)
    tint = np.array([0.92, 0.95, 1.0], np.float32)
    np.add.at(cv.img, (ys, xs), b[:, None] * tint)
    # The brightest few get a small cross so they read at full size.
    big = b > 0.75
    for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
        yy, xx = np.clip(ys[big] + dy, 0, cv.h - 1), np.clip(xs[big] + dx, 0, cv.w - 1)
        np.add.at(cv.img, (yy, xx), 0.4 * b[big, None] * tint)


def _moon(cv: Canvas, cover: np.ndarray) -> None:
    rng = cv.rng
    mx = cv.w * float(rng.uniform(0.15, 0.85))
    my = cv.horizon * float(rng.uniform(0.2, 0.45))
    rad = 0.036 * min(cv.w, cv.h)
    cv.sun_xy = (mx, my)
    cv.light_xy = (mx, my)
    y0, y1 = int(max(0, my - rad * 8)), int(min(cv.h, my + rad * 8))
    ys = np.arange(y0, y1, dtype=np.float32)[:, None]
    xs = np.arange(cv.w, dtype=np.float32)[None, :]
    d = np.hypot(xs - mx, ys - my)
    halo = 0.35 * np.exp(-np.clip(d - rad, 0, None) / (rad * 1.6))
    cv.add(halo * (1 - 0.7 * cover[y0:y1]), (0.55, 0.62, 0.8), y0)
    st = Stamp(cv, mx - rad, my - rad, mx + rad, my + rad)
    st.ellipse(mx - rad, my - rad, mx + rad, my + rad)
    m = st.mask()
    # Maria: a little low-frequency noise darkens patches of the disc.
    if m.size:
        maria = fbm2d(rng, m.shape[0], m.shape[1], base=3, octaves=3)
        shade = 1.0 - 0.22 * smoothstep(0.45, 0.8, maria) * cv.texture
        region = cv.img[st.y0:st.y1, st.x0:st.x1]
        col = np.array([0.97, 0.95, 0.86], np.float32)[None, None, :] * shade[..., None]
        region += (col - region) * m[..., None]
