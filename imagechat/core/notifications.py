"""Which of a user's jobs ended since a moment: what an open tab tells its user about (state/session.py's
watcher asks every SESSION_CHECK_S). PostgreSQL is the truth, so a job that ended while a tab reconnected, or
one that recovery finished, is never missed; the query reads one owner's recent jobs through an index."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import select

from imagechat.db import session_scope
from imagechat.models import TERMINAL, Conversation, GenerationJob
from imagechat.settings import get_settings

MAX_EVENTS = 20  # per check: a tab that slept through more shows the newest


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
