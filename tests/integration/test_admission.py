"""Fair scheduling: a per-user cap on jobs in flight, so one user's backlog never delays another user."""

from __future__ import annotations

import asyncio

import pytest
from sqlmodel import select

from imagechat.core import admission, jobs, queue, runner
from imagechat.core.request import ImageRequest
from imagechat.db import session_scope
from imagechat.models import GenerationJob, JobStatus, LedgerStatus, UsageEntry


@pytest.fixture
def no_worker(private_namespace):
    """A queue nobody consumes, with a cap of 2 jobs in flight per user."""
    return private_namespace(max_jobs_in_flight_per_user=2, rate_limit="100/minute")


def _submit(owner: int, prompt: str):
    return jobs.submit(owner, ImageRequest(prompt=prompt, width=256, height=256))


def _row(job_id) -> GenerationJob:
    with session_scope() as s:
        return s.get(GenerationJob, job_id)


def test_a_users_backlog_waits_in_the_database_and_others_go_first(no_worker, make_user):
    alice, bob = make_user(), make_user()
    backlog = [_submit(alice, f"a boat {i}") for i in range(6)]
    on_queue = queue.live_job_ids()
    assert on_queue == {str(j) for j in backlog[:2]}, "only the first two of alice's jobs are queued"
    for job_id in backlog[2:]:
        row = _row(job_id)
        assert (row.status, row.heartbeat_at, row.stage) == (JobStatus.QUEUED, None, admission.HELD)

    bobs = _submit(bob, "a lighthouse")
    assert str(bobs) in queue.live_job_ids(), "bob's job is queued at once, not after alice's backlog"
    with session_scope() as s:
        assert admission.queue_position(s, _row(bobs)) == 3  # behind alice's two admitted jobs only
        assert admission.queue_position(s, _row(backlog[5])) == 4  # held jobs come after every admitted one


def test_a_finished_job_admits_the_owners_next_one(no_worker, make_user):
    alice = make_user()
    first, second, third = (_submit(alice, f"a fox {i}") for i in range(3))
    assert _row(third).heartbeat_at is None
    asyncio.run(runner.run_job(str(first)))  # in-process, as a worker would
    assert _row(first).status == JobStatus.SUCCEEDED
    assert _row(third).heartbeat_at is not None and str(third) in queue.live_job_ids()


def test_cancelling_a_held_job_releases_it_and_keeps_the_slots(no_worker, make_user):
    alice = make_user()
    ids = [_submit(alice, f"a tree {i}") for i in range(3)]
    assert jobs.cancel(alice, ids[2]) is True
    with session_scope() as s:
        entry = s.exec(select(UsageEntry).where(UsageEntry.job_id == ids[2])).one()
        assert entry.status == LedgerStatus.RELEASED
        assert admission.in_flight(s, alice) == 2
    assert jobs.cancel(alice, ids[0]) is True  # a queued (admitted) job: its slot goes to nobody held
    assert queue.live_job_ids() >= {str(ids[1])}


def test_the_cap_holds_when_many_submit_at_once(no_worker, make_user):
    from concurrent.futures import ThreadPoolExecutor

    alice = make_user()
    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(lambda i: _submit(alice, f"a dune {i}"), range(12)))
    with session_scope() as s:
        assert admission.in_flight(s, alice) == 2
    assert len(queue.live_job_ids() & {str(i) for i in ids}) == 2
