"""core.organise on the real PostgreSQL: favourites, tags, albums (with the search document kept in step),
delete with undo and purge. Every function is also called by a second user with the first user's ids: it
gets nothing and changes nothing."""

from __future__ import annotations

import threading
import uuid

import pytest
import sqlalchemy as sa
from sqlmodel import select

from imagechat.core import gallery, library, organise
from imagechat.core.errors import InvalidRequest, NotFound
from imagechat.core.gallery import GalleryQuery
from imagechat.db import session_scope
from imagechat.models import Album, AlbumImage, Image, ImageData, ShareLink
from tests import hostile
from tests.integration.test_gallery_query import add, found


def _row(image_id: uuid.UUID) -> Image | None:
    with session_scope() as s:
        return s.get(Image, image_id)


def _snapshot(owner: int) -> tuple:
    """Everything organise can change for one user."""
    with session_scope() as s:
        images = sorted((str(i.id), i.favorite, tuple(i.tags), i.album_names, i.deleted_at is None)
                        for i in s.exec(select(Image).where(Image.owner_id == owner)))
        albums = sorted((a.id, a.name, str(a.cover_image_id))
                        for a in s.exec(select(Album).where(Album.owner_id == owner)))
        members = sorted((m.album_id, str(m.image_id)) for m in s.exec(
            select(AlbumImage).join(Album, Album.id == AlbumImage.album_id).where(Album.owner_id == owner)))
    return images, albums, members


@pytest.fixture
def two_users(make_user):
    """User A with two images in an album; user B with one image and an album."""
    a, b = make_user(), make_user()
    a_images = [add(a, "a's lighthouse", tags=("coast",)), add(a, "a's harbour")]
    a_album = organise.create_album(a, "A's album")
    organise.add_to_album(a, a_album.id, a_images)
    b_image = add(b, "b's boat")
    b_album = organise.create_album(b, "B's album")
    return a, b, a_images, a_album.id, b_image, b_album.id


# ---------------------------------------------------------------- other users' ids

def test_other_users_ids_get_nothing_and_change_nothing(two_users):
    a, b, a_images, a_album, b_image, b_album = two_users
    before = _snapshot(a)
    mixed = [*a_images, b_image]
    assert organise.set_favorite(b, mixed, True) == 1
    assert organise.add_tags(b, mixed, ["mine"]) == 1
    assert organise.remove_tags(b, a_images, ["coast"]) == 0
    assert organise.add_to_album(b, b_album, mixed) == 1
    assert organise.remove_from_album(b, b_album, a_images) == 0
    assert organise.delete_images(b, a_images) == 0
    assert organise.restore_images(b, a_images) == 0
    assert organise.tag_suggestions(b, "") == ["mine"]
    single = [lambda: organise.rename_album(b, a_album, "stolen"), lambda: organise.delete_album(b, a_album),
              lambda: organise.add_to_album(b, a_album, [b_image]),
              lambda: organise.remove_from_album(b, a_album, a_images),
              lambda: organise.set_cover(b, a_album, a_images[0]), lambda: organise.set_cover(b, b_album, a_images[0]),
              lambda: organise.set_cover(b, a_album, None)]
    for call in single:
        with pytest.raises(NotFound):
            call()
    assert [v.name for v in organise.list_albums(b)] == ["B's album"]
    assert _snapshot(a) == before
    with session_scope() as s:  # b's album holds only b's image
        assert s.exec(select(AlbumImage.image_id).where(AlbumImage.album_id == b_album)).all() == [b_image]


def test_hostile_ids_are_ignored_or_not_found(two_users):
    a, b, a_images, a_album, b_image, b_album = two_users
    before = _snapshot(a)
    for bad in hostile.IDS:
        with pytest.raises(NotFound):
            organise.delete_album(a, bad)
        with pytest.raises(NotFound):
            organise.add_to_album(a, bad, a_images)
        with pytest.raises(NotFound):
            organise.set_cover(a, a_album, bad) if bad is not None else organise.set_cover(a, bad, None)
        as_list = [bad] if not isinstance(bad, list) else bad
        assert organise.set_favorite(a, as_list, True) == 0
        assert organise.delete_images(a, as_list) == 0
    for not_a_list in (None, 5, "abc", str(a_images[0]), b"x", {"id": 1}):
        with pytest.raises(InvalidRequest):
            organise.set_favorite(a, not_a_list, True)
    assert _snapshot(a) == before
    assert organise.set_favorite(a, [str(a_images[0])], True) == 1  # an id as text is still an id


def test_selections_are_capped(make_user):
    owner = make_user()
    image = add(owner, "a boat")
    too_many = [uuid.uuid4() for _ in range(organise.MAX_SELECTION)] + [image]
    for call in (lambda: organise.set_favorite(owner, too_many, True), lambda: organise.delete_images(owner, too_many),
                 lambda: organise.add_tags(owner, too_many, ["x"])):
        with pytest.raises(InvalidRequest) as err:
            call()
        assert "10,000" in err.value.user_message
    assert organise.set_favorite(owner, too_many[-organise.MAX_SELECTION:], True) == 1


# ---------------------------------------------------------------- favourites and tags

def test_favourites(make_user):
    owner = make_user()
    x, y = add(owner, "x"), add(owner, "y")
    assert organise.set_favorite(owner, [x, y, x], True) == 2
    assert organise.set_favorite(owner, [x, y], True) == 0  # already starred
    assert organise.set_favorite(owner, [x], False) == 1
    assert (_row(x).favorite, _row(y).favorite) == (False, True)
    for not_a_bool in ("yes", 1, None, "false"):
        with pytest.raises(InvalidRequest):
            organise.set_favorite(owner, [y], not_a_bool)
    assert found(owner, favorites=True) == {y}


def test_clean_tag():
    assert organise.clean_tag("  Summer   Trip ") == "summer trip"
    assert organise.clean_tag("#Beach") == "beach"
    assert organise.clean_tag("x" * 40) == "x" * 40
    for bad in ("", "  ", "#", "\x00", "x" * 41, None, 5, ["a"]):
        with pytest.raises(InvalidRequest) as err:
            organise.clean_tag(bad)
        assert err.value.user_message
    for text in hostile.TEXT + hostile.TITLES:
        try:
            tag = organise.clean_tag(text)
        except InvalidRequest:
            continue
        assert tag == tag.lower().strip() and 0 < len(tag) <= 40 and "\x00" not in tag and "\n" not in tag


def test_tags_are_added_once_removed_and_searchable(make_user):
    owner = make_user()
    x, y = add(owner, "a harbour"), add(owner, "a field")
    assert organise.add_tags(owner, [x, y], ["Summer", "beach", "summer"]) == 2
    assert organise.add_tags(owner, [x, y], ["beach"]) == 0
    assert _row(x).tags == ["beach", "summer"]
    assert found(owner, text="beach") == {x, y}
    assert found(owner, tag="summer") == {x, y}
    assert organise.remove_tags(owner, [x], ["SUMMER", "nothere"]) == 1
    assert organise.remove_tags(owner, [x], ["summer"]) == 0
    assert (_row(x).tags, _row(y).tags) == (["beach"], ["beach", "summer"])
    assert found(owner, tag="summer") == {y}
    for bad in ([], ["x"] * 21, "beach", None, [""], ["x" * 41], [5]):
        with pytest.raises(InvalidRequest):
            organise.add_tags(owner, [x], bad)
    assert _row(x).tags == ["beach"]


def test_an_image_has_at_most_50_tags_and_nothing_is_half_written(make_user):
    owner = make_user()
    x, y = add(owner, "x"), add(owner, "y", tags=tuple(f"t{i:02}" for i in range(45)))
    with pytest.raises(InvalidRequest) as err:
        organise.add_tags(owner, [x, y], [f"n{i}" for i in range(6)])
    assert "50" in err.value.user_message
    assert (_row(x).tags, len(_row(y).tags)) == ([], 45)
    assert organise.add_tags(owner, [x, y], [f"n{i}" for i in range(5)]) == 2


def test_tag_suggestions_most_used_first_with_a_literal_prefix(make_user):
    owner, other = make_user(), make_user()
    add(owner, "1", tags=("sunset", "sea"))
    add(owner, "2", tags=("sunset", "snow"))
    add(owner, "3", tags=("sunset", "100%", "a_b"))
    gone = add(owner, "4", tags=("secret",))
    organise.delete_images(owner, [gone])
    add(other, "5", tags=("sushi",))
    assert organise.tag_suggestions(owner, "s") == ["sunset", "sea", "snow"]
    assert organise.tag_suggestions(owner, "S", limit=1) == ["sunset"]
    assert organise.tag_suggestions(owner, "") == ["sunset", "100%", "a_b", "sea", "snow"]
    assert organise.tag_suggestions(owner, "%") == []  # LIKE wildcards are plain characters
    assert organise.tag_suggestions(owner, "_") == []
    assert organise.tag_suggestions(owner, "100%") == ["100%"]
    assert organise.tag_suggestions(owner, "a_") == ["a_b"]
    for bad in hostile.SEARCHES + [None, 5]:
        assert set(organise.tag_suggestions(owner, bad)) <= {"sunset", "sea", "snow", "100%", "a_b"}


# ---------------------------------------------------------------- albums

def test_albums_create_rename_delete_with_clear_messages(make_user):
    owner, other = make_user(), make_user()
    trips = organise.create_album(owner, "  Summer   Trips ")
    assert (trips.name, trips.count, trips.cover_image_id) == ("Summer Trips", 0, None)
    organise.create_album(other, "Summer Trips")  # names are per user
    for taken in ("summer trips", "SUMMER TRIPS"):
        with pytest.raises(InvalidRequest) as err:
            organise.create_album(owner, taken)
        assert "already have an album" in err.value.user_message
    work = organise.create_album(owner, "Work")
    with pytest.raises(InvalidRequest):
        organise.rename_album(owner, work.id, "summer TRIPS")
    assert organise.rename_album(owner, work.id, "work").name == "work"  # a case change of its own name
    for bad in ("", " ", "\x00", "x" * 101, None, 5, ["a"]):
        with pytest.raises(InvalidRequest) as err:
            organise.create_album(owner, bad)
        assert err.value.user_message
    for title in hostile.TITLES:
        try:
            view = organise.create_album(owner, title)
        except InvalidRequest:
            continue
        assert 0 < len(view.name) <= 100 and "\x00" not in view.name
        organise.delete_album(owner, view.id)
    assert [a.name for a in organise.list_albums(owner)] == ["Summer Trips", "work"]
    organise.delete_album(owner, work.id)
    with pytest.raises(NotFound):
        organise.delete_album(owner, work.id)
    assert [a.id for a in organise.list_albums(owner)] == [trips.id]


def test_album_membership_keeps_the_search_document_in_step(make_user):
    owner = make_user()
    x, y = add(owner, "a yellow tram"), add(owner, "a blue boat")
    lisbon = organise.create_album(owner, "Lisbon")
    porto = organise.create_album(owner, "Porto")
    assert organise.add_to_album(owner, lisbon.id, [x, y]) == 2
    assert organise.add_to_album(owner, lisbon.id, [x]) == 0
    assert organise.add_to_album(owner, porto.id, [x]) == 1
    assert _row(x).album_names == "Lisbon Porto" and _row(y).album_names == "Lisbon"
    assert found(owner, text="porto") == {x} and found(owner, text="lisbon") == {x, y}
    organise.rename_album(owner, porto.id, "Oporto Nights")
    assert found(owner, text="porto") == set() and found(owner, text="oporto night") == {x}
    assert organise.remove_from_album(owner, lisbon.id, [x]) == 1
    assert organise.remove_from_album(owner, lisbon.id, [x]) == 0
    assert found(owner, text="lisbon") == {y}
    organise.delete_album(owner, porto.id)
    assert found(owner, text="oporto") == set()
    assert (_row(x).album_names, _row(y).album_names) == ("", "Lisbon")
    assert (_row(x).deleted_at, _row(y).deleted_at) == (None, None)  # deleting an album keeps its images


def test_album_renames_reach_images_in_their_undo_window(make_user):
    owner = make_user()
    x = add(owner, "a paper boat")
    album = organise.create_album(owner, "Origami")
    organise.add_to_album(owner, album.id, [x])
    organise.delete_images(owner, [x])
    organise.rename_album(owner, album.id, "Paper Craft")
    organise.restore_images(owner, [x])
    assert found(owner, text="origami") == set() and found(owner, text="craft") == {x}
    organise.delete_images(owner, [x])
    organise.delete_album(owner, album.id)
    organise.restore_images(owner, [x])
    assert found(owner, text="craft") == set() and _row(x).album_names == ""


def test_concurrent_album_changes_keep_every_album_name(make_user):
    """Each thread adds the same images to its own album at the same moment: both names end up searchable."""
    owner = make_user()
    images = [add(owner, f"image {i}") for i in range(20)]
    albums = [organise.create_album(owner, f"Album {i}") for i in range(4)]
    start = threading.Barrier(len(albums))
    errors = []

    def work(album_id: int) -> None:
        try:
            start.wait()
            organise.add_to_album(owner, album_id, images)
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(a.id,)) for a in albums]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for image in images:
        assert _row(image).album_names == " ".join(a.name for a in albums)


def test_album_counts_and_covers(make_user):
    owner = make_user()
    old, new = add(owner, "old"), add(owner, "new")
    outside = add(owner, "outside")
    album = organise.create_album(owner, "Covers")
    organise.add_to_album(owner, album.id, [old, new])
    (view,) = organise.list_albums(owner)
    assert (view.count, view.cover_image_id) == (2, str(new))  # the newest, until one is chosen
    organise.set_cover(owner, album.id, old)
    assert organise.list_albums(owner)[0].cover_image_id == str(old)
    with pytest.raises(NotFound) as err:
        organise.set_cover(owner, album.id, outside)
    assert "isn't in this album" in err.value.user_message
    organise.delete_images(owner, [old])  # a deleted cover falls back to the newest visible image
    assert (organise.list_albums(owner)[0].count, organise.list_albums(owner)[0].cover_image_id) == (1, str(new))
    organise.restore_images(owner, [old])
    assert organise.list_albums(owner)[0].cover_image_id == str(old)
    organise.remove_from_album(owner, album.id, [old])  # a cover that left the album is not shown
    assert organise.list_albums(owner)[0].cover_image_id == str(new)
    organise.set_cover(owner, album.id, None)
    with session_scope() as s:
        assert s.get(Album, album.id).cover_image_id is None


# ---------------------------------------------------------------- delete, undo, purge

def _age_deletion(image_ids: list[uuid.UUID], seconds: float) -> None:
    with session_scope() as s:
        s.execute(sa.update(Image).where(Image.id.in_(image_ids))
                  .values(deleted_at=sa.func.now() - sa.func.make_interval(0, 0, 0, 0, 0, 0, seconds)))


def test_deleted_images_are_hidden_everywhere_and_restorable_in_the_window(make_user):
    owner = make_user()
    x, y = add(owner, "a red kite", tags=("sky",)), add(owner, "a green kite")
    album = organise.create_album(owner, "Kites")
    organise.add_to_album(owner, album.id, [x, y])
    assert organise.delete_images(owner, [x, uuid.uuid4()]) == 1
    assert organise.delete_images(owner, [x]) == 0  # already deleted
    assert found(owner, text="kite") == {y}
    assert gallery.count(owner, GalleryQuery(album_id=album.id)) == 1
    for call in (lambda: library.get_image(owner, x), lambda: library.image_bytes(owner, x),
                 lambda: library.image_bytes(owner, x, thumb=True), lambda: library.export(owner, x, "png"),
                 lambda: gallery.detail(owner, x)):
        with pytest.raises(NotFound):
            call()
    assert str(x) not in {c.id for c in gallery.page(owner, GalleryQuery()).cards}
    assert organise.set_favorite(owner, [x], True) == 0 and organise.add_tags(owner, [x], ["t"]) == 0
    assert organise.add_to_album(owner, album.id, [x]) == 0
    assert organise.restore_images(owner, [x]) == 1
    assert organise.restore_images(owner, [x]) == 0
    assert found(owner, text="kite") == {x, y} and _row(x).tags == ["sky"]
    assert gallery.count(owner, GalleryQuery(album_id=album.id)) == 2  # back in its album


def test_restore_after_the_undo_window_fails(make_user, monkeypatch):
    from imagechat.settings import get_settings

    owner = make_user()
    x = add(owner, "a lantern")
    organise.delete_images(owner, [x])
    window = get_settings().delete_undo_seconds
    _age_deletion([x], window - 5)
    assert organise.restore_images(owner, [x]) == 1
    organise.delete_images(owner, [x])
    _age_deletion([x], window + 1)
    assert organise.restore_images(owner, [x]) == 0
    assert _row(x).deleted_at is not None


def test_purge_removes_old_deletions_for_good(make_user):
    owner = make_user()
    parent, child, recent, kept = (add(owner, "parent"), None, add(owner, "recent"), add(owner, "kept"))
    child = add(owner, "child", parent=parent)
    album = organise.create_album(owner, "Album")
    organise.add_to_album(owner, album.id, [parent, kept])
    organise.set_cover(owner, album.id, parent)
    with session_scope() as s:
        s.add(ShareLink(owner_id=owner, token=uuid.uuid4().hex, image_id=parent))
    organise.delete_images(owner, [parent, recent])
    _age_deletion([parent], 120)
    _age_deletion([recent], 10)
    assert organise.purge_deleted(60) >= 1
    assert _row(parent) is None and _row(recent) is not None and _row(kept) is not None
    with session_scope() as s:
        assert s.get(ImageData, parent) is None and s.get(ImageData, kept) is not None
        assert s.exec(select(AlbumImage).where(AlbumImage.image_id == parent)).all() == []
        assert s.exec(select(ShareLink).where(ShareLink.image_id == parent)).all() == []
        assert s.get(Album, album.id).cover_image_id is None
    assert _row(child).parent_image_id is None and gallery.detail(owner, child).ancestors == []
    assert organise.restore_images(owner, [parent]) == 0
    assert organise.restore_images(owner, [recent]) == 1


def test_purge_if_due_waits_for_the_undo_window_and_runs_once_a_minute(make_user, monkeypatch):
    from imagechat.settings import get_settings

    owner = make_user()
    x, y = add(owner, "x"), add(owner, "y")
    organise.delete_images(owner, [x, y])
    window = get_settings().delete_undo_seconds
    _age_deletion([x], window + organise.PURGE_MARGIN_S + 5)
    _age_deletion([y], window + 1)  # past the undo window, not yet past the margin
    monkeypatch.setattr(organise, "_next_purge", 0.0)
    assert organise.purge_deleted_if_due() >= 1
    assert _row(x) is None and _row(y) is not None
    assert organise.purge_deleted_if_due() is None  # not due again for a minute


def test_worker_housekeeping_purges_what_is_past_the_undo_window(make_user, own_worker, private_namespace):
    """A real worker's housekeeping removes an image deleted long ago, and keeps one still in its window."""
    import time

    owner = make_user()
    old, recent = add(owner, "deleted long ago"), add(owner, "deleted just now")
    organise.delete_images(owner, [old, recent])
    _age_deletion([old], 3600)
    own_worker(**private_namespace())
    deadline = time.monotonic() + 30
    while _row(old) is not None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _row(old) is None
    assert _row(recent) is not None and organise.restore_images(owner, [recent]) == 1
