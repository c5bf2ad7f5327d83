"""Recovery after faults: PostgreSQL is the truth, and every accepted job must end.

`reconcile()` runs every few seconds in every worker process (one at a time, by a PostgreSQL
try-lock) and repairs what crashes leave behind:
- running jobs whose worker stopped sending heartbeats: back on the queue (or failed when out of attempts);
- queued jobs whose message is gone (Redis restarted without its data, an enqueue that failed): back in line;
- held jobs of users with free slots: admitted (a finishing worker normally does this);
- reservations of jobs that ended while nobody could settle them: charged when the engine may have
  been called (it bills what it received), else released; chat-model reservations of a dead process: charged.
Claiming a job is idempotent, so a duplicate message that this may create is harmless.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import text
from sqlmodel import select

from imagechat.core import admission, limits, progress, queue
from imagechat.core.jobs import fail, requeue
from imagechat.core.progress import ProgressEvent
from imagechat.db import session_scope
from imagechat.models import TERMINAL, GenerationJob, JobStatus, LedgerStatus, UsageEntry, utcnow
from imagechat.settings import get_settings

log = logging.getLogger(__name__)

_LOCK_KEY = 0x1A9EC4A8
LOST_GRACE_S = 10  # a message is enqueued right after its job is marked queued: give it time to appear
BACK_IN_LINE = "Back in line after the queue restarted"
CHAT_ORPHAN_AFTER = timedelta(minutes=15)  # far longer than any chat-model call with its retries


@dataclass
class Repairs:
    stale: int = 0
    lost: int = 0
    admitted: int = 0
    settled: int = 0

    def __bool__(self) -> bool:
        return bool(self.stale or self.lost or self.admitted or self.settled)


def reconcile() -> Repairs:
    """One pass; a no-op when another process is reconciling right now."""
    repairs = Repairs()
    with session_scope() as s:
        if not s.execute(text("SELECT pg_try_advisory_lock(:k)").bindparams(k=_LOCK_KEY)).scalar():
            return repairs
        try:
            repairs.stale = _requeue_stale_running()
            repairs.lost = _put_lost_jobs_back_in_line()
            repairs.admitted = _admit_held()
            repairs.settled = _settle_orphan_reservations()
        finally:
            s.execute(text("SELECT pg_advisory_unlock(:k)").bindparams(k=_LOCK_KEY))
    if repairs:
        log.warning("recovery: %s", repairs)
    return repairs


def _requeue_stale_running() -> int:
    settings = get_settings()
    cutoff = utcnow() - timedelta(seconds=settings.job_stale_after_s)
    with session_scope() as s:
        stale = s.exec(select(GenerationJob.id, GenerationJob.attempts)
                       .where(GenerationJob.status == JobStatus.RUNNING, GenerationJob.heartbeat_at < cutoff)).all()
    for job_id, attempts in stale:
        if attempts >= settings.job_max_attempts:
            fail(job_id, "The worker stopped while making this image, too many times. Try again.", "worker_lost",
                 attempt=attempts)
        else:
            requeue(job_id, stage="Restarting after a worker stopped", delay_s=0, attempt=attempts)
    return len(stale)


def _put_lost_jobs_back_in_line() -> int:
    cutoff = utcnow() - timedelta(seconds=LOST_GRACE_S)
    with session_scope() as s:
        candidates = s.exec(select(GenerationJob.id).where(GenerationJob.status == JobStatus.QUEUED,
                                                           GenerationJob.heartbeat_at < cutoff)).all()
    if not candidates:
        return 0
    live = queue.live_job_ids()
    lost = [job_id for job_id in candidates if str(job_id) not in live]
    for job_id in lost:
        with session_scope() as s:  # held again; _admit_held gives it a new message
            job = s.exec(select(GenerationJob).where(GenerationJob.id == job_id).with_for_update()).first()
            if job is None or job.status != JobStatus.QUEUED:
                continue
            job.heartbeat_at, job.stage = None, BACK_IN_LINE
            s.add(job)
        progress.publish(ProgressEvent(job_id=str(job_id), status=JobStatus.QUEUED, stage=BACK_IN_LINE))
    return len(lost)


def _admit_held() -> int:
    with session_scope() as s:
        owners = s.exec(select(GenerationJob.owner_id).distinct().where(admission.HELD_BACK)).all()
    return sum(len(admission.admit(owner)) for owner in owners)


def _settle_orphan_reservations() -> int:
    now = utcnow()
    job_cutoff = now - timedelta(seconds=get_settings().job_stale_after_s)
    settled = 0
    with session_scope() as s:
        rows = s.exec(
            select(UsageEntry, GenerationJob)
            .join(GenerationJob, GenerationJob.id == UsageEntry.job_id, isouter=True)
            .where(UsageEntry.status == LedgerStatus.RESERVED, UsageEntry.created_at < job_cutoff)
            .with_for_update(of=UsageEntry, skip_locked=True)
        ).all()
        for entry, job in rows:
            if job is not None and (job.status not in TERMINAL or job.finished_at > job_cutoff):
                continue  # its worker settles it (a cancelled job's worker is still stopping the engine)
            if job is None and entry.created_at > now - CHAT_ORPHAN_AFTER:
                continue  # a chat-model call may still be streaming
            if job is not None and job.started_at is None:
                limits.release(s, job.id)  # never reached an engine
            elif job is not None:
                limits.charge_reservation(s, job.id, why="ended while no worker could settle it")
            else:
                limits.charge_entry(s, entry, why="the process making the call stopped")
            settled += 1
    return settled
