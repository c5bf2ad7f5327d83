"""recovery.reconcile repairs what faults leave behind (in-process; the fault test kills real processes)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import redis
from sqlmodel import select

from imagechat.core import admission, jobs, progress, queue, recovery
from imagechat.core.request import ImageRequest
from imagechat.db import session_scope
from imagechat.models import GenerationJob, JobStatus, LedgerStatus, UsageEntry, utcnow
from imagechat.settings import get_settings


@pytest.fixture
def no_worker(private_namespace):
    return private_namespace(max_jobs_in_flight_per_user=2, job_stale_after_s=5)


def _submit(owner: int, prompt: str = "a red boat"):
    return jobs.submit(owner, ImageRequest(prompt=prompt, width=256, height=256))


def _update(job_id, **fields) -> None:
    with session_scope() as s:
        job = s.get(GenerationJob, job_id)
        for name, value in fields.items():
            setattr(job, name, value)
        s.add(job)


def _row(job_id) -> GenerationJob:
    with session_scope() as s:
        return s.get(GenerationJob, job_id)


def _ledger(job_id) -> UsageEntry:
    with session_scope() as s:
        return s.exec(select(UsageEntry).where(UsageEntry.job_id == job_id)).one()


def _wipe_queue() -> None:
    """What a Redis restart without persistence does to the queue."""
    settings = get_settings()
    client = redis.Redis.from_url(settings.redis_url)
    for key in client.scan_iter(match=f"{settings.redis_namespace}:images*"):
        client.delete(key)
    client.close()


def test_jobs_whose_messages_vanished_go_back_in_line(no_worker, make_user):
    owner = make_user()
    job_id = _submit(owner)
    _wipe_queue()
    assert str(job_id) not in queue.live_job_ids()
    assert not recovery.reconcile().lost, "within the grace period nothing is touched"

    _update(job_id, heartbeat_at=utcnow() - timedelta(seconds=recovery.LOST_GRACE_S + 1))
    repairs = recovery.reconcile()
    assert (repairs.lost, repairs.admitted) == (1, 1)
    assert str(job_id) in queue.live_job_ids()
    assert _row(job_id).status == JobStatus.QUEUED and _row(job_id).heartbeat_at is not None
    assert progress.latest(str(job_id)).stage in (recovery.BACK_IN_LINE, admission.WAITING)


def test_a_running_job_without_heartbeats_is_requeued(no_worker, make_user):
    owner = make_user()
    job_id = _submit(owner)
    _update(job_id, status=JobStatus.RUNNING, attempts=1, started_at=utcnow(),
            heartbeat_at=utcnow() - timedelta(seconds=30))
    assert recovery.reconcile().stale == 1
    row = _row(job_id)
    assert row.status == JobStatus.QUEUED and row.stage.startswith("Restarting")
    assert _ledger(job_id).status == LedgerStatus.RESERVED  # still owed to the job


def test_out_of_attempts_fails_and_releases(no_worker, make_user):
    owner = make_user()
    job_id = _submit(owner)
    _update(job_id, status=JobStatus.RUNNING, attempts=get_settings().job_max_attempts, started_at=utcnow(),
            heartbeat_at=utcnow() - timedelta(seconds=30))
    recovery.reconcile()
    assert (_row(job_id).status, _row(job_id).error_code) == (JobStatus.FAILED, "worker_lost")
    assert _ledger(job_id).status == LedgerStatus.RELEASED


def test_a_cancelled_jobs_reservation_is_charged_when_its_worker_died(no_worker, make_user):
    owner = make_user()
    job_id = _submit(owner)
    long_ago = utcnow() - timedelta(minutes=5)
    _update(job_id, status=JobStatus.CANCELLED, started_at=long_ago, finished_at=long_ago)
    with session_scope() as s:
        entry = s.exec(select(UsageEntry).where(UsageEntry.job_id == job_id)).one()
        entry.amount_usd, entry.created_at = 0.25, long_ago
        s.add(entry)
    assert recovery.reconcile().settled == 1
    entry = _ledger(job_id)
    assert (entry.status, entry.amount_usd) == (LedgerStatus.CHARGED, 0.25)


def test_a_job_that_never_started_is_released(no_worker, make_user):
    owner = make_user()
    job_id = _submit(owner)
    long_ago = utcnow() - timedelta(minutes=5)
    _update(job_id, status=JobStatus.FAILED, finished_at=long_ago)
    with session_scope() as s:
        entry = s.exec(select(UsageEntry).where(UsageEntry.job_id == job_id)).one()
        entry.created_at = long_ago
        s.add(entry)
    recovery.reconcile()
    assert _ledger(job_id).status == LedgerStatus.RELEASED


def test_only_one_process_reconciles_at_a_time(no_worker, make_user):
    from sqlalchemy import text

    with session_scope() as s:
        s.execute(text("SELECT pg_advisory_lock(:k)").bindparams(k=recovery._LOCK_KEY))
        try:
            owner = make_user()
            job_id = _submit(owner)
            _wipe_queue()
            _update(job_id, heartbeat_at=utcnow() - timedelta(seconds=60))
            assert not recovery.reconcile()
        finally:
            s.execute(text("SELECT pg_advisory_unlock(:k)").bindparams(k=recovery._LOCK_KEY))
    assert recovery.reconcile().lost == 1
