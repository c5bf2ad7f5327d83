"""Land: far mountain ranges with fractal ridges, then hills, dunes, city, forest and meadow.

Every layer is a per-column profile filled down to the bottom of the canvas, so nearer layers
simply paint over farther ones. Distance is sold by atmospheric perspective: far layers fade
toward the palette's haze colour (more so in fog)."""

from __future__ import annotations

import zlib

import numpy as np
from PIL import Image, ImageDraw

from .canvas import Canvas, Stamp, mix
from .filters import box
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


def _detail(cv: Canvas, key: str, aspect: float, octaves: int = 5) -> np.ndarray:
    """Full-canvas texture fields, made once per render and shared by layers."""
    cache = cv.__dict__.setdefault("_detail", {})
    if key not in cache:
        # Own stream per field: creating it lazily must not shift the composition's random draws.
        rng = rng_for(*cv.keys, zlib.crc32(key.encode()))
        cache[key] = fbm2d(rng, cv.h, cv.w, base=6, octaves=octaves, aspect=aspect)
    return cache[key]


def _gauss(a: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian-like blur of a float field: three box passes (sigma^2 ~ r(r+1)), edges clamped."""
    r = max(1, int(round(sigma)))
    for _ in range(3):
        a = box(a, r)
    return a


def _relief(cv: Canvas, profile: np.ndarray, y0: int, y1: int, sigmas=(6.0, 20.0, 60.0),
            weights=(0.25, 0.4, 0.35), noise: float = 0.0, noise_key: str = "rock", noise_octaves: int = 5):
    """Surface normals for the face below a silhouette, as if the land swelled away from its edge.

    The coverage below `profile` is blurred at a few scales; the sum is a height field whose ridges
    run down from every peak (a spur per summit), so lighting it gives lit and shaded flanks that
    follow the shape instead of columns. Computed at reduced resolution, then upsampled."""
    rows = max(1, y1 - y0)
    f = max(1, int(round(4 * cv.s)))
    hs, ws = max(2, -(-rows // f)), max(2, -(-cv.w // f))
    pad = ws * f - cv.w
    prof = np.pad(profile, (0, pad), mode="edge").reshape(ws, f).mean(axis=1)
    ys = (np.arange(hs, dtype=np.float32) * f + f / 2 + y0)[:, None]
    cover = np.clip((ys - prof[None, :]) / f + 0.5, 0.0, 1.0)
    hgt = np.zeros((hs, ws), np.float64)
    for sg, wt in zip(sigmas, weights, strict=True):
        sg = sg * cv.s / f
        hgt += wt * sg * _gauss(cover, sg)
    hgt = np.asarray(Image.fromarray(hgt.astype(np.float32), "F").resize((cv.w, rows), Image.BILINEAR))
    hgt = hgt / f  # back to full-resolution pixel units
    if noise:
        hgt = hgt + noise * cv.s * _detail(cv, noise_key, 1.0, noise_octaves)[y0:y0 + rows]
    gx = np.empty_like(hgt)
    gy = np.empty_like(hgt)
    gx[:, 1:-1] = (hgt[:, 2:] - hgt[:, :-2]) * 0.5
    gx[:, 0], gx[:, -1] = gx[:, 1], gx[:, -2]
    gy[1:-1] = (hgt[2:] - hgt[:-2]) * 0.5
    gy[0], gy[-1] = gy[1], gy[-2]
    k = 2.2
    nx, ny = -gx * k, -gy * k
    inv = 1.0 / np.sqrt(nx * nx + ny * ny + 1.0)
    return nx * inv, ny * inv, inv


def _light_dir(cv: Canvas):
    """Per-column light direction (x, y, z) in screen space: +x right, +y down, +z toward viewer.

    The horizontal part turns smoothly toward the light source, so no seam appears under the sun."""
    lx = cv.light_xy[0] if cv.light_xy else cv.w * 0.3
    xs = np.arange(cv.w, dtype=np.float32)
    lxv = np.tanh((lx - xs) / (0.25 * cv.w)) * 0.9
    low = cv.scene.time in ("sunset", "dawn", "dusk")
    ly = -(0.3 + 0.7 * max(0.0, min(1.0, cv.pal.sun_elev)))
    lz = -0.15 if low else 0.45
    n = np.sqrt(lxv * lxv + ly * ly + lz * lz)
    return (lxv / n)[None, :], (ly / n)[None, :], (lz / n)[None, :]


def _shade(cv: Canvas, albedo, normals, direct: float = 1.0, ambient: float = 1.0,
           ground: bool = False) -> np.ndarray:
    """Lambert light from the sun plus sky light from above, in the palette's colours.

    ground=True reads the face-on normal as 'up' (open ground looks at the sky, not at us)."""
    nx, ny, nz = normals
    lx, ly, lz = _light_dir(cv)
    p = cv.pal
    if ground:
        up = 0.45 + 0.4 * max(0.0, min(1.0, p.sun_elev)) + 0.15 * (cv.scene.time in ("sunset", "dawn"))
        lam = np.clip(nx * lx * 0.8 - ny * 0.6 + nz * up, 0.0, 1.0)
        sky = 0.45 + 0.55 * nz
    else:
        lam = np.clip(nx * lx + ny * ly + nz * lz, 0.0, 1.0)
        sky = 0.55 - 0.45 * ny  # faces turned up see more sky
    if "overcast" in cv.scene.weather or "storm" in cv.scene.weather or "fog" in cv.scene.weather:
        lam = lam * 0.35 + 0.25
    sky_col = np.asarray(mix(p.zenith, p.horizon, 0.6), np.float32) * 0.55 + 0.12
    a = np.asarray(albedo, np.float32)
    light = np.asarray(p.light, np.float32) * p.ambient
    return a * ((lam * 1.25 * direct)[..., None] * light + (sky * 0.55 * ambient)[..., None] * sky_col)


def _haze(cv: Canvas, col: np.ndarray, depth: float, ys: np.ndarray, profile: np.ndarray,
          height: float, valley: float) -> np.ndarray:
    """Atmospheric perspective: distance fades toward the haze colour, and so does a range's foot."""
    fog = 0.35 if "fog" in cv.scene.weather else 0.0
    base = min(0.95, depth ** 1.5 * 0.6 + fog * (0.4 + depth))
    v = smoothstep(0.0, 1.0, (ys - profile[None, :]) / max(height, 1.0)) * valley
    t = np.clip(base + (1 - base) * v, 0, 0.97)
    return col + (np.asarray(cv.pal.haze, np.float32) - col) * t[..., None]


def _slope_light(cv: Canvas, profile: np.ndarray, k: float, smooth: float = 9.0) -> np.ndarray:
    """Brighten columns whose smoothed crest slope faces the light (for low, gentle land only)."""
    r = max(1, int(smooth * cv.s))
    kernel = np.ones(2 * r + 1, np.float32) / (2 * r + 1)
    sm = np.convolve(np.pad(profile, r, mode="edge"), kernel, mode="valid")
    g = np.gradient(sm)
    toward = -_light_dir(cv)[0][0]  # smooth in x: no seam under the sun
    return np.clip(1.0 + k * np.tanh(g * 0.8) * toward, 0.45, 1.6).astype(np.float32)


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
    snowy = "snow" in cv.scene.weather
    for i in range(ranges):
        depth = 1.0 - (i + 0.5) / ranges  # farthest first
        height = hz * (0.58 - 0.13 * i) * float(rng.uniform(0.75, 1.1))
        ridged = fbm1d(rng, cv.w, base=int(rng.integers(2, 5)), octaves=8, persistence=0.5, ridged=True)
        broad = fbm1d(rng, cv.w, base=2, octaves=3)
        n = 0.6 * ridged ** 1.3 + 0.4 * broad
        profile = hz - height * (0.1 + 0.9 * n) * (valley if i < 2 else 1.0) + i * 0.02 * hz
        y0 = max(0, int(np.floor(profile.min())))
        y1 = min(cv.h, int(hz + 0.08 * cv.h))
        if y1 <= y0:
            continue
        ys = np.arange(y0, y1, dtype=np.float32)[:, None]
        cover = np.clip(ys - profile[None, :] + 0.5, 0.0, 1.0)
        nrm = _relief(cv, profile, y0, y1, sigmas=(5.0, 16.0, 50.0), noise=(10 + 8 * (1 - depth)) * cv.texture)
        rock = np.asarray(ALBEDO["mountains"], np.float32)
        col = _shade(cv, rock, nrm)
        # Snow on the high ground: above a ragged snow line, thinning on the steepest faces.
        peak = hz - height
        line = peak + height * (0.75 if snowy else 0.42 if i == 0 else 0.3 if i == 1 else 0.0)
        if line > peak + 1:
            jag = (_detail(cv, "rock", 1.0)[y0:y1] - 0.5) * height * 0.35
            steep = np.abs(nrm[0])
            snow = smoothstep(2.0, -2.0, ys - line - jag) * smoothstep(0.75, 0.45, steep)
            col += (_shade(cv, SNOW, nrm) * 1.05 - col) * snow[..., None]
        col = _haze(cv, col, depth, ys, profile, height * 1.1, 0.5)
        cv.paint(cover, col, y0)
        if y1 < cv.h:
            # Below the shaded band the range's foot is lost in haze; later layers cover it.
            cv.img[y1:] = col[-1:]


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
        # Ground first (a gentle swell), then rows of conifers standing on it.
        n = fbm1d(rng, cv.w, base=2, octaves=3)
        _ground(cv, base - (h - base) * 0.04 * n, ALBEDO["meadow"], depth + 0.1)
        forest(cv, base, depth, rows=4)
        cv.ground[:] = base + (h - base) * 0.45
        return
    if kind == "dunes":
        for j in range(3):
            b = base + (h - base) * 0.28 * j
            xs = np.linspace(0, 1, cv.w, dtype=np.float32)
            ph, fr = rng.uniform(0, 6.28), rng.uniform(1.2, 2.6)
            # Sharp crests (ridged sine) with a lazy secondary swell: wind-built dunes.
            wave = 2.2 * (1 - np.abs(np.sin(xs * fr * 3.1416 + ph))) ** 1.6 + 0.35 * np.sin(xs * fr * 4.1 + ph * 2)
            profile = b - (h - base) * 0.10 * (wave + 0.6) - 6 * cv.s * fbm1d(rng, cv.w, base=6, octaves=3)
            y0 = max(0, int(np.floor(profile.min())))
            ys = np.arange(y0, h, dtype=np.float32)[:, None]
            cover = np.clip(ys - profile[None, :] + 0.5, 0.0, 1.0)
            nrm = _relief(cv, profile, y0, h, sigmas=(10.0, 35.0, 90.0), weights=(0.3, 0.4, 0.3),
                          noise=4.0 * cv.texture, noise_key="sand")
            col = _shade(cv, ALBEDO["dunes"], nrm, ambient=0.9)
            if cv.texture:
                ripples = _detail(cv, "ripples", 8.0, 4)[y0:h]
                col *= (1.0 - 0.08 * cv.texture + 0.16 * cv.texture * ripples)[..., None]
            col = _haze(cv, col, depth * (1 - j / 3) + 0.15 * (2 - j) / 2, ys, profile, (h - y0) * 0.5, 0.15)
            cv.paint(cover, col, y0)
        cv.ground[:] = profile
        return
    # hills / meadow: smooth rolling ground
    n = fbm1d(rng, cv.w, base=2, octaves=4, persistence=0.45)
    profile = base - (h - base) * (0.10 + 0.22 * n)
    albedo = ALBEDO["meadow" if kind == "meadow" else "hills"]
    _ground(cv, profile, albedo, depth)
    cv.ground[:] = profile
    if kind == "meadow" and "snow" not in cv.scene.weather:
        flowers(cv, profile)


def _ground(cv: Canvas, profile: np.ndarray, albedo, depth: float, y_end: int | None = None) -> None:
    """Rolling ground below `profile`: rounded relief lit by the sun, soft horizontal texture,
    hazier at the far edge. In snow it becomes a snow field with blue shadows in its hollows."""
    snowy = "snow" in cv.scene.weather
    y0 = max(0, int(np.floor(profile.min())))
    y1 = cv.h if y_end is None else min(cv.h, int(y_end))
    if y1 <= y0:
        return
    ys = np.arange(y0, y1, dtype=np.float32)[:, None]
    cover = np.clip(ys - profile[None, :] + 0.5, 0.0, 1.0)
    nrm = _relief(cv, profile, y0, y1, sigmas=(14.0, 45.0, 120.0), weights=(0.2, 0.4, 0.4),
                  noise=(9.0 if snowy else 6.0) * max(cv.texture, 0.3), noise_key="drifts", noise_octaves=3)
    a = SNOW if snowy else albedo
    col = _shade(cv, a, nrm, direct=0.9, ambient=1.25 if snowy else 1.0, ground=True)
    if not snowy and cv.texture:
        # Grass: soft horizontal tufts, and the near ground a touch darker and richer.
        tex = _detail(cv, "grass", 4.0)[y0:y1]
        col *= (1.0 - 0.16 * cv.texture + 0.32 * cv.texture * tex)[..., None]
    near = np.clip((ys - y0) / max(cv.h - y0, 1), 0, 1)
    col *= (1.0 - (0.0 if snowy else 0.18) * near)[..., None]
    col = _haze(cv, col, depth, ys, profile, (cv.h - y0) * 0.25, 0.0)
    # The far edge of each swell catches a little haze so layered hills separate.
    rim = np.exp(-np.clip(ys - profile[None, :], 0, None) / (18 * cv.s)) * 0.25
    col += (np.asarray(cv.pal.haze, np.float32) - col) * rim[..., None]
    cv.paint(cover, col, y0)


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
    """Rows of conifers, far to near: hazier and smaller behind, with clearings in front.

    Each tree has a lit and a shaded half; in snow every tier carries a white cap."""
    rng, s = cv.rng, cv.s
    snowy = "snow" in cv.scene.weather
    toward = 1.0 if (cv.light_xy[0] if cv.light_xy else cv.w / 2) > cv.w / 2 else -1.0
    for r in range(rows):
        f = r / max(1, rows - 1) if rows > 1 else 1.0
        tree_h = (45 + 150 * f ** 1.6) * s * (0.7 if shore else 1.0)
        row_base = base + (0 if shore else (cv.h - base) * 0.42 * f ** 1.4)
        top = row_base - tree_h * 1.4
        body = Stamp(cv, 0, top, cv.w, row_base + tree_h * 0.1)
        half = Stamp(cv, 0, top, cv.w, row_base + tree_h * 0.1)
        caps = Stamp(cv, 0, top, cv.w, row_base + tree_h * 0.1)
        x = float(rng.uniform(-20, 0)) * s
        gap = 0.25 * f if not shore else 0.0
        while x < cv.w + 20 * s:
            th = tree_h * float(rng.uniform(0.65, 1.3))
            tw = th * float(rng.uniform(0.34, 0.44))
            yb = row_base + float(rng.uniform(-0.06, 0.06)) * tree_h
            if rng.random() >= gap:
                _conifer(body, half, caps if snowy else None, x, yb, tw, th, toward)
            x += tw * float(rng.uniform(0.45, 0.85) if r < rows - 1 else rng.uniform(0.7, 1.4))
        d = depth * (1 - f) + (0.15 if shore else 0) + 0.25 * (1 - f)
        col = np.asarray(lit(cv, ALBEDO["forest"], d), np.float32)
        m = body.paint(col)
        if cv.texture or True:
            hm = half.mask() * m
            light = np.asarray(lit(cv, (0.18, 0.42, 0.22), d), np.float32)
            _paint_region(cv, body, hm * 0.55, light)
        if snowy:
            cm = np.clip(caps.mask(0.4 * s) * 1.2, 0, 1) * m
            snow_lit = np.asarray(lit(cv, SNOW, d * 0.8), np.float32)
            snow_shade = snow_lit * np.asarray(mix((0.62, 0.68, 0.85), cv.pal.zenith, 0.25), np.float32)
            _paint_region(cv, body, cm * 0.95, snow_shade)
            _paint_region(cv, body, cm * hm * 0.95, snow_lit)


def _paint_region(cv: Canvas, st: Stamp, m: np.ndarray, colour) -> None:
    region = cv.img[st.y0:st.y1, st.x0:st.x1]
    region += (np.asarray(colour, np.float32)[None, None, :] - region) * m[..., None]


def _conifer(body: Stamp, half: Stamp, caps: Stamp | None, x: float, yb: float, w: float, h: float,
             toward: float) -> None:
    tiers = 5
    pts_l, pts_r = [], []
    for k in range(tiers):
        y_top = yb - h * (k + 1) / tiers * 0.92
        y_bot = yb - h * k / tiers * 0.92 + h * 0.04
        hw = w / 2 * (1 - k / tiers * 0.8)
        pts_l += [(x - hw, y_bot), (x - hw * 0.35, y_top + h * 0.06)]
        pts_r += [(x + hw, y_bot), (x + hw * 0.35, y_top + h * 0.06)]
        if caps is not None:
            # A snow cap on the tier: the upper part of its triangle with a drooping lower edge.
            apex = y_top - h * 0.03
            ys = apex + (y_bot - apex) * 0.55
            cw = hw * 0.62
            caps.polygon([(x, apex), (x + cw, ys), (x + cw * 0.5, ys - h * 0.012),
                          (x, ys + h * 0.015), (x - cw * 0.5, ys - h * 0.012), (x - cw, ys)])
    pts = pts_l + [(x, yb - h)] + pts_r[::-1]
    body.polygon(pts)
    body.polygon([(x - w * 0.05, yb + h * 0.06), (x + w * 0.05, yb + h * 0.06), (x + w * 0.05, yb),
                  (x - w * 0.05, yb)])
    side = pts_r if toward > 0 else pts_l
    half.polygon([(x, yb - h)] + side[::-1] + [(x, yb + h * 0.04)])


def city(cv: Canvas, rows: int, base: float, depth: float) -> None:
    rng, s = cv.rng, cv.s
    night = cv.scene.time in ("night", "dusk") or "storm" in cv.scene.weather
    if night:
        # Light pollution: a warm glow above the skyline.
        ys = np.arange(0, int(base), dtype=np.float32)[:, None]
        glow = 0.22 * np.exp(-(base - ys) / (0.10 * cv.h)) * np.ones((1, cv.w), np.float32)
        cv.add(glow, (0.55, 0.32, 0.18))
    for r in range(rows):
        f = (r + 1) / rows
        d = depth + (1 - f) * 0.5
        # Far rows are lighter and bluer (haze), near rows darker: the rows separate by value.
        col = np.asarray(lit(cv, ALBEDO["city"], d), np.float32) * (1.0 + (1 - f) * 0.5)
        if not night:
            col = col * 1.6
        x = float(rng.uniform(-30, 0)) * s
        while x < cv.w:
            bw = float(rng.uniform(40, 120)) * s
            bh = float(rng.uniform(0.06, 0.30) if r < rows - 1 else rng.uniform(0.04, 0.2)) * cv.h
            bh *= 1.0 if rows == 1 else (1.6 - 0.6 * f) * (base / cv.horizon)
            tone = float(rng.uniform(0.75, 1.3))
            warmth = float(rng.uniform(-0.06, 0.06))
            bcol = col * tone * np.array([1 + warmth, 1.0, 1 - warmth], np.float32)
            _building(cv, x, bw, base, bh, bcol, night, d)
            x += bw + float(rng.uniform(2, 22)) * s * (1.0 if r < rows - 1 else 1.6)


def _building(cv: Canvas, x: float, bw: float, base: float, bh: float, col, night: bool, depth: float) -> None:
    rng, s = cv.rng, cv.s
    x0, x1 = max(0, int(x)), min(cv.w, int(x + bw))
    y0, y1 = max(0, int(base - bh)), min(cv.h, int(base) + 1)
    if x1 <= x0 or y1 <= y0:
        return
    # Body with a lit and a shaded face: a narrow side face reads as volume and splits neighbours.
    cv.img[y0:y1, x0:x1] = col
    side = max(2, int(bw * float(rng.uniform(0.18, 0.3))))
    lit_left = (cv.light_xy[0] if cv.light_xy else 0) < x + bw / 2
    sx0, sx1 = (x1 - side, x1) if lit_left else (x0, x0 + side)
    cv.img[y0:y1, max(0, sx0):sx1] = col * 0.62
    edge = max(1, int(1.5 * s))
    ex = x0 if lit_left else x1 - edge
    cv.img[y0:y1, ex:ex + edge] = np.minimum(col * 1.35 + 0.02, 1.0)
    # Rooftop detail: parapet, setback crown, water tank or a mast with a red beacon.
    kind = rng.random()
    cx = int(x + bw / 2)
    top = y0
    if kind < 0.3:
        sx0, sx1 = int(x + bw * 0.2), int(x + bw * 0.8)
        hh = int(bh * float(rng.uniform(0.05, 0.12)))
        cv.img[max(0, y0 - hh):y0, max(0, sx0):min(cv.w, sx1)] = col
        top = y0 - hh
    elif kind < 0.45:
        tw, tt = max(3, int(bw * 0.18)), max(3, int(12 * s))
        tx = int(x + bw * float(rng.uniform(0.2, 0.6)))
        cv.img[max(0, y0 - tt):y0, max(0, tx):min(cv.w, tx + tw)] = col * 0.8
    cv.img[max(0, y0 - max(1, int(3 * s))):y0, x0:x1] = col * 0.85  # parapet
    if kind > 0.7:
        mh = int(float(rng.uniform(20, 50)) * s)
        cv.img[max(0, top - mh):top, max(0, cx - max(1, int(s))):cx + max(1, int(s))] = col
        if night:
            r = max(1, int(2 * s))
            cv.img[max(0, top - mh - r):max(0, top - mh + r), max(0, cx - r):cx + r] = (1.0, 0.15, 0.1)
    # Windows: a regular grid; at night only some are lit, in clusters by floor.
    cw, ch = max(3, int(10 * s)), max(4, int(14 * s))
    ww, wh = max(1, int(cw * 0.5)), max(1, int(ch * 0.45))
    m = int(5 * s)
    yy = np.arange(y0, y1)[:, None] - y0 - m
    xx = np.arange(x0, x1)[None, :] - x0 - m
    grid = (yy >= 0) & (xx >= 0) & (yy % ch < wh) & (xx % cw < ww) & (xx < (x1 - x0) - 2 * m) & \
        (yy < (y1 - y0) - 2 * m)
    rows_n, cols_n = yy.shape[0] // ch + 2, xx.shape[1] // cw + 2
    cells = rng.random((rows_n, cols_n))
    floor_on = rng.random((rows_n, 1)) < float(rng.uniform(0.15, 0.5))  # some floors are busy
    iy, ix = np.clip(yy // ch, 0, None), np.clip(xx // cw, 0, None)
    idx = cells[iy, ix]
    region = cv.img[y0:y1, x0:x1]
    if night:
        density = float(rng.uniform(0.04, 0.22))
        on = grid & ((idx < density) | (floor_on[iy, 0] & (idx < 0.55)))
        warm = np.asarray(mix((1.0, 0.80, 0.45), cv.pal.haze, depth * 0.6), np.float32)
        cool = np.asarray(mix((0.75, 0.85, 1.0), cv.pal.haze, depth * 0.6), np.float32)
        tint = warm if rng.random() < 0.75 else cool
        region[on] = tint * (0.45 + 0.55 * idx[on, None])
        region[grid & ~on] *= 0.8
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
        c = tuple(int(v * k) for v, k in zip(palette[cols[i]], light, strict=True))
        draw.ellipse((xs[i] - r, y - r * 0.8, xs[i] + r, y + r * 0.8), fill=c + (255,))
    arr = np.asarray(layer, np.float32) / 255.0
    cv.paint(arr[..., 3] * 0.95, arr[..., :3], top)
