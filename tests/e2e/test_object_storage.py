"""The app with IMAGE_STORE=s3 and S3_PRESIGN=true on the suite's own SeaweedFS: the worker uploads, the image
routes redirect the owner to presigned URLs, and the page (its Content-Security-Policy included) shows the
images straight from the store, in the chat and in the gallery, on a desktop and on a phone."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.conftest import running_app
from tests.e2e.helpers import SUNSET, send, sign_up

pytestmark = pytest.mark.e2e

DESKTOP, PHONE = {"width": 1280, "height": 800}, {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def s3_app(seaweed, database_url, redis_url, start_worker):
    if not seaweed.running():
        seaweed.start()
    settings = {k.lower(): v for k, v in seaweed.settings_env().items()}
    # Its own Redis namespace: the offline app's worker (images into PostgreSQL) must not take these jobs.
    with running_app("s3", database_url, redis_url, start_worker, image_engine="offline", s3_presign="true",
                     redis_namespace=f"e2e-s3-{uuid.uuid4().hex[:6]}", **settings) as base:
        yield base


def _watch(page, store_url: str) -> dict[str, list]:
    seen: dict[str, list] = {"errors": [], "redirects": [], "from_store": []}
    page.on("console", lambda m: seen["errors"].append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: seen["errors"].append(str(exc)))

    def on_response(r):
        if r.status == 302 and "/api/images/" in r.url:
            seen["redirects"].append(r.headers.get("location", ""))
        elif r.url.startswith(store_url):
            seen["from_store"].append((r.status, r.url.split("?")[0]))
        elif r.status >= 400:
            seen["errors"].append(f"HTTP {r.status}: {r.url}")

    page.on("response", on_response)
    return seen


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_the_chat_and_the_gallery_show_images_from_the_bucket(browser: Browser, s3_app, seaweed, screenshots_dir,
                                                              viewport):
    context = browser.new_context(base_url=s3_app, viewport=DESKTOP if viewport == "desktop" else PHONE)
    page = context.new_page()
    seen = _watch(page, seaweed.endpoint_url)
    try:
        sign_up(page)
        send(page, SUNSET)
        reply = page.locator(".assistant-message").last
        expect(reply.locator(".job-done")).to_be_visible(timeout=60_000)
        image = reply.locator("img.generated-image")
        page.wait_for_function("img => img.complete && img.naturalWidth === 1024", arg=image.element_handle())
        page.screenshot(path=screenshots_dir / f"s3-chat-{viewport}.png")

        page.goto("/gallery")
        thumb = page.locator(".gallery-item img").first
        expect(thumb).to_be_visible()
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=thumb.element_handle())
        page.screenshot(path=screenshots_dir / f"s3-gallery-{viewport}.png")
    finally:
        context.close()
    store = f"{seaweed.endpoint_url}/{seaweed.bucket}/images/"
    assert seen["redirects"] and all(url.startswith(store) and "X-Amz-Signature=" in url
                                     for url in seen["redirects"]), seen["redirects"]
    assert any(status == 200 and url.endswith(".thumb.webp") for status, url in seen["from_store"]), seen
    assert any(status == 200 and not url.endswith(".thumb.webp") for status, url in seen["from_store"]), seen
    assert seen["errors"] == []  # a Content-Security-Policy that refused the store would log an error here
