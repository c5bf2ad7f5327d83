"""Small image filters shared by the style treatments (NumPy + Pillow only)."""

from __future__ import annotations

import numpy as np

from .canvas import luminance


def box(a: np.ndarray, r: int) -> np.ndarray:
    """Mean over a (2r+1)^2 window, via cumulative sums (float64 keeps variances exact enough)."""
    out = a.astype(np.float64)
    for axis in (0, 1):
        pad = [(0, 0)] * out.ndim
        pad[axis] = (r + 1, r)
        c = np.cumsum(np.pad(out, pad, mode="edge"), axis=axis)
        n = out.shape[axis]
        hi = np.take(c, np.arange(2 * r + 1, 2 * r + 1 + n), axis=axis)
        lo = np.take(c, np.arange(0, n), axis=axis)
        out = (hi - lo) / (2 * r + 1)
    return out


def shift(a: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """a[y+dy, x+dx] with edge clamping."""
    h, w = a.shape[:2]
    ys = np.clip(np.arange(h) + dy, 0, h - 1)
    xs = np.clip(np.arange(w) + dx, 0, w - 1)
    return a[ys][:, xs]


def kuwahara(img: np.ndarray, r: int) -> np.ndarray:
    """Edge-preserving smoothing: each pixel takes the mean of its least-varied quadrant.

    This is what turns a render into flat, brush-like patches with crisp boundaries."""
    k = max(1, r // 2)
    lum = luminance(img)
    mean = box(img, k)
    var = box(lum * lum, k) - box(lum, k) ** 2
    best = None
    best_var = None
    for dy in (-k, k):
        for dx in (-k, k):
            v = shift(var, dy, dx)
            m = shift(mean, dy, dx)
            if best is None:
                best, best_var = m.copy(), v.copy()
            else:
                take = v < best_var
                best[take] = m[take]
                best_var = np.where(take, v, best_var)
    return best.astype(np.float32)


def sobel(lum: np.ndarray) -> np.ndarray:
    gx = np.zeros_like(lum)
    gy = np.zeros_like(lum)
    gx[:, 1:-1] = lum[:, 2:] - lum[:, :-2]
    gy[1:-1, :] = lum[2:, :] - lum[:-2, :]
    return np.hypot(gx, gy)


def saturate(img: np.ndarray, amount: float) -> np.ndarray:
    lum = luminance(img)[..., None]
    return np.clip(lum + (img - lum) * amount, 0.0, 1.0)


def warp(img: np.ndarray, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    h, w = img.shape[:2]
    ys = np.clip(np.arange(h)[:, None] + dy, 0, h - 1).astype(np.int32)
    xs = np.clip(np.arange(w)[None, :] + dx, 0, w - 1).astype(np.int32)
    return img[ys, xs]
