"""Stored images: write once per job, read back scoped to the owner."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlmodel import Session, select

from imagechat.core import codec
from imagechat.core.errors import NotFound
from imagechat.core.export import download
from imagechat.db import session_scope
from imagechat.models import Image, ImageData
from imagechat.settings import get_settings


@dataclass
class NewImage:
    """What a job produced, already converted for storage (done outside any transaction)."""

    stored: codec.StoredImage
    seed: int | None
    revised_prompt: str | None


def prepare(data: bytes) -> codec.StoredImage:
    s = get_settings()
    return codec.prepare_for_storage(data, fmt=s.stored_format, quality=s.stored_quality,
                                     thumb_px=s.thumbnail_px, max_pixels=s.max_image_pixels)


def add_images(session: Session, *, owner_id: int, job_id: uuid.UUID, prompt: str, style: str | None,
               engine: str, model: str, conversation_id: int | None, parent_image_id: uuid.UUID | None,
               new_images: list[NewImage]) -> list[uuid.UUID]:
    """Insert metadata + Base64 payload rows in the caller's transaction.

    (job_id, index_in_job) is unique, so a redelivered job can never store a second copy.
    """
    ids = []
    for index, item in enumerate(new_images):
        st = item.stored
        image = Image(owner_id=owner_id, job_id=job_id, index_in_job=index, conversation_id=conversation_id,
                      parent_image_id=parent_image_id, prompt=prompt, revised_prompt=item.revised_prompt,
                      style=style, engine=engine, model=model, seed=item.seed, width=st.width, height=st.height,
                      mime=st.mime, byte_size=st.byte_size, sha256=st.sha256)
        session.add(image)
        session.flush()
        session.add(ImageData(image_id=image.id, data_b64=st.data_b64, thumb_b64=st.thumb_b64))
        ids.append(image.id)
    return ids


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
    with session_scope() as s:
        row = s.exec(
            select(Image, column).join(ImageData, ImageData.image_id == Image.id)
            .where(*_visible(owner_id, image_id))
        ).first()
    if row is None:
        raise NotFound("That image doesn't exist, or it isn't yours.")
    return row[0], codec.from_b64(row[1])


def export(owner_id: int, image_id: uuid.UUID, fmt: str, size: int | None = None) -> tuple[Image, bytes]:
    """The image as PNG, JPEG or WebP (long side at most `size`), with its prompt and parameters embedded."""
    image, data = image_bytes(owner_id, image_id)
    return image, download(image, data, fmt, size)
