"""Share links: only the owner's own things can be shared, a link shows only what it names (guessed ids,
tokens and other users' albums get the same 404), revocation and expiry apply at the very next request,
views are counted atomically, every user string is escaped, and the page has Open Graph tags."""

from __future__ import annotations

import io
import re
import threading
import uuid
from datetime import timedelta
from html.parser import HTMLParser

import pytest
import sqlalchemy as sa
from PIL import Image as PILImage
from starlette.applications import Starlette
from starlette.testclient import TestClient

from imagechat.api.share import routes
from imagechat.core import codec, sharing
from imagechat.core.errors import InvalidRequest, NotFound
from imagechat.db import session_scope
from imagechat.models import Album, AlbumImage, Image, ImageData, ShareLink, utcnow

BASE = "http://127.0.0.1:3000"  # one of the app's own origins (settings.app_origins): links are built on it


@pytest.fixture(scope="module")
def client(database_url):
    with TestClient(Starlette(routes=routes), base_url=BASE) as c:
        yield c


def _store(owner: int, prompt: str = "a lake at dawn", *, size=(96, 64), age_s: int = 0, style="watercolor",
           deleted: bool = False) -> str:
    """One stored image (real encoded bytes and thumbnail), `age_s` seconds old."""
    pic = PILImage.new("RGB", size, (40, 120, 200))
    buf = io.BytesIO()
    pic.save(buf, format="PNG")
    st = codec.prepare_for_storage(buf.getvalue(), fmt="webp", quality=80, thumb_px=64, max_pixels=10_000_000)
    with session_scope() as s:
        image = Image(owner_id=owner, prompt=prompt, style=style, engine="offline", width=st.width, height=st.height,
                      mime=st.mime, byte_size=st.byte_size, sha256=st.sha256,
                      created_at=utcnow() - timedelta(seconds=age_s),
                      deleted_at=utcnow() if deleted else None)
        s.add(image)
        s.flush()
        s.add(ImageData(image_id=image.id, data_b64=st.data_b64, thumb_b64=st.thumb_b64))
        return str(image.id)


def _album(owner: int, name: str, image_ids: list[str], cover: str | None = None) -> int:
    with session_scope() as s:
        album = Album(owner_id=owner, name=name, cover_image_id=uuid.UUID(cover) if cover else None)
        s.add(album)
        s.flush()
        for image_id in image_ids:
            s.add(AlbumImage(album_id=album.id, image_id=uuid.UUID(image_id)))
        return album.id


def _token(url: str) -> str:
    return url.rsplit("/", 1)[1]


def _set(link_id: int, **values) -> None:
    with session_scope() as s:
        s.execute(sa.update(ShareLink).where(ShareLink.id == link_id).values(**values))


@pytest.fixture
def two_users(make_user):
    return make_user("share"), make_user("other")


# ---------------------------------------------------------------- the owner's side


def test_create_link_for_own_image(two_users):
    owner, _ = two_users
    image_id = _store(owner, "a red boat")
    link = sharing.create_link(owner, image_id=uuid.UUID(image_id))
    assert link.kind == "image" and link.title == "a red boat" and link.image_id == image_id
    assert link.status == sharing.ACTIVE and link.views == 0 and link.expires_at is None
    assert link.url == f"/s/{link.token}" and re.fullmatch(r"[A-Za-z0-9_-]{43}", link.token)
    week = sharing.create_link(owner, image_id=image_id, expires_in_days=7)
    assert week.token != link.token
    assert timedelta(days=6, hours=23) < week.expires_at - week.created_at <= timedelta(days=7, seconds=5)


@pytest.mark.parametrize("days", [0, 2, -1, 365, "7", 7.0, True])
def test_only_the_offered_expiries(two_users, days):
    owner, _ = two_users
    with pytest.raises(InvalidRequest):
        sharing.create_link(owner, image_id=_store(owner), expires_in_days=days)


def test_cannot_share_another_users_image_or_album(two_users):
    owner, other = two_users
    theirs = _store(other, "their secret")
    their_album = _album(other, "their album", [theirs])
    with pytest.raises(NotFound):
        sharing.create_link(owner, image_id=theirs)
    with pytest.raises(NotFound):
        sharing.create_link(owner, album_id=their_album)
    with pytest.raises(NotFound):
        sharing.link_for(owner, album_id=their_album)
    with pytest.raises(NotFound):
        sharing.create_link(owner, image_id=_store(owner, deleted=True))
    for bad in ("not-a-uuid", str(uuid.uuid4()), 12, None):
        with pytest.raises((NotFound, InvalidRequest)):
            sharing.create_link(owner, image_id=bad)
    for bad in (0, -1, "1", 2**40, 1.5, True, their_album + 10_000):
        with pytest.raises(NotFound):
            sharing.create_link(owner, album_id=bad)
    with pytest.raises(InvalidRequest):
        sharing.create_link(owner, image_id=_store(owner), album_id=_album(owner, "mine", []))
    with session_scope() as s:
        assert s.execute(sa.select(sa.func.count()).select_from(ShareLink)
                         .where(ShareLink.owner_id == owner)).scalar_one() == 0


def test_link_for_reuses_the_active_link(two_users):
    owner, _ = two_users
    image_id = _store(owner)
    first = sharing.link_for(owner, image_id=image_id)
    assert sharing.link_for(owner, image_id=image_id).id == first.id
    sharing.revoke(owner, first.id)
    assert sharing.link_for(owner, image_id=image_id).id != first.id


def test_revoke_and_expiry_are_owner_only(two_users):
    owner, other = two_users
    link = sharing.create_link(owner, image_id=_store(owner))
    with pytest.raises(NotFound):
        sharing.revoke(other, link.id)
    with pytest.raises(NotFound):
        sharing.set_expiry(other, link.id, 1)
    for bad in (0, -5, "1", None, 2**40):
        with pytest.raises(NotFound):
            sharing.revoke(owner, bad)
    assert sharing.resolve(link.token).kind == "image"  # untouched by the refused calls
    assert sharing.list_links(other) == []
    with pytest.raises(NotFound):
        sharing.get_link(other, link.id)
    assert sharing.get_link(owner, link.id).token == link.token
    assert sharing.set_expiry(owner, link.id, 1).expires_at is not None
    assert sharing.set_expiry(owner, link.id, None).expires_at is None
    revoked = sharing.revoke(owner, link.id)
    assert revoked.status == sharing.REVOKED and sharing.revoke(owner, link.id).status == sharing.REVOKED
    with pytest.raises(InvalidRequest):
        sharing.set_expiry(owner, link.id, 7)


def test_list_links_active_first_with_status(two_users):
    owner, _ = two_users
    a, b, c, d = (_store(owner, f"image {n}") for n in "abcd")
    revoked = sharing.create_link(owner, image_id=a)
    sharing.revoke(owner, revoked.id)
    expired = sharing.create_link(owner, image_id=b)
    _set(expired.id, expires_at=utcnow() - timedelta(minutes=1))
    active = sharing.create_link(owner, image_id=c)
    gone = sharing.create_link(owner, image_id=d)
    with session_scope() as s:
        s.execute(sa.update(Image).where(Image.id == uuid.UUID(d)).values(deleted_at=utcnow()))
    album = sharing.create_link(owner, album_id=_album(owner, "Trips", [a, c], cover=c))
    listed = sharing.list_links(owner)
    assert [(v.id, v.status) for v in listed] == [
        (album.id, "active"), (active.id, "active"), (gone.id, "unavailable"), (expired.id, "expired"),
        (revoked.id, "revoked")]
    assert listed[0].title == "Trips" and listed[0].image_count == 2 and listed[0].image_id == c


# ---------------------------------------------------------------- the public page


def test_page_shows_image_and_counts_views(client, two_users):
    owner, _ = two_users
    image_id = _store(owner, "sunset over hills", size=(120, 80))
    link = sharing.create_link(owner, image_id=image_id)
    r = client.get(link.url)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "sunset over hills" in r.text and "Shared from imagechat" in r.text
    assert f"/s/{link.token}/images/{image_id}/full" in r.text
    assert f"/s/{link.token}/images/{image_id}/download" in r.text
    client.get(link.url)  # the same viewer again within the hour: not another view
    client.head(link.url)  # a HEAD is not a view
    after = sharing.list_links(owner)[0]
    assert after.views == 1 and after.last_viewed_at is not None
    assert sharing.first_view(link.token, "203.0.113.9") and not sharing.first_view(link.token, "203.0.113.9")
    assert sharing.first_view(link.token, "203.0.113.10")  # another viewer counts


def test_views_are_counted_atomically(two_users):
    owner, _ = two_users
    link = sharing.create_link(owner, image_id=_store(owner))
    threads = [threading.Thread(target=lambda: [sharing.resolve(link.token) for _ in range(5)]) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sharing.list_links(owner)[0].views == 40


def test_caching_headers_and_revalidation(client, two_users):
    owner, _ = two_users
    image_id = _store(owner)
    link = sharing.create_link(owner, image_id=image_id)
    r = client.get(link.url)
    assert r.headers["cache-control"] == "no-cache" and r.headers["x-robots-tag"] == "noindex"
    assert r.headers["referrer-policy"] == "no-referrer"
    again = client.get(link.url, headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    full = client.get(f"{link.url}/images/{image_id}/full")
    assert full.status_code == 200 and full.headers["content-type"] == "image/webp"
    assert full.headers["cache-control"] == "no-cache" and full.headers["etag"]
    assert client.get(f"{link.url}/images/{image_id}/full",
                      headers={"If-None-Match": full.headers["etag"]}).status_code == 304
    # After revocation even a revalidation with the right ETag gets 404, not 304.
    sharing.revoke(owner, link.id)
    assert client.get(link.url, headers={"If-None-Match": r.headers["etag"]}).status_code == 404
    assert client.get(f"{link.url}/images/{image_id}/full",
                      headers={"If-None-Match": full.headers["etag"]}).status_code == 404


def test_image_variants(client, two_users):
    owner, _ = two_users
    image_id = _store(owner, "Big Sky!", size=(1600, 900))
    link = sharing.create_link(owner, image_id=image_id)
    thumb = client.get(f"{link.url}/images/{image_id}/thumb.webp")
    assert thumb.status_code == 200 and thumb.content[8:12] == b"WEBP"
    preview = client.get(f"{link.url}/images/{image_id}/preview.jpg")
    assert preview.status_code == 200 and preview.headers["content-type"] == "image/jpeg"
    with PILImage.open(io.BytesIO(preview.content)) as pic:
        assert pic.size == (1200, 675)
    download = client.get(f"{link.url}/images/{image_id}/download")
    assert download.status_code == 200
    assert download.headers["content-disposition"] == f'attachment; filename="big-sky-{image_id[:8]}.webp"'
    for variant in ("download.png", "thumb.png", "..", "full.webp"):
        assert client.get(f"{link.url}/images/{image_id}/{variant}").status_code == 404


def test_revoked_and_expired_links_answer_404_at_once(client, two_users):
    owner, _ = two_users
    image_id = _store(owner)
    link = sharing.create_link(owner, image_id=image_id, expires_in_days=30)
    assert client.get(link.url).status_code == 200
    sharing.revoke(owner, link.id)
    assert client.get(link.url).status_code == 404
    assert client.get(f"{link.url}/images/{image_id}/full").status_code == 404
    expiring = sharing.create_link(owner, image_id=image_id, expires_in_days=1)
    assert client.get(expiring.url).status_code == 200
    _set(expiring.id, expires_at=utcnow() - timedelta(seconds=1))
    assert client.get(expiring.url).status_code == 404
    assert client.get(f"{expiring.url}/images/{image_id}/thumb.webp").status_code == 404
    views = {v.id: v.views for v in sharing.list_links(owner)}
    assert views == {link.id: 1, expiring.id: 1}  # refused requests are not views


def test_share_routes_are_rate_limited_per_address(client, two_users, private_namespace):
    private_namespace(share_limit_per_address="3/minute")
    owner, _ = two_users
    image_id = _store(owner)
    link = sharing.create_link(owner, image_id=image_id)
    paths = [link.url, f"{link.url}/images/{image_id}/thumb.webp", f"/s/{'x' * 43}"]
    assert [client.get(p).status_code for p in paths] == [200, 200, 404]  # guesses count too
    for path in paths:
        r = client.get(path)
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        assert "Too many requests for shared links" in r.text and r.headers["cache-control"] == "no-store"


def test_a_deleted_image_is_no_longer_shared(client, two_users):
    owner, _ = two_users
    image_id = _store(owner)
    link = sharing.create_link(owner, image_id=image_id)
    with session_scope() as s:
        s.execute(sa.update(Image).where(Image.id == uuid.UUID(image_id)).values(deleted_at=utcnow()))
    assert client.get(link.url).status_code == 404
    assert client.get(f"{link.url}/images/{image_id}/full").status_code == 404


def test_unknown_tokens_all_get_the_same_404(client, two_users):
    owner, _ = two_users
    link = sharing.create_link(owner, image_id=_store(owner))
    revoked = sharing.create_link(owner, image_id=_store(owner))
    sharing.revoke(owner, revoked.id)
    bodies = set()
    for token in (link.token[:-1] + ("A" if link.token[-1] != "A" else "B"), "x" * 43, "short", "a" * 65,
                  "%3Cscript%3E", revoked.token, link.token.upper() if link.token != link.token.upper() else "Z" * 43):
        r = client.get(f"/s/{token}")
        assert r.status_code == 404, token
        assert r.headers["cache-control"] == "no-store"
        bodies.add(r.text)
    assert len(bodies) == 1 and "isn't available" in bodies.pop()


def test_guessed_image_ids_under_a_token(client, two_users):
    owner, other = two_users
    shared = _store(owner, "shared one")
    mine_not_shared = _store(owner, "not shared")
    theirs = _store(other, "theirs")
    link = sharing.create_link(owner, image_id=shared)
    assert client.get(f"{link.url}/images/{shared}/full").status_code == 200
    for guess in (mine_not_shared, theirs, str(uuid.uuid4()), "not-a-uuid", shared.upper() + "0"):
        for variant in ("full", "thumb.webp", "preview.jpg", "download"):
            assert client.get(f"{link.url}/images/{guess}/{variant}").status_code == 404, (guess, variant)
    # Another user's valid token does not open this user's images either.
    their_link = sharing.create_link(other, image_id=theirs)
    assert client.get(f"{their_link.url}/images/{shared}/full").status_code == 404
    assert client.get(f"{their_link.url}/images/{theirs}/full").status_code == 200


def test_an_album_share_shows_only_that_album(client, two_users):
    owner, other = two_users
    old = _store(owner, "old lake", age_s=300)
    new = _store(owner, "new lake", age_s=10)
    outside = _store(owner, "outside the album")
    deleted = _store(owner, "deleted one", deleted=True)
    theirs = _store(other, "someone else's")
    # An album row naming another user's image (it should never happen) still never exposes it.
    album_id = _album(owner, "Lakes", [old, new, deleted, theirs])
    _album(owner, "Other album", [outside])
    link = sharing.create_link(owner, album_id=album_id)
    shared = sharing.resolve(link.token)
    assert [i.id for i in shared.images] == [new, old] and shared.total == 2 and shared.cover.id == new
    page = client.get(link.url).text
    assert page.index("new lake") < page.index("old lake")
    for hidden in ("outside the album", "deleted one", "someone else"):
        assert hidden not in page
    for image_id in (old, new):
        assert client.get(f"{link.url}/images/{image_id}/thumb.webp").status_code == 200
    for image_id in (outside, deleted, theirs):
        for variant in ("full", "thumb.webp", "download"):
            assert client.get(f"{link.url}/images/{image_id}/{variant}").status_code == 404
    # Taken out of the album: gone from the share at once.
    with session_scope() as s:
        s.execute(sa.delete(AlbumImage).where(AlbumImage.image_id == uuid.UUID(old)))
    assert client.get(f"{link.url}/images/{old}/full").status_code == 404
    assert "old lake" not in client.get(link.url).text


def test_an_emptied_album_shows_empty(client, two_users):
    owner, _ = two_users
    link = sharing.create_link(owner, album_id=_album(owner, "Nothing yet", []))
    r = client.get(link.url)
    assert r.status_code == 200 and "This album is empty" in r.text and 'property="og:image"' not in r.text


def test_album_page_is_capped(client, two_users, monkeypatch):
    owner, _ = two_users
    ids = [_store(owner, f"frame {n}", age_s=n) for n in range(5)]
    link = sharing.create_link(owner, album_id=_album(owner, "Film", ids))
    monkeypatch.setattr(sharing, "MAX_ALBUM_IMAGES", 3)
    r = client.get(link.url)
    assert "Showing the newest 3 of 5 images." in r.text and "frame 3" not in r.text and "frame 0" in r.text


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.meta: dict[str, str] = {}
        self.scripts = 0
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "meta" and (attrs.get("property") or attrs.get("name")):
            self.meta[attrs.get("property") or attrs["name"]] = attrs.get("content", "")
        self.scripts += tag == "script"
        self._in_title = tag == "title"

    def handle_data(self, data):
        if self._in_title:
            self.title += data

    def handle_endtag(self, tag):
        self._in_title = False


HOSTILE = """<script>alert("x")</script> "quoted" & 'single' <img src=x onerror=alert(1)>"""


def test_user_strings_are_escaped(client, two_users):
    owner, _ = two_users
    image_id = _store(owner, HOSTILE, style='wat"er<b>')
    link = sharing.create_link(owner, image_id=image_id)
    album = sharing.create_link(owner, album_id=_album(owner, HOSTILE[:90], [image_id]))
    for url in (link.url, album.url):
        html = client.get(url).text
        assert "<script" not in html and "<img src=x" not in html and '"quoted"' not in html
        assert "&lt;script&gt;" in html and "&quot;quoted&quot;" in html
        tags = _Tags()
        tags.feed(html)
        assert tags.scripts == 0
        assert tags.meta["og:title"].startswith('<script>alert("x")</script>')  # round-trips as plain text
        assert '<script>alert("x")</script>' in tags.title


def test_open_graph_tags_with_absolute_urls(client, two_users):
    owner, _ = two_users
    image_id = _store(owner, "a lighthouse in fog", size=(300, 200))
    link = sharing.create_link(owner, image_id=image_id)
    tags = _Tags()
    tags.feed(client.get(link.url).text)
    meta = tags.meta
    assert meta["robots"] == "noindex"
    assert meta["og:type"] == "website" and meta["og:title"] == "a lighthouse in fog"
    assert meta["og:url"] == f"{BASE}/s/{link.token}"
    assert meta["og:image"] == f"{BASE}/s/{link.token}/images/{image_id}/preview.jpg"
    assert (meta["og:image:width"], meta["og:image:height"]) == ("300", "200")
    assert "300×200" in meta["og:description"] and "Shared from imagechat" in meta["og:description"]
    assert meta["twitter:card"] == "summary_large_image" and meta["twitter:image"] == meta["og:image"]
    assert client.get(meta["og:image"]).status_code == 200


def test_a_forged_host_cannot_move_the_preview(two_users):
    owner, _ = two_users
    link = sharing.create_link(owner, image_id=_store(owner))
    with TestClient(Starlette(routes=routes), base_url="http://evil.example") as forged:
        tags = _Tags()
        tags.feed(forged.get(link.url).text)
    assert tags.meta["og:image"].startswith(sharing.trusted_origins()[0] + "/s/")
    assert sharing.public_origin("http://evil.example") == sharing.trusted_origins()[0]
    assert sharing.public_origin("http://localhost:3000") == "http://localhost:3000"


def test_the_page_says_nothing_about_the_owner(client, make_user):
    from imagechat.models import User

    owner = make_user("secretname")
    with session_scope() as s:
        username = s.get(User, owner).username
    link = sharing.create_link(owner, image_id=_store(owner, "just a tree"))
    html = client.get(link.url).text
    assert username not in html and "secretname" not in html
