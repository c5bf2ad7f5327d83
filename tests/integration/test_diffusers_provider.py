"""The real diffusers path on a tiny random model saved to disk and loaded offline, as a user's model would be."""

from __future__ import annotations

import asyncio
import io
import os
import threading

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"  # before diffusers/huggingface_hub read it
pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("transformers")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from imagechat.core.errors import EngineUnavailable, InvalidRequest  # noqa: E402
from imagechat.core.providers import diffusers_engine  # noqa: E402
from imagechat.core.providers.base import Progress  # noqa: E402
from imagechat.core.providers.diffusers_engine import DiffusersProvider  # noqa: E402
from imagechat.core.request import ImageRequest  # noqa: E402
from imagechat.settings import Settings  # noqa: E402
from tests.support.tiny_sd import save_tiny_pipeline  # noqa: E402

STEPS = 4


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny_pipeline(tmp_path_factory.mktemp("models") / "tiny-sd")


@pytest.fixture(scope="module")
def provider(model_dir):
    return DiffusersProvider(Settings(diffusers_model_path=str(model_dir), diffusers_steps=STEPS))


class Recorder:
    def __init__(self):
        self.updates: list[Progress] = []
        self.threads: set[int] = set()

    async def __call__(self, update: Progress) -> None:
        self.threads.add(threading.get_ident())
        self.updates.append(update)


def pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.int16)


async def make(provider, **kw):
    recorder = Recorder()
    request = ImageRequest(**{"prompt": "the cat and the sun", "width": 64, "height": 64, **kw})
    return await provider.generate(request, recorder), recorder


async def test_generates_a_png_of_the_requested_size_from_the_model_folder(provider, model_dir):
    result, _ = await make(provider, seed=7)
    assert (result.engine, result.model, result.cost_usd) == ("diffusers", "tiny-sd", 0.0)
    assert provider.estimate_cost(ImageRequest(prompt="x")) == 0.0
    [image] = result.images
    assert image.data.startswith(b"\x89PNG\r\n\x1a\n")
    with Image.open(io.BytesIO(image.data)) as im:
        assert (im.format, im.size) == ("PNG", (64, 64))
    assert image.seed == 7
    # Loaded once per process: a second provider on the same folder reuses the pipeline.
    again = DiffusersProvider(Settings(diffusers_model_path=str(model_dir), diffusers_steps=STEPS))
    await make(again, seed=1)
    assert len([k for k in diffusers_engine._cache if k.endswith("tiny-sd")]) == 1


async def test_progress_is_per_step_monotonic_with_previews_on_the_event_loop(provider):
    result, rec = await make(provider, seed=3)
    percents = [u.percent for u in rec.updates]
    assert len(percents) == STEPS
    assert percents == sorted(percents) and len(set(percents)) == STEPS
    assert percents[-1] == pytest.approx(100.0)
    assert [u.stage for u in rec.updates] == [f"Step {i}/{STEPS}" for i in range(1, STEPS + 1)]
    previews = [u.preview for u in rec.updates if u.preview is not None]
    assert previews, "expected at least one intermediate preview"
    for data in previews:
        with Image.open(io.BytesIO(data)) as im:
            assert im.format == "PNG" and im.size == (64, 64)
    assert rec.threads == {threading.get_ident()}  # delivered on the loop's thread, not the torch thread


async def test_several_images_share_one_progress_bar(provider):
    result, rec = await make(provider, seed=11, n=2)
    assert [img.seed for img in result.images] == [11, 12]
    percents = [u.percent for u in rec.updates]
    assert len(percents) == 2 * STEPS and percents == sorted(percents)
    assert percents[STEPS - 1] == pytest.approx(50.0) and percents[-1] == pytest.approx(100.0)


async def test_same_seed_same_pixels_other_seed_other_pixels(provider):
    a, _ = await make(provider, seed=1234)
    b, _ = await make(provider, seed=1234)
    c, _ = await make(provider, seed=1235)
    assert np.array_equal(pixels(a.images[0].data), pixels(b.images[0].data))
    assert not np.array_equal(pixels(a.images[0].data), pixels(c.images[0].data))


async def test_no_seed_picks_one_and_reports_it(provider):
    first, _ = await make(provider)
    replay, _ = await make(provider, seed=first.images[0].seed)
    assert first.images[0].seed is not None
    assert np.array_equal(pixels(first.images[0].data), pixels(replay.images[0].data))


async def test_style_changes_the_prompt_and_the_image(provider):
    plain, _ = await make(provider, seed=5)
    styled, _ = await make(provider, seed=5, style="watercolor")
    assert styled.images[0].revised_prompt == "the cat and the sun, in a watercolor painting style."
    assert plain.images[0].revised_prompt is None
    assert not np.array_equal(pixels(plain.images[0].data), pixels(styled.images[0].data))


async def test_edit_starts_from_the_source_image(provider):
    def source(color):
        buf = io.BytesIO()
        Image.new("RGB", (100, 80), color).save(buf, format="JPEG")
        return buf.getvalue()

    red, rec = await make(provider, seed=9, source_image=source((220, 20, 20)))
    blue, _ = await make(provider, seed=9, source_image=source((20, 20, 220)))
    with Image.open(io.BytesIO(red.images[0].data)) as im:
        assert (im.format, im.size) == ("PNG", (64, 64))
    # strength < 1 runs fewer steps than asked; progress still counts the steps that actually ran
    assert 1 <= len(rec.updates) < STEPS and rec.updates[-1].percent == pytest.approx(100.0)
    assert not np.array_equal(pixels(red.images[0].data), pixels(blue.images[0].data))
    assert provider.capabilities.edits and provider.capabilities.previews


async def test_a_mask_keeps_every_unpainted_pixel_and_repaints_the_painted_area(provider):
    rng = np.random.default_rng(3)
    src = Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))  # detail everywhere, as a photo
    buf = io.BytesIO()
    src.save(buf, format="PNG")
    mask = Image.new("RGBA", (64, 64), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (8, 8, 40, 40))  # paint a square: change only there
    soft = Image.new("RGBA", (64, 64), (0, 0, 0, 255))
    soft.paste((0, 0, 0, 128), (8, 8, 40, 40))  # half transparent: a blend of both
    out = []
    for m in (mask, soft):
        mbuf = io.BytesIO()
        m.save(mbuf, format="PNG")
        result, _ = await make(provider, seed=4, source_image=buf.getvalue(), mask=mbuf.getvalue())
        out.append(pixels(result.images[0].data))
    before = np.asarray(src, dtype=np.int16)
    keep = np.ones((64, 64), bool)
    keep[8:40, 8:40] = False
    for after in out:
        assert np.array_equal(after[keep], before[keep])  # not one unpainted pixel moves
    hard_change = np.abs(out[0][~keep] - before[~keep]).mean()
    soft_change = np.abs(out[1][~keep] - before[~keep]).mean()
    assert hard_change > 20 and 0.3 * hard_change < soft_change < 0.7 * hard_change
    # The same edit without a mask changes the whole picture.
    whole, _ = await make(provider, seed=4, source_image=buf.getvalue())
    assert np.abs(pixels(whole.images[0].data)[keep] - before[keep]).mean() > 20


@pytest.mark.parametrize("mask", [b"not a png", "rgb"])
async def test_an_unreadable_or_opaque_mask_is_refused(provider, mask):
    if mask == "rgb":
        buf = io.BytesIO()
        Image.new("RGB", (64, 64)).save(buf, format="PNG")
        mask = buf.getvalue()
    src = io.BytesIO()
    Image.new("RGB", (64, 64), (9, 9, 9)).save(src, format="PNG")
    with pytest.raises(InvalidRequest, match="painted area"):
        await make(provider, source_image=src.getvalue(), mask=mask)
    with pytest.raises(InvalidRequest, match="needs the image"):
        await make(provider, mask=mask)


async def test_a_failing_progress_callback_stops_the_job(provider):
    async def boom(update: Progress) -> None:
        raise RuntimeError("subscriber gone")

    with pytest.raises(RuntimeError, match="subscriber gone"):
        await provider.generate(ImageRequest(prompt="x", width=64, height=64, seed=1), boom)
    result, _ = await make(provider, seed=1)  # the pipeline lock was released
    assert len(result.images) == 1


async def test_cancelling_stops_the_thread_and_frees_the_pipeline(provider):
    started = asyncio.Event()

    async def slow(update: Progress) -> None:
        started.set()
        await asyncio.sleep(3600)

    task = asyncio.ensure_future(provider.generate(
        ImageRequest(prompt="x", width=64, height=64, seed=1), slow))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    result, _ = await make(provider, seed=2)
    assert len(result.images) == 1


@pytest.mark.parametrize("size", [(60, 64), (32, 32), (4096, 512)])
async def test_sizes_sd_cannot_make_are_refused(provider, size):
    with pytest.raises(InvalidRequest, match="multiples of 8"):
        await make(provider, width=size[0], height=size[1])


def test_missing_or_invalid_model_path_is_a_clear_engine_error(tmp_path):
    with pytest.raises(EngineUnavailable, match="DIFFUSERS_MODEL_PATH is not set or is not a diffusers model folder"):
        DiffusersProvider(Settings(diffusers_model_path=None))
    with pytest.raises(EngineUnavailable, match="is not a diffusers model folder") as info:
        DiffusersProvider(Settings(diffusers_model_path=str(tmp_path / "nowhere")))
    assert info.value.code == "engine_unavailable" and not info.value.retryable
    (tmp_path / "model_index.json").write_text("{}")  # looks like a model folder, holds no model
    broken = DiffusersProvider(Settings(diffusers_model_path=str(tmp_path)))
    with pytest.raises(EngineUnavailable, match="could not be loaded"):
        asyncio.run(broken.generate(ImageRequest(prompt="x", width=64, height=64), Recorder()))


def test_missing_extra_is_a_clear_engine_error(monkeypatch, model_dir):
    monkeypatch.setattr(diffusers_engine.importlib.util, "find_spec",
                        lambda name, *a: None if name == "diffusers" else object())
    with pytest.raises(EngineUnavailable, match=r"pip install -r requirements-sd\.txt"):
        DiffusersProvider(Settings(diffusers_model_path=str(model_dir)))


def test_the_registry_builds_it_from_settings(model_dir):
    from imagechat.core.providers import get_provider

    provider = get_provider("diffusers", Settings(diffusers_model_path=str(model_dir)))
    assert isinstance(provider, DiffusersProvider) and provider.model == "tiny-sd"
    assert (64, 64) in provider.capabilities.sizes and provider.capabilities.max_n == 4
