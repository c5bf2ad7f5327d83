"""Editing with a painted mask in Chromium, on the prod app with a real worker (offline engine): the detail view's
"Edit with a mask" opens a canvas over the large image; a mouse stroke paints, Undo/Clear/Erase work in the
browser, Apply without paint or words says what is missing without a request; then a stroke across the lake and
"add a boat" upload the mask (a PNG whose painted pixels are transparent, via the mask route, not Reflex state)
and the chat of that image shows the request and before/after, the new image changed only where it was painted.
A phone paints with touch (real touch pointer events through the DevTools protocol). Screenshots at desktop and
phone size in artifacts/screenshots and /tmp/shots-mask."""

from __future__ import annotations

import io
import re
import shutil
import uuid
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, expect
from sqlmodel import select

from imagechat.core import codec
from imagechat.db import session_scope
from imagechat.models import GenerationJob, JobMask, User
from imagechat.models import Image as ImageRow
from tests.e2e.helpers import send, sign_up
from tests.e2e.test_accessibility import audit

pytestmark = pytest.mark.e2e

SHOTS = Path("/tmp/shots-mask")
LAKE = "Create an image of a lake at sunset"


@pytest.fixture
def browser_context_args(browser_context_args):
    """axe is injected as an inline script, which the app's CSP forbids. The phone test's own context keeps
    the CSP, so the editor's script is proven to load and upload under it."""
    return {**browser_context_args, "bypass_csp": True}


def _shot(page: Page, screenshots_dir: Path, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=screenshots_dir / name)
    shutil.copy(screenshots_dir / name, SHOTS / name)


def _made(page: Page, text: str) -> None:
    replies = page.locator(".assistant-message")
    n = replies.count()
    send(page, text)
    expect(replies).to_have_count(n + 1)
    expect(replies.nth(n).locator(".job-done")).to_be_visible(timeout=60_000)


def _images(name: str) -> list[ImageRow]:
    with session_scope() as s:
        owner = s.exec(select(User.id).where(User.username == name)).one()
        return list(s.exec(select(ImageRow).where(ImageRow.owner_id == owner)
                           .order_by(ImageRow.created_at.desc(), ImageRow.id.desc())).all())


def _open_editor(page: Page, image_id: str) -> dict:
    page.goto(f"/gallery?image={image_id}")
    expect(page.locator("#image-detail")).to_be_visible()
    page.locator("#detail-mask").click()
    canvas = page.locator("#mask-canvas")
    expect(canvas).to_be_visible()
    expect(page.locator("#detail-prev")).to_have_count(0)  # no browsing while painting
    page.wait_for_function("() => { const i = document.querySelector('.mask-image');"
                           " return i && i.complete && i.naturalWidth > 0; }")
    box = canvas.bounding_box()
    assert box["width"] > 100 and abs(box["width"] / box["height"] - 1.0) < 0.02  # the image's shape
    return box


def _painted(page: Page) -> int:
    """How many canvas pixels hold paint (read in the page)."""
    return page.evaluate("""() => { const c = document.getElementById('mask-canvas');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; }""")


def _stroke(page: Page, box: dict, points: list[tuple[float, float]]) -> None:
    x, y = box["x"], box["y"]
    page.mouse.move(x + box["width"] * points[0][0], y + box["height"] * points[0][1])
    page.mouse.down()
    for px, py in points[1:]:
        page.mouse.move(x + box["width"] * px, y + box["height"] * py, steps=8)
    page.mouse.up()


def _bytes(page: Page, image_id: str) -> np.ndarray:
    r = page.request.get(f"/api/images/{image_id}/full")
    assert r.status == 200
    return np.asarray(Image.open(io.BytesIO(r.body())).convert("RGB"), dtype=np.int16)


def test_paint_a_stroke_apply_add_a_boat_and_see_before_after(page: Page, console_errors, screenshots_dir):
    name = sign_up(page)
    _made(page, LAKE)
    (source,) = _images(name)
    source_id = str(source.id)
    box = _open_editor(page, source_id)
    expect(page.get_by_role("heading", name="Edit with a mask")).to_be_visible()

    # Nothing painted, no words: said in the panel, nothing sent.
    page.locator("#mask-apply").click()
    expect(page.locator("#mask-status")).to_have_text("Paint over the part of the image to change first.")

    # Paint, undo, paint twice, clear, erase: all in the browser.
    expect(page.locator("#mask-undo")).to_be_disabled()
    _stroke(page, box, [(0.1, 0.15), (0.3, 0.2)])
    first = _painted(page)
    assert first > 1000
    expect(page.locator("#mask-undo")).to_be_enabled()
    page.locator("#mask-undo").click()
    assert _painted(page) == 0
    expect(page.locator("#mask-undo")).to_be_disabled()
    _stroke(page, box, [(0.1, 0.15), (0.3, 0.2)])
    _stroke(page, box, [(0.6, 0.15), (0.8, 0.2)])
    assert _painted(page) > first
    page.locator("#mask-clear").click()
    assert _painted(page) == 0

    # The stroke that counts: across the lake, below the horizon; then a cut erased through its end.
    page.locator("#mask-brush").fill("16")
    _stroke(page, box, [(0.32, 0.78), (0.45, 0.8), (0.62, 0.79)])
    whole = _painted(page)
    page.locator("#mask-brush").fill("5")
    page.locator("#mask-erase").click()
    expect(page.locator("#mask-erase")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#mask-paint")).to_have_attribute("aria-pressed", "false")
    _stroke(page, box, [(0.62, 0.7), (0.62, 0.88)])
    assert 0 < _painted(page) < whole
    page.locator("#mask-paint").click()
    page.locator("#mask-apply").click()
    expect(page.locator("#mask-status")).to_contain_text("Say what should change")
    expect(page.locator("#mask-prompt")).to_be_focused()
    page.locator("#mask-prompt").fill("add a boat")
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)  # the brush ring shows
    _shot(page, screenshots_dir, "mask-editor-desktop.png")
    audit(page, "the mask editor")

    with page.expect_response(lambda r: r.url.endswith(f"/api/images/{source_id}/masks")) as upload:
        page.locator("#mask-prompt").press("Enter")  # Enter applies, like the button
    assert upload.value.status == 201
    expect(page).to_have_url(re.compile(r"/\?c=\d+&m=\d+$"))
    change = page.locator(".assistant-message").last
    expect(page.locator(".user-message").last).to_contain_text("Change the painted area of")
    expect(page.locator(".user-message").last).to_contain_text("add a boat")
    expect(change.locator(".before-after")).to_be_visible(timeout=60_000)
    page.wait_for_function("() => [...document.querySelectorAll('.before-after img')]"
                           ".every(i => i.complete && i.naturalWidth > 0)")
    change.scroll_into_view_if_needed()
    _shot(page, screenshots_dir, "mask-chat-before-after-desktop.png")

    # What the server got: the job's mask is a PNG of the image's size, transparent where the stroke went.
    edited = _images(name)[0]
    assert edited.parent_image_id == source.id
    with session_scope() as s:
        job = s.get(GenerationJob, edited.job_id)
        mask_row = s.get(JobMask, edited.job_id)
    assert job.kind == "edit" and job.prompt.endswith("with a boat")
    mask = Image.open(io.BytesIO(codec.from_b64(mask_row.mask_b64)))
    assert (mask.format, mask.size) == ("PNG", (source.width, source.height))
    painted = np.asarray(mask.getchannel("A")) == 0
    ys, xs = np.nonzero(painted)
    w, h = source.width, source.height
    assert 0.2 * w < xs.min() < 0.3 * w and 0.64 * w < xs.max() < 0.75 * w  # the stroke, with its round ends
    assert 0.65 * h < ys.min() and ys.max() < 0.92 * h
    assert painted[int(0.8 * h), int(0.45 * w)] and not painted[int(0.79 * h), int(0.62 * w)]  # the erased cut

    # The picture changed only there (both are stored as lossy WebP: outside, only re-encoding noise).
    before, after = _bytes(page, source_id), _bytes(page, str(edited.id))
    keep = np.asarray(mask.getchannel("A")) == 255
    moved = np.abs(after - before).max(axis=2) > 24
    assert np.abs(after[keep] - before[keep]).mean() < 2.5
    assert moved[keep].mean() < 0.002
    assert moved[painted].mean() > 0.02  # a boat where the user painted
    ys, xs = np.nonzero(moved & painted)
    assert 0.25 * w < xs.mean() < 0.7 * w and 0.7 * h < ys.mean() < 0.9 * h
    assert console_errors == []


def test_a_phone_paints_with_touch(browser: Browser, base_url: str, screenshots_dir):
    ctx = browser.new_context(base_url=base_url, viewport={"width": 390, "height": 844}, is_mobile=True,
                              has_touch=True)
    try:
        page = ctx.new_page()
        name = sign_up(page, f"e2e_{uuid.uuid4().hex[:8]}")
        _made(page, LAKE)
        (source,) = _images(name)
        box = _open_editor(page, str(source.id))
        view = page.locator("#image-detail")
        view.evaluate("el => Promise.all(el.getAnimations().map(a => a.finished))")

        stage = page.locator("#detail-stage").bounding_box()
        assert round(stage["height"]) == 390  # a square image: no taller than it needs, the tools fit below
        page.locator("#mask-brush").fill("20")

        # A finger drawn across the sky: touch pointer events, the sheet does not scroll or swipe.
        cdp = ctx.new_cdp_session(page)
        points = [(0.15, 0.18), (0.35, 0.2), (0.55, 0.17), (0.8, 0.2)]
        at = [(box["x"] + box["width"] * x, box["y"] + box["height"] * y) for x, y in points]
        cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": at[0][0], "y": at[0][1]}]})
        for x, y in at[1:]:
            cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]})
        cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
        expect(page.locator("#mask-undo")).to_be_enabled()
        assert _painted(page) > 500
        assert re.search(f"image={source.id}", page.url)  # not swiped to another image
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.locator("#mask-prompt").fill("make the sky pink")
        page.evaluate("document.getElementById('image-detail').scrollTop = 0")
        _shot(page, screenshots_dir, "mask-editor-phone.png")
        small = view.evaluate("""el => [...el.querySelectorAll('button, a, input, [role=slider]')]
            .filter(b => b.offsetParent !== null)
            .map(b => [b.id || b.className || b.tagName, b.getBoundingClientRect().height])
            .filter(([, h]) => h < 44)""")
        assert small == [], small  # touch targets at least 44 px tall
        apply = page.locator("#mask-apply").bounding_box()
        assert apply["y"] + apply["height"] <= 844  # Apply in sight without scrolling

        page.locator("#mask-apply").click()
        expect(page).to_have_url(re.compile(r"/\?c=\d+&m=\d+$"))
        change = page.locator(".assistant-message").last
        expect(change.locator(".before-after")).to_be_visible(timeout=60_000)
        page.wait_for_function("() => [...document.querySelectorAll('.before-after img')]"
                               ".every(i => i.complete && i.naturalWidth > 0)")
        change.locator(".after-image").scroll_into_view_if_needed()
        _shot(page, screenshots_dir, "mask-chat-before-after-phone.png")
        edited = _images(name)[0]
        before, after = _bytes(page, str(source.id)), _bytes(page, str(edited.id))
        band = (slice(int(0.16 * 1024), int(0.2 * 1024)), slice(int(0.3 * 1024), int(0.6 * 1024)))
        r0, g0, b0 = before[band].reshape(-1, 3).mean(axis=0)
        r1, g1, b1 = after[band].reshape(-1, 3).mean(axis=0)
        assert (r1 - g1) - (r0 - g0) > 10 and b1 - g1 > 20, ((r0, g0, b0), (r1, g1, b1))  # pink where painted
        assert np.abs(after[int(0.95 * 1024)] - before[int(0.95 * 1024)]).mean() < 2.5  # the lake untouched
    finally:
        ctx.close()
