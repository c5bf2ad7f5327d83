"""Where image bytes live. Metadata is always in PostgreSQL (models.Image); the bytes of an image and of its WebP
thumbnail are in one of two stores, named per image in `images.storage`:

- "postgres": Base64 TEXT in image_data (the default; nothing else to run);
- "s3": an S3-compatible bucket (AWS S3, Cloudflare R2, MinIO, SeaweedFS), keys S3_PREFIX<id> and
  S3_PREFIX<id>.thumb.webp, written once and never changed.

IMAGE_STORE picks the store of new images. Every reader and writer goes through `get_store(name)` (or `read`);
only this module knows keys, clients and Base64. A store that cannot be reached raises StorageUnavailable (reads
answer 503, a job's store step is retried); bytes that should be there and are not raise MissingPayload, a
NotFound (the image answers 404 and the log says which).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlmodel import Session, select

from imagechat.core import codec
from imagechat.core.errors import NotFound, StorageUnavailable
from imagechat.db import session_scope
from imagechat.models import Image, ImageData
from imagechat.settings import Settings, get_settings

log = logging.getLogger(__name__)

POSTGRES, S3 = "postgres", "s3"
STORES = (POSTGRES, S3)
UNREACHABLE = "The image store can't be reached right now. Try again in a minute."
MISSING = "That image's file is missing from the image store."
# Stored objects never change: a browser that fetched one (through a presigned URL) may keep it.
OBJECT_CACHE_CONTROL = "private, max-age=31536000, immutable"
S3_ATTEMPTS = 3  # one request and two retries (botocore's "standard" mode: backoff with jitter)
DELETE_CHUNK = 1000  # the most keys one DeleteObjects call takes
PARALLEL_READS = 8


class MissingPayload(NotFound):
    """The image's row names a store that does not hold its bytes."""


class ImageStore(ABC):
    """The bytes of images, keyed by image id: the full image (in its stored format) and its WebP thumbnail."""

    name: str

    @abstractmethod
    def put(self, image_id: uuid.UUID, data: bytes, thumb: bytes, *, mime: str,
            session: Session | None = None) -> None:
        """Store (or replace) both. With `session`, a transactional store writes in the caller's transaction."""

    @abstractmethod
    def get(self, image_id: uuid.UUID, *, thumb: bool = False, session: Session | None = None) -> bytes:
        """The bytes, or MissingPayload."""

    @abstractmethod
    def delete(self, image_ids: Sequence[uuid.UUID], *, session: Session | None = None) -> None:
        """Remove both copies of each; ids holding nothing are ignored."""

    @abstractmethod
    def exists(self, image_id: uuid.UUID, *, session: Session | None = None) -> bool:
        """Whether the full image is there."""

    def presign(self, image_id: uuid.UUID, *, thumb: bool = False) -> tuple[str, int] | None:
        """(a short-lived URL a browser can fetch the bytes from, seconds it stays valid), or None when this
        store cannot hand out URLs."""
        return None


# ---------------------------------------------------------------- PostgreSQL


def _in_session(session: Session | None, work: Callable[[Session], Any]) -> Any:
    if session is not None:
        return work(session)
    with session_scope() as s:
        return work(s)


class PostgresStore(ImageStore):
    """Base64 TEXT in image_data: written in the caller's transaction when it passes its session, so an image
    row and its bytes commit together."""

    name = POSTGRES
    _table = ImageData.__table__

    def put(self, image_id, data, thumb, *, mime, session=None):
        stmt = pg_insert(self._table).values(image_id=image_id, data_b64=codec.to_b64(data),
                                             thumb_b64=codec.to_b64(thumb))
        stmt = stmt.on_conflict_do_update(index_elements=[self._table.c.image_id],
                                          set_={"data_b64": stmt.excluded.data_b64,
                                                "thumb_b64": stmt.excluded.thumb_b64})
        _in_session(session, lambda s: s.execute(stmt))

    def get(self, image_id, *, thumb=False, session=None):
        column = ImageData.thumb_b64 if thumb else ImageData.data_b64
        text = _in_session(session, lambda s: s.exec(select(column).where(ImageData.image_id == image_id)).first())
        if text is None:
            raise MissingPayload(MISSING)
        return codec.from_b64(text)

    def delete(self, image_ids, *, session=None):
        if image_ids:
            _in_session(session, lambda s: s.execute(sa.delete(ImageData).where(ImageData.image_id.in_(image_ids))
                                                     .execution_options(synchronize_session=False)))

    def exists(self, image_id, *, session=None):
        return _in_session(session, lambda s: s.exec(select(ImageData.image_id)
                                                     .where(ImageData.image_id == image_id)).first()) is not None


# ---------------------------------------------------------------- S3-compatible object stores


def _client(settings: Settings, endpoint_url: str | None):
    """A boto3 S3 client (thread-safe; its connection pool is shared by the process's threads)."""
    import boto3
    from botocore.config import Config

    key, secret = settings.s3_access_key_id, settings.s3_secret_access_key
    return boto3.session.Session().client(
        "s3", endpoint_url=endpoint_url or None, region_name=settings.s3_region or None,
        aws_access_key_id=key.get_secret_value() if key else None,
        aws_secret_access_key=secret.get_secret_value() if secret else None,
        config=Config(signature_version="s3v4", s3={"addressing_style": settings.s3_addressing_style},
                      retries={"mode": "standard", "max_attempts": S3_ATTEMPTS},
                      connect_timeout=settings.s3_timeout_s, read_timeout=settings.s3_timeout_s,
                      max_pool_connections=32))


class _UrlCache:
    """Presigned URLs reused for half their lifetime: the same <img> gets the same URL, so the browser's cache
    (objects are immutable) keeps working across page loads. Bounded, least recently used dropped first."""

    def __init__(self, max_entries: int = 20_000):
        self._urls: OrderedDict[tuple, tuple[str, float]] = OrderedDict()
        self._lock = threading.Lock()
        self._max = max_entries

    def get_or_make(self, key: tuple, lifetime_s: int, make: Callable[[], str]) -> tuple[str, int]:
        now = time.monotonic()
        with self._lock:
            found = self._urls.get(key)
            if found is not None and now - found[1] < lifetime_s / 2:
                self._urls.move_to_end(key)
                return found[0], int(lifetime_s - (now - found[1]))
        url = make()
        with self._lock:
            self._urls[key] = (url, now)
            self._urls.move_to_end(key)
            while len(self._urls) > self._max:
                self._urls.popitem(last=False)
        return url, lifetime_s


class S3Store(ImageStore):
    name = S3

    def __init__(self, settings: Settings):
        self.bucket, self.prefix, self.endpoint = settings.s3_bucket, settings.s3_prefix, settings.s3_endpoint_url
        self.presign_seconds = settings.s3_presign_seconds
        self.client = _client(settings, settings.s3_endpoint_url)
        public = settings.s3_presign_endpoint_url
        self._presigner = _client(settings, public) if public and public != settings.s3_endpoint_url else self.client
        self._urls = _UrlCache()

    def key(self, image_id: uuid.UUID, *, thumb: bool = False) -> str:
        return f"{self.prefix}{image_id}{'.thumb.webp' if thumb else ''}"

    @contextmanager
    def _calls(self, action: str) -> Iterator[None]:
        """botocore's errors as ours: not there -> MissingPayload; anything else -> StorageUnavailable (with a
        log line for the operator that never includes credentials)."""
        from botocore.exceptions import BotoCoreError, ClientError
        from urllib3.exceptions import HTTPError

        try:
            yield
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            if code in ("NoSuchKey", "404", "NotFound"):
                raise MissingPayload(MISSING) from None
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            log.error("object store refused %s in bucket %s: %s (HTTP %s) %s", action, self.bucket, code, status,
                      str(error.get("Message", ""))[:200])
            raise StorageUnavailable(UNREACHABLE) from None
        except (BotoCoreError, HTTPError) as exc:
            log.warning("object store unreachable during %s (bucket %s): %s: %s", action, self.bucket,
                        type(exc).__name__, str(exc)[:200])
            raise StorageUnavailable(UNREACHABLE) from None

    def put(self, image_id, data, thumb, *, mime, session=None):
        with self._calls("put"):
            for key, body, content_type in ((self.key(image_id), data, mime),
                                            (self.key(image_id, thumb=True), thumb, "image/webp")):
                self.client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type,
                                       CacheControl=OBJECT_CACHE_CONTROL,
                                       Metadata={"sha256": codec.sha256_hex(body)})

    def get(self, image_id, *, thumb=False, session=None):
        with self._calls("get"):
            return self.client.get_object(Bucket=self.bucket, Key=self.key(image_id, thumb=thumb))["Body"].read()

    def delete(self, image_ids, *, session=None):
        keys = [k for i in image_ids for k in (self.key(i), self.key(i, thumb=True))]
        for start in range(0, len(keys), DELETE_CHUNK):
            with self._calls("delete"):
                answer = self.client.delete_objects(Bucket=self.bucket, Delete={
                    "Objects": [{"Key": k} for k in keys[start:start + DELETE_CHUNK]], "Quiet": True})
            failed = [e for e in answer.get("Errors", []) if e.get("Code") != "NoSuchKey"]
            if failed:
                log.error("object store kept %d object(s) it was asked to delete (bucket %s): %s", len(failed),
                          self.bucket, failed[0].get("Code"))
                raise StorageUnavailable(UNREACHABLE)

    def exists(self, image_id, *, session=None):
        try:
            with self._calls("head"):
                self.client.head_object(Bucket=self.bucket, Key=self.key(image_id))
        except MissingPayload:
            return False
        return True

    def check(self) -> None:
        """StorageUnavailable with an explanation for the operator unless the bucket answers (command line)."""
        from botocore.exceptions import BotoCoreError, ClientError

        where = f"bucket {self.bucket!r} at {self.endpoint or 'AWS S3'}"
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if status == 404 or code in ("NoSuchBucket", "404"):
                raise StorageUnavailable(f"The {where} does not exist: create it first (S3_BUCKET).") from None
            if status in (401, 403):
                raise StorageUnavailable(f"The store refused access to the {where}: check S3_ACCESS_KEY_ID, "
                                         "S3_SECRET_ACCESS_KEY and the key's permissions.") from None
            raise StorageUnavailable(f"The {where} answered {code or status}.") from None
        except BotoCoreError as exc:
            raise StorageUnavailable(f"Cannot reach the {where}: {exc}") from None

    def presign(self, image_id, *, thumb=False):
        key = self.key(image_id, thumb=thumb)
        with self._calls("presign"):
            return self._urls.get_or_make(
                (key,), self.presign_seconds,
                lambda: self._presigner.generate_presigned_url("get_object", Params={"Bucket": self.bucket, "Key": key},
                                                               ExpiresIn=self.presign_seconds))


# ---------------------------------------------------------------- choosing a store

_postgres = PostgresStore()
_s3: tuple[Settings, S3Store] | None = None
_s3_lock = threading.Lock()


def get_store(name: str) -> ImageStore:
    """The store called `name` (an images.storage value), configured from the current settings."""
    global _s3
    if name == POSTGRES:
        return _postgres
    if name != S3:
        raise ValueError(f"unknown image store {name!r}")
    settings = get_settings()
    with _s3_lock:
        if _s3 is None or _s3[0] is not settings:  # settings reloaded (tests): a client for the new ones
            _s3 = (settings, S3Store(settings))
        return _s3[1]


def configured() -> ImageStore:
    """Where new images go (IMAGE_STORE)."""
    return get_store(get_settings().image_store)


def _current_store(image_id: uuid.UUID) -> str | None:
    with session_scope() as s:
        return s.exec(select(Image.storage).where(Image.id == image_id)).first()


def read(image_id: uuid.UUID, store_name: str, *, thumb: bool = False, inline_b64: str | None = None) -> bytes:
    """The bytes of an image whose row names `store_name`. `inline_b64` is image_data's column when the caller's
    query joined it already (a PostgreSQL image then needs no second query).

    `storage migrate` may move the image between the caller's query and this read: a miss looks once more."""
    if store_name == POSTGRES and inline_b64 is not None:
        return codec.from_b64(inline_b64)
    try:
        return get_store(store_name).get(image_id, thumb=thumb)
    except MissingPayload:
        now = _current_store(image_id)
        if now is None or now == store_name:
            if now is not None:
                log.error("image %s: its bytes are missing from the %s store", image_id, store_name)
            raise
        return get_store(now).get(image_id, thumb=thumb)


_pool: ThreadPoolExecutor | None = None


def read_many(items: Sequence[tuple[uuid.UUID, str, str | None]], *, thumb: bool = False) -> list[bytes]:
    """read() of several (image id, store name, inline Base64) at once, in order; object-store reads overlap."""
    global _pool
    remote = [n for n, (_, store_name, inline) in enumerate(items) if not (store_name == POSTGRES and inline)]
    if len(remote) < 2:
        return [read(i, name, thumb=thumb, inline_b64=inline) for i, name, inline in items]
    if _pool is None:
        with _s3_lock:
            _pool = _pool or ThreadPoolExecutor(max_workers=PARALLEL_READS, thread_name_prefix="image-store")
    futures = {n: _pool.submit(read, items[n][0], items[n][1], thumb=thumb) for n in remote}
    return [futures[n].result() if n in futures else codec.from_b64(items[n][2]) for n in range(len(items))]


def presign_origin() -> str | None:
    """The origin (scheme://host[:port]) presigned URLs point at when S3_PRESIGN is on, for the page's
    Content-Security-Policy img-src; None otherwise."""
    if not get_settings().s3_presign:
        return None
    try:
        url, _ = get_store(S3).presign(uuid.UUID(int=0))
    except (StorageUnavailable, ValueError):
        log.warning("S3_PRESIGN is on but no presigned URL can be made (check the S3_* settings): the pages' "
                    "Content-Security-Policy does not name the store")
        return None
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def presigned(image: Image, *, thumb: bool = False) -> tuple[str, int] | None:
    """(URL, seconds valid) for the image's bytes when S3_PRESIGN is on and its store can presign; else None.
    Callers hand it only to the image's owner, after their own checks."""
    if not get_settings().s3_presign or image.storage == POSTGRES:
        return None
    return get_store(image.storage).presign(image.id, thumb=thumb)
