"""OPENAI_API_KEY is in the app's environment, yet nothing sent to the browser contains it."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import E2E_OPENAI_KEY
from tests.e2e.helpers import SUNSET, send, sign_up

pytestmark = pytest.mark.e2e


def test_api_key_never_reaches_the_browser(page: Page, base_url: str):
    frames: list[str] = []
    bodies: list[str] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(str(payload))))
    page.on("response", lambda r: bodies.append(r.text()) if r.ok and "image" not in
            (r.headers.get("content-type") or "") else None)
    sign_up(page)
    send(page, SUNSET)
    expect(page.locator(".assistant-message").last.locator(".job-done")).to_be_visible(timeout=60_000)
    send(page, "what can you do?")
    expect(page.locator(".assistant-message")).to_have_count(2)

    assert frames, "no websocket traffic was captured"
    assert len(bodies) > 3, "no page or script bodies were captured"
    for text in (page.content(), *frames, *bodies):
        assert E2E_OPENAI_KEY not in text
        assert E2E_OPENAI_KEY[:12] not in text
