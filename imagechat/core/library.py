"""Stored images: write once per job, read back scoped to the owner. Metadata rows are here; the bytes go
through core.storage (PostgreSQL's image_data or an S3-compatible bucket, per image)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from sqlmodel import Session, select

from imagechat.core import auth, codec, storage
from imagechat.core.errors import ImagechatError, NotFound
from imagechat.core.export import download
from imagechat.db import session_scope
from imagechat.models import Image, ImageData
from imagechat.settings import get_settings

log = logging.getLogger(__name__)


@dataclass
class NewImage:
    """What a job produced, already converted for storage (done outside any transaction)."""

    stored: codec.StoredImage
    seed: int | None
    revised_prompt: str | None
    image_id: uuid.UUID = field(default_factory=uuid.uuid4)
    store: str | None = None  # the store already holding its bytes (upload() put them there)


def prepare(data: bytes) -> codec.StoredImage:
    s = get_settings()
    return codec.prepare_for_storage(data, fmt=s.stored_format, quality=s.stored_quality,
                                     thumb_px=s.thumbnail_px, max_pixels=s.max_image_pixels)


def upload(new_images: Sequence[NewImage]) -> None:
    """Put the bytes in an object store (IMAGE_STORE=s3) before the transaction that records the images, so no
    image row ever exists without its bytes and no row lock waits on the network. Nothing to do for PostgreSQL:
    add_images writes the bytes in that transaction. StorageUnavailable when the store cannot take them."""
    target = storage.configured()
    if target.name == storage.POSTGRES:
        return
    for item in new_images:
        if item.store is None:
            target.put(item.image_id, item.stored.data, item.stored.thumb, mime=item.stored.mime)
            item.store = target.name


def discard(new_images: Sequence[NewImage]) -> None:
    """Remove uploaded bytes that no image row refers to (a result thrown away, a transaction that failed).
    Best effort: what cannot be checked or removed now stays, unreferenced and harmless."""
    uploaded = [item for item in new_images if item.store not in (None, storage.POSTGRES)]
    if not uploaded:
        return
    try:
        with session_scope() as s:
            recorded = set(s.exec(select(Image.id).where(Image.id.in_([i.image_id for i in uploaded]))).all())
        for item in uploaded:
            if item.image_id not in recorded:
                storage.get_store(item.store).delete([item.image_id])
    except ImagechatError:
        log.warning("could not remove %d unreferenced upload(s); they stay in the object store", len(uploaded))


def add_images(session: Session, *, owner_id: int, job_id: uuid.UUID, prompt: str, style: str | None,
               engine: str, model: str, conversation_id: int | None, parent_image_id: uuid.UUID | None,
               new_images: list[NewImage]) -> list[uuid.UUID]:
    """Insert the metadata rows, and with PostgreSQL storage the Base64 payload rows, in the caller's transaction.
    Bytes not yet uploaded (see upload()) to an object store are uploaded here first.

    (job_id, index_in_job) is unique, so a redelivered job can never store a second copy.
    """
    upload(new_images)
    ids = []
    for index, item in enumerate(new_images):
        st = item.stored
        image = Image(id=item.image_id, owner_id=owner_id, job_id=job_id, index_in_job=index,
                      conversation_id=conversation_id, parent_image_id=parent_image_id, prompt=prompt,
                      revised_prompt=item.revised_prompt, style=style, engine=engine, model=model, seed=item.seed,
                      width=st.width, height=st.height, mime=st.mime, byte_size=st.byte_size, sha256=st.sha256,
                      storage=item.store or storage.POSTGRES)
        session.add(image)
        session.flush()
        if item.store is None:
            storage.get_store(storage.POSTGRES).put(image.id, st.data, st.thumb, mime=st.mime, session=session)
        ids.append(image.id)
    return ids


class StoredRef(NamedTuple):
    """What serving an image's bytes needs of its row (the ETag and the type)."""
    id: uuid.UUID
    storage: str
    sha256: str
    mime: str


def _visible(owner_id: int, image_id: uuid.UUID) -> tuple:
    """The owner's image, unless it was deleted (an image in its undo window is gone for every reader)."""
    return Image.id == image_id, Image.owner_id == owner_id, Image.deleted_at.is_(None)


def get_image(owner_id: int, image_id: uuid.UUID) -> Image:
    with session_scope() as s:
        image = s.exec(select(Image).where(*_visible(owner_id, image_id))).first()
    if image is None:
        raise NotFound("That image doesn't exist, or it isn't yours.")
    return image


def image_bytes(owner_id: int, image_id: uuid.UUID, *, thumb: bool = False) -> tuple[Image, bytes]:
    """The stored bytes (or the WebP thumbnail) of one of the owner's images."""
    column = ImageData.thumb_b64 if thumb else ImageData.data_b64
    with session_scope() as s:  # one query for an image kept in PostgreSQL (image_data holds nothing for others)
        row = s.exec(
            select(Image, column).outerjoin(ImageData, ImageData.image_id == Image.id)
            .where(*_visible(owner_id, image_id))
        ).first()
    if row is None:
        raise NotFound("That image doesn't exist, or it isn't yours.")
    image, inline = row
    return image, storage.read(image.id, image.storage, thumb=thumb, inline_b64=inline)


def image_bytes_for_session(hashed: str, image_id: uuid.UUID, *, thumb: bool = False) -> tuple[StoredRef, bytes] | None:
    """image_bytes for the user of a live session, checked in the same query: the thumbnail route's hot path (a
    page of cards asks for sixty at once), so only the columns the response needs. None when the session or the
    image is not there; the caller tells which the slow way."""
    column = ImageData.thumb_b64 if thumb else ImageData.data_b64
    with session_scope() as s:
        row = s.exec(
            select(Image.id, Image.storage, Image.sha256, Image.mime, column)
            .outerjoin(ImageData, ImageData.image_id == Image.id)
            .where(Image.id == image_id, Image.deleted_at.is_(None), *auth.live_session_of(Image.owner_id, hashed))
        ).first()
    if row is None:
        return None
    ref = StoredRef(row[0], row[1], row[2], row[3])
    return ref, storage.read(ref.id, ref.storage, thumb=thumb, inline_b64=row[4])


def presigned_url(owner_id: int, image_id: uuid.UUID, *, thumb: bool = False) -> tuple[Image, tuple[str, int] | None]:
    """The owner's image and, when S3_PRESIGN is on and its bytes are in an object store, a short-lived URL to
    them with the seconds it stays valid (else None: serve the bytes). Same checks as image_bytes."""
    image = get_image(owner_id, image_id)
    return image, storage.presigned(image, thumb=thumb)


def export(owner_id: int, image_id: uuid.UUID, fmt: str, size: int | None = None) -> tuple[Image, bytes]:
    """The image as PNG, JPEG or WebP (long side at most `size`), with its prompt and parameters embedded."""
    image, data = image_bytes(owner_id, image_id)
    return image, download(image, data, fmt, size)
