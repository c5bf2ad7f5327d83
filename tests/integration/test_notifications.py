"""core/notifications.finished_since: the jobs of one owner that ended after a moment, with their conversation,
oldest first; never another user's, never a job still running."""

from __future__ import annotations

from datetime import timedelta

from imagechat.core import conversations, notifications
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
