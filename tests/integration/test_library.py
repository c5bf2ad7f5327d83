"""The image library on the real PostgreSQL: owner scoping, bytes and thumbnails, export, listing, search."""

from __future__ import annotations

import io
import uuid
from contextlib import contextmanager

import pytest
from PIL import Image as PILImage
from sqlalchemy import event, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from imagechat.core import codec, gallery, library
from imagechat.core.errors import InvalidImage, NotFound
from imagechat.core.gallery import GalleryQuery
from imagechat.db import get_engine, session_scope
from imagechat.models import GenerationJob, Image, ImageData
from imagechat.settings import get_settings

W, H = 640, 480


def _png(width: int = W, height: int = H, tint: int = 0) -> bytes:
    """A real PNG with a gradient, so encoders and thumbnails have something to work on."""
    im = PILImage.new("RGB", (width, height))
    im.putdata([((x + tint) % 256, (y * 2) % 256, (x + y) % 256) for y in range(height) for x in range(width)])
    out = io.BytesIO()
    im.save(out, format="PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def stored() -> codec.StoredImage:
    return library.prepare(_png())


def _job(owner: int, prompt: str) -> uuid.UUID:
    with session_scope() as s:
        job = GenerationJob(owner_id=owner, engine="offline", prompt=prompt, status="succeeded")
        s.add(job)
        s.flush()
        return job.id


def _store(owner: int, prompt: str, items: list[codec.StoredImage], job_id: uuid.UUID | None = None) -> list[uuid.UUID]:
    job_id = job_id or _job(owner, prompt)
    with session_scope() as s:
        return library.add_images(
            s, owner_id=owner, job_id=job_id, prompt=prompt, style=None, engine="offline", model="offline-test",
            conversation_id=None, parent_image_id=None,
            new_images=[library.NewImage(stored=st, seed=i, revised_prompt=None) for i, st in enumerate(items)])


def _decode(data: bytes) -> tuple[str, tuple[int, int]]:
    with PILImage.open(io.BytesIO(data)) as im:
        im.load()
        return im.format, im.size


@contextmanager
def _sql():
    """Collect every SQL statement sent to the database inside the block."""
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    engine = get_engine()
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_prepare_encodes_in_the_stored_format_with_a_small_thumbnail(database_url, stored):
    """prepare() re-encodes to the configured format, hashes it, and makes a WebP thumbnail of at most thumbnail_px."""
    settings = get_settings()
    assert stored.mime == codec.MIME[settings.stored_format]
    assert (stored.width, stored.height, stored.byte_size) == (W, H, len(stored.data))
    assert stored.sha256 == codec.sha256_hex(stored.data)
    assert _decode(stored.data) == (settings.stored_format.upper(), (W, H))
    assert _decode(stored.thumb) == ("WEBP", (settings.thumbnail_px, settings.thumbnail_px * H // W))


def test_prepare_rejects_what_is_not_an_image(database_url):
    with pytest.raises(InvalidImage) as err:
        library.prepare(b"definitely not a picture")
    assert err.value.code == "not_an_image"


def test_images_are_visible_to_their_owner_only(make_user, stored):
    """get_image, image_bytes and export raise NotFound for another user's id and for an unknown id."""
    owner, other = make_user(), make_user()
    (image_id,) = _store(owner, "a lighthouse on a cliff", [stored])
    image = library.get_image(owner, image_id)
    assert (image.id, image.owner_id, image.prompt, image.width, image.height) == (
        image_id, owner, "a lighthouse on a cliff", W, H)
    calls = [lambda who, iid: library.get_image(who, iid),
             lambda who, iid: library.image_bytes(who, iid),
             lambda who, iid: library.image_bytes(who, iid, thumb=True),
             lambda who, iid: library.export(who, iid, "png")]
    for call in calls:
        for who, iid in ((other, image_id), (owner, uuid.uuid4())):
            with pytest.raises(NotFound):
                call(who, iid)


def test_image_bytes_returns_the_stored_file_or_its_thumbnail(make_user, stored):
    owner = make_user()
    (image_id,) = _store(owner, "a lighthouse at dusk", [stored])
    image, full = library.image_bytes(owner, image_id)
    _, thumb = library.image_bytes(owner, image_id, thumb=True)
    assert image.id == image_id and image.sha256 == codec.sha256_hex(full)
    assert full == stored.data and thumb == stored.thumb
    assert _decode(full)[1] == (W, H)
    assert _decode(thumb)[1] == (get_settings().thumbnail_px, get_settings().thumbnail_px * H // W)


@pytest.mark.parametrize("fmt, pil_format", [("png", "PNG"), ("jpeg", "JPEG"), ("JPG", "JPEG"), ("webp", "WEBP")])
def test_export_converts_at_full_size(make_user, stored, fmt, pil_format):
    owner = make_user()
    (image_id,) = _store(owner, "a field of tulips", [stored])
    image, data = library.export(owner, image_id, fmt)
    assert image.id == image_id
    assert _decode(data) == (pil_format, (W, H))


def test_export_to_an_unknown_format_names_the_choices(make_user, stored):
    owner = make_user()
    (image_id,) = _store(owner, "a field of tulips", [stored])
    with pytest.raises(InvalidImage) as err:
        library.export(owner, image_id, "tiff")
    assert err.value.code == "unsupported_format" and "png" in err.value.user_message


def test_gallery_listing_never_reads_the_base64_table(make_user, stored):
    """Listing and searching send SQL on `images` only; reading bytes (the control) does touch image_data."""
    owner = make_user()
    (image_id,) = _store(owner, "a quiet harbour", [stored])
    with _sql() as listing:
        assert [c.id for c in gallery.page(owner, GalleryQuery()).cards] == [str(image_id)]
        assert [c.id for c in gallery.page(owner, GalleryQuery(text="harbour")).cards] == [str(image_id)]
    with _sql() as reading:
        library.image_bytes(owner, image_id)
    assert listing and not [q for q in listing if "image_data" in q], listing
    assert any("image_data" in q for q in reading), reading


def test_add_images_stores_each_index_once_per_job(make_user, stored):
    """A redelivered job cannot store a second copy: (job_id, index_in_job) is unique and the insert fails."""
    owner = make_user()
    second = library.prepare(_png(tint=90))
    job_id = _job(owner, "two boats")
    first_ids = _store(owner, "two boats", [stored, second], job_id=job_id)
    with pytest.raises(IntegrityError) as err:
        _store(owner, "two boats", [stored, second], job_id=job_id)
    assert "uq_images_job_index" in str(err.value)
    with session_scope() as s:
        rows = s.exec(select(Image).where(Image.job_id == job_id).order_by(Image.index_in_job)).all()
        payloads = s.exec(select(func.count()).select_from(ImageData)
                          .where(ImageData.image_id.in_(first_ids))).one()
    assert [(r.id, r.index_in_job, r.sha256) for r in rows] == [
        (first_ids[0], 0, stored.sha256), (first_ids[1], 1, second.sha256)]
    assert payloads == 2


def test_deleted_images_are_gone_for_every_reader_until_restored(make_user, stored):
    """A soft-deleted image (in its undo window) answers NotFound to get_image, image_bytes (the image
    routes) and export, and leaves list_images; a restore brings it back to all of them."""
    from imagechat.core import organise

    owner = make_user()
    (image_id,) = _store(owner, "a paper lantern", [stored])
    calls = [lambda: library.get_image(owner, image_id), lambda: library.image_bytes(owner, image_id),
             lambda: library.image_bytes(owner, image_id, thumb=True), lambda: library.export(owner, image_id, "png")]
    assert organise.delete_images(owner, [image_id]) == 1
    for call in calls:
        with pytest.raises(NotFound):
            call()
    assert gallery.count(owner, GalleryQuery()) == 0 and gallery.count(owner, GalleryQuery(text="lantern")) == 0
    assert organise.restore_images(owner, [image_id]) == 1
    for call in calls:
        assert call()
    assert [c.id for c in gallery.page(owner, GalleryQuery(text="lantern")).cards] == [str(image_id)]
