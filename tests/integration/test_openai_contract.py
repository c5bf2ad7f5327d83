"""Contract: the official `openai` SDK (sync, async, streaming) behaves the same against imagechat's /v1 as against
the fake OpenAI server (tests/fakes/openai_server.py, faithful to the real API's wire format).

Every test runs twice, once per target, with the same SDK calls and the same assertions: the responses parse into
the SDK's own types (ImagesResponse, ImageGenPartialImageEvent, ImageEditCompletedEvent, Model, ...) with the
same shapes, and errors raise the same SDK exception classes with the same status and code (401 for a wrong key,
400 for a refused prompt or a bad size, 404 for an unknown model, 429 with `retry-after`).

On imagechat a real worker makes the images with its OpenAI engine, which talks to the same fake server, so the
model `gpt-image-2` exists on both targets."""

from __future__ import annotations

import asyncio
import base64
import io
import uuid
from dataclasses import dataclass

import openai
import pytest
from openai.types import (
    ImageEditCompletedEvent,
    ImageEditPartialImageEvent,
    ImageGenCompletedEvent,
    ImageGenPartialImageEvent,
    ImagesResponse,
    Model,
)
from PIL import Image as PILImage

from imagechat.db import session_scope
from imagechat.models import User
from tests.support.api_stack import module_stack

MODEL = "gpt-image-2"
stack = module_stack()


@dataclass
class Target:
    name: str
    base_url: str
    key: str
    fake: object
    user_id: int | None = None

    def sdk(self, key: str | None = None, **kw) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.base_url, api_key=key or self.key, max_retries=0, timeout=120, **kw)

    def async_sdk(self) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(base_url=self.base_url, api_key=self.key, max_retries=0, timeout=120)

    def next_request_rate_limited(self) -> None:
        """Make the next image request answer 429: the fake's script; imagechat's own per-user rate limit."""
        if self.user_id is None:
            self.fake.script("429:retry_after=2")
            return
        with session_scope() as s:
            user = s.get(User, self.user_id)
            user.rate_limit = "1/minute"
            s.add(user)
        self.sdk().images.generate(model=MODEL, prompt="use up the limit", quality="low")


@pytest.fixture(params=["imagechat", "fake"])
def target(request, stack, fake, make_user) -> Target:
    fake.reset()
    if request.param == "fake":
        key = f"sk-test-{uuid.uuid4().hex}"
        fake.api_keys = {key}
        yield Target("fake", fake.base_url, key, fake)
        fake.api_keys = None
        return
    fake.api_keys = None
    user = make_user("contract")
    yield Target("imagechat", stack.v1, stack.key_for(user), fake, user)


def _image(b64: str) -> PILImage.Image:
    img = PILImage.open(io.BytesIO(base64.b64decode(b64)))
    img.load()
    return img


def _png(size=(1024, 1024), colour=(40, 120, 90)) -> bytes:
    buf = io.BytesIO()
    PILImage.new("RGB", size, colour).save(buf, "PNG")
    return buf.getvalue()


def _mask(size=(1024, 1024)) -> bytes:
    mask = PILImage.new("RGBA", size, (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (256, 256, 768, 768))
    buf = io.BytesIO()
    mask.save(buf, "PNG")
    return buf.getvalue()


def test_sync_generate(target):
    result = target.sdk().images.generate(model=MODEL, prompt="a lighthouse at dusk", size="1024x1024",
                                          quality="low", output_format="png")
    assert isinstance(result, ImagesResponse) and len(result.data) == 1
    img = _image(result.data[0].b64_json)
    assert (img.format, img.size) == ("PNG", (1024, 1024))
    assert (result.size, result.output_format, result.quality) == ("1024x1024", "png", "low")
    assert result.created > 0 and result.usage.output_tokens > 0
    assert result.usage.total_tokens == result.usage.input_tokens + result.usage.output_tokens


def test_async_generate_several(target):
    async def go():
        sdk = target.async_sdk()
        try:
            return await sdk.images.generate(model=MODEL, prompt="two foxes in snow", n=2, size="1536x1024",
                                             quality="low", output_format="jpeg")
        finally:
            await sdk.close()

    result = asyncio.run(go())
    assert isinstance(result, ImagesResponse) and len(result.data) == 2
    assert {_image(d.b64_json).size for d in result.data} == {(1536, 1024)}
    assert {_image(d.b64_json).format for d in result.data} == {"JPEG"} and result.output_format == "jpeg"


def test_streaming_generate(target):
    stream = target.sdk().images.generate(model=MODEL, prompt="a stormy sea", stream=True, partial_images=2,
                                          quality="low")
    events = list(stream)
    assert [type(e) for e in events] == [ImageGenPartialImageEvent, ImageGenPartialImageEvent, ImageGenCompletedEvent]
    assert [e.partial_image_index for e in events[:2]] == [0, 1]
    assert all(_image(e.b64_json).format == "PNG" for e in events)
    final = events[-1]
    assert _image(final.b64_json).size == (1024, 1024) and final.size == "1024x1024"
    assert final.output_format == "png" and final.usage.output_tokens > 0


def test_async_streaming_edit_with_a_mask(target):
    async def go():
        sdk = target.async_sdk()
        try:
            stream = await sdk.images.edit(model=MODEL, image=("photo.png", _png(), "image/png"),
                                           mask=("mask.png", _mask(), "image/png"), prompt="add a red boat",
                                           stream=True, partial_images=1, quality="low")
            return [event async for event in stream]
        finally:
            await sdk.close()

    events = asyncio.run(go())
    assert [type(e) for e in events] == [ImageEditPartialImageEvent, ImageEditCompletedEvent]
    assert events[0].type == "image_edit.partial_image" and events[-1].type == "image_edit.completed"
    assert _image(events[-1].b64_json).size == (1024, 1024)


def test_sync_edit(target):
    result = target.sdk().images.edit(model=MODEL, image=("photo.png", _png(), "image/png"),
                                      mask=("mask.png", _mask(), "image/png"), prompt="add a moon", quality="low",
                                      output_format="webp")
    assert isinstance(result, ImagesResponse) and len(result.data) == 1
    assert _image(result.data[0].b64_json).format == "WEBP" and result.size == "1024x1024"


def test_models_list(target):
    models = list(target.sdk().models.list())
    assert models and all(isinstance(m, Model) for m in models)
    assert MODEL in {m.id for m in models}


def test_wrong_key_is_401(target):
    with pytest.raises(openai.AuthenticationError) as err:
        target.sdk(key="ick_" + "x" * 43).images.generate(model=MODEL, prompt="a cat")
    assert err.value.status_code == 401 and err.value.code == "invalid_api_key"


def test_refused_prompt_is_400(target):
    with pytest.raises(openai.BadRequestError) as err:
        target.sdk().images.generate(model=MODEL, prompt="something [refuse]", quality="low")
    assert err.value.status_code == 400 and err.value.code == "moderation_blocked"


def test_bad_size_is_400_naming_the_field(target):
    with pytest.raises(openai.BadRequestError) as err:
        target.sdk().images.generate(model=MODEL, prompt="a cat", size="13x7")
    assert err.value.status_code == 400 and err.value.param == "size"


def test_unknown_model_is_404(target):
    with pytest.raises(openai.NotFoundError) as err:
        target.sdk().images.generate(model="dall-e-9", prompt="a cat")
    assert err.value.status_code == 404 and err.value.code == "model_not_found"


def test_rate_limit_is_429_with_retry_after(target):
    target.next_request_rate_limited()
    with pytest.raises(openai.RateLimitError) as err:
        target.sdk().images.generate(model=MODEL, prompt="one too many", quality="low")
    assert err.value.status_code == 429 and float(err.value.response.headers["retry-after"]) >= 1
