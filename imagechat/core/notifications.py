"""Which of a user's jobs ended since a moment: what an open tab tells its user about (state/session.py's
watcher looks every SESSION_CHECK_S). PostgreSQL is the truth, so a job that ended while a tab reconnected, or
one that recovery finished, is never missed; the query reads one owner's recent jobs through an index.

Asking PostgreSQL on every tick of every open tab is wasted work while nothing ends, so each end of a job also
bumps a per-user counter in Redis (`mark_ended`, after the commit): a watcher queries only when the counter moved
since its last query, or BACKSTOP_S after it (an end whose bump was lost to a Redis outage is still told)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from redis.exceptions import RedisError
from sqlmodel import select

from imagechat.core import redis_client
from imagechat.db import session_scope
from imagechat.models import TERMINAL, Conversation, GenerationJob
from imagechat.settings import get_settings

MAX_EVENTS = 20  # per check: a tab that slept through more shows the newest
BACKSTOP_S = 60.0  # a watcher queries at least this often whatever the counter says
MARKER_TTL_S = 86400  # an idle user's counter goes; a missing one reads as a change to whoever saw a number


def _marker_key(owner_id: int) -> str:
    return redis_client.key("jobs-ended", str(owner_id))


def mark_ended(owner_id: int) -> None:
    """A job of the owner reached its end (call after the commit). Raises RedisError when Redis is away."""
    pipe = redis_client.client().pipeline()
    pipe.incr(_marker_key(owner_id))
    pipe.expire(_marker_key(owner_id), MARKER_TTL_S)
    pipe.execute()


async def ended_marker(owner_id: int) -> bytes | None:
    """The owner's counter of ended jobs as it stands (read it before querying `finished_since`, so an end
    between the two is queried again on the next tick). Raises RedisError when Redis is away."""
    return await redis_client.loop_client().get(_marker_key(owner_id))


@dataclass(frozen=True)
class Finished:
    job_id: str
    conversation_id: int  # 0: not made in a conversation
    conversation_title: str
    status: str  # succeeded | failed | cancelled
    prompt: str
    finished_at: datetime


def finished_since(owner_id: int, since: datetime) -> list[Finished]:
    """The owner's jobs that reached an end after `since`, oldest first (at most MAX_EVENTS, the newest)."""
    settings = get_settings()
    # A job ends within its time limit per attempt (plus queueing); older rows are not looked at.
    oldest = since - timedelta(seconds=settings.job_time_limit_s * settings.job_max_attempts) - timedelta(days=1)
    with session_scope() as s:
        rows = s.exec(
            select(GenerationJob.id, GenerationJob.conversation_id, GenerationJob.status, GenerationJob.prompt,
                   GenerationJob.finished_at, Conversation.title)
            .join(Conversation, Conversation.id == GenerationJob.conversation_id, isouter=True)
            .where(GenerationJob.owner_id == owner_id, GenerationJob.created_at >= oldest,
                   GenerationJob.finished_at > since, GenerationJob.status.in_(TERMINAL))
            .order_by(GenerationJob.finished_at.desc()).limit(MAX_EVENTS)
        ).all()
    return [Finished(str(job_id), conversation_id or 0, title or "", status, prompt, finished_at)
            for job_id, conversation_id, status, prompt, finished_at, title in reversed(rows)]


_UNKNOWN = object()  # the counter could not be read: the next read that works differs from it


@dataclass
class Cursor:
    """One watcher's place: jobs that ended after `since` are still to be told; `marker` is the counter its last
    query went with, `queried_at` (time.monotonic) when."""
    since: datetime
    marker: object = _UNKNOWN
    queried_at: float = float("-inf")


async def news(owner_id: int, cursor: Cursor) -> list[Finished]:
    """The owner's jobs that ended since the cursor, oldest first, moving it past them; [] without a query while
    the counter has not moved (and the backstop is not due). Raises what the database raises (the cursor stays
    where it was, so the next call asks again)."""
    try:
        marker = await ended_marker(owner_id)  # before the query: an end after this read is seen next time
    except RedisError:
        marker = _UNKNOWN
    now = time.monotonic()
    if marker is not _UNKNOWN and marker == cursor.marker and now - cursor.queried_at < BACKSTOP_S:
        return []
    done = await asyncio.to_thread(finished_since, owner_id, cursor.since)
    cursor.marker, cursor.queried_at = marker, now
    if done:
        cursor.since = done[-1].finished_at
    return done
