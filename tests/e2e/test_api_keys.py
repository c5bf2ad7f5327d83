"""API keys on /settings, end to end against the prod app (Granian, one port): create a key in the UI (shown once,
copied), use it with the official `openai` SDK on the app's own /v1, see the image in the gallery and the key's
"last used", revoke it in the UI, and get 401. Also an accessibility audit of the page. Screenshots:
artifacts/screenshots/settings-*.png."""

from __future__ import annotations

import base64
import io
import re

import openai
import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, expect
from sqlmodel import select

from imagechat.db import session_scope
from imagechat.models import GenerationJob, User
from tests.e2e.helpers import sign_up
from tests.e2e.test_accessibility import AXE, VIEWPORTS, audit

pytestmark = pytest.mark.e2e


def _open_settings_from_the_menu(page: Page) -> None:
    page.locator("#user-menu").click()
    page.locator("#menu-settings").click()
    expect(page).to_have_url(re.compile(r"/settings$"))
    expect(page.locator("#keys-empty")).to_be_visible()


def test_create_use_and_revoke_a_key(browser: Browser, base_url: str, screenshots_dir):
    ctx = browser.new_context(base_url=base_url, bypass_csp=AXE.exists(), **VIEWPORTS["desktop"])
    ctx.grant_permissions(["clipboard-read", "clipboard-write"])
    try:
        page = ctx.new_page()
        sign_up(page)
        _open_settings_from_the_menu(page)
        expect(page.locator("#api-example")).to_contain_text(f'base_url="{base_url}/v1"')
        page.locator("#key-name-input").fill("e2e script")
        page.locator("#create-key").click()
        box = page.locator("#new-key")
        expect(box).to_have_value(re.compile(r"^ick_[A-Za-z0-9_-]{43}$"))
        key = box.input_value()
        page.locator("#copy-key").click()
        assert page.evaluate("() => navigator.clipboard.readText()") == key
        page.screenshot(path=screenshots_dir / "settings-new-key-desktop.png", animations="disabled")
        page.locator("#close-new-key").click()
        expect(box).to_have_count(0)
        row = page.locator(".key-row")
        expect(row).to_have_count(1)
        expect(row.locator(".key-name")).to_have_text("e2e script")
        expect(row.locator(".key-prefix")).to_have_text(key[:12] + "…")
        expect(row).to_contain_text("Last used Never")
        assert key not in page.content()  # shown once: gone from the page once closed

        sdk = openai.OpenAI(base_url=f"{base_url}/v1", api_key=key, max_retries=0, timeout=120)
        result = sdk.images.generate(model="imagechat-offline", prompt="a lighthouse on a cliff at dusk",
                                     size="512x512")
        assert Image.open(io.BytesIO(base64.b64decode(result.data[0].b64_json))).size == (512, 512)
        image_id = result.model_extra["imagechat"]["image_ids"][0]

        page.goto("/gallery")
        expect(page.locator(".gallery-item")).to_have_count(1)
        expect(page.locator(f".gallery-item img[src*='{image_id}']")).to_have_count(1)

        page.goto("/settings")
        expect(row).not_to_contain_text("Last used Never")
        page.screenshot(path=screenshots_dir / "settings-desktop.png", full_page=True)
        if AXE.exists():
            audit(page, "settings (desktop)")

        row.locator(".key-revoke").click()
        page.locator("#confirm-revoke-key").click()
        expect(row).to_have_attribute("data-active", "false")
        expect(row).to_contain_text("Revoked")
        with pytest.raises(openai.AuthenticationError) as err:
            sdk.images.generate(model="imagechat-offline", prompt="after revocation")
        assert err.value.status_code == 401
        page.screenshot(path=screenshots_dir / "settings-revoked-desktop.png", full_page=True)
    finally:
        ctx.close()


def test_settings_on_a_phone(browser: Browser, base_url: str, screenshots_dir):
    ctx = browser.new_context(base_url=base_url, bypass_csp=AXE.exists(), **VIEWPORTS["phone"])
    try:
        page = ctx.new_page()
        sign_up(page)
        _open_settings_from_the_menu(page)
        page.locator("#key-name-input").fill("phone")
        page.locator("#create-key").click()
        expect(page.locator("#new-key")).to_have_value(re.compile(r"^ick_"))
        page.screenshot(path=screenshots_dir / "settings-new-key-phone.png", animations="disabled")
        page.locator("#close-new-key").click()
        expect(page.locator(".key-row")).to_have_count(1)
        page.screenshot(path=screenshots_dir / "settings-phone.png", full_page=True)
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 390, f"the page scrolls sideways on a phone ({width} px)"
        if AXE.exists():
            audit(page, "settings (phone)")
    finally:
        ctx.close()


def test_the_prod_server_streams_and_keeps_a_job_whose_client_hung_up(browser: Browser, base_url: str):
    """Through Granian as `make run` serves it: SSE events arrive as OpenAI's SDK parses them, and a client that
    times out leaves its job running; the retry with the same Idempotency-Key gets that job, not a second one."""
    ctx = browser.new_context(base_url=base_url)
    try:
        page = ctx.new_page()
        name = sign_up(page)
        page.goto("/settings")
        page.locator("#create-key").click()
        key = page.locator("#new-key").input_value()
    finally:
        ctx.close()
    sdk = openai.OpenAI(base_url=f"{base_url}/v1", api_key=key, max_retries=0, timeout=120)
    events = list(sdk.images.generate(model="imagechat-offline", prompt="a meadow with flowers at sunset",
                                      size="512x512", stream=True, partial_images=2))
    assert [e.type for e in events[-1:]] == ["image_generation.completed"]
    assert 1 <= len(events) - 1 <= 2 and all(e.type == "image_generation.partial_image" for e in events[:-1])

    body = dict(model="imagechat-offline", prompt="a city skyline at night", n=4, size="1792x1024")
    hurried = openai.OpenAI(base_url=f"{base_url}/v1", api_key=key, max_retries=0, timeout=0.5)
    with pytest.raises(openai.APITimeoutError):
        hurried.images.generate(**body, extra_headers={"Idempotency-Key": "hung-up"})
    result = sdk.images.generate(**body, extra_headers={"Idempotency-Key": "hung-up"})
    assert len(result.data) == 4
    again = sdk.images.generate(**body, extra_headers={"Idempotency-Key": "hung-up"})
    assert again.model_extra["imagechat"] == result.model_extra["imagechat"]
    with session_scope() as s:
        kinds = s.exec(select(GenerationJob.params).join(User, User.id == GenerationJob.owner_id)
                       .where(User.username == name)).all()
    assert sorted(p["n"] for p in kinds) == [1, 4], "the hung-up request and its retries made one job"
