"""Colours: a palette per time of day, bent by weather, and a final grade for colour words."""

from __future__ import annotations

import colorsys
from dataclasses import dataclass, replace

import numpy as np

from .scene import Scene

RGB = tuple[float, float, float]


@dataclass(frozen=True)
class Palette:
    zenith: RGB
    horizon: RGB
    glow: RGB  # halo around the sun, tints the horizon band
    sun: RGB
    light: RGB  # colour of direct light on land
    ambient: float  # overall brightness of land 0..1
    sun_elev: float  # sun height above horizon as a fraction of the sky; < 0 means set
    haze: RGB  # colour distant land fades into
    water: RGB  # deep water colour
    cloud_lit: RGB
    cloud_shadow: RGB
    star_amount: float = 0.0


_BASE = {
    "dawn": Palette(zenith=(0.30, 0.36, 0.62), horizon=(1.00, 0.74, 0.62), glow=(1.0, 0.78, 0.55),
                    sun=(1.0, 0.95, 0.80), light=(1.0, 0.82, 0.75), ambient=0.80, sun_elev=0.12,
                    haze=(0.86, 0.72, 0.76), water=(0.20, 0.24, 0.40), cloud_lit=(1.0, 0.80, 0.75),
                    cloud_shadow=(0.55, 0.50, 0.66)),
    "day": Palette(zenith=(0.14, 0.40, 0.80), horizon=(0.70, 0.84, 0.96), glow=(1.0, 0.97, 0.88),
                   sun=(1.0, 1.0, 0.94), light=(1.0, 0.98, 0.92), ambient=1.0, sun_elev=0.72,
                   haze=(0.66, 0.78, 0.90), water=(0.08, 0.28, 0.45), cloud_lit=(1.0, 1.0, 1.0),
                   cloud_shadow=(0.66, 0.72, 0.82)),
    "sunset": Palette(zenith=(0.18, 0.16, 0.42), horizon=(1.00, 0.56, 0.24), glow=(1.0, 0.62, 0.25),
                      sun=(1.0, 0.90, 0.62), light=(1.0, 0.62, 0.42), ambient=0.70, sun_elev=0.10,
                      haze=(0.86, 0.52, 0.42), water=(0.16, 0.14, 0.30), cloud_lit=(1.0, 0.62, 0.40),
                      cloud_shadow=(0.42, 0.26, 0.40)),
    "dusk": Palette(zenith=(0.06, 0.07, 0.22), horizon=(0.86, 0.42, 0.42), glow=(0.92, 0.42, 0.36),
                    sun=(1.0, 0.6, 0.4), light=(0.60, 0.45, 0.60), ambient=0.45, sun_elev=-0.04,
                    haze=(0.50, 0.34, 0.48), water=(0.06, 0.07, 0.18), cloud_lit=(0.92, 0.48, 0.50),
                    cloud_shadow=(0.22, 0.16, 0.30), star_amount=0.35),
    "night": Palette(zenith=(0.012, 0.018, 0.07), horizon=(0.07, 0.11, 0.24), glow=(0.45, 0.52, 0.70),
                     sun=(0.95, 0.95, 0.88), light=(0.42, 0.50, 0.72), ambient=0.28, sun_elev=0.55,
                     haze=(0.08, 0.11, 0.22), water=(0.02, 0.04, 0.10), cloud_lit=(0.35, 0.40, 0.55),
                     cloud_shadow=(0.06, 0.07, 0.13), star_amount=1.0),
}

# Colour-word tints: multiplied onto luminance, normalised so the tint keeps brightness.
_TINTS = {
    "red": (1.0, 0.25, 0.2), "orange": (1.0, 0.55, 0.15), "golden": (1.0, 0.78, 0.3),
    "green": (0.35, 1.0, 0.4), "blue": (0.25, 0.5, 1.0), "teal": (0.2, 0.9, 0.85),
    "purple": (0.7, 0.3, 1.0), "pink": (1.0, 0.45, 0.75),
}


def _grey(c: RGB, amount: float, level: float | None = None) -> RGB:
    lum = 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]
    g = lum if level is None else level
    return tuple(float(v + (g - v) * amount) for v in c)  # type: ignore[return-value]


def _hue(c: RGB, turns: float) -> RGB:
    h, lt, s = colorsys.rgb_to_hls(*c)
    return colorsys.hls_to_rgb((h + turns) % 1.0, lt, s)


def palette_for(scene: Scene) -> Palette:
    p = _BASE[scene.time]
    w = scene.weather
    if "storm" in w:
        p = _desaturate(p, 0.75, darken=0.45)
        p = replace(p, star_amount=0.0, sun_elev=-1.0)
    elif "overcast" in w or "rain" in w:
        p = _desaturate(p, 0.6, darken=0.8)
        p = replace(p, star_amount=p.star_amount * 0.2)
    if "fog" in w:
        p = replace(p, haze=_grey(p.horizon, 0.5), star_amount=p.star_amount * 0.3)
    if scene.hue_shift:
        p = _map(p, lambda c: _hue(c, (scene.hue_shift - 0.5) * 0.35))
    if scene.sky_colour in _TINTS:
        p = sky_tinted(p, scene.sky_colour)
    return p


def sky_tinted(p: Palette, word: str) -> Palette:
    """The sky's colours (and the clouds and glow in it) bent toward a colour word; the land keeps its own.
    Dark skies are lifted a little so the colour shows; water still mirrors the new horizon."""
    t = np.asarray(_TINTS[word], np.float32)
    t = t / (0.299 * t[0] + 0.587 * t[1] + 0.114 * t[2])

    def bend(c: RGB) -> RGB:
        level = max(0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2], 0.22)
        target = np.clip(t * level, 0.0, 1.0)
        return tuple(float(v + (g - v) * 0.8) for v, g in zip(c, target, strict=True))  # type: ignore[return-value]

    return replace(p, **{k: bend(getattr(p, k)) for k in ("zenith", "horizon", "glow", "cloud_lit", "cloud_shadow")})


def _map(p: Palette, f) -> Palette:
    keys = ("zenith", "horizon", "glow", "sun", "light", "haze", "water", "cloud_lit", "cloud_shadow")
    return replace(p, **{k: f(getattr(p, k)) for k in keys})


def _desaturate(p: Palette, amount: float, darken: float) -> Palette:
    q = _map(p, lambda c: tuple(v * darken for v in _grey(c, amount)))
    return replace(q, sun=p.sun, ambient=p.ambient * darken)


def grade(img: np.ndarray, colours: tuple[str, ...]) -> np.ndarray:
    """Bend the finished scene toward the colour words of the prompt (in place where possible)."""
    for word in colours:
        lum = img[..., 0] * 0.299 + img[..., 1] * 0.587 + img[..., 2] * 0.114
        if word in _TINTS:
            t = np.asarray(_TINTS[word], np.float32)
            t = t / (0.299 * t[0] + 0.587 * t[1] + 0.114 * t[2])  # unit luminance
            img = img + (np.clip(lum[..., None] * t, 0, 1) - img) * 0.45
        elif word == "pastel":
            img = (img + (lum[..., None] - img) * 0.35) * 0.75 + 0.25
        elif word == "neon":
            img = np.clip(lum[..., None] + (img - lum[..., None]) * 1.8, 0, 1) * 1.05
        elif word == "monochrome":
            img = np.repeat(lum[..., None], 3, axis=2)
        elif word == "dark":
            img = img ** 1.35 * 0.85
        elif word == "bright":
            img = 1.0 - (1.0 - img) ** 1.4
    return np.clip(img, 0.0, 1.0).astype(np.float32)
