"""The gallery page in Chromium (issue 8, points 1, 3 and 4): count, infinite scroll through a windowed grid
with a bounded DOM, search with highlighting, every filter in the URL (reload, back button), favourites,
tags, albums, bulk selection (shift range, select all matching), delete with undo and the ZIP download.

Images are inserted straight into the session's database for the signed-up user (real encoded WebP images
and thumbnails, a few distinct ones reused), so a test can have thousands in a second; what the tests then
do goes through the real app, websocket and image routes.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import sys
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import sign_up

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
MAX_CARDS_IN_DOM = 4 * 60  # state/gallery.py WINDOW_PAGES x gallery.PAGE_SIZE
MAX_DOM_NODES = 8000  # the whole document, whatever was scrolled through
T0 = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)


# ---------------------------------------------------------------- data


def _user_id(username: str) -> int:
    from sqlmodel import select

    from imagechat.db import session_scope
    from imagechat.models import User

    with session_scope() as s:
        return s.exec(select(User.id).where(User.username == username)).one()


_PAYLOADS: list[tuple[str, str, int]] = []


def _payloads() -> list[tuple[str, str, int]]:
    """A few real images (Base64 WebP + thumbnail, size): distinct colours so screenshots show a grid."""
    if not _PAYLOADS:
        from PIL import Image as PILImage

        from imagechat.core import codec

        for k in range(6):
            im = PILImage.new("RGB", (256, 256), (40 + 35 * k, 90 + 20 * (k % 3), 200 - 30 * k))
            for y in range(0, 256, 4):  # a little structure, so WebP has something to encode
                im.paste((255 - 30 * k, 180, 60 + 30 * k), (0, y, 256, y + 1 + (y * k) % 3))
            buf = io.BytesIO()
            im.save(buf, "WEBP", quality=80)
            data = buf.getvalue()
            _PAYLOADS.append((codec.to_b64(data), codec.to_b64(codec.thumbnail(data)), len(data)))
    return _PAYLOADS


def insert_images(owner: int, specs: list[dict]) -> list[str]:
    """One image row (+ payload) per spec; spec keys override the defaults below. Returns ids, in spec order.
    created_at falls by one minute per spec, so spec 0 is the newest."""
    import sqlalchemy as sa

    from imagechat.db import session_scope
    from imagechat.models import Image, ImageData

    payloads = _payloads()
    rows, data = [], []
    for k, spec in enumerate(specs):
        image_id = uuid.uuid4()
        b64, thumb, size = payloads[k % len(payloads)]
        row = {"id": image_id, "owner_id": owner, "prompt": f"test image number {k}", "style": "photorealistic",
               "engine": "offline", "model": "painter-1", "width": 1024, "height": 1024, "mime": "image/webp",
               "byte_size": size, "sha256": uuid.uuid4().hex, "favorite": False, "tags": [],
               "created_at": T0 - dt.timedelta(minutes=k), "index_in_job": 0, **spec}
        rows.append(row)
        data.append({"image_id": image_id, "data_b64": b64, "thumb_b64": thumb})
    with session_scope() as s:
        for start in range(0, len(rows), 1000):
            s.execute(sa.insert(Image), rows[start:start + 1000])
            s.execute(sa.insert(ImageData), data[start:start + 1000])
    return [str(r["id"]) for r in rows]


def new_user(page: Page, specs: list[dict]) -> tuple[int, list[str]]:
    owner = _user_id(sign_up(page))
    return owner, insert_images(owner, specs)


# ---------------------------------------------------------------- page helpers


def open_gallery(page: Page, query: str = "") -> None:
    page.goto("/gallery" + query)
    expect(page.locator("#gallery-count")).not_to_have_text("Loading…")


def count_is(page: Page, n: int) -> None:
    expect(page.locator("#gallery-count")).to_have_text(f"{n:,} image{'' if n == 1 else 's'}")


def card(page: Page, image_id: str):
    return page.locator(f"#img-{image_id}")


def shows(page: Page, expected: set[str]) -> None:
    """Exactly these cards (the tab's previous view may show for a moment after a navigation)."""
    count_is(page, len(expected))
    for image_id in expected:
        expect(card(page, image_id)).to_be_visible()
    expect(page.locator(".gallery-item")).to_have_count(len(expected))


def params(page: Page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


DOM_JS = "() => [document.getElementsByTagName('*').length, document.querySelectorAll('.gallery-item').length]"


def scroll_to_end(page: Page, last_id: str, max_steps: int = 400) -> tuple[int, int, int]:
    """Scroll down until the last card is in the DOM and the end note shows; (steps, max nodes, max cards)."""
    max_nodes = max_cards = 0
    for step in range(max_steps):
        nodes, cards = page.evaluate(DOM_JS)
        max_nodes, max_cards = max(max_nodes, nodes), max(max_cards, cards)
        if page.locator("#gallery-end").count() and card(page, last_id).count():
            return step, max_nodes, max_cards
        page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
        page.wait_for_timeout(60)
    raise AssertionError(f"the last card never appeared after {max_steps} scrolls")


# ---------------------------------------------------------------- tests


def test_count_and_infinite_scroll_through_2100_images_keeps_the_dom_small(page: Page, console_errors):
    page.set_viewport_size(DESKTOP)
    n = 2100
    _, ids = new_user(page, [{} for _ in range(n)])
    open_gallery(page)
    count_is(page, n)
    expect(card(page, ids[0])).to_be_visible()  # newest first
    first_nodes, _ = page.evaluate(DOM_JS)
    # Thumbnails only, lazy, with their size known before they load.
    img = card(page, ids[0]).locator("img")
    assert img.get_attribute("src").endswith(f"/api/images/{ids[0]}/thumb.webp")
    assert img.get_attribute("loading") == "lazy" and img.get_attribute("decoding") == "async"
    assert img.get_attribute("width") == "1024" and img.get_attribute("height") == "1024"

    steps, max_nodes, max_cards = scroll_to_end(page, ids[-1])
    print(f"\n[gallery] scrolled through {n} images in {steps} scroll steps: DOM nodes at the top {first_nodes}, "
          f"at most {max_nodes} while scrolling; at most {max_cards} cards in the DOM", file=sys.stderr)
    assert max_cards <= MAX_CARDS_IN_DOM
    assert max_nodes <= MAX_DOM_NODES
    assert card(page, ids[0]).count() == 0  # the first pages were dropped ...
    spacer = page.evaluate("() => document.querySelector('.gallery-spacer').getBoundingClientRect().height")
    assert spacer > 10_000  # ... and stand in as a spacer, so the scrollbar did not jump

    for _ in range(400):  # and back up: the dropped pages come back
        if card(page, ids[0]).count():
            break
        page.evaluate("window.scrollTo(0, 0)")
        page.wait_for_timeout(60)
    expect(card(page, ids[0])).to_be_visible()
    assert page.evaluate(DOM_JS)[1] <= MAX_CARDS_IN_DOM
    shown = page.evaluate("() => [...document.querySelectorAll('.gallery-item')].map(c => c.id.slice(4))")
    assert shown == ids[:len(shown)]  # the restored pages are the same cards in the same order, none twice
    assert console_errors == []


SEARCH_SPECS = [
    {"prompt": "a red fox in the snow", "style": "watercolor", "tags": ["animals"]},
    {"prompt": "a lighthouse on the sea in a storm", "style": "photorealistic", "width": 1792},
    {"prompt": "sunset over mountains with a lake reflection", "style": "watercolor", "favorite": True},
    {"prompt": "a city skyline at night", "style": "neon", "engine": "openai", "model": "gpt-image-2",
     "height": 1792},
    {"prompt": "a lakeside cabin in the forest", "style": "cartoon", "created_at": T0 - dt.timedelta(days=40)},
]


def test_search_highlights_and_every_filter_lives_in_the_url(page: Page, console_errors):
    page.set_viewport_size(DESKTOP)
    owner, ids = new_user(page, SEARCH_SPECS)
    _make_child(owner, parent=ids[2], child=ids[4])  # the cabin is an edit of the sunset: "has edits"
    open_gallery(page)
    count_is(page, 5)

    # Prefix search while typing (debounced): "lak" finds "lake" and "lakeside", marked in the card text.
    page.get_by_role("textbox", name="Search images").press_sequentially("lak", delay=40)
    count_is(page, 2)
    expect(page).to_have_url(re.compile(r"[?&]q=lak"))
    expect(card(page, ids[2]).locator("mark")).to_have_text("lake")
    expect(card(page, ids[4]).locator("mark")).to_have_text("lakeside")
    page.reload()
    count_is(page, 2)
    expect(page.get_by_role("textbox", name="Search images")).to_have_value("lak")
    page.go_back()  # before the search
    count_is(page, 5)
    expect(page.get_by_role("textbox", name="Search images")).to_have_value("")
    # Markup in the search text is text, never HTML
    open_gallery(page, "?q=%3Cimg%3Efox")
    count_is(page, 0)  # every word must match, and no prompt has "img"
    open_gallery(page, "?q=%3Cfox%3E")
    count_is(page, 1)
    expect(page.get_by_role("textbox", name="Search images")).to_have_value("<fox>")
    expect(card(page, ids[0]).locator("mark")).to_have_text("fox")
    expect(card(page, ids[0]).locator(".gallery-prompt")).to_have_text("a red fox in the snow")

    album = _album_with(owner, "Trips", [ids[1], ids[3]])
    day = (T0 - dt.timedelta(days=30)).date().isoformat()
    cases = [
        ("style=watercolor", {ids[0], ids[2]}),
        ("engine=openai", {ids[3]}),
        ("model=gpt-image-2", {ids[3]}),
        ("aspect=wide", {ids[1]}),
        ("aspect=tall", {ids[3]}),
        ("size=1792x1024", {ids[1]}),
        (f"from={day}", set(ids[:4])),
        (f"to={day}", {ids[4]}),
        ("fav=1", {ids[2]}),
        (f"album={album}", {ids[1], ids[3]}),
        ("tag=animals", {ids[0]}),
        ("edits=1", {ids[2]}),
        ("style=not%20a%20style%3Cscript%3E&album=x1", set(ids)),  # invalid values are dropped, never an error
        ("sort=oldest", set(ids)),
    ]
    for query, expected in cases:
        open_gallery(page, "?" + query)
        shows(page, expected)
        page.reload()
        shows(page, expected)
    expect(page.locator(".gallery-item").first).to_have_id(f"img-{ids[4]}")  # sort=oldest: the cabin first
    expect(page.locator("#filter-sort")).to_have_value("oldest")

    # The controls write the URL; the back button walks back through the views.
    open_gallery(page)
    page.locator("#filter-style").select_option("watercolor")
    count_is(page, 2)
    assert params(page)["style"] == ["watercolor"]
    page.locator("#filter-fav").click()
    count_is(page, 1)
    assert params(page)["fav"] == ["1"]
    page.locator("#filter-album").select_option(str(album))
    count_is(page, 0)
    expect(page.locator("#gallery-empty")).to_contain_text("No image matches")
    page.go_back()
    count_is(page, 1)
    expect(page.locator("#filter-fav")).to_have_attribute("aria-pressed", "true")
    page.go_back()
    count_is(page, 2)
    expect(page.locator("#filter-fav")).to_have_attribute("aria-pressed", "false")
    expect(page.locator("#filter-style")).to_have_value("watercolor")
    page.go_forward()
    count_is(page, 1)
    page.locator("#filter-clear").click()
    count_is(page, 5)
    assert params(page) == {}
    assert console_errors == []


def _make_child(owner: int, parent: str, child: str) -> None:
    import sqlalchemy as sa

    from imagechat.db import session_scope
    from imagechat.models import Image

    with session_scope() as s:
        s.execute(sa.update(Image).where(Image.id == uuid.UUID(child), Image.owner_id == owner)
                  .values(parent_image_id=uuid.UUID(parent)))


def _album_with(owner: int, name: str, ids: list[str]) -> int:
    from imagechat.core import organise

    album = organise.create_album(owner, name)
    organise.add_to_album(owner, album.id, [uuid.UUID(i) for i in ids])
    return album.id


def test_star_tags_and_albums(page: Page, console_errors):
    page.set_viewport_size(DESKTOP)
    _, ids = new_user(page, SEARCH_SPECS[:3])
    open_gallery(page)
    count_is(page, 3)

    # Star on the card; it survives a reload and the favourites filter finds it.
    star = card(page, ids[1]).locator(".gallery-star")
    expect(star).to_have_attribute("aria-pressed", "false")
    star.click()
    expect(star).to_have_attribute("aria-pressed", "true")
    page.reload()
    expect(card(page, ids[1]).locator(".gallery-star")).to_have_attribute("aria-pressed", "true")
    open_gallery(page, "?fav=1")
    count_is(page, 2)
    open_gallery(page)

    # Tags: add two, remove one; the next image's editor suggests the user's tags as they type.
    card(page, ids[0]).get_by_role("button", name="More actions").click()
    page.get_by_role("menuitem", name="Tags…").click()
    dialog = page.get_by_role("dialog")
    for tag in ("Seaside", "winter"):
        dialog.get_by_role("textbox", name="New tag").fill(tag)
        dialog.get_by_role("button", name="Add", exact=True).click()
        expect(dialog.locator("#tag-current")).to_contain_text(tag.lower())
    expect(card(page, ids[0]).locator(".gallery-tags")).to_contain_text("seaside")
    dialog.get_by_role("button", name="Remove tag winter").click()
    expect(dialog.locator("#tag-current")).not_to_contain_text("winter")
    dialog.get_by_role("button", name="Done").click()
    expect(card(page, ids[0]).locator(".gallery-tags")).not_to_contain_text("winter")
    card(page, ids[2]).get_by_role("button", name="More actions").click()
    page.get_by_role("menuitem", name="Tags…").click()
    page.get_by_role("dialog").get_by_role("textbox", name="New tag").press_sequentially("sea", delay=30)
    page.get_by_role("dialog").get_by_role("button", name="+ seaside").click()
    expect(page.get_by_role("dialog").locator("#tag-current")).to_contain_text("seaside")
    page.keyboard.press("Escape")
    page.reload()
    expect(card(page, ids[2]).locator(".gallery-tags")).to_contain_text("seaside")
    open_gallery(page, "?tag=seaside")
    count_is(page, 2)
    open_gallery(page)

    # Albums: create in the panel, add from a card's menu, click the album to filter, rename, delete.
    page.get_by_role("textbox", name="New album name").first.fill("Coast")
    page.locator("#album-create-submit").click()
    albums = page.locator("#gallery-albums")
    expect(albums).to_contain_text("Coast")
    card(page, ids[1]).get_by_role("button", name="More actions").click()
    page.get_by_role("menuitem", name="Add to album…").click()
    page.get_by_role("dialog").get_by_role("button", name="Coast").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    albums.get_by_role("button", name=re.compile("Coast")).first.click()
    count_is(page, 1)
    assert "album" in params(page)
    expect(card(page, ids[1])).to_be_visible()
    albums.get_by_role("button", name="Album options: Coast").click()
    page.get_by_role("menuitem", name="Rename").click()
    albums.get_by_role("textbox", name="Album name", exact=True).fill("Coastline")
    albums.get_by_role("button", name="Save").click()
    expect(albums).to_contain_text("Coastline")
    page.reload()
    count_is(page, 1)  # the album filter survives the reload
    expect(page.locator("#filter-album")).to_have_value(params(page)["album"][0])
    albums.get_by_role("button", name="Album options: Coastline").click()
    page.get_by_role("menuitem", name="Delete album").click()
    count_is(page, 3)  # the filter went with the album; its images stay
    expect(albums).not_to_contain_text("Coastline")
    assert console_errors == []


def test_bulk_selection_delete_undo_and_zip(page: Page, console_errors):
    page.set_viewport_size(DESKTOP)
    n = 130
    _, ids = new_user(page, [{"prompt": f"bulk image {k}"} for k in range(n)])
    open_gallery(page)
    count_is(page, n)

    # Click one, shift-click another: the range between them is selected.
    card(page, ids[1]).locator(".gallery-check").click()
    card(page, ids[5]).locator(".gallery-check").click(modifiers=["Shift"])
    expect(page.locator("#selection-count")).to_have_text("5 selected")
    for k in range(1, 6):
        expect(card(page, ids[k]).locator(".gallery-check")).to_be_checked()
    expect(card(page, ids[0]).locator(".gallery-check")).not_to_be_checked()
    card(page, ids[3]).locator(".gallery-check").click()  # a plain click takes one out
    expect(page.locator("#selection-count")).to_have_text("4 selected")

    # Star the selection.
    page.locator("#bulk-star").click()
    expect(card(page, ids[5]).locator(".gallery-star")).to_have_attribute("aria-pressed", "true")
    expect(card(page, ids[3]).locator(".gallery-star")).to_have_attribute("aria-pressed", "false")

    # The ZIP download starts.
    with page.expect_download() as download:
        page.locator("#bulk-download").click()
    assert download.value.suggested_filename.endswith(".zip")

    # Delete with undo.
    page.locator("#bulk-delete").click()
    count_is(page, n - 4)
    expect(card(page, ids[5])).to_have_count(0)
    expect(page.locator("#selection-count")).to_have_count(0)
    page.get_by_role("button", name="Undo").click()
    count_is(page, n)
    expect(card(page, ids[5])).to_be_visible()
    page.reload()
    count_is(page, n)

    # "Select all N matching" takes images that are not loaded yet; one can be taken out again.
    page.locator("#select-all-matching").click()
    expect(page.locator("#selection-count")).to_have_text(f"{n} selected")
    card(page, ids[0]).locator(".gallery-check").click()
    expect(page.locator("#selection-count")).to_have_text(f"{n - 1} selected")
    page.locator("#bulk-tag").click()
    page.get_by_role("dialog").get_by_role("textbox", name="New tag").fill("batch")
    page.get_by_role("dialog").get_by_role("button", name="Add", exact=True).click()
    page.get_by_role("dialog").get_by_role("button", name="Done").click()
    open_gallery(page, "?tag=batch")
    count_is(page, n - 1)  # every image but the one taken out, loaded or not
    assert console_errors == []


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_gallery_screenshots(page: Page, viewport: str, screenshots_dir, console_errors):
    page.set_viewport_size(DESKTOP if viewport == "desktop" else PHONE)
    owner, ids = new_user(page, [*SEARCH_SPECS, *[{"prompt": f"a quiet lake at dawn, study {k}", "style": s}
                                                   for k, s in enumerate(["watercolor", "cartoon", "neon"] * 6)]])
    _album_with(owner, "Favourite places", ids[:4])
    open_gallery(page, "?q=lake")
    expect(page.locator(".gallery-item mark").first).to_be_visible()
    card(page, ids[2]).locator(".gallery-check").click()
    page.wait_for_function("() => [...document.querySelectorAll('.gallery-item img')].slice(0, 4)"
                           ".every(i => i.complete && i.naturalWidth > 0)")
    shots = [screenshots_dir / f"gallery-{viewport}.png"]
    page.screenshot(path=shots[0])
    if viewport == "phone":
        page.locator("#gallery-filters-button").click()
        expect(page.locator("#gallery-filters")).to_be_visible()
        shots.append(screenshots_dir / "gallery-filters-phone.png")
        page.screenshot(path=shots[1])
        assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    print(f"\n[gallery] screenshots: {', '.join(map(str, shots))}", file=sys.stderr)
    assert console_errors == []


def test_a_card_opens_the_detail_view_and_closing_keeps_the_grid(page: Page, console_errors):
    page.set_viewport_size(DESKTOP)
    _, ids = new_user(page, [{"prompt": f"detail image {k}"} for k in range(100)])
    open_gallery(page, "?sort=oldest")
    page.evaluate("window.scrollTo(0, 3000)")
    target = page.locator(".gallery-item").nth(20)
    image_id = target.get_attribute("id")[4:]
    target.locator(".gallery-open").click()
    expect(page.locator("#detail-prompt")).to_have_text(re.compile(r"detail image \d+"))
    assert params(page)["image"] == [image_id] and params(page)["sort"] == ["oldest"]
    page.keyboard.press("Escape")
    expect(page.locator("#detail-prompt")).to_have_count(0)
    assert "image" not in params(page) and params(page)["sort"] == ["oldest"]
    expect(card(page, image_id)).to_be_in_viewport()  # the grid and its scroll position stayed
    assert console_errors == []


def test_the_first_screen_does_not_wait_for_the_websocket(page: Page):
    """A full load of /gallery fetches its first page as JSON (head script + api/gallery.py) and draws those cards
    as an inert layer over the grid before React and the state are there: with the websocket held back they
    still show, in the query's order, with the search highlighted; once the socket is let through, the state's
    live cards replace the layer."""
    page.set_viewport_size(DESKTOP)
    _, ids = new_user(page, [{"prompt": f"harbour at dawn {k}" if k % 2 else f"meadow {k}"} for k in range(60)])
    harbour = [i for k, i in enumerate(ids) if k % 2]
    held = []
    page.route_web_socket(re.compile(r"/_event"), lambda ws: held.append(ws))  # never connected to the server
    page.goto("/gallery?q=harb")
    layer = page.locator("#gallery-early")
    first = layer.locator(".gallery-item").first
    expect(first.locator("img")).not_to_have_js_property("naturalWidth", 0)  # its thumbnail is painted
    shown = page.evaluate("() => [...document.querySelectorAll('#gallery-early .gallery-item')].map(c => c.dataset.id)")
    assert shown == harbour[:24]  # gallery_view.FIRST_PAGE, newest first, only the search's matches
    expect(first.locator("mark")).to_have_text("harbour")
    assert layer.get_attribute("aria-hidden") == "true"
    assert page.evaluate("() => getComputedStyle(document.getElementById('gallery-early')).pointerEvents") == "none"
    grid, over = (page.locator(sel).bounding_box() for sel in ("#gallery-window .gallery-grid", "#gallery-early"))
    assert (round(over["x"]), round(over["y"]), round(over["width"])) == \
        (round(grid["x"]), round(grid["y"]), round(grid["width"]))  # exactly where the cards will be
    expect(page.locator("#gallery-count")).to_have_text("Loading…")
    assert held  # the page did try its websocket: it was the JSON that drew the cards

    page.route_web_socket(re.compile(r"/_event"), lambda ws: ws.connect_to_server())  # the newer route wins
    page.reload()
    count_is(page, 30)
    expect(page.locator("#gallery-early")).to_have_count(0)
    expect(card(page, harbour[0]).locator(".gallery-open")).to_be_enabled()
    expect(page.locator(".gallery-item")).to_have_count(24)
