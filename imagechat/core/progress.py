"""Progress bus: Redis pub/sub for live events, plus the latest event per job kept in Redis.

A late subscriber (a reloaded page, another Granian worker) reads the latest state and then
follows the channel. Every event carries a per-job sequence number, so a subscriber can drop an
event it already saw through `latest()`.

Every event also carries the publisher's clock (`sent_at`). A UI watcher calls `Subscriber.delivered()` once
the events it applied reached its state, which adds publish -> state delivery times of the events that came live
over pub/sub (not replays of the stored latest state) to FANOUT, a histogram in Redis that /metrics reports
(core/metrics.py). Publisher and web process on different hosts: the figure includes their clock difference.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import asdict, dataclass, field

from redis.exceptions import RedisError

from imagechat.core.redis_client import async_client, client, key
from imagechat.core.redis_histogram import RedisHistogram
from imagechat.models import TERMINAL

log = logging.getLogger(__name__)

LATEST_TTL_S = 24 * 3600
# Publish -> a tab's state, seconds (the measured floor on one machine is a few milliseconds).
FANOUT = RedisHistogram("progress_fanout_seconds",
                        (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0))

# INCR the sequence, store the event as the latest, publish it: one atomic step.
# The sequence starts at the publisher's clock in microseconds, so it keeps growing across a Redis restart
# that lost the counter (a job publishes at most 20 events a second; milliseconds were too coarse: two
# publishes a few hundred microseconds apart around a lost counter got the same number). 16 digits: still
# exact in Lua's and JavaScript's numbers (below 2**53), written with %d (Lua's own tostring keeps only 14 digits).
_PUBLISH_LUA = """
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('SET', KEYS[1], ARGV[4]) end
local seq = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
local event = string.gsub(ARGV[1], '"seq": 0', '"seq": ' .. string.format('%d', seq), 1)
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
    sent_at: float = field(default=0.0, compare=False)  # the publisher's time.time() (set by publish)
    # Received over pub/sub as it was published (not read back from the stored latest event); never sent.
    live: bool = field(default=False, compare=False, repr=False)

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    def to_json(self) -> str:
        # "seq" first so the Lua script can substitute it without parsing JSON.
        data = asdict(self)
        data = {"seq": 0, **{k: v for k, v in data.items() if k not in ("seq", "live")}}
        return json.dumps(data)

    @classmethod
    def from_json(cls, raw: str | bytes) -> ProgressEvent:
        return cls(**json.loads(raw))


def channel(job_id: str) -> str:
    return key("progress", job_id)


def _seq_key(job_id: str) -> str:
    return key("progress", "seq", job_id)


def _latest_key(job_id: str) -> str:
    return key("progress", "latest", job_id)


def publish(event: ProgressEvent) -> int:
    """Publish from synchronous code (the worker, the submit service). Returns the sequence number."""
    event.sent_at = time.time()
    seq = client().eval(_PUBLISH_LUA, 2, _seq_key(event.job_id), _latest_key(event.job_id),
                        event.to_json(), channel(event.job_id), LATEST_TTL_S, time.time_ns() // 1000)
    event.seq = int(seq)
    return event.seq


def latest(job_id: str) -> ProgressEvent | None:
    raw = client().get(_latest_key(job_id))
    return ProgressEvent.from_json(raw) if raw else None


class _Hub:
    """One Redis pub/sub connection per process and event loop, shared by every Subscriber in it.

    A thousand open tabs then cost one subscription connection plus the bounded pool of
    redis_client.async_client, not two connections each. If Redis goes away the hub reconnects,
    subscribes again and hands every subscriber the latest event of its jobs, so nothing is missed."""

    def __init__(self, url: str | None):
        self._client = async_client(url)
        self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        self._queues: dict[str, set[asyncio.Queue]] = {}
        self._users = 0
        self._reader: asyncio.Task | None = None
        self._broken = False  # the connection failed; _read reconnects before reading again

    async def watch(self, job_id: str, queue: asyncio.Queue) -> None:
        listeners = self._queues.setdefault(job_id, set())
        listeners.add(queue)
        if len(listeners) == 1 and not self._broken:
            try:
                await self._pubsub.subscribe(channel(job_id))
            except (RedisError, OSError):
                self._broken = True  # the reconnect subscribes every watched job
        if self._reader is None or self._reader.done():
            self._reader = asyncio.ensure_future(self._read())

    async def unwatch(self, job_id: str, queue: asyncio.Queue) -> None:
        listeners = self._queues.get(job_id)
        if listeners is None:
            return
        listeners.discard(queue)
        if not listeners:
            del self._queues[job_id]
            with contextlib.suppress(RedisError, OSError):
                await self._pubsub.unsubscribe(channel(job_id))

    async def latest(self, job_id: str) -> ProgressEvent | None:
        raw = await self._client.get(_latest_key(job_id))
        return ProgressEvent.from_json(raw) if raw else None

    async def _read(self) -> None:
        while self._queues:
            try:
                if self._broken:
                    await self._reconnect()
                    continue
                if not self._pubsub.subscribed:
                    await asyncio.sleep(0.05)
                    continue
                message = await self._pubsub.get_message(timeout=1.0)
            except (RedisError, OSError):
                self._broken = True
                log.warning("progress bus: Redis connection lost; reconnecting")
                continue
            if message is not None:
                event = ProgressEvent.from_json(message["data"])
                event.live = True
                self._deliver(event)

    def _deliver(self, event: ProgressEvent) -> None:
        for queue in list(self._queues.get(event.job_id, ())):
            queue.put_nowait(event)

    async def _reconnect(self) -> None:
        """Subscribe again on a new connection; until that works, try again every half second."""
        await asyncio.sleep(0.5)
        with contextlib.suppress(RedisError, OSError):
            await self._pubsub.aclose()
        self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        try:
            if self._queues:
                await self._pubsub.subscribe(*(channel(j) for j in self._queues))
            for job_id in list(self._queues):
                if (event := await self.latest(job_id)) is not None:
                    self._deliver(event)  # what happened while we were away
        except (RedisError, OSError):
            return  # still broken: _read calls again
        self._broken = False
        log.info("progress bus: reconnected")

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, RedisError, OSError):
                await self._reader
        with contextlib.suppress(RedisError, OSError):
            await self._pubsub.aclose()
            await self._client.aclose()


_hubs: dict[tuple[int, str | None], _Hub] = {}


class Subscriber:
    """Follow any number of jobs: the latest known state first, then every new event, in order.

    Usage:
        async with Subscriber() as sub:
            await sub.add(job_id)
            event = await sub.get(timeout=1.0)     # or: async for event in sub.events()
    """

    def __init__(self, url: str | None = None):
        self._key = None
        self._url = url
        self._hub: _Hub | None = None
        self._queue: asyncio.Queue[ProgressEvent] = asyncio.Queue()
        self._jobs: set[str] = set()
        self._seen: dict[str, int] = {}

    async def __aenter__(self) -> Subscriber:
        self._key = (id(asyncio.get_running_loop()), self._url)
        hub = _hubs.get(self._key)
        if hub is None:
            hub = _hubs[self._key] = _Hub(self._url)
        hub._users += 1
        self._hub = hub
        return self

    async def __aexit__(self, *exc) -> None:
        for job_id in list(self._jobs):
            await self._hub.unwatch(job_id, self._queue)
        self._hub._users -= 1
        if self._hub._users == 0 and _hubs.get(self._key) is self._hub:
            del _hubs[self._key]
            await self._hub.close()

    async def add(self, *job_ids: str) -> None:
        # Subscribe before reading the latest state, so nothing published in between is lost.
        for job_id in job_ids:
            if job_id in self._jobs:
                continue
            self._jobs.add(job_id)
            await self._hub.watch(job_id, self._queue)
            if (event := await self._hub.latest(job_id)) is not None:
                self._queue.put_nowait(event)

    async def remove(self, *job_ids: str) -> None:
        for job_id in job_ids:
            if job_id in self._jobs:
                self._jobs.discard(job_id)
                self._seen.pop(job_id, None)
                await self._hub.unwatch(job_id, self._queue)

    def _fresh(self, event: ProgressEvent) -> bool:
        if event.job_id not in self._jobs or event.seq <= self._seen.get(event.job_id, 0):
            return False
        self._seen[event.job_id] = event.seq
        return True

    async def get(self, timeout: float | None = None) -> ProgressEvent | None:
        """The next unseen event, or None after `timeout` seconds."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            wait = None if deadline is None else deadline - loop.time()
            if wait is not None and wait <= 0:
                return None
            try:
                event = await asyncio.wait_for(self._queue.get(), wait)
            except TimeoutError:
                return None
            if self._fresh(event):
                return event

    async def newest(self, timeout: float) -> list[ProgressEvent]:
        """Wait up to `timeout` for an event, then take every event already waiting: the newest per job."""
        first = await self.get(timeout)
        if first is None:
            return []
        newest = {first.job_id: first}
        while not self._queue.empty():
            event = self._queue.get_nowait()
            if self._fresh(event):
                newest[event.job_id] = event
        return list(newest.values())

    async def delivered(self, events: Iterable[ProgressEvent]) -> None:
        """Call once `events` reached the UI state: adds the publish -> here time of each one that came live
        to FANOUT (one Redis round trip). Replays of the stored latest event are left out: their age is not
        fan-out. Never raises; a Redis error only loses these observations."""
        now = time.time()
        seconds = [now - e.sent_at for e in events if e.live and e.sent_at > 0]
        if not seconds:
            return
        try:
            await FANOUT.observe(self._hub._client, seconds)
        except (RedisError, OSError):
            log.debug("progress bus: could not record fan-out latency", exc_info=True)

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
