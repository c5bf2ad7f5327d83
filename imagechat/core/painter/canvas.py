"""The shared canvas: a float32 RGB array in [0, 1] plus helpers every layer uses."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from .palette import Palette
from .scene import Scene


@dataclass
class Canvas:
    w: int
    h: int
    scene: Scene
    pal: Palette
    rng: np.random.Generator
    texture: float  # 0 = flat fills (cartoon), 1 = full texture
    horizon: float  # y of the horizon / waterline in px
    keys: tuple[int, ...] = ()  # seed material for side streams that must not disturb `rng`
    # An edit: the subjects of the image being changed (subjects.paint_subjects keeps their places), and the
    # bounding box (x0, y0, x1, y1) of the painted area, where added subjects go (`focus` while one is drawn).
    base_subjects: frozenset[str] | None = None
    edit_area: tuple[float, float, float, float] | None = None
    focus: tuple[float, float, float, float] | None = None
    img: np.ndarray = field(init=False)
    ground: np.ndarray = field(init=False)  # per-column y of the nearest land top (for placing subjects)
    sun_xy: tuple[float, float] | None = None
    light_xy: tuple[float, float] | None = None  # where the light comes from (sun/moon/glow)

    def __post_init__(self) -> None:
        self.img = np.zeros((self.h, self.w, 3), np.float32)
        self.ground = np.full(self.w, self.horizon, np.float32)

    @property
    def s(self) -> float:
        """Scale factor relative to a 1024 px short side, so shapes keep proportions at any size."""
        return min(self.w, self.h) / 1024.0

    def paint(self, mask: np.ndarray, colour, y0: int = 0) -> None:
        """Blend `colour` (RGB triple or HxWx3 array) into rows y0.. with coverage `mask`."""
        rows = self.img[y0:y0 + mask.shape[0]]
        col = np.asarray(colour, np.float32)
        if col.ndim == 1:
            col = col[None, None, :]
        rows += (col - rows) * mask[..., None]

    def add(self, light: np.ndarray, colour, y0: int = 0) -> None:
        """Additive light (glows, beams, lightning)."""
        rows = self.img[y0:y0 + light.shape[0]]
        rows += light[..., None] * np.asarray(colour, np.float32)[None, None, :]

    def below(self, profile: np.ndarray, y_end: float | None = None) -> tuple[np.ndarray, int]:
        """Anti-aliased coverage of everything below a per-column profile, cropped to the rows it touches."""
        y0 = max(0, int(np.floor(profile.min())))
        y1 = self.h if y_end is None else min(self.h, int(np.ceil(y_end)))
        ys = np.arange(y0, y1, dtype=np.float32)[:, None]
        mask = np.clip(ys - profile[None, :] + 0.5, 0.0, 1.0)
        if y_end is not None:
            mask *= np.clip(y_end - ys + 0.5, 0.0, 1.0)
        return mask, y0


class Stamp:
    """Draw crisp vector shapes with Pillow at 3x, downsample for anti-aliasing, paint the result.

    Only the bounding box is rasterised, so a small subject costs a small area."""

    SS = 3

    def __init__(self, cv: Canvas, x0: float, y0: float, x1: float, y1: float):
        self.cv = cv
        self.x0, self.y0 = max(0, int(x0) - 2), max(0, int(y0) - 2)
        self.x1, self.y1 = min(cv.w, int(x1) + 3), min(cv.h, int(y1) + 3)
        size = (max(1, (self.x1 - self.x0) * self.SS), max(1, (self.y1 - self.y0) * self.SS))
        self.im = Image.new("L", size, 0)
        self.draw = ImageDraw.Draw(self.im)

    def _p(self, pts):
        return [((x - self.x0) * self.SS, (y - self.y0) * self.SS) for x, y in pts]

    def polygon(self, pts, fill=255):
        self.draw.polygon(self._p(pts), fill=fill)

    def ellipse(self, x0, y0, x1, y1, fill=255):
        (a, b), (c, d) = self._p([(x0, y0), (x1, y1)])
        self.draw.ellipse((a, b, max(a, c), max(b, d)), fill=fill)

    def line(self, pts, width: float, fill=255):
        self.draw.line(self._p(pts), fill=fill, width=max(1, int(round(width * self.SS))), joint="curve")

    def mask(self, blur: float = 0.0) -> np.ndarray:
        im = self.im.resize((self.x1 - self.x0, self.y1 - self.y0), Image.BOX)
        if blur:
            im = im.filter(ImageFilter.GaussianBlur(blur))
        return np.asarray(im, np.float32) / 255.0

    def paint(self, colour, alpha: float = 1.0, blur: float = 0.0) -> np.ndarray:
        m = self.mask(blur) * alpha
        region = self.cv.img[self.y0:self.y1, self.x0:self.x1]
        region += (np.asarray(colour, np.float32)[None, None, :] - region) * m[..., None]
        return m


def blur_rgb(img: np.ndarray, radius: float) -> np.ndarray:
    """Gaussian blur through Pillow (8-bit, C speed); precision is plenty for effects."""
    im = Image.fromarray(to_u8(img)).filter(ImageFilter.GaussianBlur(radius))
    return np.asarray(im, np.float32) / 255.0


def blur_mask(m: np.ndarray, radius: float) -> np.ndarray:
    im = Image.fromarray(to_u8(m)).filter(ImageFilter.GaussianBlur(radius))
    return np.asarray(im, np.float32) / 255.0


def to_u8(a: np.ndarray) -> np.ndarray:
    return (np.clip(a, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def luminance(img: np.ndarray) -> np.ndarray:
    return img[..., 0] * 0.299 + img[..., 1] * 0.587 + img[..., 2] * 0.114


def mix(a, b, t):
    a = np.asarray(a, np.float32)
    return a + (np.asarray(b, np.float32) - a) * t
