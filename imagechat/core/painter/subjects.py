"""Recognisable subjects drawn as simple vector silhouettes (anti-aliased via Stamp).

Against a low sun or at night they are dark silhouettes; in daylight they get flat, lit colours."""

from __future__ import annotations

import math
import zlib

import numpy as np

from .canvas import Canvas, Stamp, mix
from .noise import rng_for


def _backlit(cv: Canvas) -> bool:
    return cv.scene.time in ("sunset", "dusk", "night", "dawn") or "storm" in cv.scene.weather


def _sil(cv: Canvas, tint=(0.06, 0.05, 0.08)) -> np.ndarray:
    """Silhouette colour: near-black, nudged toward the sky so it sits in the scene."""
    return np.asarray(mix(tint, cv.pal.zenith, 0.18), np.float32)


_SUBJECT_TINTS = {
    "red": (0.72, 0.14, 0.12), "orange": (0.9, 0.45, 0.12), "golden": (0.9, 0.72, 0.25),
    "green": (0.25, 0.55, 0.25), "blue": (0.2, 0.35, 0.75), "teal": (0.15, 0.6, 0.6),
    "purple": (0.5, 0.25, 0.65), "pink": (0.9, 0.5, 0.65),
}


def _colour_of(cv: Canvas, subject: str, default):
    word = dict(cv.scene.subject_colours).get(subject)
    return _SUBJECT_TINTS.get(word, default)


def _lit(cv: Canvas, albedo) -> np.ndarray:
    if _backlit(cv):
        return _sil(cv) + np.asarray(albedo, np.float32) * (0.22 if cv.scene.time in ("sunset", "dawn") else 0.08)
    return np.asarray(albedo, np.float32) * np.asarray(cv.pal.light, np.float32) * cv.pal.ambient


def paint_subjects(cv: Canvas) -> None:
    s = cv.scene.subjects
    # An edit (cv.base_subjects set) keeps the layout of the image it changes: its subjects are placed by the
    # same draws as before, in the same order, so they stay where they were; a subject it did not have comes
    # from a stream of its own; one taken away still uses up its draws, off the canvas.
    had = cv.base_subjects if cv.base_subjects is not None else s
    side = 1 if cv.rng.random() < 0.5 else -1  # which side the big subject stands on
    house_side = -side if "lighthouse" in had else side
    sides = {"lighthouse": side if "house" not in had or "lighthouse" in had else -side,
             "house": house_side, "tree": -side}
    for name, draw in (("lighthouse", lighthouse), ("house", house), ("tree", lone_tree), ("boat", boat),
                       ("birds", birds)):
        args = (sides[name],) if name in sides else ()
        if name in s and name in had:
            draw(cv, *args)
        elif name in s:
            _with_own_stream(cv, name, draw, args)
        elif name in had:
            _off_canvas(cv, draw, args)


def _with_own_stream(cv: Canvas, name: str, draw, args: tuple) -> None:
    """An added subject: drawn from its own stream, in the painted area when there is one (cv.edit_area)."""
    main = cv.rng
    cv.rng, cv.focus = rng_for(*cv.keys, zlib.crc32(("added " + name).encode())), cv.edit_area
    try:
        draw(cv, *args)
    finally:
        cv.rng, cv.focus = main, None


def _off_canvas(cv: Canvas, draw, args: tuple) -> None:
    """Draw into a scratch copy: the random draws are made (so later layers stay put), the picture is kept."""
    img = cv.img
    cv.img = img.copy()
    try:
        draw(cv, *args)
    finally:
        cv.img = img


def _at(cv: Canvas, x: float) -> float:
    """Where a subject stands: its own place, or the middle of the painted area (an added subject in an edit)."""
    return x if cv.focus is None else (cv.focus[0] + cv.focus[2]) / 2


def _ground_at(cv: Canvas, x: float) -> float:
    return float(cv.ground[int(np.clip(x, 0, cv.w - 1))])


def house(cv: Canvas, side: int) -> None:
    rng = cv.rng
    x = _at(cv, cv.w * (0.5 + side * float(rng.uniform(0.15, 0.3))))
    on_shore = cv.scene.water in ("sea", "lake")
    size = (0.05 if on_shore else 0.11) * cv.w
    yb = _ground_at(cv, x) + (0 if on_shore else size * 0.25)
    bw, bh = size, size * 0.65
    st = Stamp(cv, x - bw, yb - bh * 2.2, x + bw, yb + 2)
    st.polygon([(x - bw / 2, yb), (x + bw / 2, yb), (x + bw / 2, yb - bh), (x - bw / 2, yb - bh)])
    wall = _colour_of(cv, "house", (0.92, 0.88, 0.80))
    st.paint(_lit(cv, wall))
    # The side away from the light is in shade.
    sh = Stamp(cv, x - bw, yb - bh * 2.2, x + bw, yb + 2)
    lx = cv.light_xy[0] if cv.light_xy else 0.0
    if lx < x:
        sh.polygon([(x + bw * 0.18, yb), (x + bw / 2, yb), (x + bw / 2, yb - bh), (x + bw * 0.18, yb - bh)])
    else:
        sh.polygon([(x - bw / 2, yb), (x - bw * 0.18, yb), (x - bw * 0.18, yb - bh), (x - bw / 2, yb - bh)])
    sh.paint(_lit(cv, tuple(v * 0.62 for v in wall)))
    roof = Stamp(cv, x - bw, yb - bh * 2.2, x + bw, yb - bh + 2)
    roof.polygon([(x - bw * 0.62, yb - bh), (x + bw * 0.62, yb - bh), (x, yb - bh * 1.85)])
    roof.polygon([(x + bw * 0.2, yb - bh * 1.5), (x + bw * 0.32, yb - bh * 1.5),
                  (x + bw * 0.32, yb - bh * 1.15), (x + bw * 0.2, yb - bh * 1.3)])
    roof.paint(_lit(cv, (0.62, 0.20, 0.16) if "house" not in dict(cv.scene.subject_colours) else (0.30, 0.22, 0.20)))
    win = Stamp(cv, x - bw / 2, yb - bh, x + bw / 2, yb)
    for wx in (-0.28, 0.12):
        win.polygon([(x + bw * wx, yb - bh * 0.7), (x + bw * (wx + 0.16), yb - bh * 0.7),
                     (x + bw * (wx + 0.16), yb - bh * 0.42), (x + bw * wx, yb - bh * 0.42)])
    win.polygon([(x - bw * 0.05, yb), (x + bw * 0.08, yb), (x + bw * 0.08, yb - bh * 0.5), (x - bw * 0.05,
                 yb - bh * 0.5)])
    warm = cv.scene.time in ("night", "dusk", "sunset") or "storm" in cv.scene.weather
    win.paint((1.0, 0.78, 0.38) if warm else _lit(cv, (0.25, 0.3, 0.38)))


def lighthouse(cv: Canvas, side: int) -> None:
    rng, hz = cv.rng, cv.horizon
    x = _at(cv, cv.w * (0.5 + side * float(rng.uniform(0.22, 0.32))))
    yb = hz + (cv.h - hz) * float(rng.uniform(0.12, 0.22))
    th = cv.h * 0.30
    tw = th * 0.16
    # Rocky base the tower stands on.
    rock = Stamp(cv, x - tw * 4, yb - tw, x + tw * 4, yb + tw * 1.5)
    pts = [(x - tw * 3.8, yb + tw * 1.2)]
    for k in range(9):
        a = k / 8
        lift = math.sin(a * math.pi) * tw * float(rng.uniform(0.5, 0.9))
        pts.append((x - tw * 3.2 + a * tw * 6.4, yb - tw * 0.2 - lift))
    pts.append((x + tw * 3.8, yb + tw * 1.2))
    rock.polygon(pts)
    rock.paint(_lit(cv, (0.28, 0.26, 0.25)))
    top = yb - th
    tower = Stamp(cv, x - tw, top - tw * 1.2, x + tw, yb)
    tower.polygon([(x - tw * 0.5, yb - tw * 0.3), (x + tw * 0.5, yb - tw * 0.3), (x + tw * 0.3, top), (x - tw * 0.3,
                   top)])
    tower.paint(_lit(cv, (0.95, 0.94, 0.9)))
    if not _backlit(cv):
        stripes = Stamp(cv, x - tw, top, x + tw, yb)
        for k in (1, 3):
            a0, a1 = k / 5, (k + 1) / 5
            y0, y1 = yb - tw * 0.3 - (th - tw * 0.3) * a0, yb - tw * 0.3 - (th - tw * 0.3) * a1
            w0, w1 = tw * (0.5 - 0.2 * a0), tw * (0.5 - 0.2 * a1)
            stripes.polygon([(x - w0, y0), (x + w0, y0), (x + w1, y1), (x - w1, y1)])
        stripes.paint(_lit(cv, (0.75, 0.12, 0.1)))
    cap = Stamp(cv, x - tw, top - tw * 1.3, x + tw, top + 2)
    cap.polygon([(x - tw * 0.45, top), (x + tw * 0.45, top), (x + tw * 0.45, top - tw * 0.12), (x - tw * 0.45,
                 top - tw * 0.12)])
    cap.polygon([(x - tw * 0.28, top - tw * 0.6), (x + tw * 0.28, top - tw * 0.6), (x, top - tw * 1.1)])
    cap.paint(_sil(cv))
    lamp_y = top - tw * 0.36
    lamp = Stamp(cv, x - tw * 0.3, top - tw * 0.6, x + tw * 0.3, top - tw * 0.12)
    lamp.polygon([(x - tw * 0.22, top - tw * 0.6), (x + tw * 0.22, top - tw * 0.6), (x + tw * 0.22, top - tw * 0.12),
                  (x - tw * 0.22, top - tw * 0.12)])
    lamp.paint((1.0, 0.93, 0.65))
    if _backlit(cv):
        _beams(cv, x, lamp_y, side)


def _beams(cv: Canvas, x: float, y: float, side: int) -> None:
    """Two soft cones of light plus a halo, added as light rather than paint."""
    y0, y1 = max(0, int(y - cv.h * 0.25)), min(cv.h, int(y + cv.h * 0.25))
    ys = np.arange(y0, y1, dtype=np.float32)[:, None] - y
    xs = np.arange(cv.w, dtype=np.float32)[None, :] - x
    r = np.hypot(xs, ys) + 1e-3
    light = 0.9 * np.exp(-r / (cv.h * 0.02))
    for ang in (-0.08 * side, math.pi + 0.05 * side):
        dx, dy = math.cos(ang), math.sin(ang)
        along = xs * dx + ys * dy
        across = np.abs(-xs * dy + ys * dx)
        cone = np.clip(along, 0, None) * 0.09 + 2 * cv.s
        light += 0.35 * np.exp(-across / cone) * (along > 0) * np.exp(-along / (cv.w * 0.55))
    cv.add(light, (1.0, 0.9, 0.6), y0)


def lone_tree(cv: Canvas, side: int) -> None:
    rng = cv.rng
    x = _at(cv, cv.w * (0.5 + side * float(rng.uniform(0.2, 0.36))))
    on_shore = cv.scene.water in ("sea", "lake")
    yb = _ground_at(cv, x) + (2 * cv.s if on_shore else cv.h * 0.04)
    th = cv.h * (0.16 if on_shore else 0.36)
    st = Stamp(cv, x - th * 0.6, yb - th * 1.05, x + th * 0.6, yb + 2)
    st.polygon([(x - th * 0.055, yb), (x + th * 0.055, yb), (x + th * 0.03, yb - th * 0.55), (x - th * 0.03,
                yb - th * 0.55)])
    for k in range(3):  # main branches
        a = (k - 1) * 0.7
        st.line([(x, yb - th * 0.45), (x + math.sin(a) * th * 0.22, yb - th * (0.7 + 0.05 * (k == 1)))], th * 0.018)
    st.paint(_lit(cv, (0.25, 0.17, 0.12)))
    crown = Stamp(cv, x - th * 0.6, yb - th * 1.05, x + th * 0.6, yb - th * 0.3)
    blobs = []
    for _ in range(14):
        cx = x + float(np.clip(rng.normal(0, th * 0.17), -th * 0.28, th * 0.28))
        cy = yb - th * 0.72 + float(np.clip(rng.normal(0, th * 0.09), -th * 0.15, th * 0.15))
        r = th * float(rng.uniform(0.12, 0.2))
        crown.ellipse(cx - r, cy - r * 0.85, cx + r, cy + r * 0.85)
        blobs.append((cx, cy, r))
    snowy = "snow" in cv.scene.weather
    leaf = _colour_of(cv, "tree", (0.20, 0.42, 0.16) if not snowy else (0.22, 0.28, 0.24))
    m = crown.paint(_lit(cv, leaf))
    if not _backlit(cv):
        # Volume: a highlight cluster on the light side of each leaf mass, shade underneath.
        hl = Stamp(cv, x - th * 0.6, yb - th * 1.05, x + th * 0.6, yb - th * 0.3)
        lx = cv.light_xy[0] if cv.light_xy else x
        off = 0.05 * th * (1 if lx > x else -1)
        for cx, cy, r in blobs:
            hl.ellipse(cx + off - r * 0.7, cy - r * 0.75, cx + off + r * 0.6, cy + r * 0.2)
        hm = hl.mask(1.5 * cv.s) * m
        region = cv.img[crown.y0:crown.y1, crown.x0:crown.x1]
        ys = np.linspace(0, 1, m.shape[0], dtype=np.float32)[:, None]
        region *= (1 - 0.3 * m * ys)[..., None]
        hi = np.asarray(_lit(cv, tuple(min(1.0, v * 1.7 + 0.05) for v in leaf)), np.float32)
        region += (hi - region) * (hm * 0.6)[..., None]


def boat(cv: Canvas) -> None:
    rng, hz = cv.rng, cv.horizon
    depth = float(rng.uniform(0.18, 0.4))
    x = cv.w * float(rng.uniform(0.3, 0.7))
    if cv.focus is not None:  # into the painted area, on the water below it, sized to fit it
        x0, y0, x1, y1 = cv.focus
        x = (x0 + x1) / 2
        depth = float(np.clip((y0 + (y1 - y0) * 0.75 - hz) / max(1.0, cv.h - hz), 0.06, 0.9))
    yw = hz + (cv.h - hz) * depth
    L = cv.w * (0.05 + 0.2 * depth)
    if cv.focus is not None:
        L = max(cv.w * 0.03, min(L, (x1 - x0) / 1.3, (y1 - y0) / 1.9))  # the sails stay inside it
    mast = L * 1.25
    hull_c = _lit(cv, _colour_of(cv, "boat", (0.45, 0.22, 0.14)))
    sail_c = _lit(cv, (0.96, 0.94, 0.88))
    for mirror, alpha in ((-1, 0.35), (1, 1.0)):
        def Y(dy, mirror=mirror):
            return yw - mirror * dy
        hull = Stamp(cv, x - L, yw - L * 0.25, x + L, yw + L * 0.25)
        hull.polygon([(x - L * 0.55, Y(L * 0.1)), (x + L * 0.6, Y(L * 0.1)), (x + L * 0.4, Y(-L * 0.08)),
                      (x - L * 0.42, Y(-L * 0.08))])
        hull.line([(x, Y(L * 0.1)), (x, Y(mast))], max(1.0, L * 0.015))
        hull.paint(hull_c if alpha == 1 else _sil(cv), alpha)
        sails = Stamp(cv, x - L, min(Y(mast), Y(0)) - 2, x + L, max(Y(mast), Y(0)) + 2)
        sails.polygon([(x - L * 0.03, Y(L * 0.16)), (x - L * 0.03, Y(mast * 0.95)), (x - L * 0.5, Y(L * 0.16))])
        sails.polygon([(x + L * 0.03, Y(L * 0.18)), (x + L * 0.03, Y(mast * 0.8)), (x + L * 0.42, Y(L * 0.18))])
        sails.paint(sail_c, alpha * (0.6 if mirror < 0 else 1.0))


def birds(cv: Canvas) -> None:
    rng = cv.rng
    n = int(rng.integers(3, 8))
    cx, cy = cv.w * float(rng.uniform(0.25, 0.75)), cv.horizon * float(rng.uniform(0.2, 0.5))
    if cv.focus is not None:
        cx, cy = (cv.focus[0] + cv.focus[2]) / 2, min((cv.focus[1] + cv.focus[3]) / 2, cv.horizon * 0.8)
    col = _sil(cv, (0.08, 0.08, 0.1))
    st = Stamp(cv, cx - cv.w * 0.2, cy - cv.h * 0.12, cx + cv.w * 0.2, cy + cv.h * 0.12)
    for _ in range(n):
        bx = cx + float(rng.normal(0, cv.w * 0.06))
        by = cy + float(rng.normal(0, cv.h * 0.03))
        span = cv.w * float(rng.uniform(0.012, 0.025))
        flap = float(rng.uniform(0.2, 0.6))
        st.line([(bx - span, by - span * flap * 0.6), (bx - span * 0.5, by - span * flap),
                 (bx, by), (bx + span * 0.5, by - span * flap), (bx + span, by - span * flap * 0.6)],
                max(1.2, span * 0.12))
    st.paint(col)
