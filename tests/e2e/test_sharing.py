"""Sharing end to end, on the prod app with a real worker: the owner makes an image, shares it (through the
ShareState handler, as every page's Share button does) and an album; an anonymous browser opens both; the
owner changes the expiry in the dialog and revokes the link on /shares; the anonymous reload gets 404.

Screenshots (desktop 1280x800 and phone 390x844) of the public image and album pages, the 404 page and
/shares go to artifacts/screenshots/share-*.png.
"""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import Browser, Page, expect

from imagechat.core.auth import SESSION_COOKIE
from tests.e2e.helpers import send, sign_up
from tests.support.reflex_client import cookie_storage_vars, list_event_handlers, open_tab, run_async

pytestmark = pytest.mark.e2e

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
# A dialog fades in: axe measures colours only after the animation, not a blend of the page and the dialog.
SETTLED = "() => document.getAnimations().every(a => a.playState !== 'running')"


def _handler(short: str) -> str:
    return next(h.name for h in list_event_handlers() if h.short == short)


def _image_ids(page: Page, count: int) -> list[str]:
    images = page.locator(".assistant-message").last.locator("img.generated-image")
    expect(images).to_have_count(count, timeout=90_000)
    ids = []
    for i in range(count):
        src = images.nth(i).get_attribute("src") or ""
        ids.append(re.search(r"/api/images/([0-9a-f-]{36})/", src).group(1))
    return ids


def _call(base_url: str, cookies: dict, calls: list[tuple[str, object]]) -> list[str]:
    """Call ShareState handlers in one tab signed in with `cookies`; the text of what each call sent back."""
    names = [_handler(short) for short, _ in calls]  # here: Reflex's state registry lives in this thread's context

    async def scenario():
        tab = await open_tab(base_url, path="/shares", cookies=cookies, storage_vars=cookie_storage_vars(cookies))
        try:
            out = []
            for name, (_, payload) in zip(names, calls, strict=True):
                await tab.send(name, payload, path="/shares")
                out.append((await tab.collect(quiet=0.5, max_wait=10)).text)
            return out
        finally:
            await tab.close()

    return run_async(scenario)


def _anonymous(browser: Browser, viewport: dict, base_url: str):
    # The phone also checks the dark colour scheme of the public page.
    context = browser.new_context(viewport=viewport, base_url=base_url,
                                  color_scheme="dark" if viewport is PHONE else "light")
    return context, context.new_page()


def test_share_open_anonymously_then_revoke(page: Page, browser: Browser, base_url: str, screenshots_dir):
    page.set_viewport_size(DESKTOP)
    sign_up(page)
    send(page, "draw 3 images of a lighthouse on a cliff at sunset")
    image_ids = _image_ids(page, 3)
    cookies = {c["name"]: c["value"] for c in page.context.cookies() if c["name"] == SESSION_COOKIE}

    # Share one image and check the handlers refuse what is not the user's.
    single, bogus, foreign = _call(base_url, cookies, [
        ("ShareState.share_image", {"image_id": image_ids[0]}),
        ("ShareState.share_image", {"image_id": "<script>"}),
        ("ShareState.share_image", {"image_id": str(uuid.uuid4())}),
    ])
    link = re.search(r'(http://127\.0\.0\.1:\d+/s/[A-Za-z0-9_-]{43})', single).group(1)
    assert "can't be shared" in bogus and "isn't yours" in foreign and "/s/" not in bogus + foreign

    # /shares lists it; its dialog changes the expiry of the same link.
    page.goto("/shares")
    row = page.locator(".share-row")
    expect(row).to_have_count(1)
    expect(row.locator("input.share-url, .share-url input").first).to_have_value(link)
    expect(row).to_contain_text("Active")
    expect(row).to_contain_text("Views 0")
    row.locator(".share-edit").click()
    dialog = page.locator("#share-dialog")
    expect(dialog).to_be_visible()
    expect(page.locator("#share-url")).to_have_value(link)
    page.locator("#share-expiry").click()
    page.get_by_role("option", name="For 7 days").click()
    expect(page.locator("#share-expires")).to_contain_text("Stops working on")
    page.screenshot(path=screenshots_dir / "share-dialog-desktop.png")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base_url)
    page.locator("#share-copy").click()
    assert page.evaluate("navigator.clipboard.readText()") == link
    dialog.get_by_role("button", name="Done").click()
    expect(dialog).to_be_hidden()
    expect(row).not_to_contain_text("Expires Never")

    # Anyone with the link sees the image, on a desktop and on a phone (the desktop tab stays open).
    opened = {}
    for name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        context, anon = _anonymous(browser, viewport, base_url)
        opened[name] = (context, anon)
        response = anon.goto(link)
        assert response.status == 200
        assert response.headers["cache-control"] == "no-cache" and "etag" in response.headers
        # The app's hardening headers cover this page too (its style is inline, which the CSP allows; no script).
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        assert response.headers["referrer-policy"] == "no-referrer" and response.headers["x-robots-tag"] == "noindex"
        assert anon.evaluate("getComputedStyle(document.querySelector('.frame')).borderRadius") == "14px"
        expect(anon.locator("header")).to_contain_text("Shared from imagechat")
        img = anon.locator(".frame img")
        expect(img).to_be_visible()
        anon.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=img.element_handle())
        og_image = anon.locator('meta[property="og:image"]').get_attribute("content")
        assert og_image.startswith(base_url + "/s/") and og_image.endswith("/preview.jpg")
        assert anon.request.get(og_image).status == 200
        width = anon.evaluate("document.documentElement.scrollWidth")
        assert width <= viewport["width"], f"horizontal overflow on the {name}: {width}px"
        anon.screenshot(path=screenshots_dir / f"share-image-{name}.png", full_page=True)
    opened.pop("phone")[0].close()

    # An album share shows a grid of its images.
    album = _create_album(image_ids)
    foreign_album = _create_album(_image_ids_of_someone_else())
    album_reply, foreign_reply, junk_reply = _call(base_url, cookies, [
        ("ShareState.share_album", {"album_id": album}),
        ("ShareState.share_album", {"album_id": foreign_album}),
        ("ShareState.share_album", {"album_id": "1 or 1=1"}),
    ])
    assert "isn't yours" in foreign_reply and "can't be shared" in junk_reply
    assert "/s/" not in foreign_reply + junk_reply
    album_link = re.search(r'(http://127\.0\.0\.1:\d+/s/[A-Za-z0-9_-]{43})', album_reply).group(1)
    for name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        context, anon = _anonymous(browser, viewport, base_url)
        try:
            assert anon.goto(album_link).status == 200
            expect(anon.locator(".card")).to_have_count(3)
            anon.wait_for_function("() => [...document.images].every(i => i.complete && i.naturalWidth > 0)")
            assert anon.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
            anon.screenshot(path=screenshots_dir / f"share-album-{name}.png", full_page=True)
        finally:
            context.close()

    # The owner sees the views, then revokes the image link (with confirmation).
    page.goto("/shares")
    rows = page.locator(".share-row")
    expect(rows).to_have_count(2)
    image_row = page.locator('.share-row[data-kind="image"]')
    expect(image_row).to_contain_text("Views 1")  # desktop and phone came from one address: one viewer this hour
    page.screenshot(path=screenshots_dir / "shares-desktop.png", full_page=True)
    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=screenshots_dir / "shares-phone.png", full_page=True)
    page.set_viewport_size(DESKTOP)
    image_row.locator(".share-revoke").click()
    expect(page.get_by_role("alertdialog")).to_contain_text("Revoke this link?")
    page.locator("#confirm-revoke").click()
    expect(page.locator('.share-row[data-status="revoked"]')).to_have_count(1)
    expect(page.locator('.share-row[data-kind="image"]')).to_contain_text("Revoked")

    # The very next anonymous request gets the 404 page, also for the image bytes.
    context, anon = opened.pop("desktop")
    try:
        response = anon.reload()
        assert response.status == 404
        expect(anon.locator("h1")).to_have_text("This link isn't available")
        assert anon.request.get(og_image).status == 404
        anon.screenshot(path=screenshots_dir / "share-404-desktop.png")
    finally:
        context.close()
    # The album link still works: revoking one link touches nothing else.
    assert page.request.get(album_link).status == 200


def _create_album(image_ids: list[str]) -> int:
    """An album of the owner's images, written straight to the database (core.organise's UI is another page)."""
    from sqlmodel import select

    from imagechat.db import session_scope
    from imagechat.models import Album, AlbumImage, Image

    with session_scope() as s:
        owner = s.exec(select(Image.owner_id).where(Image.id == uuid.UUID(image_ids[0]))).one()
        album = Album(owner_id=owner, name=f"Lighthouses <{uuid.uuid4().hex[:4]}>")
        s.add(album)
        s.flush()
        for image_id in image_ids:
            s.add(AlbumImage(album_id=album.id, image_id=uuid.UUID(image_id)))
        return album.id


def _image_ids_of_someone_else() -> list[str]:
    from imagechat.db import session_scope
    from imagechat.models import User
    from tests.support.services import create_user

    user_id = create_user("stranger")
    with session_scope() as s:
        username = s.get(User, user_id).username
    return [_owned_image(username, "someone else's picture")[1]]


def _owned_image(username: str, prompt: str) -> tuple[int, str]:
    """A stored image of the signed-up user, written straight to the database (no job needed for this check)."""
    import io

    from PIL import Image as PILImage
    from sqlmodel import select

    from imagechat.core import codec
    from imagechat.db import session_scope
    from imagechat.models import Image, ImageData, User

    pic = PILImage.linear_gradient("L").resize((640, 400)).convert("RGB")
    buf = io.BytesIO()
    pic.save(buf, format="PNG")
    st = codec.prepare_for_storage(buf.getvalue(), fmt="webp", quality=80, thumb_px=320, max_pixels=10_000_000)
    with session_scope() as s:
        owner = s.exec(select(User.id).where(User.username == username)).one()
        image = Image(owner_id=owner, prompt=prompt, style="watercolor", engine="offline", width=st.width,
                      height=st.height, mime=st.mime, byte_size=st.byte_size, sha256=st.sha256)
        s.add(image)
        s.flush()
        s.add(ImageData(image_id=image.id, data_b64=st.data_b64, thumb_b64=st.thumb_b64))
        return owner, str(image.id)


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_share_pages_accessibility(browser: Browser, base_url: str, viewport: str):
    """axe (no serious/critical, contrast included), accessible names and focus rings on /shares, the dialog
    and the public page (the phone in the dark colour scheme)."""
    from imagechat.core import sharing
    from tests.e2e.test_accessibility import VIEWPORTS, audit, check_axe

    ctx = browser.new_context(base_url=base_url, bypass_csp=True, **VIEWPORTS[viewport])
    try:
        page = ctx.new_page()
        owner, image_id = _owned_image(sign_up(page), "a quiet harbour with <b>boats</b> & \"gulls\"")
        link = sharing.create_link(owner, image_id=image_id, expires_in_days=30)
        page.goto("/shares")
        expect(page.locator(".share-row")).to_have_count(1)
        audit(page, f"/shares ({viewport})")
        page.locator(".share-edit").click()
        expect(page.locator("#share-dialog")).to_be_visible()
        page.wait_for_function(SETTLED)
        check_axe(page, f"share dialog ({viewport})")
        page.keyboard.press("Escape")
        page.locator(".share-revoke").click()
        expect(page.get_by_role("alertdialog")).to_be_visible()
        page.wait_for_function(SETTLED)
        check_axe(page, f"revoke confirmation ({viewport})")
        page.get_by_role("button", name="Keep it").click()
        expect(page.get_by_role("alertdialog")).to_be_hidden()
        expect(page.locator(".share-row")).to_contain_text("Active")
    finally:
        ctx.close()
    public = browser.new_context(base_url=base_url, bypass_csp=True, **VIEWPORTS[viewport],
                                 color_scheme="dark" if viewport == "phone" else "light")
    try:
        anon = public.new_page()
        assert anon.goto(link.url).status == 200
        audit(anon, f"public share page ({viewport})")
        assert anon.goto("/s/" + "x" * 43).status == 404
        check_axe(anon, f"share 404 page ({viewport})")
    finally:
        public.close()
