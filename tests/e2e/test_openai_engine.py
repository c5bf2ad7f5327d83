"""The app with the OpenAI engine, against the fake OpenAI server: a streamed chat reply, streamed image
previews in the progress bar, and a content refusal shown as a clear message with a retry button."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.conftest import running_app
from tests.e2e.helpers import send, sign_up

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def fake():
    from tests.fakes.openai_server import FakeOpenAI

    with FakeOpenAI(event_delay_s=1.0) as server:  # previews arrive a second apart: visible in the UI
        yield server


@pytest.fixture(scope="module")
def openai_app(database_url, redis_url, start_worker, fake):
    # Its own Redis namespace: the offline app's worker must not take these jobs.
    with running_app("openai", database_url, redis_url, start_worker, image_engine="openai",
                     openai_api_key="sk-e2e-openai-" + uuid.uuid4().hex, openai_base_url=fake.base_url,
                     openai_partial_images=2, redis_namespace=f"e2e-openai-{uuid.uuid4().hex[:6]}") as base:
        yield base


def test_openai_chat_streams_previews_and_shows_refusals(browser: Browser, openai_app: str, fake, screenshots_dir):
    ctx = browser.new_context(base_url=openai_app)
    try:
        page = ctx.new_page()
        sign_up(page)
        expect(page.locator("#engine-badge")).to_have_text("OpenAI gpt-image-2")

        fake.script_chat(text="Sure! Painting a calm harbour at dawn for you.",
                         tool=("create_image", {"prompt": "a calm harbour at dawn", "size": "1024x1024"}))
        send(page, "paint me a calm harbour at dawn")
        reply = page.locator(".assistant-message").last
        expect(reply).to_contain_text("Sure! Painting a calm harbour at dawn for you.")
        expect(reply.locator("img.job-preview")).to_be_visible(timeout=30_000)  # a streamed partial image
        page.screenshot(path=screenshots_dir / "openai-preview-desktop.png")
        expect(reply.locator(".job-done img.generated-image")).to_be_visible(timeout=60_000)
        chat_request = fake.chat_requests()[-1]
        assert chat_request.params["stream"] is True

        fake.script_chat(tool=("create_image", {"prompt": "something forbidden [refuse]"}))
        send(page, "draw something forbidden")
        failed = page.locator(".assistant-message").last.locator(".job-failed")
        expect(failed).to_contain_text("declined by the image service's safety system", timeout=60_000)
        expect(failed.locator(".retry-button")).to_be_visible()
        page.screenshot(path=screenshots_dir / "openai-refusal-desktop.png")
    finally:
        ctx.close()
