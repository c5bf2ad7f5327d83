"""Fair use of the workers: each user has at most `max_jobs_in_flight_per_user` jobs on the queue or
running; the rest wait in PostgreSQL ("held") and are admitted one by one as the user's jobs end.

So one user's 40 requests never stand between another user's new request and the next free worker:
the queue holds at most a few jobs per user. A queued job's `heartbeat_at` says when it was put on
the queue; NULL means held."""

from __future__ import annotations

import logging
import uuid

from sqlalchemy import func, text
from sqlmodel import Session, select

from imagechat.core import progress, queue
from imagechat.core.progress import ProgressEvent
from imagechat.db import session_scope
from imagechat.models import GenerationJob, JobStatus, utcnow
from imagechat.settings import get_settings

log = logging.getLogger(__name__)

_ADMIT_LOCK_KEY = 0x1A9EC4A9
WAITING = "Waiting for a worker"
HELD = "Waiting for your other images to finish"
# A queued job is either on the queue (admitted: heartbeat_at says since when) or held in PostgreSQL.
ADMITTED = (GenerationJob.status == JobStatus.QUEUED) & GenerationJob.heartbeat_at.is_not(None)
HELD_BACK = (GenerationJob.status == JobStatus.QUEUED) & GenerationJob.heartbeat_at.is_(None)


def in_flight(session: Session, owner_id: int) -> int:
    """The owner's jobs on the queue or running."""
    return int(session.exec(
        select(func.count()).select_from(GenerationJob).where(
            GenerationJob.owner_id == owner_id,
            (GenerationJob.status == JobStatus.RUNNING) | ADMITTED)
    ).one())


def admit(owner_id: int) -> list[uuid.UUID]:
    """Put the owner's oldest held jobs on the queue while they have free slots; returns those jobs."""
    with session_scope() as s:
        admitted = mark_admitted(s, owner_id)
    enqueue(admitted, owner_id)
    return admitted


def mark_admitted(session: Session, owner_id: int) -> list[uuid.UUID]:
    """In the caller's transaction: mark the owner's oldest held jobs as queued, up to the free slots.
    The caller enqueues them (`enqueue`) once the transaction has committed."""
    cap = get_settings().max_jobs_in_flight_per_user
    # One admission per user at a time, so two finishing jobs cannot both fill the last slot.
    session.execute(text("SELECT pg_advisory_xact_lock(:k, :owner)").bindparams(k=_ADMIT_LOCK_KEY, owner=owner_id))
    free = cap - in_flight(session, owner_id)
    if free <= 0:
        return []
    held = session.exec(
        select(GenerationJob)
        .where(GenerationJob.owner_id == owner_id, HELD_BACK)
        .order_by(GenerationJob.created_at).limit(free).with_for_update(skip_locked=True)
    ).all()
    now = utcnow()
    for job in held:
        job.heartbeat_at, job.stage = now, WAITING
        session.add(job)
    return [job.id for job in held]


def enqueue(job_ids: list[uuid.UUID], owner_id: int) -> None:
    """A failure leaves a job marked as queued without a message: recovery.reconcile puts it back in
    line, and claiming is idempotent, so a duplicate message is harmless."""
    for job_id in job_ids:
        queue.enqueue(job_id)
        log.info("job admitted to the queue", extra={"job_id": str(job_id), "user_id": owner_id})


def queue_position(session: Session, job: GenerationJob) -> int:
    """1 for the next job a free worker takes; held jobs count after every admitted one."""
    admitted_ahead = select(func.count()).select_from(GenerationJob).where(ADMITTED)
    if job.heartbeat_at is not None:
        admitted_ahead = admitted_ahead.where(GenerationJob.heartbeat_at < job.heartbeat_at)
    return int(session.exec(admitted_ahead).one()) + 1


def publish_positions(limit: int = 20) -> None:
    """Tell the admitted jobs still waiting that they moved up (called when a worker takes a job)."""
    with session_scope() as s:
        waiting = s.exec(select(GenerationJob.id).where(ADMITTED)
                         .order_by(GenerationJob.heartbeat_at).limit(limit)).all()
    for position, job_id in enumerate(waiting, start=1):
        progress.publish(ProgressEvent(job_id=str(job_id), status=JobStatus.QUEUED, stage=WAITING,
                                       queue_position=position))
