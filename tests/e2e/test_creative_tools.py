"""Issue 9 in Chromium: an identical request answered from the library (and "generate a new one anyway"), a
batch with seeds and "continue from this one", and the notices of a job that ends elsewhere (the conversation
marked in the list, the title of a hidden tab, a browser notification)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import send, sign_up

pytestmark = pytest.mark.e2e
PHONE = {"width": 390, "height": 844}


def _done(page: Page):
    reply = page.locator(".assistant-message").last
    expect(reply.locator(".job-done")).to_be_visible(timeout=90_000)
    return reply


def _srcs(reply) -> list[str]:
    return [img.get_attribute("src") for img in reply.locator("img.generated-image").all()]


def test_an_identical_request_comes_from_the_library_then_anew_on_request(page: Page, console_errors,
                                                                          screenshots_dir):
    sign_up(page)
    expect(page.locator("#cost-estimate")).to_have_text(
        "Next image: $0 · offline · 1024×1024, made on this server.")
    send(page, "draw a red kite over a green hill")
    done = _done(page)
    expect(done.locator(".image-cost")).to_have_text(" · cost $0")
    first = _srcs(done)
    send(page, "Draw a red kite over a green hill!")  # the same request in other words' case and punctuation
    again = _done(page)
    expect(again).to_contain_text("From your library")
    expect(again.locator(".from-library")).to_contain_text("$0.00")
    assert _srcs(again) == first  # the same image, no new generation
    page.screenshot(path=screenshots_dir / "from-library-desktop.png", full_page=True)
    page.set_viewport_size(PHONE)
    button = again.locator(".generate-anyway")
    assert button.bounding_box()["height"] >= 44
    page.screenshot(path=screenshots_dir / "from-library-phone.png", full_page=True)

    button.click()
    fresh = page.locator(".assistant-message").last
    expect(fresh).to_contain_text("Generating your image")
    expect(fresh.locator(".job-done")).to_be_visible(timeout=90_000)
    assert _srcs(fresh) and _srcs(fresh) != first
    expect(fresh.locator(".from-library")).to_have_count(0)
    assert console_errors == []


def test_a_batch_shows_its_seeds_and_continues_from_the_chosen_image(page: Page, console_errors, screenshots_dir):
    sign_up(page)
    send(page, "draw 3 images of a lighthouse on a cliff")
    batch = _done(page)
    images = batch.locator(".chat-image")
    expect(images).to_have_count(3)
    seeds = [s.inner_text() for s in batch.locator(".image-seed").all()]
    assert len(seeds) == 3 and len(set(seeds)) == 3 and all(re.fullmatch(r" · seed \d+", s) for s in seeds)
    page.screenshot(path=screenshots_dir / "batch-desktop.png", full_page=True)
    page.set_viewport_size(PHONE)
    assert images.nth(1).locator(".continue-from").bounding_box()["height"] >= 44
    page.screenshot(path=screenshots_dir / "batch-phone.png", full_page=True)
    page.set_viewport_size({"width": 1280, "height": 800})
    chosen = images.nth(1).locator("img.generated-image").get_attribute("src")
    images.nth(1).locator(".continue-from").click()
    reply = page.locator(".assistant-message").last
    expect(reply).to_contain_text(f"changes image 2 of that batch (seed {seeds[1].split()[-1]})")

    send(page, "make it watercolor")
    change = page.locator(".assistant-message").last
    expect(change.locator(".before-after")).to_be_visible(timeout=90_000)
    assert change.locator(".before-image img.generated-image").get_attribute("src") == chosen
    assert console_errors == []


# Instead of a second window in front (headless Chromium keeps every page "visible"), the test says the tab is
# hidden the way a browser does (document.hidden + visibilitychange) and records the notifications raised.
HIDE_JS = """() => {
  window.__shown = [];
  const Real = window.Notification;
  window.Notification = function (title, options) { window.__shown.push([title, options.body]);
                                                     return new Real(title, options); };
  window.Notification.permission = Real.permission;
  Object.defineProperty(document, 'hidden', {configurable: true, get: () => window.__hidden === true});
  window.__hidden = true;
  document.dispatchEvent(new Event('visibilitychange'));
}"""


def test_a_job_that_ends_elsewhere_marks_its_conversation_and_the_hidden_tab(page: Page, console_errors,
                                                                             screenshots_dir):
    page.context.grant_permissions(["notifications"])
    sign_up(page)
    send(page, "draw 4 wide images of a city skyline at night")  # several seconds with the offline engine
    expect(page.locator(".assistant-message").last).to_contain_text("Generating")
    row = page.locator(".conversation", has_text="draw 4 wide images")  # the first message names it
    expect(row).to_be_visible()
    page.locator("#new-chat").click()  # another conversation in view while it runs
    expect(row.locator(".unread-dot")).to_be_visible(timeout=90_000)
    page.screenshot(path=screenshots_dir / "unread-conversation-desktop.png")

    row.click()  # opening it clears the mark
    expect(row.locator(".unread-dot")).to_have_count(0)
    expect(page.locator(".assistant-message").last.locator(".job-done")).to_be_visible()

    title = page.title()
    page.evaluate(HIDE_JS)
    send(page, "draw a small boat on a calm sea")
    expect(page).to_have_title(re.compile(r"^\(1\) "), timeout=90_000)
    assert page.evaluate("window.__shown") == [["Your image is ready", "a small boat on a calm sea"]]
    page.evaluate("() => { window.__hidden = false; document.dispatchEvent(new Event('visibilitychange')); }")
    expect(page).to_have_title(title)
    assert console_errors == []
