"""The image detail view in Chromium on the prod app with a real worker: opened from a card and from a
?image= URL, every fact shown, a restyle from the view lands in the chat as before/after and then shows in the
lineage of both images, the compare slider moves with the keyboard and the pointer, arrow keys walk the
gallery's order, Esc and Back close it (the URL follows), Reuse settings fills the chat's composer, a phone
swipes, and another user's id only gets a toast. Screenshots at desktop and phone size in /tmp/shots-detail."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlmodel import select

from imagechat.db import session_scope
from imagechat.models import Image, User
from tests.e2e.helpers import PASSWORD, SUNSET, send, sign_up
from tests.e2e.test_accessibility import audit

pytestmark = pytest.mark.e2e

SHOTS = Path("/tmp/shots-detail")
NOT_YOURS = "That image doesn't exist, or it isn't yours."


def _images(name: str) -> list[Image]:
    """The user's images, newest first (the gallery's default order)."""
    with session_scope() as s:
        owner = s.exec(select(User.id).where(User.username == name)).one()
        return list(s.exec(select(Image).where(Image.owner_id == owner)
                           .order_by(Image.created_at.desc(), Image.id.desc())).all())


def _made(page: Page, text: str) -> None:
    replies = page.locator(".assistant-message")
    n = replies.count()
    send(page, text)
    expect(replies).to_have_count(n + 1)
    expect(replies.nth(n).locator(".job-done")).to_be_visible(timeout=60_000)


def _image_param(page: Page) -> str:
    match = re.search(r"[?&]image=([0-9a-f-]{36})", page.url)
    return match[1] if match else ""


def _shot(page: Page, screenshots_dir: Path, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=screenshots_dir / name)
    shutil.copy(screenshots_dir / name, SHOTS / name)


def _loaded(page: Page, selector: str) -> None:
    page.wait_for_function("sel => [...document.querySelectorAll(sel)].every(i => i.complete && i.naturalWidth > 0)",
                           arg=selector)


@pytest.fixture
def browser_context_args(browser_context_args):
    """axe is injected as an inline script, which the app's CSP forbids. The phone test's own context keeps
    the CSP, so the view's script is proven to load under it."""
    return {**browser_context_args, "bypass_csp": True}


@pytest.fixture(scope="module")
def album(browser: Browser, base_url: str) -> dict:
    """One user with a sunset, a lighthouse and (made from the detail view) a cartoon restyle of the sunset."""
    ctx = browser.new_context(base_url=base_url)
    page = ctx.new_page()
    name = sign_up(page)
    _made(page, SUNSET)
    _made(page, "/imagine a lighthouse on a cliff")
    lighthouse, sunset = (str(i.id) for i in _images(name))

    page.goto("/gallery")
    page.locator(f"#img-{sunset} .gallery-open").click()  # DetailState.open from a card
    view = page.locator("#image-detail")
    expect(view).to_be_visible()
    expect(page).to_have_url(re.compile(f"image={sunset}"))
    page.locator("#detail-restyle").click()
    page.locator("#restyle-cartoon").click()
    expect(page).to_have_url(re.compile(r"/\?c=\d+&m=\d+$"))
    change = page.locator(".assistant-message").last
    expect(change.locator(".before-after")).to_be_visible(timeout=60_000)
    cartoon = str(_images(name)[0].id)
    ctx.close()
    return {"name": name, "sunset": sunset, "lighthouse": lighthouse, "cartoon": cartoon}


def _log_in(page: Page, name: str) -> None:
    page.goto("/login")
    page.locator("#login-username").fill(name)
    page.locator("#login-password").fill(PASSWORD)
    page.locator("#login-submit").click()
    expect(page.locator("#user-menu")).to_contain_text(name)


def test_facts_lineage_compare_keys_and_url(page: Page, album: dict, console_errors, screenshots_dir):
    _log_in(page, album["name"])
    page.goto(f"/gallery?image={album['cartoon']}")  # the ?image= URL opens it (DetailState.load)
    view = page.locator("#image-detail")
    expect(view).to_be_visible()
    expect(page.locator("#detail-prompt")).to_have_text("a sunset over mountains with a lake reflection")
    expect(page.locator("#detail-style")).to_have_text("cartoon")
    expect(page.locator("#detail-kind")).to_have_text("Restyle")
    expect(page.locator("#detail-engine")).to_have_text("offline")
    expect(page.locator("#detail-size")).to_have_text("1024x1024")
    expect(page.locator("#detail-stored")).to_have_text(re.compile(r"^\d+\.\d KiB \(image/webp\)$"))
    expect(page.locator("#detail-cost")).to_contain_text("$")
    expect(page.locator("#detail-seed")).to_have_text(re.compile(r"^\d+$"))
    expect(page.locator("#detail-created")).to_have_text(re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d UTC$"))
    expect(page.locator("#detail-chat-link")).to_have_attribute("href", re.compile(r"^/\?c=\d+&m=\d+$"))

    # Lineage: the sunset (its source) then this image; each opens the other.
    cards = page.locator("#detail-lineage .lineage-card")
    expect(cards).to_have_count(2)
    expect(cards.nth(0)).to_have_attribute("aria-label", "Open 1 · Original")
    expect(cards.nth(1)).to_have_attribute("aria-current", "true")

    # The compare slider: sunset (A) against the cartoon (B); arrows, Home/End, and a drag move it.
    page.locator("#detail-compare-toggle").click()
    slider = view.locator(".compare-slider")
    expect(slider).to_be_visible()
    _loaded(page, ".compare-slider img")
    assert slider.locator("img.compare-a").get_attribute("src").endswith(f"{album['sunset']}/full")
    assert slider.locator("img.compare-b").get_attribute("src").endswith(f"{album['cartoon']}/full")
    handle = slider.get_by_role("slider")
    expect(handle).to_have_attribute("aria-valuenow", "50")
    handle.focus()
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    expect(handle).to_have_attribute("aria-valuenow", "65")
    page.keyboard.press("ArrowLeft")
    expect(handle).to_have_attribute("aria-valuenow", "60")
    assert _image_param(page) == album["cartoon"]  # the slider's arrows never move to another image
    page.keyboard.press("Home")
    expect(handle).to_have_attribute("aria-valuenow", "0")
    page.keyboard.press("End")
    expect(handle).to_have_attribute("aria-valuenow", "100")
    box = slider.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.25, box["y"] + box["height"] / 2, steps=4)
    page.mouse.up()
    assert 20 <= int(handle.get_attribute("aria-valuenow")) <= 30
    clip = slider.locator("img.compare-a").evaluate("i => getComputedStyle(i).clipPath")
    assert clip.startswith("inset(") and clip != "inset(0px 50% 0px 0px)", clip
    page.keyboard.press("End")
    page.keyboard.press("PageDown")
    page.keyboard.press("PageDown")  # 60 %: A on the left, B on the right, both visible
    _shot(page, screenshots_dir, "detail-compare-desktop.png")
    audit(page, "detail view with the compare slider")

    # Any two of the lineage: A becomes this image too (the slider starts again from the middle).
    page.locator("#compare-a").click()
    page.get_by_role("option", name="2 · This image").click()
    expect(slider.locator("img.compare-a")).to_have_attribute("src", re.compile(f"{album['cartoon']}/full$"))
    expect(slider.get_by_role("slider")).to_have_attribute("aria-valuenow", "50")
    expect(page.locator(".compare-tag-left")).to_have_text("A · 2 · This image")

    # Arrow keys walk the gallery's order (newest first: cartoon, lighthouse, sunset); the URL follows.
    page.evaluate("document.activeElement && document.activeElement.blur()")
    expect(page.locator("#detail-prev")).to_be_disabled()
    page.keyboard.press("ArrowRight")
    expect(page).to_have_url(re.compile(f"image={album['lighthouse']}"))
    expect(page.locator("#detail-prompt")).to_have_text("a lighthouse on a cliff")
    expect(page.locator("#detail-lineage")).to_have_count(0)  # no lineage: nothing to compare
    page.keyboard.press("ArrowRight")
    expect(page).to_have_url(re.compile(f"image={album['sunset']}"))
    expect(page.locator("#detail-next")).to_be_disabled()
    cards = page.locator("#detail-lineage .lineage-card")
    expect(cards).to_have_count(2)  # seen from the source: itself, then the restyle made from it
    expect(cards.nth(0)).to_have_attribute("aria-current", "true")
    expect(cards.nth(1)).to_have_attribute("aria-label", "Open 2 · Restyle (cartoon)")
    _loaded(page, "#image-detail img")
    _shot(page, screenshots_dir, "detail-desktop.png")
    page.keyboard.press("ArrowLeft")
    expect(page).to_have_url(re.compile(f"image={album['lighthouse']}"))

    # A reload keeps the image open; Esc closes it and the URL loses ?image=.
    page.reload()
    expect(page.locator("#detail-prompt")).to_have_text("a lighthouse on a cliff")
    page.keyboard.press("Escape")
    expect(view).to_have_count(0)
    expect(page).not_to_have_url(re.compile(r"image="))

    # Opened from a card (DetailState.open): the URL gains ?image=; Back closes it again.
    page.locator(f"#img-{album['cartoon']} .gallery-open").click()
    expect(page.locator("#detail-style")).to_have_text("cartoon")
    expect(page).to_have_url(re.compile(f"image={album['cartoon']}"))
    page.go_back()
    expect(view).to_have_count(0)
    expect(page).not_to_have_url(re.compile(r"image="))
    page.go_forward()
    expect(page.locator("#detail-style")).to_have_text("cartoon")
    assert console_errors == []


def test_actions_favourite_share_download_delete_variations_and_reuse(page: Page, album: dict, console_errors,
                                                                     tmp_path):
    _log_in(page, album["name"])
    page.goto(f"/gallery?image={album['cartoon']}")
    star = page.locator("#detail-favorite")
    expect(star).to_have_attribute("aria-pressed", "false")
    star.click()
    expect(star).to_have_attribute("aria-pressed", "true")
    expect(page.locator(f"#img-{album['cartoon']} .gallery-star")).to_have_attribute("aria-pressed", "true")
    star.click()
    expect(star).to_have_attribute("aria-pressed", "false")

    # Share opens its dialog above the view; Esc closes only the top one.
    page.locator("#detail-share").click()
    expect(page.locator("#share-dialog")).to_be_visible()
    expect(page.locator("#share-url")).to_have_value(re.compile(r"/s/[A-Za-z0-9_-]+$"))
    page.keyboard.press("Escape")
    expect(page.locator("#share-dialog")).to_have_count(0)
    expect(page.locator("#image-detail")).to_be_visible()

    page.locator("#image-detail .download-menu-trigger").click()
    with page.expect_download() as info:
        page.locator(".download-png-original").click()
    path = tmp_path / "cartoon.png"
    info.value.save_as(path)
    assert path.read_bytes().startswith(b"\x89PNG")

    # The link to its message leaves the view; Back brings the view back.
    page.locator("#detail-chat-link").click()
    expect(page).to_have_url(re.compile(r"/\?c=\d+&m=\d+$"))
    page.go_back()
    expect(page.locator("#detail-style")).to_have_text("cartoon")

    # Delete closes the view and drops the card; Undo in the toast puts it back.
    page.goto(f"/gallery?image={album['lighthouse']}")
    page.locator("#detail-delete").click()
    expect(page.locator("#image-detail")).to_have_count(0)
    expect(page).not_to_have_url(re.compile(r"image="))
    expect(page.locator(f"#img-{album['lighthouse']}")).to_have_count(0)
    page.get_by_role("button", name="Undo").click()
    expect(page.locator(f"#img-{album['lighthouse']}")).to_have_count(1)

    # Variations: three new takes in the image's conversation, shown in the chat.
    page.goto(f"/gallery?image={album['sunset']}")
    page.locator("#detail-variations").click()
    expect(page).to_have_url(re.compile(r"/\?c=\d+&m=\d+$"))
    expect(page.locator(".assistant-message").last).to_contain_text("Generating 3 variations")

    # Reuse settings: the prompt and its style in the chat's composer.
    page.goto(f"/gallery?image={album['cartoon']}")
    page.locator("#detail-reuse").click()
    expect(page).to_have_url(re.compile(r"/\?c=\d+$"))
    expect(page.get_by_role("textbox", name="Prompt")).to_have_value(
        "a sunset over mountains with a lake reflection, in cartoon style")
    assert console_errors == []


def test_phone_sheet_swipes(browser: Browser, base_url: str, album: dict, screenshots_dir):
    ctx = browser.new_context(base_url=base_url, viewport={"width": 390, "height": 844}, is_mobile=True,
                              has_touch=True)
    try:
        page = ctx.new_page()
        _log_in(page, album["name"])
        page.goto(f"/gallery?image={album['lighthouse']}")
        view = page.locator("#image-detail")
        expect(view).to_be_visible()
        view.evaluate("el => Promise.all(el.getAnimations().map(a => a.finished))")  # the opening zoom
        box = view.bounding_box()
        assert [round(box[k]) for k in ("x", "y", "width", "height")] == [0, 0, 390, 844]  # a full-screen sheet
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        _loaded(page, "#image-detail img")
        _shot(page, screenshots_dir, "detail-phone.png")

        swipe = """([dx]) => {
            const stage = document.getElementById('detail-stage');
            const r = stage.getBoundingClientRect();
            const x = r.left + r.width / 2, y = r.top + r.height / 2;
            const t = (cx) => new Touch({identifier: 1, target: stage, clientX: cx, clientY: y});
            stage.dispatchEvent(new TouchEvent('touchstart', {touches: [t(x)], changedTouches: [t(x)], bubbles: true}));
            stage.dispatchEvent(new TouchEvent('touchend', {touches: [], changedTouches: [t(x + dx)], bubbles: true}));
        }"""
        page.evaluate(swipe, [-120])  # swipe left: the next image
        expect(page).to_have_url(re.compile(f"image={album['sunset']}"))
        page.evaluate(swipe, [120])  # swipe right: back to the previous one
        expect(page).to_have_url(re.compile(f"image={album['lighthouse']}"))
        # Too short a swipe does nothing: the long one after it (events run in order) lands one image back.
        page.evaluate(swipe, [20])
        page.evaluate(swipe, [120])
        expect(page).to_have_url(re.compile(f"image={album['cartoon']}"))
        expect(page.locator("#detail-style")).to_have_text("cartoon")

        page.goto(f"/gallery?image={album['cartoon']}")
        page.locator("#detail-compare-toggle").click()
        _loaded(page, ".compare-slider img")
        page.evaluate("document.getElementById('detail-panel').scrollIntoView({block: 'start'})")
        page.evaluate("window.scrollTo(0, 0); document.getElementById('image-detail').scrollTop = 0")
        _shot(page, screenshots_dir, "detail-compare-phone.png")
        page.locator("#image-detail").evaluate("el => el.scrollTop = 560")
        _shot(page, screenshots_dir, "detail-facts-phone.png")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        assert view.evaluate("el => el.scrollWidth <= el.clientWidth")  # nothing in the sheet sticks out
        small = view.evaluate("""el => [...el.querySelectorAll('button, a, [role=slider], [role=combobox]')]
            .filter(b => b.offsetParent !== null)
            .map(b => [b.id || b.className || b.tagName, b.getBoundingClientRect().height])
            .filter(([, h]) => h < 44)""")
        assert small == [], small  # touch targets at least 44 px tall
    finally:
        ctx.close()


def test_another_users_image_only_gets_a_toast(browser: Browser, base_url: str, album: dict):
    ctx = browser.new_context(base_url=base_url)
    try:
        page = ctx.new_page()
        sign_up(page)
        page.goto(f"/gallery?image={album['sunset']}")
        expect(page.get_by_text(NOT_YOURS)).to_be_visible()
        expect(page.locator("#image-detail")).to_have_count(0)
        expect(page).not_to_have_url(re.compile(r"image="))
        assert page.request.get(f"/api/images/{album['sunset']}/full").status == 404
        page.goto("/gallery?image=not-a-uuid")
        expect(page.get_by_text(NOT_YOURS)).to_be_visible()
        expect(page.locator("#image-detail")).to_have_count(0)
    finally:
        ctx.close()
