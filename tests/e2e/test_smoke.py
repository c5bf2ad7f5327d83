"""The app opens, shows the chat shell and names its engine honestly, without console errors."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import sign_up

pytestmark = pytest.mark.e2e

VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "mobile": {"width": 390, "height": 844}}


@pytest.mark.parametrize("viewport", VIEWPORTS, ids=list(VIEWPORTS))
def test_landing_page(page: Page, console_errors, screenshots_dir, viewport):
    page.set_viewport_size(VIEWPORTS[viewport])
    sign_up(page)

    expect(page.get_by_role("heading", name="imagechat")).to_be_visible()
    prompt = page.get_by_role("textbox", name="Prompt")
    expect(prompt).to_be_visible()
    expect(page.get_by_role("button", name="Send")).to_be_visible()
    badge = page.locator("#engine-badge")
    expect(badge).to_have_text("Offline engine: procedural painter, no AI")
    expect(badge).to_be_in_viewport()

    # The page is live (websocket connected): typing enables Send, and sending shows the message.
    expect(page.get_by_role("button", name="Send")).to_be_disabled()
    prompt.fill("A lighthouse at dusk")
    expect(page.get_by_role("button", name="Send")).to_be_enabled()
    page.screenshot(path=screenshots_dir / f"landing-{viewport}.png", full_page=True)
    prompt.press("Enter")
    expect(page.locator(".chat-message").first).to_contain_text("A lighthouse at dusk")
    expect(prompt).to_have_value("")

    # Nothing overflows sideways on a phone.
    assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORTS[viewport]["width"]
    page.screenshot(path=screenshots_dir / f"chat-{viewport}.png", full_page=True)
    assert console_errors == []


def test_example_prompt_fills_the_box(page: Page, console_errors):
    sign_up(page)
    example = "A lighthouse on a cliff in a storm, watercolor"
    page.get_by_role("button", name=example).click()
    expect(page.get_by_role("textbox", name="Prompt")).to_have_value(example)
    assert console_errors == []
