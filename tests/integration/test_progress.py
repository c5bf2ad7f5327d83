"""The progress bus on the real Redis: live events, latest state for late subscribers, ordering."""

import asyncio
import uuid

from imagechat.core import progress
from imagechat.core.progress import ProgressEvent, Subscriber


def _job() -> str:
    return str(uuid.uuid4())


async def test_late_subscriber_gets_latest_state_first(redis_url):
    job = _job()
    start = progress.publish(ProgressEvent(job_id=job, status="running", percent=10, stage="Painting the sky"))
    progress.publish(ProgressEvent(job_id=job, status="running", percent=40, stage="Adding mountains"))
    async with Subscriber() as sub:
        await sub.add(job)
        first = await sub.get(timeout=2)
    assert (first.percent, first.stage, first.seq) == (40, "Adding mountains", start + 1)


async def test_live_events_arrive_in_order_without_duplicates(redis_url):
    job = _job()
    progress.publish(ProgressEvent(job_id=job, status="queued", queue_position=3))
    async with Subscriber() as sub:
        await sub.add(job)
        received = [await sub.get(timeout=2)]

        async def produce():
            for pct in range(10, 101, 10):
                await asyncio.to_thread(progress.publish, ProgressEvent(
                    job_id=job, status="succeeded" if pct == 100 else "running", percent=pct, stage=f"step {pct}"))

        producer = asyncio.create_task(produce())
        while not received[-1].terminal:
            event = await sub.get(timeout=5)
            assert event is not None, "event lost"
            received.append(event)
        await producer
    assert received[0].queue_position == 3
    assert [e.percent for e in received[1:]] == list(range(10, 101, 10))
    assert [e.seq for e in received] == list(range(received[0].seq, received[0].seq + 11))


async def test_reading_latest_while_events_flow_never_repeats_an_event(redis_url):
    """Subscribe-then-read-latest can see one event twice; the sequence number drops the repeat."""
    job = _job()
    async with Subscriber() as sub:
        progress.publish(ProgressEvent(job_id=job, status="running", percent=5))
        await sub.add(job)  # subscribes first, then reads latest (the first event)
        progress.publish(ProgressEvent(job_id=job, status="running", percent=6))
        seen = [await sub.get(timeout=2), await sub.get(timeout=2)]
        assert await sub.get(timeout=0.3) is None
    assert [e.percent for e in seen] == [5, 6] and seen[1].seq == seen[0].seq + 1


async def test_follow_ends_when_every_job_is_terminal(redis_url):
    a, b = _job(), _job()
    progress.publish(ProgressEvent(job_id=a, status="succeeded", percent=100))

    async def finish_b():
        await asyncio.sleep(0.1)
        progress.publish(ProgressEvent(job_id=b, status="failed", error="The engine refused."))

    task = asyncio.create_task(finish_b())
    statuses = [(e.job_id, e.status) async for e in progress.follow([a, b])]
    await task
    assert statuses == [(a, "succeeded"), (b, "failed")]


def test_latest_is_none_for_unknown_job(redis_url):
    assert progress.latest(_job()) is None


def test_sequence_numbers_keep_growing_when_redis_loses_the_counter(redis_url):
    """A Redis restart without persistence loses the counter: the next event must still count as new."""
    job = _job()
    before = progress.publish(ProgressEvent(job_id=job, status="running", percent=50))
    progress.client().delete(progress.key("progress", "seq", job))
    assert progress.publish(ProgressEvent(job_id=job, status="queued", stage="Back in line")) > before
