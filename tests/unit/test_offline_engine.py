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
    assert caps.styles == STYLES and caps.max_n == 4 and caps.edits and caps.previews
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


# ---------------------------------------------------------------- edits: repaint the parsed scene with the change

LAKE = "a lake at sunset"
HILLS = "a sunset over rolling hills"
EDIT_SIZE = 384


def test_negated_words_leave_things_out():
    assert "forest" not in parse_scene("a lake at sunset, without the trees").terrain  # not a forest *added*
    assert parse_scene("a forest by a lake, without the trees").terrain == ()
    assert parse_scene("a forest by a lake, no lake").water is None
    assert "boat" not in parse_scene("a harbour at dawn, remove the boat").subjects
    assert parse_scene("no clouds over a snowy forest").weather == {"snow"}
    assert "sun" not in parse_scene("hills on a clear day without the sun").subjects
    assert parse_scene("nothing but a lake").water == "lake"  # "nothing" is not "no"


@pytest.mark.parametrize("prompt", [
    "a lake at sunset, make the sky pink", "a pink sky over a lake at sunset", "a lake at sunset, the sky is deep pink",
    "a lake at sunset, turn the sky to magenta",
])
def test_a_colour_said_of_the_sky_tints_only_the_sky(prompt):
    scene = parse_scene(prompt)
    assert scene.sky_colour == "pink" and scene.colours == ()  # not the whole picture
    plain = parse_scene(LAKE)
    assert (scene.time, scene.terrain, scene.water, scene.subjects) == (plain.time, plain.terrain, plain.water,
                                                                        plain.subjects)
    assert scene.prompt_hash == plain.prompt_hash  # the same composition
    assert parse_scene("a pink house under a blue sky").sky_colour == "blue"
    assert parse_scene("a pink house under a blue sky").subject_colours == (("house", "pink"),)


async def _made(prompt: str, seed: int = 21, size: int = EDIT_SIZE) -> bytes:
    result, _ = await run(ImageRequest(prompt=prompt, width=size, height=size, seed=seed))
    return result.images[0].data


async def _edited(source: bytes, source_prompt: str, prompt: str, mask: bytes | None = None,
                  seed: int = 21, size: int = EDIT_SIZE) -> tuple[np.ndarray, dict]:
    result, events = await run(ImageRequest(prompt=prompt, width=size, height=size, source_image=source, mask=mask,
                                            source_prompt=source_prompt, source_seed=seed))
    assert result.images[0].seed == seed  # the edit keeps the source's seed, so its composition
    assert events[-1].percent == 100
    return pixels(result.images[0].data), result.usage


def pixels(data: bytes) -> np.ndarray:
    return np.asarray(decode(data).convert("RGB"), dtype=np.int16)


def _mask(size: int, box: tuple[int, int, int, int]) -> tuple[bytes, np.ndarray]:
    """A PNG mask with a transparent (edit here) ellipse in `box`; and where it is fully transparent."""
    from PIL import ImageDraw

    m = Image.new("RGBA", (size, size), (0, 0, 0, 255))
    ImageDraw.Draw(m).ellipse(box, fill=(0, 0, 0, 0))
    buf = io.BytesIO()
    m.save(buf, "PNG")
    return buf.getvalue(), np.asarray(m.getchannel("A")) == 0


def _changed(a: np.ndarray, b: np.ndarray, threshold: int = 12) -> np.ndarray:
    return np.abs(a - b).max(axis=2) > threshold


async def test_add_a_boat_repaints_the_same_lake_with_a_boat_on_the_water():
    source = await _made(LAKE)
    before = pixels(source)
    after, usage = await _edited(source, LAKE, LAKE + ", with a boat")
    assert usage["edit"] is True and usage["masked"] is False
    changed = _changed(before, after)
    rows = np.nonzero(changed.any(axis=1))[0]
    assert 0.002 < changed.mean() < 0.06, changed.mean()  # a boat, not a new picture
    horizon = int(np.argmax(np.abs(np.diff(before[:, :, 0].mean(axis=1))) > 6))  # the bright waterline
    assert rows.min() >= horizon * 0.85, (rows.min(), horizon)  # on the water, not in the sky
    # Without the edit's base the new words would compose a new scene: most of the picture would differ.
    fresh = pixels(await _made(LAKE + ", with a boat"))
    assert _changed(before, fresh).mean() > 0.3


async def test_make_the_sky_pink_recolours_the_sky_and_not_the_land():
    source = await _made(HILLS)
    before = pixels(source)
    after, _ = await _edited(source, HILLS, HILLS + ", make the sky pink")
    top = slice(0, EDIT_SIZE // 4)  # well above the hills
    r0, g0, b0 = before[top].reshape(-1, 3).mean(axis=0)
    r1, g1, b1 = after[top].reshape(-1, 3).mean(axis=0)
    assert r1 - g1 > 45 and b1 - g1 > 25, (r1, g1, b1)  # pink: red and blue well over green
    assert (b1 - g1) - (b0 - g0) > 15 or (r1 - g1) - (r0 - g0) > 15  # and pinker than it was
    land = slice(EDIT_SIZE * 9 // 10, EDIT_SIZE)  # the nearest hills at the bottom
    assert np.abs(after[land] - before[land]).mean() < 6
    # "pink" alone would have tinted everything: the land would have changed too.
    everything = pixels(await _made(HILLS + ", pink"))
    assert np.abs(everything[land] - before[land]).mean() > 6


async def test_a_mask_limits_the_change_to_the_painted_area_exactly():
    source = await _made(LAKE)
    before = pixels(source)
    mask, inside = _mask(EDIT_SIZE, (60, 200, 260, 360))
    after, usage = await _edited(source, LAKE, LAKE + ", with a boat here", mask=mask)
    assert usage["masked"] is True
    keep = np.asarray(Image.open(io.BytesIO(mask)).getchannel("A")) == 255  # unpainted: not one pixel changes
    assert keep.mean() > 0.7 and np.array_equal(after[keep], before[keep])
    changed = _changed(before, after)
    assert changed[inside].mean() > 0.03  # the boat is where the user painted
    assert not changed[~inside].any() or changed[~inside].mean() < 0.001  # only anti-aliased edge pixels

    # The sky turned pink inside a painted patch of sky only.
    sky_mask, sky = _mask(EDIT_SIZE, (20, 10, 180, 90))
    pink, _ = await _edited(source, LAKE, LAKE + ", make the sky pink", mask=sky_mask)
    keep = np.asarray(Image.open(io.BytesIO(sky_mask)).getchannel("A")) == 255
    assert np.array_equal(pink[keep], before[keep])
    r, g, b = pink[sky].reshape(-1, 3).mean(axis=0)
    assert r - g > 30 and b - g > 20


async def test_an_edit_of_an_image_the_painter_did_not_make_still_keeps_outside_the_mask():
    buf = io.BytesIO()
    Image.new("RGB", (EDIT_SIZE, EDIT_SIZE), (30, 160, 90)).save(buf, "WEBP", lossless=True)
    mask, inside = _mask(EDIT_SIZE, (100, 100, 300, 300))
    after, _ = await _edited(buf.getvalue(), "", "a lake at sunset with a boat", mask=mask)
    keep = np.asarray(Image.open(io.BytesIO(mask)).getchannel("A")) == 255
    assert (after[keep] == (30, 160, 90)).all()
    assert _changed(np.full_like(after, (30, 160, 90)), after)[inside].mean() > 0.9


@pytest.mark.parametrize("mask, message", [
    (b"not a png", "could not be read"),
    ("rgb", "same size with transparency"),
    ("small", "same size with transparency"),
])
async def test_a_bad_mask_is_refused_with_what_to_do(mask, message):
    source = await _made(LAKE, size=64)
    if mask in ("rgb", "small"):
        buf = io.BytesIO()
        Image.new("RGB" if mask == "rgb" else "RGBA", (64, 64) if mask == "rgb" else (32, 32)).save(buf, "PNG")
        mask = buf.getvalue()
    with pytest.raises(InvalidRequest, match=message) as err:
        await OfflineProvider().generate(ImageRequest(prompt=LAKE, width=64, height=64, source_image=source,
                                                      mask=mask, source_prompt=LAKE), no_progress)
    assert "Paint it again" in err.value.user_message
    with pytest.raises(InvalidRequest, match="needs the image"):
        await OfflineProvider().generate(ImageRequest(prompt=LAKE, width=64, height=64, mask=mask), no_progress)
