"""The Dramatiq queue and the worker registry on the real Redis (no worker process involved)."""

from __future__ import annotations

import time
import uuid

import dramatiq
import pytest
import redis

from imagechat.core import queue


@pytest.fixture
def namespace(private_namespace):
    """No running worker takes this test's messages or adds its heartbeats."""
    return private_namespace()["REDIS_NAMESPACE"]


@pytest.fixture
def r(redis_url):
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def _messages(r: redis.Redis, key: str) -> list[dramatiq.Message]:
    """The messages on a Dramatiq Redis queue, in queue order (ids in a list, bodies in `<queue>.msgs`)."""
    bodies = r.hgetall(f"{key}.msgs")
    return [dramatiq.Message.decode(bodies[mid]) for mid in r.lrange(key, 0, -1)]


def test_enqueue_puts_the_job_id_on_the_images_queue(namespace, r):
    first, second = uuid.uuid4(), str(uuid.uuid4())
    queue.enqueue(first)
    queue.enqueue(second)
    sent = _messages(r, f"{namespace}:{queue.QUEUE}")
    assert [(m.queue_name, m.actor_name, m.args) for m in sent] == [
        (queue.QUEUE, queue.ACTOR, (str(first),)), (queue.QUEUE, queue.ACTOR, (second,))]
    assert all("eta" not in m.options for m in sent)
    assert r.llen(f"{namespace}:{queue.QUEUE}.DQ") == 0


def test_delayed_enqueue_goes_to_the_delay_queue_with_an_eta(namespace, r):
    job_id = uuid.uuid4()
    before = time.time() * 1000
    queue.enqueue(job_id, delay_ms=5_000)
    (message,) = _messages(r, f"{namespace}:{queue.QUEUE}.DQ")
    assert (message.queue_name, message.actor_name, message.args) == (f"{queue.QUEUE}.DQ", queue.ACTOR, (str(job_id),))
    assert before + 5_000 <= message.options["eta"] <= time.time() * 1000 + 5_000
    assert r.llen(f"{namespace}:{queue.QUEUE}") == 0, "a delayed job must not be runnable yet"


def test_no_workers_means_zero_alive(namespace):
    assert queue.workers_alive() == 0


def test_heartbeats_count_each_live_worker_once(namespace, r):
    queue.worker_heartbeat("host-1:pid-1")
    queue.worker_heartbeat("host-1:pid-2")
    queue.worker_heartbeat("host-1:pid-1")
    assert queue.workers_alive() == 2
    assert r.zcard(f"{namespace}:workers") == 2


def test_silent_workers_stop_counting_and_are_forgotten(namespace, r):
    """A worker silent for 3 beats no longer counts; one silent for a minute is removed at the next heartbeat."""
    key = f"{namespace}:workers"
    now = time.time()
    r.zadd(key, {"quiet": now - 3 * queue.WORKER_BEAT_S - 1, "gone": now - 61, "live": now - 1})
    assert queue.workers_alive() == 1
    queue.worker_heartbeat("fresh")
    assert queue.workers_alive() == 2
    assert sorted(m.decode() for m in r.zrange(key, 0, -1)) == ["fresh", "live", "quiet"]


def test_workers_of_another_namespace_do_not_count(namespace, r):
    r.zadd(f"{namespace}-other:workers", {"elsewhere": time.time()})
    assert queue.workers_alive() == 0
    queue.worker_heartbeat("here")
    assert queue.workers_alive() == 1
