"""Organising a user's images: favourites, tags, albums, delete with undo. The write side of the gallery.

Every function is scoped to its owner: ids of other users' images or albums are ignored in bulk calls
(the answer never tells whether they exist) and NotFound in single ones. images.album_names (read only by
the search document) is rewritten in the same transaction as every album change, with the image rows
locked first, so two concurrent album edits cannot leave it stale.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by, insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from imagechat.core import storage
from imagechat.core.errors import InvalidRequest, NotFound, StorageUnavailable
from imagechat.core.text import clean_text
from imagechat.db import session_scope
from imagechat.models import MAX_ALBUM_NAME_CHARS, MAX_TAG_CHARS, Album, AlbumImage, Image, utcnow
from imagechat.settings import get_settings

log = logging.getLogger(__name__)

MAX_SELECTION = 10_000  # ids in one bulk call (gallery.MAX_SELECTION is the same number)
MAX_TAGS_PER_IMAGE = 50
MAX_TAGS_PER_CALL = 20
MAX_ALBUMS = 1000
PURGE_EVERY_S = 60.0
# Purge only well after the undo window, so a restore at the last second never races the purge.
PURGE_MARGIN_S = 60.0
PURGE_BATCH = 500

ALBUM_MISSING = "That album doesn't exist, or it isn't yours. Reload the page to see your albums."
IMAGE_MISSING = "That image doesn't exist, or it isn't yours."


@dataclass
class AlbumView:
    id: int
    name: str
    count: int  # images in it (deleted ones not counted)
    cover_image_id: str | None  # the chosen cover, else the newest image; None for an empty album


# ---------------------------------------------------------------- arguments

def selection(image_ids: object) -> list[uuid.UUID]:
    """The distinct ids of a bulk call. Entries that are not UUIDs are ignored like unknown ids; more than
    MAX_SELECTION is refused with a message."""
    if isinstance(image_ids, str | bytes | Mapping) or not isinstance(image_ids, Iterable):
        raise InvalidRequest("Select one or more images first.")
    ids: dict[uuid.UUID, None] = {}
    for count, item in enumerate(image_ids, 1):
        if count > MAX_SELECTION:
            raise InvalidRequest(f"Select at most {MAX_SELECTION:,} images at a time.")
        if isinstance(item, str) and len(item) <= 40:
            try:
                item = uuid.UUID(item)
            except ValueError:
                continue
        if isinstance(item, uuid.UUID):
            ids[item] = None
    return list(ids)


def _id_array(ids: Sequence[uuid.UUID]) -> sa.BindParameter:
    # One array parameter (id = ANY(:ids)) instead of 10,000 bind parameters.
    return sa.bindparam(None, list(ids), type_=ARRAY(sa.Uuid()), unique=True)


def _album_id(album_id: object) -> int:
    if type(album_id) is not int or not 0 < album_id < 2**31:
        raise NotFound(ALBUM_MISSING)
    return album_id


def clean_tag(text: str) -> str:
    """A tag as stored: one line, lower-case, trimmed, without a leading '#', at most MAX_TAG_CHARS."""
    if not isinstance(text, str):
        raise InvalidRequest("A tag must be text.")
    tag = clean_text(text).lower().lstrip("#").strip()
    if not tag:
        raise InvalidRequest("A tag can't be empty. Type a word or two.")
    if len(tag) > MAX_TAG_CHARS:
        raise InvalidRequest(f"A tag can have at most {MAX_TAG_CHARS} characters; this one has {len(tag)}.")
    return tag


def _clean_tags(tags: object) -> list[str]:
    if isinstance(tags, str) or not isinstance(tags, Sequence):
        raise InvalidRequest("Give one or more tags.")
    if len(tags) > MAX_TAGS_PER_CALL:
        raise InvalidRequest(f"Add or remove at most {MAX_TAGS_PER_CALL} tags at a time.")
    cleaned = list(dict.fromkeys(clean_tag(t) for t in tags))
    if not cleaned:
        raise InvalidRequest("Give one or more tags.")
    return cleaned


def clean_album_name(name: object) -> str:
    if not isinstance(name, str):
        raise InvalidRequest("An album name must be text.")
    text = clean_text(name)
    if not text:
        raise InvalidRequest("Give the album a name.")
    if len(text) > MAX_ALBUM_NAME_CHARS:
        raise InvalidRequest(f"An album name can have at most {MAX_ALBUM_NAME_CHARS} characters.")
    return text


# ---------------------------------------------------------------- shared statements

def _visible(owner_id: int, ids: Sequence[uuid.UUID]) -> list:
    return [Image.owner_id == owner_id, Image.id == sa.any_(_id_array(ids)), Image.deleted_at.is_(None)]


def _lock_owned(s: Session, owner_id: int, ids: Sequence[uuid.UUID], *, deleted_too: bool = False) -> list[uuid.UUID]:
    """The owner's visible images among `ids` (with `deleted_too`, also those in their undo window), locked in
    id order (no deadlock between two callers)."""
    if not ids:
        return []
    cond = [Image.owner_id == owner_id, Image.id == sa.any_(_id_array(ids))] if deleted_too else _visible(owner_id, ids)
    stmt = sa.select(Image.id).where(*cond).order_by(Image.id).with_for_update()
    return list(s.execute(stmt).scalars())


def _sync_album_names(s: Session, image_ids: Sequence[uuid.UUID]) -> None:
    """Rewrite images.album_names (the search document's album part) from album_images."""
    if not image_ids:
        return
    joined = sa.func.string_agg(Album.name, aggregate_order_by(sa.literal_column("' '"), Album.id))
    names = (sa.select(sa.func.coalesce(joined, ""))
             .select_from(AlbumImage).join(Album, Album.id == AlbumImage.album_id)
             .where(AlbumImage.image_id == Image.id).correlate(Image).scalar_subquery())
    s.execute(sa.update(Image).where(Image.id == sa.any_(_id_array(image_ids))).values(album_names=names)
              .execution_options(synchronize_session=False))


def _owned_album(s: Session, owner_id: int, album_id: object, *, lock: bool = False) -> Album:
    stmt = sa.select(Album).where(Album.id == _album_id(album_id), Album.owner_id == owner_id)
    album = s.execute(stmt.with_for_update() if lock else stmt).scalar_one_or_none()
    if album is None:
        raise NotFound(ALBUM_MISSING)
    return album


def _album_member_ids(s: Session, album_id: int) -> list[uuid.UUID]:
    return list(s.execute(sa.select(AlbumImage.image_id).where(AlbumImage.album_id == album_id)
                          .order_by(AlbumImage.image_id)).scalars())


# ---------------------------------------------------------------- favourites and tags

def set_favorite(owner_id: int, image_ids: Sequence[uuid.UUID], favorite: bool) -> int:
    """Star or unstar; returns how many images changed."""
    if not isinstance(favorite, bool):
        raise InvalidRequest("Choose whether to star or unstar the images.")
    ids = selection(image_ids)
    if not ids:
        return 0
    with session_scope() as s:
        result = s.execute(sa.update(Image).where(*_visible(owner_id, ids), Image.favorite.is_not(favorite))
                           .values(favorite=favorite).execution_options(synchronize_session=False))
        return result.rowcount or 0


def _tag_array(tags: Sequence[str]) -> sa.BindParameter:
    return sa.bindparam(None, list(tags), type_=ARRAY(sa.String(MAX_TAG_CHARS)), unique=True)


def add_tags(owner_id: int, image_ids: Sequence[uuid.UUID], tags: Sequence[str]) -> int:
    """Add tags (kept distinct and sorted); returns how many images changed. An image would have more than
    MAX_TAGS_PER_IMAGE: InvalidRequest, and nothing changes."""
    ids, new = selection(image_ids), _clean_tags(tags)
    if not ids:
        return 0
    merged = sa.func.array(sa.select(sa.func.unnest(Image.tags.concat(_tag_array(new))).label("t"))
                           .distinct().order_by("t").correlate(Image).scalar_subquery())
    with session_scope() as s:
        too_many = s.execute(sa.select(sa.func.count()).where(
            *_visible(owner_id, ids), sa.func.cardinality(merged) > MAX_TAGS_PER_IMAGE)).scalar_one()
        if too_many:
            raise InvalidRequest(f"An image can have at most {MAX_TAGS_PER_IMAGE} tags; {too_many:,} of the "
                                 f"selected images would have more. Remove some tags first.")
        result = s.execute(sa.update(Image).where(*_visible(owner_id, ids), sa.not_(Image.tags.contains(new)))
                           .values(tags=merged).execution_options(synchronize_session=False))
        return result.rowcount or 0


def remove_tags(owner_id: int, image_ids: Sequence[uuid.UUID], tags: Sequence[str]) -> int:
    """Remove tags; returns how many images changed."""
    ids, gone = selection(image_ids), _clean_tags(tags)
    if not ids:
        return 0
    tag = sa.func.unnest(Image.tags).table_valued("t").render_derived()
    kept = sa.func.array(sa.select(tag.c.t).where(tag.c.t != sa.all_(_tag_array(gone))).correlate(Image)
                         .scalar_subquery())
    with session_scope() as s:
        result = s.execute(sa.update(Image).where(*_visible(owner_id, ids), Image.tags.overlap(_tag_array(gone)))
                           .values(tags=kept).execution_options(synchronize_session=False))
        return result.rowcount or 0


def _like_prefix(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def tag_suggestions(owner_id: int, prefix: str, limit: int = 10) -> list[str]:
    """The owner's tags starting with `prefix` (all of them for ""), most used first."""
    if not isinstance(prefix, str):
        return []
    prefix = clean_text(prefix).lower().lstrip("#").strip()
    if len(prefix) > MAX_TAG_CHARS:
        return []
    limit = min(max(1, limit), 100) if type(limit) is int else 10
    tag = sa.func.unnest(Image.tags).label("tag")
    inner = sa.select(tag).where(Image.owner_id == owner_id, Image.deleted_at.is_(None)).subquery()
    stmt = sa.select(inner.c.tag).group_by(inner.c.tag).order_by(sa.func.count().desc(), inner.c.tag).limit(limit)
    if prefix:
        stmt = stmt.where(inner.c.tag.like(_like_prefix(prefix), escape="\\"))
    with session_scope() as s:
        return list(s.execute(stmt).scalars())


# ---------------------------------------------------------------- albums

def _album_views(s: Session, owner_id: int, album_ids: Sequence[int] | None = None) -> list[AlbumView]:
    """Albums with their counts and covers (the chosen cover while it is in the album and not deleted, else
    the newest image), by name."""
    # One pass over the members (grouped), not a subquery per album.
    sql = sa.text("""
        SELECT a.id, a.name, a.cover_image_id, count(i.id) AS n,
               (array_agg(i.id ORDER BY i.created_at DESC, i.id DESC) FILTER (WHERE i.id IS NOT NULL))[1] AS newest,
               coalesce(bool_or(i.id = a.cover_image_id), false) AS cover_ok
          FROM albums a
          LEFT JOIN album_images ai ON ai.album_id = a.id
          LEFT JOIN images i ON i.id = ai.image_id AND i.deleted_at IS NULL
         WHERE a.owner_id = :owner AND (CAST(:ids AS integer[]) IS NULL OR a.id = ANY(CAST(:ids AS integer[])))
         GROUP BY a.id
         ORDER BY lower(a.name), a.id
    """)
    rows = s.execute(sql, {"owner": owner_id, "ids": list(album_ids) if album_ids is not None else None})
    views = []
    for r in rows:
        cover = r.cover_image_id if r.cover_ok else r.newest
        views.append(AlbumView(id=r.id, name=r.name, count=r.n, cover_image_id=str(cover) if cover else None))
    return views


def list_albums(owner_id: int) -> list[AlbumView]:
    with session_scope() as s:
        return _album_views(s, owner_id)


def albums_of(s: Session, owner_id: int, image_id: uuid.UUID) -> list[AlbumView]:
    """The owner's albums holding one image (for its detail view)."""
    ids = list(s.execute(sa.select(AlbumImage.album_id).join(Album, Album.id == AlbumImage.album_id)
                         .where(AlbumImage.image_id == image_id, Album.owner_id == owner_id)).scalars())
    return _album_views(s, owner_id, ids) if ids else []


def _name_taken(name: str) -> InvalidRequest:
    return InvalidRequest(f"You already have an album named \u201c{name}\u201d. Choose another name.")


def _same_name(s: Session, owner_id: int, name: str, except_id: int | None = None) -> bool:
    stmt = sa.select(Album.id).where(Album.owner_id == owner_id, sa.func.lower(Album.name) == sa.func.lower(name))
    if except_id is not None:
        stmt = stmt.where(Album.id != except_id)
    return s.execute(stmt.limit(1)).first() is not None


def create_album(owner_id: int, name: str) -> AlbumView:
    name = clean_album_name(name)
    try:
        with session_scope() as s:
            if _same_name(s, owner_id, name):
                raise _name_taken(name)
            count = s.execute(sa.select(sa.func.count()).where(Album.owner_id == owner_id)).scalar_one()
            if count >= MAX_ALBUMS:
                raise InvalidRequest(f"You can have at most {MAX_ALBUMS:,} albums. Delete one you no longer need.")
            album = Album(owner_id=owner_id, name=name)
            s.add(album)
            s.flush()
            return AlbumView(id=album.id, name=album.name, count=0, cover_image_id=None)
    except IntegrityError:  # the same name created at the same moment by another tab
        raise _name_taken(name) from None


def rename_album(owner_id: int, album_id: int, name: str) -> AlbumView:
    name = clean_album_name(name)
    try:
        with session_scope() as s:
            album = _owned_album(s, owner_id, album_id, lock=True)
            if _same_name(s, owner_id, name, except_id=album.id):
                raise _name_taken(name)
            album.name, album.updated_at = name, utcnow()
            s.add(album)
            s.flush()
            # Deleted images too: a restore must not bring back the old name in the search document.
            members = _lock_owned(s, owner_id, _album_member_ids(s, album.id), deleted_too=True)
            _sync_album_names(s, members)
            return _album_views(s, owner_id, [album.id])[0]
    except IntegrityError:
        raise _name_taken(name) from None


def delete_album(owner_id: int, album_id: int) -> None:
    """The album goes; its images stay."""
    with session_scope() as s:
        album = _owned_album(s, owner_id, album_id, lock=True)
        members = _lock_owned(s, owner_id, _album_member_ids(s, album.id), deleted_too=True)
        s.execute(sa.delete(Album).where(Album.id == album.id))  # album_images cascade
        _sync_album_names(s, members)


def add_to_album(owner_id: int, album_id: int, image_ids: Sequence[uuid.UUID]) -> int:
    """Returns how many images were added (those already in it are not counted)."""
    ids = selection(image_ids)
    with session_scope() as s:
        album = _owned_album(s, owner_id, album_id, lock=True)
        owned = _lock_owned(s, owner_id, ids)
        if not owned:
            return 0
        now = utcnow()
        # One array parameter: a 10,000-image selection is one small statement, not 30,000 bind parameters.
        rows = sa.select(sa.literal(album.id), sa.func.unnest(_id_array(owned)), sa.literal(now, sa.DateTime(True)))
        added = len(s.execute(insert(AlbumImage).from_select(["album_id", "image_id", "added_at"], rows)
                              .on_conflict_do_nothing(index_elements=["album_id", "image_id"])
                              .returning(AlbumImage.image_id)).all())
        if added:
            _sync_album_names(s, owned)
            album.updated_at = now
            s.add(album)
        return added


def remove_from_album(owner_id: int, album_id: int, image_ids: Sequence[uuid.UUID]) -> int:
    ids = selection(image_ids)
    with session_scope() as s:
        album = _owned_album(s, owner_id, album_id, lock=True)
        if not ids:
            return 0
        owned = _lock_owned(s, owner_id, ids, deleted_too=True)  # an image in its undo window may leave too
        if not owned:
            return 0
        result = s.execute(sa.delete(AlbumImage).where(AlbumImage.album_id == album.id,
                                                       AlbumImage.image_id == sa.any_(_id_array(owned))))
        removed = result.rowcount or 0
        if removed:
            _sync_album_names(s, owned)
            album.updated_at = utcnow()
            s.add(album)
        return removed


def set_cover(owner_id: int, album_id: int, image_id: uuid.UUID | None) -> None:
    """Choose the album's cover among its images; None goes back to the newest image."""
    with session_scope() as s:
        album = _owned_album(s, owner_id, album_id, lock=True)
        if image_id is not None:
            member = s.execute(sa.select(AlbumImage.image_id).join(Image, Image.id == AlbumImage.image_id).where(
                AlbumImage.album_id == album.id, AlbumImage.image_id == image_id, Image.owner_id == owner_id,
                Image.deleted_at.is_(None))).first() if isinstance(image_id, uuid.UUID) else None
            if member is None:
                raise NotFound("That image isn't in this album. Add it to the album first.")
        album.cover_image_id, album.updated_at = image_id, utcnow()
        s.add(album)


# ---------------------------------------------------------------- delete, undo, purge

def delete_images(owner_id: int, image_ids: Sequence[uuid.UUID]) -> int:
    """Soft delete: hidden everywhere at once, restorable for settings.delete_undo_seconds."""
    ids = selection(image_ids)
    if not ids:
        return 0
    with session_scope() as s:
        result = s.execute(sa.update(Image).where(*_visible(owner_id, ids)).values(deleted_at=sa.func.now())
                           .execution_options(synchronize_session=False))
        return result.rowcount or 0


def restore_images(owner_id: int, image_ids: Sequence[uuid.UUID]) -> int:
    """Undo a delete made less than settings.delete_undo_seconds ago; returns how many came back."""
    ids = selection(image_ids)
    if not ids:
        return 0
    window = sa.func.make_interval(0, 0, 0, 0, 0, 0, float(get_settings().delete_undo_seconds))
    with session_scope() as s:
        result = s.execute(sa.update(Image).where(
            Image.owner_id == owner_id, Image.id == sa.any_(_id_array(ids)),
            Image.deleted_at > sa.func.now() - window).values(deleted_at=None)
            .execution_options(synchronize_session=False))
        return result.rowcount or 0


def purge_deleted(older_than_s: float) -> int:
    """Remove for good the images deleted more than `older_than_s` ago: bytes kept in an object store first
    (core.storage), then the rows (PostgreSQL payload, album places and share links cascade; their edits keep
    existing without a parent). Batches, so no transaction grows large. While an object store is away, its
    images wait (hidden all the same) for a later purge; the others go now."""
    cutoff = sa.func.now() - sa.func.make_interval(0, 0, 0, 0, 0, 0, float(max(0.0, older_than_s)))
    total = 0
    while True:
        with session_scope() as s:
            rows = s.execute(sa.select(Image.id, Image.storage).where(Image.deleted_at < cutoff).limit(PURGE_BATCH)
                             .with_for_update(skip_locked=True)).all()
            elsewhere: dict[str, list[uuid.UUID]] = {}
            for image_id, store_name in rows:
                if store_name != storage.POSTGRES:
                    elsewhere.setdefault(store_name, []).append(image_id)
            kept: set[uuid.UUID] = set()
            for store_name, ids in elsewhere.items():
                try:
                    storage.get_store(store_name).delete(ids)
                except StorageUnavailable:
                    log.warning("purge: the %s store is unreachable; %d deleted image(s) wait for the next purge",
                                store_name, len(ids))
                    kept.update(ids)
            gone = [image_id for image_id, _ in rows if image_id not in kept]
            removed = 0
            if gone:
                removed = s.execute(sa.delete(Image).where(Image.id.in_(gone))
                                    .execution_options(synchronize_session=False)).rowcount or 0
        total += removed
        if len(rows) < PURGE_BATCH or kept:
            return total


_next_purge = 0.0


def purge_deleted_if_due() -> int | None:
    """purge_deleted at most every PURGE_EVERY_S in this process (called on every housekeeping tick of the
    workers); None when it was not due."""
    global _next_purge
    now = time.monotonic()
    if now < _next_purge:
        return None
    _next_purge = now + PURGE_EVERY_S
    purged = purge_deleted(get_settings().delete_undo_seconds + PURGE_MARGIN_S)
    if purged:
        log.info("purged %d deleted image(s)", purged)
    return purged
