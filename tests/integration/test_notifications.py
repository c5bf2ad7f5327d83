"""core/notifications: finished_since lists the jobs of one owner that ended after a moment, with their
conversation, oldest first, never another user's, never a job still running; news, a tab's watcher tick, asks it
only when the owner's counter of ended jobs moved, at least every BACKSTOP_S, and on every tick while Redis is away."""

from __future__ import annotations

from datetime import timedelta

import pytest
from redis.exceptions import RedisError

from imagechat.core import conversations, jobs, notifications
from imagechat.core.errors import ServiceUnavailable
from imagechat.core.request import ImageRequest
from imagechat.db import session_scope
from imagechat.models import GenerationJob, utcnow


def _job(owner: int, status: str, finished_ago_s: float | None, conversation_id: int | None = None) -> str:
    now = utcnow()
    with session_scope() as s:
        job = GenerationJob(owner_id=owner, engine="offline", prompt=f"a {status} kite", status=status,
                            conversation_id=conversation_id, created_at=now - timedelta(minutes=5),
                            finished_at=None if finished_ago_s is None else now - timedelta(seconds=finished_ago_s))
        s.add(job)
        s.flush()
        return str(job.id)


def test_finished_since_lists_your_jobs_that_ended_after_the_moment(make_user):
    owner, other = make_user(), make_user()
    conv = conversations.create(owner)
    conversations.add_message(owner, conv.id, "user", "draw kites")
    _job(owner, "succeeded", 120)  # before the moment
    failed = _job(owner, "failed", 20, conv.id)
    done = _job(owner, "succeeded", 5)
    _job(owner, "running", None)
    _job(other, "succeeded", 5)
    found = notifications.finished_since(owner, utcnow() - timedelta(seconds=60))
    assert [f.job_id for f in found] == [failed, done]  # oldest first
    assert (found[0].conversation_id, found[0].conversation_title, found[0].status) == (conv.id, "draw kites", "failed")
    assert (found[1].conversation_id, found[1].conversation_title) == (0, "")
    assert notifications.finished_since(owner, found[-1].finished_at) == []  # told once


# ---- news(): the watcher's tick asks PostgreSQL only when the owner's counter of ended jobs moved


@pytest.fixture
def counted(monkeypatch):
    """Counts finished_since's queries (the real query still runs)."""
    calls = []
    real = notifications.finished_since

    def counting(owner, since):
        calls.append(owner)
        return real(owner, since)

    monkeypatch.setattr(notifications, "finished_since", counting)
    return calls


async def test_news_queries_only_when_a_job_ended_or_the_backstop_is_due(make_user, private_namespace, counted):
    private_namespace()
    owner = make_user()
    cursor = notifications.Cursor(since=utcnow() - timedelta(seconds=1))
    assert await notifications.news(owner, cursor) == [] and len(counted) == 1  # the first tick asks
    assert await notifications.news(owner, cursor) == [] and len(counted) == 1  # nothing ended: no query

    queued = jobs.submit(owner, ImageRequest(prompt="a paper kite", width=256, height=256))
    assert jobs.cancel(owner, queued)  # an end through the domain bumps the counter
    found = await notifications.news(owner, cursor)
    assert [f.job_id for f in found] == [str(queued)] and len(counted) == 2
    assert await notifications.news(owner, cursor) == [] and len(counted) == 2  # told once, no new query

    silent = _job(owner, "succeeded", 0)  # an end whose bump was lost (Redis away at that moment)
    assert await notifications.news(owner, cursor) == [] and len(counted) == 2
    cursor.queried_at -= notifications.BACKSTOP_S  # the backstop is due
    assert [f.job_id for f in await notifications.news(owner, cursor)] == [silent] and len(counted) == 3


async def test_news_asks_the_database_on_every_tick_while_redis_is_away(make_user, monkeypatch, counted):
    owner = make_user()
    cursor = notifications.Cursor(since=utcnow() - timedelta(seconds=1))

    async def away(owner_id):
        raise RedisError("Connection refused")

    monkeypatch.setattr(notifications, "ended_marker", away)
    done = _job(owner, "failed", 0)
    assert [f.job_id for f in await notifications.news(owner, cursor)] == [done]
    assert await notifications.news(owner, cursor) == [] and len(counted) == 2


async def test_news_keeps_its_place_when_the_database_fails(make_user, monkeypatch):
    owner = make_user()
    cursor = notifications.Cursor(since=utcnow() - timedelta(seconds=1))
    done = _job(owner, "succeeded", 0)
    real = notifications.finished_since

    def broken(owner_id, since):
        raise ServiceUnavailable("The database is not answering.")

    monkeypatch.setattr(notifications, "finished_since", broken)
    with pytest.raises(ServiceUnavailable):
        await notifications.news(owner, cursor)
    monkeypatch.setattr(notifications, "finished_since", real)
    assert [f.job_id for f in await notifications.news(owner, cursor)] == [done]  # asked again, from the same moment
