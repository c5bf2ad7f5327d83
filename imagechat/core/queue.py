"""The Dramatiq broker on Redis, and enqueueing by actor name (core never imports workers/)."""

from __future__ import annotations

import time
import uuid
from functools import lru_cache

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import AsyncIO

from imagechat.core.redis_client import client, key
from imagechat.settings import get_settings

QUEUE = "images"
ACTOR = "generate_image"


@lru_cache
def get_broker() -> RedisBroker:
    settings = get_settings()
    broker = RedisBroker(
        url=settings.redis_url,
        namespace=settings.redis_namespace,
        # A dead worker's messages are requeued during maintenance; the job reconciler
        # (jobs.reconcile_stale_jobs) is the fast path, this is the broker's own backstop.
        heartbeat_timeout=30_000,
        maintenance_chance=10_000,
    )
    broker.add_middleware(AsyncIO())
    broker.declare_queue(QUEUE)
    dramatiq.set_broker(broker)
    return broker


def enqueue(job_id: uuid.UUID | str, *, delay_ms: int | None = None) -> None:
    message = dramatiq.Message(queue_name=QUEUE, actor_name=ACTOR, args=(str(job_id),), kwargs={}, options={})
    get_broker().enqueue(message, delay=delay_ms)


WORKER_BEAT_S = 2.0


def _workers_key() -> str:
    return key("workers")


def worker_heartbeat(worker_id: str) -> None:
    """Called by every worker process every WORKER_BEAT_S seconds."""
    now = time.time()
    pipe = client().pipeline()
    pipe.zadd(_workers_key(), {worker_id: now})
    pipe.zremrangebyscore(_workers_key(), 0, now - 60)
    pipe.execute()


def workers_alive() -> int:
    """How many worker processes reported in the last few seconds (0 = jobs will wait)."""
    return int(client().zcount(_workers_key(), time.time() - 3 * WORKER_BEAT_S, "+inf"))
