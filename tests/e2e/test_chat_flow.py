"""The chat end to end in Chromium: accounts, a generation with live progress, a watercolor change with
before/after and downloads, reload mid-generation, cancel, and privacy between users."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.helpers import PASSWORD, SLOW, SUNSET, send, sign_up

pytestmark = pytest.mark.e2e

def test_private_pages_need_a_session_and_accounts_work(page: Page, console_errors):
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login$"))

    name = f"e2e_{uuid.uuid4().hex[:8]}"
    page.get_by_role("tab", name="Sign up").click()
    page.locator("#signup-username").fill(name)
    page.locator("#signup-password").fill("short")
    page.locator("#signup-submit").click()
    expect(page.locator("#auth-error")).to_contain_text("at least 10 characters")

    page.locator("#signup-password").fill(PASSWORD)
    page.locator("#signup-submit").click()
    expect(page.locator("#user-menu")).to_contain_text(name)
    page.reload()
    expect(page.locator("#user-menu")).to_contain_text(name)  # the session survives a reload

    page.locator("#user-menu").click()
    page.locator("#log-out").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login$"))

    page.locator("#login-username").fill(name)
    page.locator("#login-password").fill("wrong-password-123")
    page.locator("#login-submit").click()
    expect(page.locator("#auth-error")).to_have_text("Wrong username or password.")
    page.locator("#login-password").fill(PASSWORD)
    page.locator("#login-submit").click()
    expect(page.locator("#user-menu")).to_contain_text(name)

    assert console_errors == []


def test_sunset_then_watercolor_before_after_and_downloads(page: Page, console_errors, screenshots_dir, tmp_path):
    sign_up(page)
    send(page, SUNSET)
    reply = page.locator(".assistant-message").last
    expect(reply).to_contain_text("Generating your image... this may take up to 30 seconds")
    expect(reply.locator(".job-done")).to_be_visible(timeout=60_000)
    image = reply.locator("img.generated-image")
    expect(image).to_have_count(1)
    expect(reply).to_contain_text("Would you like any variations?")
    page.wait_for_function("img => img.complete && img.naturalWidth === 1024", arg=image.element_handle())
    page.screenshot(path=screenshots_dir / "chat-image-desktop.png", full_page=True)

    send(page, "Make it more artistic, like a watercolor painting")
    change = page.locator(".assistant-message").last
    expect(change.locator(".before-after")).to_be_visible(timeout=60_000)
    before = change.locator(".before-image img.generated-image")
    after = change.locator(".after-image img.generated-image")
    expect(before).to_be_visible()
    expect(after).to_be_visible()
    page.wait_for_function("imgs => imgs.every(i => i.complete && i.naturalWidth > 0)",
                           arg=[before.element_handle(), after.element_handle()])
    assert before.get_attribute("src") != after.get_attribute("src")
    page.screenshot(path=screenshots_dir / "before-after-desktop.png", full_page=True)

    magic = {"png": b"\x89PNG", "jpeg": b"\xff\xd8\xff", "webp": b"RIFF"}
    for figure in ("before-image", "after-image"):
        for ext, head in magic.items():
            expect(page.locator(".download-menu")).to_have_count(0)  # the last menu closed (its exit animation)
            change.locator(f".{figure} .download-menu-trigger").click()
            with page.expect_download() as info:
                page.locator(f".download-{ext}-original").click()
            download = info.value
            path = tmp_path / f"{figure}.{ext}"
            download.save_as(path)
            assert path.read_bytes().startswith(head), (figure, ext)
            assert download.suggested_filename.endswith(".jpg" if ext == "jpeg" else f".{ext}")
    assert console_errors == []


def test_reload_mid_generation_resumes_progress_then_cancel(page: Page, console_errors):
    sign_up(page)
    send(page, SLOW)
    live = page.locator(".assistant-message").last.locator(".job-live")
    expect(live).to_be_visible(timeout=30_000)
    expect(live.locator(".job-stage")).not_to_have_text("Waiting for a worker", timeout=30_000)
    page.reload()
    live = page.locator(".assistant-message").last.locator(".job-live")
    expect(live).to_be_visible()
    first = int(live.locator(".job-percent").inner_text().rstrip("%"))
    page.wait_for_function(
        "([el, v]) => parseInt(el.textContent) > v", arg=[live.locator(".job-percent").element_handle(), first])
    live.locator(".cancel-button").click()
    failed = page.locator(".assistant-message").last.locator(".job-failed")
    expect(failed).to_contain_text("Cancelled.")
    expect(failed.locator(".retry-button")).to_be_visible()
    assert console_errors == []


def test_users_cannot_see_each_others_chats_or_images(browser: Browser, base_url: str):
    alice_ctx, bob_ctx = browser.new_context(base_url=base_url), browser.new_context(base_url=base_url)
    try:
        alice, bob = alice_ctx.new_page(), bob_ctx.new_page()
        sign_up(alice)
        send(alice, "/imagine a secret red boat on a lake")
        img = alice.locator(".assistant-message").last.locator("img.generated-image")
        expect(img).to_be_visible(timeout=60_000)
        src = img.get_attribute("src")
        assert alice.request.get(src).status == 200

        sign_up(bob)
        expect(bob.locator("#conversation-list")).not_to_contain_text("secret red boat")
        for variant in ("full", "thumb.webp", "download.png"):
            url = src.replace("/full", f"/{variant}")
            assert bob.request.get(url).status == 404, url
        assert bob.request.get(src.replace(src.split("/")[3], str(uuid.uuid4()))).status == 404
    finally:
        alice_ctx.close()
        bob_ctx.close()


def test_phone_layout_drawer_and_no_overflow(browser: Browser, base_url: str, screenshots_dir):
    ctx = browser.new_context(base_url=base_url, viewport={"width": 390, "height": 844}, is_mobile=True,
                              has_touch=True)
    try:
        page = ctx.new_page()
        sign_up(page)
        send(page, SUNSET)
        expect(page.locator(".assistant-message").last.locator("img.generated-image")).to_be_visible(timeout=60_000)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.screenshot(path=screenshots_dir / "chat-image-mobile.png", full_page=True)
        expect(page.locator("#conversation-list")).to_be_hidden()
        page.locator("#menu-button").click()
        expect(page.locator("#conversation-list").last).to_be_visible()
        page.wait_for_function("() => [...document.querySelectorAll('#conversation-list')].pop()"
                               ".getBoundingClientRect().left >= 0")  # the slide-in has finished
        page.wait_for_timeout(300)
        page.screenshot(path=screenshots_dir / "drawer-mobile.png")
    finally:
        ctx.close()


def test_open_in_gallery_and_search(page: Page, console_errors):
    sign_up(page)
    send(page, "/imagine a quiet lake with a red boat")
    reply = page.locator(".assistant-message").last
    expect(reply.locator("img.generated-image")).to_be_visible(timeout=60_000)
    reply.locator(".open-in-gallery").click()
    expect(page).to_have_url(re.compile(r"/gallery\?image="))
    # The image opens in the detail view over the grid; Esc closes it and drops ?image= from the URL.
    expect(page.locator("#detail-prompt")).to_have_text("a quiet lake with a red boat")
    page.keyboard.press("Escape")
    expect(page.locator("#detail-prompt")).to_have_count(0)
    expect(page).not_to_have_url(re.compile(r"image="))
    items = page.locator(".gallery-item")
    expect(items).to_have_count(1)
    expect(items.first).to_contain_text("a quiet lake with a red boat")
    page.get_by_role("textbox", name="Search images").fill("boats")  # stemmed full-text search
    page.get_by_role("button", name="Search").click()
    expect(items).to_have_count(1)
    page.get_by_role("textbox", name="Search images").fill("zebra")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#gallery-empty")).to_be_visible()
    assert console_errors == []


def test_composer_keys_limits_and_conversation_management(page: Page, console_errors):
    sign_up(page)
    box = page.get_by_role("textbox", name="Prompt")
    box.fill("first line")
    box.press("Shift+Enter")
    box.type("second line")
    expect(box).to_have_value("first line\nsecond line")  # Shift+Enter breaks the line, sends nothing
    expect(page.locator(".chat-message")).to_have_count(0)

    box.fill("x" * 4001)
    box.press("Enter")
    expect(page.locator("#composer-notice")).to_contain_text("4001 characters long; the limit is 4000")
    expect(page.locator(".chat-message")).to_have_count(0)
    expect(box).to_have_value("x" * 4001)  # nothing typed is lost

    send(page, "hello")
    expect(page.locator(".assistant-message").last).to_contain_text("/imagine")
    conversation = page.locator("#conversation-list .conversation").first
    expect(conversation).to_contain_text("hello")
    page.get_by_role("button", name="Conversation options").first.click()
    page.get_by_role("menuitem", name="Rename").click()
    title = page.get_by_role("textbox", name="Conversation name")
    title.fill("Greetings <b>bold</b>")
    title.press("Enter")
    expect(conversation).to_have_text("Greetings <b>bold</b>")  # user text is escaped, never HTML
    page.reload()
    expect(page.locator("#conversation-list .conversation").first).to_have_text("Greetings <b>bold</b>")

    page.locator("#new-chat").click()
    expect(page.locator("#conversation-list .conversation")).to_have_count(2)
    page.get_by_role("button", name="Conversation options").last.click()
    page.get_by_role("menuitem", name="Delete").click()
    expect(page.locator("#conversation-list .conversation")).to_have_count(1)
    assert console_errors == []
