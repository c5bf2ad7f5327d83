"""Progress bus: Redis pub/sub for live events, plus the latest event per job kept in Redis.

A late subscriber (a reloaded page, another Granian worker) reads the latest state and then
follows the channel. Every event carries a per-job sequence number, so a subscriber can drop an
event it already saw through `latest()`.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict, dataclass, field
from typing import AsyncIterator, Iterable

from imagechat.core.redis_client import async_client, client, key
from imagechat.models import TERMINAL

LATEST_TTL_S = 24 * 3600

# INCR the sequence, store the event as the latest, publish it: one atomic step.
_PUBLISH_LUA = """
local seq = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
local event = string.gsub(ARGV[1], '"seq": 0', '"seq": ' .. seq, 1)
redis.call('SET', KEYS[2], event, 'EX', ARGV[3])
redis.call('PUBLISH', ARGV[2], event)
return seq
"""


@dataclass
class ProgressEvent:
    job_id: str
    status: str  # a JobStatus
    percent: float = 0.0
    stage: str = ""
    preview_url: str | None = None
    queue_position: int | None = None
    error: str | None = None  # user-facing message when failed
    error_code: str | None = None
    image_ids: list[str] = field(default_factory=list)
    seq: int = 0

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    def to_json(self) -> str:
        # "seq" first so the Lua script can substitute it without parsing JSON.
        data = asdict(self)
        data = {"seq": 0, **{k: v for k, v in data.items() if k != "seq"}}
        return json.dumps(data)

    @classmethod
    def from_json(cls, raw: str | bytes) -> "ProgressEvent":
        return cls(**json.loads(raw))


def channel(job_id: str) -> str:
    return key("progress", job_id)


def _seq_key(job_id: str) -> str:
    return key("progress", "seq", job_id)


def _latest_key(job_id: str) -> str:
    return key("progress", "latest", job_id)


def publish(event: ProgressEvent) -> int:
    """Publish from synchronous code (the worker, the submit service). Returns the sequence number."""
    seq = client().eval(_PUBLISH_LUA, 2, _seq_key(event.job_id), _latest_key(event.job_id),
                      event.to_json(), channel(event.job_id), LATEST_TTL_S)
    event.seq = int(seq)
    return event.seq


def latest(job_id: str) -> ProgressEvent | None:
    raw = client().get(_latest_key(job_id))
    return ProgressEvent.from_json(raw) if raw else None


class Subscriber:
    """Async subscription for the web backend: one Redis connection, any number of jobs.

    Usage:
        async with Subscriber() as sub:
            await sub.add(job_id)          # yields the latest known state first
            async for event in sub.events(): ...
    """

    def __init__(self, url: str | None = None):
        self._url = url
        self._client = None
        self._pubsub = None
        self._seen: dict[str, int] = {}
        self._pending: list[ProgressEvent] = []

    async def __aenter__(self) -> "Subscriber":
        self._client = async_client(self._url)
        self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        return self

    async def __aexit__(self, *exc) -> None:
        if self._pubsub is not None:
            await self._pubsub.aclose()
        if self._client is not None:
            await self._client.aclose()

    async def add(self, *job_ids: str) -> None:
        # Subscribe before reading the latest state, so nothing published in between is lost.
        await self._pubsub.subscribe(*(channel(j) for j in job_ids))
        for job_id in job_ids:
            raw = await self._client.get(_latest_key(job_id))
            if raw:
                self._pending.append(ProgressEvent.from_json(raw))

    async def remove(self, *job_ids: str) -> None:
        await self._pubsub.unsubscribe(*(channel(j) for j in job_ids))
        for job_id in job_ids:
            self._seen.pop(job_id, None)

    def _fresh(self, event: ProgressEvent) -> bool:
        if event.seq <= self._seen.get(event.job_id, 0):
            return False
        self._seen[event.job_id] = event.seq
        return True

    async def get(self, timeout: float | None = None) -> ProgressEvent | None:
        """The next unseen event, or None after `timeout` seconds."""
        while self._pending:
            event = self._pending.pop(0)
            if self._fresh(event):
                return event
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            wait = 1.0 if deadline is None else deadline - loop.time()
            if wait <= 0:
                return None
            if not self._pubsub.subscribed:
                await asyncio.sleep(min(wait, 0.05))
                continue
            message = await self._pubsub.get_message(timeout=wait)
            if message is not None:
                event = ProgressEvent.from_json(message["data"])
                if self._fresh(event):
                    return event

    async def events(self) -> AsyncIterator[ProgressEvent]:
        while True:
            event = await self.get()
            if event is not None:
                yield event


async def follow(job_ids: Iterable[str], *, url: str | None = None) -> AsyncIterator[ProgressEvent]:
    """Events for the given jobs until every one of them reaches a terminal state."""
    open_jobs = set(job_ids)
    async with Subscriber(url) as sub:
        await sub.add(*open_jobs)
        async for event in sub.events():
            yield event
            if event.terminal:
                open_jobs.discard(event.job_id)
                if not open_jobs:
                    return
