"""A worker killed with SIGKILL mid-job: the job is recovered by another worker, stored exactly once."""

from __future__ import annotations

import asyncio
import time

from sqlmodel import select

from imagechat.core import jobs
from imagechat.core.request import ImageRequest
from imagechat.db import session_scope
from imagechat.models import GenerationJob, Image, UsageEntry
from tests.support.waiting import wait_for_event


def test_sigkilled_worker_job_is_recovered_exactly_once(private_namespace, own_worker, make_user):
    private_queue = private_namespace(job_stale_after_s=6)  # heartbeats every 2 s: room for a busy machine
    doomed = own_worker(**private_queue)
    owner = make_user()
    job_id = jobs.submit(owner, ImageRequest(prompt="a city skyline at night by the sea", n=4,
                                         width=1792, height=1024, seed=11))
    asyncio.run(wait_for_event(job_id, lambda e: e.status == "running" and e.percent > 5, 60))
    doomed.kill()  # SIGKILL the whole process group: no cleanup, no ack

    with session_scope() as s:
        job = s.get(GenerationJob, job_id)
    assert (job.status, job.attempts) == ("running", 1), "the killed worker left the job running"

    time.sleep(6.5)  # let its heartbeat go stale
    own_worker(**private_queue)  # a new worker's reconciler finds it and requeues it
    final = asyncio.run(wait_for_event(job_id, lambda e: e.terminal, 90))
    assert final.status == "succeeded"

    with session_scope() as s:
        job = s.get(GenerationJob, job_id)
        stored = s.exec(select(Image).where(Image.job_id == job_id)).all()
        ledger = s.exec(select(UsageEntry).where(UsageEntry.job_id == job_id)).all()
    assert job.attempts == 2
    assert sorted(i.index_in_job for i in stored) == [0, 1, 2, 3]
    assert [e.status for e in ledger] == ["charged"]
