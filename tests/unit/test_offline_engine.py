"""The offline procedural painter: grammar, determinism, styles, sizes, progress, provider contract."""

from __future__ import annotations

import asyncio
import io
import threading

import numpy as np
import pytest
from PIL import Image

from imagechat.core.errors import InvalidRequest
from imagechat.core.painter import parse_scene, render
from imagechat.core.providers.base import Progress, no_progress
from imagechat.core.providers.offline import OfflineProvider
from imagechat.core.request import ImageRequest
from imagechat.core.styles import STYLES

SMALL = 256


def px(prompt: str, style: str = "photorealistic", seed: int = 1, w: int = SMALL, h: int = SMALL) -> np.ndarray:
    return render(parse_scene(prompt), style, w, h, seed).pixels


def decode(data: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    im.load()
    return im


# ---------------------------------------------------------------- grammar

@pytest.mark.parametrize("prompt, time", [
    ("mountains at dawn", "dawn"), ("a sunny MORNING in the hills", "day"),
    ("Sunset over the sea", "sunset"), ("sunrise over a lake", "sunset"),
    ("a town at dusk", "dusk"), ("a starry night over the desert", "night"),
])
def test_time_of_day(prompt, time):
    assert parse_scene(prompt).time == time


def test_weather_words():
    assert parse_scene("a foggy forest").weather == {"fog"}
    assert parse_scene("misty hills in the rain").weather == {"fog", "rain"}
    assert parse_scene("a storm at sea").weather == {"storm", "rain"}  # storms bring rain
    assert parse_scene("a snowy village in a blizzard").weather == {"snow"}
    assert parse_scene("an overcast meadow").weather == {"overcast"}


def test_terrain_is_ordered_far_to_near_and_water_is_found():
    s = parse_scene("a meadow with flowers below mountains and a forest by a river")
    assert s.terrain == ("mountains", "forest", "meadow")
    assert s.water == "river"
    assert parse_scene("a city skyline by the ocean").terrain == ("city",)
    assert parse_scene("a city skyline by the ocean").water == "sea"
    assert parse_scene("desert dunes").terrain == ("dunes",)
    assert parse_scene("hills and a lake reflection").water == "lake"


def test_subjects_and_implied_scene_parts():
    s = parse_scene("a lighthouse with seagulls")
    assert {"lighthouse", "birds"} <= s.subjects
    assert s.water == "sea"  # a lighthouse implies the sea
    assert parse_scene("a boat").water == "lake"
    assert {"house", "tree"} <= parse_scene("a cottage and an oak tree in a field").subjects
    night = parse_scene("mountains at night")
    assert "moon" in night.subjects and "sun" not in night.subjects
    assert "sun" in parse_scene("hills on a clear day").subjects
    assert "sun" not in parse_scene("hills on a stormy day").subjects


def test_colour_and_style_words():
    s = parse_scene("A RED and Golden sunset, pastel, in watercolour")
    assert s.colours == ("red", "golden", "pastel")
    assert s.style_hint == "watercolor"
    assert parse_scene("pixel art castle").style_hint == "pixel art"
    assert parse_scene("a neon city").colours == ("neon",)
    assert parse_scene("a neon city").style_hint is None  # plain 'neon' is a colour, not the style


def test_words_match_whole_words_only():
    # 'seashell' holds 'sea', 'sandstone' holds 'sand', 'sunday' holds 'sun': none of them count.
    assert not parse_scene("a seashell on the sandstone on sunday").recognised


def test_unknown_prompt_gets_a_stable_hash_derived_scene():
    a, b = parse_scene("quantum teapot symphony"), parse_scene("quantum teapot symphony")
    assert a == b and not a.recognised
    assert a.terrain or a.water  # still a landscape
    others = {(parse_scene(f"xyzzy {i}").terrain, parse_scene(f"xyzzy {i}").water,
               parse_scene(f"xyzzy {i}").time) for i in range(12)}
    assert len(others) > 3  # the hash spreads prompts over different scenes


# ---------------------------------------------------------------- determinism and seeds

def test_same_inputs_give_identical_bytes():
    scene = parse_scene("a sunset over mountains with a lake reflection")
    one = render(scene, "watercolor", SMALL, SMALL, 42).encode()
    two = render(parse_scene("a sunset over mountains with a lake reflection"), "watercolor", SMALL, SMALL, 42).encode()
    assert one == two


def test_seed_changes_the_composition():
    a = px("mountains by a lake", seed=1).astype(np.int16)
    b = px("mountains by a lake", seed=2).astype(np.int16)
    assert np.abs(a - b).mean() > 8


# ---------------------------------------------------------------- styles are real treatments

def distinct_colours(a: np.ndarray) -> int:
    return len(np.unique(a.reshape(-1, 3), axis=0))


def test_cartoon_is_posterised():
    prompt = "a sunset over mountains with a lake reflection"
    photo, toon = px(prompt, "photorealistic"), px(prompt, "cartoon")
    assert distinct_colours(toon) <= 20
    assert distinct_colours(photo) > 20 * distinct_colours(toon)


def test_every_style_differs_from_photorealistic():
    prompt = "a house by a forest under mountains"
    photo = px(prompt, "photorealistic").astype(np.int16)
    for style in [s for s in STYLES[1:] if s not in ("pixel art", "oil painting")]:  # own tests below
        diff = np.abs(px(prompt, style).astype(np.int16) - photo).mean()
        assert diff > 6, style


def test_oil_painting_flattens_into_saturated_patches():
    prompt = "a house by a forest under mountains"
    photo, oil = px(prompt, "photorealistic"), px(prompt, "oil painting")
    sat = lambda a: np.asarray(Image.fromarray(a).convert("HSV"))[..., 1].mean()  # noqa: E731
    step = lambda a: np.median(np.abs(np.diff(a.astype(np.int16), axis=1)))  # noqa: E731
    assert sat(oil) > sat(photo) + 5
    assert step(oil) < step(photo)  # Kuwahara patches: neighbouring pixels agree more often
    assert np.abs(oil.astype(np.int16) - photo).mean() > 3


def test_pixel_art_is_blocky_with_a_small_palette():
    art = px("a sunset over mountains with a lake reflection", "pixel art", w=256, h=256)
    blocks = art.reshape(64, 4, 64, 4, 3)
    assert (blocks == blocks[:, :1, :, :1, :]).all()  # every 4x4 block is one colour
    assert distinct_colours(art) <= 24


def test_watercolor_is_softer_and_lighter_than_photo():
    prompt = "a forest in the snow at dawn"
    photo, wc = px(prompt, "photorealistic").astype(np.float32), px(prompt, "watercolor").astype(np.float32)
    grad = lambda a: np.abs(np.diff(a.mean(axis=2), axis=1)).mean()  # noqa: E731
    assert wc.mean() > photo.mean()  # transparent pigment on white paper
    assert grad(wc) != pytest.approx(grad(photo), rel=0.05)


def test_night_is_darker_than_day():
    assert px("hills at night").mean() < px("hills at midday").mean() - 40


def test_colour_word_bends_the_palette():
    plain, red = px("hills by a lake at midday"), px("red hills by a lake at midday")
    assert red[..., 0].mean() > plain[..., 0].mean() + 5
    assert red[..., 2].mean() < plain[..., 2].mean()
    mono = px("monochrome hills by a lake at midday").astype(np.int16)
    assert np.abs(mono[..., 0] - mono[..., 2]).max() <= 12  # only grain/style tint separates channels


def test_style_named_in_prompt_is_used_and_request_style_wins():
    provider = OfflineProvider()
    assert provider._validate(ImageRequest(prompt="a watercolor boat", width=64, height=64)) == "watercolor"
    request = ImageRequest(prompt="a watercolor boat", style="cartoon", width=64, height=64)
    assert provider._validate(request) == "cartoon"
    assert provider._validate(ImageRequest(prompt="a boat", width=64, height=64)) == "photorealistic"


# ---------------------------------------------------------------- provider contract

async def run(request: ImageRequest):
    events: list[Progress] = []

    async def cb(p: Progress) -> None:
        events.append(p)

    result = await OfflineProvider().generate(request, cb)
    return result, events


@pytest.mark.parametrize("w, h", [(1024, 1024), (1792, 1024), (1024, 1792)])
async def test_big_sizes(w, h):
    result, _ = await run(ImageRequest(prompt="a city skyline at night", width=w, height=h, seed=5))
    im = decode(result.images[0].data)
    assert im.format == "PNG" and im.size == (w, h) and im.mode == "RGB"


async def test_progress_is_monotonic_staged_and_ends_at_100():
    result, events = await run(ImageRequest(prompt="a lighthouse on the sea in a storm", width=SMALL,
                                                 height=SMALL, seed=9))
    pcts = [e.percent for e in events]
    assert pcts == sorted(pcts) and pcts[-1] == 100 and pcts[0] < 10
    stages = {e.stage for e in events}
    assert len(stages) >= 5
    assert any("lighthouse" in s for s in stages) and any("storm" in s.lower() for s in stages)
    previews = [e.preview for e in events if e.preview]
    assert previews and decode(previews[0]).size[0] <= 256  # a real, small intermediate render
    assert result.engine == "offline" and result.cost_usd == 0 and "no AI" in result.model


async def test_two_images_differ_and_progress_covers_both():
    result, events = await run(ImageRequest(prompt="hills", n=2, width=SMALL, height=SMALL, seed=11))
    assert [i.seed for i in result.images] == [11, 12]
    a, b = (np.asarray(decode(i.data), np.int16) for i in result.images)
    assert np.abs(a - b).mean() > 5
    assert any(e.stage.startswith("Image 2 of 2") for e in events)
    assert [e.percent for e in events] == sorted(e.percent for e in events)


async def test_random_seed_is_reported_and_reproduces_the_image():
    result, _ = await run(ImageRequest(prompt="dunes at sunset", width=128, height=128))
    img = result.images[0]
    assert isinstance(img.seed, int)
    again, _ = await run(ImageRequest(prompt="dunes at sunset", width=128, height=128, seed=img.seed))
    assert again.images[0].data == img.data


async def test_rendering_does_not_block_the_event_loop():
    ticks = 0
    stop = asyncio.Event()

    async def ticker():
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0)

    t = asyncio.create_task(ticker())
    main_thread = threading.get_ident()
    threads = set()

    async def cb(p: Progress) -> None:
        threads.add(threading.get_ident())

    await OfflineProvider().generate(ImageRequest(prompt="a forest", width=512, height=512, seed=1), cb)
    stop.set()
    await t
    assert ticks > 20  # the loop kept running while the painter worked
    assert threads == {main_thread}  # callbacks run on the loop, not in the painter thread


def test_estimate_cost_and_capabilities():
    p = OfflineProvider()
    assert p.estimate_cost(ImageRequest(prompt="x")) == 0.0
    caps = p.capabilities
    assert {(1024, 1024), (1792, 1024), (1024, 1792)} <= set(caps.sizes)
    assert caps.styles == STYLES and caps.max_n == 4 and not caps.edits and caps.previews
    assert p.accepts_size(320, 640) and not p.accepts_size(100, 100) and not p.accepts_size(4096, 1024)


@pytest.mark.parametrize("kwargs", [
    {"width": 100, "height": 100}, {"width": 4096, "height": 1024}, {"n": 5}, {"n": 0},
    {"style": "cubism"}, {"source_image": b"x"}, {"prompt": "   "}, {"output_format": "gif"},
])
async def test_invalid_requests_are_refused_with_a_user_message(kwargs):
    req = ImageRequest(**{"prompt": "hills", "width": 64, "height": 64, **kwargs})
    with pytest.raises(InvalidRequest) as err:
        await OfflineProvider().generate(req, no_progress)
    assert err.value.user_message


async def test_other_output_formats():
    result, _ = await run(ImageRequest(prompt="hills", width=64, height=64, seed=1, output_format="webp"))
    assert decode(result.images[0].data).format == "WEBP"


def test_rewording_that_adds_nothing_depictable_keeps_the_composition():
    """"Make it more artistic" regenerates the same scene, so before/after compare like for like."""
    base = "a sunset over mountains with a lake reflection"
    same = render(parse_scene(base + ", more artistic"), "photorealistic", 128, 128, 9).pixels
    assert np.array_equal(render(parse_scene(base), "photorealistic", 128, 128, 9).pixels, same)
    other = render(parse_scene(base + " and a boat"), "photorealistic", 128, 128, 9).pixels
    assert not np.array_equal(same, other)
