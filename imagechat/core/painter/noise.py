"""Vectorised value noise. Low-resolution random grids are upsampled by Pillow's C resampler,
which is far faster than evaluating gradient noise per pixel in NumPy."""

from __future__ import annotations

import numpy as np
from PIL import Image


def rng_for(*keys: int) -> np.random.Generator:
    """A generator fully determined by integer keys (seed, prompt hash, purpose tag...)."""
    return np.random.default_rng(np.random.SeedSequence([int(k) & 0xFFFFFFFF for k in keys] +
                                                         [(int(k) >> 32) & 0xFFFFFFFF for k in keys]))


def _upsample(grid: np.ndarray, w: int, h: int) -> np.ndarray:
    return np.asarray(Image.fromarray(grid.astype(np.float32)).resize((w, h), Image.BICUBIC))


def fbm2d(rng: np.random.Generator, h: int, w: int, *, base: float = 4, octaves: int = 5,
          persistence: float = 0.5, aspect: float = 1.0) -> np.ndarray:
    """Fractal noise in [0, 1]; aspect > 1 stretches features horizontally (clouds, ripples)."""
    out = np.zeros((h, w), np.float32)
    amp, total = 1.0, 0.0
    for o in range(octaves):
        gh = max(2, int(round(base * 2 ** o)))
        gw = max(2, int(round(base * 2 ** o * (w / h) / aspect)))
        gh, gw = min(gh, h), min(gw, w)
        out += amp * _upsample(rng.random((gh, gw), dtype=np.float32), w, h)
        total += amp
        amp *= persistence
    return normalise(out)


def fbm1d(rng: np.random.Generator, n: int, *, base: int = 3, octaves: int = 6,
          persistence: float = 0.5, ridged: bool = False) -> np.ndarray:
    """1-D fractal profile in [0, 1]. ridged=True gives sharp peaks (mountain crests)."""
    out = np.zeros(n, np.float32)
    amp = 1.0
    for o in range(octaves):
        k = min(n, base * 2 ** o + 1)
        vals = rng.random(k, dtype=np.float32) * 2 - 1
        layer = _upsample(vals[None, :], n, 1)[0]
        if ridged:
            layer = 1 - np.abs(layer)
        out += amp * layer
        amp *= persistence
    return normalise(out)


def normalise(a: np.ndarray) -> np.ndarray:
    lo, hi = float(a.min()), float(a.max())
    return ((a - lo) / (hi - lo if hi > lo else 1.0)).astype(np.float32)


def smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def perspective_noise(rng: np.random.Generator, depth: np.ndarray, w: int, *, base: float = 10,
                      aspect: float = 4.0, octaves: int = 4) -> np.ndarray:
    """Noise on a flat surface seen in perspective: features shrink and flatten toward the horizon.

    depth: (rows, 1) in [0, 1], 0 at the horizon. Samples a flat noise field through the inverse
    projection (distance ~ 1/depth), mirroring at the edges instead of tiling."""
    rows = depth.shape[0]
    # A softened projection (eps 0.25) keeps near rows from stretching the finite field.
    z = 1.0 / (depth[:, 0] + 0.25)
    zn = (z - z.min()) / max(float(z.max() - z.min()), 1e-6)
    fr = rows * 3
    field = fbm2d(rng, fr, w, base=base * 3, octaves=octaves, aspect=aspect * 3)
    src_y = np.clip(((1.0 - zn) * (fr - 1)), 0, fr - 1).astype(np.int32)[:, None]
    scale = (0.15 + 0.85 * depth)  # (rows, 1)
    u = (np.arange(w, dtype=np.float32)[None, :] - w / 2) / scale + w / 2
    period = 2 * (w - 1)
    u = np.abs(np.mod(u, period))
    src_x = np.where(u > w - 1, period - u, u).astype(np.int32)
    return field[src_y, src_x]
