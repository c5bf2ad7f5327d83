"""The layer pipeline: sky -> far land -> near land -> water -> subjects -> weather -> style -> finish.

Each stage reports before it starts, so a caller can show real per-layer progress; one stage
also hands over a small JPEG of the scene so far as a genuine preview."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image

from imagechat.core.styles import STYLES

from .canvas import Canvas, to_u8
from .noise import rng_for
from .palette import grade, palette_for
from .scene import Scene
from .sky import paint_sky
from .styles import TEXTURE, apply_style, finish
from .subjects import paint_subjects
from .terrain import far_layers, near_layers
from .water import paint_water
from .weather import paint_weather

# Relative cost of each stage, measured roughly at 1024x1024; used to weight progress.
WEIGHTS = {"sky": 12, "far": 12, "near": 14, "water": 10, "subjects": 6, "weather": 8, "style": 24, "finish": 14}

# report(fraction_done_before_this_stage, stage_text, preview_bytes_or_None)
Report = Callable[[float, str, bytes | None], None]


@dataclass(frozen=True)
class Rendered:
    pixels: np.ndarray  # HxWx3 uint8
    style: str

    def encode(self, fmt: str = "png") -> bytes:
        buf = io.BytesIO()
        im = Image.fromarray(self.pixels)
        if fmt == "png":
            im.save(buf, "PNG", compress_level=3)
        elif fmt == "jpeg":
            im.save(buf, "JPEG", quality=92)
        elif fmt == "webp":
            im.save(buf, "WEBP", quality=90)
        else:
            raise ValueError(f"unsupported format {fmt!r}")
        return buf.getvalue()


def stage_texts(scene: Scene, style: str) -> dict[str, str]:
    t, w = scene.terrain, scene.weather
    sky = {"night": "Painting the night sky and stars", "sunset": "Painting the sunset sky",
           "dawn": "Painting the dawn sky", "dusk": "Painting the dusk sky"}.get(scene.time, "Painting the sky")
    if "storm" in w:
        sky = "Gathering storm clouds"
    far = ("Raising the mountains" if "mountains" in t else "Shaping distant dunes" if "dunes" in t
           else "Sketching the distant skyline" if t == ("city",) else "Setting the horizon")
    near_names = [x for x in t if x != "mountains"]
    near = {"forest": "Planting the forest", "city": "Building the city skyline", "meadow": "Growing the meadow",
            "hills": "Rolling out the hills", "dunes": "Shaping the dunes"}.get(
        near_names[-1] if near_names else "", "Laying the foreground")
    water = {"sea": "Rolling the waves", "lake": "Mirroring the lake", "river": "Winding the river"}.get(
        scene.water or "", "Adding depth and haze")
    subj = [s for s in ("lighthouse", "boat", "house", "tree", "birds") if s in scene.subjects]
    subjects = f"Placing the {', '.join(subj)}" if subj else "Adding details"
    weather = ("Letting it snow" if "snow" in w else "Adding rain and lightning" if "storm" in w
               else "Adding rain" if "rain" in w else "Rolling in the fog" if "fog" in w
               else "Balancing the colours")
    finish_text = "Adding film grain and saving" if style == "photorealistic" else "Saving the image"
    return {"sky": sky, "far": far, "near": near, "water": water, "subjects": subjects,
            "weather": weather, "style": f"Applying the {style} treatment", "finish": finish_text}


def _preview(img: np.ndarray) -> bytes:
    im = Image.fromarray(to_u8(img))
    im.thumbnail((256, 256))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=70)
    return buf.getvalue()


def render(scene: Scene, style: str, width: int, height: int, seed: int,
           report: Report | None = None, *, base: Scene | None = None,
           area: tuple[float, float, float, float] | None = None) -> Rendered:
    """Paint `scene`. `base` (an edit: the scene of the image being changed) keeps that image's composition:
    the same layout stream, subjects it had in the same places, added subjects placed from a stream of their
    own, so "a lake at sunset, with a boat" is the same lake with a boat on it. `area` (x0, y0, x1, y1 in pixels,
    the painted part of a masked edit) is where those added subjects go."""
    if style not in TEXTURE:
        raise ValueError(f"unknown style {style!r}")
    texts = stage_texts(scene, style)
    total = float(sum(WEIGHTS.values()))
    done = 0.0

    def step(key: str, preview: bytes | None = None) -> None:
        nonlocal done
        if report:
            report(done / total, texts[key], preview)
        done += WEIGHTS[key]

    # Composition depends on (prompt, seed) only, so switching style keeps the same scene.
    keys = (seed, (base or scene).prompt_hash)
    rng = rng_for(*keys, 1)
    water = scene.water in ("sea", "lake")
    lo, hi = (0.50, 0.60) if water else (0.55, 0.66)
    if not water and scene.terrain == ("mountains",):
        lo, hi = 0.62, 0.7
    cv = Canvas(w=width, h=height, scene=scene, pal=palette_for(scene), rng=rng, texture=TEXTURE[style],
                horizon=height * float(rng.uniform(lo, hi)), keys=keys,
                base_subjects=base.subjects if base is not None else None, edit_area=area)

    step("sky")
    paint_sky(cv)
    sky = cv.img.copy() if style == "sketch" else None
    step("far")
    far_layers(cv)
    step("near")
    near_layers(cv)
    step("water")
    paint_water(cv)
    step("subjects")
    paint_subjects(cv)
    shapes = None
    if sky is not None:
        # What the land and subjects covered: the sketch hatches these and leaves the sky as paper.
        shapes = (np.abs(cv.img - sky).max(axis=2) > 0.04).astype(np.float32)
        del sky
    step("weather", _preview(cv.img) if report else None)
    paint_weather(cv)
    img = grade(cv.img, scene.colours)
    step("style")
    style_rng = rng_for(*keys, 2 + STYLES.index(style))
    img = apply_style(img, style, style_rng, keys[1], shapes=shapes, scene=scene)
    step("finish")
    img = finish(img, style, style_rng)
    return Rendered(pixels=to_u8(img), style=style)
