"""The composer in Chromium: option chips (style with previews, wide, two images) reach the images and label
them, and come back in a new tab; Enhance shows an editable before/after whose accepted text is the prompt stored
and shown in the image's details; Surprise me; a suggestion from the user's own prompts, picked with the keyboard;
a help example clicked into the message box. Screenshots at desktop and phone sizes."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from imagechat.core.enhance import enhance_offline
from imagechat.core.suggestions import STARTERS
from tests.e2e.helpers import send, sign_up

pytestmark = pytest.mark.e2e

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
LIGHTHOUSE = "a lighthouse on a cliff at dusk"


def _box(page: Page):
    return page.get_by_role("textbox", name="Prompt")


def _type(page: Page, text: str) -> None:
    """Type into the message box and wait until the app has it (the box reports changes debounced)."""
    _box(page).fill(text)
    expect(page.locator("#send-button")).to_be_enabled()


def _open_options(page: Page) -> None:
    page.locator("#options-button").click()
    expect(page.locator("#composer-options")).to_be_visible()


def test_options_enhance_surprise_suggestions_and_help(page: Page, console_errors, screenshots_dir):
    page.set_viewport_size(DESKTOP)
    sign_up(page)

    # ---- options: style chip with its preview, wide, two images
    _open_options(page)
    previews = page.locator("#composer-options img.style-preview")
    expect(previews).to_have_count(8)
    page.wait_for_function("() => [...document.querySelectorAll('#composer-options img.style-preview')]"
                           ".every(i => i.complete && i.naturalWidth === 96)")
    page.locator("#style-chip-watercolor").click()
    page.locator("#aspect-wide").click()
    page.locator("#count-2").click()
    for chip in ("#style-chip-watercolor", "#aspect-wide", "#count-2"):
        expect(page.locator(chip)).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#style-chip-none")).to_have_attribute("aria-pressed", "false")
    page.screenshot(path=screenshots_dir / "composer-options-desktop.png")
    page.locator("#options-done").click()
    expect(page.locator("#composer-options")).to_have_count(0)
    expect(page.locator("#options-button")).to_contain_text("Watercolor · Wide · 2 images")
    # The account remembers them: a new tab (a state of its own) starts from them.
    other_tab = page.context.new_page()
    other_tab.goto("/")
    expect(other_tab.locator("#options-button")).to_contain_text("Watercolor · Wide · 2 images")
    other_tab.close()

    send(page, LIGHTHOUSE)
    reply = page.locator(".assistant-message").last
    expect(reply.locator(".request-options")).to_have_text("2 images · watercolor · 1792×1024 · auto · offline",
                                                            timeout=30_000)
    expect(reply.locator(".job-done")).to_be_visible(timeout=90_000)
    images = reply.locator("img.generated-image")
    expect(images).to_have_count(2)
    page.wait_for_function("imgs => imgs.every(i => i.complete && i.naturalWidth === 1792 && i.naturalHeight === 1024)",
                           arg=[images.nth(0).element_handle(), images.nth(1).element_handle()])
    labels = reply.locator(".image-options")
    expect(labels).to_have_count(2)
    made = re.compile(r"^watercolor · 1792×1024 · auto · offline · seed \d+ · cost \$0$")  # and its seed and cost
    for k in range(2):
        expect(labels.nth(k)).to_have_text(made)

    # ---- back to plain options, then Enhance: before/after, accepted with an edit
    _open_options(page)
    page.locator("#options-reset").click()
    expect(page.locator("#aspect-square")).to_have_attribute("aria-pressed", "true")
    page.locator("#options-done").click()
    expect(page.locator("#options-button")).to_have_text("Options")

    _type(page, "a fox in the snow")
    page.locator("#enhance-button").click()
    panel = page.locator("#enhance-panel")
    expect(panel).to_be_visible()
    expect(page.locator("#enhance-before")).to_have_text("a fox in the snow")
    after = page.locator("#enhance-after")
    expect(after).to_have_value(enhance_offline("a fox in the snow").after)  # deterministic
    # This app's chat model is unreachable on purpose: the offline enhancer answers and says why.
    expect(page.locator("#enhance-source")).to_contain_text("Offline enhancer")
    expect(page.locator("#enhance-note")).to_contain_text("couldn't answer")
    page.screenshot(path=screenshots_dir / "composer-enhance-desktop.png")
    enhanced = after.input_value()
    edited = enhanced + ", wearing a red scarf"
    after.fill(edited)
    page.wait_for_timeout(500)  # the edit reaches the app (debounced) before Use it
    page.locator("#enhance-accept").click()
    expect(panel).to_have_count(0)
    expect(_box(page)).to_have_value(edited)
    page.locator("#send-button").click()
    fox = page.locator(".assistant-message").last
    expect(fox.locator(".job-done")).to_be_visible(timeout=90_000)
    expect(fox.locator(".request-options")).to_have_text("1024×1024 · auto · offline")
    fox.locator(".open-in-gallery").first.click()
    expect(page).to_have_url(re.compile(r"/gallery\?image="))
    # The final prompt (the enhanced, edited one as the parser read it) is what the image keeps.
    expect(page.locator("#detail-prompt")).to_have_text(edited)
    page.go_back()
    expect(page).to_have_url(re.compile(r"/$"))

    # ---- Surprise me
    page.locator("#surprise-button").click()
    expect(_box(page)).not_to_have_value("")
    assert _box(page).input_value() in STARTERS
    first = _box(page).input_value()
    page.locator("#surprise-button").click()
    expect(_box(page)).not_to_have_value(first)

    # ---- a suggestion from the user's own prompts, with the keyboard
    _box(page).fill("")
    _box(page).type("lightho", delay=30)
    suggestion = page.locator("#prompt-suggestions .prompt-suggestion").first
    expect(suggestion).to_have_text(LIGHTHOUSE)  # the user's own prompt comes before the starters
    _box(page).press("ArrowDown")
    expect(suggestion).to_be_focused()
    page.keyboard.press("Enter")
    expect(_box(page)).to_have_value(LIGHTHOUSE)
    expect(page.locator("#prompt-suggestions")).to_have_count(0)

    # ---- the help reply's examples are a list; a click puts one in the message box
    _box(page).fill("")
    send(page, "what can you do?")
    help_reply = page.locator(".assistant-message").last
    examples = help_reply.locator(".reply-examples .reply-example")
    expect(examples).to_have_count(3)
    expect(help_reply.locator("ul.reply-examples > li")).to_have_count(3)
    page.screenshot(path=screenshots_dir / "composer-help-desktop.png")
    examples.nth(1).click()
    expect(_box(page)).to_have_value("/imagine a lighthouse on a cliff at night, watercolor")
    expect(_box(page)).to_be_focused()

    # ---- phone: the same pieces at 390 px, touch targets of 44 px
    page.set_viewport_size(PHONE)
    _box(page).fill("")
    page.wait_for_timeout(300)
    page.screenshot(path=screenshots_dir / "composer-help-phone.png")
    _open_options(page)
    page.locator("#style-chip-pixel-art").click()
    page.locator("#aspect-tall").click()
    page.wait_for_timeout(300)
    page.screenshot(path=screenshots_dir / "composer-options-phone.png")
    small = page.evaluate("""() => [...document.querySelectorAll(
        '#composer-options button, #options-button, #enhance-button, #surprise-button')]
        .filter(b => { const r = b.getBoundingClientRect(); return r.width && (r.height < 43.5 || r.width < 43.5); })
        .map(b => b.id || b.textContent)""")
    assert small == []
    box = page.locator("#composer-options").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    page.locator("#options-done").click()
    expect(page.locator("#options-button")).to_contain_text("Pixel art · Tall")
    _type(page, "a castle on a hill")
    page.locator("#enhance-button").click()
    expect(page.locator("#enhance-panel")).to_be_visible()
    page.wait_for_timeout(300)
    page.screenshot(path=screenshots_dir / "composer-enhance-phone.png")
    page.locator("#enhance-discard").click()
    expect(_box(page)).to_have_value("a castle on a hill")

    assert console_errors == []
