"""Live previews of running jobs: the newest one per job, kept in Redis for an hour (never in PostgreSQL).

The first NUMBERED previews of a job are also kept by number for a few minutes (a hash per job), so the
OpenAI-compatible API's stream can send each of them as a partial image (OpenAI streams at most 3) even when newer
previews, or the end of the job, came before it got to them."""

from __future__ import annotations

from imagechat.core import codec
from imagechat.core.redis_client import client, key

PREVIEW_TTL_S = 3600
PREVIEW_PX = 512
NUMBERED = 3
NUMBERED_TTL_S = 300


def _key(job_id: str) -> str:
    return key("preview", job_id)


def _numbered_key(job_id: str) -> str:
    return key("preview-n", job_id)


def store(job_id: str, data: bytes, number: int | None = None) -> None:
    """Keep a small WebP of the engine's intermediate image as the job's current preview (and, for the first
    NUMBERED, under its number: 1, 2, ...)."""
    small = codec.thumbnail(data, max_px=PREVIEW_PX, quality=70)
    pipe = client().pipeline()
    pipe.set(_key(job_id), small, ex=PREVIEW_TTL_S)
    if number is not None and 1 <= number <= NUMBERED:
        pipe.hset(_numbered_key(job_id), str(number), small)
        pipe.expire(_numbered_key(job_id), NUMBERED_TTL_S)
    pipe.execute()


def get(job_id: str) -> bytes | None:
    return client().get(_key(job_id))


def get_numbered(job_id: str, number: int) -> bytes | None:
    """The job's preview number `number` (1-based), while it is kept; None otherwise."""
    return client().hget(_numbered_key(job_id), str(number))


def forget(job_id: str) -> None:
    """Drop the job's preview (cancelled, or finished: the stored image replaces it)."""
    client().delete(_key(job_id))
