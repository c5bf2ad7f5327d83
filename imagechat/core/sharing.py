"""Share links: a revocable, view-only URL for one image or one album, opened without an account.

The token (secrets.token_urlsafe(32): 256 random bits) is the whole secret. Every public read checks, in
the same statement that finds the link, that it is neither revoked nor expired, so a revocation or an expiry
takes effect on the very next request. Albums are read from albums / album_images (core.organise writes
them), always scoped to the link's owner and to images that are not deleted: a share shows only what it names.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from PIL import Image as PILImage
from redis.exceptions import RedisError
from sqlalchemy.orm import aliased
from sqlmodel import Session, select

from imagechat.core import cache, codec, redis_client, storage, urls
from imagechat.core.errors import InvalidRequest, NotFound
from imagechat.db import session_scope
from imagechat.models import Album, AlbumImage, Image, ImageData, ShareLink, utcnow
from imagechat.settings import get_settings

EXPIRY_DAYS = (1, 7, 30)  # or None: the link works until it is revoked
MAX_ALBUM_IMAGES = 500  # shown on an album's page (newest first); the page says when there are more
MAX_ACTIVE_LINKS = 1000  # per user: a runaway script cannot fill the table
MAX_LISTED = 500  # links on the owner's page (active ones first)
PREVIEW_PX = 1200  # long side of the Open Graph preview (what chat apps show)
TITLE_CHARS = 120
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{32,64}$")

ACTIVE, EXPIRED, REVOKED, UNAVAILABLE = "active", "expired", "revoked", "unavailable"
GONE = "That link doesn't exist, or it isn't yours."


@dataclass
class ShareView:
    """One link as its owner sees it."""

    id: int
    token: str
    url: str  # the path (urls.share_url); absolute_url() makes the link to hand out
    kind: str  # "image" | "album"
    title: str  # the image's prompt or the album's name
    image_id: str | None  # the shared image, or the album's cover (None for an empty album)
    album_id: int | None
    image_count: int  # 1 for an image; the album's (not deleted) images
    created_at: datetime
    expires_at: datetime | None
    views: int
    last_viewed_at: datetime | None
    revoked_at: datetime | None
    status: str  # ACTIVE | EXPIRED | REVOKED | UNAVAILABLE (the shared image was deleted)

    @property
    def active(self) -> bool:
        return self.status == ACTIVE


@dataclass
class SharedImage:
    id: str
    prompt: str
    revised_prompt: str
    style: str
    width: int
    height: int
    mime: str
    sha256: str
    created_at: datetime


@dataclass
class Shared:
    """What a share link shows to anyone who has it."""

    kind: str
    title: str
    images: list[SharedImage]  # newest first, at most MAX_ALBUM_IMAGES
    total: int  # images in the album (may exceed len(images))
    cover: SharedImage | None  # the preview for chat apps
    expires_at: datetime | None


# ---------------------------------------------------------------- the public origin


def trusted_origins() -> list[str]:
    """The origins the app is served from (CORS_ALLOWED_ORIGINS, else the local ones on the app's port)."""
    port = int(os.environ.get("REFLEX_FRONTEND_PORT") or get_settings().app_port)
    return get_settings().app_origins(port)


def public_origin(candidate: str | None) -> str:
    """The origin a link is built on: the one the request came through when it is one of the app's own
    (a forged Host header cannot point previews elsewhere), else the first configured one."""
    origins = trusted_origins()
    candidate = (candidate or "").rstrip("/")
    return candidate if candidate in origins else origins[0]


def absolute_url(path: str, origin_candidate: str | None = None) -> str:
    return public_origin(origin_candidate) + path


# ---------------------------------------------------------------- validation


def _expiry(expires_in_days: object) -> timedelta | None:
    if expires_in_days is None:
        return None
    if type(expires_in_days) is int and expires_in_days in EXPIRY_DAYS:
        return timedelta(days=expires_in_days)
    raise InvalidRequest("Choose when the link stops working: never, or in 1, 7 or 30 days.")


def _image_uuid(image_id: object) -> uuid.UUID:
    if isinstance(image_id, uuid.UUID):
        return image_id
    if isinstance(image_id, str) and len(image_id) <= 64:
        try:
            return uuid.UUID(image_id)
        except ValueError:
            pass
    raise NotFound("That image doesn't exist, or it isn't yours.")


def _positive_id(value: object, message: str) -> int:
    if type(value) is int and 0 < value <= 2**31 - 1:
        return value
    raise NotFound(message)


def valid_token(token: object) -> bool:
    return isinstance(token, str) and bool(_TOKEN.match(token))


# ---------------------------------------------------------------- the owner's side


def _short(text: str) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= TITLE_CHARS else text[: TITLE_CHARS - 1].rstrip() + "…"


def _album_images(album_id, owner_id):
    """The album's images that are still the owner's and not deleted (a select to build on)."""
    return (select(Image).join(AlbumImage, AlbumImage.image_id == Image.id)
            .where(AlbumImage.album_id == album_id, Image.owner_id == owner_id, Image.deleted_at.is_(None)))


def _cover_id_expr():
    """SQL: the album's chosen cover when it is still in the album and visible, else its newest image."""
    ai, img = aliased(AlbumImage), aliased(Image)
    chosen = (select(img.id).join(ai, ai.image_id == img.id)
              .where(ai.album_id == Album.id, img.id == Album.cover_image_id, img.owner_id == Album.owner_id,
                     img.deleted_at.is_(None)).correlate(Album).scalar_subquery())
    ai2, img2 = aliased(AlbumImage), aliased(Image)
    newest = (select(img2.id).join(ai2, ai2.image_id == img2.id)
              .where(ai2.album_id == Album.id, img2.owner_id == Album.owner_id, img2.deleted_at.is_(None))
              .order_by(img2.created_at.desc(), img2.id.desc()).limit(1).correlate(Album).scalar_subquery())
    return sa.func.coalesce(chosen, newest)


def _count_expr():
    ai, img = aliased(AlbumImage), aliased(Image)
    return (select(sa.func.count()).select_from(ai).join(img, img.id == ai.image_id)
            .where(ai.album_id == Album.id, img.owner_id == Album.owner_id, img.deleted_at.is_(None))
            .correlate(Album).scalar_subquery())


def _status(link: ShareLink, image_deleted: bool, now: datetime) -> str:
    if link.revoked_at is not None:
        return REVOKED
    if link.expires_at is not None and link.expires_at <= now:
        return EXPIRED
    return UNAVAILABLE if image_deleted else ACTIVE


def _views(s: Session, owner_id: int, where) -> list[ShareView]:
    stmt = (select(ShareLink, Image.prompt, Image.deleted_at, Album.name, _cover_id_expr(), _count_expr())
            .outerjoin(Image, (Image.id == ShareLink.image_id) & (Image.owner_id == ShareLink.owner_id))
            .outerjoin(Album, (Album.id == ShareLink.album_id) & (Album.owner_id == ShareLink.owner_id))
            .where(ShareLink.owner_id == owner_id, where))
    now = utcnow()
    out = []
    for link, prompt, deleted_at, album_name, cover_id, count in s.exec(stmt).all():
        image = link.image_id is not None
        out.append(ShareView(
            id=link.id, token=link.token, url=urls.share_url(link.token), kind="image" if image else "album",
            title=_short(prompt if image else album_name or ""),
            image_id=str(link.image_id) if image else (str(cover_id) if cover_id else None),
            album_id=link.album_id, image_count=1 if image else int(count or 0),
            created_at=link.created_at, expires_at=link.expires_at, views=link.views,
            last_viewed_at=link.last_viewed_at, revoked_at=link.revoked_at,
            status=_status(link, image and deleted_at is not None, now)))
    return out


def _one(s: Session, owner_id: int, link_id: int) -> ShareView:
    found = _views(s, owner_id, ShareLink.id == link_id)
    if not found:
        raise NotFound(GONE)
    return found[0]


def _active_filter():
    return ShareLink.revoked_at.is_(None) & (ShareLink.expires_at.is_(None) | (ShareLink.expires_at > sa.func.now()))


def _check_target(s: Session, owner_id: int, image_id, album_id) -> tuple[uuid.UUID | None, int | None]:
    if (image_id is None) == (album_id is None):
        raise InvalidRequest("Share either one image or one album.")
    if image_id is not None:
        image_id = _image_uuid(image_id)
        found = s.exec(select(Image.id).where(Image.id == image_id, Image.owner_id == owner_id,
                                              Image.deleted_at.is_(None))).first()
        if found is None:
            raise NotFound("That image doesn't exist, or it isn't yours.")
        return image_id, None
    album_id = _positive_id(album_id, "That album doesn't exist, or it isn't yours.")
    if s.exec(select(Album.id).where(Album.id == album_id, Album.owner_id == owner_id)).first() is None:
        raise NotFound("That album doesn't exist, or it isn't yours.")
    return None, album_id


def create_link(owner_id: int, *, image_id: uuid.UUID | str | None = None, album_id: int | None = None,
                expires_in_days: int | None = None) -> ShareView:
    """A new link to one of the owner's own images (not deleted) or albums. Never shares anything else."""
    expiry = _expiry(expires_in_days)
    with session_scope() as s:
        image_id, album_id = _check_target(s, owner_id, image_id, album_id)
        active = s.exec(select(sa.func.count()).select_from(ShareLink)
                        .where(ShareLink.owner_id == owner_id, _active_filter())).one()
        if active >= MAX_ACTIVE_LINKS:
            raise InvalidRequest(f"You have {MAX_ACTIVE_LINKS} active share links. Revoke some on the "
                                 "Shared links page, then share again.")
        now = utcnow()
        link = ShareLink(owner_id=owner_id, token=secrets.token_urlsafe(32), image_id=image_id, album_id=album_id,
                         expires_at=now + expiry if expiry else None, created_at=now)
        s.add(link)
        s.flush()
        return _one(s, owner_id, link.id)


def link_for(owner_id: int, *, image_id: uuid.UUID | str | None = None, album_id: int | None = None) -> ShareView:
    """The newest active link to this image or album, or a new one without expiry: sharing the same thing
    twice hands out the same link instead of filling the list."""
    with session_scope() as s:
        image_id, album_id = _check_target(s, owner_id, image_id, album_id)
        target = ShareLink.image_id == image_id if image_id is not None else ShareLink.album_id == album_id
        existing = s.exec(select(ShareLink.id).where(ShareLink.owner_id == owner_id, target, _active_filter())
                          .order_by(ShareLink.created_at.desc()).limit(1)).first()
        if existing is not None:
            return _one(s, owner_id, existing)
    return create_link(owner_id, image_id=image_id, album_id=album_id)


def set_expiry(owner_id: int, link_id: int, expires_in_days: int | None) -> ShareView:
    """Change when a link stops working (counted from now). A revoked link stays revoked."""
    expiry = _expiry(expires_in_days)
    link_id = _positive_id(link_id, GONE)
    with session_scope() as s:
        link = s.exec(select(ShareLink).where(ShareLink.id == link_id, ShareLink.owner_id == owner_id)
                      .with_for_update()).first()
        if link is None:
            raise NotFound(GONE)
        if link.revoked_at is not None:
            raise InvalidRequest("This link was revoked and cannot be turned back on. Share again for a new link.")
        link.expires_at = utcnow() + expiry if expiry else None
        s.add(link)
        s.flush()
        return _one(s, owner_id, link.id)


def revoke(owner_id: int, link_id: int) -> ShareView:
    """Turn a link off for good, at once (revoking twice is harmless)."""
    link_id = _positive_id(link_id, GONE)
    with session_scope() as s:
        s.execute(sa.update(ShareLink).where(ShareLink.id == link_id, ShareLink.owner_id == owner_id,
                                          ShareLink.revoked_at.is_(None)).values(revoked_at=sa.func.now()))
        return _one(s, owner_id, link_id)


def get_link(owner_id: int, link_id: int) -> ShareView:
    link_id = _positive_id(link_id, GONE)
    with session_scope() as s:
        return _one(s, owner_id, link_id)


def list_links(owner_id: int) -> list[ShareView]:
    """The owner's links: active ones first, newest first within each group."""
    with session_scope() as s:
        views = _views(s, owner_id, sa.true())
    order = {ACTIVE: 0, UNAVAILABLE: 1, EXPIRED: 2, REVOKED: 3}
    views.sort(key=lambda v: (order[v.status], -v.created_at.timestamp(), -v.id))
    return views[:MAX_LISTED]


# ---------------------------------------------------------------- the public side


def _shared_image(image: Image) -> SharedImage:
    return SharedImage(id=str(image.id), prompt=image.prompt, revised_prompt=image.revised_prompt or "",
                       style=image.style or "", width=image.width, height=image.height, mime=image.mime,
                       sha256=image.sha256, created_at=image.created_at)


def _valid_link(token: str):
    return (ShareLink.token == token) & _active_filter()


VIEW_WINDOW_S = 3600  # one viewer (client address) counts once per link and hour


def first_view(token: str, viewer: str | None) -> bool:
    """Should this visit count as a view? Once per viewer and link in VIEW_WINDOW_S, so reloads and crawlers'
    repeats neither inflate the count nor write the row each time. Without Redis every visit counts."""
    if not viewer:
        return True
    digest = hashlib.sha256(f"{token}\x1f{viewer}".encode()).hexdigest()[:32]
    try:
        return bool(redis_client.client().set(redis_client.key("share-view", digest), 1, nx=True,
                                              ex=VIEW_WINDOW_S))
    except RedisError:
        return True


def resolve(token: str, *, count_view: bool = True) -> Shared:
    """What the link shows, counting one view (atomically, in the statement that checks the link).

    Unknown, malformed, revoked and expired tokens and a deleted image all raise the same NotFound.
    """
    if not valid_token(token):
        raise NotFound("This link doesn't work.")
    columns = (ShareLink.owner_id, ShareLink.image_id, ShareLink.album_id, ShareLink.expires_at)
    with session_scope() as s:
        if count_view:
            row = s.execute(sa.update(ShareLink).where(_valid_link(token))
                         .values(views=ShareLink.views + 1, last_viewed_at=sa.func.now())
                         .returning(*columns)).first()
        else:
            row = s.exec(select(*columns).where(_valid_link(token))).first()
        if row is None:
            raise NotFound("This link doesn't work.")
        owner_id, image_id, album_id, expires_at = row
        if image_id is not None:
            image = s.exec(select(Image).where(Image.id == image_id, Image.owner_id == owner_id,
                                               Image.deleted_at.is_(None))).first()
            if image is None:
                raise NotFound("This link doesn't work.")  # the rollback un-counts the view
            shared = _shared_image(image)
            return Shared(kind="image", title=image.prompt, images=[shared], total=1, cover=shared,
                          expires_at=expires_at)
        album = s.exec(select(Album.name, _cover_id_expr()).where(Album.id == album_id,
                                                                  Album.owner_id == owner_id)).first()
        if album is None:
            raise NotFound("This link doesn't work.")
        name, cover_id = album
        members = _album_images(album_id, owner_id)
        images = [_shared_image(i) for i in s.exec(
            members.order_by(Image.created_at.desc(), Image.id.desc()).limit(MAX_ALBUM_IMAGES)).all()]
        total = s.exec(select(sa.func.count()).select_from(members.subquery())).one()
        cover = next((i for i in images if i.id == str(cover_id)), None)
        if cover is None and cover_id is not None:
            cover = _shared_image(s.exec(select(Image).where(Image.id == cover_id)).one())
        return Shared(kind="album", title=name, images=images, total=total, cover=cover, expires_at=expires_at)


def shared_image(token: str, image_id: str) -> SharedImage:
    """One image of a valid link: the shared image itself or an image of the shared album (no view counted).

    Any other id (another user's, another album's, deleted, malformed) raises NotFound.
    """
    try:
        image_uuid = _image_uuid(image_id)
    except NotFound:
        raise NotFound("This link doesn't work.") from None
    if not valid_token(token):
        raise NotFound("This link doesn't work.")
    in_album = sa.exists().where(AlbumImage.album_id == ShareLink.album_id, AlbumImage.image_id == Image.id)
    stmt = (select(Image).join(ShareLink, ShareLink.owner_id == Image.owner_id)
            .where(_valid_link(token), Image.id == image_uuid, Image.deleted_at.is_(None),
                   (ShareLink.image_id == Image.id) | (ShareLink.album_id.is_not(None) & in_album)))
    with session_scope() as s:
        image = s.exec(stmt).first()
    if image is None:
        raise NotFound("This link doesn't work.")
    return _shared_image(image)


def image_bytes(image: SharedImage, variant: str) -> tuple[bytes, str]:
    """(bytes, mime) of a shared image, after shared_image() allowed it: "full" (as stored),
    "thumb" (the WebP thumbnail) or "preview" (a JPEG of at most PREVIEW_PX, for link previews)."""
    if variant == "preview":  # converted once per process, not on every crawler's visit
        data = cache.conversions().get_or_make((image.id, image.sha256, "share-preview"),
                                               lambda: preview_jpeg(_stored(image, thumb=False)))
        return data, "image/jpeg"
    if variant == "thumb":
        return _stored(image, thumb=True), "image/webp"
    return _stored(image, thumb=False), image.mime


def _stored(image: SharedImage, *, thumb: bool) -> bytes:
    """From the image's store (core.storage); StorageUnavailable while an object store is away."""
    column = ImageData.thumb_b64 if thumb else ImageData.data_b64
    image_id = uuid.UUID(image.id)
    with session_scope() as s:
        row = s.exec(select(Image.storage, column).outerjoin(ImageData, ImageData.image_id == Image.id)
                     .where(Image.id == image_id)).first()
    if row is None:
        raise NotFound("This link doesn't work.")
    try:
        return storage.read(image_id, row[0], thumb=thumb, inline_b64=row[1])
    except storage.MissingPayload:
        raise NotFound("This link doesn't work.") from None


def preview_size(width: int, height: int) -> tuple[int, int]:
    scale = min(1.0, PREVIEW_PX / max(width, height, 1))
    return max(1, round(width * scale)), max(1, round(height * scale))


def preview_jpeg(data: bytes) -> bytes:
    decoded = codec.decode(data, None)
    im = decoded.image
    size = preview_size(*im.size)
    if size != im.size:
        im = im.resize(size, PILImage.Resampling.LANCZOS, reducing_gap=2.0)
    return codec.encode(im, "jpeg", quality=85, icc=decoded.icc)
