"""The app with the OpenAI engine, against the fake OpenAI server: a streamed chat reply, streamed image
previews in the progress bar, and a content refusal shown as a clear message with a retry button."""

from __future__ import annotations

import re
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
        # The estimate before the next request, and what this image actually cost (the fake's usage tokens).
        expect(page.locator("#cost-estimate")).to_contain_text("Next image: ≈ $")
        expect(page.locator("#cost-estimate")).to_contain_text("gpt-image-2 · 1024×1024")
        cost = reply.locator(".image-cost")
        expect(cost).to_have_text(re.compile(r" · cost \$0\.\d+"))
        assert float(cost.inner_text().split("$")[1]) > 0
        chat_request = fake.chat_requests()[-1]
        assert chat_request.params["stream"] is True

        # The same request again: answered from the library at no cost, and the saving shows on /usage.
        requests_before = len(fake.image_requests())
        fake.script_chat(text="Here it is again.",
                         tool=("create_image", {"prompt": "a calm harbour at dawn", "size": "1024x1024"}))
        send(page, "paint me a calm harbour at dawn")
        again = page.locator(".assistant-message").last
        expect(again.locator(".from-library")).to_be_visible(timeout=30_000)
        assert len(fake.image_requests()) == requests_before  # nothing was sent to the image API
        page.goto("/usage")
        expect(page.locator("#usage-saved")).to_have_text(re.compile(r"^\$0\.0*[1-9]"))
        page.goto("/")

        fake.script_chat(tool=("create_image", {"prompt": "something forbidden [refuse]"}))
        send(page, "draw something forbidden")
        failed = page.locator(".assistant-message").last.locator(".job-failed")
        expect(failed).to_contain_text("declined by the image service's safety system", timeout=60_000)
        expect(failed.locator(".retry-button")).to_be_visible()
        page.screenshot(path=screenshots_dir / "openai-refusal-desktop.png")
    finally:
        ctx.close()


def test_admin_page_warns_of_a_model_shutdown_the_api_announces(browser: Browser, openai_app: str, fake):
    """/v1/models (the fake, as the real API can) announces a shutdown date for the configured image model: the
    admin page names the setting, the date and what to set instead."""
    from datetime import UTC, datetime, timedelta

    import sqlalchemy as sa

    from imagechat.db import session_scope
    from imagechat.models import User

    day = datetime.now(UTC).date() + timedelta(days=30)
    fake.model_shutdowns = {"gpt-image-2": day}
    ctx = browser.new_context(base_url=openai_app)
    try:
        page = ctx.new_page()
        name = sign_up(page)
        with session_scope() as s:
            s.execute(sa.update(User).where(User.username == name).values(is_admin=True))
        warning = page.locator("#admin-shutdowns")
        for _ in range(20):  # /v1/models is read in the background (never while a page waits): look again
            page.goto("/admin")
            expect(page.locator("#admin-global-spent")).to_be_visible()
            if warning.count():
                break
            page.wait_for_timeout(500)
        expect(warning).to_contain_text(f"OPENAI_IMAGE_MODEL=gpt-image-2 shuts down on {day:%Y-%m-%d} (in 30 days)")
    finally:
        fake.model_shutdowns = {}
        ctx.close()
