"""OpenAIProvider driving the real official SDK over real HTTP against the fake Images API."""

from __future__ import annotations

import io
import logging
import traceback
import uuid
from datetime import date

import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from PIL import Image

from imagechat.core.errors import ContentRefused, EngineUnavailable, InvalidRequest, TransientEngineError
from imagechat.core.providers import image_models
from imagechat.core.providers.base import Progress
from imagechat.core.providers.openai_images import OpenAIProvider
from imagechat.core.request import ImageRequest
from imagechat.settings import Settings
from tests.fakes import openai_server
from tests.fakes.openai_server import FakeOpenAI

KEY = f"sk-test-{uuid.uuid4().hex}"
BEFORE_GPT_IMAGE_1_SHUTDOWN = date(2026, 9, 1)  # gpt-image-1 shut down on 2026-10-23


_made: list[OpenAIProvider] = []


@pytest.fixture(autouse=True)
async def _clean(clean_fake):
    yield
    while _made:
        await _made.pop().aclose()


def make(fake, today: date | None = None, **overrides) -> OpenAIProvider:
    values = dict(openai_api_key=KEY, openai_base_url=fake.base_url, openai_timeout_s=10.0, openai_max_retries=2,
                  openai_partial_images=2, openai_image_model="gpt-image-2", max_images_per_request=4)
    values.update(overrides)
    _made.append(OpenAIProvider(Settings(_env_file=None, **values), today=today))
    return _made[-1]


class Recorder:
    def __init__(self):
        self.events: list[Progress] = []

    async def __call__(self, progress: Progress) -> None:
        self.events.append(progress)


def image(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


async def test_generate_returns_real_image_of_requested_size_and_format(fake):
    result = await make(fake).generate(ImageRequest("a lighthouse at dusk", width=1536, height=1024,
                                                         output_format="webp", quality="low"), Recorder())
    assert result.engine == "openai" and result.model == "gpt-image-2"
    assert len(result.images) == 1
    img = image(result.images[0].data)
    assert (img.format, img.size) == ("WEBP", (1536, 1024))
    (req,) = fake.image_requests()
    assert req.path == "/v1/images/generations"
    assert req.headers["authorization"] == f"Bearer {KEY}"
    assert req.params["stream"] is True and req.params["partial_images"] == 2
    assert {k: req.params[k] for k in ("model", "size", "quality", "output_format", "n")} == {
        "model": "gpt-image-2", "size": "1536x1024", "quality": "low", "output_format": "webp", "n": 1}


async def test_stream_previews_arrive_as_rising_progress_before_completion(fake):
    rec = Recorder()
    result = await make(fake, openai_partial_images=3).generate(ImageRequest("a red kite"), rec)
    previews = [p for p in rec.events if p.preview is not None]
    assert len(previews) == 3
    assert [p.stage for p in previews] == [f"Refining image (preview {k} of 3)" for k in (1, 2, 3)]
    percents = [p.percent for p in rec.events]
    assert percents == sorted(percents) and len(set(percents)) == len(percents)
    assert rec.events[-1].percent == 100 and rec.events[-1].preview is None
    assert all(p.percent < 100 for p in previews)
    for p in previews:
        assert image(p.preview).size == (1024, 1024)
    assert previews[-1].preview != result.images[0].data  # previews are blurred, the final is not


async def test_style_is_said_in_the_prompt_and_user_sent_as_safety_identifier(fake):
    await make(fake).generate(ImageRequest("a harbour", style="watercolor", user="u-42"), Recorder())
    (req,) = fake.image_requests()
    assert req.params["prompt"] == "a harbour, in a watercolor painting style."
    assert req.params["safety_identifier"] == "u-42"


async def test_size_maps_to_closest_supported_for_model(fake):
    fake.today = BEFORE_GPT_IMAGE_1_SHUTDOWN  # a fixed-size model still served then
    r1 = await make(fake, BEFORE_GPT_IMAGE_1_SHUTDOWN, openai_image_model="gpt-image-1").generate(
        ImageRequest("wide", width=1792, height=1024), Recorder())
    r2 = await make(fake).generate(ImageRequest("wide", width=1792, height=1024), Recorder())
    assert [r.params["size"] for r in fake.image_requests()] == ["1536x1024", "1792x1024"]
    assert image(r1.images[0].data).size == (1536, 1024)
    assert image(r2.images[0].data).size == (1792, 1024)


async def test_edit_uploads_the_source_and_streams_an_edited_image(fake):
    buf = io.BytesIO()
    Image.new("RGB", (600, 400), (30, 160, 90)).save(buf, "JPEG")
    rec = Recorder()
    result = await make(fake).generate(ImageRequest("make it watercolor", source_image=buf.getvalue(),
                                                         width=1536, height=1024), rec)
    (req,) = fake.image_requests()
    assert req.path == "/v1/images/edits"
    uploaded = [(f["field"], f["content_type"], f["size"]) for f in req.files]
    assert uploaded == [("image", "image/jpeg", len(buf.getvalue()))]
    assert req.params["stream"] is True and req.params["prompt"] == "make it watercolor"
    out = image(result.images[0].data)
    assert out.size == (1536, 1024)
    assert out.convert("RGB").getpixel((300, 300)) != (30, 160, 90)  # visibly edited
    assert sum(p.preview is not None for p in rec.events) == 2


async def test_two_images_use_one_non_streaming_call(fake):
    rec = Recorder()
    result = await make(fake).generate(ImageRequest("two cats", n=2, quality="medium"), rec)
    assert len(result.images) == 2 and result.images[0].data != result.images[1].data
    (req,) = fake.image_requests()
    assert req.params["n"] == 2 and "stream" not in req.params
    assert all(p.preview is None for p in rec.events) and rec.events[-1].percent == 100
    # usage from the response: 2 x 1766 output tokens (gpt-image-2's $0.053 medium square) at $30/1M,
    # text at $5/1M
    text = result.usage["input_tokens_details"]["text_tokens"]
    assert result.usage["output_tokens"] == 2 * 1766
    assert result.cost_usd == pytest.approx(text * 5e-6 + 2 * 1766 * 30e-6)


async def test_cost_comes_from_streamed_usage_and_stays_under_estimate(fake):
    provider = make(fake)
    request = ImageRequest("a quiet lake", quality="high", width=1024, height=1536)
    result = await provider.generate(request, Recorder())
    assert result.usage["output_tokens"] == 5500  # gpt-image-2's $0.165 high portrait at $30/1M
    text = result.usage["input_tokens_details"]["text_tokens"]
    assert result.cost_usd == pytest.approx(text * 5e-6 + 5500 * 30e-6)
    assert result.cost_usd <= provider.estimate_cost(request)
    assert provider.estimate_cost(ImageRequest("x", quality="auto", n=3)) >= 3 * 0.211


async def test_429_then_success_waits_at_least_retry_after(fake):
    fake.script("429:retry_after=1")
    result = await make(fake).generate(ImageRequest("p"), Recorder())
    assert len(result.images) == 1
    first, second = fake.image_requests()
    assert (first.status, second.status) == (429, 200)
    assert second.retry_count == 1
    assert second.t - first.t >= 1.0


async def test_retry_after_ms_is_honoured(fake):
    fake.script("429:retry_after_ms=700", "429:retry_after_ms=700")
    await make(fake).generate(ImageRequest("p"), Recorder())
    a, b, c = fake.image_requests()
    assert [r.status for r in (a, b, c)] == [429, 429, 200]
    assert b.t - a.t >= 0.7 and c.t - b.t >= 0.7


async def test_500_then_success(fake):
    fake.script("500")
    result = await make(fake).generate(ImageRequest("p"), Recorder())
    assert len(result.images) == 1
    assert [r.status for r in fake.image_requests()] == [500, 200]


async def test_persistent_500_gives_transient_error_after_max_retries(fake):
    fake.set_default_fault("503")
    with pytest.raises(TransientEngineError):
        await make(fake, openai_max_retries=2).generate(ImageRequest("p"), Recorder())
    assert [r.status for r in fake.image_requests()] == [503, 503, 503]


async def test_exhausted_rate_limit_reports_retry_after(fake):
    fake.set_default_fault("429:retry_after_ms=200")
    with pytest.raises(TransientEngineError) as info:
        await make(fake, openai_max_retries=1).generate(ImageRequest("p"), Recorder())
    assert info.value.retry_after_s == pytest.approx(0.2)
    assert len(fake.image_requests()) == 2


async def test_hang_times_out_and_is_retried_then_transient(fake):
    fake.set_default_fault("hang")
    with pytest.raises(TransientEngineError, match="too long"):
        await make(fake, openai_timeout_s=0.4, openai_max_retries=1).generate(ImageRequest("p"), Recorder())
    assert len(fake.image_requests()) == 2


async def test_stall_between_stream_events_is_a_timeout(fake):
    fake.event_delay_s = 1.0  # headers at once, then silence longer than the read timeout
    with pytest.raises(TransientEngineError, match="too long"):
        await make(fake, openai_timeout_s=0.3).generate(ImageRequest("p"), Recorder())
    assert len(fake.image_requests()) == 1  # a started stream is not replayed (it may be billed)


@pytest.mark.parametrize("n", [1, 2])
async def test_malformed_body_is_transient_and_not_retried(fake, n):
    fake.script("malformed")
    with pytest.raises(TransientEngineError, match="could not be read"):
        await make(fake).generate(ImageRequest("p", n=n), Recorder())
    assert len(fake.image_requests()) == 1


async def test_connection_dropped_mid_stream_is_transient(fake):
    fake.script("drop:1")
    with pytest.raises(TransientEngineError, match="reach"):
        await make(fake).generate(ImageRequest("p"), Recorder())
    assert len(fake.image_requests()) == 1


@pytest.mark.parametrize("prompt,spec", [("[refuse] a thing", None), ("a thing", "refuse:policy")])
async def test_refusal_is_content_refused_without_retry(fake, prompt, spec):
    if spec:
        fake.script(spec)
    with pytest.raises(ContentRefused) as info:
        await make(fake).generate(ImageRequest(prompt), Recorder())
    assert str(info.value) == ("Your request was declined by the image service's safety system. "
                               "Try rephrasing the prompt.")
    assert len(fake.image_requests()) == 1


async def test_rejected_key_is_engine_unavailable_without_retry(fake):
    fake.api_keys = {"sk-the-right-one"}
    with pytest.raises(EngineUnavailable, match="OpenAI API key was rejected. Check OPENAI_API_KEY"):
        await make(fake).generate(ImageRequest("p"), Recorder())
    assert [r.status for r in fake.image_requests()] == [401]


@pytest.mark.parametrize("model,day", [("dall-e-3", "2026-05-12"), ("gpt-image-1", "2026-10-23"),
                                       ("gpt-image-1.5", "2026-12-01"), ("gpt-image-1-mini", "2026-12-01")])
def test_shut_down_model_fails_at_first_use_naming_the_replacement(fake, caplog, model, day):
    with pytest.raises(EngineUnavailable) as info:
        make(fake, date(2026, 12, 7), openai_image_model=model)
    assert info.value.user_message == (f"The image model {model} was shut down on {day}; "
                                       "set OPENAI_IMAGE_MODEL=gpt-image-2 (or another current model).")
    assert f"{model} was shut down on {day}" in caplog.text
    assert fake.image_requests() == []  # refused before any request


async def test_model_the_api_no_longer_serves_is_engine_unavailable(fake):
    fake.shut_down_models = {"gpt-image-2"}  # e.g. not available to this account
    with pytest.raises(EngineUnavailable, match="not available to this OpenAI account"):
        await make(fake).generate(ImageRequest("p"), Recorder())
    assert [r.status for r in fake.image_requests()] == [404]


async def test_other_400_is_invalid_request_with_the_api_reason(fake):
    with pytest.raises(InvalidRequest, match="too long"):
        await make(fake, max_prompt_chars=40_000).generate(ImageRequest("x" * 33_000), Recorder())
    assert [r.status for r in fake.image_requests()] == [400]


async def test_unreachable_server_is_transient():
    with FakeOpenAI() as gone:
        url = gone.base_url
    provider = OpenAIProvider(Settings(_env_file=None, openai_api_key=KEY, openai_base_url=url, openai_max_retries=0))
    with pytest.raises(TransientEngineError, match="reach"):
        await provider.generate(ImageRequest("p"), Recorder())
    await provider.aclose()


async def test_api_key_never_in_errors_or_logs(fake, caplog):
    caplog.set_level(logging.DEBUG)
    errors = []
    scenarios = [("401", {}), ("500", {"openai_max_retries": 0}), ("429:retry_after_ms=10", {"openai_max_retries": 0}),
                 ("refuse", {}), ("malformed", {}), ("hang", {"openai_timeout_s": 0.2, "openai_max_retries": 0}),
                 ("drop", {"openai_max_retries": 0})]
    for spec, overrides in scenarios:
        fake.script(spec)
        with pytest.raises(Exception) as info:
            await make(fake, **overrides).generate(ImageRequest("p"), Recorder())
        errors.append(info.value)
    fake.api_keys = {"sk-other"}  # the server echoes a masked key in its 401 message
    with pytest.raises(EngineUnavailable) as info:
        await make(fake).generate(ImageRequest("p"), Recorder())
    errors.append(info.value)
    assert len(errors) == len(scenarios) + 1
    for err in errors:
        for text in (str(err), repr(err), err.user_message, "".join(traceback.format_exception(err))):
            assert KEY not in text and KEY[8:] not in text
    assert "OpenAI images request failed" in caplog.text  # logging did happen
    assert KEY not in caplog.text and KEY[8:] not in caplog.text
    assert KEY not in repr(make(fake))


def test_provider_snaps_and_accepts_by_the_table():
    fixed = OpenAIProvider(Settings(_env_file=None, openai_api_key=KEY, openai_image_model="gpt-image-1"),
                           today=BEFORE_GPT_IMAGE_1_SHUTDOWN)
    flexible = OpenAIProvider(Settings(_env_file=None, openai_api_key=KEY, openai_image_model="gpt-image-2"))
    assert fixed.closest_size(1792, 1024) == (1536, 1024) and not fixed.accepts_size(1792, 1024)
    assert flexible.closest_size(1792, 1024) == (1792, 1024) and flexible.accepts_size(1792, 1024)
    assert (1792, 1024) not in fixed.capabilities.sizes and (1792, 1024) in flexible.capabilities.sizes
    assert fixed.estimate_cost(ImageRequest("x", width=1792, height=1024, quality="low")) == pytest.approx(
        0.016 + 1 * 5e-6)  # priced at the size it makes: 1536x1024 low, plus one prompt byte


@hsettings(max_examples=300, deadline=None)
@given(st.integers(1, 9000), st.integers(1, 9000),
       st.sampled_from(["gpt-image-1", "gpt-image-1.5", "gpt-image-2", "gpt-image-2.5-flare", "gpt-image-2.6-sunburst",
                        "gpt-image-2-2026-04-21"]))
def test_every_mapped_size_is_accepted_by_the_api_rules(w, h, model):
    mw, mh = image_models.model_for(model).snap_size(w, h)
    # the fake server's own copy of the API's size rules must accept what we send
    assert openai_server._size(f"{mw}x{mh}", model, None) == (mw, mh)
    if image_models.model_for(model).sizes.flexible and _accepted(w, h, model):
        assert (mw, mh) == (w, h)  # sizes the model takes are sent unchanged


def _accepted(w: int, h: int, model: str) -> bool:
    try:
        openai_server._size(f"{w}x{h}", model, None)
        return True
    except openai_server.ApiError:
        return False


async def test_unreadable_source_image_is_rejected_before_any_request(fake):
    from imagechat.core.errors import InvalidImage

    with pytest.raises(InvalidImage):
        await make(fake).generate(ImageRequest("edit", source_image=b"not an image"), Recorder())
    assert fake.image_requests() == []


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def _left_half_mask(size=(1024, 1024)) -> bytes:
    m = Image.new("RGBA", size, (0, 0, 0, 255))
    m.paste((0, 0, 0, 0), (0, 0, size[0] // 2, size[1]))  # transparent: change here
    return _png(m)


async def test_edit_with_a_mask_sends_it_as_multipart_and_only_the_painted_area_changes(fake):
    source = _png(Image.new("RGB", (1024, 1024), (200, 40, 40)))
    rec = Recorder()
    result = await make(fake).generate(ImageRequest("a lake at sunset, with a boat", source_image=source,
                                                    mask=_left_half_mask()), rec)
    (req,) = fake.image_requests()
    assert req.path == "/v1/images/edits"
    assert [(f["field"], f["filename"], f["content_type"]) for f in req.files] == [
        ("image", "source.png", "image/png"), ("mask", "mask.png", "image/png")]
    assert req.files[1]["size"] == len(_left_half_mask())
    assert req.params["stream"] is True and req.params["size"] == "1024x1024"
    out = image(result.images[0].data).convert("RGB")
    assert out.crop((512, 0, 1024, 1024)).getcolors() == [(512 * 1024, (200, 40, 40))]  # kept exactly
    assert out.getpixel((200, 300)) != (200, 40, 40)  # repainted where painted
    assert sum(p.preview is not None for p in rec.events) == 2  # still streamed


@pytest.mark.parametrize("mask, message", [
    (lambda: _png(Image.new("RGB", (1024, 1024))), "PNG with transparency"),
    (lambda: _left_half_mask((512, 512)), "is 512x512 pixels but the image is 1024x1024"),
    (lambda: b"not an image", "could not be read"),
])
async def test_a_mask_that_cannot_fit_is_refused_before_any_request(fake, mask, message):
    source = _png(Image.new("RGB", (1024, 1024), (200, 40, 40)))
    with pytest.raises(InvalidRequest, match=message) as err:
        await make(fake).generate(ImageRequest("add a boat", source_image=source, mask=mask()), Recorder())
    assert "Paint it again" in err.value.user_message
    with pytest.raises(InvalidRequest, match="needs the image"):
        await make(fake).generate(ImageRequest("add a boat", mask=_left_half_mask()), Recorder())
    assert fake.image_requests() == []


async def test_a_mask_the_api_refuses_is_a_clear_message_and_not_retried(fake):
    """A mask over the API's 4 MB limit passes our own checks; the API's 400 (param "mask") says so plainly."""
    source = _png(Image.new("RGB", (1024, 1024), (200, 40, 40)))
    noise = Image.frombytes("RGBA", (1024, 1024), bytes(np.random.default_rng(1).integers(0, 256, 1024 * 1024 * 4,
                                                                                        dtype=np.uint8)))
    mask = _png(noise)
    assert len(mask) > 4 * 1024 * 1024
    with pytest.raises(InvalidRequest, match="refused the painted area") as err:
        await make(fake).generate(ImageRequest("add a boat", source_image=source, mask=mask), Recorder())
    assert "file too large" in err.value.user_message and "Paint it again" in err.value.user_message
    assert [r.status for r in fake.image_requests()] == [400]  # a 400 is never retried
