"""Moving image bytes between stores: `python -m imagechat storage migrate --to s3|postgres`.

Image by image: read the bytes from the store its row names and check them against images.sha256; write them
to the target and read them back, checking the sha256 of the image and of its thumbnail; then, in one
transaction with the row locked, point the row at the target (and drop the PostgreSQL payload row when that was
the source). An object-store source copy is deleted only after that commit. So an interrupted run leaves every
image readable where its row says, and running again continues with what is left (rows naming another store).
Images whose bytes do not match their checksum stay where they are and are listed in the summary.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlmodel import select

from imagechat.core import codec, storage
from imagechat.core.errors import ImagechatError, ServiceUnavailable
from imagechat.db import session_scope
from imagechat.models import Image, ImageData

log = logging.getLogger(__name__)

MOVED, FAILED, VANISHED, SKIPPED = "moved", "failed", "vanished", "skipped"


@dataclass
class Summary:
    target: str
    total: int  # images kept elsewhere when the run started
    moved: int = 0
    failed: list[tuple[uuid.UUID, str]] = field(default_factory=list)  # (image, why): left where they were
    vanished: int = 0  # purged (deleted for good) while the run went on
    skipped: int = 0  # moved by someone else meanwhile
    source_copies_left: int = 0  # object-store copies that could not be deleted after the move (unreferenced)
    remaining: int = 0  # still elsewhere when the run ended
    seconds: float = 0.0
    interrupted: bool = False
    error: str | None = None  # why the run stopped early (a store or the database away)

    @property
    def done(self) -> int:
        return self.moved + len(self.failed) + self.vanished + self.skipped


@dataclass
class _Row:
    id: uuid.UUID
    storage: str
    sha256: str
    mime: str
    data_b64: str | None
    thumb_b64: str | None


def pending(target: str) -> int:
    """Images whose bytes are in another store than `target`."""
    with session_scope() as s:
        return s.exec(select(sa.func.count()).select_from(Image).where(Image.storage != target)).one()


def counts() -> dict[str, int]:
    """Images per store."""
    with session_scope() as s:
        return dict(s.exec(select(Image.storage, sa.func.count()).group_by(Image.storage)).all())


def _next_batch(target: str, after: uuid.UUID | None, size: int) -> list[_Row]:
    # Keyset on the primary key; the payload columns are only filled for images kept in PostgreSQL.
    stmt = (select(Image.id, Image.storage, Image.sha256, Image.mime, ImageData.data_b64, ImageData.thumb_b64)
            .outerjoin(ImageData, ImageData.image_id == Image.id)
            .where(Image.storage != target).order_by(Image.id).limit(size))
    if after is not None:
        stmt = stmt.where(Image.id > after)
    with session_scope() as s:
        return [_Row(*row) for row in s.exec(stmt).all()]


class _Mismatch(Exception):
    pass


def _source_bytes(row: _Row) -> tuple[bytes, bytes]:
    if row.storage == storage.POSTGRES and row.data_b64 is not None and row.thumb_b64 is not None:
        data, thumb = codec.from_b64(row.data_b64), codec.from_b64(row.thumb_b64)
    else:
        source = storage.get_store(row.storage)
        data, thumb = source.get(row.id), source.get(row.id, thumb=True)
    if codec.sha256_hex(data) != row.sha256:
        raise _Mismatch(f"its bytes in the {row.storage} store do not match the recorded sha256")
    return data, thumb


def _check_copy(what: str, got: bytes, want_sha: str) -> None:
    if codec.sha256_hex(got) != want_sha:
        raise _Mismatch(f"the {what} read back from the target differs from the source (sha256)")


def _move(row: _Row, target_name: str) -> tuple[str, bool]:
    """One image to `target_name`: (outcome, whether an object-store source copy could not be deleted)."""
    target = storage.get_store(target_name)
    data, thumb = _source_bytes(row)
    thumb_sha = codec.sha256_hex(thumb)
    if target_name != storage.POSTGRES:  # outside the transaction: no row lock waits on the network
        target.put(row.id, data, thumb, mime=row.mime)
        _check_copy("image", target.get(row.id), row.sha256)
        _check_copy("thumbnail", target.get(row.id, thumb=True), thumb_sha)
    with session_scope() as s:
        now = s.exec(select(Image.storage).where(Image.id == row.id).with_for_update()).first()
        if now != row.storage:
            outcome = VANISHED if now is None else SKIPPED
        else:
            if target_name == storage.POSTGRES:  # written and checked in the transaction that switches the row
                target.put(row.id, data, thumb, mime=row.mime, session=s)
                _check_copy("image", target.get(row.id, session=s), row.sha256)
                _check_copy("thumbnail", target.get(row.id, thumb=True, session=s), thumb_sha)
            s.execute(sa.update(Image).where(Image.id == row.id).values(storage=target_name)
                      .execution_options(synchronize_session=False))
            if row.storage == storage.POSTGRES:
                storage.get_store(storage.POSTGRES).delete([row.id], session=s)
            outcome = MOVED
    if outcome == VANISHED and target_name != storage.POSTGRES:
        _forget(target, row.id)  # the image was purged meanwhile: do not leave its new copy behind
    left = False
    if outcome == MOVED and row.storage != storage.POSTGRES:
        left = not _forget(storage.get_store(row.storage), row.id)
    return outcome, left


def _forget(store: storage.ImageStore, image_id: uuid.UUID) -> bool:
    try:
        store.delete([image_id])
        return True
    except ImagechatError:
        log.warning("could not delete the old copy of image %s from the %s store", image_id, store.name)
        return False


def migrate(target: str, *, batch: int = 50, workers: int = 4, limit: int | None = None,
            on_progress: Callable[[Summary], None] | None = None) -> Summary:
    """Move every image kept elsewhere to `target` (at most `limit`). Returns what happened; stops early
    (summary.error) while a store or the database is away, and on KeyboardInterrupt (summary.interrupted):
    running it again continues."""
    if target not in storage.STORES:
        raise ValueError(f"unknown image store {target!r}")
    started = time.monotonic()
    summary = Summary(target=target, total=pending(target))
    if limit is not None:
        summary.total = min(summary.total, limit)
    after: uuid.UUID | None = None
    pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="storage-migrate")
    running: dict[Future, _Row] = {}
    try:
        while summary.error is None and (limit is None or summary.done + len(running) < limit):
            want = batch if limit is None else min(batch, limit - summary.done - len(running))
            rows = _next_batch(target, after, want)
            if not rows:
                break
            after = rows[-1].id
            for row in rows:
                running[pool.submit(_move, row, target)] = row
            while running and summary.error is None:
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    _account(summary, running.pop(future), future)
                if on_progress:
                    on_progress(summary)
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        for future in running:
            future.cancel()
        pool.shutdown(wait=True)
        for future, row in running.items():  # the ones already under way when the run stopped
            if not future.cancelled():
                _account(summary, row, future)
    summary.seconds = time.monotonic() - started
    try:
        summary.remaining = pending(target)
    except ServiceUnavailable:
        summary.remaining = summary.total - summary.moved
    return summary


def _account(summary: Summary, row: _Row, future: Future) -> None:
    try:
        outcome, left = future.result()
    except _Mismatch as exc:
        log.error("storage migrate: image %s stays in the %s store: %s", row.id, row.storage, exc)
        summary.failed.append((row.id, str(exc)))
        return
    except storage.MissingPayload:
        summary.failed.append((row.id, f"its bytes are missing from the {row.storage} store"))
        return
    except ServiceUnavailable as exc:  # an object store or the database away: stop, a later run continues
        summary.error = exc.user_message
        return
    except ImagechatError as exc:  # e.g. a payload that is not valid Base64
        summary.failed.append((row.id, exc.user_message))
        return
    except Exception as exc:
        log.exception("storage migrate: image %s could not be moved", row.id)
        summary.failed.append((row.id, f"unexpected error ({type(exc).__name__}); see the log"))
        return
    if outcome == MOVED:
        summary.moved += 1
    elif outcome == VANISHED:
        summary.vanished += 1
    else:
        summary.skipped += 1
    summary.source_copies_left += left
