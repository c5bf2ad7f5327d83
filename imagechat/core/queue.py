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
        client=client(),  # the process's bounded pool, not a pool of its own
        namespace=settings.redis_namespace,
        # A dead worker's messages are requeued during maintenance; the job reconciler
        # (recovery.reconcile) is the fast path, this is the broker's own backstop.
        heartbeat_timeout=30_000,
        maintenance_chance=10_000,
    )
    broker.add_middleware(AsyncIO())
    broker.declare_queue(QUEUE)
    dramatiq.set_broker(broker)
    return broker


def live_job_ids() -> set[str]:
    """Job ids that have a message in Redis: waiting, delayed (a retry) or held by a worker.

    Dramatiq keeps a message's body in `<queue>.msgs` (and `<queue>.DQ.msgs` while delayed) until the
    worker acknowledges it. The delay queue is read first: a message moving from it to the main queue
    is written there before it is removed here, so it cannot be missed between the two reads."""
    broker = get_broker()
    found: set[str] = set()
    for name in (f"{QUEUE}.DQ.msgs", f"{QUEUE}.msgs"):
        for _, raw in client().hscan_iter(f"{broker.namespace}:{name}", count=500):
            message = dramatiq.Message.decode(raw)
            if message.actor_name == ACTOR and message.args:
                found.add(str(message.args[0]))
    return found


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
