"""Land: far mountain ranges with fractal ridges, then hills, dunes, city, forest and meadow.

Every layer is a per-column profile filled down to the bottom of the canvas, so nearer layers
simply paint over farther ones. Distance is sold by atmospheric perspective: far layers fade
toward the palette's haze colour (more so in fog)."""

from __future__ import annotations

import zlib

import numpy as np
from PIL import Image, ImageDraw

from .canvas import Canvas, Stamp, mix
from .noise import fbm1d, fbm2d, rng_for, smoothstep

ALBEDO = {
    "mountains": (0.36, 0.38, 0.44), "hills": (0.30, 0.52, 0.24), "dunes": (0.93, 0.68, 0.38),
    "city": (0.22, 0.23, 0.28), "forest": (0.10, 0.30, 0.16), "meadow": (0.36, 0.60, 0.22),
}
SNOW = (0.92, 0.94, 0.99)


def lit(cv: Canvas, albedo, depth: float) -> np.ndarray:
    """Albedo under the scene's light, faded toward the haze by depth (0 near .. 1 far)."""
    snowy = "snow" in cv.scene.weather
    a = np.asarray(SNOW if snowy and albedo is not ALBEDO["city"] and albedo is not ALBEDO["forest"]
                   else albedo, np.float32)
    c = a * np.asarray(cv.pal.light, np.float32) * cv.pal.ambient
    fog = 0.35 if "fog" in cv.scene.weather else 0.0
    if snowy and a[2] > 0.9:
        c = a * mix(cv.pal.light, (0.85, 0.9, 1.0), 0.5) * max(cv.pal.ambient, 0.45)  # snow stays bright
    elif cv.scene.time in ("sunset", "dusk", "dawn"):
        c = c * 0.75  # land is mostly in shadow against a low sun
    return mix(c, cv.pal.haze, min(0.95, depth ** 1.4 * 0.9 + fog * (0.4 + depth)))


def _detail(cv: Canvas, key: str, aspect: float) -> np.ndarray:
    """Full-canvas texture fields, made once per render and shared by layers."""
    cache = cv.__dict__.setdefault("_detail", {})
    if key not in cache:
        # Own stream per field: creating it lazily must not shift the composition's random draws.
        rng = rng_for(*cv.keys, zlib.crc32(key.encode()))
        cache[key] = fbm2d(rng, cv.h, cv.w, base=6, octaves=5, aspect=aspect)
    return cache[key]


def _rock(cv: Canvas, profile: np.ndarray) -> np.ndarray:
    """Ridged noise sheared along each face, so gullies run diagonally down from the crest."""
    cache = cv.__dict__.setdefault("_detail", {})
    if "ridged" not in cache:
        cache["ridged"] = 1.0 - np.abs(2.0 * _detail(cv, "rock", 1.2) - 1.0)
    ridged = cache["ridged"]
    r = max(1, int(12 * cv.s))
    sm = np.convolve(np.pad(profile, r, mode="edge"), np.ones(2 * r + 1) / (2 * r + 1), mode="valid")
    shear = np.clip(np.gradient(sm) * 2.0, -1.2, 1.2).astype(np.float32)
    y0 = max(0, int(profile.min()))
    ys = np.arange(y0, cv.h, dtype=np.float32)[:, None]
    xs = np.arange(cv.w, dtype=np.float32)[None, :]
    src_x = np.clip(xs - (ys - profile[None, :]) * shear[None, :], 0, cv.w - 1).astype(np.int32)
    out = np.empty((cv.h, cv.w), np.float32)
    out[:y0] = 0.5
    out[y0:] = ridged[np.arange(y0, cv.h)[:, None], src_x]
    return out


def _slope_light(cv: Canvas, profile: np.ndarray, k: float, smooth: float = 9.0) -> np.ndarray:
    """Brighten faces turned toward the light: a 1-D slope is enough for silhouettes.

    The slope is taken on a smoothed profile, else fine ridge detail turns into vertical stripes."""
    lx = cv.light_xy[0] if cv.light_xy else cv.w / 2
    r = max(1, int(smooth * cv.s))
    kernel = np.ones(2 * r + 1, np.float32) / (2 * r + 1)
    sm = np.convolve(np.pad(profile, r, mode="edge"), kernel, mode="valid")
    g = np.gradient(sm)
    side = np.sign(np.arange(cv.w) - lx)  # light on the left -> slopes facing left are lit
    return np.clip(1.0 + k * np.tanh(g * 0.8) * side, 0.45, 1.6).astype(np.float32)


def _fill(cv: Canvas, profile: np.ndarray, colour, shade: np.ndarray | None = None,
          tex: np.ndarray | None = None, tex_amount: float = 0.0, valley_haze: float = 0.0,
          depth_px: float = 1.0, shade_fade: float | None = None) -> None:
    mask, y0 = cv.below(profile)
    col = np.broadcast_to(np.asarray(colour, np.float32), (mask.shape[0], cv.w, 3)).copy()
    if shade is not None:
        if shade_fade:
            # Slope light belongs to the crest; lower down the faces turn and it fades out.
            ys = np.arange(y0, y0 + mask.shape[0], dtype=np.float32)[:, None]
            f = np.exp(-np.clip(ys - profile[None, :], 0, None) / shade_fade)
            col *= (1.0 + (shade[None, :] - 1.0) * f)[..., None]
        else:
            col *= shade[None, :, None]
    if tex is not None and tex_amount and cv.texture:
        col *= (1.0 - tex_amount * cv.texture + 2 * tex_amount * cv.texture * tex[y0:y0 + mask.shape[0], :, None])
    if valley_haze:
        ys = np.arange(y0, y0 + mask.shape[0], dtype=np.float32)[:, None]
        v = smoothstep(0.0, 1.0, (ys - profile[None, :]) / depth_px) * valley_haze
        col += (np.asarray(cv.pal.haze, np.float32) - col) * v[..., None]
    cv.paint(mask, col, y0)


# ---------------------------------------------------------------- far layers

def mountains(cv: Canvas) -> None:
    hz, rng = cv.horizon, cv.rng
    ranges = 3
    xs = np.arange(cv.w, dtype=np.float32)
    valley = np.ones(cv.w, np.float32)
    if cv.sun_xy is not None and cv.scene.time in ("sunset", "dawn"):
        # Open a valley under a low sun so it sets between peaks rather than behind them.
        valley -= 0.75 * np.exp(-((xs - cv.sun_xy[0]) / (0.16 * cv.w)) ** 2)
    for i in range(ranges):
        depth = 1.0 - (i + 0.5) / ranges  # farthest first
        height = hz * (0.50 - 0.12 * i) * float(rng.uniform(0.75, 1.1))
        n = fbm1d(rng, cv.w, base=int(rng.integers(2, 5)), octaves=8, persistence=0.5, ridged=True)
        profile = hz - height * (0.12 + 0.88 * n ** 1.6) * (valley if i < 2 else 1.0) + i * 0.02 * hz
        col = lit(cv, ALBEDO["mountains"], depth)
        shade = _slope_light(cv, profile, 0.5 * cv.texture + 0.25)
        _fill(cv, profile, col, shade, _rock(cv, profile), 0.2, valley_haze=0.35,
              depth_px=height * 1.2, shade_fade=height * 0.35)
        if i == 0 or "snow" in cv.scene.weather:
            _snow_caps(cv, profile, height, shade, depth)


def _snow_caps(cv: Canvas, profile, height, shade, depth) -> None:
    line = profile.min() + height * 0.35
    mask, y0 = cv.below(profile, y_end=None)
    ys = np.arange(y0, y0 + mask.shape[0], dtype=np.float32)[:, None]
    tex = _detail(cv, "rock", 0.8)[y0:y0 + mask.shape[0]]
    jag = line + (tex - 0.5) * height * 0.5
    cap = mask * smoothstep(1.5, -1.5, ys - jag) * smoothstep(-2, 2, jag - profile[None, :])
    col = lit(cv, SNOW, depth * 0.6) * np.clip(shade, 0.6, 1.25)[None, :, None]
    cv.paint(cap * 0.92, col, y0)


def distant_hills(cv: Canvas, kind: str) -> None:
    """Low hazy ridges behind the main land so flat scenes still have depth."""
    for i in range(2):
        n = fbm1d(cv.rng, cv.w, base=2, octaves=4)
        profile = cv.horizon - cv.h * (0.06 - 0.025 * i) * (0.4 + n)
        col = lit(cv, ALBEDO["dunes" if kind == "dunes" else "hills"], 0.85 - 0.25 * i)
        _fill(cv, profile, col)


def far_layers(cv: Canvas) -> None:
    t = cv.scene.terrain
    if "mountains" in t:
        mountains(cv)
    elif any(k in t for k in ("hills", "dunes", "forest", "meadow")):
        distant_hills(cv, "dunes" if "dunes" in t else "hills")
    elif "city" in t:
        city(cv, rows=1, base=cv.horizon, depth=0.85)
    elif cv.scene.water == "sea" and cv.rng.random() < 0.6:
        # A distant headland on an open sea.
        x0 = cv.w * float(cv.rng.uniform(-0.2, 0.5))
        xs = np.arange(cv.w, dtype=np.float32)
        bump = np.clip(1 - ((xs - x0) / (cv.w * 0.35)) ** 2, 0, None) ** 0.7
        profile = cv.horizon - cv.h * 0.05 * bump * (0.7 + 0.3 * fbm1d(cv.rng, cv.w, base=4))
        _fill(cv, profile, lit(cv, ALBEDO["hills"], 0.8))


# ---------------------------------------------------------------- near layers

def near_layers(cv: Canvas) -> None:
    near = [t for t in cv.scene.terrain if t != "mountains"]
    hz, h = cv.horizon, cv.h
    flat_water = cv.scene.water in ("sea", "lake")
    if flat_water:
        # Land sits on the far shore and is mirrored by the water stage.
        for t in near:
            _shore(cv, t)
        cv.ground[:] = hz
        return
    if not near:
        near = ["hills"]  # mountains alone still need ground to stand on
    k = len(near)
    for i, t in enumerate(near):
        base = hz + (h - hz) * (0.05 + 0.45 * i / max(1, k))
        depth = 0.55 * (1 - (i + 1) / k)
        _band(cv, t, base, depth, last=(i == k - 1))


def _band(cv: Canvas, kind: str, base: float, depth: float, last: bool) -> None:
    rng, h = cv.rng, cv.h
    if kind == "city":
        if last:
            base = base + (h - base) * 0.55  # the city is the subject: let it fill the frame
        city(cv, rows=3, base=base, depth=depth)
        street = np.full(cv.w, base, np.float32)
        _fill(cv, street, lit(cv, (0.16, 0.16, 0.19), depth))
        if cv.scene.time in ("night", "dusk"):
            # Street light spilling onto the ground in front of the towers.
            y0 = int(base)
            ys = np.arange(y0, h, dtype=np.float32)[:, None]
            spill = 0.3 * np.exp(-(ys - base) / (0.04 * h)) * (0.6 + 0.4 * fbm1d(rng, cv.w, base=24))[None, :]
            cv.add(spill, (0.9, 0.6, 0.3), y0)
        cv.ground[:] = base
        return
    if kind == "forest":
        # Ground first, then rows of conifers standing on it.
        _fill(cv, np.full(cv.w, base, np.float32), lit(cv, ALBEDO["meadow"], depth + 0.1) * 0.7)
        forest(cv, base, depth, rows=4)
        cv.ground[:] = base + (h - base) * 0.5
        return
    if kind == "dunes":
        for j in range(3):
            b = base + (h - base) * 0.28 * j
            xs = np.linspace(0, 1, cv.w, dtype=np.float32)
            ph, fr = rng.uniform(0, 6.28), rng.uniform(1.2, 2.6)
            wave = np.sin(xs * fr * 6.28 + ph) + 0.45 * np.sin(xs * fr * 13.1 + ph * 2)
            profile = b - (h - base) * 0.12 * (wave + 1.5) - 8 * cv.s * fbm1d(rng, cv.w, base=8)
            shade = _slope_light(cv, profile, 0.9)
            _fill(cv, profile, lit(cv, ALBEDO["dunes"], depth * (1 - j / 3)), shade,
                  _detail(cv, "sand", 5.0), 0.12)
        cv.ground[:] = profile
        return
    # hills / meadow: smooth rolling ground
    n = fbm1d(rng, cv.w, base=2, octaves=4, persistence=0.45)
    profile = base - (h - base) * (0.10 + 0.22 * n)
    shade = _slope_light(cv, profile, 0.35)
    albedo = ALBEDO["meadow" if kind == "meadow" else "hills"]
    _fill(cv, profile, lit(cv, albedo, depth), shade, _detail(cv, "grass", 0.25), 0.18,
          valley_haze=-0.25 if last else 0.0, depth_px=h - base + 1)
    cv.ground[:] = profile
    if kind == "meadow" and "snow" not in cv.scene.weather:
        flowers(cv, profile)


def _shore(cv: Canvas, kind: str) -> None:
    """A thin strip of land on the far shore of a lake or sea."""
    hz = cv.horizon
    if kind == "city":
        city(cv, rows=2, base=hz, depth=0.3)
    elif kind == "forest":
        forest(cv, hz, 0.35, rows=2, shore=True)
    else:
        n = fbm1d(cv.rng, cv.w, base=3, octaves=5)
        tall = 0.07 if kind == "hills" else 0.04
        profile = hz - cv.h * tall * (0.3 + n) * (1.0 if kind != "meadow" else 0.5)
        _fill(cv, profile, lit(cv, ALBEDO[kind], 0.35), _slope_light(cv, profile, 0.4))


# ---------------------------------------------------------------- forest, city, meadow details

def forest(cv: Canvas, base: float, depth: float, rows: int, shore: bool = False) -> None:
    rng, s = cv.rng, cv.s
    snowy = "snow" in cv.scene.weather
    for r in range(rows):
        f = r / max(1, rows - 1) if rows > 1 else 1.0
        tree_h = (50 + 200 * f ** 1.5) * s * (0.7 if shore else 1.0)
        row_base = base + (0 if shore else (cv.h - base) * 0.55 * f ** 1.3)
        top = row_base - tree_h * 1.4
        st = Stamp(cv, 0, top, cv.w, row_base + tree_h * 0.1)
        x = float(rng.uniform(-20, 0)) * s
        while x < cv.w + 20 * s:
            th = tree_h * float(rng.uniform(0.65, 1.3))
            tw = th * float(rng.uniform(0.32, 0.42))
            yb = row_base + float(rng.uniform(-0.06, 0.06)) * tree_h
            _conifer(st, x, yb, tw, th)
            x += tw * float(rng.uniform(0.35, 0.75))
        d = depth * (1 - f) + (0.15 if shore else 0)
        col = np.asarray(lit(cv, ALBEDO["forest"], d), np.float32)
        m = st.paint(col)
        if cv.texture:
            # Needle texture and, in snow, white on the branches.
            tex = _detail(cv, "needles", 0.6)[st.y0:st.y1, st.x0:st.x1]
            region = cv.img[st.y0:st.y1, st.x0:st.x1]
            region *= (1 - 0.25 * cv.texture * m * (tex - 0.5))[..., None]
        if snowy:
            # Snow settles on the upper edges of each tier: coverage minus itself shifted down.
            k = max(1, int(3 * s * (1 + f)))
            top = np.clip(m - np.vstack([np.zeros((k, m.shape[1]), np.float32), m[:-k]]), 0, 1)
            fine = _detail(cv, "snowfine", 2.0)[st.y0:st.y1, st.x0:st.x1]
            _paint_region(cv, st, np.clip(top * 1.2 + m * smoothstep(0.62, 0.72, fine) * 0.5, 0, 0.95),
                          lit(cv, SNOW, d))


def _paint_region(cv: Canvas, st: Stamp, m: np.ndarray, colour) -> None:
    region = cv.img[st.y0:st.y1, st.x0:st.x1]
    region += (np.asarray(colour, np.float32)[None, None, :] - region) * m[..., None]


def _conifer(st: Stamp, x: float, yb: float, w: float, h: float) -> None:
    tiers = 4
    pts_l, pts_r = [], []
    for k in range(tiers):
        y_top = yb - h * (k + 1) / tiers * 0.95
        y_bot = yb - h * k / tiers * 0.95 + h * 0.06
        half = w / 2 * (1 - k / tiers * 0.75)
        pts_l += [(x - half, y_bot), (x - half * 0.45, y_top + h * 0.05)]
        pts_r += [(x + half, y_bot), (x + half * 0.45, y_top + h * 0.05)]
    pts = pts_l + [(x, yb - h)] + pts_r[::-1]
    st.polygon(pts)
    st.polygon([(x - w * 0.04, yb + h * 0.06), (x + w * 0.04, yb + h * 0.06), (x + w * 0.04, yb), (x - w * 0.04, yb)])


def city(cv: Canvas, rows: int, base: float, depth: float) -> None:
    rng, s = cv.rng, cv.s
    night = cv.scene.time in ("night", "dusk") or "storm" in cv.scene.weather
    if night:
        # Light pollution: a warm glow above the skyline.
        ys = np.arange(0, int(base), dtype=np.float32)[:, None]
        glow = 0.35 * np.exp(-(base - ys) / (0.12 * cv.h)) * np.ones((1, cv.w), np.float32)
        cv.add(glow, (0.55, 0.32, 0.18))
    for r in range(rows):
        f = (r + 1) / rows
        d = depth + (1 - f) * 0.5
        col = np.asarray(lit(cv, ALBEDO["city"], d), np.float32) * (1.0 + (1 - f) * 0.8)
        if not night:
            col = col * 1.6
        x = float(rng.uniform(-30, 0)) * s
        while x < cv.w:
            bw = float(rng.uniform(40, 110)) * s
            bh = float(rng.uniform(0.06, 0.30) if r < rows - 1 else rng.uniform(0.04, 0.2)) * cv.h
            bh *= 1.0 if rows == 1 else (1.6 - 0.6 * f) * (base / cv.horizon)
            _building(cv, x, bw, base, bh, col * float(rng.uniform(0.7, 1.35)), night, d)
            x += bw + float(rng.uniform(-10, 8)) * s


def _building(cv: Canvas, x: float, bw: float, base: float, bh: float, col, night: bool, depth: float) -> None:
    rng, s = cv.rng, cv.s
    x0, x1 = max(0, int(x)), min(cv.w, int(x + bw))
    y0, y1 = max(0, int(base - bh)), min(cv.h, int(base) + 1)
    if x1 <= x0 or y1 <= y0:
        return
    cv.img[y0:y1, x0:x1] = col
    if rng.random() < 0.35:  # antenna or stepped crown
        ax = int(x + bw / 2)
        cv.img[max(0, y0 - int(30 * s)):y0, max(0, ax - 1):ax + 1] = col
        if rng.random() < 0.5:
            sx0, sx1 = int(x + bw * 0.2), int(x + bw * 0.8)
            cv.img[max(0, y0 - int(14 * s)):y0, max(0, sx0):min(cv.w, sx1)] = col
    cw, ch = max(3, int(9 * s)), max(4, int(13 * s))
    ww, wh = max(1, int(cw * 0.55)), max(1, int(ch * 0.5))
    yy = np.arange(y0, y1)[:, None] - y0 - int(6 * s)
    xx = np.arange(x0, x1)[None, :] - x0 - int(4 * s)
    grid = (yy >= 0) & (xx >= 0) & (yy % ch < wh) & (xx % cw < ww) & (xx < (x1 - x0) - int(8 * s))
    cells = rng.random((yy.shape[0] // ch + 2, xx.shape[1] // cw + 2))
    idx = cells[np.clip(yy // ch, 0, None), np.clip(xx // cw, 0, None)]
    region = cv.img[y0:y1, x0:x1]
    if night:
        on = grid & (idx < 0.3)
        warm = np.asarray(mix((1.0, 0.82, 0.45), cv.pal.haze, depth * 0.6), np.float32)
        region[on] = warm * (0.6 + 0.4 * idx[on, None] / 0.3)
    else:
        glass = np.asarray(mix(col, cv.pal.zenith, 0.45), np.float32) * 1.1
        region[grid] = glass * (0.8 + 0.3 * idx[grid, None])


def flowers(cv: Canvas, profile: np.ndarray) -> None:
    rng, s = cv.rng, cv.s
    top = int(max(0, profile.min()))
    band = cv.h - top
    layer = Image.new("RGBA", (cv.w, band), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    palette = [(230, 60, 60), (250, 210, 60), (250, 250, 245), (170, 90, 210), (245, 130, 180)]
    light = np.asarray(cv.pal.light) * cv.pal.ambient
    n = int(cv.w * band / 700)
    xs = rng.uniform(0, cv.w, n)
    ts = rng.random(n) ** 0.6
    ys = profile[np.clip(xs.astype(int), 0, cv.w - 1)] + ts * (cv.h - profile.min())
    cols = rng.integers(0, len(palette), n)
    order = np.argsort(ys)  # far flowers first
    for i in order:
        y = ys[i] - top
        if y < 0 or y >= band:
            continue
        r = (1.0 + 5.0 * ts[i]) * s
        c = tuple(int(v * k) for v, k in zip(palette[cols[i]], light))
        draw.ellipse((xs[i] - r, y - r * 0.8, xs[i] + r, y + r * 0.8), fill=c + (255,))
    arr = np.asarray(layer, np.float32) / 255.0
    cv.paint(arr[..., 3] * 0.95, arr[..., :3], top)
