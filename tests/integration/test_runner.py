"""The job runner in-process (no worker process): claim, engine, progress, store, settle, cancel.

Fast feedback for core/runner.py: each test submits a real job on a Redis namespace nobody
consumes, then calls `runner.run_job` in the test's own event loop, as a Dramatiq actor would.
"""

from __future__ import annotations

import asyncio
import threading
import uuid

import pytest
from sqlmodel import select

from imagechat.core import jobs, library, previews, progress, runner
from imagechat.core.errors import NotFound
from imagechat.core.request import ImageRequest
from imagechat.db import session_scope
from imagechat.models import GenerationJob, Image, JobKind, JobStatus, LedgerStatus, UsageEntry


@pytest.fixture
def owner(make_user, private_namespace):
    private_namespace()
    return make_user()


def _job(job_id) -> GenerationJob:
    with session_scope() as s:
        return s.get(GenerationJob, job_id)


def _images(job_id) -> list[Image]:
    with session_scope() as s:
        return list(s.exec(select(Image).where(Image.job_id == job_id).order_by(Image.index_in_job)).all())


def _ledger(job_id) -> UsageEntry:
    with session_scope() as s:
        return s.exec(select(UsageEntry).where(UsageEntry.job_id == job_id)).one()


async def _run_and_collect(job_id) -> list[progress.ProgressEvent]:
    """Run the job in this loop while following its progress events, as the web backend would."""
    events = []

    async def follow():
        async for event in progress.follow([str(job_id)]):
            events.append(event)

    follower = asyncio.ensure_future(follow())
    await asyncio.sleep(0.05)  # subscribed before the runner publishes
    await runner.run_job(str(job_id))
    await asyncio.wait_for(follower, 10)
    return events


async def test_a_job_runs_to_the_end_in_process(owner):
    job_id = jobs.submit(owner, ImageRequest(prompt="a lighthouse on a cliff at night", n=2, width=256, height=256,
                                             seed=7))
    events = await _run_and_collect(job_id)

    statuses = [e.status for e in events]
    assert statuses[0] == JobStatus.QUEUED and statuses[-1] == JobStatus.SUCCEEDED
    assert JobStatus.RUNNING in statuses
    percents = [e.percent for e in events if e.status == JobStatus.RUNNING]
    assert percents == sorted(percents) and max(percents) < 100  # 100 only once stored
    previews_seen = [e.preview_url for e in events if e.preview_url]
    assert previews_seen and all(u.startswith(f"/api/jobs/{job_id}/preview.webp?v=") for u in previews_seen)
    assert previews.get(str(job_id)) is None  # the stored image replaces the preview

    job, stored = _job(job_id), _images(job_id)
    assert (job.status, job.attempts, job.percent) == (JobStatus.SUCCEEDED, 1, 100.0)
    assert [i.index_in_job for i in stored] == [0, 1] and [i.seed for i in stored] == [7, 8]
    assert events[-1].image_ids == [str(i.id) for i in stored]
    assert {(i.width, i.height, i.style, i.engine) for i in stored} == {(256, 256, None, "offline")}
    assert _ledger(job_id).status == LedgerStatus.CHARGED


async def test_running_a_finished_job_again_changes_nothing(owner):
    job_id = jobs.submit(owner, ImageRequest(prompt="a red boat", width=256, height=256))
    await runner.run_job(str(job_id))
    first = [(i.id, i.sha256) for i in _images(job_id)]
    finished_at = _job(job_id).finished_at

    await runner.run_job(str(job_id))  # a redelivered message
    assert [(i.id, i.sha256) for i in _images(job_id)] == first
    assert (_job(job_id).attempts, _job(job_id).finished_at) == (1, finished_at)
    assert progress.latest(str(job_id)).status == JobStatus.SUCCEEDED


async def test_cancel_while_running_stores_nothing_and_charges_what_was_reserved(owner):
    job_id = jobs.submit(owner, ImageRequest(prompt="a city skyline at night", n=4, width=1792, height=1024))
    task = asyncio.ensure_future(runner.run_job(str(job_id)))
    async with progress.Subscriber() as sub:
        await sub.add(str(job_id))
        while (event := await sub.get(timeout=30)) is not None and event.status != JobStatus.RUNNING:
            pass
    assert event is not None, "the job never started"
    assert await asyncio.to_thread(jobs.cancel, owner, job_id) is True
    await asyncio.wait_for(task, 10)  # the watchdog sees the cancel flag and stops the engine

    assert _job(job_id).status == JobStatus.CANCELLED
    assert _images(job_id) == []
    entry = _ledger(job_id)  # the engine had the request: its reservation is charged (the offline engine's is $0)
    assert (entry.status, entry.amount_usd, entry.usage["billed"]) == (LedgerStatus.CHARGED, 0.0, "unknown")
    assert previews.get(str(job_id)) is None


async def test_a_preview_still_being_written_when_cancelled_does_not_outlive_the_job(owner, monkeypatch):
    """The cancel lands while a worker thread writes a preview (a slow Redis): that write must not leave
    a preview behind the job's end, which would show a stale picture for an hour."""
    writing, release, written = threading.Event(), threading.Event(), threading.Event()
    store = previews.store

    def slow_store(job_id, data, number=None):
        writing.set()
        release.wait(10)
        store(job_id, data, number)
        written.set()

    monkeypatch.setattr(previews, "store", slow_store)
    job_id = jobs.submit(owner, ImageRequest(prompt="a harbour at dusk", width=512, height=512))
    task = asyncio.ensure_future(runner.run_job(str(job_id)))
    assert await asyncio.to_thread(writing.wait, 30), "the engine never sent a preview"
    assert await asyncio.to_thread(jobs.cancel, owner, job_id) is True
    await asyncio.sleep(0.6)  # the watchdog (every 0.25 s) has cancelled the engine; the write is still going
    release.set()
    await asyncio.wait_for(task, 10)
    assert await asyncio.to_thread(written.wait, 10)

    assert _job(job_id).status == JobStatus.CANCELLED
    assert previews.get(str(job_id)) is None


async def test_an_edit_whose_source_was_deleted_fails_clearly(owner, monkeypatch):
    first = jobs.submit(owner, ImageRequest(prompt="a lake at dawn", width=256, height=256))
    await runner.run_job(str(first))
    source = _images(first)[0]
    edit = jobs.submit(owner, ImageRequest(prompt="a lake at dawn, watercolor", width=256, height=256),
                       source_image_id=source.id)
    with session_scope() as s:  # an engine that edits gets the source bytes: pretend this job is an edit
        job = s.get(GenerationJob, edit)
        job.kind = JobKind.EDIT
        s.add(job)
        s.delete(s.get(Image, source.id))

    await runner.run_job(str(edit))
    job = _job(edit)
    assert (job.status, job.error_code) == (JobStatus.FAILED, "source_missing")
    assert "deleted" in job.error
    assert _ledger(edit).status == LedgerStatus.RELEASED
    with pytest.raises(NotFound):
        library.get_image(owner, source.id)


async def test_an_unknown_job_id_is_ignored(owner):
    await runner.run_job(str(uuid.uuid4()))  # nothing to claim, nothing published, no exception
