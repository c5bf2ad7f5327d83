"""Long conversations end to end (issue 8, point 2): a conversation opens on its newest page, older pages come
in front when the user scrolls up (keeping the reading position), a turn appends; deep links (core.urls.chat_url)
open one of the user's own messages and nothing else; the star, "Add to album" and deleted images in the chat."""

from __future__ import annotations

import io
import re
import uuid
from datetime import timedelta

import pytest
from playwright.sync_api import Browser, Page, expect

from imagechat.core.urls import chat_url
from tests.e2e.helpers import send, sign_up

pytestmark = pytest.mark.e2e

SHOTS = "/tmp/shots-chat-history"


def _user_id(username: str) -> int:
    from sqlmodel import select

    from imagechat.db import session_scope
    from imagechat.models import User

    with session_scope() as s:
        return s.exec(select(User.id).where(User.username == username)).one()


def _stored():
    from PIL import Image as PILImage
    from PIL import ImageDraw

    from imagechat.core import library

    im = PILImage.new("RGB", (768, 512), (40, 90, 160))
    draw = ImageDraw.Draw(im)
    for i in range(0, 768, 32):
        draw.line([(i, 0), (768 - i, 512)], fill=(255 - i // 4, 160, i // 4), width=4)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return library.prepare(buf.getvalue())


def seed(owner: int, n: int, *, title: str = "Long chat", image_every: int = 0) -> tuple[int, list[int], list[str]]:
    """A conversation of n messages ("message 0" oldest); every `image_every`-th one an assistant reply with a
    finished image. Returns (conversation id, message ids oldest first, image ids)."""
    from sqlalchemy import insert
    from sqlmodel import select

    from imagechat.core import conversations, library
    from imagechat.db import session_scope
    from imagechat.models import GenerationJob, Message, utcnow

    conv = conversations.create(owner, title)
    stored = _stored() if image_every else None
    start = utcnow() - timedelta(days=1)
    image_ids: list[str] = []
    with session_scope() as s:
        rows = []
        for i in range(n):
            row = dict(conversation_id=conv.id, owner_id=owner, role="user" if i % 2 == 0 else "assistant",
                       content=f"message {i}", created_at=start + timedelta(seconds=i))
            if image_every and i % image_every == image_every - 1:
                job = GenerationJob(owner_id=owner, conversation_id=conv.id, engine="offline", prompt=f"picture {i}",
                                    status="succeeded", percent=100.0)
                s.add(job)
                s.flush()
                image_ids += [str(x) for x in library.add_images(
                    s, owner_id=owner, job_id=job.id, prompt=f"picture {i}", style=None, engine="offline",
                    model="e2e", conversation_id=conv.id, parent_image_id=None,
                    new_images=[library.NewImage(stored=stored, seed=i, revised_prompt=None)])]
                row.update(role="assistant", job_id=job.id)
            rows.append(row)
        s.execute(insert(Message), rows)
        ids = list(s.exec(select(Message.id).where(Message.conversation_id == conv.id)
                          .order_by(Message.created_at, Message.id)).all())
    return conv.id, ids, image_ids


def shown_ids(page: Page) -> list[int]:
    return page.evaluate("() => [...document.querySelectorAll('#message-list .chat-message')]"
                         ".map(e => parseInt(e.id.slice(4), 10))")


def test_a_long_conversation_pages_back_keeping_the_position_and_appends_turns(page: Page, console_errors):
    owner = _user_id(sign_up(page))
    conv, ids, _ = seed(owner, 130, image_every=10)
    page.goto(chat_url(conv))
    messages = page.locator("#message-list .chat-message")
    expect(messages).to_have_count(40)
    expect(page.locator(f"#msg-{ids[-1]}")).to_be_in_viewport()  # opened at its end
    assert shown_ids(page) == ids[-40:]
    # every image box has its size before the picture arrives
    assert page.evaluate("() => [...document.querySelectorAll('img.generated-image')]"
                         ".every(i => i.getBoundingClientRect().height > 100)")

    # Scrolling to the top brings the page before it in front; the message that was first stays in view.
    first = page.locator(f"#msg-{ids[-40]}")
    page.wait_for_timeout(500)  # the page script pages back only once the conversation was shown at its end
    page.evaluate("window.scrollTo(0, 0)")
    expect(messages).to_have_count(80)
    expect(first).to_be_in_viewport()
    assert page.evaluate("window.scrollY") > 1000, "the position was kept, not left at the top of the new page"
    assert shown_ids(page) == ids[-80:]

    # The button does the same (keyboard users, short pages; clicking it scrolls to the top, which may page
    # back once more by itself); the last page ends the paging.
    page.locator("#load-older").click()
    page.wait_for_function("() => document.querySelectorAll('#message-list .chat-message').length >= 120")
    if page.locator("#load-older").count():
        page.locator("#load-older").click()
    expect(messages).to_have_count(130)
    expect(page.locator("#load-older")).to_have_count(0)
    assert shown_ids(page) == ids, "every message once, in order"

    # A turn appends to what is shown; nothing is reloaded or lost.
    send(page, "thanks, that is lovely")
    expect(messages).to_have_count(132)
    expect(messages.last).to_contain_text("welcome", ignore_case=True)
    assert shown_ids(page)[:130] == ids
    page.screenshot(path=f"{SHOTS}/long-conversation-desktop.png")
    assert console_errors == []


def test_a_deep_link_opens_that_message_and_nothing_of_anyone_else(browser: Browser, base_url: str):
    ctx = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 800})
    other_ctx = browser.new_context(base_url=base_url)
    try:
        page, intruder = ctx.new_page(), other_ctx.new_page()
        owner = _user_id(sign_up(page))
        conv, ids, _ = seed(owner, 300, title="Deep chat", image_every=25)
        target = ids[100]
        page.goto(chat_url(conv, target))
        linked = page.locator(f"#msg-{target}")
        expect(linked).to_be_in_viewport()
        expect(linked).to_contain_text("message 100")
        assert shown_ids(page) == ids[96:], "history back to the message (and a little before it)"
        page.screenshot(path=f"{SHOTS}/deep-link-desktop.png")

        # A message of another conversation (or none): the conversation opens at its end, with a toast.
        page.goto(chat_url(conv, ids[0] + 10**6))
        expect(page.get_by_text("isn't in this conversation")).to_be_visible()
        expect(page.locator(f"#msg-{ids[-1]}")).to_be_in_viewport()

        # Another user's link shows them nothing of it: their own chat and a toast.
        sign_up(intruder)
        for url in (chat_url(conv), chat_url(conv, target), "/?c=abc&m=%3Cscript%3E", "/?c=99999999999"):
            intruder.goto(url)
            expect(intruder.locator("[data-sonner-toast]").first).to_contain_text(
                re.compile("doesn't exist|isn't yours|doesn't point"))
            expect(intruder.locator("#message-list")).not_to_contain_text("message 1")
            expect(intruder.locator("#conversation-list")).not_to_contain_text("Deep chat")

        # A draft set before navigating (the detail view's "Reuse settings") survives opening the link.
        page.get_by_role("textbox", name="Prompt").fill("a harbour at dawn, watercolor")
        page.wait_for_timeout(500)  # the draft reaches the server (on_change is debounced)
        page.goto(chat_url(conv))
        expect(page.get_by_role("textbox", name="Prompt")).to_have_value("a harbour at dawn, watercolor")
    finally:
        ctx.close()
        other_ctx.close()


def _favorite(image_id: str) -> bool:
    from imagechat.db import session_scope
    from imagechat.models import Image

    with session_scope() as s:
        return s.get(Image, uuid.UUID(image_id)).favorite


def _album_members(owner: int, name: str) -> list[str]:
    from sqlmodel import select

    from imagechat.db import session_scope
    from imagechat.models import Album, AlbumImage

    with session_scope() as s:
        return [str(i) for i in s.exec(select(AlbumImage.image_id).join(Album, Album.id == AlbumImage.album_id)
                                       .where(Album.owner_id == owner, Album.name == name)).all()]


@pytest.mark.parametrize("viewport", [{"width": 1280, "height": 800}, {"width": 390, "height": 844}],
                         ids=["desktop", "phone"])
def test_star_album_and_deleted_images_in_the_chat(browser: Browser, base_url: str, viewport):
    from imagechat.db import session_scope
    from imagechat.models import Image, utcnow

    ctx = browser.new_context(base_url=base_url, viewport=viewport)
    try:
        page = ctx.new_page()
        owner = _user_id(sign_up(page))
        conv, ids, images = seed(owner, 6, title="Pictures", image_every=3)
        kept, gone = images
        with session_scope() as s:
            s.get(Image, uuid.UUID(gone)).deleted_at = utcnow()
        page.goto(chat_url(conv))
        card = page.locator(f".chat-image[data-image-id='{kept}']")
        expect(card.locator("img.generated-image")).to_be_visible()
        expect(page.locator(".deleted-image")).to_have_text("This image was deleted")
        expect(page.locator(f"img.generated-image[src*='{gone}']")).to_have_count(0)
        expect(card.locator(".open-in-gallery")).to_have_attribute("href", f"/gallery?image={kept}")

        star = card.get_by_role("button", name="Add to favourites")
        star.click()
        expect(card.get_by_role("button", name="Remove from favourites")).to_have_attribute("aria-pressed", "true")
        assert _favorite(kept)
        page.reload()
        expect(card.get_by_role("button", name="Remove from favourites")).to_be_visible()
        card.get_by_role("button", name="Remove from favourites").click()
        expect(card.get_by_role("button", name="Add to favourites")).to_be_visible()
        assert not _favorite(kept)

        album = f"Trips {uuid.uuid4().hex[:4]}"
        card.locator(".album-menu-trigger").click()
        page.get_by_role("menuitem", name="New album…").click()
        page.locator("#new-album-name").fill(album)
        page.screenshot(path=f"{SHOTS}/new-album-{viewport['width']}.png")
        page.locator("#new-album-submit").click()
        expect(page.get_by_text(f"Added to the new album {album}.")).to_be_visible()
        assert _album_members(owner, album) == [kept]
        card.locator(".album-menu-trigger").click()
        page.get_by_role("menuitem", name=album).click()
        expect(page.get_by_text(f"It is already in {album}.")).to_be_visible()
        assert _album_members(owner, album) == [kept]
        page.keyboard.press("Escape")
        card.locator(".download-menu-trigger").click()
        expect(page.locator(".download-png-original")).to_be_visible()
        page.keyboard.press("Escape")
        card.scroll_into_view_if_needed()
        page.screenshot(path=f"{SHOTS}/chat-image-actions-{viewport['width']}.png")
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"horizontal overflow of {overflow}px"
    finally:
        ctx.close()
