"""The generation pipeline end to end: submit -> real Dramatiq worker on Redis -> engine -> PostgreSQL."""

from __future__ import annotations

import asyncio
import base64
import io
import uuid

import pytest
from PIL import Image as PILImage
from sqlalchemy import func
from sqlmodel import select

from imagechat.core import jobs, progress, queue, runner
from imagechat.core.errors import InvalidRequest, ServiceUnavailable
from imagechat.core.request import ImageRequest
from imagechat.db import session_scope
from imagechat.models import GenerationJob, Image, ImageData, UsageEntry
from tests.support.waiting import run_job, wait_until


def _images(job_id):
    with session_scope() as s:
        return s.exec(select(Image).where(Image.job_id == job_id).order_by(Image.index_in_job)).all()


def _job(job_id) -> GenerationJob:
    with session_scope() as s:
        return s.get(GenerationJob, job_id)


def _count_jobs(owner) -> int:
    with session_scope() as s:
        return s.exec(select(func.count()).select_from(GenerationJob).where(GenerationJob.owner_id == owner)).one()


def test_offline_job_runs_on_the_worker_and_stores_base64(worker, make_user):
    owner = make_user()
    job_id = jobs.submit(owner, ImageRequest(prompt="a sunset over mountains with a lake reflection",
                                         width=1024, height=1024, seed=7))
    events = run_job(job_id)
    assert events[0].status == "queued" and events[0].queue_position >= 1
    assert events[-1].status == "succeeded" and events[-1].percent == 100
    running = [e for e in events if e.status == "running"]
    percents = [e.percent for e in running]
    assert percents == sorted(percents) and len({e.stage for e in running}) >= 4, running
    assert [e.seq for e in events] == sorted(e.seq for e in events)

    (image,) = _images(job_id)
    assert [str(image.id)] == events[-1].image_ids
    assert (image.owner_id, image.engine, image.width, image.height, image.seed) == (owner, "offline", 1024, 1024, 7)
    assert "offline" in image.model.lower()
    with session_scope() as s:
        data = s.get(ImageData, image.id)
    raw = base64.b64decode(data.data_b64, validate=True)
    with PILImage.open(io.BytesIO(raw)) as pic:
        assert (pic.format, pic.size) == ("WEBP", (1024, 1024))
    with PILImage.open(io.BytesIO(base64.b64decode(data.thumb_b64))) as thumb:
        assert thumb.format == "WEBP" and max(thumb.size) == 320
    job = _job(job_id)
    assert (job.status, job.attempts, job.percent) == ("succeeded", 1, 100)
    with session_scope() as s:
        ledger = s.exec(select(UsageEntry).where(UsageEntry.job_id == job_id)).one()
    assert (ledger.status, ledger.amount_usd) == ("charged", 0.0)


def test_several_images_in_one_job(worker, make_user):
    owner = make_user()
    job_id = jobs.submit(owner, ImageRequest(prompt="a forest in the snow at dawn", n=3,
                                         width=256, height=256))
    assert run_job(job_id)[-1].status == "succeeded"
    stored = _images(job_id)
    assert [i.index_in_job for i in stored] == [0, 1, 2]
    assert len({i.sha256 for i in stored}) == 3, "variations must differ"


BAD_REQUESTS = [
    (dict(prompt=""), "The prompt is empty"),
    (dict(prompt=" \t\n\x00\u200b "), "The prompt is empty"),
    (dict(prompt="x" * 4001), "the limit is 4000"),
    (dict(prompt="ok", width=1000, height=1000), "can't make 1000x1000 images"),
    (dict(prompt="ok", style="claymation"), 'Unknown style "claymation"'),
    (dict(prompt="ok", n=0), "1 to 4 images"),
    (dict(prompt="ok", n=11), "1 to 4 images"),
    (dict(prompt="ok", quality="ultra"), "Quality must be one of"),
    (dict(prompt="ok", seed=-1), "seed must be a whole number"),
]


@pytest.mark.parametrize("fields,message", BAD_REQUESTS, ids=[m for _, m in BAD_REQUESTS])
def test_bad_requests_are_refused_clearly_and_write_nothing(fields, message, database_url, redis_url, make_user):
    owner = make_user()
    with pytest.raises(InvalidRequest) as err:
        jobs.submit(owner, ImageRequest(**fields))
    assert message in err.value.user_message
    assert _count_jobs(owner) == 0


def test_unknown_source_image_is_refused(database_url, redis_url, make_user):
    owner = make_user()
    with pytest.raises(Exception) as err:
        jobs.submit(owner, ImageRequest(prompt="make it blue"), source_image_id=uuid.uuid4())
    assert "doesn't exist" in err.value.user_message
    assert _count_jobs(owner) == 0


def test_control_characters_are_removed_from_prompts(worker, make_user):
    owner = make_user()
    job_id = jobs.submit(owner, ImageRequest(prompt="a\x00 red\u200b boat\r\non the\x1b[31m sea",
                                         width=256, height=256))
    assert _job(job_id).prompt == "a red boat on the sea"  # the escape sequence goes whole
    assert run_job(job_id)[-1].status == "succeeded"


def test_redelivered_message_never_stores_twice(worker, make_user):
    owner = make_user()
    job_id = jobs.submit(owner, ImageRequest(prompt="a lighthouse on the sea", width=256, height=256))
    for _ in range(3):  # duplicates while it runs
        queue.enqueue(job_id)
    assert run_job(job_id)[-1].status == "succeeded"
    queue.enqueue(job_id)  # and after it finished
    asyncio.run(runner.run_job(str(job_id)))  # and in-process, as a second worker would
    assert len(_images(job_id)) == 1
    assert _job(job_id).attempts == 1


def test_cancel_a_running_job(worker, make_user):
    owner = make_user()
    job_id = jobs.submit(owner, ImageRequest(prompt="a city skyline at night", n=4,
                                         width=1792, height=1024))

    async def cancel_when_running():
        cancelled = False
        async for event in progress.follow([str(job_id)]):
            # Events the worker published before it noticed may still arrive after the cancel.
            if event.status == "running" and event.percent > 0 and not cancelled:
                assert await asyncio.to_thread(jobs.cancel, owner, job_id) is True
                cancelled = True
            if event.terminal:
                return event

    final = asyncio.run(asyncio.wait_for(cancel_when_running(), 60))
    assert final.status == "cancelled"
    assert jobs.cancel(owner, job_id) is False  # already finished


    def ledger_status():
        with session_scope() as s:
            return s.exec(select(UsageEntry.status).where(UsageEntry.job_id == job_id)).one()

    # The worker stops the engine, then settles: the engine had the request, so the reservation is charged.
    settled = wait_until(lambda: (status := ledger_status()) != "reserved" and status, 30, "the settling")
    assert settled == "charged"
    assert _images(job_id) == [] and _job(job_id).status == "cancelled"


def test_only_the_owner_can_cancel(worker, make_user):
    owner, other = make_user(), make_user()
    job_id = jobs.submit(owner, ImageRequest(prompt="a boat", width=256, height=256))
    with pytest.raises(Exception) as err:
        jobs.cancel(other, job_id)
    assert "isn't yours" in err.value.user_message
    assert run_job(job_id)[-1].status == "succeeded"


def _submit_with_service_down(monkeypatch, owner: int, name: str, url: str) -> ServiceUnavailable:
    """Submit while `name` (REDIS_URL or DATABASE_URL) points at a port nobody listens on (the discard port)."""
    from imagechat.db import get_engine
    from imagechat.settings import get_settings

    caches = (get_settings.cache_clear, get_engine.cache_clear, queue.get_broker.cache_clear)
    monkeypatch.setenv(name, url)
    for clear in caches:
        clear()
    try:
        with pytest.raises(ServiceUnavailable) as err:
            jobs.submit(owner, ImageRequest(prompt="a sunset"))
    finally:
        monkeypatch.undo()
        for clear in caches:
            clear()
    return err.value


def test_unreachable_redis_gives_a_clear_message_and_writes_nothing(database_url, redis_url, make_user,
                                                                   monkeypatch):
    owner = make_user()
    refused = _submit_with_service_down(monkeypatch, owner, "REDIS_URL", "redis://127.0.0.1:9/0")
    assert refused.user_message == jobs.NOTHING_QUEUED_QUEUE
    assert _count_jobs(owner) == 0


def test_unreachable_database_gives_a_clear_message_without_internals(database_url, redis_url, make_user,
                                                                      monkeypatch):
    owner = make_user()
    refused = _submit_with_service_down(monkeypatch, owner, "DATABASE_URL",
                                        "postgresql+psycopg://dbuser@127.0.0.1:9/imagechat")
    assert refused.user_message == jobs.NOTHING_QUEUED_DB
    assert "dbuser" not in str(refused) and refused.__cause__ is None
    assert _count_jobs(owner) == 0
