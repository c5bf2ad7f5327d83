"""Live previews of running jobs: the newest one per job, kept in Redis for an hour (never in PostgreSQL)."""

from __future__ import annotations

from imagechat.core import codec
from imagechat.core.redis_client import client, key

PREVIEW_TTL_S = 3600
PREVIEW_PX = 512


def _key(job_id: str) -> str:
    return key("preview", job_id)


def store(job_id: str, data: bytes) -> None:
    """Keep a small WebP of the engine's intermediate image as the job's current preview."""
    small = codec.thumbnail(data, max_px=PREVIEW_PX, quality=70)
    client().set(_key(job_id), small, ex=PREVIEW_TTL_S)


def get(job_id: str) -> bytes | None:
    return client().get(_key(job_id))


def forget(job_id: str) -> None:
    """Drop the job's preview (cancelled, or finished: the stored image replaces it)."""
    client().delete(_key(job_id))
